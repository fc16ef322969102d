"""Chapter 2, work queues: the checks of exercises 2.1 (fix the worker that forgets to ack), 2.2
(make a task survive a restart) and 2.3 (choose the prefetch that makes dispatch fair).

Each runs the learner's answer on the notebook's broker and reads the broker's own view: the
queue's `messages_unacknowledged` as the management API (or `rabbitmqctl list_queues`) shows it,
which worker got which task, the queue's `durable` flag and the message's `delivery_mode`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import BackendUnavailable, BrokerHandle
from rabbitsim.vocabulary import QueueInfo, Topology

from ._client import (
    RecordingChannel,
    cleanup,
    connect,
    connected,
    describe,
    drain,
    find_queue,
    wait_for_topology,
)
from ._consumers import BackgroundConsumer
from ._feedback import Feedback, exercise, plural, right, wrong

__all__ = ["QUEUE", "fair_dispatch", "fix_the_forgotten_ack", "survive_a_restart", "write_the_worker"]

QUEUE = "task_queue"  # exercise 2.2: the learner's code names it
# Exercises 2.1 and 2.3 name no queue, so they use queues of their own and leave the chapter's
# task_queue alone.
QUEUE_2_1 = "exercise-2.1-tasks"
QUEUE_2_3 = "exercise-2.3-tasks"
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


def _publish_tasks(broker: BrokerHandle, queue: str, tasks: list[bytes]) -> None:
    with connect(broker, "new_task.py") as connection:
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        for task in tasks:
            channel.basic_publish(exchange="", routing_key=queue, body=task, properties=PERSISTENT)


# --- exercise 2.1 -----------------------------------------------------------------------------------

TASKS_2_1 = [b"task 1", b"task 2", b"task 3"]
REDELIVERY_LIMIT = 12  # a callback that requeues would otherwise get its tasks back for ever
CONSUME_SECONDS = 5.0


@dataclass
class _Worked:
    delivered: list[tuple[int, bytes, bool]] = field(default_factory=list)  # tag, body, redelivered
    acked: set[int] = field(default_factory=set)
    requeued: set[int] = field(default_factory=set)
    discarded: set[int] = field(default_factory=set)
    error: BaseException | None = None
    channel_closed: BaseException | None = None
    #: a channel of the notebook's that the callback used by name, which RabbitMQ closed meanwhile
    other_closed: tuple[str, BaseException | None] | None = None


def _outside_channels(callback: Callable[..., object]) -> dict[str, BlockingChannel]:
    """The open pika channels the callback reaches by name (the notebook's `channel`, a global or
    a closure) rather than through its `ch` argument."""
    code = getattr(callback, "__code__", None)
    if code is None:
        return {}
    reached = {name: getattr(callback, "__globals__", {}).get(name) for name in code.co_names}
    for name, cell in zip(code.co_freevars, getattr(callback, "__closure__", None) or (), strict=False):
        with contextlib.suppress(ValueError):  # a closure variable not assigned yet
            reached[name] = cell.cell_contents
    return {
        name: value for name, value in reached.items() if isinstance(value, BlockingChannel) and value.is_open
    }


def _closed_meanwhile(channels: dict[str, BlockingChannel]) -> tuple[str, BaseException | None] | None:
    """The first of `channels` that RabbitMQ closed (say, for an ack of a tag it never delivered
    there), with the broker's reason: read now, so the learner hears it from the check rather than
    as a pika traceback in a later cell."""
    for name, channel in channels.items():
        with contextlib.suppress(Exception):  # its connection may be gone too: then it is closed
            channel.connection.process_data_events(time_limit=0)
        if channel.is_closed:
            return name, getattr(channel, "_closing_reason", None)  # pika keeps the broker's Channel.Close
    return None


def _settle(worked: _Worked, call_name: str, arguments: dict[str, Any]) -> None:
    """Note which delivery tags a basic_ack / basic_nack / basic_reject call settles."""
    tag = int(arguments.get("delivery_tag", 0) or 0)
    outstanding = {t for t, _, _ in worked.delivered} - worked.acked - worked.requeued - worked.discarded
    tags = {t for t in outstanding if t <= tag or tag == 0} if arguments.get("multiple") else {tag}
    if call_name == "basic_ack":
        worked.acked |= tags
    elif arguments.get("requeue", True):
        worked.requeued |= tags
    else:
        worked.discarded |= tags


def _run_worker(broker: BrokerHandle, callback: Callable[..., object]) -> tuple[_Worked, Topology, int]:
    """Consume a task queue of its own with `callback` as worker.py does (manual acks), then read the
    broker's counts while the worker is still connected; returns them with how many tasks were
    ready again once the worker had gone."""
    worked = _Worked()
    outside = _outside_channels(callback)
    with connect(broker, "worker.py (exercise 2.1)") as connection:
        channel = connection.channel()

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            worked.delivered.append((method.delivery_tag, body, method.redelivered))
            recorder = RecordingChannel(ch)
            try:
                callback(recorder, method, properties, body)
            finally:
                for call in recorder.calls:
                    if call.method in ("basic_ack", "basic_nack", "basic_reject"):
                        _settle(worked, call.method, call.arguments)

        channel.basic_consume(queue=QUEUE_2_1, on_message_callback=on_message, auto_ack=False)
        deadline = time.monotonic() + CONSUME_SECONDS
        try:
            while time.monotonic() < deadline and len(worked.delivered) < REDELIVERY_LIMIT:
                connection.process_data_events(time_limit=0.05)
                done = {body for _, body, _ in worked.delivered}
                if done >= set(TASKS_2_1) and not worked.requeued:
                    break
            if channel.is_open:
                # a round trip: the broker has read every ack, and if one of them closed the
                # channel (406 unknown delivery tag), pika raises it here
                channel.basic_qos(prefetch_count=0)
        except pika.exceptions.ChannelClosedByBroker as error:
            worked.channel_closed = error
        except Exception as error:  # the learner's callback: report it, never raise it
            worked.error = error
        worked.other_closed = _closed_meanwhile(outside)
        settled = worked.requeued or worked.discarded or worked.error is not None
        if worked.channel_closed is None and channel.is_open and not settled:
            # what the broker must show once its statistics have caught up (real ones lag)
            unacked = len({t for t, _, _ in worked.delivered} - worked.acked)
            ready = len(TASKS_2_1) - len(worked.delivered)

            def caught_up(topology: Topology) -> bool:
                queue = find_queue(topology, QUEUE_2_1)
                return queue is not None and (queue.messages_ready, queue.messages_unacknowledged) == (
                    ready,
                    unacked,
                )

            topology = wait_for_topology(broker, caught_up, timeout=8)
        else:
            topology = broker.topology()
    with connect(broker, "exercise 2.1 (after)") as connection:
        ready_after = connection.channel().queue_declare(queue=QUEUE_2_1, passive=True).method.message_count
    return worked, topology, ready_after


def _tasks(bodies: list[bytes]) -> str:
    return ", ".join(body.decode(errors="replace") for body in bodies) or "none"


@exercise(
    "2.1",
    "Fix the worker that forgets to ack",
    solution="""def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()}")
    time.sleep(body.count(b"."))
    print(" [x] Done")
    ch.basic_ack(delivery_tag=method.delivery_tag)   # the work is done: RabbitMQ may forget it""",
    explanation=(
        "With manual acknowledgements (auto_ack=False, pika's default) RabbitMQ keeps every "
        "delivered message as 'unacked' until the worker says it is done. Ack once the work is "
        "finished, with the delivery tag of the message you were given."
    ),
    hints=(
        "The callback gets the channel as `ch` and the delivery as `method`: what does "
        "method.delivery_tag identify?",
        "The study notes: ch.basic_ack(delivery_tag = method.delivery_tag) tells RabbitMQ the task is done.",
    ),
)
def fix_the_forgotten_ack(broker: BrokerHandle, callback: Callable[..., object]) -> Feedback:
    """Run `callback(ch, method, properties, body)` as worker.py's callback on three tasks, then
    read that queue's ready and unacked counts from the broker and explain them."""
    cleanup(broker, queues=[QUEUE_2_1])
    try:
        _publish_tasks(broker, QUEUE_2_1, TASKS_2_1)
        worked, topology, ready_after = _run_worker(broker, callback)
    finally:
        cleanup(broker, queues=[QUEUE_2_1])
    queue = find_queue(topology, QUEUE_2_1)
    ready, unacked = (queue.messages_ready, queue.messages_unacknowledged) if queue else (0, 0)
    counts = f"{QUEUE_2_1}  messages_ready={ready}  messages_unacknowledged={unacked}"
    if worked.other_closed is not None:
        name, closing = worked.other_closed
        answered = f" with {describe(closing)}" if closing is not None else ""
        return wrong(
            f"Your callback used `{name}`, not `ch`, the channel that delivered the message",
            f"RabbitMQ closed `{name}`{answered}: a delivery tag means something only on the channel "
            "that delivered it, and the worker's own channel still holds every task unacked.",
            "Ack with ch.basic_ack(delivery_tag=method.delivery_tag). To use "
            f"`{name}` again in this notebook, open a new one: {name} = connection.channel().",
        )
    if worked.channel_closed is not None:
        text = describe(worked.channel_closed)
        reason = (
            "Delivery tags are numbers the broker gives each delivery on a channel (1, 2, 3 ...): "
            "ack exactly method.delivery_tag, once."
            if "delivery tag" in text
            else "The channel can no longer ack anything."
        )
        return wrong(
            "RabbitMQ closed your worker's channel",
            f"It answered {text}.",
            reason,
            f"Every unacked task went back to the queue: {ready_after} ready again, to be done twice.",
        )
    if worked.error is not None:
        return wrong(
            "Your callback raised an exception",
            describe(worked.error),
            "In worker.py this would end start_consuming(); its unacked tasks would go back to the queue.",
        )
    if len(worked.delivered) >= REDELIVERY_LIMIT or worked.requeued:
        return wrong(
            "Your worker sends its tasks back instead of finishing them",
            f"It received {len(worked.delivered)} deliveries of {len(TASKS_2_1)} tasks: basic_nack or "
            "basic_reject with requeue=True puts a task back in the queue, and RabbitMQ hands it out "
            "again at once (redelivered=True), for ever.",
            "A worker that did the work acknowledges it: ch.basic_ack(delivery_tag=method.delivery_tag).",
        )
    if worked.discarded:
        thrown = [body for tag, body, _ in worked.delivered if tag in worked.discarded]
        return wrong(
            "Your worker throws tasks away",
            f"basic_reject / basic_nack with requeue=False discarded {_tasks(thrown)}: RabbitMQ deleted "
            "them (or dead-letters them, if the queue has a dead-letter exchange). Nobody did the work.",
            "Acknowledge with ch.basic_ack(delivery_tag=method.delivery_tag) once the work is done.",
        )
    received = [body for _, body, _ in worked.delivered]
    if unacked or not worked.acked:
        never = [body for tag, body, _ in worked.delivered if tag not in worked.acked]
        return wrong(
            f"Your worker never acknowledged {len(never)} of its {plural(len(received), 'task')}: "
            f"messages_unacknowledged = {unacked}",
            f"It received {_tasks(received)} and did the work, but RabbitMQ is still holding "
            f"{_tasks(never)} for it. rabbitmqctl list_queues name messages_ready "
            f"messages_unacknowledged would show: {counts}.",
            "An unacked message stays in RabbitMQ's memory until the worker's channel closes or the "
            "consumer timeout (30 minutes by default; on RabbitMQ 4.3 quorum queues only) takes it "
            "back: a long-running worker with this bug keeps the number growing (the study notes call "
            "this 'memory leak' fatal), and every task it held is done again.",
            f"When the check closed the worker's connection, RabbitMQ put the unacked tasks back in "
            f"the queue ({ready_after} ready again), to be delivered again with redelivered=True: "
            "every task would be done twice.",
            "Add ch.basic_ack(delivery_tag=method.delivery_tag) as the callback's last line.",
        )
    if ready or ready_after:
        return wrong(
            f"Some tasks were never delivered: {counts}",
            f"Your worker received {_tasks(received)}.",
        )
    return right(
        f"Every task acknowledged: messages_unacknowledged = {unacked}",
        f"Your worker received {_tasks(received)} and acked each once it was done: {counts}.",
        "RabbitMQ deleted each task at its ack. Had the worker died before acking one, that one "
        "would have gone to another worker.",
    )


# --- exercise 2.2 -----------------------------------------------------------------------------------

TASK_2_2 = b"resize photo.jpg"


@dataclass
class _Restarted:
    """What the learner's send_task did, what the broker held before the restart, and what came back."""

    channel: RecordingChannel
    error: BaseException | None = None
    queue: QueueInfo | None = None  # task_queue before the restart (its flags)
    held: int = 0  # messages in task_queue before the restart
    restarted: str | None = None  # None: restarted; else why it could not be
    back: bool = False  # task_queue exists after the restart
    bodies: list[str] = field(default_factory=list)  # what it held after the restart

    def delivery_modes(self) -> list[int | None]:
        """The delivery_mode of each message send_task published."""
        modes: list[int | None] = []
        for _, call in self.channel.of("basic_publish"):
            properties = call.get("properties")
            modes.append(getattr(properties, "delivery_mode", None))
        return modes


def _held(broker: BrokerHandle) -> int | None:
    """How many messages task_queue holds (None: there is no task_queue), from a fresh connection."""
    with connected(broker, "exercise 2.2 (check)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _send_and_restart(broker: BrokerHandle, send_task: Callable[[Any, bytes], object]) -> _Restarted:
    cleanup(broker, queues=[QUEUE])
    try:
        with connected(broker, "new_task.py (exercise 2.2)") as connection:
            run = _Restarted(RecordingChannel(connection.channel()))
            try:
                send_task(run.channel, TASK_2_2)
            except Exception as error:  # the learner's code: report it, never raise it
                run.error = error
        held = _held(broker)
        if held is None or held == 0:
            return run  # nothing reached task_queue: no restart needed to say so
        run.held = held
        # the queue's flags: a real broker's management API lists a new queue within moments
        topology = wait_for_topology(broker, lambda t: find_queue(t, QUEUE) is not None, timeout=5)
        run.queue = find_queue(topology, QUEUE)
        try:
            broker.restart()
        except BackendUnavailable as error:
            run.restarted = str(error)
            return run
        with connected(broker, "exercise 2.2 (after the restart)") as connection:
            channel = connection.channel()
            try:
                channel.queue_declare(QUEUE, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                return run  # 404: the queue did not come back
            run.back = True
            run.bodies = drain(channel, QUEUE)
        return run
    finally:
        cleanup(broker, queues=[QUEUE])


CAVEAT = (
    "'Persistent' is not yet 'on disk' at the moment basic_publish returns: had RabbitMQ crashed "
    "just then, before writing the message, it would be gone: publisher confirms (chapter 7) tell "
    "the producer when RabbitMQ has taken responsibility for it."
)


def _reasons(run: _Restarted, modes: list[int | None]) -> list[str]:
    """Why the task did not come back, from the flags the restart depends on."""
    reasons: list[str] = []
    quorum = run.queue is not None and run.queue.type == "quorum"
    if run.queue is not None and not run.queue.durable:
        reasons.append(
            "task_queue was not durable: at the restart RabbitMQ forgot the queue, and with it every "
            "message inside, persistent or not. Declare it with durable=True (in every program "
            "that declares it: a second declare with another durable flag is refused with 406)."
        )
    transient = [mode for mode in modes if mode != pika.DeliveryMode.Persistent.value]
    if transient and not quorum:
        mode = transient[0]
        reasons.append(
            f"The message was transient (delivery_mode={mode}): it lived in memory only"
            + (", so the durable queue came back, but empty. " if run.queue and run.queue.durable else ". ")
            + "Publish it with properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent), "
            "which is 2."
        )
    return reasons


@exercise(
    "2.2",
    "Make a task survive a broker restart",
    solution="""def send_task(channel, message):
    channel.queue_declare(queue="task_queue", durable=True)           # the queue survives a restart
    channel.basic_publish(
        exchange="",
        routing_key="task_queue",
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),  # = 2
    )""",
    explanation=(
        "Two things, both needed: a durable queue (`durable=True`, declared so by every program "
        "that declares it) and persistent messages (`delivery_mode=2`). A durable queue with "
        "transient messages comes back empty; a persistent message in a transient queue is lost "
        "with its queue."
    ),
    hints=(
        "One flag belongs to queue_declare, the other to the message's properties.",
        "pika.BasicProperties(delivery_mode=...): the study notes say which number makes a message "
        "persistent.",
    ),
)
def survive_a_restart(broker: BrokerHandle, send_task: Callable[[Any, bytes], object]) -> Feedback:
    """Run `send_task(channel, message)` on a broker without task_queue, restart the broker
    (`broker.restart()`, as `rabbitmqctl stop` and a start), and look for the task."""
    run = _send_and_restart(broker, send_task)
    raised = [f"Your function raised {describe(run.error)}."] if run.error is not None else []
    modes = run.delivery_modes()
    if run.held == 0:
        where = [
            f"routing_key={call.get('routing_key')!r} on exchange {call.get('exchange')!r}"
            for _, call in run.channel.of("basic_publish")
        ]
        return wrong(
            "The task never reached task_queue",
            "Nothing to survive a restart (the check did not restart the broker): declare task_queue "
            "and publish to it through the default exchange (exchange='', routing_key='task_queue').",
            *(f"You published with {place}." for place in where),
            *raised,
        )
    if run.restarted is not None:
        return _judged_without_restart(run, modes, raised)
    reasons = _reasons(run, modes)
    if not run.back or TASK_2_2.decode() not in run.bodies:
        seen = (
            "The check restarted RabbitMQ: task_queue did not come back (404 NOT_FOUND)."
            if not run.back
            else "The check restarted RabbitMQ: task_queue came back, empty."
        )
        return wrong("The broker restarted and the task was gone", seen, *reasons, *raised)
    quorum = run.queue is not None and run.queue.type == "quorum"
    kept = (
        "task_queue is a durable quorum queue: it keeps every message on disk, whatever its delivery_mode"
        if quorum
        else f"task_queue is durable and the message persistent (delivery_mode={modes[0] if modes else None})"
    )
    return right(
        "The task survived a broker restart",
        f"The check restarted RabbitMQ and found {TASK_2_2.decode()!r} in task_queue again.",
        f"{kept}.",
        CAVEAT,
    )


def _judged_without_restart(run: _Restarted, modes: list[int | None], raised: list[str]) -> Feedback:
    """On a broker the check may not restart: judge by the two flags a restart depends on."""
    why = (
        "This broker could not be restarted, so the check read the flags a restart depends on "
        f"({run.restarted})"
    )
    reasons = _reasons(run, modes)
    if reasons:
        return wrong("After a restart, this task would be gone", *reasons, *raised, why)
    return right("This task would survive a broker restart", why, CAVEAT)


# --- exercise 2.3 -----------------------------------------------------------------------------------

TASKS_2_3 = [f"task {n}".encode() for n in range(1, 9)]
SLOW_SECONDS = 0.15  # per task, on the slow worker; the fast one takes no time at all
PREFETCH_MAX = 65535  # basic.qos prefetch_count is a 16-bit number


@dataclass(frozen=True, slots=True)
class _Dispatch:
    slow: list[bytes]
    fast: list[bytes]
    seconds: float
    error: str | None = None


def _dispatch(broker: BrokerHandle, prefetch: int | None) -> _Dispatch:
    cleanup(broker, queues=[QUEUE_2_3])
    try:
        with connect(broker, "new_task.py (exercise 2.3)") as connection:
            channel = connection.channel()
            channel.queue_declare(queue=QUEUE_2_3, durable=True)
            slow = BackgroundConsumer(
                broker, QUEUE_2_3, name="slow worker", prefetch=prefetch, work_seconds=lambda _: SLOW_SECONDS
            )
            fast = BackgroundConsumer(broker, QUEUE_2_3, name="fast worker", prefetch=prefetch)
            try:
                started = time.monotonic()
                for task in TASKS_2_3:
                    channel.basic_publish(
                        exchange="", routing_key=QUEUE_2_3, body=task, properties=PERSISTENT
                    )
                deadline = started + 10
                while (
                    len(slow.received) + len(fast.received) < len(TASKS_2_3) and time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                seconds = time.monotonic() - started
            finally:
                slow.stop()
                fast.stop()
            error = slow.error or fast.error
            return _Dispatch(slow.bodies, fast.bodies, seconds, describe(error) if error else None)
    finally:
        cleanup(broker, queues=[QUEUE_2_3])


def _prefetch_problem(prefetch: Any) -> str | None:
    if prefetch is None:
        return None
    if isinstance(prefetch, bool) or not isinstance(prefetch, int):
        return f"prefetch must be a whole number (or None for no basic_qos at all), not {prefetch!r}."
    if not 0 <= prefetch <= PREFETCH_MAX:
        return (
            f"prefetch_count is an unsigned 16-bit number, 0 to {PREFETCH_MAX}: {prefetch} cannot be "
            "sent (pika refuses it before RabbitMQ sees it)."
        )
    return None


@exercise(
    "2.3",
    "Fair dispatch: let the fast worker take more",
    solution="""PREFETCH = 1   # each worker: channel.basic_qos(prefetch_count=1)
course.EXERCISES["2.3"](broker, prefetch=PREFETCH)""",
    explanation=(
        "With `basic_qos(prefetch_count=1)` a worker holds at most one unacknowledged task: "
        "RabbitMQ sends it the next one only after its ack, so whoever is free takes the next "
        "task. Without a limit (or with 0, which means no limit) RabbitMQ deals the tasks out in "
        "turn the moment they arrive."
    ),
    hints=(
        "How many unacknowledged tasks should a worker be allowed to hold at once?",
        "prefetch_count=0 does not mean 'none': it means 'no limit'.",
    ),
)
def fair_dispatch(broker: BrokerHandle, prefetch: Any = None) -> Feedback:
    """Two workers consume a task queue of the check's own, each with
    `channel.basic_qos(prefetch_count=prefetch)` (None: no basic_qos): one takes 0.15 s a task,
    the other no time. Eight tasks arrive; the check counts who did what and explains."""
    problem = _prefetch_problem(prefetch)
    if problem is not None:
        return wrong("That prefetch cannot be set", problem)
    run = _dispatch(broker, prefetch)
    if run.error is not None:
        return wrong("A worker failed", run.error)
    split = (
        f"slow worker: {plural(len(run.slow), 'task')} ({_tasks(run.slow)}); fast worker: "
        f"{plural(len(run.fast), 'task')} ({_tasks(run.fast)}); all done after {run.seconds:.2f} s."
    )
    busy = f"The slow worker was busy for {len(run.slow) * SLOW_SECONDS:.2f} s"
    if len(run.slow) + len(run.fast) < len(TASKS_2_3):
        return wrong("Not every task was done in time", split)
    if len(run.fast) > len(run.slow):
        extra = (
            []
            if prefetch == 1
            else [
                f"prefetch {prefetch} works here; 1 is the tutorial's choice: a busy worker then "
                "never sits on a task another worker could start. A larger prefetch keeps a fast "
                "worker supplied over a slow network, at the cost of tasks waiting behind a slow one."
            ]
        )
        return right(
            f"The fast worker did {len(run.fast)} of the {len(TASKS_2_3)} tasks",
            split,
            f"With prefetch_count={prefetch}, RabbitMQ sends a worker its next task only when it "
            f"holds fewer than {prefetch} unacknowledged ones; the fast worker acks at once, so it "
            "keeps getting the next task while the slow one is still working.",
            *extra,
        )
    if prefetch in (None, 0):
        how = "no basic_qos at all" if prefetch is None else "prefetch_count=0, which means no limit"
        return wrong(
            "That is round-robin: both workers got the same share",
            split,
            f"With {how}, RabbitMQ hands task n to worker n mod 2 the moment it arrives. It does not "
            "look at how many unacknowledged tasks a worker holds; it 'blindly dispatches every n-th "
            f"message to the n-th consumer'. {busy}; the fast one finished at once and sat idle.",
            "Limit how many unacknowledged tasks each worker may hold.",
        )
    return wrong(
        f"prefetch {prefetch} does not limit anything here: still round-robin",
        split,
        f"Each worker may hold {prefetch} unacknowledged tasks, so the eight tasks are dealt out in "
        f"turn before the slow worker acks any: {busy}. A smaller limit makes a busy worker wait.",
    )


# --- exercise 2.4 -----------------------------------------------------------------------------------

TASKS_2_4 = [b"First task.", b"Second task..", b"Third task.", b"Fourth task.."]
COPIES = 2  # worker.py runs in two terminals
SUBSCRIBE_SECONDS = 3.0  # for both copies to be consuming, as the broker counts them
WORK_SECONDS = 10.0  # for every task to be acknowledged
EARLY_ACK_SECONDS = 0.03  # a callback still working this long after its ack acked before the work
IDLE_SECONDS = 1.0  # no delivery, no ack and no callback running for this long: nothing more will come


@dataclass
class _Delivery:
    tag: int
    body: bytes
    started: float
    ended: float | None = None


@dataclass
class _Copy:
    """One running copy of the learner's worker(channel): what it asked of its channel, when."""

    number: int
    qos: list[tuple[int, bool]] = field(default_factory=list)  # (prefetch_count, global_qos)
    qos_before_consume: bool = False
    consumes: list[dict[str, Any]] = field(default_factory=list)  # basic_consume's arguments
    deliveries: list[_Delivery] = field(default_factory=list)
    acks: list[tuple[float, int, bool]] = field(default_factory=list)  # (when, tag, multiple)
    settled_otherwise: list[str] = field(default_factory=list)  # nack / reject calls
    error: BaseException | None = None
    returned: bool = False  # worker(channel) returned (start_consuming, if called, has ended)
    ended: bool = False

    def acked(self, tag: int) -> float | None:
        """When the ack that covers `tag` was sent, if one was."""
        for when, acked, multiple in self.acks:
            if acked == tag or (multiple and (acked == 0 or tag <= acked)):
                return when
        return None

    @property
    def bodies(self) -> list[bytes]:
        return [delivery.body for delivery in self.deliveries]


class _WorkerChannel:
    """The channel handed to the learner's `worker(channel)`: the real pika channel, noting its
    basic_qos, basic_consume and acks (with their times), and handing the learner's callback
    this same channel as `ch`, so that `ch.basic_ack(...)` is noted too."""

    def __init__(self, channel: Any, copy: _Copy) -> None:
        self._channel, self._copy = channel, copy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False) -> None:
        self._channel.basic_qos(
            prefetch_size=prefetch_size, prefetch_count=prefetch_count, global_qos=global_qos
        )
        self._copy.qos.append((prefetch_count, global_qos))
        self._copy.qos_before_consume = self._copy.qos_before_consume or not self._copy.consumes

    def basic_consume(
        self, queue: str, on_message_callback: Callable[..., object], auto_ack: bool = False, **more: Any
    ) -> str:
        copy = self._copy

        def on_message(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            delivery = _Delivery(method.delivery_tag, body, time.monotonic())
            copy.deliveries.append(delivery)
            try:
                on_message_callback(self, method, properties, body)
            finally:
                delivery.ended = time.monotonic()

        tag = self._channel.basic_consume(queue, on_message, auto_ack=auto_ack, **more)
        copy.consumes.append({"queue": queue, "auto_ack": auto_ack, **more})
        return str(tag)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        self._copy.acks.append((time.monotonic(), delivery_tag, multiple))
        self._channel.basic_ack(delivery_tag=delivery_tag, multiple=multiple)

    def basic_nack(self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True) -> None:
        self._copy.settled_otherwise.append(f"basic_nack(requeue={requeue})")
        self._channel.basic_nack(delivery_tag=delivery_tag, multiple=multiple, requeue=requeue)

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        self._copy.settled_otherwise.append(f"basic_reject(requeue={requeue})")
        self._channel.basic_reject(delivery_tag=delivery_tag, requeue=requeue)


class _RunningCopy:
    """A copy of worker.py on a thread of its own, with its own connection (a pika connection
    belongs to the thread that uses it). It runs the learner's `worker(channel)`; if that calls
    start_consuming(), `stop()` ends the loop from here through add_callback_threadsafe, the one
    thread-safe door pika has; if it returns, the thread keeps delivering until `stop()`."""

    def __init__(self, broker: BrokerHandle, worker: Callable[[Any], object], number: int) -> None:
        self.copy = _Copy(number)
        self._stop = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._thread = threading.Thread(target=self._run, args=(broker, worker), daemon=True)
        self._thread.start()

    def _run(self, broker: BrokerHandle, worker: Callable[[Any], object]) -> None:
        try:
            self._connection = connect(broker, f"worker.py (exercise 2.4, copy {self.copy.number})")
            self._channel = self._connection.channel()
            worker(_WorkerChannel(self._channel, self.copy))
            self.copy.returned = True
            while self.copy.consumes and not self._stop.is_set() and self._channel.is_open:
                self._connection.process_data_events(time_limit=0.02)
        except Exception as error:  # the learner's code: report it, never raise it
            self.copy.error = error
        finally:
            self.copy.ended = True
            if self._connection is not None and self._connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    self._connection.close()

    def stop(self) -> None:
        self._stop.set()
        connection, channel = self._connection, self._channel
        if connection is not None and channel is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.add_callback_threadsafe(channel.stop_consuming)
        self._thread.join(5)


def _consumers(broker: BrokerHandle) -> int | None:
    """How many consumers the broker counts on task_queue (None: there is no task_queue)."""
    with connected(broker, "exercise 2.4 (check)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.consumer_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _until(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class _Shift:
    """What two copies of the learner's worker did with the tasks, and what the broker said."""

    copies: list[_Copy]
    consumers: int | None = None
    publish_error: BaseException | None = None
    ready_after: int | None = None  # task_queue's ready messages once both copies had stopped

    def who(self) -> str:
        return "; ".join(f"copy {copy.number}: {_tasks(copy.bodies)}" for copy in self.copies)


def _shift(broker: BrokerHandle, worker: Callable[[Any], object]) -> _Shift:
    cleanup(broker, queues=[QUEUE])
    running = [_RunningCopy(broker, worker, number) for number in range(1, COPIES + 1)]
    shift = _Shift([run.copy for run in running])
    try:
        subscribed = _until(
            lambda: all(c.consumes or c.returned or c.ended for c in shift.copies), SUBSCRIBE_SECONDS
        )
        if not subscribed or not all(c.consumes for c in shift.copies) or any(c.error for c in shift.copies):
            return shift
        if any(consume["auto_ack"] for c in shift.copies for consume in c.consumes):
            return shift  # judged as it is: no task needs to be lost to show it
        _until(lambda: _consumers(broker) == COPIES, SUBSCRIBE_SECONDS)  # the broker's own count
        shift.consumers = _consumers(broker)
        try:
            _publish_tasks(broker, QUEUE, TASKS_2_4)  # new_task.py: durable queue, persistent tasks
        except pika.exceptions.AMQPError as error:
            shift.publish_error = error
            return shift
        _until(lambda: _settled(shift), WORK_SECONDS)
    finally:
        for run in running:
            run.stop()
    shift.ready_after = _held_ready(broker)
    return shift


def _settled(shift: _Shift) -> bool:
    """Every task acknowledged, a copy gone, or nothing happening any more: no callback running
    and no delivery or ack for IDLE_SECONDS (a worker that never acks holds its one task)."""
    deliveries = [d for c in shift.copies for d in c.deliveries]
    if sum(1 for c in shift.copies for d in c.deliveries if c.acked(d.tag) is not None) >= len(TASKS_2_4):
        return True
    if any(c.error or c.ended for c in shift.copies):
        return True
    if not deliveries or any(d.ended is None for d in deliveries):
        return False
    last = max(
        [d.ended for d in deliveries if d.ended] + [when for c in shift.copies for when, _, _ in c.acks]
    )
    return time.monotonic() - last > IDLE_SECONDS


def _held_ready(broker: BrokerHandle) -> int | None:
    with connected(broker, "exercise 2.4 (after)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _error_advice(error: BaseException) -> str:
    text = describe(error)
    if "NOT_FOUND" in text and "no queue" in text:
        return (
            "basic_consume names a queue that does not exist yet: the worker may start before "
            "new_task.py ever ran, so it declares task_queue itself first, durable=True."
        )
    if "inequivalent arg" in text or "not equivalent" in text:
        return (
            "new_task.py declares task_queue with durable=True; every program that declares it "
            "must declare it the same way."
        )
    if "unknown delivery tag" in text:
        return (
            "Ack with the tag of the message you were given, once: "
            "ch.basic_ack(delivery_tag=method.delivery_tag)."
        )
    return "In worker.py this would end the program; its unacknowledged tasks would go to the other copy."


WORKER_SOLUTION = """def worker(channel):
    channel.queue_declare(queue="task_queue", durable=True)

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}")
        time.sleep(body.count(b".") * SECONDS_PER_DOT)
        print(" [x] Done")
        ch.basic_ack(delivery_tag=method.delivery_tag)     # only now: the work is done

    channel.basic_qos(prefetch_count=1)                    # fair dispatch, before consuming
    channel.basic_consume(queue="task_queue", on_message_callback=callback)
    channel.start_consuming()"""


@exercise(
    "2.4",
    "Write worker.py yourself",
    solution=WORKER_SOLUTION,
    explanation=(
        "Declare the queue as new_task.py does (it may not exist yet), set basic_qos(prefetch_count=1) "
        "before basic_consume, subscribe the callback with manual acknowledgements (auto_ack left at "
        "False), and ack at the end of the callback, after the work. start_consuming() then loops; "
        "the check ends it from another thread with connection.add_callback_threadsafe."
    ),
    hints=(
        "Four things: queue_declare, basic_qos, basic_consume(queue=..., on_message_callback=...), "
        "start_consuming(). And the callback's last line.",
        "The callback gets the channel as `ch` and the delivery as `method`: "
        "ch.basic_ack(delivery_tag=method.delivery_tag).",
    ),
)
def write_the_worker(broker: BrokerHandle, worker: Callable[[Any], object]) -> Feedback:
    """Run two copies of `worker(channel)` (the body of worker.py) at once, each on a connection
    and thread of its own, on a broker without task_queue; when the broker counts both as
    consumers of task_queue, publish four tasks as new_task.py does, wait until they are
    acknowledged, stop both copies, and judge what each did and what the broker kept."""
    shift = _shift(broker, worker)
    try:
        return _judge_shift(shift)
    finally:
        cleanup(broker, queues=[QUEUE])


def _judge_shift(shift: _Shift) -> Feedback:
    for copy in shift.copies:
        if copy.error is not None:
            return wrong(
                f"Copy {copy.number} of your worker stopped with an error",
                describe(copy.error),
                _error_advice(copy.error),
            )
    if not all(copy.consumes for copy in shift.copies):
        return wrong(
            "Your worker never subscribed to task_queue",
            "The function returned without calling channel.basic_consume: RabbitMQ counts no consumer "
            "on task_queue, so a task published now would wait there for ever.",
            "Subscribe the callback: channel.basic_consume(queue='task_queue', "
            "on_message_callback=callback), then channel.start_consuming().",
        )
    queues = {consume["queue"] for copy in shift.copies for consume in copy.consumes}
    if queues != {QUEUE}:
        return wrong(
            f"Your worker consumes {', '.join(sorted(map(repr, queues)))}, not 'task_queue'",
            "new_task.py publishes to task_queue.",
        )
    if any(consume["auto_ack"] for copy in shift.copies for consume in copy.consumes):
        return wrong(
            "Your worker consumes with auto_ack=True",
            "RabbitMQ then counts a task as done the moment it sends it: a worker killed during the "
            "work loses its task, and every task already sent to it (section 2).",
            "Leave auto_ack out (False is pika's default) and ack each task after its work.",
        )
    if shift.publish_error is not None:
        return wrong(
            "new_task.py could not publish to task_queue",
            describe(shift.publish_error),
            _error_advice(shift.publish_error),
        )
    if shift.consumers != COPIES:
        return wrong(
            f"RabbitMQ counts {shift.consumers} consumers on task_queue, not {COPIES}",
            "Each copy of worker.py should subscribe once.",
        )
    delivered = [(copy, d) for copy in shift.copies for d in copy.deliveries]
    never = [d.body for copy, d in delivered if copy.acked(d.tag) is None]
    if never or any(copy.settled_otherwise for copy in shift.copies):
        nacks = sorted({call for copy in shift.copies for call in copy.settled_otherwise})
        return wrong(
            f"{plural(len(never), 'task')} never acknowledged: {_tasks(never)}"
            if never
            else "Your worker sends tasks back or throws them away",
            f"Who got what: {shift.who()}.",
            *(
                [f"It called {', '.join(nacks)}: that returns or discards a task instead of finishing it."]
                if nacks
                else []
            ),
            f"When the check stopped both copies, RabbitMQ put their unacknowledged tasks back: "
            f"task_queue then held {shift.ready_after} ready tasks, to be delivered again.",
            "End the callback with ch.basic_ack(delivery_tag=method.delivery_tag).",
        )
    if len(delivered) < len(TASKS_2_4):
        return wrong(
            f"Only {len(delivered)} of the {len(TASKS_2_4)} tasks reached your worker "
            f"in {WORK_SECONDS:.0f} s",
            f"Who got what: {shift.who()}. Is the work much slower than SECONDS_PER_DOT per dot?",
        )
    early = [
        d.body
        for copy, d in delivered
        if (acked := copy.acked(d.tag)) is not None
        and d.ended is not None
        and d.started <= acked <= d.ended
        and d.ended - acked > max(EARLY_ACK_SECONDS, (d.ended - d.started) / 2)
    ]
    if early:
        return wrong(
            f"Your worker acknowledges before it works: {_tasks(early)}",
            "The ack came first and the work after it. Killed during the work, the worker would lose "
            "the task: RabbitMQ had already deleted it. Ack as the callback's last line.",
        )
    prefetch = [copy.qos[-1][0] if copy.qos and copy.qos_before_consume else None for copy in shift.copies]
    if any(count in (None, 0) for count in prefetch):
        return wrong(
            "Every task done and acknowledged, but dispatch is not fair yet",
            f"Who got what: {shift.who()}.",
            "Without channel.basic_qos(prefetch_count=1) before basic_consume, RabbitMQ deals the "
            "tasks out in turn as they arrive, however busy a worker is (section 5). basic_qos called "
            "after basic_consume does not limit that consumer.",
        )
    note = (
        []
        if set(prefetch) == {1}
        else [
            f"prefetch_count={prefetch[0]} works; the tutorial's 1 keeps a busy worker from "
            "sitting on a task another could start."
        ]
    )
    return right(
        "Both copies of your worker share the tasks, and lose none",
        f"Who got what: {shift.who()}.",
        f"RabbitMQ counted {COPIES} consumers on task_queue; every task was acknowledged after its "
        f"work, and once both copies had stopped the queue held {shift.ready_after} ready messages.",
        "Manual acks with prefetch_count=1: a copy killed during a task would hand it to the other.",
        *note,
    )
