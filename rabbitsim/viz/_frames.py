"""The animation as data: a trace and a topology in, frames out (tokens on edges, queue depths,
marks for acks, requeues and drops). Pure: no matplotlib, so tests read frames directly, and
every renderer (HTML, PNG frames, the widget player) draws the same story.

Time is counted in hops: a token takes one unit to cross an edge. Events are played in their
order, but a burst of independent actions (one publish fanned out to three consumers, say)
starts together, and a long trace is compressed by starting several actions per unit (`rate`),
so that 200 messages take about as many frames as `max_frames` allows. What causes what is
kept: a copy of a message (the message in one queue) is not delivered before it arrives, nor
acked before it is delivered; a channel does not act before what it received arrived (an RPC
server answers after the request came), and a delivery after an ack waits for it (prefetch).
So depths never go below zero, and the trace's own counts end where the broker did.

A stream is not a queue with a depth: its messages stay in its log when delivered and acked.
Its frames carry the log as `LogView`s (see `_stream`): appends land at the end as a message
reaches it, each consumer's marker moves as it receives, retention cuts from the start."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from rabbitsim.vocabulary import REPLY_QUEUE, EventKind, Node, NodeKind, Topology, TraceEvent

from ._graph import DEFAULT_EXCHANGE, drawn_as, graph, resolve, streams_of, traced_vhost
from ._layout import Layout, layout
from ._stream import HELD, STREAM_TYPE, LogView, Step, StreamLog, initial_log, log_steps, place_by_argument

MARK_DURATION = 0.75  # how long an ack, requeue or drop glyph stays, in hops
PIPELINE = 4.0  # the hops after the last action: publish, route, deliver, ack
DWELL = 0.5  # a message stops in its queue at least this long, so its depth is seen to rise
EPSILON = 1e-9

# Actions start a new step of the story; the other flow events are their immediate consequences.
# Two actions of one kind by different actors (three consumers receiving one fanned-out
# message) share a step; the same actor acting twice takes two. Changes to the topology are
# steps too: a message published before its consumer came waits in its queue meanwhile.
ACTORS: dict[EventKind, Callable[[TraceEvent], object]] = {
    EventKind.DECLARE: lambda event: event.source,
    EventKind.DELETE: lambda event: event.source,
    EventKind.BIND: lambda event: (event.source, event.target),
    EventKind.UNBIND: lambda event: (event.source, event.target),
    EventKind.PURGE: lambda event: event.source,
    EventKind.CONSUMER_ADDED: lambda event: event.target,
    EventKind.CONSUMER_CANCELLED: lambda event: event.target,
    EventKind.PUBLISH: lambda event: event.source,
    EventKind.DELIVER: lambda event: event.target,
    EventKind.ACK: lambda event: event.target,
    EventKind.NACK: lambda event: event.target,
    EventKind.REJECT: lambda event: event.target,
    EventKind.REQUEUE: lambda event: (event.source, event.message),
    EventKind.EXPIRE: lambda event: (event.source, event.message),
}


@dataclass(frozen=True, slots=True)
class Token:
    """A message on its way along an edge: `progress` 0 at `source`, towards 1 at `target`.
    `style` is 'message', 'requeue' (going back to its queue) or 'return' (to its publisher)."""

    message: int
    source: str
    target: str
    progress: float
    x: float
    y: float
    colour: int
    style: str = "message"


@dataclass(frozen=True, slots=True)
class Mark:
    """A glyph shown at a node for a moment: 'ack', 'nack', 'reject', 'drop', 'requeue',
    'return' or 'confirm'; `age` runs from 0 to 1 while it shows."""

    node: str
    kind: str
    x: float
    y: float
    age: float


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    time: float  # in hops
    tokens: tuple[Token, ...]
    ready: Mapping[str, int]  # queue node → messages ready
    unacked: Mapping[str, int]  # queue node → delivered, not yet acked
    marks: tuple[Mark, ...]
    events: tuple[int, ...]  # indices into Film.events that happen in this frame
    logs: Mapping[str, LogView] = field(default_factory=dict)  # stream node → its log


@dataclass(frozen=True)
class Film:
    """Everything a renderer needs: the frames, the events they tell (for the log), the graph
    and its layout, and what each token colour stands for."""

    frames: tuple[Frame, ...]
    events: tuple[TraceEvent, ...]
    event_frames: tuple[int, ...]  # the frame each event happens in
    graph: nx.DiGraph
    layout: Layout
    keys: tuple[str, ...]  # colour index → the routing key (or message) it stands for
    scale: int  # the deepest any queue got: depth bars are drawn against it
    frames_per_hop: float  # as asked, or fewer when a long trace had to be sampled coarsely
    colour_by: str
    rate: float  # actions started per hop

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues drawn with a depth bar (streams are drawn as logs)."""
        return tuple(n for column in self.layout.layers for n in column if _is_queue(self.graph, n))

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(n for column in self.layout.layers for n in column if _is_stream(self.graph, n))


@dataclass(frozen=True, slots=True)
class _Hop:
    start: float
    source: str
    target: str
    message: int
    style: str = "message"


@dataclass
class _Scheduler:
    """Walks the events once, giving each a time and collecting hops, count changes and marks.
    A copy (message, queue) remembers when it is free for its next step and where it is."""

    rate: float
    groups: Sequence[int]
    graph: nx.DiGraph
    base: float = 0.0
    free_at: dict[tuple[int, str], float] = field(default_factory=dict)
    state: dict[tuple[int, str], str] = field(default_factory=dict)  # ready | held | out | gone
    holder: dict[tuple[int, str], str] = field(default_factory=dict)
    replied: set[int] = field(default_factory=set)  # delivered through direct reply-to
    # A channel reacts to what it received (an RPC server answers after the request arrives)
    # and a delivery after an ack waits for that ack (prefetch): per channel, the arrival of
    # its latest delivery and the time of its latest own action.
    received: dict[tuple[str, int], float] = field(default_factory=dict)
    acted: dict[tuple[str, int], float] = field(default_factory=dict)
    hops: list[_Hop] = field(default_factory=list)
    changes: list[tuple[float, str, int, int]] = field(default_factory=list)  # time, queue, ready, unacked
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # time, node, kind
    times: list[float] = field(default_factory=list)
    # streams: the log steps of the trace by event index, and when each happens
    steps: Mapping[int, Step] = field(default_factory=dict)
    log_changes: list[tuple[float, Step]] = field(default_factory=list)
    appended: dict[str, float] = field(default_factory=dict)  # stream → its latest append

    def run(self, events: Sequence[TraceEvent]) -> None:
        streams = set(streams_of(self.graph)) if self.steps else set()
        for index, event in enumerate(events):
            self.base = self.groups[index] / self.rate
            handler = _HANDLERS.get(event.kind) if event.message is not None else None
            if (
                handler is not None
                and streams
                and event.source is not None
                and self.at(event.source) in streams
            ):
                handler = _STREAM_HANDLERS.get(event.kind, _Scheduler.unchanged)
            at = handler(self, event, event.message) if handler else self.base
            self.times.append(at)
            step = self.steps.get(index)
            if step is not None:
                self.log_changes.append((at, step))

    def at(self, node: Node) -> str:
        """The graph node where `node` is drawn."""
        return drawn_as(self.graph, node)

    def when(self, copy: tuple[int, str]) -> float:
        return max(self.base, self.free_at.get(copy, self.base))

    def hop(self, start: float, source: str, target: str, message: int, style: str = "message") -> float:
        self.hops.append(_Hop(start, source, target, message, style))
        return start + 1

    # --- one handler per kind of message event -------------------------------------------------

    def publish(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None and event.target is not None
        exchange, channel = self.at(event.target), _channel(event.source)
        start = max(self.base, self.received.get(channel, 0.0), self.acted.get(channel, 0.0))
        self.acted[channel] = start
        self.free_at[(message, exchange)] = self.hop(start, self.at(event.source), exchange, message)
        return start

    def route(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None and event.target is not None
        source, target = self.at(event.source), self.at(event.target)
        start = self.free_at.get((message, source), self.base)
        self.free_at[(message, target)] = self.hop(start, source, target, message)
        return start

    def enqueue(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None
        queue = self.at(event.source)
        at = self.free_at.get((message, queue), self.base)
        self.changes.append((at, queue, 1, 0))
        self.state[(message, queue)] = "ready"
        return at

    def deliver(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None and event.target is not None
        queue, consumer = self.at(event.source), self.at(event.target)
        copy = (message, queue)
        if queue.endswith(REPLY_QUEUE) and copy not in self.state:  # no route, no enqueue
            self.replied.add(message)
            arrival = self.free_at.get((message, DEFAULT_EXCHANGE), self.base)
            self.free_at[copy] = self.hop(arrival, DEFAULT_EXCHANGE, queue, message)
        waiting = self.state.get(copy) == "ready"
        channel = _channel(event.target)
        start = max(
            self.base, self.free_at.get(copy, self.base) + DWELL * waiting, self.acted.get(channel, 0.0)
        )
        acked = not event.detail.get("no_ack")
        self.changes.append((start, queue, -waiting, int(acked)))
        self.state[copy] = "held" if acked else "out"
        self.holder[copy] = consumer
        arrival = self.free_at[copy] = self.hop(start, queue, consumer, message)
        self.received[channel] = max(self.received.get(channel, 0.0), arrival)
        return start

    def settle(self, event: TraceEvent, message: int) -> float:
        """ack, nack, reject: the consumer's answer shows at the consumer."""
        assert event.source is not None and event.target is not None
        copy, channel = (message, self.at(event.source)), _channel(event.target)
        at = max(self.when(copy), self.received.get(channel, 0.0))
        self.acted[channel] = at
        if self.state.get(copy) == "held":
            self.changes.append((at, copy[1], 0, -1))
            self.state[copy] = "out"
        self.marks.append((at, self.at(event.target), event.kind.value))
        self.free_at[copy] = at
        return at

    def requeue(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None
        queue = self.at(event.source)
        copy = (message, queue)
        at = self.when(copy)
        if self.state.get(copy) == "held":  # closed channel: no nack came first
            self.changes.append((at, queue, 0, -1))
        consumer = self.holder.get(copy)
        back = self.hop(at, consumer, queue, message, "requeue") if consumer else at
        self.changes.append((back, queue, 1, 0))
        self.marks.append((back, queue, "requeue"))
        self.state[copy] = "ready"
        self.free_at[copy] = back
        return at

    def drop(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None
        node = self.at(event.source)
        copy = (message, node)
        at = self.when(copy)
        if event.source.kind is NodeKind.EXCHANGE:
            if message not in self.replied:  # a direct reply-to reply is also reported unroutable
                self.marks.append((at, node, "drop"))
            return at
        state = self.state.get(copy)
        if state == "ready":
            self.changes.append((at, node, -1, 0))
            self.marks.append((at, node, "drop"))
        elif state == "held":
            self.changes.append((at, node, 0, -1))
            self.marks.append((at, self.holder.get(copy, node), "drop"))
        self.state[copy] = "gone"
        return at

    def returned(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None and event.target is not None
        exchange, producer = self.at(event.source), self.at(event.target)
        at = self.free_at.get((message, exchange), self.base)
        back = self.hop(at, exchange, producer, message, "return")
        self.marks.append((back, producer, "return"))
        channel = _channel(event.target)
        self.received[channel] = max(self.received.get(channel, 0.0), back)
        return at

    def confirm(self, event: TraceEvent, message: int) -> float:
        assert event.source is not None and event.target is not None
        at = self.free_at.get((message, self.at(event.source)), self.base)
        self.marks.append((at, self.at(event.target), "confirm" if event.detail.get("ack", True) else "nack"))
        return at

    def dead_letter(self, event: TraceEvent, message: int) -> float:
        """A copy leaves its queue for the dead-letter exchange: a hop from queue to exchange,
        whose ROUTE and ENQUEUE follow. Both ends are named by the simulator and by a real
        broker's derived events; an event naming only one is not drawn."""
        if event.source is None or event.target is None:
            return self.base
        source, target = self.at(event.source), self.at(event.target)
        at = self.when((message, source))
        if self.state.get((message, source)) == "ready":  # it leaves its queue (unless expired first)
            self.changes.append((at, source, -1, 0))
        self.state[(message, source)] = "gone"
        self.free_at[(message, target)] = self.hop(at, source, target, message)
        return at

    # --- a stream: the message stays in the log ------------------------------------------------

    def append(self, event: TraceEvent, message: int) -> float:
        """Into a stream's log, when the message reaches it; no depth changes."""
        assert event.source is not None
        stream = self.at(event.source)
        at = self.free_at.get((message, stream), self.base)
        self.appended[stream] = at
        return at

    def read(self, event: TraceEvent, message: int) -> float:
        """A consumer reads from the log: a token leaves, the message stays. Several consumers
        read the same message independently; a message appended during the trace is read
        after it arrived."""
        assert event.source is not None and event.target is not None
        stream, consumer = self.at(event.source), self.at(event.target)
        channel = _channel(event.target)
        appended = self.free_at.get((message, stream))
        start = max(
            self.base,
            self.base if appended is None else appended + DWELL,
            self.acted.get(channel, 0.0),
        )
        arrival = self.free_at[(message, consumer)] = self.hop(start, stream, consumer, message)
        self.received[channel] = max(self.received.get(channel, 0.0), arrival)
        return start

    def settle_read(self, event: TraceEvent, message: int) -> float:
        """An ack (or nack) of a stream's delivery shows at the consumer and removes nothing."""
        assert event.target is not None
        consumer, channel = self.at(event.target), _channel(event.target)
        at = max(self.base, self.free_at.get((message, consumer), self.base), self.received.get(channel, 0.0))
        self.acted[channel] = at
        self.marks.append((at, consumer, event.kind.value))
        return at

    def retire(self, event: TraceEvent, message: int) -> float:
        """Retention (or deletion) removes the message from the log's start."""
        assert event.source is not None
        stream = self.at(event.source)
        # the append that made retention run comes first in the trace: cut after it shows
        at = max(self.base, self.free_at.get((message, stream), self.base), self.appended.get(stream, 0.0))
        self.marks.append((at, stream, "drop"))
        return at

    def unchanged(self, event: TraceEvent, message: int) -> float:
        return self.base


def _channel(node: Node) -> tuple[str, int]:
    return (node.connection, node.channel)


_HANDLERS: dict[EventKind, Callable[[_Scheduler, TraceEvent, Any], float]] = {
    EventKind.PUBLISH: _Scheduler.publish,
    EventKind.ROUTE: _Scheduler.route,
    EventKind.ENQUEUE: _Scheduler.enqueue,
    EventKind.DELIVER: _Scheduler.deliver,
    EventKind.ACK: _Scheduler.settle,
    EventKind.NACK: _Scheduler.settle,
    EventKind.REJECT: _Scheduler.settle,
    EventKind.REQUEUE: _Scheduler.requeue,
    EventKind.DROP: _Scheduler.drop,
    EventKind.EXPIRE: _Scheduler.drop,
    EventKind.RETURN: _Scheduler.returned,
    EventKind.CONFIRM: _Scheduler.confirm,
    EventKind.DEAD_LETTER: _Scheduler.dead_letter,
}


_STREAM_HANDLERS: dict[EventKind, Callable[[_Scheduler, TraceEvent, Any], float]] = {
    EventKind.ENQUEUE: _Scheduler.append,
    EventKind.DELIVER: _Scheduler.read,
    EventKind.ACK: _Scheduler.settle_read,
    EventKind.NACK: _Scheduler.settle_read,
    EventKind.REJECT: _Scheduler.settle_read,
    EventKind.DROP: _Scheduler.retire,
    EventKind.EXPIRE: _Scheduler.retire,
}


def groups(events: Sequence[TraceEvent]) -> list[int]:
    """The step each event belongs to: a new step at each action, unless it is one more action
    of the same kind by an actor that has not acted in the current step."""
    found, step, kind, actors = [], -1, None, set[object]()
    for event in events:
        actor_of = ACTORS.get(event.kind)
        if actor_of is not None:
            actor = actor_of(event)
            if event.kind is not kind or actor in actors:
                step, kind, actors = step + 1, event.kind, set()
            actors.add(actor)
        found.append(max(step, 0))
    return found


def frames(
    source: Any = None,
    events: Iterable[TraceEvent] = (),
    *,
    topology: Topology | None = None,
    vhost: str | None = None,
    frames_per_hop: int = 4,
    max_frames: int = 240,
    colour_by: str = "auto",
) -> Film:
    """The frames of a trace (see `graph` for what `source` may be). `topology` is the snapshot
    taken after the trace: its counts give each queue's depth at the end, so a trace that
    started while messages were waiting still shows them. `colour_by` is 'routing_key',
    'message', or 'auto' (by key where keys differ, else by message). Long traces are
    compressed to about `max_frames`."""
    topology, found = resolve(source, events, topology)
    vhost = vhost or traced_vhost(found)
    found = [event for event in found if event.vhost == vhost]
    picture = graph(topology, found, vhost=vhost)
    where = layout(picture)
    steps = groups(found)
    target = max(1.0, max_frames / frames_per_hop - PIPELINE)
    rate = max(1.0, (steps[-1] + 1 if steps else 0) / target)
    logged, numbered = log_steps(found, streams_of(picture), lambda node: drawn_as(picture, node))
    for _attempt in range(4):  # long causal chains can overrun the estimate: compress more
        scheduler = _Scheduler(rate, steps, picture, steps=dict(logged))
        scheduler.run(found)
        wanted = math.ceil(_end(scheduler) * frames_per_hop) + 1
        if wanted <= max_frames:
            break
        rate *= wanted / max_frames * 1.1
    # a chain of causes longer than the budget (a hundred RPC round trips) cannot be compressed
    # by starting more at once: sample it more coarsely instead
    per_hop = min(float(frames_per_hop), (max(max_frames, 2) - 1) / max(_end(scheduler), EPSILON))
    return _film(picture, where, found, scheduler, per_hop, colour_by, rate, numbered)


def _end(scheduler: _Scheduler) -> float:
    return max(
        [hop.start + 1 for hop in scheduler.hops]
        + [at + MARK_DURATION for at, _node, _kind in scheduler.marks]
        + [at for at, *_ in scheduler.changes]
        + scheduler.times
        + [0.0]
    )


def _film(
    picture: nx.DiGraph,
    where: Layout,
    events: list[TraceEvent],
    scheduler: _Scheduler,
    per_hop: float,
    colour_by: str,
    rate: float,
    numbered: set[str],
) -> Film:
    count = math.ceil(_end(scheduler) * per_hop) + 1
    colour_by = _colour_mode(events, colour_by)
    colours, keys = _colours(events, colour_by)
    tokens: list[list[Token]] = [[] for _ in range(count)]
    for hop in scheduler.hops:
        if hop.source not in where.positions or hop.target not in where.positions:
            continue
        (x0, y0), (x1, y1) = where.path(hop.source, hop.target)
        for index in range(_frame_at(hop.start, per_hop), _frame_at(hop.start + 1, per_hop)):
            progress = index / per_hop - hop.start
            tokens[index].append(
                Token(
                    hop.message,
                    hop.source,
                    hop.target,
                    round(progress, 6),
                    x0 + (x1 - x0) * progress,
                    y0 + (y1 - y0) * progress,
                    colours.get(hop.message, 0),
                    hop.style,
                )
            )
    marks: list[list[Mark]] = [[] for _ in range(count)]
    for at, node, kind in scheduler.marks:
        if node in where.positions:
            x, y = where.positions[node]
            for index in range(_frame_at(at, per_hop), _frame_at(at + MARK_DURATION, per_hop)):
                marks[index].append(Mark(node, kind, x, y, round((index / per_hop - at) / MARK_DURATION, 6)))
    queues = [n for n in picture.nodes if _is_queue(picture, n)]
    ready, unacked = _initial_counts(picture, queues, scheduler.changes)
    changes = sorted(scheduler.changes, key=lambda change: change[0])
    happening: list[list[int]] = [[] for _ in range(count)]
    event_frames = [min(_frame_at(at, per_hop), count - 1) for at in scheduler.times]
    for event_index, frame_index in enumerate(event_frames):
        happening[frame_index].append(event_index)
    logs = _Logs(picture, scheduler.log_changes, numbered, colours)
    result, cursor, scale = [], 0, 1
    for index in range(count):
        now = index / per_hop
        while cursor < len(changes) and changes[cursor][0] <= now + EPSILON:
            _at, queue, more_ready, more_unacked = changes[cursor]
            if queue in ready:
                ready[queue] += more_ready
                unacked[queue] += more_unacked
            cursor += 1
        if index == count - 1:
            _settle_on_snapshot(picture, queues, ready, unacked)
        scale = max([scale] + [ready[q] + unacked[q] for q in queues])
        result.append(
            Frame(
                index,
                now,
                tuple(tokens[index]),
                dict(ready),
                dict(unacked),
                tuple(marks[index]),
                tuple(happening[index]),
                logs.at(now),
            )
        )
    return Film(
        tuple(result),
        tuple(events),
        tuple(event_frames),
        picture,
        where,
        keys,
        scale,
        per_hop,
        colour_by,
        rate,
    )


class _Logs:
    """Each stream's log through the film: its state before the trace, then the trace's steps
    in the order they are shown; a view is made again only when its log changed."""

    def __init__(
        self,
        picture: nx.DiGraph,
        changes: list[tuple[float, Step]],
        numbered: set[str],
        colours: Mapping[int, int],
    ) -> None:
        self.changes = sorted(changes, key=lambda change: change[0])  # stable: same time keeps order
        self.colour_of = lambda message: colours.get(message, HELD)
        self.logs: dict[str, StreamLog] = {}
        for stream in streams_of(picture):
            own = [step for _at, step in self.changes if step.stream == stream]
            known = stream in numbered or picture.nodes[stream].get("first_offset") is not None
            log = self.logs[stream] = initial_log(picture.nodes[stream], own, known)
            placed = {step.who for step in own if step.op in ("place", "read")}
            for consumer in picture.successors(stream):
                if consumer not in placed:  # there before the trace: where its argument says
                    place_by_argument(log, consumer, picture.edges[stream, consumer].get("offset_spec"))
        self.cursor = 0
        self.anchors = {stream: log.first for stream, log in self.logs.items()}  # cells keep places
        self.views = {
            stream: log.view(self.colour_of, self.anchors[stream]) for stream, log in self.logs.items()
        }

    def at(self, now: float) -> dict[str, LogView]:
        changed = set()
        while self.cursor < len(self.changes) and self.changes[self.cursor][0] <= now + EPSILON:
            step = self.changes[self.cursor][1]
            self.logs[step.stream].apply(step)
            changed.add(step.stream)
            self.cursor += 1
        for stream in changed:
            self.views[stream] = self.logs[stream].view(self.colour_of, self.anchors[stream])
        return dict(self.views)


def _settle_on_snapshot(
    picture: nx.DiGraph, queues: list[str], ready: dict[str, int], unacked: dict[str, int]
) -> None:
    """The last frame shows the snapshot's counts: where a trace missed steps (a real
    broker's firehose reports no acks), the story still ends where the broker is."""
    for queue in queues:
        attributes = picture.nodes[queue]
        if attributes.get("counted"):
            ready[queue], unacked[queue] = int(attributes["ready"]), int(attributes["unacked"])


def _frame_at(time: float, per_hop: float) -> int:
    """The first frame at or after `time`."""
    return math.ceil(time * per_hop - EPSILON)


def _is_queue(picture: nx.DiGraph, node: str) -> bool:
    """A queue drawn with a depth bar: any but a stream."""
    attributes = picture.nodes[node]
    return bool(attributes["kind"] is NodeKind.QUEUE and attributes.get("queue_type") != STREAM_TYPE)


def _is_stream(picture: nx.DiGraph, node: str) -> bool:
    return bool(picture.nodes[node].get("queue_type") == STREAM_TYPE)


def _initial_counts(
    picture: nx.DiGraph, queues: list[str], changes: list[tuple[float, str, int, int]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Depths before the trace: the snapshot's final counts minus what the trace changed, and
    never less than the trace needs to stay at or above zero (it may have started mid-way)."""
    ready, unacked = {}, {}
    for queue in queues:
        own = sorted(((at, r, u) for at, q, r, u in changes if q == queue), key=lambda change: change[0])
        lowest_ready = lowest_unacked = total_ready = total_unacked = 0
        for _at, more_ready, more_unacked in own:
            total_ready += more_ready
            total_unacked += more_unacked
            lowest_ready = min(lowest_ready, total_ready)
            lowest_unacked = min(lowest_unacked, total_unacked)
        attributes = picture.nodes[queue]
        ready[queue] = max(-lowest_ready, int(attributes.get("ready", 0)) - total_ready)
        unacked[queue] = max(-lowest_unacked, int(attributes.get("unacked", 0)) - total_unacked)
    return ready, unacked


def _colour_mode(events: Sequence[TraceEvent], colour_by: str) -> str:
    """'auto' colours by routing key where keys differ, and by message where they are all one
    (a work queue: then the colours show which task went to which worker)."""
    if colour_by not in ("auto", "routing_key", "message"):
        raise ValueError(f"colour_by must be 'auto', 'routing_key' or 'message', not {colour_by!r}")
    if colour_by != "auto":
        return colour_by
    keys = {event.routing_key for event in events if event.kind is EventKind.PUBLISH}
    return "routing_key" if len(keys) > 1 else "message"


def _colours(events: Sequence[TraceEvent], colour_by: str) -> tuple[dict[int, int], tuple[str, ...]]:
    """Message → colour index, and what each index stands for, in order of first publish."""
    index_of: dict[str, int] = {}
    colours: dict[int, int] = {}
    for event in events:
        if event.kind is EventKind.PUBLISH and event.message is not None:
            key = event.routing_key or "" if colour_by == "routing_key" else f"message {event.message}"
            colours[event.message] = index_of.setdefault(key, len(index_of))
    return colours, tuple(index_of)
