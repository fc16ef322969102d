"""Chapter 10, the capacity lab: the checks of exercises 10.1 (the fewest workers that keep the
p95 wait under a target), 10.2 (the smallest prefetch that keeps a worker 90% busy behind a
round trip) and 10.3 (a length limit that bounds the wait and refuses the fewest messages), and
the sliders that re-run a work queue for the values a learner picks.

The checks need no broker: each runs the exercise's scenario in `rabbitsim.sim`, on the
simulator's core in virtual time, with the learner's answer and with its neighbours, and judges
by what the runs measured. Every scenario has a fixed seed, so a verdict is the same each time
and the learner can reproduce it with the scenario the exercise describes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rabbitsim import sim
from rabbitsim.broker import AMQPError

from ._feedback import Feedback, exercise, plural, right, wrong

__all__ = [
    "Sliders",
    "check_max_length",
    "check_prefetch",
    "check_workers",
    "sliders",
    "work_queue",
]


def work_queue(
    rate: float,
    workers: int,
    *,
    prefetch: int = 1,
    service: float = 0.1,
    round_trip: float = 0.01,
    seconds: float = 120.0,
    exponential: bool = True,
    seed: int = 1,
) -> sim.Result:
    """Chapter 2's work queue under load: Poisson arrivals at `rate` a second for `seconds`,
    `workers` workers with `prefetch`, busy `service` seconds per message (exponential, or
    constant), behind `round_trip`; measured at `seconds` (what is still queued then shows in
    the series, not in the waits)."""
    lab = sim.Lab(seed=seed, round_trip=round_trip)
    lab.channel.queue_declare("task_queue", durable=True)
    lab.publisher("task_queue", rate=rate, until=seconds)
    lab.workers(
        "task_queue",
        count=workers,
        prefetch=prefetch,
        service=sim.exponential(service) if exponential else service,
    )
    return lab.run(until=seconds)


# --- exercise 10.1 ---------------------------------------------------------------------------------

#: the load of exercise 10.1: messages a second, mean service seconds, round trip, target p95 wait
LOAD_RATE, LOAD_SERVICE, LOAD_ROUND_TRIP, TARGET_P95 = 60.0, 0.1, 0.01, 0.25
LOAD_SECONDS, LOAD_SEED = 300.0, 10
#: answers above this are refused without a run (a run's cost grows with the workers)
MOST_WORKERS = 50


def _sized(workers: int) -> sim.Result:
    return work_queue(
        LOAD_RATE,
        workers,
        service=LOAD_SERVICE,
        round_trip=LOAD_ROUND_TRIP,
        seconds=LOAD_SECONDS,
        seed=LOAD_SEED,
    )


def _described(workers: int, result: sim.Result) -> str:
    left = result.queues["task_queue"]["ready"]
    return (
        f"{plural(workers, 'worker')}: p95 wait {result.wait.p95:.3f} s, mean {result.wait.mean:.3f} s, "
        f"workers {result.utilisation:.0%} busy, {left} still queued at the end"
    )


@exercise(
    "10.1",
    "The fewest workers for a load",
    solution="""import math

from rabbitsim import sim


def p95_wait(workers):  # the exercise's scenario: section 1's work_queue(60, workers, seconds=300, seed=10)
    lab = sim.Lab(seed=10, round_trip=0.010)
    lab.channel.queue_declare("task_queue", durable=True)
    lab.publisher("task_queue", rate=60, arrivals="poisson", until=300)
    lab.workers("task_queue", count=workers, prefetch=1, service=sim.exponential(0.1))
    return lab.run(until=300).wait.p95


workers = math.ceil(60 * (0.1 + 0.010))  # the fewest that keep up at all: 7
while p95_wait(workers) >= 0.25:
    workers += 1

course.EXERCISES["10.1"](workers)""",
    explanation=(
        "Each message keeps a worker for its 0.1 s of work plus the 10 ms round trip before the "
        "next one arrives (prefetch 1), so a worker manages about 9 a second: 60 a second need at "
        "least 7 just to keep up. At 7 they use 94% of what they can do and the waits are long; one more "
        "worker brings the p95 under the target. Queueing theory says the same: near full "
        "utilisation, waits grow without bound, so a system is sized for the tail, not the mean."
    ),
    hints=(
        "First the arithmetic: how many messages a second can one worker finish, counting the round trip?",
        "Then run the scenario for that many workers and a few more, and read result.wait.p95.",
    ),
)
def check_workers(workers: int) -> Feedback:
    """Run the exercise's load with `workers` and with one fewer: the first must keep the p95
    wait under TARGET_P95, the second must not."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        return wrong(f"{workers!r} is not a number of workers", "Give a whole number, 1 or more.")
    capacity = 1 / (LOAD_SERVICE + LOAD_ROUND_TRIP)
    if workers > MOST_WORKERS:
        return wrong(
            f"{workers} workers for {LOAD_RATE:.0f} messages a second is far too many",
            f"Each can finish about {capacity:.1f} a second: {MOST_WORKERS} of them could take "
            f"{MOST_WORKERS * capacity:.0f} a second. Look for the fewest.",
        )
    story = (
        f"The check ran {LOAD_SECONDS:.0f} simulated seconds of {LOAD_RATE:.0f} messages a second "
        f"(Poisson), {LOAD_SERVICE * 1000:.0f} ms of work each (exponential), prefetch 1, a "
        f"{LOAD_ROUND_TRIP * 1000:.0f} ms round trip, seed {LOAD_SEED}."
    )
    result = _sized(workers)
    if not result.wait.p95 < TARGET_P95:
        offered = LOAD_RATE / (workers * capacity)
        why = (
            f"They can finish at most {workers * capacity:.1f} messages a second (each costs "
            f"{LOAD_SERVICE + LOAD_ROUND_TRIP:.2f} s of a worker's time with the round trip), less than "
            f"the {LOAD_RATE:.0f} arriving: the queue grows for as long as the load lasts."
            if offered >= 1
            else f"They keep up, but at {offered:.0%} of what they can do, bursts of arrivals queue "
            "up behind busy workers: the tail of the waits is long. Add workers."
        )
        return wrong(
            f"With {plural(workers, 'worker')} the p95 wait is {result.wait.p95:.3f} s, over {TARGET_P95} s",
            story,
            _described(workers, result),
            why,
        )
    if workers > 1:
        fewer = _sized(workers - 1)
        if fewer.wait.p95 < TARGET_P95:
            return wrong(
                f"{plural(workers - 1, 'worker')} already keep the p95 wait under {TARGET_P95} s",
                story,
                _described(workers - 1, fewer),
                _described(workers, result),
                "Each extra worker costs a process (and a connection); find the fewest.",
            )
        below = _described(workers - 1, fewer)
    else:
        below = ""
    return right(
        f"{plural(workers, 'worker')} keep the p95 wait under {TARGET_P95} s, and no fewer do",
        story,
        _described(workers, result),
        *([below] if below else []),
    )


# --- exercise 10.2 ---------------------------------------------------------------------------------

#: exercise 10.2: constant seconds of work per message, the round trip, how busy is busy enough
FAST_SERVICE, SLOW_ROUND_TRIP, BUSY_ENOUGH = 0.008, 0.06, 0.9
PREFETCH_SECONDS = 20.0


def prefetch_utilisation(prefetch: int, service: float, round_trip: float, seconds: float = 20.0) -> float:
    """One worker with `prefetch` behind `round_trip`, a queue that never runs dry: how busy."""
    lab = sim.Lab(seed=1, round_trip=round_trip)
    lab.channel.queue_declare("task_queue")
    backlog = math.ceil(seconds / service) + 10
    lab.publisher("task_queue", arrivals=sim.bursts(backlog, every=seconds * 10), messages=backlog)
    lab.workers("task_queue", prefetch=prefetch, service=service)
    return lab.run(until=seconds).utilisation


@exercise(
    "10.2",
    "The smallest prefetch that keeps a worker busy",
    solution="""from rabbitsim import sim


def busy(prefetch):  # one worker, 8 ms a message, 60 ms round trip, a queue that never runs dry
    lab = sim.Lab(seed=1, round_trip=0.060)
    lab.channel.queue_declare("task_queue")
    lab.publisher("task_queue", arrivals=sim.bursts(3000, every=1000), messages=3000)
    lab.workers("task_queue", prefetch=prefetch, service=0.008)
    return lab.run(until=20).utilisation


prefetch = 1
while busy(prefetch) < 0.9:
    prefetch += 1

course.EXERCISES["10.2"](prefetch)""",
    explanation=(
        "With prefetch n the worker has at most n messages on their way or in hand: it works "
        "8 ms on each, and each one's ack takes half the 60 ms round trip to reach the broker "
        "and the next delivery another half to come back. In every 68 ms cycle it works at most "
        "n x 8 ms, so it is busy about n x 8 / 68 of the time: 90% needs n ≥ 7.65, so 8. A "
        "larger prefetch gains nothing once the worker is saturated, and keeps more messages "
        "away from the other workers."
    ),
    hints=(
        "Section 2's arithmetic: busy share = prefetch x service / (service + round trip).",
        "Check the arithmetic in the lab: run one worker behind a full queue for a few prefetches.",
    ),
)
def check_prefetch(prefetch: int) -> Feedback:
    """One worker, FAST_SERVICE per message behind SLOW_ROUND_TRIP, a full queue: `prefetch`
    must keep it BUSY_ENOUGH busy, and `prefetch - 1` must not."""
    if not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 0:
        return wrong(f"{prefetch!r} is not a prefetch count", "Give a whole number, 1 or more.")
    story = (
        f"The check ran one worker for {PREFETCH_SECONDS:.0f} simulated seconds on a queue that never "
        f"ran dry: {FAST_SERVICE * 1000:.0f} ms of work per message, "
        f"a {SLOW_ROUND_TRIP * 1000:.0f} ms round trip."
    )
    if prefetch == 0:
        return wrong(
            "Prefetch 0 means no limit: the broker pushes the whole queue to the worker",
            story,
            "It is busy all the time, but every message sits in that one worker's buffer: other "
            "workers get none, and if it crashes all of them are redelivered. Find the smallest "
            "limit that is enough.",
        )
    busy = prefetch_utilisation(prefetch, FAST_SERVICE, SLOW_ROUND_TRIP, PREFETCH_SECONDS)
    cycle = FAST_SERVICE + SLOW_ROUND_TRIP
    arithmetic = min(1.0, prefetch * FAST_SERVICE / cycle)
    measured = f"At prefetch {prefetch} the worker was {busy:.1%} busy (the arithmetic: {arithmetic:.1%})."
    if busy < BUSY_ENOUGH:
        return wrong(
            f"At prefetch {prefetch} the worker is only {busy:.0%} busy",
            story,
            measured,
            f"Each message spends {cycle * 1000:.0f} ms between the broker sending it and the broker hearing "
            f"its ack; with {prefetch} in flight the worker works {prefetch * FAST_SERVICE * 1000:.0f} ms of "
            "each such cycle and waits for the network the rest.",
        )
    less = prefetch_utilisation(prefetch - 1, FAST_SERVICE, SLOW_ROUND_TRIP, PREFETCH_SECONDS)
    if less >= BUSY_ENOUGH:
        return wrong(
            f"Prefetch {prefetch - 1} already keeps the worker {less:.0%} busy",
            story,
            measured,
            "A prefetch beyond what the round trip needs buys nothing: those messages wait in this "
            "worker's buffer instead of going to an idle one. Find the smallest that is enough.",
        )
    return right(
        f"Prefetch {prefetch} keeps the worker {busy:.0%} busy; {prefetch - 1} would leave it at {less:.0%}",
        story,
        measured,
    )


# --- exercise 10.3 ---------------------------------------------------------------------------------

#: exercise 10.3: bursts of BURST every BURST_EVERY s to WORKERS_103 workers of SERVICE_103 s,
#: and the longest an accepted message may wait
BURST, BURST_EVERY, WORKERS_103, SERVICE_103, MAX_WAIT = 400, 20.0, 4, 0.05, 2.0
ROUND_TRIP_103, BURSTS_103 = 0.01, 6


@dataclass(frozen=True, slots=True)
class _Overflowed:
    """What one run of exercise 10.3's scenario measured."""

    published: int
    acked: int
    refused: int  # nacked to the publisher (reject-publish)
    dropped: int  # discarded without telling the publisher (drop-head)
    longest: float  # the longest wait of a delivered message
    error: str | None = None


def _overflow(arguments: Mapping[str, Any]) -> _Overflowed:
    lab = sim.Lab(seed=1, round_trip=ROUND_TRIP_103)
    try:
        lab.channel.queue_declare("orders", durable=True, arguments=dict(arguments))
    except AMQPError as error:
        return _Overflowed(0, 0, 0, 0, math.nan, str(error))
    publisher = lab.publisher(
        "orders",
        arrivals=sim.bursts(BURST, every=BURST_EVERY),
        messages=BURST * BURSTS_103,
        confirms=True,
    )
    lab.workers("orders", count=WORKERS_103, service=SERVICE_103)
    result = lab.run()
    dropped = result.published - result.acked - result.queues["orders"]["ready"]
    dropped -= result.queues["orders"]["unacked"]
    return _Overflowed(
        result.published,
        result.acked,
        publisher.publish_nacked,
        dropped - publisher.publish_nacked,
        result.wait.max,
    )


def _best_length() -> tuple[int, _Overflowed]:
    """The longest x-max-length with reject-publish whose accepted messages wait at most
    MAX_WAIT (by bisection: a longer queue only makes waits longer)."""
    low, high = 1, BURST
    best = _overflow({"x-max-length": low, "x-overflow": "reject-publish"})
    while low < high:
        middle = (low + high + 1) // 2
        run = _overflow({"x-max-length": middle, "x-overflow": "reject-publish"})
        if run.longest <= MAX_WAIT:
            low, best = middle, run
        else:
            high = middle - 1
    return low, best


@exercise(
    "10.3",
    "A length limit that bounds the wait and loses the fewest",
    solution="""arguments = {"x-max-length": 130, "x-overflow": "reject-publish"}

course.EXERCISES["10.3"](arguments)""",
    explanation=(
        "Four workers of 50 ms (plus the 10 ms round trip) take about 67 messages a second, so a "
        "message behind n others waits about n / 67 s: 2 s allows about 130 in the queue. "
        "reject-publish refuses the rest of the burst with a nack the publisher sees (it can slow "
        "down, retry later or report it); the default overflow, drop-head, would drop the oldest "
        "messages silently, and with no limit the last of each burst waits 6 s."
    ),
    hints=(
        "How many messages a second do the four workers finish, counting the round trip? Then how "
        "many can wait ahead of a message for it to wait at most 2 s?",
        "x-overflow decides who loses: drop-head (the default) discards the oldest without a word; "
        "reject-publish nacks the newest back to a publisher that uses confirms.",
    ),
)
def check_max_length(arguments: Mapping[str, Any]) -> Feedback:
    """Declare the exercise's queue with `arguments` in the lab and run the bursts: no accepted
    message may wait longer than MAX_WAIT, every message the queue did not take must be nacked
    to the publisher, and no more may be refused than about 5% over the fewest possible."""
    if not isinstance(arguments, Mapping):
        return wrong(
            f"Give the queue's arguments as a dict, not {type(arguments).__name__}",
            'For example {"x-max-length": 10, "x-overflow": "reject-publish"}.',
        )
    story = (
        f"The check declared the queue with {dict(arguments)!r} and published {BURSTS_103} bursts of "
        f"{BURST} messages, one every {BURST_EVERY:.0f} s, with confirms, to {WORKERS_103} workers "
        f"({SERVICE_103 * 1000:.0f} ms each, {ROUND_TRIP_103 * 1000:.0f} ms round trip, prefetch 1)."
    )
    run = _overflow(arguments)
    if run.error is not None:
        return wrong("The queue could not be declared with these arguments", story, run.error)
    measured = (
        f"{run.acked} of {run.published} messages done, {run.refused} refused (nacked to the publisher), "
        f"{run.dropped} dropped without a word; the longest wait was {run.longest:.2f} s."
    )
    if run.longest > MAX_WAIT:
        return wrong(
            f"A message waited {run.longest:.2f} s in the queue, over {MAX_WAIT:.0f} s",
            story,
            measured,
            "Without a limit (or with one too long) the end of each burst queues behind the rest: "
            "the limit must be short enough for the workers to empty the queue in the time allowed."
            + (
                " x-max-length-bytes counts body bytes, and these messages have empty bodies."
                if "x-max-length-bytes" in arguments
                else ""
            ),
        )
    if run.dropped:
        return wrong(
            f"{plural(run.dropped, 'message')} were dropped without the publisher knowing",
            story,
            measured,
            f"x-overflow {arguments.get('x-overflow', 'drop-head (the default)')!s} discards the oldest "
            "messages when the queue is full; the publisher got a confirm for each and believes them "
            "delivered. 'reject-publish' refuses the new ones instead, with a nack it can act on.",
        )
    length, best = _best_length()
    if run.refused > best.refused * 1.05 + 1:
        return wrong(
            f"{run.refused} messages were refused; the wait allows far fewer",
            story,
            measured,
            f"A longer queue still keeps every wait under {MAX_WAIT:.0f} s: the limit can go up while the "
            "longest wait stays within the target.",
        )
    return right(
        f"Every wait stayed under {MAX_WAIT:.0f} s and the publisher heard of every refused message",
        story,
        measured,
        f"The longest limit that keeps every wait within {MAX_WAIT:.0f} s is {length}: it refuses "
        f"{best.refused}.",
    )


# --- the sliders -----------------------------------------------------------------------------------


def _figure_png(result: sim.Result, title: str) -> bytes:
    """The queue over time beside the distribution of the waits, as PNG bytes (no pyplot: the
    figure belongs to this call, not to a global state a notebook shares)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.2), dpi=80)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.8, wspace=0.2)
    FigureCanvasAgg(figure)
    queue_axes, wait_axes = figure.subplots(1, 2)
    times = result.series["time"]
    queue_axes.plot(times, result.series["ready"], label="ready")
    queue_axes.plot(times, result.series["unacked"], label="unacked")
    queue_axes.set_xlabel("simulated seconds")
    queue_axes.set_ylabel("messages")
    queue_axes.set_title("the queue")
    queue_axes.legend(loc="upper left")
    waits = [row["wait"] for row in result.message_table() if row["wait"] is not None]
    if waits:
        wait_axes.hist(waits, bins=40, color="#5b8def")
        for name, value, style in (("p50", result.wait.p50, ":"), ("p95", result.wait.p95, "--")):
            wait_axes.axvline(value, color="black", linestyle=style, label=f"{name} {value:.3g} s")
        wait_axes.legend(loc="upper right")
    wait_axes.set_xlabel("wait in the queue (s)")
    wait_axes.set_ylabel("messages")
    wait_axes.set_title("waits")
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class Sliders:
    """A work queue (`work_queue`) that re-runs whenever a slider moves: arrival rate, workers,
    prefetch, service time and round trip. `widget` is what a notebook shows; `result` is the
    last run, and `run()` re-runs for the sliders' values (a test moves a slider and reads it)."""

    def __init__(
        self,
        *,
        rate: float = 40.0,
        workers: int = 5,
        prefetch: int = 1,
        service_ms: float = 100.0,
        round_trip_ms: float = 10.0,
        seconds: float = 120.0,
    ) -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]

        self.seconds = seconds
        style = {"description_width": "9em"}
        layout = widgets.Layout(width="32em")

        def slider(kind: Any, description: str, value: float, low: float, high: float, step: float) -> Any:
            return kind(
                value=value,
                min=low,
                max=high,
                step=step,
                description=description,
                continuous_update=False,
                style=style,
                layout=layout,
            )

        self.rate = slider(widgets.FloatSlider, "arrivals / s", rate, 1, 200, 1)
        self.workers = slider(widgets.IntSlider, "workers", workers, 1, 30, 1)
        self.prefetch = slider(widgets.IntSlider, "prefetch", prefetch, 1, 50, 1)
        self.service_ms = slider(widgets.FloatSlider, "service (ms)", service_ms, 1, 500, 1)
        self.round_trip_ms = slider(widgets.FloatSlider, "round trip (ms)", round_trip_ms, 0, 300, 5)
        self.summary = widgets.HTML()
        self.picture = widgets.Image(format="png")
        controls = [self.rate, self.workers, self.prefetch, self.service_ms, self.round_trip_ms]
        for control in controls:
            control.observe(self._moved, names="value")
        self.widget = widgets.VBox([*controls, self.summary, self.picture])
        self.runs = 0
        self.result = self.run()

    def _moved(self, _change: Any) -> None:
        self.run()

    def run(self) -> sim.Result:
        """Run the scenario for the sliders' values; show its figures."""
        rate, workers, prefetch = self.rate.value, self.workers.value, self.prefetch.value
        service, round_trip = self.service_ms.value / 1000, self.round_trip_ms.value / 1000
        result = work_queue(
            rate,
            workers,
            prefetch=prefetch,
            service=service,
            round_trip=round_trip,
            seconds=self.seconds,
        )
        self.result = result
        self.runs += 1
        capacity = workers * min(1 / service, prefetch / (service + round_trip))
        queued = result.queues["task_queue"]["ready"]
        self.summary.value = (
            f"<b>{self.seconds:.0f} simulated s</b>: {result.published} published, {result.acked} acked; "
            f"workers {result.utilisation:.0%} busy; wait p50 {result.wait.p50:.3g} s, "
            f"p95 {result.wait.p95:.3g} s; {queued} still queued at the end. The workers can finish "
            f"about {capacity:.1f} messages/s against {rate:.0f} arriving"
            + (" (<b>overloaded</b>: the queue grows)." if capacity <= rate else ".")
        )
        self.picture.value = _figure_png(
            result,
            f"{rate:.0f}/s to {plural(workers, 'worker')}, prefetch {prefetch}, "
            f"{service * 1000:.0f} ms each, {round_trip * 1000:.0f} ms round trip",
        )
        return result

    def _repr_mimebundle_(self, **options: Any) -> Any:
        """In a notebook, the object shows as its widget."""
        return self.widget._repr_mimebundle_(**options)


def sliders(**values: Any) -> Sliders:
    """The lab's sliders, starting at `values` (rate, workers, prefetch, service_ms, round_trip_ms)."""
    return Sliders(**values)
