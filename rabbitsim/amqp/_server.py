"""The asyncio server: one event loop in a daemon thread owns the broker core, so the core
stays single-threaded. Each socket gets an `AMQPConnection`. Whoever calls the core drains
its output road through `route`: each item goes to the connection it is for, events to the
listeners. After a burst of input, one flush writes each socket once."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rabbitsim.broker import Broker, Output, TraceEvent

from ._connection import HANDSHAKE_TIMEOUT, AMQPConnection, route
from ._resources import ResourceMonitor

T = TypeVar("T")
TICK_SECONDS = 1.0
COMMIT_RETRY_SECONDS = 1.0
#: How long a clean stop waits for clients to answer connection.close before it hangs up.
SHUTDOWN_GRACE = 1.0


class _Wire(asyncio.Protocol):
    def __init__(self, server: AMQPServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.amqp: AMQPConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        server = self.server
        self.amqp = AMQPConnection(
            server.broker,
            from_loopback=_is_loopback(peer),
            to_loopback=_is_loopback(transport.get_extra_info("sockname")),
            handshake_timeout=server.handshake_timeout,
            peer=_address(peer),
            local=_address(transport.get_extra_info("sockname")),
        )
        self.amqp.router = server.route
        self.amqp.on_output = lambda: server.mark(self)
        self.amqp.on_hold = self.hold
        server.wires.add(self)
        server.tick_later(self, server.handshake_timeout + 0.01)  # just after the handshake is due

    def data_received(self, data: bytes) -> None:
        assert self.amqp is not None
        self.server.monitor.received(len(data))
        self.amqp.receive(data)
        self.server.mark(self)
        self.server.schedule_flush()

    def hold(self, held: bool) -> None:
        """A resource alarm blocked the connection: stop reading its socket, so that a client
        publishing on regardless fills its buffers and waits; when unblocked, read on, starting
        with what was held back."""
        if self.transport is None or self.transport.is_closing():
            return
        if held:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()
            self.server.call_soon(lambda: self.data_received(b""))

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.wires.discard(self)
        if self.amqp is not None:
            self.amqp.lost()
            self.server.schedule_flush()

    def write_pending(self) -> None:
        if self.amqp is None or self.transport is None or self.transport.is_closing():
            return
        data = self.amqp.data_to_send()
        if data:
            self.transport.write(data)
        if self.amqp.closed:
            if self.amqp.reset:  # as RabbitMQ drops a handshake that took too long: a TCP reset
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.transport.abort()
            else:
                self.transport.close()


def _address(address: Any) -> tuple[str, int]:
    """(host, port) of a socket address (IPv4 or IPv6); ("", 0) when there is none."""
    try:
        return str(address[0]), int(address[1])
    except (TypeError, ValueError, IndexError):
        return "", 0


def _is_loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


class AMQPServer:
    """Serves a `Broker` over AMQP 0-9-1 on a TCP port, from a background thread."""

    def __init__(
        self,
        broker: Broker | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        keeper: Callable[[Any], None] | None = None,
        commit: Callable[[], bool] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """`keeper` takes what the core says a restart keeps (a store's `take`); `commit` writes
        it, and is called before any socket is written, so no confirm leaves before its
        message is stored. When it fails (False), nothing is written; it is tried again."""
        self.handshake_timeout = handshake_timeout
        self.keeper = keeper
        self.commit = commit
        self.broker = broker or Broker(clock=time.monotonic)
        if self.broker.wall_clock is None:  # dead letters' x-death times are dates
            self.broker.wall_clock = time.time
        self.host = host
        self.wires: set[_Wire] = set()
        self._dirty: dict[_Wire, None] = {}  # wires with something to write, in order
        self._listeners: list[Callable[[TraceEvent], None]] = []
        self._flush_scheduled = False
        self._retry: asyncio.TimerHandle | None = None  # the next try of a failed commit
        self._expiry: asyncio.TimerHandle | None = None  # the next run of the core's timers
        self._expiry_at = 0.0  # when it is due, on the broker's clock
        self._loop = asyncio.new_event_loop()
        #: memory and free disk (of `data_dir`) for the core's resource alarms
        self.monitor = ResourceMonitor(
            self.broker, self._loop, Path(data_dir or tempfile.gettempdir()), self.schedule_flush
        )
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port,), name="rabbitsim-broker", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _Wire(self), self.host, port, reuse_address=True)
            )
        except BaseException as error:
            self._failure = error
            self._ready.set()
            return
        self._loop.call_later(TICK_SECONDS, self._tick)
        self.monitor.start()
        self._loop.call_soon(self._ready.set)  # once the loop runs: `call` works from then on
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    # --- flushing ------------------------------------------------------------------------------

    def call_soon(self, function: Callable[[], object]) -> None:
        """Run `function` on the broker's thread once the current work is done."""
        self._loop.call_soon(function)

    def mark(self, wire: _Wire) -> None:
        """`wire` has something to write at the next flush."""
        self._dirty[wire] = None

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def route(self, items: list[Output]) -> None:
        """The core's output to the connections, and its events to this server's listeners."""
        route(items, self._listeners, self.keeper)

    def _flush(self) -> None:
        """Route what the core produced since the last call, commit what must be stored, then
        write each socket once."""
        self._flush_scheduled = False
        if self.broker.output:
            self.route(self.broker.take_output())
        if self.commit is not None and not self.commit():
            if self._retry is None:  # hold every write until the store has it (a full disk)
                self._retry = self._loop.call_later(COMMIT_RETRY_SECONDS, self._retry_commit)
            return
        dirty, self._dirty = self._dirty, {}
        for wire in dirty:
            wire.write_pending()
        self._arm_expiry()

    def _retry_commit(self) -> None:
        self._retry = None
        self._flush()

    # --- time-based work in the core (message TTL, x-expires) -----------------------------------

    def _arm_expiry(self) -> None:
        """Run the core's timers when the next one is due (a TTL of 100 ms is seen within
        milliseconds), not by polling: one call_later, moved only when something falls due
        sooner. Every flush re-arms it, so new timers are picked up after each input."""
        due = self.broker.next_due()
        if due is None or (self._expiry is not None and self._expiry_at <= due):
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = due
        self._expiry = self._loop.call_later(max(0.0, due - self.broker.clock()), self._run_expiry)

    def _run_expiry(self) -> None:
        self._expiry = None
        self.broker.run_due()
        self._flush()  # deliveries the expiry caused (dead letters); re-arms the timer

    def tick_later(self, wire: _Wire, delay: float) -> None:
        """Run one connection's timers after `delay` (a deadline the once-a-second tick would
        otherwise meet up to a second late)."""

        def tick() -> None:
            if wire.amqp is not None and wire in self.wires:
                wire.amqp.tick()
                self.mark(wire)
                self._flush()

        self._loop.call_later(delay, tick)

    def _tick(self) -> None:
        for wire in list(self.wires):
            if wire.amqp is not None:
                wire.amqp.tick()  # may queue a heartbeat, or give up on a silent peer
                self.mark(wire)
        self._flush()
        self._loop.call_later(TICK_SECONDS, self._tick)

    # --- events -------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[TraceEvent], None]) -> Callable[[], None]:
        """Call `listener` with every core event from now on, on the broker's thread; returns the
        function that stops it. Call both inside `call`, so that a snapshot taken in the same
        call is exactly the state before the first event."""
        if self.broker.output:  # what happened before belongs to earlier listeners
            self.route(self.broker.take_output())
        self._listeners.append(listener)
        self.broker.tracing = True

        def unsubscribe() -> None:
            if self.broker.output:  # what happened so far is still this listener's
                self.route(self.broker.take_output())
            if listener in self._listeners:
                self._listeners.remove(listener)
            self.broker.tracing = bool(self._listeners)

        return unsubscribe

    # --- control from other threads ------------------------------------------------------------

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `function` on the broker's thread (the core is not thread-safe) and return its result."""
        if threading.current_thread() is self._thread:
            return function()
        if not self._loop.is_running():  # closed: nothing would ever run it
            raise RuntimeError("the embedded broker is closed")
        return asyncio.run_coroutine_threadsafe(self._call(function), self._loop).result(timeout)

    async def _call(self, function: Callable[[], T]) -> T:
        self.broker.run_due()  # a snapshot sees what has expired by now
        result = function()
        self.schedule_flush()
        return result

    @property
    def closed(self) -> bool:
        return not self._loop.is_running()

    def close(self, *, clean: bool = False) -> None:
        """Stop serving. `clean`, as `rabbitmqctl stop` does: every connection is closed with
        RabbitMQ's shutdown reason (so its unacked messages go back to their queues), what must
        be stored is committed, then the sockets go. Otherwise they are dropped at once."""
        if not self._loop.is_running():
            return

        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            if clean:
                reason = self.broker.shutdown()
                for wire in list(self.wires):
                    if wire.amqp is not None and not wire.amqp.closed:
                        wire.amqp.close_for(reason)
                        self.mark(wire)
                self._flush()
                deadline = self._loop.time() + SHUTDOWN_GRACE
                while (
                    any(not wire.amqp.closed for wire in self.wires if wire.amqp)
                    and self._loop.time() < deadline
                ):
                    await asyncio.sleep(0.02)
                for wire in list(self.wires):
                    if wire.amqp is not None:
                        wire.amqp.lost()
                self._flush()
            for wire in list(self.wires):
                if wire.transport is not None:
                    if clean:
                        wire.transport.close()  # what was written still goes out
                    else:
                        wire.transport.abort()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
