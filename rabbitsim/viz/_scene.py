"""Drawing with matplotlib: a `Scene` lays the graph out once (edges, node shapes, labels) and
then shows any frame by moving a few artists (tokens, depth bars, counts, marks), which is
what makes stepping through frames cheap. No pyplot: figures are plain `Figure`s on an Agg
canvas, so nothing global changes and drawing works in threads and without a display."""

from __future__ import annotations

import io
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import networkx as nx  # type: ignore[import-untyped]
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle, RegularPolygon
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from rabbitsim._language import say
from rabbitsim.vocabulary import NodeKind

from ._frames import Frame
from ._graph import graph
from ._layout import Layout, layout
from ._stream import BELOW, STREAM_TYPE, STREAM_WIDTH, Box, LogView, Marker, Shape, shapes
from ._style import (
    CAPTION_COLOUR,
    CIRCLE_RADIUS,
    DIAMOND_RADIUS,
    EDGE_COLOUR,
    FONT,
    HIGHLIGHT_COLOUR,
    MARKS,
    NODE_COLOURS,
    QUEUE_HEIGHT,
    QUEUE_WIDTH,
    READY_COLOUR,
    TEXT_COLOUR,
    TOKEN_OUTLINES,
    TOKEN_RADIUS,
    UNACKED_COLOUR,
    colour,
    font_family,
    shorten,
)

LABEL_SIZE = 8.0
CAPTION_SIZE = 6.8
EDGE_LABEL_SIZE = 6.8
MARK_SIZE = 12.0
# Where along an edge its label may go, tried in this order until it overlaps nothing.
LABEL_SPOTS = (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.12, 0.88)
MAX_KEYS_IN_LEGEND = 8
BAR_INSET = 0.035
# Matplotlib shares font caches between figures and is not thread-safe; the live view draws
# on its own thread, so every drawing and saving holds this.
RENDERING = threading.RLock()


class Scene:
    """One figure for one graph and layout. `show(frame)` puts a frame on it; `counts(...)`
    sets the depth bars alone, as a static picture does."""

    def __init__(
        self,
        picture: nx.DiGraph,
        where: Layout,
        *,
        keys: Sequence[str] = (),
        key_title: str = "routing key",
        scale: int | None = None,
        dpi: float = 100,
        figure: type[Figure] = Figure,
        highlight: Collection[tuple[str, str]] = (),
    ) -> None:
        self.graph, self.layout = picture, where
        self.highlight = highlight
        self.figure = figure(figsize=where.size, dpi=dpi)
        FigureCanvasAgg(self.figure)
        axes = self.axes = self.figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(*where.xlim)
        axes.set_ylim(*where.ylim)
        axes.set_axis_off()
        self.points_per_unit = where.inches_per_unit * 72
        self.streams = [n for n in picture.nodes if picture.nodes[n].get("queue_type") == STREAM_TYPE]
        self.queues = [
            n for n in picture.nodes if picture.nodes[n]["kind"] is NodeKind.QUEUE and n not in self.streams
        ]
        self.scale = max(
            [scale or 1]
            + [int(picture.nodes[q]["ready"]) + int(picture.nodes[q]["unacked"]) for q in self.queues]
        )
        self.obstacles: list[Bbox] = []
        self.keys = tuple(keys)
        # FONT in English; in a Chinese kernel a CJK font after it, for the Chinese labels
        self.family = font_family()
        with mpl.rc_context({"font.family": self.family}):
            self._draw_edges()
            for node in sorted(picture.nodes):
                if node in self.streams:
                    self._stream(node)
                else:
                    _SHAPES[picture.nodes[node]["kind"]](self, node)
            self._place_edge_labels()
            self._draw_legend(key_title)
        self.bars = {q: self._bars(q) for q in self.queues}
        self.count_texts = {q: self._count_text(q) for q in self.queues}
        self.tokens = axes.scatter([], [], s=[], zorder=6, linewidths=0.8)
        self.dynamic: list[Artist] = []  # marks of the frame on show
        self.log_artists: dict[str, list[Artist]] = {s: [] for s in self.streams}
        self.log_views: dict[str, LogView | None] = dict.fromkeys(self.streams)
        self.hidden = False
        self.counts(
            {q: int(picture.nodes[q]["ready"]) for q in self.queues},
            {q: int(picture.nodes[q]["unacked"]) for q in self.queues},
        )
        self.logs({s: picture.nodes[s]["log"] for s in self.streams if "log" in picture.nodes[s]})

    # --- static parts ---------------------------------------------------------------------------

    def _draw_edges(self) -> None:
        for source, target in sorted(self.graph.edges):
            start, end = self.layout.path(source, target)
            lit = (source, target) in self.highlight
            self.axes.add_patch(
                FancyArrowPatch(
                    start,
                    end,
                    arrowstyle="-|>",
                    mutation_scale=10 if lit else 8,
                    linewidth=2.4 if lit else 1.0,
                    color=HIGHLIGHT_COLOUR if lit else EDGE_COLOUR,
                    shrinkA=0,
                    shrinkB=0.5,
                    zorder=1,
                )
            )

    def _text(self, x: float, y: float, text: str, *, obstacle: bool = True, **style: Any) -> Text:
        settings: dict[str, Any] = {
            "ha": "center",
            "va": "center",
            "fontsize": LABEL_SIZE,
            "color": TEXT_COLOUR,
            "zorder": 4,
        }
        settings.update(style)
        shown = self.axes.text(x, y, text, **settings)
        if obstacle and text:
            self.obstacles.append(self._extent(shown))
        return shown

    def _extent(self, artist: Any) -> Bbox:
        return Bbox(artist.get_window_extent(self.figure.canvas.get_renderer()))  # type: ignore[attr-defined]

    def _box(self, node: str, half_width: float, half_height: float) -> None:
        x, y = self.layout.positions[node]
        self.obstacles.append(
            Bbox(
                self.axes.transData.transform(
                    [(x - half_width, y - half_height), (x + half_width, y + half_height)]
                )
            )
        )

    def _circle(self, node: str) -> None:
        attributes = self.graph.nodes[node]
        x, y = self.layout.positions[node]
        fill, outline = NODE_COLOURS[attributes["kind"]]
        self.axes.add_patch(
            Circle((x, y), CIRCLE_RADIUS, facecolor=fill, edgecolor=outline, linewidth=1.4, zorder=3)
        )
        self._box(node, CIRCLE_RADIUS, CIRCLE_RADIUS)
        self._text(x, y, attributes["label"], fontweight="bold", obstacle=False)
        self._text(
            x,
            y - CIRCLE_RADIUS - 0.06,
            attributes["caption"],
            va="top",
            fontsize=CAPTION_SIZE,
            color=CAPTION_COLOUR,
        )

    def _diamond(self, node: str) -> None:
        attributes = self.graph.nodes[node]
        x, y = self.layout.positions[node]
        fill, outline = NODE_COLOURS[NodeKind.EXCHANGE]
        self.axes.add_patch(
            RegularPolygon(
                (x, y), 4, radius=DIAMOND_RADIUS, facecolor=fill, edgecolor=outline, linewidth=1.4, zorder=3
            )
        )
        self._box(node, DIAMOND_RADIUS, DIAMOND_RADIUS)
        kind = str(attributes.get("type", ""))
        self._text(x, y, kind[:1].upper(), fontweight="bold", color=outline, obstacle=False)
        self._text(x, y + DIAMOND_RADIUS + 0.05, attributes["label"], va="bottom")
        self._text(
            x,
            y - DIAMOND_RADIUS - 0.05,
            kind,
            va="top",
            fontsize=CAPTION_SIZE,
            color=CAPTION_COLOUR,
            style="italic",
        )

    def _queue_box(self, node: str, width: float, rounding: float) -> tuple[float, float]:
        """A queue's (or a stream's) box of `width` with its name above; where it stands."""
        x, y = self.layout.positions[node]
        fill, outline = NODE_COLOURS[NodeKind.QUEUE]
        self.axes.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - QUEUE_HEIGHT / 2),
                width,
                QUEUE_HEIGHT,
                boxstyle=f"round,pad=0,rounding_size={rounding}",
                facecolor=fill,
                edgecolor=outline,
                linewidth=1.4,
                zorder=3,
            )
        )
        self._text(x, y + QUEUE_HEIGHT / 2 + 0.05, self.graph.nodes[node]["label"], va="bottom")
        return x, y

    def _queue(self, node: str) -> None:
        self._queue_box(node, QUEUE_WIDTH, 0.06)
        self._box(node, QUEUE_WIDTH / 2, QUEUE_HEIGHT / 2)
        # the counts line below is rewritten per frame; reserve its room for edge labels
        self._box(node, QUEUE_WIDTH / 2, QUEUE_HEIGHT / 2 + 0.26)

    def _stream(self, node: str) -> None:
        """A stream's frame: a long box for its log, its name above; the cells, the readers'
        markers and the caption below it are moving parts (`logs`)."""
        x, y = self._queue_box(node, STREAM_WIDTH, 0.04)
        self.obstacles.append(
            Bbox(
                self.axes.transData.transform(
                    [(x - STREAM_WIDTH / 2, y - BELOW), (x + STREAM_WIDTH / 2, y + QUEUE_HEIGHT / 2)]
                )
            )
        )

    def _place_edge_labels(self) -> None:
        """Each label goes to the first spot along its edge where it overlaps no node, name or
        earlier label; failing that, the spot where it overlaps least."""
        renderer = self.figure.canvas.get_renderer()  # type: ignore[attr-defined]
        for source, target in sorted(self.graph.edges):
            label = self.graph.edges[source, target].get("label", "")
            if not label:
                continue
            (x0, y0), (x1, y1) = self.layout.path(source, target)
            text = self._text(
                x0,
                y0,
                label,
                obstacle=False,
                fontsize=EDGE_LABEL_SIZE,
                color=CAPTION_COLOUR,
                zorder=5,
                linespacing=1.05,
                bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
            )
            best: tuple[float, Bbox, tuple[float, float]] | None = None
            for spot in LABEL_SPOTS:
                point = (x0 + (x1 - x0) * spot, y0 + (y1 - y0) * spot)
                text.set_position(point)
                extent = Bbox(text.get_window_extent(renderer)).padded(2)
                overlap = sum(_overlap(extent, other) for other in self.obstacles)
                if best is None or overlap < best[0]:
                    best = (overlap, extent, point)
                if overlap == 0:
                    break
            assert best is not None
            text.set_position(best[2])
            self.obstacles.append(best[1])

    def _draw_legend(self, title: str) -> None:
        """The token colours, in a row along the bottom: what each colour stands for, as many
        as fit (the palette repeats after eight, so more would not tell keys apart anyway)."""
        if not self.keys:
            return
        renderer = self.figure.canvas.get_renderer()  # type: ignore[attr-defined]
        x, y = self.layout.xlim[0] + 0.25, self.layout.ylim[0] + 0.2
        inverse = self.axes.transData.inverted()
        style: dict[str, Any] = {"ha": "left", "fontsize": CAPTION_SIZE, "obstacle": False}
        shown_title = {"routing key": say("routing key:", "路由键："), "message": say("message:", "消息：")}
        text = self._text(x, y, shown_title.get(title, f"{title}:"), color=CAPTION_COLOUR, **style)
        room = self.layout.xlim[1] - 1.0  # keep space for "+n more"
        for index, key in enumerate(self.keys):
            x = inverse.transform(Bbox(text.get_window_extent(renderer)).p1)[0] + 0.18
            shown = repr(shorten(key)) if title == "routing key" else key.removeprefix("message ")
            candidate = self._text(x + 0.12, y, shown, **style)
            end = inverse.transform(Bbox(candidate.get_window_extent(renderer)).p1)[0]
            if index == MAX_KEYS_IN_LEGEND or end > room:
                rest = len(self.keys) - index
                candidate.set_text(say(f"+{rest} more", f"另有 {rest} 个"))
                candidate.set_position((x, y))
                return
            self.axes.add_patch(
                Circle((x, y), TOKEN_RADIUS, facecolor=colour(index), edgecolor="#333333", lw=0.6)
            )
            text = candidate

    # --- moving parts ---------------------------------------------------------------------------

    def _bars(self, queue: str) -> tuple[Rectangle, Rectangle]:
        x, y = self.layout.positions[queue]
        top = y - QUEUE_HEIGHT / 2 + BAR_INSET
        height = QUEUE_HEIGHT - 2 * BAR_INSET
        ready = Rectangle((x, top), 0, height, facecolor=READY_COLOUR, linewidth=0, zorder=3.5)
        unacked = Rectangle((x, top), 0, height, facecolor=UNACKED_COLOUR, linewidth=0, zorder=3.5)
        self.axes.add_patch(ready)
        self.axes.add_patch(unacked)
        return ready, unacked

    def _count_text(self, queue: str) -> Text:
        x, y = self.layout.positions[queue]
        # drawn in matplotlib's default font in English, as ever; a Chinese line needs the CJK one
        chinese = {} if self.family == FONT else {"fontfamily": self.family}
        return self._text(
            x,
            y - QUEUE_HEIGHT / 2 - 0.05,
            "",
            va="top",
            fontsize=CAPTION_SIZE,
            color=CAPTION_COLOUR,
            obstacle=False,
            **chinese,
        )

    def counts(self, ready: Mapping[str, int], unacked: Mapping[str, int]) -> None:
        """Depth bars fill from the queue's head (its right end, towards consumers): unacked
        messages are out with consumers, ready ones wait behind them."""
        inner = QUEUE_WIDTH - 2 * BAR_INSET
        for queue, (ready_bar, unacked_bar) in self.bars.items():
            x, _y = self.layout.positions[queue]
            right = x + QUEUE_WIDTH / 2 - BAR_INSET
            waiting, out = ready.get(queue, 0), unacked.get(queue, 0)
            out_width = inner * min(1.0, out / self.scale)
            ready_width = min(inner - out_width, inner * waiting / self.scale)
            unacked_bar.set_x(right - out_width)
            unacked_bar.set_width(out_width)
            ready_bar.set_x(right - out_width - ready_width)
            ready_bar.set_width(ready_width)
            self.count_texts[queue].set_text(
                say(f"{waiting} ready \u00b7 {out} unacked", f"{waiting} 条待投递 \u00b7 {out} 条未确认")
            )

    def logs(self, views: Mapping[str, LogView]) -> list[Artist]:
        """Draw each stream's log as `views` has it (only those that changed); returns the
        artists drawn."""
        drawn: list[Artist] = []
        labels = {n: str(self.graph.nodes[n].get("label", "")) for n in self.graph.nodes}
        for stream, view in views.items():
            if stream not in self.log_views or self.log_views[stream] == view:
                continue
            for artist in self.log_artists[stream]:
                artist.remove()
            x, y = self.layout.positions[stream]
            artists = [self._shape(shape) for shape in shapes(view, x, y, labels)]
            for artist in artists:
                artist.set_visible(not self.hidden)
            self.log_artists[stream], self.log_views[stream] = artists, view
            drawn += artists
        return drawn

    def _shape(self, shape: Shape) -> Artist:
        if isinstance(shape, Box):
            return self.axes.add_patch(
                Rectangle(
                    (shape.x, shape.y),
                    shape.width,
                    shape.height,
                    facecolor=shape.fill,
                    edgecolor=shape.edge,
                    linewidth=0.6,
                    linestyle=(0, (2, 1.5)) if shape.dashed else "-",
                    zorder=3.5,
                )
            )
        if isinstance(shape, Marker):
            return self.axes.add_patch(
                Polygon(shape.points, closed=True, facecolor=shape.fill, edgecolor="none", zorder=4)
            )
        return self.axes.text(
            shape.x,
            shape.y,
            shape.text,
            ha=shape.ha,
            va=shape.va,
            fontsize=shape.size,
            color=shape.colour,
            zorder=4.5,
            fontfamily=self.family,
        )

    def show(self, frame: Frame) -> list[Artist]:
        """Put `frame` on the figure; returns the artists that changed (for FuncAnimation)."""
        self.counts(frame.ready, frame.unacked)
        logs = self.logs(frame.logs)
        radius_points = TOKEN_RADIUS * self.points_per_unit
        tokens = frame.tokens
        self.tokens.set_offsets(np.array([(t.x, t.y) for t in tokens], dtype=float).reshape(-1, 2))
        self.tokens.set_sizes([(2 * radius_points) ** 2] * len(tokens))
        self.tokens.set_facecolor([colour(t.colour) for t in tokens])
        self.tokens.set_edgecolor([TOKEN_OUTLINES[t.style] for t in tokens])
        self.tokens.set_linewidth([0.8 if t.style == "message" else 2.0 for t in tokens])
        for artist in self.dynamic:
            artist.remove()
        self.dynamic = [self._mark(mark.node, mark.kind, mark.age) for mark in frame.marks]
        return [
            self.tokens,
            *self.dynamic,
            *self.count_texts.values(),
            *(b for pair in self.bars.values() for b in pair),
            *logs,
        ]

    def _mark(self, node: str, kind: str, age: float) -> Text:
        x, y = self.layout.positions[node]
        glyph, tint = MARKS[kind]
        dx, dy = mark_offset(self.graph.nodes[node])
        return self.axes.text(
            x + dx,
            y + dy,
            glyph,
            ha="center",
            va="center",
            fontsize=MARK_SIZE,
            fontweight="bold",
            color=tint,
            alpha=max(0.25, 1 - 0.75 * age),
            zorder=7,
            fontfamily=self.family,
        )

    def hide_moving_parts(self, hidden: bool = True) -> None:
        self.hidden = hidden
        logs = [artist for artists in self.log_artists.values() for artist in artists]
        for artist in [self.tokens, *self.dynamic, *self.count_texts.values(), *logs]:
            artist.set_visible(not hidden)
        for pair in self.bars.values():
            for bar in pair:
                bar.set_visible(not hidden)

    # --- output ---------------------------------------------------------------------------------

    def png(self, dpi: float | None = None) -> bytes:
        buffer = io.BytesIO()
        with RENDERING:
            self.figure.savefig(buffer, format="png", dpi=dpi or self.figure.dpi)
        return buffer.getvalue()

    def svg(self, salt: str = "rabbitsim") -> str:
        """The figure as SVG text, fonts left to the browser (smaller, and crisp at any zoom).
        Its ids (clip paths) derive from `salt`: give each inline copy on a page its own."""
        buffer = io.StringIO()
        with RENDERING, mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
            self.figure.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
        return text[text.index("<svg") :]


def mark_offset(attributes: Mapping[str, Any]) -> tuple[float, float]:
    """Where a mark sits beside a node (its graph attributes): above its top-right corner,
    clear of the node's name; a stream's box is wider than a queue's."""
    if attributes.get("queue_type") == STREAM_TYPE:
        return (STREAM_WIDTH / 2 + 0.12, QUEUE_HEIGHT / 2 + 0.05)
    return _MARK_OFFSETS[attributes["kind"]]


_MARK_OFFSETS = {
    NodeKind.PUBLISHER: (CIRCLE_RADIUS + 0.1, CIRCLE_RADIUS),
    NodeKind.CONSUMER: (CIRCLE_RADIUS + 0.12, CIRCLE_RADIUS),
    NodeKind.EXCHANGE: (DIAMOND_RADIUS + 0.12, DIAMOND_RADIUS * 0.6),
    NodeKind.QUEUE: (QUEUE_WIDTH / 2 + 0.12, QUEUE_HEIGHT / 2 + 0.05),
}

_SHAPES = {
    NodeKind.PUBLISHER: Scene._circle,
    NodeKind.CONSUMER: Scene._circle,
    NodeKind.EXCHANGE: Scene._diamond,
    NodeKind.QUEUE: Scene._queue,
}


def _overlap(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


class Picture(Figure):
    """A figure that shows itself in Jupyter without pyplot: as SVG with the full names on
    hover where HTML is shown, as PNG elsewhere."""

    scene: Scene | None = None

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        with RENDERING:
            self.savefig(buffer, format="png")
        return buffer.getvalue()

    def _repr_html_(self) -> str | None:
        if self.scene is None:
            return None
        from ._html import picture_html

        return picture_html(self.scene)


def draw(
    source: Any = None,
    events: Iterable[Any] = (),
    *,
    topology: Any = None,
    vhost: str | None = None,
    dpi: float = 100,
    highlight: Collection[tuple[str, str]] = (),
) -> Picture:
    """A static picture of a topology and/or a trace (see `graph`): producers on the left,
    then exchanges (diamonds, with their type), queues (boxes, their depth as a bar) and
    consumers. Queue depths are the snapshot's. Edges in `highlight` (pairs of node ids) are
    drawn bold: the live view marks the paths messages just took."""
    picture = graph(source, events, topology=topology, vhost=vhost)
    with RENDERING:
        scene = Scene(picture, layout(picture), dpi=dpi, figure=Picture, highlight=highlight)
    figure = scene.figure
    assert isinstance(figure, Picture)
    figure.scene = scene
    return figure
