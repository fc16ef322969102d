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
from .._feedback import Both, Exercise, Feedback, commented, exercise, plural, right, say, wrong

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
    return say(", ", "、").join(texts) or say("none", "无")


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
            self.error = say(
                f"{start.__name__} raised {describe(error)}", f"{start.__name__} 抛出了 {describe(error)}"
            )
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
            self.error = say(f"the callback raised {describe(error)}", f"回调函数抛出了 {describe(error)}")
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
            say(
                f"{_joined(discarded)}: thrown away with basic_reject / basic_nack(requeue=False); RabbitMQ "
                "deleted them (or dead-letters them, if the queue has a dead-letter exchange).",
                f"{_joined(discarded)}：被 basic_reject / basic_nack(requeue=False) 丢弃了；RabbitMQ "
                "删除了它们（如果队列配置了死信交换机，就会让它们成为死信）。",
            )
        )
    if channel.auto_ack():
        # an auto_ack task leaves the queue only by being sent: every lost one was sent to the worker
        dying = [task for task in lost if task == run.dying]
        waiting = [task for task in lost if task != run.dying and task not in discarded]
        reasons.append(
            say(
                "Your worker consumes with auto_ack=True: RabbitMQ counts a task done, and deletes it, "
                "the moment it sends it.",
                "你的 worker 用 auto_ack=True 消费：RabbitMQ 一把任务发出去，就认为它已经完成，并把它删除。",
            )
        )
        if dying:
            reasons.append(
                say(
                    f"{dying[0]}: the worker was in the middle of it when it was killed.",
                    f"{dying[0]}：worker 被杀掉时正在处理它。",
                )
            )
        if waiting:
            reasons.append(
                say(
                    f"{_joined(waiting)}: already sent to the worker, waiting in its connection, never "
                    "started. basic_qos does not limit an auto_ack consumer: RabbitMQ pushes it as "
                    "much as it can take.",
                    f"{_joined(waiting)}：已经发给了 worker，在它的连接里排着队，一直没开始处理。"
                    "basic_qos 限制不了 auto_ack 消费者：它能接收多少，RabbitMQ 就推送多少。",
                )
            )
        return reasons
    acked_first = [
        task
        for task in delivered
        if by_text[task].tag in worker.settled("ack") and task in run.started and task not in run.finished
    ]
    if acked_first:
        reasons.append(
            say(
                f"{_joined(acked_first)}: your callback acknowledged it before doing the work, so RabbitMQ "
                "had deleted it when the worker died in the middle of it. Ack after the work.",
                f"{_joined(acked_first)}：你的回调函数在干活之前就确认了它，所以 worker 处理到一半死掉时，"
                "RabbitMQ 早已把它删除。要在工作完成之后再确认。",
            )
        )
    others = [task for task in lost if task not in discarded and task not in acked_first]
    if others:
        reasons.append(
            say(
                f"{_joined(others)}: never came back to the queue after the kill.",
                f"{_joined(others)}：worker 被杀掉之后，它再也没有回到队列。",
            )
        )
    return reasons


def _who_did_what(run: _Killing) -> list[str]:
    finished_zh = f"完成了 {_joined(run.finished)}" if run.finished else "一个任务也没完成"
    lines = [say(f"Worker 1 (yours) finished {_joined(run.finished)}", f"worker 1（你的）{finished_zh}")]
    if run.dying is not None:
        lines[0] += say(
            f" and was killed in the middle of {run.dying}.", f"，在处理 {run.dying} 的途中被杀掉。"
        )
    elif run.idle:
        lines[0] += say(
            f"; then it got nothing for {STALL_SECONDS} s, and the check killed it while idle.",
            f"；之后 {STALL_SECONDS} 秒没有收到任何任务，检查程序趁它空闲时杀掉了它。",
        )
    else:
        lines[0] += say(".", "。")
    if run.second:
        done = [
            say(f"{item.text} (redelivered)", f"{item.text}（重新投递）") if item.redelivered else item.text
            for item in run.second
        ]
        lines.append(
            say(
                f"Worker 2 (the check's) then did {_joined(done)}.",
                f"随后 worker 2（检查程序的）完成了 {_joined(done)}。",
            )
        )
    else:
        lines.append(
            say(
                "Worker 2 (the check's) found nothing left to do.",
                "worker 2（检查程序的）没有剩下的任务可做。",
            )
        )
    return lines


@exercise(
    "11.1",
    Both("A worker that loses no task when it is killed mid-task", "被杀掉也不丢任务的 worker"),
    solution=commented(
        """def start_worker(channel, queue, work):
    channel.basic_qos(prefetch_count=1)            # hold one unacked task at a time

    def callback(ch, method, properties, body):
        work(body)                                  # do the task first ...
        ch.basic_ack(delivery_tag=method.delivery_tag)   # ... then tell RabbitMQ it is done

    channel.basic_consume(queue=queue, on_message_callback=callback, auto_ack=False)


course.EXERCISES["11.1"](broker, start_worker)""",
        {
            "hold one unacked task at a time": "一次只持有一个未确认的任务",
            "do the task first ...": "先把任务做完……",
            "... then tell RabbitMQ it is done": "……再告诉 RabbitMQ 它已完成",
        },
    ),
    explanation=Both(
        "Manual acknowledgements, sent after the work: until the ack, RabbitMQ keeps the task as "
        "'unacknowledged', and if the worker's connection ends without it (a kill, a crash, a lost "
        "network) RabbitMQ puts the task back in the queue for another worker, with "
        "redelivered=True. prefetch_count=1 keeps the tasks the worker has not started in the "
        "queue, where another worker can take them at once. The price is 'at least once': a task "
        "finished just before a kill, whose ack was lost, is done again.",
        "手动确认，而且在工作完成之后才发送：收到确认之前，RabbitMQ 把任务保持为“未确认”状态；"
        "如果 worker 的连接在确认之前就断了（被杀掉、崩溃、网络中断），RabbitMQ 会把任务放回队列，"
        "交给另一个 worker，并带上 redelivered=True。prefetch_count=1 让 worker 还没开始的任务留在"
        "队列里，别的 worker 可以立刻取走。代价是“至少一次”：一个任务恰好在 worker 被杀之前做完，"
        "而它的确认丢了，这个任务就会再做一遍。",
    ),
    hints=(
        Both(
            "With auto_ack=True, when does RabbitMQ delete a task? And what if the worker dies after that?",
            "用 auto_ack=True 时，RabbitMQ 在什么时候删除一个任务？如果 worker 在那之后死掉，会怎样？",
        ),
        Both(
            "Three lines: basic_qos(prefetch_count=1), work(body), then "
            "ch.basic_ack(delivery_tag=method.delivery_tag), in that order.",
            "只要三行：basic_qos(prefetch_count=1)、work(body)，然后是 "
            "ch.basic_ack(delivery_tag=method.delivery_tag)，顺序不能乱。",
        ),
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
            say(
                f"RabbitMQ closed your worker's channel: {worker.closed_by_broker}. Ack each delivery "
                "once, with its own method.delivery_tag, on the channel that received it.",
                f"RabbitMQ 关闭了你的 worker 的信道：{worker.closed_by_broker}。每次投递只确认一次，"
                "用它自己的 method.delivery_tag，并且在收到它的那个信道上确认。",
            )
        )
    if not worker.channel.of("basic_consume") and not problems:
        return wrong(
            say("Your worker never consumed", "你的 worker 根本没有消费"),
            say(
                "start_worker must call channel.basic_consume(queue=queue, on_message_callback=callback).",
                "start_worker 必须调用 channel.basic_consume(queue=queue, on_message_callback=callback)。",
            ),
        )
    if lost:
        return wrong(
            say(
                f"{plural(len(lost), 'task')} lost when the worker was killed: {_joined(lost)}",
                f"worker 被杀掉时丢了 {len(lost)} 个任务：{_joined(lost)}",
            ),
            *story,
            *_lost_reasons(run, lost),
            *problems,
        )
    if problems:
        return wrong(
            say("No task was lost, but your worker failed", "没有丢任务，但你的 worker 出错了"),
            *story,
            *problems,
        )
    if len(worker.deliveries) >= REDELIVERY_LIMIT or worker.settled("requeue"):
        return wrong(
            say(
                "Your worker sends its tasks back instead of finishing them",
                "你的 worker 把任务退了回去，而不是把它们做完",
            ),
            say(
                f"It received {len(worker.deliveries)} deliveries of {len(TASKS_11_1)} tasks: basic_nack "
                "or basic_reject with requeue=True puts a task back, and RabbitMQ hands it out again.",
                f"{len(TASKS_11_1)} 个任务，它一共收到了 {len(worker.deliveries)} 次投递：requeue=True 的 "
                "basic_nack 或 basic_reject 会把任务放回队列，RabbitMQ 又会再把它发出去。",
            ),
            *story,
        )
    if not run.started:
        return wrong(
            say(
                "Your callback never called work(body): no task was done",
                "你的回调函数从没调用 work(body)：一个任务也没做",
            ),
            *story,
            say(
                "Call work(body) in the callback: that is the task.",
                "在回调函数里调用 work(body)：那就是任务本身。",
            ),
        )
    if twice and not worker.settled("ack"):
        return wrong(
            say(
                f"Nothing lost, but {_joined(twice)} done twice: your worker never acknowledges",
                f"没有丢任务，但 {_joined(twice)} 做了两次：你的 worker 从不确认",
            ),
            *story,
            say(
                "RabbitMQ held every task it gave worker 1 as unacknowledged; at the kill they all went "
                "back to the queue, finished or not. ",
                "RabbitMQ 把发给 worker 1 的每个任务都记为未确认；worker 被杀掉时，这些任务不管做没做完，"
                "全都回到了队列。",
            )
            + (
                say(
                    "With prefetch_count=1 and no ack, worker 1 was never sent a second task at all.",
                    "在 prefetch_count=1 而又不确认的情况下，worker 1 根本收不到第二个任务。",
                )
                if worker.channel.prefetch() == 1
                else ""
            ),
            say(
                "Ack each task once its work is done: ch.basic_ack(delivery_tag=method.delivery_tag).",
                "每个任务做完就确认：ch.basic_ack(delivery_tag=method.delivery_tag)。",
            ),
        )
    if run.left:
        return wrong(
            say(
                f"{plural(run.left, 'task')} still in the queue at the end",
                f"结束时队列里还剩 {run.left} 个任务",
            ),
            *story,
        )
    notes: list[str] = []
    if twice:
        notes.append(
            say(
                f"{_joined(twice)} {'was' if len(twice) == 1 else 'were'} done twice: finished by worker 1 "
                "but not yet acknowledged at the kill. That is 'at least once': make the work safe to repeat "
                "(task 11.3).",
                f"{_joined(twice)} 做了两次：worker 1 已经做完，但被杀掉时还没来得及确认。这就是“至少一次”："
                "要让这项工作可以安全地重复执行（编程题 11.3）。",
            )
        )
    held = [item.text for item in run.second if item.redelivered and item.text != run.dying]
    if held:
        prefetch = worker.channel.prefetch()
        limit = f"预取为 {prefetch}" if prefetch else "预取不限"
        notes.append(
            say(
                f"Worker 1 was holding {_joined(held)} without having started them (prefetch "
                f"{prefetch or 'unlimited'}): they waited for its death. "
                "basic_qos(prefetch_count=1) leaves them in the queue, for any free worker.",
                f"worker 1 扣着 {_joined(held)}，却还没开始处理（{limit}）："
                "它们一直等到 worker 1 死掉。basic_qos(prefetch_count=1) 会把它们留在队列里，"
                "交给任何一个空闲的 worker。",
            )
        )
    return right(
        say(
            f"No task lost: every one of the {len(TASKS_11_1)} tasks was done",
            f"没有丢任务：{len(TASKS_11_1)} 个任务全部完成",
        ),
        *story,
        say(
            "Your worker acked each task after its work, so the one it died on was still RabbitMQ's: it "
            "went back to the queue (redelivered=True) and to the next worker.",
            "你的 worker 每个任务都是做完之后才确认，所以它死时手上的那个任务仍归 RabbitMQ 所有："
            "它回到了队列（redelivered=True），交给了下一个 worker。",
        ),
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
    what: Both  # shown in the verdict, in the kernel's language then


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

        def send(correlation_id: str | None, body: str, what: Both) -> None:
            channel.basic_publish(
                "", properties.reply_to, body.encode(), pika.BasicProperties(correlation_id=correlation_id)
            )
            self.sent.append(_Sent(correlation_id, body, what))

        def earlier(number: int) -> None:
            old = self.requests[number - 1]
            body = str(_fib(int(old.text))) if old.text.strip().isdigit() else "?"
            send(
                old.properties.correlation_id,
                body,
                Both(f"a stale reply to call {number}", f"对第 {number} 次调用的过期回复"),
            )

        if index in STALE_FIRST:
            # a reply to an earlier call turns up while this one waits, well before its own: a
            # client that takes the first reply to come takes it, however it reads the socket
            earlier(STALE_FIRST[index])
            time.sleep(STALE_SECONDS)
        send(
            properties.correlation_id, answer, Both(f"the reply to call {index}", f"第 {index} 次调用的回复")
        )
        if index in (2, 4):
            send(
                properties.correlation_id,
                answer,
                Both(f"a duplicate reply to call {index}", f"对第 {index} 次调用的重复回复"),
            )
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
    made = f"{getattr(client_class, '__name__', say('the client', '客户端'))}(connection, queue)"
    connection.deadline = time.monotonic() + CALL_SECONDS  # a constructor that waits is stopped too
    try:
        client = client_class(connection, queue)
    except _GaveUp:
        calls.error = say(
            f"{made} did not return within {CALL_SECONDS:g} s", f"{made} 在 {CALL_SECONDS:g} 秒内没有返回"
        )
        return
    except Exception as error:  # the learner's code
        calls.error = say(f"{made} raised {describe(error)}", f"{made} 抛出了 {describe(error)}")
        return
    for n in NUMBERS_11_2:
        connection.deadline = time.monotonic() + CALL_SECONDS
        try:
            calls.returned.append((n, client.call(n), None))
        except _GaveUp:
            calls.returned.append(
                (n, None, say(f"did not return within {CALL_SECONDS:g} s", f"{CALL_SECONDS:g} 秒内没有返回"))
            )
            calls.stopped = True
            return  # a client stuck once stays stuck: the other calls would only wait too
        except pika.exceptions.ChannelClosedByBroker as error:
            calls.returned.append(
                (
                    n,
                    None,
                    say(
                        f"RabbitMQ closed the channel: {describe(error)}",
                        f"RabbitMQ 关闭了信道：{describe(error)}",
                    ),
                )
            )
            return
        except Exception as error:
            calls.returned.append((n, None, say(f"raised {describe(error)}", f"抛出了 {describe(error)}")))


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
        problems.append(
            say(
                "Some requests had no reply_to: the server cannot know where to answer.",
                "有些请求没有 reply_to：服务器不知道该往哪里回复。",
            )
        )
    if any(not correlation_id for correlation_id in ids):
        problems.append(
            say(
                "Some requests had no correlation_id: the client cannot tell their replies apart.",
                "有些请求没有 correlation_id：客户端无法区分它们的回复。",
            )
        )
    repeated = sorted({i for i in ids if i and ids.count(i) > 1})
    if repeated:
        problems.append(
            say(
                f"Several calls used the same correlation_id ({', '.join(map(repr, repeated[:2]))}): a "
                "duplicate reply to one looks like the answer to the next. Make a new one per call: "
                "str(uuid.uuid4()).",
                f"多次调用用了同一个 correlation_id（{'、'.join(map(repr, repeated[:2]))}）：对前一次调用的"
                "重复回复，看起来就像是下一次调用的答案。每次调用都要新生成一个：str(uuid.uuid4())。",
            )
        )
    return problems


@exercise(
    "11.2",
    Both("An RPC client that survives duplicate and stale replies", "不怕重复回复和过期回复的 RPC 客户端"),
    solution=commented(
        """class RpcClient:
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
        {
            "the reply to the call in progress": "当前这次调用的回复",
            "anything else is a duplicate or a stale reply: ignore it, never raise": (
                "其他的都是重复或过期的回复：忽略它，绝不抛出异常"
            ),
            "new for every call": "每次调用都新生成一个",
        },
    ),
    explanation=Both(
        "A reply is just a message in the client's callback queue, and that queue can hold replies "
        "that belong to no current call: a second answer to a request whose server died after "
        "replying and before acking (the request was redelivered and answered again), or a late "
        "answer to a call already over. Give every call a new correlation_id, take only the reply "
        "that carries it, and drop everything else quietly: an exception raised in on_response comes "
        "out of process_data_events and breaks the call that was waiting.",
        "回复不过是客户端回调队列里的一条消息，而这个队列里可能有不属于当前任何一次调用的回复："
        "服务器回复之后、确认之前挂掉了，请求被重新投递、又被回答了一次，于是多出第二个答案；"
        "或者是对一次早已结束的调用迟到的回答。给每次调用一个新的 correlation_id，只接收带着它的"
        "那条回复，其余的一律悄悄丢掉：在 on_response 里抛出的异常会从 process_data_events 里冒出来，"
        "毁掉正在等待的那次调用。",
    ),
    hints=(
        Both(
            "When a reply arrives, how does on_response know which call it answers?",
            "一条回复到达时，on_response 怎么知道它回答的是哪一次调用？",
        ),
        Both(
            "Compare props.correlation_id with the id of the call in progress; ignore any other reply "
            "(no exception), and reset self.response before each call.",
            "把 props.correlation_id 和当前这次调用的 id 相比较；忽略其他任何回复（不要抛出异常），"
            "并在每次调用之前重置 self.response。",
        ),
    ),
)
def rpc_client(broker: BrokerHandle, client_class: Callable[..., Any]) -> Feedback:
    """`client_class(connection, queue)` makes your client, whose `call(n)` sends n to `queue`
    and returns fib(n). The check's server answers five calls in turn, but replies twice to
    calls 2 and 4, and sends stale replies to calls 1, 2 and 3 while later calls wait. Each
    call must return its own answer."""
    calls = _call_everything(broker, client_class)
    if calls.error is not None:
        return wrong(say("The client could not be made", "无法创建客户端"), calls.error)
    server = calls.server
    extras = [str(sent.what) for sent in server.sent if not sent.what.en.startswith("the reply")]
    story = (
        say(f"The server also sent {', '.join(extras)}.", f"服务器还发送了{'、'.join(extras)}。")
        if extras
        else say("The server sent no extra replies.", "服务器没有发送多余的回复。")
    )
    problems: list[str] = []
    for index, (n, value, problem) in enumerate(calls.returned, start=1):
        answer = _fib(n)
        if problem is not None:
            problems.append(
                say(f"call {index}, fib({n}): {problem}.", f"第 {index} 次调用 fib({n})：{problem}。")
            )
        elif not _same(value, answer):
            owners = [other for other in _which(value, NUMBERS_11_2) if other != index]
            whose = (
                say(
                    f", the answer to call {owners[0]} (fib({NUMBERS_11_2[owners[0] - 1]})): a "
                    + ("duplicate or stale reply" if owners[0] < index else "reply meant for a later call"),
                    f"，这是第 {owners[0]} 次调用（fib({NUMBERS_11_2[owners[0] - 1]})）的答案："
                    + ("一条重复或过期的回复" if owners[0] < index else "一条本该属于后面某次调用的回复"),
                )
                if owners
                else ""
            )
            problems.append(
                say(
                    f"call {index}, fib({n}) returned {value!r}, not {answer}{whose}.",
                    f"第 {index} 次调用 fib({n}) 返回了 {value!r}，而不是 {answer}{whose}。",
                )
            )
    if calls.stopped:
        made = len(calls.returned)
        problems.append(
            say(
                f"The check made no more calls after call {made} hung"
                + (f" (of {len(NUMBERS_11_2)})." if made < len(NUMBERS_11_2) else ".")
                + " A call that never sees its reply: does on_response store the reply whose "
                "correlation_id is the call's, and does call() wait with connection.process_data_events?",
                f"第 {made} 次调用卡住之后，检查程序没有再发起调用"
                + (f"（共 {len(NUMBERS_11_2)} 次）。" if made < len(NUMBERS_11_2) else "。")
                + "一次调用始终等不到它的回复：on_response 有没有保存 correlation_id 与这次调用相同的"
                "那条回复？call() 有没有用 connection.process_data_events 等待？",
            )
        )
    problems.extend(_request_problems(server))
    if problems:
        count = sum(
            1 for n, value, problem in calls.returned if problem is not None or not _same(value, _fib(n))
        )
        return wrong(
            say(
                f"{count} of {len(NUMBERS_11_2)} calls went wrong",
                f"{len(NUMBERS_11_2)} 次调用中有 {count} 次出错",
            )
            if count
            else say("The requests are not right", "请求本身有问题"),
            *problems,
            story,
            say(
                "Take only the reply whose correlation_id is the current call's, and ignore any other, "
                "without raising.",
                "只接收 correlation_id 与当前调用相同的那条回复，忽略其他所有回复，而且不要抛出异常。",
            ),
        )
    return right(
        say(
            f"Each of the {len(NUMBERS_11_2)} calls returned its own answer",
            f"{len(NUMBERS_11_2)} 次调用都返回了各自的答案",
        ),
        say(
            f"fib of {', '.join(map(str, NUMBERS_11_2))} = {', '.join(str(_fib(n)) for n in NUMBERS_11_2)}.",
            f"对 {'、'.join(map(str, NUMBERS_11_2))} 求 fib，结果依次为 "
            f"{'、'.join(str(_fib(n)) for n in NUMBERS_11_2)}。",
        ),
        say(
            f"{story} Your client took none of them for another call's answer.",
            f"{story}你的客户端没有把其中任何一条当成别的调用的答案。",
        ),
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
        return say(
            f"it has the same body as {alike[0]} ({body!r}), but it is another order. Tell messages "
            "apart by properties.message_id, not by their body",
            f"它的消息体与 {alike[0]} 相同（{body!r}），但它是另一个订单。要用 properties.message_id "
            "来区分消息，而不是用消息体",
        )
    second = run.second.deliveries if run.second is not None else []
    if (
        run.first is not None
        and run.first.channel.auto_ack()
        and message_id not in {d.message_id for d in second}
    ):
        return say(
            "the first consumer had been sent it, and was killed before processing it; with "
            "auto_ack=True RabbitMQ had already forgotten it",
            "它已经发给了第一个消费者，而那个消费者还没处理它就被杀掉了；用 auto_ack=True 时，"
            "RabbitMQ 早就把它忘了",
        )
    if not got:
        return say(
            "no consumer was ever sent it: with a prefetch_count and no acks, RabbitMQ stops "
            "sending once a consumer holds that many unacknowledged messages",
            "它从没发给过任何消费者：设置了 prefetch_count 却不确认，消费者手里的未确认消息"
            "一达到这个数，RabbitMQ 就不再发送了",
        )
    if not any(d.message_id == message_id for d in second):
        return say(
            "the first consumer had it when it was killed, and it never came back",
            "第一个消费者被杀掉时它在消费者手里，之后再也没有回来",
        )
    if any(d.redelivered for d in second if d.message_id == message_id):
        return say(
            "it came again with redelivered=True because the first consumer held it, unacked, when "
            "it was killed; it had never been processed. redelivered=True means 'delivered before', "
            "not 'processed before'",
            "它带着 redelivered=True 再次到达，是因为第一个消费者被杀掉时还持有它、尚未确认；"
            "它从未被处理过。redelivered=True 的意思是“以前投递过”，而不是“以前处理过”",
        )
    return say("your consumer skipped it, or threw it away", "你的消费者跳过了它，或者把它丢掉了")


def _why_twice(message_id: str, run: _Charged) -> str:
    """Why message `message_id` arrived more than once."""
    if message_id == CRASH_ON:
        return say(
            "the first consumer processed it and was killed before its ack reached RabbitMQ, which "
            "redelivered it to the second (redelivered=True)",
            "第一个消费者处理了它，但在确认到达 RabbitMQ 之前被杀掉了，于是 RabbitMQ 把它重新投递"
            "给了第二个消费者（redelivered=True）",
        )
    if message_id == REPUBLISHED:
        return say(
            "the publisher sent it again after the crash (a retry): a new delivery, redelivered=False, "
            "long after the first was processed",
            "发布方在崩溃之后又发了一次（重试）：这是一次新的投递，redelivered=False，而第一份早就处理过了",
        )
    return say(
        "the publisher sent it twice in a row (its confirm was lost, so it retried): "
        "redelivered=False both times",
        "发布方连着发了两次（它没收到发布确认，于是重试）：两次都是 redelivered=False",
    )


@exercise(
    "11.3",
    Both("An idempotent consumer: each message processed once", "幂等的消费者：每条消息只处理一次"),
    solution=commented(
        """def consume(channel, queue, charge, processed):
    channel.basic_qos(prefetch_count=10)

    def callback(ch, method, properties, body):
        if properties.message_id not in processed:   # new: do it, and remember it
            charge(body)
            processed.add(properties.message_id)
        ch.basic_ack(delivery_tag=method.delivery_tag)   # a duplicate is acked too, or it comes back

    channel.basic_consume(queue=queue, on_message_callback=callback)


course.EXERCISES["11.3"](broker, consume)""",
        {
            "new: do it, and remember it": "新消息：处理它，并记下来",
            "a duplicate is acked too, or it comes back": "重复的消息也要确认，否则它还会回来",
        },
    ),
    explanation=Both(
        "RabbitMQ delivers at least once: a message comes again when a consumer dies before its ack "
        "reaches the broker, and a publisher that retries sends it again. Neither the body (two "
        "orders can look alike) nor redelivered=True (a retried publish is a new delivery; a "
        "redelivered message may never have been processed) says whether it was done: the "
        "publisher's message_id does. Keep the ids where a crash cannot take them. In production "
        "that is your database, written in the same transaction as the effect, so that the charge "
        "and its record happen together or not at all (here `processed` plays that part).",
        "RabbitMQ 的投递是至少一次：消费者在确认到达 broker 之前死掉，消息就会再来一次；发布方重试，"
        "也会把它再发一次。消息体（两个订单可能一模一样）和 redelivered=True（重试的发布是一次新的投递；"
        "重新投递的消息也可能从未被处理过）都说明不了它是否已经处理过，能说明这一点的是发布方设置的 "
        "message_id。把这些 id 存在崩溃带不走的地方。在生产环境中，那就是你的数据库，而且要和业务效果"
        "写在同一个事务里，这样扣款和它的记录要么一起发生，要么都不发生（这里由 `processed` 扮演这个角色）。",
    ),
    hints=(
        Both(
            "Which property of a message stays the same on every copy of it, and differs between two "
            "orders that look alike?",
            "消息的哪个属性在它的每一份副本上都相同，而在两个看起来一样的订单之间却不同？",
        ),
        Both(
            "Check properties.message_id against `processed` before charging; add it after; ack "
            "duplicates as well.",
            "扣款之前先检查 properties.message_id 是否已在 `processed` 里；扣款之后把它加进去；"
            "重复的消息也要确认。",
        ),
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
    summary = say(
        "Charges: " + ", ".join(f"{message_id} x{counts[message_id]}" for message_id in orders) + ".",
        "各订单的扣款次数："
        + "、".join(f"{message_id} 为 {counts[message_id]} 次" for message_id in orders)
        + "。",
    )
    details: list[str] = []
    for message_id in twice:
        why = _why_twice(message_id, run)
        details.append(
            say(
                f"{message_id} was charged {counts[message_id]} times: {why}.",
                f"{message_id} 被扣了 {counts[message_id]} 次款：{why}。",
            )
        )
    details.extend(
        say(f"{message_id} was never charged: {why}.", f"{message_id} 一次也没有扣款：{why}。")
        for message_id, why in ((message_id, _why_never(message_id, run)) for message_id in never)
    )
    if twice and not run.processed:
        details.append(
            say(
                "`processed` is still empty: your consumer kept no record of what it had done, or kept it "
                "in its own memory, which died with it in the crash. Add each message_id to `processed`, "
                "which outlives the consumer.",
                "`processed` 还是空的：你的消费者没有记下自己做过什么，或者只记在了自己的内存里，而内存"
                "随着崩溃一起没了。把每个 message_id 都加进 `processed`，它比消费者活得更久。",
            )
        )
    if any(worker.channel.auto_ack() for worker in workers):
        details.append(
            say(
                "Your consumer uses auto_ack=True: a message is gone from RabbitMQ the moment it is sent, "
                "so a consumer killed with messages in hand loses them. Ack manually, after the work.",
                "你的消费者用了 auto_ack=True：消息一发出去就从 RabbitMQ 中消失了，所以消费者被杀掉时，"
                "手里的消息也就丢了。要在工作完成之后手动确认。",
            )
        )
    if twice or never:
        return wrong(
            say(
                f"{plural(len(twice), 'order')} charged more than once"
                + (f", {len(never)} never" if never else ""),
                f"{len(twice)} 个订单被扣了不止一次款" + (f"，{len(never)} 个一次也没扣" if never else ""),
            )
            if twice
            else say(f"{plural(len(never), 'order')} never charged", f"{len(never)} 个订单一次也没扣款"),
            summary,
            *details,
            *problems,
        )
    if problems:
        return wrong(
            say(
                "Each order was charged once, but your consumer failed",
                "每个订单都只扣了一次款，但你的消费者出错了",
            ),
            summary,
            *problems,
        )
    if run.left:
        return wrong(
            say(
                f"Each order was charged once, but {plural(run.left, 'message')} stayed in the queue",
                f"每个订单都只扣了一次款，但有 {run.left} 条消息留在了队列里",
            ),
            summary,
            say(
                "Your consumer did not acknowledge them (duplicates must be acked too, or RabbitMQ "
                "delivers them again, to every consumer, for ever).",
                "你的消费者没有确认它们（重复的消息也必须确认，否则 RabbitMQ 会把它们一遍又一遍地投递给"
                "每个消费者，永无止境）。",
            ),
        )
    return right(
        say(
            f"Each of the {len(orders)} orders was charged exactly once",
            f"{len(orders)} 个订单都恰好扣了一次款",
        ),
        summary,
        say(
            f"Your consumer skipped the second copy of order-3 (published twice), {CRASH_ON} (redelivered "
            f"after the first consumer was killed before its ack) and {REPUBLISHED} (published again "
            "later), and acked them all.",
            f"你的消费者跳过了 order-3 的第二份（它被发布了两次）、{CRASH_ON}（第一个消费者在确认之前被杀掉，"
            f"它因此被重新投递）和 {REPUBLISHED}（后来又被发布了一次），并且把它们全都确认了。",
        ),
        say(
            "In production, record the id in the same transaction as the effect: a crash between the two "
            "would otherwise charge twice or not at all.",
            "在生产环境中，要在产生业务效果的同一个事务里记录 id：否则两步之间一旦崩溃，就会扣两次款，"
            "或者一次也没扣。",
        ),
    )


TASKS: tuple[Exercise, ...] = (worker_survives_a_kill, rpc_client, idempotent_consumer)
