"""Consumers that run beside the notebook: a thread with its own pika connection, so the cell
that starts one returns at once and the learner can keep publishing. (A worker that is a real
process, to kill, is `_processes.WorkerProcess`; both stand on `RunningBeside`.)"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import pika
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import BrokerHandle

from ._client import connect

__all__ = [
    "BackgroundConsumer",
    "Received",
    "RunningBeside",
    "SetupChannel",
    "Subscriber",
    "SubscriberSetupError",
    "run_setup",
]

POLL_SECONDS = 0.02


class RunningBeside(ABC):
    """What runs beside the notebook while its cells go on: a `with` block stops it, and its
    waits end at a deadline or when it has ended, so a cell never hangs on a dead worker."""

    def __init__(self) -> None:
        #: notified whenever something arrives, and when the consumer ends
        self._changed = threading.Condition()

    @abstractmethod
    def stop(self) -> None: ...

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


class BackgroundConsumer(RunningBeside):
    """Consume `queue` on a thread of its own until `.stop()`.

    `auto_ack` as in `basic_consume`; with `ack=False` (and no auto_ack) messages are never
    acknowledged, the classic "forgot to ack" mistake; `prefetch` sets `basic_qos` first;
    `work_seconds(received)` is how long handling a message takes (the tutorial's dots);
    `handler(channel, received)` runs for each message before the ack (an RPC server replies
    there). `setup(channel)`, when given, runs on the consumer's own connection first and returns
    the queue to consume: an exclusive queue can only be consumed by the connection that
    declared it. Everything received is kept in `.received`, in order."""

    def __init__(
        self,
        broker: BrokerHandle,
        queue: str,
        *,
        name: str = "consumer",
        auto_ack: bool = False,
        ack: bool = True,
        prefetch: int | None = None,
        work_seconds: Callable[[Received], float] | None = None,
        handler: Handler | None = None,
        exclusive: bool = False,
        setup: Callable[[BlockingChannel], str] | None = None,
    ) -> None:
        super().__init__()
        self.broker, self.queue, self.name = broker, queue, name
        self.auto_ack, self.ack, self.prefetch, self.exclusive = auto_ack, ack, prefetch, exclusive
        self.work_seconds, self.handler, self.setup = work_seconds, handler, setup
        self.received: list[Received] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rabbitsim-{name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self.error is not None:
            self.stop()
            raise RuntimeError(f"{name} could not start consuming {queue!r}: {self.error!r}")

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
        except BaseException as error:  # kept for the notebook to see, not lost in a thread
            self.error = error
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
        if self.work_seconds is not None:
            time.sleep(self.work_seconds(received))
        if self.handler is not None:
            self.handler(channel, received)
        if not self.auto_ack and self.ack:
            channel.basic_ack(method.delivery_tag)
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    @property
    def bodies(self) -> list[bytes]:
        return [item.body for item in self.received]

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` messages have arrived (True) or `timeout` passes (False)."""
        return self._wait_until(lambda: len(self.received) >= count, lambda: not self.running, timeout)

    def stop(self) -> None:
        """Stop consuming and close the connection; unacked messages go back to the queue."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(10)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

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
                f"leave channel.{name}() out of the setup function: it only declares and binds, "
                "and returns the queue's name; the subscriber consumes from it afterwards"
            )
        return getattr(self._channel, name)


def run_setup(setup: Callable[..., Any], channel: BlockingChannel, *args: Any) -> str:
    """Call `setup(channel, *args)` and insist on a queue name back."""
    queue = setup(SetupChannel(channel), *args)
    if not isinstance(queue, str) or not queue:
        raise SubscriberSetupError(
            f"the setup function returned {queue!r}; it must return the queue's name "
            "(result.method.queue), so the subscriber knows what to consume"
        )
    return queue


class Subscriber(BackgroundConsumer):
    """receive_logs.py on a thread: its own connection runs `setup(channel, *args)` (declare the
    exchange, a temporary queue, the bindings; return the queue's name), then consumes that
    queue with auto_ack as the tutorial does. `.stop()` closes the connection, and with it the
    exclusive queue."""

    def __init__(
        self, broker: BrokerHandle, setup: Callable[..., Any], *args: Any, name: str = "subscriber"
    ) -> None:
        try:
            super().__init__(
                broker, "", name=name, auto_ack=True, setup=lambda channel: run_setup(setup, channel, *args)
            )
        except RuntimeError:
            reason = self.error if isinstance(self.error, SubscriberSetupError) else repr(self.error)
            raise RuntimeError(f"{name} could not set up its queue: {reason}") from self.error
