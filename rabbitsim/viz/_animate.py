"""`animate`: a trace as moving tokens. The `Animation` it returns shows itself in a notebook as
the HTML player (see `_html`), and gives the same frames as PNG images, as matplotlib's own
`to_jshtml`, as a standalone page, or in the ipywidgets player."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import Topology, TraceEvent

from ._frames import Film, Frame, frames
from ._html import film_html
from ._scene import RENDERING, Scene

if TYPE_CHECKING:
    from ._player import Player

PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
    "<body>{body}</body></html>\n"
)


class Animation:
    """A trace, ready to play. `film` holds the frames (pure data); the rest draws them."""

    def __init__(self, film: Film, *, interval: float = 100.0, dpi: float = 100) -> None:
        self.film = film
        self.interval = interval
        self.dpi = dpi
        self._scene: Scene | None = None

    def __len__(self) -> int:
        return len(self.film.frames)

    @property
    def frames(self) -> tuple[Frame, ...]:
        return self.film.frames

    @property
    def scene(self) -> Scene:
        """The figure the frames are drawn on, made once (drawing the graph is the slow part)."""
        if self._scene is None:
            with RENDERING:
                self._scene = scene_for(self.film, self.dpi)
        return self._scene

    def to_html(self) -> str:
        """The player as an HTML fragment: SVG picture, frames as data, a script to play them."""
        return film_html(self.film, self.scene, interval=self.interval)

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, path: str | Path, title: str = "rabbitsim") -> Path:
        """A standalone page that plays in any browser."""
        target = Path(path)
        target.write_text(PAGE.format(title=title, body=self.to_html()), encoding="utf-8")
        return target

    def frame_png(self, index: int, dpi: float | None = None) -> bytes:
        """Frame `index` drawn by matplotlib, as PNG bytes."""
        with RENDERING:
            self.scene.show(self.film.frames[index])
            buffer = io.BytesIO()
            self.scene.figure.savefig(buffer, format="png", dpi=dpi or self.dpi)
        return buffer.getvalue()

    def to_jshtml(self, every: int = 1) -> str:
        """Matplotlib's own player (one embedded PNG per frame, every `every`th frame): heavier
        than `to_html` by two orders of magnitude, but made of nothing but matplotlib."""
        from matplotlib.animation import FuncAnimation  # seldom wanted, and slow to import

        chosen = list(range(0, len(self.film.frames), max(1, every)))
        with RENDERING:
            animation = FuncAnimation(
                self.scene.figure,
                lambda index: self.scene.show(self.film.frames[index]),
                frames=chosen,
                interval=self.interval * max(1, every),
                blit=False,
                cache_frame_data=False,
            )
            return str(animation.to_jshtml(embed_frames=True, default_mode="once"))

    def player(self, **options: Any) -> Player:
        """The ipywidgets player for these frames (play, pause, step, speed, event log)."""
        from ._player import Player

        return Player(self, **options)


def scene_for(film: Film, dpi: float = 100) -> Scene:
    title = "routing key" if film.colour_by == "routing_key" else "message"
    return Scene(film.graph, film.layout, keys=film.keys, key_title=title, scale=film.scale, dpi=dpi)


def animate(
    source: Any = None,
    events: Iterable[TraceEvent] = (),
    *,
    topology: Topology | None = None,
    vhost: str | None = None,
    frames_per_hop: int = 4,
    max_frames: int = 240,
    colour_by: str = "auto",
    interval: float = 100.0,
    dpi: float = 100,
) -> Animation:
    """Animate a trace (see `graph` for what `source` may be): tokens travel publisher →
    exchange → queue → consumer, coloured by routing key (or by message, where all share one
    key), queue depths rise and fall, acks, requeues, returns and drops flash at their nodes.
    `interval` is the milliseconds per frame at normal speed; a hop takes `frames_per_hop`
    frames."""
    film = frames(
        source,
        events,
        topology=topology,
        vhost=vhost,
        frames_per_hop=frames_per_hop,
        max_frames=max_frames,
        colour_by=colour_by,
    )
    return Animation(film, interval=interval, dpi=dpi)
