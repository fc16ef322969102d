"""Recording the simulator: a listener on the core, which emits every step itself.

The core belongs to the server's thread, so subscribing, unsubscribing and snapshots all go
through `server.call`; the listener then runs on that thread and `Trace.add` takes the lock.
While nobody records, the core's `tracing` flag is off and no event is even built."""

from __future__ import annotations

import time
from collections.abc import Callable

from rabbitsim.backends import EmbeddedBroker, snapshot

from ._trace import Snapshots, Trace

#: How long `stop` waits at most for the server to go quiet (a consumer that never stops).
QUIET_TIMEOUT = 0.5


class SimRecorder:
    def __init__(self, handle: EmbeddedBroker, *, timeout: float = 5.0) -> None:
        self.handle = handle
        self.timeout = timeout
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, trace: Trace) -> None:
        broker = self.handle.broker

        def begin() -> None:  # one step on the broker's thread: no event falls between
            trace.topology = Snapshots(start=snapshot(broker))
            trace.started_at = broker.clock()
            self._unsubscribe = broker.subscribe(trace.add)

        self.handle.server.call(begin, self.timeout)

    def stop(self, trace: Trace) -> None:
        server, broker = self.handle.server, self.handle.broker
        self._settle(trace)

        def end() -> None:
            if self._unsubscribe is not None:
                self._unsubscribe()
            trace.topology = Snapshots(start=trace.topology.start, end=snapshot(broker))

        server.call(end, self.timeout)

    def _settle(self, trace: Trace) -> None:
        """Frames a client wrote just before the block ended (an ack, a last publish) may still
        be unread by the server: step its loop until a step adds no event. Two steps at least,
        because one may run before the loop has looked at the sockets."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        seen = -1
        while time.monotonic() < deadline:
            self.handle.server.call(_nothing, self.timeout)
            if len(trace) == seen:
                return
            seen = len(trace)


def _nothing() -> None:
    return None
