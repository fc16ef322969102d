"""The simulator's event source: a listener on the core, which emits every step itself.

The core belongs to the server's thread, so subscribing, unsubscribing and snapshots all go
through `server.call`; the listener then runs on that thread. While nobody listens, the core
does not even build events. Only `server.call`, `server.subscribe` and a snapshot function are
used, so the same source works for any server that offers those two calls."""

from __future__ import annotations

import time
from collections.abc import Callable

from rabbitsim.amqp import AMQPServer
from rabbitsim.vocabulary import Started, Stopped, Topology, TraceEvent

#: How long `stop` waits at most for the server to go quiet (a consumer that never stops).
QUIET_TIMEOUT = 0.5


class SimSource:
    """`read` takes a snapshot and must run on the server's thread; `clock` is the core's, so
    that the start time is on the clock the events are stamped with; `timeout` bounds each call."""

    def __init__(
        self,
        server: AMQPServer,
        read: Callable[[], Topology],
        clock: Callable[[], float],
        *,
        timeout: float = 5.0,
    ) -> None:
        self.server, self.read, self.clock, self.timeout = server, read, clock, timeout
        self._unsubscribe: Callable[[], None] | None = None
        self._delivered = 0  # counted on the server's thread, read by `_settle`

    def start(self, deliver: Callable[[TraceEvent], None]) -> Started:
        def listen(event: TraceEvent) -> None:
            self._delivered += 1
            deliver(event)

        def begin() -> Started:  # one step on the broker's thread: no event falls between
            started = Started(self.read(), self.clock())
            self._unsubscribe = self.server.subscribe(listen)
            return started

        return self.server.call(begin, self.timeout)

    def stop(self) -> Stopped:
        self._settle()

        def end() -> Stopped:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            return Stopped(self.read())

        return self.server.call(end, self.timeout)

    def topology(self) -> Topology:
        return self.server.call(self.read, self.timeout)

    def _settle(self) -> None:
        """Frames a client wrote just before the recording ended (an ack, a last publish) may
        still be unread by the server: step its loop until a step adds no event. Two steps at
        least, because one may run before the loop has looked at the sockets."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        seen = -1
        while time.monotonic() < deadline:
            self.server.call(_nothing, self.timeout)
            if self._delivered == seen:
                return
            seen = self._delivered


def _nothing() -> None:
    return None
