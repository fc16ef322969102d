"""Chapter 11's coding tasks: the three programs interviewers most often ask a candidate to write
or to fix, each checked on the notebook's broker with the learner's own code.

- 11.1 a worker that loses no task when it is killed mid-task;
- 11.2 an RPC client that survives duplicate and stale replies;
- 11.3 an idempotent consumer: each message id processed once, however often it is delivered.

A crash here is a real one as far as the broker can tell: the worker's TCP connection ends with
no `connection.close` (the socket is shut down, as the kernel does for a process killed with
SIGKILL), so the broker requeues whatever the worker had not acknowledged. The learner's code
runs in the check's own thread (a function defined in a notebook cannot be sent to another
process); the check stops it mid-task by raising an exception it cannot catch by accident.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions

from rabbitsim.backends import BrokerHandle

from .._client import Call, RecordingChannel, cleanup, connect, connected, describe, wait_until_gone
from .._consumers import BackgroundConsumer, Received
from .._feedback import Exercise, Feedback, exercise, plural, right, wrong

__all__ = [
    "NUMBERS_11_2",
    "ORDERS_11_3",
    "PREFIX",
    "TASKS",
    "TASKS_11_1",
    "idempotent_consumer",
    "rpc_client",
    "worker_survives_a_kill",
]

PREFIX = "interview.task."  # every queue a task declares on a broker starts so, and is deleted after
STALL_SECONDS = 0.4  # a worker that gets nothing for this long is idle (or stuck): the check stops waiting
GONE_SECONDS = 5.0  # how long the broker may take to notice a dead worker
REDELIVERY_LIMIT = 30  # a callback that requeues its tasks would otherwise get them back for ever


def _queue(task: str) -> str:
    """A queue of the task's own: a name no learner's code uses, unique to this run."""
    return f"{PREFIX}{task}-{uuid.uuid4().hex[:8]}"


def _text(body: Any) -> str:
    return body.decode(errors="replace") if isinstance(body, bytes | bytearray) else str(body)


def _joined(texts: Iterable[str]) -> str:
    return ", ".join(texts) or "none"


#: the pika loggers that report a lost connection at ERROR level, with a traceback
_PIKA_LOGGERS = (
    "pika.adapters.utils.io_services_utils",
    "pika.adapters.base_connection",
    "pika.adapters.blocking_connection",
)


@contextlib.contextmanager
def _quiet_pika() -> Iterator[None]:
    """While the check kills a worker on purpose, pika's tracebacks about the connection it lost
    are noise on the learner's screen: hush those loggers, and only for that moment."""
    loggers = [logging.getLogger(name) for name in _PIKA_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _delete(broker: BrokerHandle, queue: str) -> None:
    """Delete a task's queue, once more on a fresh connection if the first try fails (a busy
    broker may refuse a connection now and then): a queue left behind would hold its messages."""
    for _ in range(2):
        try:
            cleanup(broker, queues=[queue])
            return
        except (pika.exceptions.AMQPError, OSError):
            time.sleep(0.2)


class _Killed(BaseException):
    """Raised in the learner's callback to stop it where it stands, as a kill would: a
    BaseException, so that an `except Exception` in the callback does not catch it."""


# --- a learner's worker, on a connection the check can cut ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Delivery:
    tag: int
    text: str
    redelivered: bool
    message_id: str | None


class _WorkerChannel(RecordingChannel):
    """The channel a learner's worker gets: the real one, watched. It notes basic_qos and
    basic_consume as well as the acks, wraps the consumer callback so the check sees each
    delivery (and can cut the worker off), and runs the check's loop for `start_consuming()`."""

    def __init__(self, channel: Any, worker: _Worker) -> None:
        super().__init__(channel)
        self._worker = worker

    def _bound(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = inspect.signature(getattr(self._channel, name)).bind(*args, **kwargs)
        except TypeError:  # pika says what is wrong with the call, in its own words
            return {}
        bound.apply_defaults()
        return dict(bound.arguments)

    def basic_qos(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(Call("basic_qos", self._bound("basic_qos", args, kwargs)))
        return self._channel.basic_qos(*args, **kwargs)

    def basic_consume(self, *args: Any, **kwargs: Any) -> Any:
        arguments = self._bound("basic_consume", args, kwargs)
        self.calls.append(Call("basic_consume", arguments))
        callback = arguments.get("on_message_callback")
        if not arguments or not callable(callback):
            return self._channel.basic_consume(*args, **kwargs)
        arguments["on_message_callback"] = self._worker.wrap(self, callback)
        return self._channel.basic_consume(**arguments)

    def _settle(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        arguments = self._bound(name, args, kwargs)
        self._worker.settling(name, arguments)  # may cut the worker off instead
        self.calls.append(Call(name, arguments))
        return getattr(self._channel, name)(*args, **kwargs)

    def basic_ack(self, *args: Any, **kwargs: Any) -> Any:
        return self._settle("basic_ack", args, kwargs)

    def basic_nack(self, *args: Any, **kwargs: Any) -> Any:
        return self._settle("basic_nack", args, kwargs)

    def basic_reject(self, *args: Any, **kwargs: Any) -> Any:
        return self._settle("basic_reject", args, kwargs)

    def start_consuming(self) -> None:
        self._worker.loop()

    # what the learner's code asked for, as the verdict needs it

    def auto_ack(self) -> bool:
        return any(call.get("auto_ack") for _, call in self.of("basic_consume"))

    def prefetch(self) -> int | None:
        """The last prefetch_count set (None: no basic_qos, which means no limit, as 0 does)."""
        counts = [call.get("prefetch_count") for _, call in self.of("basic_qos")]
        return counts[-1] if counts else None


class _Worker:
    """The learner's worker on a connection of its own. `crash()` ends that connection as a
    killed process would (no goodbye to the broker); every delivery and settlement is noted, in
    order, in `events`, so the verdict can say what happened to each message."""

    def __init__(self, broker: BrokerHandle, name: str) -> None:
        self.name = name
        self.connection = connect(broker, name)
        self.channel = _WorkerChannel(self.connection.channel(), self)
        self.deliveries: list[_Delivery] = []
        self.current: _Delivery | None = None  # the delivery whose callback is running
        self.events: list[tuple[str, int]] = []  # ("deliver" | "ack" | "requeue" | "discard" | ..., tag)
        self.killed = False
        self.error: str | None = None
        self.closed_by_broker: str | None = None
        self.last_activity = time.monotonic()
        #: called with the delivery about to be settled: True cuts the worker off before it acks
        self.crash_at_ack: Callable[[_Delivery], bool] = lambda _: False
        #: called after each callback returned: True cuts the worker off there
        self.crash_after: Callable[[_Delivery], bool] = lambda _: False
        #: True once the worker has done what the check waits for (else it runs until idle)
        self.until: Callable[[], bool] = lambda: False

    # the check's hooks into the learner's code

    def wrap(self, channel: _WorkerChannel, callback: Callable[..., Any]) -> Callable[..., None]:
        def on_message(_ch: Any, method: Any, properties: Any, body: bytes) -> None:
            delivery = _Delivery(
                method.delivery_tag, _text(body), bool(method.redelivered), properties.message_id
            )
            if self.killed:
                return  # the process is dead: what still reaches its socket goes nowhere
            self.deliveries.append(delivery)
            self.events.append(("deliver", delivery.tag))
            self.last_activity = time.monotonic()
            self.current = delivery
            try:
                callback(channel, method, properties, body)
            finally:
                self.current = None
            if self.crash_after(delivery) or len(self.deliveries) >= REDELIVERY_LIMIT:
                self.crash()

        return on_message

    def settling(self, name: str, arguments: dict[str, Any]) -> None:
        tag = int(arguments.get("delivery_tag", 0) or 0)
        delivery = next((d for d in self.deliveries if d.tag == tag), self.current)
        if delivery is not None and self.crash_at_ack(delivery):
            self.crash()
        outstanding = [d.tag for d in self.deliveries if d.tag <= tag or tag == 0]
        tags = outstanding if arguments.get("multiple") else [tag]
        requeue = arguments.get("requeue", True)
        kind = "ack" if name == "basic_ack" else "requeue" if requeue else "discard"
        self.events.extend((kind, settled) for settled in tags)

    def crash(self) -> None:
        """Die here: shut the socket (what the kernel does for a killed process: the broker reads
        the end of the stream, no connection.close) and unwind the learner's code."""
        if not self.killed:
            self.killed = True
            transport = getattr(self.connection._impl, "_transport", None)
            sock = getattr(transport, "_sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
        raise _Killed

    # running it

    def start(self, start: Callable[..., object], *args: Any) -> bool:
        """Run the learner's set-up function (qos, consume); False if it failed or died."""
        try:
            start(self.channel, *args)
        except _Killed:
            return False
        except pika.exceptions.ChannelClosedByBroker as error:
            self.closed_by_broker = describe(error)
            return False
        except Exception as error:  # the learner's code: report it, never raise it
            self.error = f"{start.__name__} raised {describe(error)}"
            return False
        return True

    def loop(self, *, timeout: float = 5.0) -> None:
        """Deliver to the learner's callback until `self.until()`, the worker dies, it has been idle
        for STALL_SECONDS or `timeout` passes. A learner's error ends the worker as it would end
        worker.py: the check then cuts its connection like a crash."""
        deadline = time.monotonic() + timeout
        self.last_activity = time.monotonic()
        try:
            while not self.killed and not self.until() and time.monotonic() < deadline:
                if time.monotonic() - self.last_activity > STALL_SECONDS:
                    return
                self.connection.process_data_events(time_limit=0.02)
        except _Killed:
            pass
        except pika.exceptions.ChannelClosedByBroker as error:
            self.closed_by_broker = describe(error)
        except Exception as error:  # the learner's callback
            self.error = f"the callback raised {describe(error)}"
            with contextlib.suppress(_Killed):
                self.crash()

    def end(self, *, crash: bool) -> None:
        """Go: `crash` as a killed process (after reading what the broker still sends, so the
        socket closes cleanly), otherwise with a polite connection.close."""
        if crash and not self.killed:
            with contextlib.suppress(_Killed):
                self.crash()
        if self.killed:
            deadline = time.monotonic() + GONE_SECONDS
            with _quiet_pika(), contextlib.suppress(pika.exceptions.AMQPError, OSError):
                while self.connection.is_open and time.monotonic() < deadline:
                    self.connection.process_data_events(time_limit=0.02)
        if self.connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                self.connection.close()

    def settled(self, kind: str) -> set[int]:
        return {tag for event, tag in self.events if event == kind}


def _wait_until_consumers_gone(broker: BrokerHandle, queue: str) -> tuple[int, int]:
    """(ready, consumers) of `queue` once the broker has no consumer on it: a dead worker's
    unacked messages are back in the queue by then (the queue requeues them as it drops the
    consumer)."""
    deadline = time.monotonic() + GONE_SECONDS
    with connected(broker, "exercise check") as connection:
        channel = connection.channel()
        while True:
            method = channel.queue_declare(queue, passive=True).method
            if method.consumer_count == 0 or time.monotonic() > deadline:
                return method.message_count, method.consumer_count
            time.sleep(0.02)


def _declare_and_publish(
    broker: BrokerHandle, queue: str, messages: Iterable[tuple[str, str | None]]
) -> None:
    """A durable queue (RabbitMQ 4.3 refuses transient shared ones), and the messages (body,
    message_id) in it, confirmed: all are in the queue before any worker starts."""
    with connected(broker, "producer") as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True)
        channel.confirm_delivery()
        for body, message_id in messages:
            properties = pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id
            )
            channel.basic_publish("", queue, body.encode(), properties)


def _ready(broker: BrokerHandle, queue: str) -> int:
    with connected(broker, "exercise check") as connection:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)


# --- 11.1: a worker that loses no task when it is killed -------------------------------------------

TASKS_11_1 = tuple(f"task {n}" for n in range(1, 7))
KILL_AT = 3  # the worker is killed in the middle of its third task
WORK_SECONDS = 0.01


@dataclass
class _Killing:
    """What happened to the six tasks: worker 1 (the learner's, killed) and worker 2 (the check's)."""

    worker: _Worker
    started: list[str] = field(default_factory=list)  # work(body) calls, in order
    finished: list[str] = field(default_factory=list)  # work(body) calls that returned
    dying: str | None = None  # the task worker 1 was working on when it was killed
    idle: bool = False  # killed while idle (it got nothing more to do)
    second: list[Received] = field(default_factory=list)  # what worker 2 got
    left: int = 0  # still in the queue at the end


def _kill_a_worker(broker: BrokerHandle, start_worker: Callable[..., object]) -> _Killing:
    queue = _queue("11.1")
    try:
        _declare_and_publish(broker, queue, ((task, None) for task in TASKS_11_1))
        run = _Killing(_Worker(broker, "worker 1 (exercise 11.1)"))

        def work(body: bytes) -> None:
            text = _text(body)
            run.started.append(text)
            if len(run.started) >= KILL_AT:
                run.dying = text
                run.worker.crash()
            time.sleep(WORK_SECONDS)
            run.finished.append(text)

        try:
            if run.worker.start(start_worker, queue, work):
                run.worker.loop()
            run.idle = not (run.worker.killed or run.worker.error or run.worker.closed_by_broker)
        finally:
            run.worker.end(crash=True)
        ready, _ = _wait_until_consumers_gone(broker, queue)
        if ready:
            with BackgroundConsumer(broker, queue, name="worker 2 (exercise 11.1)", prefetch=1) as second:
                second.wait_for(ready, timeout=GONE_SECONDS)
            run.second = list(second.received)
        run.left = _ready(broker, queue)
        return run
    finally:
        _delete(broker, queue)


def _lost_reasons(run: _Killing, lost: list[str]) -> list[str]:
    """Why each lost task was lost, read from what the worker did with it."""
    worker = run.worker
    channel = worker.channel
    reasons: list[str] = []
    by_text = {delivery.text: delivery for delivery in worker.deliveries}
    delivered = [task for task in lost if task in by_text]
    discarded = [task for task in delivered if by_text[task].tag in worker.settled("discard")]
    if discarded:
        reasons.append(
            f"{_joined(discarded)}: thrown away with basic_reject / basic_nack(requeue=False); RabbitMQ "
            "deleted them (or dead-letters them, if the queue has a dead-letter exchange)."
        )
    if channel.auto_ack():
        # an auto_ack task leaves the queue only by being sent: every lost one was sent to the worker
        dying = [task for task in lost if task == run.dying]
        waiting = [task for task in lost if task != run.dying and task not in discarded]
        reasons.append(
            "Your worker consumes with auto_ack=True: RabbitMQ counts a task done, and deletes it, "
            "the moment it sends it."
        )
        if dying:
            reasons.append(f"{dying[0]}: the worker was in the middle of it when it was killed.")
        if waiting:
            reasons.append(
                f"{_joined(waiting)}: already sent to the worker, waiting in its connection, never "
                "started. basic_qos does not limit an auto_ack consumer: RabbitMQ pushes it as "
                "much as it can take."
            )
        return reasons
    acked_first = [
        task
        for task in delivered
        if by_text[task].tag in worker.settled("ack") and task in run.started and task not in run.finished
    ]
    if acked_first:
        reasons.append(
            f"{_joined(acked_first)}: your callback acknowledged it before doing the work, so RabbitMQ "
            "had deleted it when the worker died in the middle of it. Ack after the work."
        )
    others = [task for task in lost if task not in discarded and task not in acked_first]
    if others:
        reasons.append(f"{_joined(others)}: never came back to the queue after the kill.")
    return reasons


def _who_did_what(run: _Killing) -> list[str]:
    lines = [f"Worker 1 (yours) finished {_joined(run.finished)}"]
    if run.dying is not None:
        lines[0] += f" and was killed in the middle of {run.dying}."
    elif run.idle:
        lines[0] += f"; then it got nothing for {STALL_SECONDS} s, and the check killed it while idle."
    else:
        lines[0] += "."
    if run.second:
        done = [f"{item.text} (redelivered)" if item.redelivered else item.text for item in run.second]
        lines.append(f"Worker 2 (the check's) then did {_joined(done)}.")
    else:
        lines.append("Worker 2 (the check's) found nothing left to do.")
    return lines


@exercise(
    "11.1",
    "A worker that loses no task when it is killed mid-task",
    solution="""def start_worker(channel, queue, work):
    channel.basic_qos(prefetch_count=1)            # hold one unacked task at a time

    def callback(ch, method, properties, body):
        work(body)                                  # do the task first ...
        ch.basic_ack(delivery_tag=method.delivery_tag)   # ... then tell RabbitMQ it is done

    channel.basic_consume(queue=queue, on_message_callback=callback, auto_ack=False)


course.EXERCISES["11.1"](broker, start_worker)""",
    explanation=(
        "Manual acknowledgements, sent after the work: until the ack, RabbitMQ keeps the task as "
        "'unacknowledged', and if the worker's connection ends without it (a kill, a crash, a lost "
        "network) RabbitMQ puts the task back in the queue for another worker, with "
        "redelivered=True. prefetch_count=1 keeps the tasks the worker has not started in the "
        "queue, where another worker can take them at once. The price is 'at least once': a task "
        "finished just before a kill, whose ack was lost, is done again."
    ),
    hints=(
        "With auto_ack=True, when does RabbitMQ delete a task? And what if the worker dies after that?",
        "Three lines: basic_qos(prefetch_count=1), work(body), then "
        "ch.basic_ack(delivery_tag=method.delivery_tag), in that order.",
    ),
)
def worker_survives_a_kill(broker: BrokerHandle, start_worker: Callable[..., object]) -> Feedback:
    """Six tasks wait in a queue. `start_worker(channel, queue, work)` sets up worker 1 (qos,
    basic_consume with your callback, which calls `work(body)` for each task); the check kills it
    in the middle of its third task (its connection cut, no goodbye), then lets a second worker
    take whatever RabbitMQ still has. Every task must be done by one worker or the other."""
    run = _kill_a_worker(broker, start_worker)
    worker = run.worker
    second = {item.text for item in run.second}
    lost = [task for task in TASKS_11_1 if task not in run.finished and task not in second]
    twice = [task for task in TASKS_11_1 if task in run.finished and task in second]
    story = _who_did_what(run)
    problems = [text for text in (worker.error,) if text]
    if worker.closed_by_broker is not None:
        problems.append(
            f"RabbitMQ closed your worker's channel: {worker.closed_by_broker}. Ack each delivery "
            "once, with its own method.delivery_tag, on the channel that received it."
        )
    if not worker.channel.of("basic_consume") and not problems:
        return wrong(
            "Your worker never consumed",
            "start_worker must call channel.basic_consume(queue=queue, on_message_callback=callback).",
        )
    if lost:
        return wrong(
            f"{plural(len(lost), 'task')} lost when the worker was killed: {_joined(lost)}",
            *story,
            *_lost_reasons(run, lost),
            *problems,
        )
    if problems:
        return wrong("No task was lost, but your worker failed", *story, *problems)
    if len(worker.deliveries) >= REDELIVERY_LIMIT or worker.settled("requeue"):
        return wrong(
            "Your worker sends its tasks back instead of finishing them",
            f"It received {len(worker.deliveries)} deliveries of {len(TASKS_11_1)} tasks: basic_nack "
            "or basic_reject with requeue=True puts a task back, and RabbitMQ hands it out again.",
            *story,
        )
    if not run.started:
        return wrong(
            "Your callback never called work(body): no task was done",
            *story,
            "Call work(body) in the callback: that is the task.",
        )
    if twice and not worker.settled("ack"):
        return wrong(
            f"Nothing lost, but {_joined(twice)} done twice: your worker never acknowledges",
            *story,
            "RabbitMQ held every task it gave worker 1 as unacknowledged; at the kill they all went "
            "back to the queue, finished or not. "
            + (
                "With prefetch_count=1 and no ack, worker 1 was never sent a second task at all."
                if worker.channel.prefetch() == 1
                else ""
            ),
            "Ack each task once its work is done: ch.basic_ack(delivery_tag=method.delivery_tag).",
        )
    if run.left:
        return wrong(f"{plural(run.left, 'task')} still in the queue at the end", *story)
    notes: list[str] = []
    if twice:
        notes.append(
            f"{_joined(twice)} {'was' if len(twice) == 1 else 'were'} done twice: finished by worker 1 "
            "but not yet acknowledged at the kill. That is 'at least once': make the work safe to repeat "
            "(task 11.3)."
        )
    held = [item.text for item in run.second if item.redelivered and item.text != run.dying]
    if held:
        notes.append(
            f"Worker 1 was holding {_joined(held)} without having started them (prefetch "
            f"{worker.channel.prefetch() or 'unlimited'}): they waited for its death. "
            "basic_qos(prefetch_count=1) leaves them in the queue, for any free worker."
        )
    return right(
        f"No task lost: every one of the {len(TASKS_11_1)} tasks was done",
        *story,
        "Your worker acked each task after its work, so the one it died on was still RabbitMQ's: it "
        "went back to the queue (redelivered=True) and to the next worker.",
        *notes,
    )


# --- 11.2: an RPC client that survives duplicate and stale replies ---------------------------------

NUMBERS_11_2 = (3, 4, 5, 6, 7)  # the client asks for fib(n) of each, in turn
CALL_SECONDS = 1.0  # a call that has not returned by then is stopped (a broker answers in milliseconds)
STALE_FIRST = {3: 1, 5: 3}  # call -> the earlier call whose stale reply comes first, before its own
STALE_SECONDS = 0.15  # between the stale reply and the real one


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class _GaveUp(BaseException):
    """Raised out of a call that waits too long; a BaseException so the call does not catch it."""


class _Connection:
    """The connection the learner's client gets: the real one, except that waiting on it ends
    (with _GaveUp) once the call has taken too long, so a client that never sees its answer
    gives a verdict instead of hanging the notebook."""

    def __init__(self, connection: pika.BlockingConnection) -> None:
        self._connection = connection
        self.deadline = float("inf")

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _GaveUp

    def process_data_events(self, time_limit: float | None = 0) -> None:
        self._check()
        left = max(self.deadline - time.monotonic(), 0.0)
        self._connection.process_data_events(
            time_limit=min(time_limit if time_limit is not None else left, left)
        )
        self._check()

    def sleep(self, duration: float) -> None:
        self._check()
        self._connection.sleep(min(duration, max(self.deadline - time.monotonic(), 0.0)))
        self._check()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@dataclass(frozen=True, slots=True)
class _Sent:
    """One reply the check's server sent: to which request, and what it was."""

    correlation_id: str | None
    body: str
    what: str


@dataclass
class _Server:
    """The check's RPC server: answers fib(n), and misbehaves on purpose, as servers and networks
    do: it answers some requests twice, and sends replies to calls long finished."""

    requests: list[Received] = field(default_factory=list)
    sent: list[_Sent] = field(default_factory=list)

    def on_request(self, channel: Any, request: Received) -> None:
        self.requests.append(request)
        index = len(self.requests)  # 1 for the first call
        properties = request.properties
        if not properties.reply_to:
            return  # nowhere to answer: the verdict says so
        answer = str(_fib(int(request.text))) if request.text.strip().isdigit() else "?"

        def send(correlation_id: str | None, body: str, what: str) -> None:
            channel.basic_publish(
                "", properties.reply_to, body.encode(), pika.BasicProperties(correlation_id=correlation_id)
            )
            self.sent.append(_Sent(correlation_id, body, what))

        def earlier(number: int) -> None:
            old = self.requests[number - 1]
            body = str(_fib(int(old.text))) if old.text.strip().isdigit() else "?"
            send(old.properties.correlation_id, body, f"a stale reply to call {number}")

        if index in STALE_FIRST:
            # a reply to an earlier call turns up while this one waits, well before its own: a
            # client that takes the first reply to come takes it, however it reads the socket
            earlier(STALE_FIRST[index])
            time.sleep(STALE_SECONDS)
        send(properties.correlation_id, answer, f"the reply to call {index}")
        if index in (2, 4):
            send(properties.correlation_id, answer, f"a duplicate reply to call {index}")
        if index == 4:
            earlier(2)


@dataclass
class _Calls:
    server: _Server
    returned: list[tuple[int, Any, str | None]] = field(default_factory=list)  # n, value, problem
    error: str | None = None  # the client could not even be made
    stopped: bool = False  # a call hung, and the check made no more


def _same(value: Any, answer: int) -> bool:
    """A result as a client may return it: the number, its text, or the reply's bytes."""
    if isinstance(value, bool):
        return False
    if isinstance(value, bytes | bytearray):
        value = _text(value)
    return str(value).strip() == str(answer)


def _make_and_call(
    client_class: Callable[..., Any], connection: _Connection, queue: str, calls: _Calls
) -> None:
    """Make the learner's client, then make each call in turn, noting what it returned."""
    made = f"{getattr(client_class, '__name__', 'the client')}(connection, queue)"
    connection.deadline = time.monotonic() + CALL_SECONDS  # a constructor that waits is stopped too
    try:
        client = client_class(connection, queue)
    except _GaveUp:
        calls.error = f"{made} did not return within {CALL_SECONDS:g} s"
        return
    except Exception as error:  # the learner's code
        calls.error = f"{made} raised {describe(error)}"
        return
    for n in NUMBERS_11_2:
        connection.deadline = time.monotonic() + CALL_SECONDS
        try:
            calls.returned.append((n, client.call(n), None))
        except _GaveUp:
            calls.returned.append((n, None, f"did not return within {CALL_SECONDS:g} s"))
            calls.stopped = True
            return  # a client stuck once stays stuck: the other calls would only wait too
        except pika.exceptions.ChannelClosedByBroker as error:
            calls.returned.append((n, None, f"RabbitMQ closed the channel: {describe(error)}"))
            return
        except Exception as error:
            calls.returned.append((n, None, f"raised {describe(error)}"))


def _call_everything(broker: BrokerHandle, client_class: Callable[..., Any]) -> _Calls:
    queue = _queue("11.2")
    calls = _Calls(_Server())

    def declare(channel: Any) -> str:
        return str(channel.queue_declare(queue, exclusive=True).method.queue)

    try:
        with BackgroundConsumer(
            broker, queue, name="rpc server (exercise 11.2)", handler=calls.server.on_request, setup=declare
        ):
            connection = connect(broker, "rpc client (exercise 11.2)")
            try:
                _make_and_call(client_class, _Connection(connection), queue, calls)
            finally:
                if connection.is_open:
                    with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                        connection.close()
    finally:
        wait_until_gone(broker, queue)  # exclusive: it goes with the server's connection, just after
    return calls


def _which(value: Any, numbers: Iterable[int]) -> list[int]:
    """The calls (1-based) whose answer `value` is."""
    return [index for index, n in enumerate(numbers, start=1) if _same(value, _fib(n))]


def _request_problems(server: _Server) -> list[str]:
    problems: list[str] = []
    ids = [request.properties.correlation_id for request in server.requests]
    if any(not request.properties.reply_to for request in server.requests):
        problems.append("Some requests had no reply_to: the server cannot know where to answer.")
    if any(not correlation_id for correlation_id in ids):
        problems.append("Some requests had no correlation_id: the client cannot tell their replies apart.")
    repeated = sorted({i for i in ids if i and ids.count(i) > 1})
    if repeated:
        problems.append(
            f"Several calls used the same correlation_id ({', '.join(map(repr, repeated[:2]))}): a duplicate "
            "reply to one looks like the answer to the next. Make a new one per call: str(uuid.uuid4())."
        )
    return problems


@exercise(
    "11.2",
    "An RPC client that survives duplicate and stale replies",
    solution="""class RpcClient:
    def __init__(self, connection, queue):
        self.connection = connection
        self.queue = queue
        self.channel = connection.channel()
        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue
        self.channel.basic_consume(
            queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True
        )
        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if props.correlation_id == self.corr_id:   # the reply to the call in progress
            self.response = body
        # anything else is a duplicate or a stale reply: ignore it, never raise

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())           # new for every call
        self.channel.basic_publish(
            exchange="",
            routing_key=self.queue,
            properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=self.corr_id),
            body=str(n),
        )
        while self.response is None:
            self.connection.process_data_events(time_limit=0.1)
        return int(self.response)


course.EXERCISES["11.2"](broker, RpcClient)""",
    explanation=(
        "A reply is just a message in the client's callback queue, and that queue can hold replies "
        "that belong to no current call: a second answer to a request whose server died after "
        "replying and before acking (the request was redelivered and answered again), or a late "
        "answer to a call already over. Give every call a new correlation_id, take only the reply "
        "that carries it, and drop everything else quietly: an exception raised in on_response comes "
        "out of process_data_events and breaks the call that was waiting."
    ),
    hints=(
        "When a reply arrives, how does on_response know which call it answers?",
        "Compare props.correlation_id with the id of the call in progress; ignore any other reply "
        "(no exception), and reset self.response before each call.",
    ),
)
def rpc_client(broker: BrokerHandle, client_class: Callable[..., Any]) -> Feedback:
    """`client_class(connection, queue)` makes your client, whose `call(n)` sends n to `queue`
    and returns fib(n). The check's server answers five calls in turn, but replies twice to
    calls 2 and 4, and sends stale replies to calls 1, 2 and 3 while later calls wait. Each
    call must return its own answer."""
    calls = _call_everything(broker, client_class)
    if calls.error is not None:
        return wrong("The client could not be made", calls.error)
    server = calls.server
    extras = [sent.what for sent in server.sent if not sent.what.startswith("the reply")]
    story = f"The server also sent {', '.join(extras)}." if extras else "The server sent no extra replies."
    problems: list[str] = []
    for index, (n, value, problem) in enumerate(calls.returned, start=1):
        answer = _fib(n)
        if problem is not None:
            problems.append(f"call {index}, fib({n}): {problem}.")
        elif not _same(value, answer):
            owners = [other for other in _which(value, NUMBERS_11_2) if other != index]
            whose = (
                f", the answer to call {owners[0]} (fib({NUMBERS_11_2[owners[0] - 1]})): a "
                + ("duplicate or stale reply" if owners[0] < index else "reply meant for a later call")
                if owners
                else ""
            )
            problems.append(f"call {index}, fib({n}) returned {value!r}, not {answer}{whose}.")
    if calls.stopped:
        made = len(calls.returned)
        problems.append(
            f"The check made no more calls after call {made} hung"
            + (f" (of {len(NUMBERS_11_2)})." if made < len(NUMBERS_11_2) else ".")
            + " A call that never sees its reply: does on_response store the reply whose "
            "correlation_id is the call's, and does call() wait with connection.process_data_events?"
        )
    problems.extend(_request_problems(server))
    if problems:
        count = sum(
            1 for n, value, problem in calls.returned if problem is not None or not _same(value, _fib(n))
        )
        return wrong(
            f"{count} of {len(NUMBERS_11_2)} calls went wrong" if count else "The requests are not right",
            *problems,
            story,
            "Take only the reply whose correlation_id is the current call's, and ignore any other, "
            "without raising.",
        )
    return right(
        f"Each of the {len(NUMBERS_11_2)} calls returned its own answer",
        f"fib of {', '.join(map(str, NUMBERS_11_2))} = {', '.join(str(_fib(n)) for n in NUMBERS_11_2)}.",
        f"{story} Your client took none of them for another call's answer.",
    )


# --- 11.3: an idempotent consumer ---------------------------------------------------------------------

#: (message_id, body) in the order they are published. order-3 twice: the publisher sent it again
#: when its confirm did not come; order-4 has the very body of order-1, and is another order.
ORDERS_11_3 = (
    ("order-1", "charge alice 10 EUR"),
    ("order-2", "charge bob 25 EUR"),
    ("order-3", "charge carol 5 EUR"),
    ("order-3", "charge carol 5 EUR"),
    ("order-4", "charge alice 10 EUR"),
    ("order-5", "charge dave 40 EUR"),
    ("order-6", "charge erin 15 EUR"),
)
CRASH_ON = "order-4"  # the first consumer dies after processing it, before its ack reaches RabbitMQ
REPUBLISHED = "order-2"  # published once more after the crash, long after it was processed


@dataclass
class _Charged:
    processed: set[Any]  # the learner's record of processed ids, which outlives a consumer
    charges: list[tuple[str | None, str, str]] = field(
        default_factory=list
    )  # message_id, body, which consumer
    first: _Worker | None = None
    second: _Worker | None = None
    left: int = 0


def _consume_twice(broker: BrokerHandle, consume: Callable[..., object]) -> _Charged:
    queue = _queue("11.3")
    run = _Charged(processed=set())
    try:
        _declare_and_publish(broker, queue, ((body, message_id) for message_id, body in ORDERS_11_3))
        run.first = _consumer(broker, consume, queue, run, "first")
        _wait_until_consumers_gone(broker, queue)
        message_id, body = next(order for order in ORDERS_11_3 if order[0] == REPUBLISHED)
        _declare_and_publish(broker, queue, [(body, message_id)])
        run.second = _consumer(broker, consume, queue, run, "second", expected=_ready(broker, queue))
        run.left = _ready(broker, queue)
        return run
    finally:
        _delete(broker, queue)


def _consumer(
    broker: BrokerHandle,
    consume: Callable[..., object],
    queue: str,
    run: _Charged,
    label: str,
    *,
    expected: int | None = None,
) -> _Worker:
    """The learner's consumer on a connection of its own. The first (`expected` None) is killed
    after processing order-4: at its ack, or after its callback if it sends none. The second runs
    until it has settled the `expected` messages the queue held, or has nothing more to do."""
    worker = _Worker(broker, f"{label} consumer (exercise 11.3)")

    def charge(body: Any) -> None:
        message_id = worker.current.message_id if worker.current is not None else None
        run.charges.append((message_id, _text(body), label))

    def settled_all() -> bool:
        if expected is None or len(worker.deliveries) < expected:
            return False
        return {d.tag for d in worker.deliveries} <= worker.settled("ack") | worker.settled("discard")

    if expected is None:
        worker.crash_at_ack = worker.crash_after = lambda delivery: delivery.message_id == CRASH_ON
    worker.until = settled_all
    try:
        if worker.start(consume, queue, charge, run.processed):
            worker.loop()
    finally:
        worker.end(crash=expected is None)
    return worker


def _why_never(message_id: str, run: _Charged) -> str:
    """Why order `message_id` was never charged, from who got it and how."""
    body = dict(ORDERS_11_3)[message_id]
    alike = [other for other, same in ORDERS_11_3 if same == body and other != message_id]
    workers = [worker for worker in (run.first, run.second) if worker is not None]
    got = [d for worker in workers for d in worker.deliveries if d.message_id == message_id]
    if alike:
        return (
            f"it has the same body as {alike[0]} ({body!r}), but it is another order. Tell messages "
            "apart by properties.message_id, not by their body"
        )
    second = run.second.deliveries if run.second is not None else []
    if (
        run.first is not None
        and run.first.channel.auto_ack()
        and message_id not in {d.message_id for d in second}
    ):
        return (
            "the first consumer had been sent it, and was killed before processing it; with "
            "auto_ack=True RabbitMQ had already forgotten it"
        )
    if not got:
        return (
            "no consumer was ever sent it: with a prefetch_count and no acks, RabbitMQ stops "
            "sending once a consumer holds that many unacknowledged messages"
        )
    if not any(d.message_id == message_id for d in second):
        return "the first consumer had it when it was killed, and it never came back"
    if any(d.redelivered for d in second if d.message_id == message_id):
        return (
            "it came again with redelivered=True because the first consumer held it, unacked, when "
            "it was killed; it had never been processed. redelivered=True means 'delivered before', "
            "not 'processed before'"
        )
    return "your consumer skipped it, or threw it away"


def _why_twice(message_id: str, run: _Charged) -> str:
    """Why message `message_id` arrived more than once."""
    if message_id == CRASH_ON:
        return (
            "the first consumer processed it and was killed before its ack reached RabbitMQ, which "
            "redelivered it to the second (redelivered=True)"
        )
    if message_id == REPUBLISHED:
        return (
            "the publisher sent it again after the crash (a retry): a new delivery, redelivered=False, "
            "long after the first was processed"
        )
    return (
        "the publisher sent it twice in a row (its confirm was lost, so it retried): "
        "redelivered=False both times"
    )


@exercise(
    "11.3",
    "An idempotent consumer: each message processed once",
    solution="""def consume(channel, queue, charge, processed):
    channel.basic_qos(prefetch_count=10)

    def callback(ch, method, properties, body):
        if properties.message_id not in processed:   # new: do it, and remember it
            charge(body)
            processed.add(properties.message_id)
        ch.basic_ack(delivery_tag=method.delivery_tag)   # a duplicate is acked too, or it comes back

    channel.basic_consume(queue=queue, on_message_callback=callback)


course.EXERCISES["11.3"](broker, consume)""",
    explanation=(
        "RabbitMQ delivers at least once: a message comes again when a consumer dies before its ack "
        "reaches the broker, and a publisher that retries sends it again. Neither the body (two "
        "orders can look alike) nor redelivered=True (a retried publish is a new delivery; a "
        "redelivered message may never have been processed) says whether it was done: the "
        "publisher's message_id does. Keep the ids where a crash cannot take them. In production "
        "that is your database, written in the same transaction as the effect, so that the charge "
        "and its record happen together or not at all (here `processed` plays that part)."
    ),
    hints=(
        "Which property of a message stays the same on every copy of it, and differs between two "
        "orders that look alike?",
        "Check properties.message_id against `processed` before charging; add it after; ack "
        "duplicates as well.",
    ),
)
def idempotent_consumer(broker: BrokerHandle, consume: Callable[..., object]) -> Feedback:
    """`consume(channel, queue, charge, processed)` sets up a payment consumer: its callback calls
    `charge(body)` to take the money; `processed` is a set that outlives the consumer (your
    database). Seven messages wait, six orders: order-3 published twice. The first consumer is
    killed after processing order-4, before its ack; a second one (your `consume` again, the same
    `processed`) takes the rest, and order-2, which the publisher sends once more. Each order
    must be charged exactly once."""
    run = _consume_twice(broker, consume)
    orders = list(dict.fromkeys(message_id for message_id, _ in ORDERS_11_3))
    counts = {message_id: 0 for message_id in orders}
    for message_id, _body, _label in run.charges:
        if message_id in counts:
            counts[message_id] += 1
    twice = [message_id for message_id in orders if counts[message_id] > 1]
    never = [message_id for message_id in orders if counts[message_id] == 0]
    workers = [worker for worker in (run.first, run.second) if worker is not None]
    problems = [text for worker in workers for text in (worker.error, worker.closed_by_broker) if text]
    summary = "Charges: " + ", ".join(f"{message_id} x{counts[message_id]}" for message_id in orders) + "."
    details: list[str] = []
    for message_id in twice:
        details.append(f"{message_id} was charged {counts[message_id]} times: {_why_twice(message_id, run)}.")
    details.extend(f"{message_id} was never charged: {_why_never(message_id, run)}." for message_id in never)
    if twice and not run.processed:
        details.append(
            "`processed` is still empty: your consumer kept no record of what it had done, or kept it "
            "in its own memory, which died with it in the crash. Add each message_id to `processed`, "
            "which outlives the consumer."
        )
    if any(worker.channel.auto_ack() for worker in workers):
        details.append(
            "Your consumer uses auto_ack=True: a message is gone from RabbitMQ the moment it is sent, so a "
            "consumer killed with messages in hand loses them. Ack manually, after the work."
        )
    if twice or never:
        return wrong(
            f"{plural(len(twice), 'order')} charged more than once"
            + (f", {len(never)} never" if never else "")
            if twice
            else f"{plural(len(never), 'order')} never charged",
            summary,
            *details,
            *problems,
        )
    if problems:
        return wrong("Each order was charged once, but your consumer failed", summary, *problems)
    if run.left:
        return wrong(
            f"Each order was charged once, but {plural(run.left, 'message')} stayed in the queue",
            summary,
            "Your consumer did not acknowledge them (duplicates must be acked too, or RabbitMQ delivers them "
            "again, to every consumer, for ever).",
        )
    return right(
        f"Each of the {len(orders)} orders was charged exactly once",
        summary,
        f"Your consumer skipped the second copy of order-3 (published twice), {CRASH_ON} (redelivered after "
        f"the first consumer was killed before its ack) and {REPUBLISHED} (published again later), and "
        "acked them all.",
        "In production, record the id in the same transaction as the effect: a crash between the two "
        "would otherwise charge twice or not at all.",
    )


TASKS: tuple[Exercise, ...] = (worker_survives_a_kill, rpc_client, idempotent_consumer)
