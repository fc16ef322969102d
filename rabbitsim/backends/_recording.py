"""`Trace`: the events one recording of a broker's event source collected, whichever backend.

A trace is filled by its source (the simulator's core listener, or the firehose consumer of a
real broker) on a thread of the source's, and read by the learner's thread, so every access goes
through one lock. It refuses events once stopped, so nothing that happens after the `with`
block can leak into it. It lives beside the handles, because `broker.trace()` makes one and a
layer may not import the layers above it; `rabbitsim.trace` is its public face."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, NamedTuple, Self

from rabbitsim.vocabulary import EventKind, EventSource, Node, NodeKind, Topology, TraceEvent

from ._compare import FIREHOSE_KINDS, FlowStep, flow


class TraceIncomplete(RuntimeError):
    """An event source could not deliver everything in time (a real broker's firehose);
    `trace.notes` says what."""


class Snapshots(NamedTuple):
    """The broker's topology when recording started and when it stopped. A tuple, so that it
    also reads as a sequence of snapshots whose last is the state after the trace: what the
    pictures in `rabbitsim.viz` take."""

    start: Topology | None = None
    end: Topology | None = None


class Trace:
    """Events recorded while a `with broker.trace() as t:` block ran.

    Read it with `.events`, `.of_kind(...)`, `.messages()`, `.path(message)`, `print(t)` (a
    table for people) or `.flow()` (the backend-independent form used to compare a simulator
    run with a real one). `.topology` shows the broker at the start and the end."""

    def __init__(self, source: EventSource, backend: str) -> None:
        self.backend = backend
        self.source = source
        self.started_at: float | None = None  # on the clock the events' `time` uses
        self.topology = Snapshots()
        self.notes: list[str] = []  # what the source could not see or had to guess
        self.complete = True
        self._events: list[TraceEvent] = []
        self._lock = threading.Lock()
        self._state = "new"  # -> "recording" -> "stopped"

    # --- recording -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Begin recording (what `with` does on entry); a trace records once."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"this trace is {self._state}; take a new one with broker.trace()")
            self._state = "recording"
        try:
            started = self.source.start(self.add)
        except BaseException:
            with self._lock:
                self._state = "stopped"
            raise
        self.topology = Snapshots(start=started.topology)
        self.started_at = started.time
        self.notes.extend(started.notes)
        return self

    def stop(self) -> None:
        """Stop recording once everything caused inside has arrived (what `with` does on exit).
        Raises `TraceIncomplete` when the source says steps may be missing."""
        with self._lock:
            if self._state != "recording":
                return
        try:
            stopped = self.source.stop()
        except BaseException:
            with self._lock:
                self._state = "stopped"
            raise
        with self._lock:
            self._events.extend(stopped.events)
            self._state = "stopped"
        self.topology = Snapshots(start=self.topology.start, end=stopped.topology)
        self.notes.extend(stopped.notes)
        if not stopped.complete:
            self.complete = False
            raise TraceIncomplete("; ".join(self.notes))

    def add(self, event: TraceEvent) -> None:
        """Append one event, from any thread; ignored unless recording. What a source delivers to."""
        with self._lock:
            if self._state == "recording":
                self._events.append(event)

    @property
    def recording(self) -> bool:
        return self._state == "recording"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.stop()
        except TraceIncomplete:
            if error is None:  # never hide the block's own exception behind ours
                raise

    # --- reading -----------------------------------------------------------------------------

    @property
    def events(self) -> list[TraceEvent]:
        """A copy, so it can be read while the source is still adding."""
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def of_kind(self, *kinds: EventKind | str) -> list[TraceEvent]:
        wanted = {EventKind(kind) for kind in kinds}
        return [event for event in self.events if event.kind in wanted]

    def where(self, test: Callable[[TraceEvent], bool]) -> list[TraceEvent]:
        return [event for event in self.events if test(event)]

    def messages(self) -> list[int]:
        """Message ids in the order each first appears."""
        return list(dict.fromkeys(event.message for event in self.events if event.message is not None))

    def path(self, message: int) -> list[TraceEvent]:
        """Everything that happened to one message (and its copies)."""
        return [event for event in self.events if event.message == message]

    def counts(self) -> Counter[str]:
        return Counter(str(event.kind) for event in self.events)

    def flow(self, kinds: tuple[EventKind, ...] | None = None) -> list[FlowStep]:
        """The backend-independent form: see `rabbitsim.trace.flow`."""
        return flow(self.events, FIREHOSE_KINDS if kinds is None else kinds)

    # --- showing -----------------------------------------------------------------------------

    def log(self, *, limit: int | None = None) -> str:
        """A table for people: time since the start, kind, message, from, to, routing key."""
        events = self.events
        shown = events if limit is None else events[:limit]
        start = self.started_at if self.started_at is not None else (events[0].time if events else 0.0)
        rows = [("ms", "event", "msg", "from", "to", "key", "detail")]
        for event in shown:
            rows.append(
                (
                    f"{(event.time - start) * 1000:.1f}",
                    str(event.kind),
                    "" if event.message is None else str(event.message),
                    label(event.source),
                    label(event.target),
                    "" if event.routing_key is None else repr(event.routing_key),
                    _detail(event.detail),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        if limit is not None and len(events) > limit:
            lines.append(f"... {len(events) - limit} more")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.log()

    def __repr__(self) -> str:
        return f"<Trace {self.backend}: {len(self)} events, {self._state}>"


#: How each kind of node is shown in the log: short, and the default exchange named as the UI does.
_LABELS: dict[NodeKind, Callable[[Node], str]] = {
    NodeKind.PUBLISHER: lambda node: f"publisher {node.name}",
    NodeKind.EXCHANGE: lambda node: f"exchange {node.name or '(AMQP default)'}",
    NodeKind.QUEUE: lambda node: f"queue {node.name}",
    NodeKind.CONSUMER: lambda node: (
        f"consumer {node.name}"
        if node.name == f"{node.connection}#{node.channel}"
        else f"consumer {node.name} on {node.connection}#{node.channel}"
    ),
    NodeKind.CHANNEL: lambda node: f"channel {node.name}",
    NodeKind.CONNECTION: lambda node: f"connection {node.name}",
}

_HIDDEN_DETAIL = {"properties", "arguments", "headers"}


def label(node: Node | None) -> str:
    return "" if node is None else _LABELS[node.kind](node)


def _detail(detail: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in detail.items() if key not in _HIDDEN_DETAIL)
