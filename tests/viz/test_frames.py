"""The frame model against traces whose story is known: the core driven step by step (exact
events, no threads), and the tutorials as the simulator records them over TCP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rabbitsim import viz
from rabbitsim.backends import snapshot
from rabbitsim.broker import Broker
from rabbitsim.viz._frames import groups
from rabbitsim.viz._log import describe
from rabbitsim.vocabulary import ConsumerInfo, EventKind, Node, NodeKind, QueueInfo, Topology, TraceEvent
from tests.broker.conftest import record_events

from .scenarios import SCENARIOS, Scenario

Core = tuple[Broker, list[TraceEvent]]
PRODUCER = "publisher:producer (1)"
QUEUE = "queue:hello"


def hello_with_ack(core: Core) -> tuple[Broker, list[TraceEvent], str]:
    broker, events = core
    producer = broker.connect(name="producer").open_channel(1)
    producer.queue_declare("hello")
    producer.basic_publish("", "hello", b"Hello World!")
    worker = broker.connect(name="worker").open_channel(1)
    tag = worker.basic_consume("hello")
    worker.basic_ack(1)
    return broker, events, f"consumer:worker (1):{tag}"


def test_a_message_travels_hop_by_hop(core: Core) -> None:
    """declare (step 0), publish (1), consume (2), deliver (3), ack (4): a hop is one unit,
    four frames; a message waits DWELL (half a hop) in its queue before it is delivered."""
    broker, events, consumer = hello_with_ack(core)
    film = viz.frames(events, topology=snapshot(broker))
    assert film.rate == 1.0 and film.frames_per_hop == 4
    assert len(film) == 22  # the ack mark shows until 5.25 hops

    def where(index: int) -> list[tuple[str, str, float]]:
        return [(t.source, t.target, t.progress) for t in film.frames[index].tokens]

    def depth(index: int) -> tuple[int, int]:
        return film.frames[index].ready[QUEUE], film.frames[index].unacked[QUEUE]

    assert where(3) == [] and depth(3) == (0, 0)
    assert where(4) == [(PRODUCER, "exchange:", 0.0)]
    assert where(6) == [(PRODUCER, "exchange:", 0.5)]
    assert where(8) == [("exchange:", QUEUE, 0.0)]
    assert where(12) == [] and depth(12) == (1, 0), "it has arrived and waits"
    assert where(14) == [(QUEUE, consumer, 0.0)] and depth(14) == (0, 1), "delivered, not yet acked"
    assert where(17) == [(QUEUE, consumer, 0.75)]
    assert where(18) == [] and depth(18) == (0, 0)
    assert [(m.node, m.kind, m.age) for m in film.frames[18].marks] == [(consumer, "ack", 0.0)]
    assert [m.kind for f in film.frames[19:21] for m in f.marks] == ["ack", "ack"]
    assert film.frames[21].marks == () and depth(21) == (0, 0)

    token = film.frames[6].tokens[0]
    (x0, y0), (x1, y1) = film.layout.path(PRODUCER, "exchange:")
    assert (token.x, token.y) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2))
    assert x0 == film.layout.positions[PRODUCER][0] + film.layout.half_widths[PRODUCER], "from the edge of P"

    kinds = {film.events[i].kind: film.event_frames[i] for i in range(len(film.events))}
    assert kinds[EventKind.PUBLISH] == 4 and kinds[EventKind.DELIVER] == 14 and kinds[EventKind.ACK] == 18
    assert all(i in film.frames[f].events for i, f in enumerate(film.event_frames))


def test_nack_requeue_reject_and_a_closed_channel(core: Core) -> None:
    broker, events = core
    producer = broker.connect(name="producer").open_channel(1)
    producer.queue_declare("jobs")
    worker = broker.connect(name="worker").open_channel(1)
    tag = worker.basic_consume("jobs")
    producer.basic_publish("", "jobs", b"1")  # delivery tag 1
    worker.basic_nack(1, requeue=True)  # back to the queue, and at once to the only consumer: tag 2
    worker.basic_reject(2, requeue=False)  # gone
    producer.basic_publish("", "jobs", b"2")  # tag 3
    worker.close()  # unacked message 2 goes back, nobody left to take it
    film = viz.frames(events, topology=snapshot(broker))
    consumer, queue = f"consumer:worker (1):{tag}", "queue:jobs"

    marks = [(m.node, m.kind) for f in film.frames for m in f.marks if m.age == 0]
    assert marks == [(consumer, "nack"), (queue, "requeue"), (consumer, "reject"), (queue, "requeue")]
    back = [(t.message, t.source, t.target) for f in film.frames for t in f.tokens if t.style == "requeue"]
    assert set(back) == {(1, consumer, queue), (2, consumer, queue)}, "requeued tokens travel back"
    for frame in film.frames:
        assert frame.ready[queue] >= 0 and frame.unacked[queue] >= 0
        assert frame.unacked[queue] <= 1
    assert (film.frames[-1].ready[queue], film.frames[-1].unacked[queue]) == (1, 0)


def test_unroutable_messages_are_returned_or_dropped(core: Core) -> None:
    broker, events = core
    channel = broker.connect(name="producer").open_channel(1)
    channel.exchange_declare("nowhere", "direct")
    channel.basic_publish("nowhere", "lost", b"1", mandatory=True)
    channel.basic_publish("nowhere", "lost", b"2")
    film = viz.frames(events)
    returned = {(t.source, t.target) for f in film.frames for t in f.tokens if t.style == "return"}
    assert returned == {("exchange:nowhere", PRODUCER)}
    marks = {(m.node, m.kind) for f in film.frames for m in f.marks}
    assert marks == {(PRODUCER, "return"), ("exchange:nowhere", "drop")}


def test_depth_before_the_trace_comes_from_the_final_snapshot() -> None:
    """Three messages were waiting before recording began; the trace adds two."""
    broker = Broker(clock=lambda: 0.0)
    channel = broker.connect(name="producer").open_channel(1)
    channel.queue_declare("backlog")
    for _ in range(3):
        channel.basic_publish("", "backlog", b"old")
    events = record_events(broker)
    for _ in range(2):
        channel.basic_publish("", "backlog", b"new")
    film = viz.frames(events, topology=snapshot(broker))
    depths = [f.ready["queue:backlog"] for f in film.frames]
    assert depths[0] == 3 and depths[-1] == 5 and sorted(depths) == depths
    assert film.scale == 5


def test_a_burst_to_different_consumers_is_one_step(core: Core) -> None:
    broker, events = core
    setup = broker.connect(name="setup").open_channel(1)
    setup.exchange_declare("logs", "fanout")
    for name in ("a", "b", "c"):
        setup.queue_declare(name)
        setup.queue_bind(name, "logs")
        broker.connect(name=name).open_channel(1).basic_consume(name, no_ack=True)
    start = len(events)
    setup.basic_publish("logs", "", b"x")
    steps = groups(events)[start:]
    kinds = [e.kind for e in events[start:]]
    delivered = {steps[i] for i, kind in enumerate(kinds) if kind is EventKind.DELIVER}
    assert len(delivered) == 1, "three consumers receive at once"
    assert delivered != {steps[kinds.index(EventKind.PUBLISH)]}
    film = viz.frames(events)
    moving = [len([t for t in f.tokens if t.source == "exchange:logs"]) for f in film.frames]
    assert max(moving) == 3, "the fanout's three copies travel side by side"


def test_colour_by_message_or_routing_key(core: Core) -> None:
    broker, events = core
    channel = broker.connect(name="producer").open_channel(1)
    channel.exchange_declare("logs", "direct")
    for key in ("info", "error", "info"):
        channel.basic_publish("logs", key, b"x")
    assert viz.frames(events).keys == ("info", "error")
    by_message = viz.frames(events, colour_by="message")
    assert by_message.keys == ("message 1", "message 2", "message 3")
    colours = {t.message: t.colour for f in by_message.frames for t in f.tokens}
    assert colours == {1: 0, 2: 1, 3: 2}
    with pytest.raises(ValueError, match="colour_by"):
        viz.frames(events, colour_by="queue")
    assert viz.frames(events).colour_by == "routing_key", "auto: keys differ"
    channel.queue_declare("tasks")
    for _ in range(2):
        channel.basic_publish("", "tasks", b"x")
    assert viz.frames(events[-4:]).colour_by == "message", "auto: one key for all"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_tutorial_ends_where_the_snapshot_does(scenario: Callable[[str], Scenario], name: str) -> None:
    recorded = scenario(name)
    film = viz.frames(recorded.events, topology=recorded.topology)
    assert 0 < len(film) <= 240
    final = viz.frames(recorded.events).frames[-1]  # the events' own story, not the snapshot's
    for queue in recorded.topology.queues:
        node = f"queue:{queue.name}"
        assert (final.ready[node], final.unacked[node]) == (
            queue.messages_ready,
            queue.messages_unacknowledged,
        )
    for frame in film.frames:
        assert all(n >= 0 for n in [*frame.ready.values(), *frame.unacked.values()])
        for token in frame.tokens:
            assert 0 <= token.progress < 1
            edge = (token.source, token.target)
            assert edge in film.graph.edges or edge[::-1] in film.graph.edges, edge
    published = {e.message for e in recorded.events if e.kind is EventKind.PUBLISH}
    seen = {t.message for f in film.frames for t in f.tokens}
    assert seen == published, "every message is seen moving"


def test_rpc_replies_follow_their_requests(scenario: Callable[[str], Scenario]) -> None:
    """A reply is a new message, but the server publishes it only after the request arrived:
    the picture must not show the answer before the question."""
    recorded = scenario("rpc")
    film = viz.frames(recorded.events, topology=recorded.topology)
    first_seen: dict[int, float] = {}
    arrived: dict[int, float] = {}
    for frame in film.frames:
        for token in frame.tokens:
            first_seen.setdefault(token.message, frame.time)
            if token.source == "queue:rpc_queue":
                arrived[token.message] = frame.time
    requests = sorted(arrived)
    replies = sorted(m for m in first_seen if m not in arrived)
    assert len(requests) == len(replies) == 3
    for request, reply in zip(requests, replies, strict=True):
        assert first_seen[reply] > arrived[request]


def test_a_long_trace_is_compressed_to_the_budget(scenario: Callable[[str], Scenario]) -> None:
    from .scenarios import run

    recorded = run("fanout", messages=200, ack=True)
    film = viz.frames(recorded.events, topology=recorded.topology)
    assert len(film) <= 240
    assert film.rate > 1, "several actions start per hop"
    assert film.frames_per_hop == 4, "fanning out compresses without dropping frames per hop"
    short = viz.frames(recorded.events, topology=recorded.topology, max_frames=60)
    assert len(short) <= 60


def test_a_firehose_trace_is_drawn_on_the_snapshots_consumer() -> None:
    """A real broker's firehose names the receiver by its channel only, and reports no acks:
    the delivery lands on the snapshot's consumer of that queue on that channel, and the
    message stays unacked until the end, where the snapshot's counts take over."""
    publisher = Node(NodeKind.PUBLISHER, "c1#1", "c1", 1)
    receiver = Node(NodeKind.CONSUMER, "c2#1", "c2", 1)
    exchange, queue = Node(NodeKind.EXCHANGE, ""), Node(NodeKind.QUEUE, "hello")
    events = [
        TraceEvent(1, 0.0, EventKind.PUBLISH, "/", publisher, exchange, 1, "hello"),
        TraceEvent(2, 0.0, EventKind.ROUTE, "/", exchange, queue, 1, "hello"),
        TraceEvent(3, 0.0, EventKind.ENQUEUE, "/", queue, None, 1, "hello"),
        TraceEvent(4, 0.1, EventKind.DELIVER, "/", queue, receiver, 1, "hello"),
    ]
    topology = Topology(
        queues=(QueueInfo("/", "hello", "classic", False, False, False, 0, 0, 1),),
        consumers=(ConsumerInfo("/", "hello", "amq.ctag-XYZ", "c2 (1)", True, 0, False),),
    )
    film = viz.frames(events, topology=topology)
    consumer = "consumer:c2 (1):amq.ctag-XYZ"
    assert [n for n in film.graph if n.startswith("consumer:")] == [consumer]
    assert {t.target for f in film.frames for t in f.tokens if t.source == "queue:hello"} == {consumer}
    unacked = [f.unacked["queue:hello"] for f in film.frames]
    assert unacked[-2] == 1, "no ack came: the trace says so"
    assert unacked[-1] == 0, "and the last frame is the snapshot's"
    assert describe(events[3], film.graph) == "queue 'hello' delivers message 1 to C1"
