"""A stream drawn as a log: a row of cells, one per offset, oldest on the left, with a marker
under the cell each consumer reads next. A queue's depth bar says how many messages wait; a
log's cells say which messages it holds, and they stay there after every consumer has read and
acked them, until retention cuts cells from the start.

Pure model and geometry, no matplotlib: `StreamLog` follows one stream through a trace,
`LogView` is what it shows at one moment (a long log keeps its first cells and its newest,
eliding the middle), and `shapes` turns a view into rectangles, triangles and texts in layout
units, which the matplotlib scene and the HTML player both draw, so they cannot disagree.

Offsets come from the events (an append, a delivery's `x-stream-offset`, a retention drop) and
from the snapshot (`first_offset`, `committed_offset`). A real broker's firehose gives offsets
only on deliveries, so an append there is placed after the previous one, counting back from the
next offset a delivery revealed; where nothing reveals any, the cells are drawn unnumbered."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rabbitsim._language import say
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

from ._style import CAPTION_COLOUR, INCHES_PER_UNIT, PALETTE, QUEUE_HEIGHT, TEXT_COLOUR

STREAM_TYPE = "stream"
SLOTS = 10  # cells a log shows
HEAD = 3  # cells kept at its start when the middle is elided
STREAM_WIDTH = 2.0  # layout units; a queue is 1.5
INSET = 0.04
CELL_GAP = 0.012
MARKER_HEIGHT = 0.09
MARKER_HALF_WIDTH = 0.055
READER_SIZE = 6.0  # points
OFFSET_SIZE = 4.6
CAPTION_SIZE = 6.8
#: Below the box: the readers' markers and names, then the caption (layout units).
READER_LANE = 0.26
BELOW = QUEUE_HEIGHT / 2 + READER_LANE + 0.17
POINTS_PER_CHARACTER = 0.62  # of the font size, DejaVu Sans, for spacing the readers' names

# What a cell holds. A message the trace names takes its token colour (an index >= 0).
HELD = -1  # a message the picture cannot colour: written before the trace, or a static picture
EMPTY = -2  # room the log has not filled yet
GAP = -3  # the elided middle of a long log
GONE = -4  # an offset retention removed (while the film keeps cells in place)
HELD_COLOUR = "#8C8C8C"  # grey: no token colour means "a message we did not see arrive"
EMPTY_COLOUR = "#FFFFFF"
EMPTY_EDGE = "#B8DCCF"
NEXT_COLOUR = "#7FA898"
GONE_COLOUR = "#EFEFEF"
GONE_EDGE = "#BBBBBB"
READER_COLOUR = "#A8527F"  # a consumer's outline colour, as its circle has


@dataclass(frozen=True, slots=True)
class Cell:
    """One slot of the row: an offset and its message, or room (EMPTY), or the elision (GAP)."""

    offset: int | None
    message: int | None
    colour: int


@dataclass(frozen=True, slots=True)
class Reader:
    """A consumer's marker: the next offset it reads and where that is in the row (in cell
    widths from the left end: 0.5 is the first cell's centre, SLOTS its right end)."""

    node: str
    next: int
    slot: float


@dataclass(frozen=True, slots=True)
class LogView:
    """A log as shown: the offsets it holds (`first` to `last`, None when empty), its cells,
    and its readers. `numbered` is False where no offset is known (then only the count says)."""

    first: int | None
    last: int | None
    numbered: bool
    cells: tuple[Cell, ...]
    readers: tuple[Reader, ...] = ()
    next: int = 0  # the offset the next append gets

    @property
    def held(self) -> int:
        return 0 if self.first is None or self.last is None else self.last - self.first + 1

    @property
    def caption(self) -> str:
        """What the log holds, below it, in the kernel's language when it is drawn."""
        if self.first is None:
            return say("empty log", "日志为空")
        if not self.numbered:
            return say(f"{self.held} in the log", f"日志中有 {self.held} 条")
        return say(
            f"offsets {self.first}\u2013{self.last} \u00b7 {self.held} in the log",
            f"偏移量 {self.first}\u2013{self.last} \u00b7 共 {self.held} 条",
        )


@dataclass
class StreamLog:
    """One stream's log while a trace plays: offsets `first` to `end - 1`, the messages the
    trace put at them, and each reader's next offset."""

    first: int = 0
    end: int = 0
    numbered: bool = True
    messages: dict[int, int] = field(default_factory=dict)
    readers: dict[str, int] = field(default_factory=dict)

    def append(self, offset: int, message: int | None) -> None:
        """A message written at `offset`; offsets skipped since the last one hold records
        that are not messages (RabbitMQ opens each segment with one) and belong to the log."""
        self.first = min(self.first, offset)
        self.end = max(self.end, offset + 1)
        if message is not None:
            self.messages[offset] = message

    def remove(self, offset: int) -> None:
        """Retention: segments go from the start, so everything before `offset` goes too."""
        self.messages.pop(offset, None)
        self.first = max(self.first, offset + 1)
        self.end = max(self.end, self.first)

    def read(self, reader: str, offset: int) -> None:
        self.readers[reader] = offset + 1

    def place(self, reader: str, offset: int) -> None:
        self.readers[reader] = offset

    def leave(self, reader: str) -> None:
        self.readers.pop(reader, None)

    def apply(self, step: Step) -> None:
        op, offset, who = step.op, step.offset, step.who
        if op == "append":
            self.append(offset, who if isinstance(who, int) else None)
        elif op == "remove":
            self.remove(offset)
        elif op == "read" and isinstance(who, str):
            self.read(who, offset)
        elif op == "place" and isinstance(who, str):
            self.place(who, offset)
        elif op == "leave" and isinstance(who, str):
            self.leave(who)

    def view(
        self, colour_of: Callable[[int], int] = lambda _message: HELD, anchor: int | None = None
    ) -> LogView:
        """The log as shown. A film passes `anchor`, the oldest offset it ever shows: while
        the log fits in SLOTS cells from there, cells keep their places, so appends fill
        room on the right and retention empties cells on the left. A longer log shows its
        first HEAD cells and its newest, the middle elided."""
        start = self.first if anchor is None or anchor > self.first or self.end - anchor > SLOTS else anchor
        if self.end - start <= SLOTS:
            shown: list[int | None] = list(range(start, start + SLOTS))
        else:
            tail = SLOTS - HEAD - 1
            shown = [*range(start, start + HEAD), None, *range(self.end - tail, self.end)]
        cells = []
        for offset in shown:
            if offset is None:
                cells.append(Cell(None, None, GAP))
            elif offset < self.first:
                cells.append(Cell(offset, None, GONE))
            elif offset >= self.end:
                cells.append(Cell(offset, None, EMPTY))
            else:
                message = self.messages.get(offset)
                cells.append(Cell(offset, message, HELD if message is None else colour_of(message)))
        where = {offset: index for index, offset in enumerate(shown) if offset is not None}
        readers = tuple(
            Reader(node, offset, self._slot(offset, where, shown))
            for node, offset in sorted(self.readers.items())
        )
        first, last = (None, None) if self.end <= self.first else (self.first, self.end - 1)
        return LogView(first, last, self.numbered, tuple(cells), readers, self.end)

    @staticmethod
    def _slot(offset: int, where: Mapping[int, int], shown: Sequence[int | None]) -> float:
        """Where a reader's marker goes: under the cell of its next offset; at the left end if
        that is older than any cell shown, under the elision if hidden there, at the right
        end if it lies past the cells shown."""
        if offset in where:
            return where[offset] + 0.5
        first = shown[0]
        if first is not None and offset < first:
            return 0.0
        last = shown[-1]
        if last is not None and offset > last:
            return float(SLOTS)
        return HEAD + 0.5


# --- from events to steps -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """What one event does to a log: 'append' (who: the message), 'remove', 'read' / 'place' /
    'leave' (who: the reader's graph node)."""

    stream: str
    op: str
    offset: int
    who: int | str | None = None


def stream_offsets(
    events: Sequence[TraceEvent], stream_of: Callable[[TraceEvent], str | None]
) -> tuple[dict[tuple[int, str], int], set[str]]:
    """(message, stream) -> offset, and the streams whose offsets are known. An offset an
    event states is taken; an append without one (a real broker's firehose) is placed after the
    previous append, or before the next one whose offset is known; a stream where no event
    states any is numbered from 0 and reported as not numbered."""
    known: dict[tuple[int, str], int] = {}
    appends: dict[str, list[int]] = {}
    for event in events:
        stream = stream_of(event)
        if stream is None or event.message is None:
            continue
        offset = event.detail.get("offset")
        if isinstance(offset, int):
            known.setdefault((event.message, stream), offset)
        if event.kind is EventKind.ENQUEUE:
            appends.setdefault(stream, []).append(event.message)
    numbered = {stream for _message, stream in known}
    for stream, messages in appends.items():
        slots: list[int | None] = [known.get((message, stream)) for message in messages]
        for index in range(1, len(slots)):  # forwards from each known one
            previous = slots[index - 1]
            if slots[index] is None and previous is not None:
                slots[index] = previous + 1
        for index in range(len(slots) - 2, -1, -1):  # backwards before the first known one
            following = slots[index + 1]
            if slots[index] is None and following is not None:
                slots[index] = following - 1
        for index, (message, slot) in enumerate(zip(messages, slots, strict=True)):
            known.setdefault((message, stream), index if slot is None else slot)
    return known, numbered


def step_of(
    event: TraceEvent,
    stream: str,
    reader: str | None,
    offsets: Mapping[tuple[int, str], int],
) -> Step | None:
    """The log step `event` makes on `stream` (its queue node), if any; `reader` is the graph
    node of its consumer."""
    offset = event.detail.get("offset")
    if event.message is not None:
        offset = offsets.get((event.message, stream), offset)
    if not isinstance(offset, int):
        return None
    if event.kind is EventKind.ENQUEUE:
        return Step(stream, "append", offset, event.message)
    if event.kind is EventKind.DELIVER and reader is not None:
        return Step(stream, "read", offset, reader)
    if event.kind in (EventKind.DROP, EventKind.EXPIRE):
        return Step(stream, "remove", offset)
    if event.kind is EventKind.CONSUMER_ADDED and reader is not None:
        return Step(stream, "place", offset, reader)
    return None


def log_steps(
    events: Sequence[TraceEvent], streams: Collection[str], node_of: Callable[[Node], str]
) -> tuple[list[tuple[int, Step]], set[str]]:
    """The log steps of a trace, (event index, step), for the queue nodes in `streams`
    (`node_of` maps an event's node to its graph node), and the streams whose offsets are known."""
    if not streams:
        return [], set()

    def stream_of(event: TraceEvent) -> str | None:
        if event.source is None or event.source.kind is not NodeKind.QUEUE:
            return None
        found = node_of(event.source)
        return found if found in streams else None

    offsets, numbered = stream_offsets(events, stream_of)
    found: list[tuple[int, Step]] = []
    following: dict[str, int] = {}  # reader -> the offset it reads next, as far as known
    for index, event in enumerate(events):
        stream = stream_of(event)
        if stream is None:
            continue
        reader = node_of(event.target) if event.target is not None else None
        if event.kind is EventKind.CONSUMER_CANCELLED and reader is not None:
            found.append((index, Step(stream, "leave", 0, reader)))
            continue
        step = step_of(event, stream, reader, offsets)
        if step is None and event.kind is EventKind.DELIVER and reader in following:
            # a delivery that does not say its offset: a reader reads the log in order
            assert reader is not None and event.message is not None
            step = Step(stream, "read", following[reader], reader)
            offsets[(event.message, stream)] = step.offset
        if step is None:
            continue
        found.append((index, step))
        if step.op in ("place", "read") and isinstance(step.who, str):
            following[step.who] = step.offset + (step.op == "read")
    return found, numbered


def place_by_argument(log: StreamLog, reader: str, spec: Any) -> None:
    """A reader the trace did not place, put where its `x-stream-offset` says, where that can
    be told without a clock: first, next, last (the newest message: its chunk may start
    earlier), or a number. A timestamp or an interval is left unplaced (the edge says it)."""
    if reader in log.readers:
        return
    if spec == "first":
        log.place(reader, log.first)
    elif spec == "next":
        log.place(reader, log.end)
    elif spec == "last":
        log.place(reader, max(log.first, log.end - 1))
    elif isinstance(spec, int) and not isinstance(spec, bool) and log.numbered:
        log.place(reader, max(spec, log.first))


def initial_log(attributes: Mapping[str, Any], steps: Iterable[Step], numbered: bool) -> StreamLog:
    """The log before the trace, from the snapshot taken after it (`first_offset`,
    `committed_offset`, or only its count on a real broker) and what the trace did: offsets
    read but not appended during the trace were there before it, offsets appended were not,
    and retention only removes from the start, so the log began at or before the oldest
    offset the trace saw it hold."""
    appended: list[int] = []
    removed: list[int] = []
    read: list[int] = []
    by_op = {"append": appended, "remove": removed, "read": read}
    for step in steps:
        if step.op in by_op:
            by_op[step.op].append(step.offset)
    end_first, end_last = attributes.get("first_offset"), attributes.get("committed_offset")
    start = min(appended) if appended else None
    earlier = [offset for offset in read if start is None or offset < start]
    known_first = [o for o in (end_first, *removed, *earlier) if isinstance(o, int)]
    if start is not None:
        last: int | None = start - 1
    else:
        known_last = [o for o in (end_last, *earlier, *removed) if isinstance(o, int)]
        last = max(known_last) if known_last else None
    if not numbered:  # a real broker's log: only its count is known, and it lags
        before = max(0, int(attributes.get("ready", 0)) - len(appended))
        begin = (start or 0) - before
        return StreamLog(begin, begin + before, numbered=False)
    if last is None:  # nothing held before: the log starts where it is first written
        return StreamLog(start or 0, start or 0)
    first = min(known_first) if known_first else last + 1
    return StreamLog(min(first, last + 1), last + 1)


# --- geometry -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str
    edge: str = "none"
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    size: float
    colour: str
    ha: str = "center"  # left | center | right
    va: str = "center"  # top | center


@dataclass(frozen=True, slots=True)
class Marker:
    points: tuple[tuple[float, float], ...]
    fill: str


Shape = Box | Label | Marker


def cell_width() -> float:
    return (STREAM_WIDTH - 2 * INSET) / SLOTS


def shapes(view: LogView, x: float, y: float, labels: Mapping[str, str]) -> list[Shape]:
    """The cells, reader markers and caption of a log centred at (x, y), in layout units;
    `labels` names readers as the picture does (C1, C2)."""
    width, height = cell_width(), QUEUE_HEIGHT - 2 * INSET
    left, bottom = x - STREAM_WIDTH / 2 + INSET, y - height / 2
    out: list[Shape] = []
    digits = max((len(str(c.offset)) for c in view.cells if c.offset is not None), default=1)
    size = OFFSET_SIZE if digits <= 2 else OFFSET_SIZE * 0.8 if digits == 3 else 0.0
    for index, cell in enumerate(view.cells):
        x0 = left + index * width + CELL_GAP / 2
        inner = width - CELL_GAP
        if cell.colour == GAP:
            out.append(Label(x0 + inner / 2, y, "\u2026", 8.0, CAPTION_COLOUR))
            continue
        if cell.colour in (EMPTY, GONE):
            gone = cell.colour == GONE
            out.append(
                Box(
                    x0,
                    bottom,
                    inner,
                    height,
                    *((GONE_COLOUR, GONE_EDGE) if gone else (EMPTY_COLOUR, EMPTY_EDGE)),
                    dashed=True,
                )
            )
            if view.numbered and size and cell.offset == view.next:  # where the next append lands
                out.append(Label(x0 + inner / 2, y, str(cell.offset), size, NEXT_COLOUR))
            continue
        fill = HELD_COLOUR if cell.colour == HELD else PALETTE[cell.colour % len(PALETTE)]
        out.append(Box(x0, bottom, inner, height, fill, "#FFFFFF"))
        if view.numbered and size and cell.offset is not None:
            out.append(Label(x0 + inner / 2, y, str(cell.offset), size, _ink(fill)))
    top = y - QUEUE_HEIGHT / 2
    placed: list[tuple[float, str]] = []  # (x, the names under it), left to right
    for reader in sorted(view.readers, key=lambda r: (r.slot, labels.get(r.node, ""))):
        tip = left + reader.slot * width
        out.append(
            Marker(
                (
                    (tip, top - 0.01),
                    (tip - MARKER_HALF_WIDTH, top - 0.01 - MARKER_HEIGHT),
                    (tip + MARKER_HALF_WIDTH, top - 0.01 - MARKER_HEIGHT),
                ),
                READER_COLOUR,
            )
        )
        name = labels.get(reader.node, "")
        hidden = not any(cell.offset == reader.next and cell.colour != GAP for cell in view.cells)
        if hidden and view.numbered:  # in the elision, or off either end: say where
            name = f"{name}@{reader.next}"
        if placed and abs(placed[-1][0] - tip) < 1e-6:
            placed[-1] = (tip, f"{placed[-1][1]},{name}")
        else:
            placed.append((tip, name))
    right_edge = -1e9
    per_unit = 1 / (72 * INCHES_PER_UNIT)  # layout units per point at the usual scale
    for tip, names in placed:
        half = len(names) * READER_SIZE * POINTS_PER_CHARACTER * per_unit / 2
        centre = max(tip, right_edge + half + 0.02)
        right_edge = centre + half
        out.append(
            Label(centre, top - 0.01 - MARKER_HEIGHT - 0.02, names, READER_SIZE, READER_COLOUR, va="top")
        )
    out.append(Label(x, top - READER_LANE, view.caption, CAPTION_SIZE, CAPTION_COLOUR, va="top"))
    return out


def _ink(fill: str) -> str:
    """Dark text on light cells, white on dark ones."""
    red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return TEXT_COLOUR if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#FFFFFF"
