"""The ipywidgets player: play / pause, step, a frame slider, speed, and the event log beside
the picture. The kernel draws each frame (matplotlib, PNG) when the slider moves, so it needs
a running kernel, unlike the HTML player; in exchange it works on any frame of any size of
trace and the log can say more. Nothing here needs a frontend: headless execution (nbclient,
tests) builds and steps it without errors."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from rabbitsim._language import say

from ._log import line_html, log_box, titles

if TYPE_CHECKING:
    from ._animate import Animation

SPEEDS = (("\u00bc\u00d7", 0.25), ("\u00bd\u00d7", 0.5), ("1\u00d7", 1.0), ("2\u00d7", 2.0), ("4\u00d7", 4.0))
CACHED_FRAMES = 96


class Player(widgets.VBox):  # type: ignore[misc]
    """`Player(animation)`, or `animation.player()`. `.show(i)` and `.step(n)` drive it from code."""

    def __init__(self, animation: Animation, *, dpi: float = 90, log_lines: int = 16) -> None:
        self.animation = animation
        self.dpi = dpi
        self.log_lines = log_lines
        film = animation.film
        last = len(film.frames) - 1
        self._hovers = titles(film.graph)
        self._lines = [line_html(event, film.graph, self._hovers) for event in film.events]
        self._pngs: OrderedDict[int, bytes] = OrderedDict()
        self.play = widgets.Play(value=0, min=0, max=last, step=1, interval=int(animation.interval))
        self.slider = widgets.IntSlider(
            value=0, min=0, max=last, description=say("frame", "帧"), continuous_update=True
        )
        self.link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.back = widgets.Button(
            description=say("\u25c0 step", "\u25c0 上一帧"),
            tooltip=say("one frame back", "后退一帧"),
            layout={"width": "auto"},
        )
        self.forward = widgets.Button(
            description=say("step \u25b6", "下一帧 \u25b6"),
            tooltip=say("one frame on", "前进一帧"),
            layout={"width": "auto"},
        )
        self.speed = widgets.Dropdown(
            options=SPEEDS, value=1.0, description=say("speed", "速度"), layout={"width": "150px"}
        )
        width, height = film.layout.size
        self.image = widgets.Image(
            format="png", layout={"width": f"{round(width * dpi)}px", "height": "auto"}
        )
        self.event_log = widgets.HTML(
            layout={"width": "380px", "max_height": f"{max(160, round(height * dpi))}px"}
        )
        self.back.on_click(lambda _button: self.step(-1))
        self.forward.on_click(lambda _button: self.step(1))
        self.slider.observe(self._on_frame, names="value")
        self.speed.observe(self._on_speed, names="value")
        controls = widgets.HBox([self.play, self.back, self.forward, self.slider, self.speed])
        super().__init__([widgets.HBox([self.image, self.event_log]), controls])
        self.show(0)

    @property
    def frame(self) -> int:
        return int(self.slider.value)

    def step(self, delta: int) -> None:
        self.slider.value = max(0, min(self.slider.max, self.frame + delta))

    def show(self, index: int) -> None:
        """Draw frame `index` and its log (the slider follows)."""
        if self.slider.value != index:
            self.slider.value = index  # the observer draws it
            return
        self.image.value = self.png(index)
        self.event_log.value = self.log_html(index)

    def png(self, index: int) -> bytes:
        """Frame `index` as PNG, kept for the last CACHED_FRAMES frames drawn."""
        found = self._pngs.get(index)
        if found is None:
            found = self._pngs[index] = self.animation.frame_png(index, dpi=self.dpi)
            while len(self._pngs) > CACHED_FRAMES:
                self._pngs.popitem(last=False)
        self._pngs.move_to_end(index)
        return found

    def log_html(self, index: int) -> str:
        """The events up to this frame, the last `log_lines` of them, this frame's highlighted
        and the next few greyed, so the reader sees what has just happened and what comes."""
        film = self.animation.film
        now = set(film.frames[index].events)
        done = [i for i, frame in enumerate(film.event_frames) if frame <= index]
        later = [i for i, frame in enumerate(film.event_frames) if frame > index][:3]
        shown = done[-self.log_lines :] + later
        rows = [
            f'<div class="{"now" if i in now else "later" if i in later else ""}">{self._lines[i]}</div>'
            for i in shown
        ]
        total = len(film.events)
        caption = say(
            f"frame {index + 1} / {len(film.frames)} \u00b7 {len(done)} of {total} events",
            f"第 {index + 1} / {len(film.frames)} 帧 \u00b7 已发生 {len(done)} / {total} 个事件",
        )
        caption = f"<div><i>{caption}</i></div>"
        return log_box(caption + "".join(rows))

    def _on_frame(self, change: dict[str, Any]) -> None:
        self.show(int(change["new"]))

    def _on_speed(self, change: dict[str, Any]) -> None:
        self.play.interval = max(10, int(self.animation.interval / float(change["new"])))
