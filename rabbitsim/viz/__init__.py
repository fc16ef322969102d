"""rabbitsim.viz: pictures of a broker, and films of what its messages did.

Everything takes what a learner has at hand as `source`: a `Topology` (`broker.topology()`),
a sequence of `TraceEvent`s, or a recorded trace (anything with `.events` and `.topology`).
The topology says what exists and how deep each queue is; the events add what no snapshot
knows (who publishes, which queues the default exchange fed, queues already gone) and are what
an animation plays.

    graph(source, events=(), *, topology=None, vhost="/") -> networkx.DiGraph
        Nodes 'publisher:<channel>', 'exchange:<name>', 'queue:<name>',
        'consumer:<channel>:<tag>' with kind, name, label (short: P1, C2, 'amq.gen-…0tA'),
        caption, title (the full description); queues carry ready / unacked. Edges carry kind
        ('publish', 'binding', 'consume'), keys and label. The default exchange and the amq.*
        exchanges appear only when used.
        A stream (`x-queue-type: stream`) is a queue node with queue_type 'stream' and a `log`
        (a LogView): its offsets as cells, first to committed (a long log elided in the
        middle), and each consumer's next offset, from the trace or else from its
        `x-stream-offset` argument; its consume edges say the argument ('from first').
    layout(graph) -> Layout
        Columns by kind, left to right (exchanges bound to exchanges go one column deeper),
        rows sorted to keep edges short; deterministic.
    draw(source, ...) -> Picture
        A matplotlib Figure: producers (circles), exchanges (diamonds, with their type),
        queues (boxes with a depth bar: ready dark, unacked light), consumers (circles), binding
        keys on the edges, no label over another. In Jupyter it shows as SVG with the full
        names on hover.
    frames(source, ..., frames_per_hop=4, max_frames=240, colour_by="auto") -> Film
        The animation as data, no drawing: per frame the tokens (message, edge, progress,
        x, y, colour: by routing key, or by message where all share one key), each queue's
        ready and unacked count, marks (ack, nack, reject, drop, requeue, return, confirm)
        and the events it shows. Long traces are compressed to about `max_frames` frames.
        A stream has no depth: per frame its log (`Frame.logs`), messages appended as they
        arrive and kept after delivery and ack, each reader's marker moving as it receives,
        retention emptying cells from the start.
    animate(source, ..., interval=100) -> Animation
        Shows itself in a notebook as a self-contained HTML player (SVG picture, frames as
        data, a small script; play / pause / step / speed / loop, and the event log beside it,
        the current events highlighted, a click on a line jumps there). Also `.save(path)`,
        `.frame_png(i)`, `.to_jshtml()` (matplotlib's own player, much heavier) and `.player()`.
    player(source, ...) -> Player
        The ipywidgets player: Play linked to a frame slider, step buttons, speed, the log;
        frames drawn by the kernel. Works headless (nbclient) without errors.
    live(handle, interval=0.5) -> LiveView
        A widget that follows a running broker: redraws when the topology changes, shows the
        latest events (through `rabbitsim.trace`, from the handle's own event source, on every
        backend). One daemon thread; `.stop()` ends it.
    font_family() -> str | list[str]
        The font the pictures draw their texts in: "DejaVu Sans", and in a Chinese kernel
        (`rabbitsim.language("zh")`) a CJK font after it, so that Chinese labels have glyphs.
        For a chart of one's own: `matplotlib.rc_context({"font.family": viz.font_family()})`.

In a Chinese kernel the pictures' words are Chinese (the player's controls, the event log's
sentences, queue counts, legends, hovers), decided when a picture is drawn; names (queues,
exchanges, P1 / C1, exchange types, routing keys) stay as they are.

Example, on any backend::

    import pika, rabbitsim
    from rabbitsim import viz

    broker = rabbitsim.start()
    channel = pika.BlockingConnection(broker.parameters).channel()
    channel.exchange_declare("logs", "fanout")
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "logs")
    with broker.trace() as trace:
        channel.basic_publish("logs", "", b"hello")
    viz.draw(trace)          # the picture
    viz.animate(trace)       # the film
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rabbitsim._interrupts import interrupt_deferred
from rabbitsim._lazy import lazy_names
from rabbitsim.vocabulary import TraceEvent

with interrupt_deferred():  # interrupted halfway, these stay broken until the kernel restarts
    import matplotlib.figure  # noqa: F401  (loaded here, used by the modules below)
    import networkx  # type: ignore[import-untyped]  # noqa: F401

from ._animate import Animation, animate
from ._frames import Film, Frame, Mark, Token, frames
from ._graph import graph
from ._layout import Layout, layout
from ._scene import Picture, Scene, draw
from ._stream import LogView
from ._style import PALETTE, font_family, shorten

if TYPE_CHECKING:
    from ._live import LiveView, live
    from ._player import Player

#: The widgets (ipywidgets), imported when first asked for: most chapters never make one.
__getattr__ = lazy_names(__name__, {"LiveView": "_live", "live": "_live", "Player": "_player"})

__all__ = [
    "PALETTE",
    "Animation",
    "Film",
    "Frame",
    "Layout",
    "LiveView",
    "LogView",
    "Mark",
    "Picture",
    "Player",
    "Scene",
    "Token",
    "animate",
    "draw",
    "font_family",
    "frames",
    "graph",
    "layout",
    "live",
    "player",
    "shorten",
]


def player(source: Any = None, events: Iterable[TraceEvent] = (), **options: Any) -> Player:
    """The ipywidgets player for a trace; `options` go to `animate` (frames_per_hop,
    max_frames, colour_by, interval, topology, vhost)."""
    return animate(source, events, **options).player()
