"""A stream drawn as a log: the model (cells, elision, readers), films of hand-made traces and
of simulator runs, and both renderers (matplotlib, and the HTML player's script under node).
Real brokers' traces are in test_stream_real.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pika
import pytest
from matplotlib.patches import Rectangle

import rabbitsim
from rabbitsim import viz
from rabbitsim.backends import EmbeddedBroker
from rabbitsim.viz._html import MARKUP_JS, film_data
from rabbitsim.viz._stream import (
    EMPTY,
    GAP,
    GONE,
    HEAD,
    HELD,
    SLOTS,
    Box,
    Label,
    LogView,
    Marker,
    StreamLog,
    initial_log,
    shapes,
    stream_offsets,
)
from rabbitsim.vocabulary import (
    BindingInfo,
    ConsumerInfo,
    EventKind,
    ExchangeInfo,
    Node,
    NodeKind,
    QueueInfo,
    Topology,
    TraceEvent,
)

from .scenarios import Scenario, stream

LOG, WORK = "queue:orders-log", "queue:orders-work"
NODE = shutil.which("node")


# --- the model -----------------------------------------------------------------------------------


def colours_of(view: LogView) -> list[int]:
    return [cell.colour for cell in view.cells]


def test_a_short_log_fills_cells_from_the_left_and_shows_the_room_left() -> None:
    log = StreamLog(0, 0)
    for offset in range(3):
        log.append(offset, offset + 10)
    log.read("C1", 0)
    view = log.view(lambda message: message - 10)
    assert (view.first, view.last, view.held, view.next) == (0, 2, 3, 3)
    assert colours_of(view) == [0, 1, 2] + [EMPTY] * (SLOTS - 3)
    assert [cell.offset for cell in view.cells] == list(range(SLOTS))
    assert [(r.node, r.next, r.slot) for r in view.readers] == [("C1", 1, 1.5)]
    assert view.caption == "offsets 0\u20132 \u00b7 3 in the log"


def test_a_long_log_keeps_its_start_and_its_newest_cells() -> None:
    log = StreamLog(100, 130)  # written before: no message known
    log.read("early", 101)  # reads 102 next: among the first cells
    log.place("middle", 110)  # hidden in the elision
    log.place("waiting", 130)  # past the last cell: waits for the next append
    view = log.view()
    tail = SLOTS - HEAD - 1
    assert [cell.offset for cell in view.cells] == [100, 101, 102, None, *range(130 - tail, 130)]
    assert colours_of(view) == [HELD] * HEAD + [GAP] + [HELD] * tail
    slots = {r.node: r.slot for r in view.readers}
    assert slots == {"early": 2.5, "middle": HEAD + 0.5, "waiting": float(SLOTS)}
    drawn = shapes(view, 0, 0, {"early": "C1", "middle": "C2", "waiting": "C3"})
    assert sum(isinstance(shape, Marker) for shape in drawn) == 3
    texts = [shape.text for shape in drawn if isinstance(shape, Label)]
    assert "C2@110" in texts and "C3@130" in texts and "C1" in texts, "hidden places are spelled out"


def test_within_a_film_cells_keep_their_places_and_retention_empties_the_start() -> None:
    log = StreamLog(0, 0)
    for offset in range(4):
        log.append(offset, offset)
    log.remove(1)  # a segment goes: everything up to offset 1
    anchored = log.view(lambda m: m, anchor=0)
    assert colours_of(anchored)[:5] == [GONE, GONE, 2, 3, EMPTY]
    assert (anchored.first, anchored.last) == (2, 3)
    assert colours_of(log.view(lambda m: m))[:3] == [2, 3, EMPTY], "alone, the log starts at its first cell"


def test_offsets_skipped_by_an_append_are_records_of_the_log() -> None:
    """RabbitMQ opens each segment with a record that is not a message (measured: 30 messages
    took offsets 0-31 with small segments); retention then leaves such a record first."""
    log = StreamLog(0, 0)
    log.append(0, 1)
    log.append(2, 2)
    log.remove(0)
    assert (log.first, log.end) == (1, 3)
    assert colours_of(log.view(lambda m: m))[:3] == [HELD, 2, EMPTY]


def event(kind: EventKind, message: int | None, **detail: Any) -> TraceEvent:
    reader = Node(NodeKind.CONSUMER, "c", "conn", 1)
    return TraceEvent(0, 0.0, kind, "/", Node(NodeKind.QUEUE, "s"), reader, message, None, detail)


def test_appends_without_offsets_are_placed_around_the_ones_deliveries_reveal() -> None:
    """A real broker's firehose numbers only deliveries: the appends around them follow."""
    events = [event(EventKind.ENQUEUE, m) for m in (1, 2, 3, 4)] + [event(EventKind.DELIVER, 3, offset=7)]
    offsets, numbered = stream_offsets(events, lambda _e: "s")
    assert [offsets[(m, "s")] for m in (1, 2, 3, 4)] == [5, 6, 7, 8]
    assert numbered == {"s"}
    offsets, numbered = stream_offsets(events[:4], lambda _e: "s")
    assert [offsets[(m, "s")] for m in (1, 2, 3, 4)] == [0, 1, 2, 3] and numbered == set()


def test_the_log_before_a_trace_is_what_it_read_but_did_not_append() -> None:
    from rabbitsim.viz._stream import Step

    read_old = [Step("s", "read", 3, "C1"), Step("s", "append", 5, 1), Step("s", "read", 5, "C1")]
    before = initial_log({}, read_old, numbered=True)
    assert (before.first, before.end) == (3, 5)
    snapshot = {"first_offset": 0, "committed_offset": 6}
    assert (initial_log(snapshot, read_old, True).first, initial_log(snapshot, [], True).end) == (0, 7)
    counted = initial_log({"ready": 4}, [Step("s", "append", 0, 1)], numbered=False)
    assert (counted.end - counted.first, counted.numbered) == (3, False), "a real snapshot's count"


# --- hand-made traces ----------------------------------------------------------------------------


def hand_trace(retention: bool = True) -> tuple[list[TraceEvent], Topology]:
    """A fanout exchange feeds a stream and a classic queue; three messages; C1 reads the stream
    from offset 0, C2 from offset 1, a worker the classic queue; all ack; retention then removes
    offset 0. Written event by event, as the simulator's core reports them."""
    events: list[TraceEvent] = []

    def add(
        kind: EventKind, source: Node | None, target: Node | None, message: int | None, **detail: Any
    ) -> None:
        events.append(TraceEvent(len(events) + 1, 0.0, kind, "/", source, target, message, "k", detail))

    producer = Node(NodeKind.PUBLISHER, "p", "connection-1", 1)
    exchange, log, work = (
        Node(NodeKind.EXCHANGE, "events"),
        Node(NodeKind.QUEUE, "orders-log"),
        Node(NodeKind.QUEUE, "orders-work"),
    )
    first, second, worker = (Node(NodeKind.CONSUMER, f"ctag-{n}", f"connection-{n}", 1) for n in (2, 3, 4))
    add(EventKind.CONSUMER_ADDED, log, first, None, prefetch=10, offset=0)
    add(EventKind.CONSUMER_ADDED, log, second, None, prefetch=10, offset=1)
    add(EventKind.CONSUMER_ADDED, work, worker, None, prefetch=1)
    for message in (1, 2, 3):
        add(EventKind.PUBLISH, producer, exchange, message)
        add(EventKind.ROUTE, exchange, log, message)
        add(EventKind.ROUTE, exchange, work, message)
        add(EventKind.ENQUEUE, log, None, message, offset=message - 1)
        add(EventKind.ENQUEUE, work, None, message)
    for message in (1, 2, 3):
        add(EventKind.DELIVER, log, first, message, offset=message - 1)
        if message > 1:
            add(EventKind.DELIVER, log, second, message, offset=message - 1)
        add(EventKind.DELIVER, work, worker, message)
        add(EventKind.ACK, log, first, message)
        if message > 1:
            add(EventKind.ACK, log, second, message)
        add(EventKind.ACK, work, worker, message)
    if retention:
        add(EventKind.DROP, log, None, 1, reason="retention", offset=0)
    topology = Topology(
        exchanges=(ExchangeInfo("/", "events", "fanout", True, False, False),),
        queues=(
            QueueInfo(
                "/",
                "orders-log",
                "stream",
                True,
                False,
                False,
                2 if retention else 3,
                0,
                2,
                {},
                1 if retention else 0,
                2,
            ),
            QueueInfo("/", "orders-work", "classic", True, False, False, 0, 0, 1),
        ),
        bindings=(
            BindingInfo("/", "events", "orders-log", "queue", ""),
            BindingInfo("/", "events", "orders-work", "queue", ""),
        ),
        consumers=(
            ConsumerInfo(
                "/", "orders-log", "ctag-2", "connection-2 (1)", True, 10, False, {"x-stream-offset": "first"}
            ),
            ConsumerInfo(
                "/", "orders-log", "ctag-3", "connection-3 (1)", True, 10, False, {"x-stream-offset": 1}
            ),
            ConsumerInfo("/", "orders-work", "ctag-4", "connection-4 (1)", True, 1, False),
        ),
    )
    return events, topology


def test_the_graph_knows_the_stream_and_its_readers_arguments() -> None:
    events, topology = hand_trace()
    picture = viz.graph(events, topology=topology)
    assert picture.nodes[LOG]["queue_type"] == "stream" and picture.nodes[WORK]["queue_type"] == "classic"
    assert picture.nodes[LOG]["title"] == "stream 'orders-log' (durable)"
    reader = "consumer:connection-2 (1):ctag-2"
    assert picture.edges[LOG, reader]["label"] == "prefetch 10\nfrom first"
    view = picture.nodes[LOG]["log"]
    assert (view.first, view.last) == (1, 2)
    assert sorted(r.next for r in view.readers) == [3, 3], "both read to the end"
    assert viz.layout(picture).half_widths[LOG] > viz.layout(picture).half_widths[WORK]


def test_a_film_appends_keeps_what_was_read_and_moves_each_reader() -> None:
    events, topology = hand_trace()
    film = viz.frames(events, topology=topology)
    assert film.streams == (LOG,) and film.queues == (WORK,), "the stream has no depth bar"
    assert all(LOG not in frame.ready for frame in film.frames)
    arrived: dict[int, int] = {}  # message -> the frame its token reached the log
    for frame in film.frames:
        for token in frame.tokens:
            if token.target == LOG and token.progress + 1 / film.frames_per_hop >= 1:
                arrived.setdefault(token.message, frame.index + 1)
    held: dict[int, int] = {}  # message -> first frame with its cell
    previous: dict[str, int] = {}
    for frame in film.frames:
        view = frame.logs[LOG]
        for cell in view.cells:
            if cell.message is not None:
                held.setdefault(cell.message, frame.index)
        for reader in view.readers:
            assert reader.next >= previous.get(reader.node, reader.next), "a reader never goes back"
            previous[reader.node] = reader.next
    assert held == arrived, "a cell appears as its message reaches the log"
    last = film.frames[-1]
    assert [c.message for c in last.logs[LOG].cells[:3]] == [None, 2, 3], "read and acked, still there"
    assert colours_of(last.logs[LOG])[:3] == [GONE, 1, 2], "retention emptied offset 0"
    assert sorted(r.next for r in last.logs[LOG].readers) == [3, 3]
    assert (last.ready[WORK], last.unacked[WORK]) == (0, 0), "the classic queue beside it empties"
    assert any(mark.node == LOG and mark.kind == "drop" for f in film.frames for mark in f.marks)


def test_a_reader_moves_when_its_delivery_leaves_the_log() -> None:
    events, topology = hand_trace(retention=False)
    film = viz.frames(events, topology=topology)
    reader = "consumer:connection-3 (1):ctag-3"
    moves = [
        frame.index
        for before, frame in zip(film.frames, film.frames[1:], strict=False)
        if {r.node: r.next for r in before.logs[LOG].readers}.get(reader)
        != {r.node: r.next for r in frame.logs[LOG].readers}.get(reader)
    ]
    departures = sorted(
        {f.index for f in film.frames for t in f.tokens if t.target == reader and t.progress == 0}
    )
    assert moves == departures and len(moves) == 2


def test_a_topology_alone_places_readers_by_their_argument() -> None:
    _events, topology = hand_trace(retention=False)
    view = viz.graph(topology).nodes[LOG]["log"]
    assert {r.node.rsplit(":", 1)[1]: r.next for r in view.readers} == {"ctag-2": 0, "ctag-3": 1}
    assert colours_of(view)[:4] == [HELD, HELD, HELD, EMPTY]


def test_a_real_brokers_snapshot_shows_an_unnumbered_log_of_its_count() -> None:
    queue = QueueInfo("/", "s", "stream", True, False, False, 4, 0, 0)  # no offsets in the API
    view = viz.graph(Topology(queues=(queue,))).nodes["queue:s"]["log"]
    assert (view.held, view.numbered, view.caption) == (4, False, "4 in the log")
    assert not any(isinstance(s, Label) and s.text.isdigit() for s in shapes(view, 0, 0, {}))


# --- drawing -------------------------------------------------------------------------------------


def test_matplotlib_draws_the_cells_the_frame_holds() -> None:
    events, topology = hand_trace()
    animation = viz.animate(events, topology=topology)
    scene = animation.scene
    for frame in (animation.frames[0], animation.frames[-1]):
        scene.show(frame)
        drawn = scene.log_artists[LOG]
        expected = shapes(frame.logs[LOG], *animation.film.layout.positions[LOG], {})
        assert sum(isinstance(a, Rectangle) for a in drawn) == sum(isinstance(s, Box) for s in expected)
        texts = {a.get_text() for a in drawn if hasattr(a, "get_text")}
        assert frame.logs[LOG].caption in texts
    assert animation.frame_png(len(animation) - 1).startswith(b"\x89PNG")
    scene.hide_moving_parts()
    assert not any(a.get_visible() for a in scene.log_artists[LOG])
    scene.hide_moving_parts(False)


def test_the_html_player_draws_each_log_view_once_where_matplotlib_does() -> None:
    events, topology = hand_trace()
    animation = viz.animate(events, topology=topology, dpi=72)  # display units are then points
    data = film_data(animation.film, animation.scene, 100)
    distinct = {frame.logs[LOG] for frame in animation.frames}
    assert len(data["logs"]) == len(distinct) < len(animation) / 3
    assert [len(row) for row in data["logAt"]] == [1] * len(animation)
    animation.scene.show(animation.frames[-1])
    height = animation.film.layout.size[1] * 72
    markup = data["logs"][data["logAt"][-1][0]]
    cells = [a for a in animation.scene.log_artists[LOG] if isinstance(a, Rectangle)]
    assert len(cells) == markup.count("<rect") == SLOTS
    for cell in cells:
        left, bottom = animation.scene.axes.transData.transform(cell.get_xy())
        top = height - bottom - cell.get_height() * animation.film.layout.inches_per_unit * 72
        assert f'<rect x="{left:.1f}" y="{top:.1f}"' in markup


@pytest.mark.skipif(NODE is None, reason="node runs the markup function")
def test_the_players_script_draws_the_log(tmp_path: Any) -> None:
    events, topology = hand_trace()
    animation = viz.animate(events, topology=topology)
    data = film_data(animation.film, animation.scene, 100)
    last = len(animation) - 1
    program = tmp_path / "markup.js"
    program.write_text(
        f"{MARKUP_JS}\nconst D = {json.dumps(data)};\nconsole.log(rsvizMarkup(D, {last}));", encoding="utf-8"
    )
    assert NODE is not None
    markup = subprocess.run(
        [NODE, str(program)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    view = animation.frames[last].logs[LOG]
    assert markup.count("<polygon") == len(view.readers) > 0
    assert markup.count("<rect") == SLOTS + 2, "the log's cells and the classic queue's two bars"
    assert f">{view.caption}<" in markup


# --- the simulator -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded() -> Scenario:
    """`scenarios.stream` on a fresh simulator: a stream and a classic queue fed by one exchange."""
    with rabbitsim.start("sim", in_process=True) as broker:
        assert isinstance(broker, EmbeddedBroker)
        return stream(broker)


def test_a_simulator_run_draws_the_stream_beside_a_classic_queue(recorded: Scenario) -> None:
    film = viz.frames(recorded.events, topology=recorded.topology)
    view = film.frames[-1].logs[LOG]
    assert (view.first, view.last) == (0, 4)
    assert colours_of(view)[:6] == [HELD, HELD, 0, 1, 2, EMPTY], "history grey, the trace's in colour"
    assert sorted(r.next for r in view.readers) == [5, 5]
    first = film.frames[0].logs[LOG]
    assert (first.first, first.last) == (0, 1), "the history was there before the recording"
    assert film.frames[-1].ready[WORK] == 0
    assert viz.draw(recorded.events, topology=recorded.topology)._repr_html_() is not None


def test_a_simulator_run_with_retention_cuts_the_log() -> None:
    with rabbitsim.start("sim", in_process=True) as broker:
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        arguments = {
            "x-queue-type": "stream",
            "x-max-length-bytes": 300,
            "x-stream-max-segment-size-bytes": 100,
        }
        channel.queue_declare("log", durable=True, arguments=arguments)
        with broker.trace() as trace:
            for number in range(6):
                channel.basic_publish("", "log", f"event {number:02d}".encode() * 2)
        connection.close()
    drops = trace.of_kind("drop")
    assert drops and all(d.detail["reason"] == "retention" for d in drops)
    film = viz.frames(trace)
    end = trace.topology.end.queue("log")  # type: ignore[union-attr]
    last = film.frames[-1].logs["queue:log"]
    assert (last.first, last.last) == (end.first_offset, end.committed_offset), "ends where the broker is"
    firsts = [
        frame.logs["queue:log"].first for frame in film.frames if frame.logs["queue:log"].first is not None
    ]
    assert firsts == sorted(firsts) and firsts[-1] > firsts[0], "retention moves the start forward"


def test_no_label_covers_another_around_the_log(recorded: Scenario) -> None:
    from .test_render import overlaps

    assert overlaps(viz.draw(recorded.events, topology=recorded.topology)) == []
    animation = viz.animate(recorded.events, topology=recorded.topology)
    for index in range(0, len(animation), 5):
        animation.scene.show(animation.frames[index])
        clashes = [pair for pair in overlaps(animation.scene.figure) if not any(_glyph(t) for t in pair)]
        assert clashes == [], index


def _glyph(text: str) -> bool:
    """A mark (a glyph that flashes beside a node) or the elision may touch a neighbour."""
    return len(text) == 1 and not text.isalnum()
