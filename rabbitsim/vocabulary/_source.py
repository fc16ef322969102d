"""What a broker handle offers for watching a broker: an event source.

Whatever the backend (the simulator's core, in this process or another; a real RabbitMQ's
firehose), a source hands over the same events and the same snapshots, so a recording or a live
view needs to know nothing else about where the broker lives. What a source says at its two
ends is plain data, so a source can be a proxy for a broker in another process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ._events import TraceEvent
from ._topology import Topology


@dataclass(frozen=True, slots=True)
class Started:
    """The broker as a recording begins. `topology` is None when the broker gave no consistent
    snapshot (the notes say so); `time` is on the clock the events' `time` is on."""

    topology: Topology | None
    time: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stopped:
    """The broker as a recording ends. `events` are derived only at the end (a real broker's
    acks, from its statistics) and follow the delivered ones; `notes` say what the source could
    not see or had to guess; `complete` is False when steps inside the recording may be missing."""

    topology: Topology | None
    events: tuple[TraceEvent, ...] = ()
    notes: tuple[str, ...] = ()
    complete: bool = True


class EventSource(Protocol):
    """One broker's events, for one recording: `start` once, then `stop` once.

    `start(deliver)` calls `deliver` with every event from then on, on a thread of the source's
    (so `deliver` must be quick and thread-safe), and returns the topology just before the first
    of them: no event falls between the snapshot and the events, none is delivered twice.
    `stop()` first lets in the events of what clients sent before it was called (frames still in
    flight), then stops delivering and returns the topology at the end. `topology()` is a
    snapshot at any moment, without the source's own machinery (a firehose consumer) in it."""

    def start(self, deliver: Callable[[TraceEvent], None]) -> Started: ...

    def stop(self) -> Stopped: ...

    def topology(self) -> Topology: ...
