"""Following a broker live: its events as they happen, the latest of them kept, and its topology
on demand, all from the event source its handle supplies. What `rabbitsim.viz.live` draws, the
same on every backend and wherever the broker runs. Unlike a `Trace` it forgets old events, so
it can run as long as a notebook stays open, and it can be stopped and started again."""

from __future__ import annotations

from collections import deque
from typing import Protocol, Self

from rabbitsim.vocabulary import EventSource, Topology, TraceEvent

#: How many of the latest events a following keeps.
KEPT_EVENTS = 20_000


class Followable(Protocol):
    """What following needs of a broker handle (every `rabbitsim.backends.BrokerHandle`)."""

    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> EventSource: ...

    def topology(self) -> Topology: ...


class Following:
    """`handle`'s events while following (from `start()` to `stop()`, any number of times).
    `.events` are the latest `keep`; `.seen` counts every event received, so that a reader can
    tell which are new. `timeout` bounds each wait on the broker."""

    def __init__(self, handle: Followable, *, keep: int = KEPT_EVENTS, timeout: float = 5.0) -> None:
        self.handle, self.timeout = handle, timeout
        self.seen = 0
        self._events: deque[TraceEvent] = deque(maxlen=keep)  # appended on the source's thread
        self._source: EventSource | None = None

    @property
    def following(self) -> bool:
        return self._source is not None

    def start(self) -> Self:
        """Follow from now on: a new source, since a source serves one recording."""
        if self._source is None:
            source = self.handle.events(timeout=self.timeout)
            source.start(self._add)
            self._source = source
        return self

    def stop(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.stop()

    def topology(self) -> Topology:
        """A snapshot now, without the source's own machinery (a firehose consumer) in it."""
        source = self._source
        return source.topology() if source is not None else self.handle.topology()

    @property
    def events(self) -> list[TraceEvent]:
        return list(self._events)

    def _add(self, event: TraceEvent) -> None:
        """On the source's thread (the broker's, on the simulator): keep it cheap."""
        self._events.append(event)
        self.seen += 1


def follow(handle: Followable, *, keep: int = KEPT_EVENTS, timeout: float = 5.0) -> Following:
    """Start following `handle`."""
    return Following(handle, keep=keep, timeout=timeout).start()
