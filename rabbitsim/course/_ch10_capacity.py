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

from ._feedback import Both, Feedback, commented, exercise, plural, right, say, wrong

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
    return say(
        f"{plural(workers, 'worker')}: p95 wait {result.wait.p95:.3f} s, mean {result.wait.mean:.3f} s, "
        f"workers {result.utilisation:.0%} busy, {left} still queued at the end",
        f"{workers} 个 worker：p95 等待 {result.wait.p95:.3f} 秒，平均 {result.wait.mean:.3f} 秒，worker 的"
        f"忙碌时间占 {result.utilisation:.0%}，结束时仍有 {left} 条消息在排队",
    )


_SOLUTION_10_1 = """import math

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

course.EXERCISES["10.1"](workers)"""


@exercise(
    "10.1",
    Both("The fewest workers for a load", "扛住一份负载所需的最少 worker 数"),
    solution=commented(
        _SOLUTION_10_1,
        {
            "the exercise's scenario: section 1's work_queue(60, workers, seconds=300, seed=10)": (
                "练习的场景：第 1 节的 work_queue(60, workers, seconds=300, seed=10)"
            ),
            "the fewest that keep up at all: 7": "勉强跟得上所需的最少数量：7",
        },
    ),
    explanation=Both(
        "Each message keeps a worker for its 0.1 s of work plus the 10 ms round trip before the "
        "next one arrives (prefetch 1), so a worker manages about 9 a second: 60 a second need at "
        "least 7 just to keep up. At 7 they use 94% of what they can do and the waits are long; one more "
        "worker brings the p95 under the target. Queueing theory says the same: near full "
        "utilisation, waits grow without bound, so a system is sized for the tail, not the mean.",
        "每条消息要占用 worker 0.1 秒的工作时间，再加上下一条消息到达之前 10 ms 的往返（预取为 1），"
        "所以一个 worker 每秒大约能处理 9 条：每秒 60 条，至少要 7 个 worker 才跟得上。7 个时，它们用掉了"
        "自身能力的 94%，等待时间很长；再加一个 worker，p95 就降到了目标以下。排队论的结论也一样：接近"
        "满负荷时，等待时间会无限增长，所以确定系统规模要看尾部，而不是平均值。",
    ),
    hints=(
        Both(
            "First the arithmetic: how many messages a second can one worker finish, counting the round "
            "trip?",
            "先算一算：算上往返时间，一个 worker 每秒能处理完多少条消息？",
        ),
        Both(
            "Then run the scenario for that many workers and a few more, and read result.wait.p95.",
            "然后用这个数量的 worker、以及再多几个的 worker 分别运行场景，读出 result.wait.p95。",
        ),
    ),
)
def check_workers(workers: int) -> Feedback:
    """Run the exercise's load with `workers` and with one fewer: the first must keep the p95
    wait under TARGET_P95, the second must not."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        return wrong(
            say(f"{workers!r} is not a number of workers", f"{workers!r} 不是 worker 的数量"),
            say("Give a whole number, 1 or more.", "请给出一个大于等于 1 的整数。"),
        )
    capacity = 1 / (LOAD_SERVICE + LOAD_ROUND_TRIP)
    if workers > MOST_WORKERS:
        return wrong(
            say(
                f"{workers} workers for {LOAD_RATE:.0f} messages a second is far too many",
                f"每秒 {LOAD_RATE:.0f} 条消息，用 {workers} 个 worker 实在太多了",
            ),
            say(
                f"Each can finish about {capacity:.1f} a second: {MOST_WORKERS} of them could take "
                f"{MOST_WORKERS * capacity:.0f} a second. Look for the fewest.",
                f"每个 worker 每秒大约能处理 {capacity:.1f} 条：{MOST_WORKERS} 个就能每秒处理 "
                f"{MOST_WORKERS * capacity:.0f} 条。请找出最少的数量。",
            ),
        )
    story = say(
        f"The check ran {LOAD_SECONDS:.0f} simulated seconds of {LOAD_RATE:.0f} messages a second "
        f"(Poisson), {LOAD_SERVICE * 1000:.0f} ms of work each (exponential), prefetch 1, a "
        f"{LOAD_ROUND_TRIP * 1000:.0f} ms round trip, seed {LOAD_SEED}.",
        f"检查模拟运行了 {LOAD_SECONDS:.0f} 秒：每秒 {LOAD_RATE:.0f} 条消息（泊松到达），每条工作 "
        f"{LOAD_SERVICE * 1000:.0f} ms（指数分布），预取为 1，往返 {LOAD_ROUND_TRIP * 1000:.0f} ms，"
        f"随机种子 {LOAD_SEED}。",
    )
    result = _sized(workers)
    if not result.wait.p95 < TARGET_P95:
        offered = LOAD_RATE / (workers * capacity)
        why = (
            say(
                f"They can finish at most {workers * capacity:.1f} messages a second (each costs "
                f"{LOAD_SERVICE + LOAD_ROUND_TRIP:.2f} s of a worker's time with the round trip), less than "
                f"the {LOAD_RATE:.0f} arriving: the queue grows for as long as the load lasts.",
                f"它们每秒最多能处理 {workers * capacity:.1f} 条消息（算上往返，每条要占用 worker "
                f"{LOAD_SERVICE + LOAD_ROUND_TRIP:.2f} 秒），少于每秒到达的 {LOAD_RATE:.0f} 条：只要负载"
                "持续，队列就会一直增长。",
            )
            if offered >= 1
            else say(
                f"They keep up, but at {offered:.0%} of what they can do, bursts of arrivals queue "
                "up behind busy workers: the tail of the waits is long. Add workers.",
                f"它们跟得上，但用掉了自身能力的 {offered:.0%}，突发到达的消息只能排在忙碌的 worker 后面："
                "等待时间的尾部很长。请增加 worker。",
            )
        )
        return wrong(
            say(
                f"With {plural(workers, 'worker')} the p95 wait is {result.wait.p95:.3f} s, "
                f"over {TARGET_P95} s",
                f"{workers} 个 worker 时，p95 等待为 {result.wait.p95:.3f} 秒，超过了 {TARGET_P95} 秒",
            ),
            story,
            _described(workers, result),
            why,
        )
    if workers > 1:
        fewer = _sized(workers - 1)
        if fewer.wait.p95 < TARGET_P95:
            return wrong(
                say(
                    f"{plural(workers - 1, 'worker')} already keep the p95 wait under {TARGET_P95} s",
                    f"{workers - 1} 个 worker 就已经能让 p95 等待低于 {TARGET_P95} 秒",
                ),
                story,
                _described(workers - 1, fewer),
                _described(workers, result),
                say(
                    "Each extra worker costs a process (and a connection); find the fewest.",
                    "每多一个 worker，就要多一个进程（和一个连接）；请找出最少的数量。",
                ),
            )
        below = _described(workers - 1, fewer)
    else:
        below = ""
    return right(
        say(
            f"{plural(workers, 'worker')} keep the p95 wait under {TARGET_P95} s, and no fewer do",
            f"{workers} 个 worker 能让 p95 等待低于 {TARGET_P95} 秒，再少就不行",
        ),
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


_SOLUTION_10_2 = """from rabbitsim import sim


def busy(prefetch):  # one worker, 8 ms a message, 60 ms round trip, a queue that never runs dry
    lab = sim.Lab(seed=1, round_trip=0.060)
    lab.channel.queue_declare("task_queue")
    lab.publisher("task_queue", arrivals=sim.bursts(3000, every=1000), messages=3000)
    lab.workers("task_queue", prefetch=prefetch, service=0.008)
    return lab.run(until=20).utilisation


prefetch = 1
while busy(prefetch) < 0.9:
    prefetch += 1

course.EXERCISES["10.2"](prefetch)"""


@exercise(
    "10.2",
    Both("The smallest prefetch that keeps a worker busy", "让 worker 保持忙碌的最小预取值"),
    solution=commented(
        _SOLUTION_10_2,
        {
            "one worker, 8 ms a message, 60 ms round trip, a queue that never runs dry": (
                "一个 worker，每条消息 8 ms，往返 60 ms，队列永远不会空"
            ),
        },
    ),
    explanation=Both(
        "With prefetch n the worker has at most n messages on their way or in hand: it works "
        "8 ms on each, and each one's ack takes half the 60 ms round trip to reach the broker "
        "and the next delivery another half to come back. In every 68 ms cycle it works at most "
        "n x 8 ms, so it is busy about n x 8 / 68 of the time: 90% needs n ≥ 7.65, so 8. A "
        "larger prefetch gains nothing once the worker is saturated, and keeps more messages "
        "away from the other workers.",
        "预取为 n 时，worker 手上和路上加起来最多有 n 条消息：每条它要处理 8 ms，每条消息的确认要花 "
        "60 ms 往返时间的一半才能到达 broker，下一条投递再花另一半才能回来。在每个 68 ms 的周期里，它"
        "最多工作 n x 8 ms，所以忙碌时间约占 n x 8 / 68：要达到 90%，需要 n ≥ 7.65，也就是 8。worker "
        "一旦饱和，更大的预取就毫无收益，还会让更多消息到不了其他 worker 手里。",
    ),
    hints=(
        Both(
            "Section 2's arithmetic: busy share = prefetch x service / (service + round trip).",
            "第 2 节的算式：忙碌占比 = 预取 x 服务时间 / (服务时间 + 往返时间)。",
        ),
        Both(
            "Check the arithmetic in the lab: run one worker behind a full queue for a few prefetches.",
            "在实验室里验证这个算式：让一个 worker 消费一个满的队列，试几个不同的预取值。",
        ),
    ),
)
def check_prefetch(prefetch: int) -> Feedback:
    """One worker, FAST_SERVICE per message behind SLOW_ROUND_TRIP, a full queue: `prefetch`
    must keep it BUSY_ENOUGH busy, and `prefetch - 1` must not."""
    if not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 0:
        return wrong(
            say(f"{prefetch!r} is not a prefetch count", f"{prefetch!r} 不是预取数量"),
            say("Give a whole number, 1 or more.", "请给出一个大于等于 1 的整数。"),
        )
    story = say(
        f"The check ran one worker for {PREFETCH_SECONDS:.0f} simulated seconds on a queue that never "
        f"ran dry: {FAST_SERVICE * 1000:.0f} ms of work per message, "
        f"a {SLOW_ROUND_TRIP * 1000:.0f} ms round trip.",
        f"检查让一个 worker 在一个永远不会空的队列上模拟运行了 {PREFETCH_SECONDS:.0f} 秒：每条消息工作 "
        f"{FAST_SERVICE * 1000:.0f} ms，往返 {SLOW_ROUND_TRIP * 1000:.0f} ms。",
    )
    if prefetch == 0:
        return wrong(
            say(
                "Prefetch 0 means no limit: the broker pushes the whole queue to the worker",
                "预取为 0 表示不限制：broker 会把整个队列都推给这个 worker",
            ),
            story,
            say(
                "It is busy all the time, but every message sits in that one worker's buffer: other "
                "workers get none, and if it crashes all of them are redelivered. Find the smallest "
                "limit that is enough.",
                "它一直很忙，但所有消息都堆在这一个 worker 的缓冲区里：其他 worker 一条也拿不到，而且它"
                "一旦崩溃，所有消息都要重新投递。请找出够用的最小限制。",
            ),
        )
    busy = prefetch_utilisation(prefetch, FAST_SERVICE, SLOW_ROUND_TRIP, PREFETCH_SECONDS)
    cycle = FAST_SERVICE + SLOW_ROUND_TRIP
    arithmetic = min(1.0, prefetch * FAST_SERVICE / cycle)
    measured = say(
        f"At prefetch {prefetch} the worker was {busy:.1%} busy (the arithmetic: {arithmetic:.1%}).",
        f"预取为 {prefetch} 时，worker 的忙碌时间占 {busy:.1%}（按算式是 {arithmetic:.1%}）。",
    )
    if busy < BUSY_ENOUGH:
        return wrong(
            say(
                f"At prefetch {prefetch} the worker is only {busy:.0%} busy",
                f"预取为 {prefetch} 时，worker 的忙碌时间只占 {busy:.0%}",
            ),
            story,
            measured,
            say(
                f"Each message spends {cycle * 1000:.0f} ms between the broker sending it and the broker "
                f"hearing its ack; with {prefetch} in flight the worker works "
                f"{prefetch * FAST_SERVICE * 1000:.0f} ms of each such cycle and waits for the network "
                "the rest.",
                f"每条消息从 broker 发出，到 broker 收到它的确认，要花 {cycle * 1000:.0f} ms；同时有 "
                f"{prefetch} 条在途时，worker 在每个这样的周期里只工作 {prefetch * FAST_SERVICE * 1000:.0f} "
                "ms，其余时间都在等网络。",
            ),
        )
    less = prefetch_utilisation(prefetch - 1, FAST_SERVICE, SLOW_ROUND_TRIP, PREFETCH_SECONDS)
    if less >= BUSY_ENOUGH:
        return wrong(
            say(
                f"Prefetch {prefetch - 1} already keeps the worker {less:.0%} busy",
                f"预取为 {prefetch - 1} 就已经能让 worker 的忙碌时间达到 {less:.0%}",
            ),
            story,
            measured,
            say(
                "A prefetch beyond what the round trip needs buys nothing: those messages wait in this "
                "worker's buffer instead of going to an idle one. Find the smallest that is enough.",
                "超出往返所需的预取毫无用处：多出来的消息只会在这个 worker 的缓冲区里等着，而不是交给空闲"
                "的 worker。请找出够用的最小值。",
            ),
        )
    return right(
        say(
            f"Prefetch {prefetch} keeps the worker {busy:.0%} busy; {prefetch - 1} would leave it "
            f"at {less:.0%}",
            f"预取为 {prefetch} 时，worker 的忙碌时间占 {busy:.0%}；换成 {prefetch - 1}，就只有 {less:.0%}",
        ),
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
    Both(
        "A length limit that bounds the wait and loses the fewest",
        "既限制等待时间、又损失最少的长度上限",
    ),
    solution="""arguments = {"x-max-length": 130, "x-overflow": "reject-publish"}

course.EXERCISES["10.3"](arguments)""",
    explanation=Both(
        "Four workers of 50 ms (plus the 10 ms round trip) take about 67 messages a second, so a "
        "message behind n others waits about n / 67 s: 2 s allows about 130 in the queue. "
        "reject-publish refuses the rest of the burst with a nack the publisher sees (it can slow "
        "down, retry later or report it); the default overflow, drop-head, would drop the oldest "
        "messages silently, and with no limit the last of each burst waits 6 s.",
        "四个 worker，每条消息 50 ms（加上 10 ms 往返），每秒大约能处理 67 条，所以排在 n 条消息后面的"
        "消息大约要等 n / 67 秒：2 秒大约允许队列里有 130 条。reject-publish 用生产者看得到的 nack 拒绝"
        "这波突发中剩下的消息（生产者可以放慢速度、稍后重试，或者上报）；默认的溢出方式 drop-head 则会"
        "悄无声息地丢弃最旧的消息，而不设上限时，每波突发的最后一条消息要等 6 秒。",
    ),
    hints=(
        Both(
            "How many messages a second do the four workers finish, counting the round trip? Then how "
            "many can wait ahead of a message for it to wait at most 2 s?",
            "算上往返时间，四个 worker 每秒能处理完多少条消息？那么，一条消息前面最多能排多少条，才能保证"
            "它最多只等 2 秒？",
        ),
        Both(
            "x-overflow decides who loses: drop-head (the default) discards the oldest without a word; "
            "reject-publish nacks the newest back to a publisher that uses confirms.",
            "x-overflow 决定谁来承担损失：drop-head（默认值）一声不吭地丢弃最旧的消息；reject-publish "
            "则拒绝最新的消息，向使用发布确认的生产者回一个 nack。",
        ),
    ),
)
def check_max_length(arguments: Mapping[str, Any]) -> Feedback:
    """Declare the exercise's queue with `arguments` in the lab and run the bursts: no accepted
    message may wait longer than MAX_WAIT, every message the queue did not take must be nacked
    to the publisher, and no more may be refused than about 5% over the fewest possible."""
    if not isinstance(arguments, Mapping):
        return wrong(
            say(
                f"Give the queue's arguments as a dict, not {type(arguments).__name__}",
                f"请用 dict 给出队列的参数，而不是 {type(arguments).__name__}",
            ),
            say(
                'For example {"x-max-length": 10, "x-overflow": "reject-publish"}.',
                '例如 {"x-max-length": 10, "x-overflow": "reject-publish"}。',
            ),
        )
    story = say(
        f"The check declared the queue with {dict(arguments)!r} and published {BURSTS_103} bursts of "
        f"{BURST} messages, one every {BURST_EVERY:.0f} s, with confirms, to {WORKERS_103} workers "
        f"({SERVICE_103 * 1000:.0f} ms each, {ROUND_TRIP_103 * 1000:.0f} ms round trip, prefetch 1).",
        f"检查用 {dict(arguments)!r} 声明了队列，然后以发布确认的方式发布了 {BURSTS_103} 波突发消息，"
        f"每波 {BURST} 条，每 {BURST_EVERY:.0f} 秒一波，交给 {WORKERS_103} 个 worker 处理（每条 "
        f"{SERVICE_103 * 1000:.0f} ms，往返 {ROUND_TRIP_103 * 1000:.0f} ms，预取为 1）。",
    )
    run = _overflow(arguments)
    if run.error is not None:
        return wrong(
            say("The queue could not be declared with these arguments", "无法用这些参数声明队列"),
            story,
            run.error,
        )
    measured = say(
        f"{run.acked} of {run.published} messages done, {run.refused} refused (nacked to the publisher), "
        f"{run.dropped} dropped without a word; the longest wait was {run.longest:.2f} s.",
        f"{run.published} 条消息中处理完 {run.acked} 条，{run.refused} 条被拒绝（向生产者回了 nack），"
        f"{run.dropped} 条被悄无声息地丢弃；最长的等待是 {run.longest:.2f} 秒。",
    )
    if run.longest > MAX_WAIT:
        by_bytes = "x-max-length-bytes" in arguments
        return wrong(
            say(
                f"A message waited {run.longest:.2f} s in the queue, over {MAX_WAIT:.0f} s",
                f"有一条消息在队列里等了 {run.longest:.2f} 秒，超过了 {MAX_WAIT:.0f} 秒",
            ),
            story,
            measured,
            say(
                "Without a limit (or with one too long) the end of each burst queues behind the rest: "
                "the limit must be short enough for the workers to empty the queue in the time allowed."
                + (
                    " x-max-length-bytes counts body bytes, and these messages have empty bodies."
                    if by_bytes
                    else ""
                ),
                "没有上限（或者上限太长）时，每波突发的末尾都要排在其余消息后面：上限必须足够短，让 worker "
                "能在允许的时间内清空队列。"
                + (
                    "x-max-length-bytes 计算的是消息体的字节数，而这些消息的消息体是空的。"
                    if by_bytes
                    else ""
                ),
            ),
        )
    if run.dropped:
        return wrong(
            say(
                f"{plural(run.dropped, 'message')} were dropped without the publisher knowing",
                f"{run.dropped} 条消息在生产者不知情的情况下被丢弃了",
            ),
            story,
            measured,
            say(
                f"x-overflow {arguments.get('x-overflow', 'drop-head (the default)')!s} discards the oldest "
                "messages when the queue is full; the publisher got a confirm for each and believes them "
                "delivered. 'reject-publish' refuses the new ones instead, with a nack it can act on.",
                (
                    f"x-overflow 取 {arguments['x-overflow']!s} 时"
                    if "x-overflow" in arguments
                    else "x-overflow 取默认值 drop-head 时"
                )
                + "，队列满了就会丢弃最旧的消息；生产者为每条消息都收到了确认，以为它们都已送达。"
                "'reject-publish' 则改为拒绝新消息，并回一个生产者可以据此处理的 nack。",
            ),
        )
    length, best = _best_length()
    if run.refused > best.refused * 1.05 + 1:
        return wrong(
            say(
                f"{run.refused} messages were refused; the wait allows far fewer",
                f"有 {run.refused} 条消息被拒绝；按等待时间的要求，本可以少拒绝很多",
            ),
            story,
            measured,
            say(
                f"A longer queue still keeps every wait under {MAX_WAIT:.0f} s: the limit can go up while "
                "the longest wait stays within the target.",
                f"更长的队列仍能让每次等待都低于 {MAX_WAIT:.0f} 秒：上限可以再提高，最长等待依然在目标之内。",
            ),
        )
    return right(
        say(
            f"Every wait stayed under {MAX_WAIT:.0f} s and the publisher heard of every refused message",
            f"每次等待都低于 {MAX_WAIT:.0f} 秒，而且每条被拒绝的消息，生产者都知道",
        ),
        story,
        measured,
        say(
            f"The longest limit that keeps every wait within {MAX_WAIT:.0f} s is {length}: it refuses "
            f"{best.refused}.",
            f"能让每次等待都不超过 {MAX_WAIT:.0f} 秒的最长上限是 {length}：它会拒绝 {best.refused} 条消息。",
        ),
    )


# --- the sliders -----------------------------------------------------------------------------------


def _figure_png(result: sim.Result, title: str) -> bytes:
    """The queue over time beside the distribution of the waits, as PNG bytes (no pyplot: the
    figure belongs to this call, not to a global state a notebook shares), its words in the
    kernel's language (in Chinese drawn with a CJK font after DejaVu, as the pictures are)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rabbitsim.viz import font_family

    messages = say("messages", "消息数")
    with rc_context({"font.family": font_family()}):
        figure = Figure(figsize=(10, 3.2), dpi=80)
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.8, wspace=0.2)
        FigureCanvasAgg(figure)
        queue_axes, wait_axes = figure.subplots(1, 2)
        times = result.series["time"]
        queue_axes.plot(times, result.series["ready"], label=say("ready", "就绪"))
        queue_axes.plot(times, result.series["unacked"], label=say("unacked", "未确认"))
        queue_axes.set_xlabel(say("simulated seconds", "模拟时间（秒）"))
        queue_axes.set_ylabel(messages)
        queue_axes.set_title(say("the queue", "队列"))
        queue_axes.legend(loc="upper left")
        waits = [row["wait"] for row in result.message_table() if row["wait"] is not None]
        if waits:
            wait_axes.hist(waits, bins=40, color="#5b8def")
            for name, value, style in (("p50", result.wait.p50, ":"), ("p95", result.wait.p95, "--")):
                label = say(f"{name} {value:.3g} s", f"{name} {value:.3g} 秒")
                wait_axes.axvline(value, color="black", linestyle=style, label=label)
            wait_axes.legend(loc="upper right")
        wait_axes.set_xlabel(say("wait in the queue (s)", "在队列中的等待时间（秒）"))
        wait_axes.set_ylabel(messages)
        wait_axes.set_title(say("waits", "等待时间"))
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

        self.rate = slider(widgets.FloatSlider, say("arrivals / s", "每秒到达数"), rate, 1, 200, 1)
        self.workers = slider(widgets.IntSlider, say("workers", "worker 数"), workers, 1, 30, 1)
        self.prefetch = slider(widgets.IntSlider, say("prefetch", "预取"), prefetch, 1, 50, 1)
        self.service_ms = slider(
            widgets.FloatSlider, say("service (ms)", "服务时间 (ms)"), service_ms, 1, 500, 1
        )
        self.round_trip_ms = slider(
            widgets.FloatSlider, say("round trip (ms)", "往返时间 (ms)"), round_trip_ms, 0, 300, 5
        )
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
        self.summary.value = say(
            f"<b>{self.seconds:.0f} simulated s</b>: {result.published} published, {result.acked} acked; "
            f"workers {result.utilisation:.0%} busy; wait p50 {result.wait.p50:.3g} s, "
            f"p95 {result.wait.p95:.3g} s; {queued} still queued at the end. The workers can finish "
            f"about {capacity:.1f} messages/s against {rate:.0f} arriving"
            + (" (<b>overloaded</b>: the queue grows)." if capacity <= rate else "."),
            f"<b>模拟 {self.seconds:.0f} 秒</b>：发布 {result.published} 条，确认 {result.acked} 条；"
            f"worker 的忙碌时间占 {result.utilisation:.0%}；等待 p50 为 {result.wait.p50:.3g} 秒，"
            f"p95 为 {result.wait.p95:.3g} 秒；结束时仍有 {queued} 条在排队。worker 每秒大约能处理 "
            f"{capacity:.1f} 条消息，而每秒到达 {rate:.0f} 条"
            + ("（<b>过载</b>：队列在增长）。" if capacity <= rate else "。"),
        )
        self.picture.value = _figure_png(
            result,
            say(
                f"{rate:.0f}/s to {plural(workers, 'worker')}, prefetch {prefetch}, "
                f"{service * 1000:.0f} ms each, {round_trip * 1000:.0f} ms round trip",
                f"每秒 {rate:.0f} 条，{workers} 个 worker，预取为 {prefetch}，每条 {service * 1000:.0f} ms，"
                f"往返 {round_trip * 1000:.0f} ms",
            ),
        )
        return result

    def _repr_mimebundle_(self, **options: Any) -> Any:
        """In a notebook, the object shows as its widget."""
        return self.widget._repr_mimebundle_(**options)


def sliders(**values: Any) -> Sliders:
    """The lab's sliders, starting at `values` (rate, workers, prefetch, service_ms, round_trip_ms)."""
    return Sliders(**values)
