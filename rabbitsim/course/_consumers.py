"""Consumers that run beside the notebook: a thread with its own pika connection, so the cell
that starts one returns at once and the learner can keep publishing. (A worker that is a real
process, to kill, is `_processes.WorkerProcess`; both stand on `RunningBeside`.)

Learners re-run and interrupt cells, so these forgive: a handler that raises is reported in one
line and its consumer goes on; a *named* consumer, subscriber or worker started again replaces
the one started before under the same name (key: the broker's URL, the queue as given, the
name; a subscriber's queue is named by the broker, so its key is the broker and the name);
`stop_all()` stops everything started here; a wait that times out says why."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import pika
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim._language import say
from rabbitsim.backends import BrokerHandle

from ._client import connect, describe, explaining, hint, shows, startup_reason

__all__ = [
    "BackgroundConsumer",
    "Failure",
    "Received",
    "RunningBeside",
    "SetupChannel",
    "Subscriber",
    "SubscriberSetupError",
    "explaining",
    "run_setup",
    "stop_all",
]

POLL_SECONDS = 0.02
#: what a `kind` is called in a Chinese sentence
_KINDS_ZH = {"consumer": "消费者", "subscriber": "订阅者"}
#: how long a consumer may take to start, and to stop after the message it is handling
START_SECONDS = STOP_SECONDS = 10.0

#: what runs beside the notebook, started through these helpers and not stopped yet
_started: list[RunningBeside] = []
_started_lock = threading.Lock()


def stop_all(broker: BrokerHandle | None = None, *, quiet: bool = False) -> None:
    """Stop every consumer, subscriber and worker process started through the course's helpers
    (only those on `broker`, when given), and say which were still running."""
    with _started_lock:
        items = [item for item in _started if broker is None or item.started_on(broker)]
    stopped = [item.what for item in items if item.running]
    for item in items:
        item.stop()
    if not quiet:
        print(
            say(
                f"stop_all stopped {len(stopped)}: {', '.join(stopped)}.",
                f"stop_all 停止了 {len(stopped)} 个：{'、'.join(stopped)}。",
            )
            if stopped
            else say("stop_all: nothing was running.", "stop_all：没有正在运行的东西。")
        )


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(body: bytes) -> str:
    return repr(body) if len(body) <= 60 else repr(body[:60]) + "…"


def likely_cause(broker: BrokerHandle, queue: str) -> str:
    """The most likely reason nothing (more) arrived from `queue`, read off the broker's counts."""
    try:
        found = next((q for q in broker.topology().queues if q.vhost == "/" and q.name == queue), None)
    except Exception:  # the broker does not answer: `shows` has said so
        return say(
            "Likely cause: the broker was closed or restarted; run the first cell again.",
            "可能的原因：broker 已经关闭或重启过；请重新运行第一个单元格。",
        )
    if found is None:
        return say(
            f"Likely cause: {queue!r} is not declared: did you run the cells above that declare it?",
            f"可能的原因：{queue!r} 没有声明：上面声明它的单元格你运行了吗？",
        )
    if found.messages_ready and found.consumers:
        return say(
            f"Likely cause: {found.messages_ready} messages wait, but the consumers' prefetch windows are "
            "full of unacknowledged ones (a consumer that does not ack?).",
            f"可能的原因：有 {found.messages_ready} 条消息在等待，但消费者的预取窗口已经被未确认的消息占满"
            "（是不是有消费者不发送消息确认？）。",
        )
    if found.messages_ready:
        return say(
            f"Likely cause: {found.messages_ready} messages wait, but the broker lists no consumer on "
            f"{queue!r} (a real broker's counts lag; or it consumes another queue?).",
            f"可能的原因：有 {found.messages_ready} 条消息在等待，但 broker 列出的 {queue!r} 上没有消费者"
            "（真实 broker 的计数有滞后；或者它消费的是另一个队列？）。",
        )
    if found.consumers > 1:
        return say(
            f"Likely cause: {found.consumers} consumers share {queue!r}, and another one (started in an "
            "earlier run of a cell?) took the messages; course.stop_all() stops every one started here.",
            f"可能的原因：有 {found.consumers} 个消费者共用 {queue!r}，消息被另一个消费者（是某个单元格"
            "之前运行时启动的吗？）拿走了；course.stop_all() 会停止在这里启动的每一个消费者。",
        )
    return say(
        "Likely cause: nothing more was published to it: did you run the cells above that publish?",
        "可能的原因：没有更多消息发布到这个队列：上面发布消息的单元格你运行了吗？",
    )


class RunningBeside(ABC):
    """What runs beside the notebook while its cells go on: a `with` block stops it, and its
    waits end at a deadline or when it has ended, so a cell never hangs on a dead worker."""

    #: the broker's URL; set by `_track`
    url: str = ""
    name: str = ""

    def __init__(self) -> None:
        #: notified whenever something arrives, and when the consumer ends
        self._changed = threading.Condition()
        self._key: tuple[str, str, str] | None = None

    @abstractmethod
    def stop(self) -> None: ...

    @property
    @abstractmethod
    def running(self) -> bool: ...

    @property
    @abstractmethod
    def what(self) -> str:
        """What it is, for a sentence: "consumer 'worker-1' on 'task_queue'"."""

    def _track(self, broker: BrokerHandle, queue: str, name: str | None) -> None:
        """Note it as started; a named one replaces a running one of the same key (the same cell,
        run again), which is stopped first so that the old one takes no more messages."""
        self.url = broker.url
        key = None if name is None else (broker.url, queue, name)
        with _started_lock:
            earlier = [item for item in _started if key is not None and item._key == key]
            self._key = key
            _started.append(self)
        for item in earlier:
            was_running = item.running
            item.stop()
            if was_running:
                print(
                    say(
                        f"{name}: started again, so the earlier {item.what} was stopped first.",
                        f"{name}：再次启动，所以先停止了之前启动的那个：{item.what}。",
                    )
                )

    def started_on(self, broker: BrokerHandle) -> bool:
        """Whether it was started on `broker`: this handle, or another handle to the same URL
        (a closed handle no longer tells its URL, so then only the handle itself counts)."""
        if getattr(self, "broker", None) is broker:
            return True
        try:
            return self.url == broker.url
        except RuntimeError:
            return False

    def _untrack(self) -> None:
        with _started_lock:
            if self in _started:
                _started.remove(self)

    def _wait_until(
        self, done: Callable[[], bool], ended: Callable[[], bool], timeout: float, poll: float | None = None
    ) -> bool:
        """Block until `done()` (True), or `timeout` passes or `ended()` (then `done()` once
        more). `poll` bounds each sleep, for an end that nobody notifies."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0 or ended():
                    return done()
                self._changed.wait(left if poll is None else min(left, poll))
        return True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class Received:
    """One delivery as the consumer saw it."""

    body: bytes
    routing_key: str
    exchange: str
    redelivered: bool
    delivery_tag: int
    properties: pika.BasicProperties

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


Handler = Callable[[BlockingChannel, Received], None]


@dataclass(frozen=True, slots=True)
class Failure:
    """A message whose handling raised, and what it raised."""

    received: Received
    error: Exception


class BackgroundConsumer(RunningBeside):
    """Consume `queue` on a thread of its own until `.stop()`.

    `auto_ack` as in `basic_consume`; with `ack=False` (and no auto_ack) messages are never
    acknowledged, the classic "forgot to ack" mistake; `prefetch` sets `basic_qos` first;
    `work_seconds(received)` is how long handling a message takes (the tutorial's dots);
    `handler(channel, received)` runs for each message before the ack (an RPC server replies
    there). `setup(channel)`, when given, runs on the consumer's own connection first and returns
    the queue to consume: an exclusive queue can only be consumed by the connection that
    declared it. Everything received is kept in `.received`, in order.

    A handler (or `work_seconds`) that raises is reported in one line, the message is kept in
    `.failures`, and the consumer goes on; the message is settled as `on_error` says: "reject"
    (without requeue: it goes to the queue's dead-letter exchange if it has one, else it is
    dropped, so a poison message cannot kill every consumer after this one) or "ack". A `name`
    given explicitly makes the consumer replace a running one of the same name on the same
    queue and broker: a cell run again does not leave its first consumer taking messages."""

    def __init__(
        self,
        broker: BrokerHandle,
        queue: str,
        *,
        name: str | None = None,
        auto_ack: bool = False,
        ack: bool = True,
        prefetch: int | None = None,
        work_seconds: Callable[[Received], float] | None = None,
        handler: Handler | None = None,
        exclusive: bool = False,
        setup: Callable[[BlockingChannel], str] | None = None,
        on_error: Literal["reject", "ack"] = "reject",
    ) -> None:
        if on_error not in ("reject", "ack"):
            raise ValueError(
                say(
                    f"on_error={on_error!r}: choose 'reject' (without requeue) or 'ack'",
                    f"on_error={on_error!r}：请选择 'reject'（不重新入队）或 'ack'",
                )
            )
        super().__init__()
        self.broker, self.queue, self.name = broker, queue, name or self.kind
        self.auto_ack, self.ack, self.prefetch, self.exclusive = auto_ack, ack, prefetch, exclusive
        self.work_seconds, self.handler, self.setup, self.on_error = work_seconds, handler, setup, on_error
        self.received: list[Received] = []
        self.failures: list[Failure] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rabbitsim-{self.name}", daemon=True)
        self._track(broker, queue, name)
        self._thread.start()
        try:
            started = self._ready.wait(START_SECONDS)
        except BaseException:  # the notebook's interrupt while it starts: leave nothing running
            self.stop()
            raise
        if not started or self.error is not None:
            self.stop()
            raise RuntimeError(self._not_started()) from None

    kind = "consumer"

    def _not_started(self) -> str:
        reason = startup_reason(self.error, self.broker.url)
        return say(
            f"{self.name} could not start consuming {self.queue!r}: {reason}.{hint(reason)}",
            f"{self.name} 无法开始消费 {self.queue!r}：{reason}。{hint(reason)}",
        )

    def _run(self) -> None:
        connection: pika.BlockingConnection | None = None
        try:
            connection = connect(self.broker, self.name)
            channel = connection.channel()
            if self.setup is not None:
                self.queue = self.setup(channel)
            if self.prefetch is not None:
                channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(
                self.queue, self._on_message, auto_ack=self.auto_ack, exclusive=self.exclusive
            )
            self._ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=POLL_SECONDS)
                if channel.is_closed:  # closed by the broker: pika keeps its reason on the channel
                    raise getattr(channel, "_closing_reason", None) or pika.exceptions.ChannelClosed(
                        0, "closed"
                    )
        except BaseException as error:  # kept for the notebook to see, not lost in a thread
            self.error = error
            if self._ready.is_set() and not self._stop.is_set():
                said = _one_line(describe(error))
                print(
                    say(f"{self.name} stopped: {said}", f"{self.name} 已停止：{said}"),
                    file=sys.stderr,
                    flush=True,
                )
            self._ready.set()
        finally:
            if connection is not None and connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()
            with self._changed:
                self._changed.notify_all()

    def _on_message(
        self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        received = Received(
            body, method.routing_key, method.exchange, method.redelivered, method.delivery_tag, properties
        )
        try:
            if self.work_seconds is not None:
                time.sleep(self.work_seconds(received))
            if self.handler is not None:
                self.handler(channel, received)
        except Exception as error:
            self._failed(channel, received, error)
        else:
            if not self.auto_ack and self.ack:
                channel.basic_ack(method.delivery_tag)
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    def _failed(self, channel: BlockingChannel, received: Received, error: Exception) -> None:
        """Report a handler's exception and settle its message, so that it cannot come back."""
        self.failures.append(Failure(received, error))
        if self.auto_ack:
            settled = say("the message was auto-acked", "这条消息已经自动确认")
        elif not channel.is_open:
            settled = say(
                "its channel is closed, so the message goes back to the queue",
                "它的信道已经关闭，所以这条消息会回到队列",
            )
        elif self.on_error == "ack":
            channel.basic_ack(received.delivery_tag)
            settled = say("acked the message", "已确认这条消息")
        else:
            channel.basic_reject(received.delivery_tag, requeue=False)
            settled = say("rejected the message (not requeued)", "已拒绝这条消息（不重新入队）")
        what, body = _one_line(describe(error)), _body(received.body)
        print(
            say(
                f"{self.name}: the handler raised {what} on the message {body}; {settled}.",
                f"{self.name}：处理消息 {body} 时，handler 抛出了 {what}；{settled}。",
            ),
            file=sys.stderr,
            flush=True,
        )

    @property
    def bodies(self) -> list[bytes]:
        return [item.body for item in self.received]

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.received]

    def wait_for(self, count: int, timeout: float = 5.0, *, explain: bool | None = None) -> bool:
        """Block until `count` messages have arrived (True) or `timeout` passes (False, and it
        prints why, unless `explain` is False; by default only the learner's calls explain)."""
        if explain is None:
            explain = explaining()
        arrived = self._wait_until(lambda: len(self.received) >= count, lambda: not self.running, timeout)
        if not arrived and explain:
            print(self._why_not(count, timeout))
        return arrived

    def _why_not(self, count: int, timeout: float) -> str:
        has = len(self.received)
        said = say(
            f"{self.name} waited {timeout:g} s for {count} messages and has {has}.",
            f"{self.name} 等 {count} 条消息等了 {timeout:g} 秒，目前只收到 {has} 条。",
        )
        if not self.running:
            error = _one_line(describe(self.error)) if self.error is not None else None
            because = "" if error is None else say(f": {error}", f"：{error}")
            return say(
                f"{said} {self.name} has stopped{because}; run the cell that starts it again.",
                f"{said}{self.name} 已经停止{because}；请重新运行启动它的单元格。",
            )
        shown, cause = shows(self.broker, [self.queue]), likely_cause(self.broker, self.queue)
        return say(f"{said} {shown} {cause}", f"{said}{shown}{cause}")

    def stop(self) -> None:
        """Stop consuming and close the connection; unacked messages go back to the queue."""
        self._stop.set()
        self._untrack()
        if self._thread is not threading.current_thread() and self._thread.ident is not None:
            self._thread.join(STOP_SECONDS)
            if self._thread.is_alive():
                print(
                    say(
                        f"{self.name} is still busy with a message; it stops as soon as that is done.",
                        f"{self.name} 还在处理一条消息；处理完就会停止。",
                    )
                )

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def what(self) -> str:
        return say(
            f"{self.kind} {self.name!r} on {self.queue!r}",
            f"队列 {self.queue!r} 上的{_KINDS_ZH.get(self.kind, self.kind)} {self.name!r}",
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{self.name} on {self.queue!r}: {len(self.received)} received, {state}>"


class SubscriberSetupError(RuntimeError):
    """The learner's setup function did something a subscriber cannot work with."""


class SetupChannel:
    """The channel handed to a learner's setup function: the real pika channel, except that
    consuming is refused with a clear reason (the subscriber consumes once setup returns, and
    `start_consuming()` inside setup would block for ever)."""

    def __init__(self, channel: BlockingChannel) -> None:
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        if name in ("start_consuming", "basic_consume", "consume"):
            raise SubscriberSetupError(
                say(
                    f"leave channel.{name}() out of the setup function: it only declares and binds, "
                    "and returns the queue's name; the subscriber consumes from it afterwards",
                    f"setup 函数里不要调用 channel.{name}()：它只负责声明和绑定，并返回队列名；之后由订阅者"
                    "去消费这个队列",
                )
            )
        return getattr(self._channel, name)


def run_setup(setup: Callable[..., Any], channel: BlockingChannel, *args: Any) -> str:
    """Call `setup(channel, *args)` and insist on a queue name back."""
    queue = setup(SetupChannel(channel), *args)
    if not isinstance(queue, str) or not queue:
        raise SubscriberSetupError(
            say(
                f"the setup function returned {queue!r}; it must return the queue's name "
                "(result.method.queue), so the subscriber knows what to consume",
                f"setup 函数返回了 {queue!r}；它必须返回队列名（result.method.queue），订阅者才知道该消费"
                "哪个队列",
            )
        )
    return queue


class Subscriber(BackgroundConsumer):
    """receive_logs.py on a thread: its own connection runs `setup(channel, *args)` (declare the
    exchange, a temporary queue, the bindings; return the queue's name), then consumes that
    queue with auto_ack as the tutorial does. `.stop()` closes the connection, and with it the
    exclusive queue. Started again under the same `name`, it replaces the running one."""

    kind = "subscriber"

    def __init__(
        self, broker: BrokerHandle, setup: Callable[..., Any], *args: Any, name: str | None = None
    ) -> None:
        super().__init__(
            broker, "", name=name, auto_ack=True, setup=lambda channel: run_setup(setup, channel, *args)
        )

    def _not_started(self) -> str:
        if isinstance(self.error, SubscriberSetupError):
            reason = str(self.error)
        else:
            reason = startup_reason(self.error, self.broker.url)
            reason += say(f".{hint(reason)}", f"。{hint(reason)}")
        return say(
            f"{self.name} could not set up its queue: {reason}", f"{self.name} 无法设置它的队列：{reason}"
        )

    @property
    def what(self) -> str:
        return say(f"subscriber {self.name!r}", f"订阅者 {self.name!r}")
