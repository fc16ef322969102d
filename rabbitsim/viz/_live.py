"""The live view: a widget that follows a running broker while the learner publishes from other
cells. A daemon thread polls the topology every `interval` seconds and redraws when something
changed. The events come through the trace layer (`rabbitsim.trace.Following`, on the event
source the handle supplies), the same on every backend: they add the producers (no snapshot knows
who publishes) and fill the log of what just happened.

It owns exactly one thread and one following, and `stop()` ends both (the thread also ends when
the broker goes away); tests check that nothing is left running."""

from __future__ import annotations

import contextlib
import io
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from rabbitsim._language import say
from rabbitsim.vocabulary import EventKind, Topology, TraceEvent

from ._graph import channel_name, event_node_id
from ._log import line_html, log_box, titles
from ._scene import RENDERING, draw

if TYPE_CHECKING:
    from rabbitsim.trace import Followable

CALL_TIMEOUT = 2.0  # once a broker is closed, a longer wait on it only delays the view's end
# What the picture takes from the events: who publishes where, which queues the default exchange fed.
DRAWN_KINDS = frozenset({EventKind.PUBLISH, EventKind.ROUTE})


class LiveView(widgets.VBox):  # type: ignore[misc]
    """`LiveView(handle)`, or `rabbitsim.viz.live(handle)`: starts at once; `.stop()` ends it."""

    def __init__(
        self,
        handle: Followable,
        *,
        interval: float = 0.5,
        dpi: float = 90,
        log_lines: int = 12,
        vhost: str | None = None,
    ) -> None:
        # imported here, not with rabbitsim.viz: the trace layer stands on the backends, which
        # load pika and the AMQP server, and drawing a picture needs neither
        from rabbitsim.trace import Following

        self.handle, self.interval, self.dpi, self.log_lines, self.vhost = (
            handle,
            interval,
            dpi,
            log_lines,
            vhost,
        )
        self.image = widgets.Image(format="png")
        self.event_log = widgets.HTML(layout={"width": "380px"})
        self.status = widgets.HTML()
        self.stop_button = widgets.Button(
            description=say("stop", "停止"), tooltip=say("stop following the broker", "停止跟踪消息代理")
        )
        self.stop_button.on_click(lambda _button: self.stop())
        super().__init__(
            [widgets.HBox([self.image, self.event_log]), widgets.HBox([self.stop_button, self.status])]
        )
        self.redraws = 0
        self.following = Following(handle, timeout=CALL_TIMEOUT)
        self._last: tuple[Topology, int, frozenset[tuple[str, str]]] | None = None
        self._drawn_seen = 0  # events already reflected in the picture
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._halt.clear()
        status = say("<i>following the broker</i>", "<i>正在跟踪消息代理</i>")
        try:
            self.following.start()
        except Exception as error:  # e.g. a real broker whose firehose this user may not switch on
            why = f"{type(error).__name__}: {error}"  # the library's own words, as they are
            status = say(
                f"<i>following the topology only: no events ({why})</i>",
                f"<i>只跟踪拓扑，没有事件（{why}）</i>",
            )
        self._thread = threading.Thread(target=self._follow, name="rabbitsim-live-view", daemon=True)
        self._thread.start()
        self.status.value = status

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and the following; the last picture stays."""
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with contextlib.suppress(Exception):  # the broker went meanwhile, and its listeners with it
            self.following.stop()
        self.status.value = say("<i>stopped</i>", "<i>已停止</i>")

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _follow(self) -> None:
        while not self._halt.is_set():
            try:
                self.refresh()
            except Exception as error:  # a closed broker, a management API that went away
                why = f"{type(error).__name__}: {error}"
                self.status.value = say(f"<i>stopped: {why}</i>", f"<i>已停止：{why}</i>")
                self._halt.set()
                break
            self._halt.wait(self.interval)

    def refresh(self) -> bool:
        """Take a snapshot and redraw if anything changed; True when it redrew. Edges that
        messages took since the last look are drawn bold, until a look finds no traffic."""
        topology = self.following.topology()
        seen = self.following.seen
        events = self.following.events
        fresh = events[len(events) - min(seen - self._drawn_seen, len(events)) :]
        lit = frozenset(edge for event in fresh if (edge := _travelled(event)) is not None)
        state = (topology, seen, lit)
        if state == self._last:
            return False
        picture = draw(topology, self._drawn(topology, events), vhost=self.vhost, dpi=self.dpi, highlight=lit)
        buffer = io.BytesIO()
        with RENDERING:
            picture.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        self.event_log.value = self._log(picture, events)
        self._last, self._drawn_seen = state, seen
        self.redraws += 1
        return True

    def _drawn(self, topology: Topology, events: list[TraceEvent]) -> list[TraceEvent]:
        """Publishes from channels still open, routes into queues that still exist: the
        picture follows the broker as it is now, not everything it ever was."""
        channels = {channel.name for channel in topology.channels}
        queues = {queue.name for queue in topology.queues}
        exchanges = {exchange.name for exchange in topology.exchanges}
        kept = []
        for event in events:
            if event.kind not in DRAWN_KINDS or event.source is None or event.target is None:
                continue
            if event.kind is EventKind.PUBLISH:
                alive = channel_name(event.source) in channels and event.target.name in exchanges
            else:
                alive = event.source.name in exchanges and event.target.name in (queues | exchanges)
            if alive:
                kept.append(event)
        return kept

    def _log(self, picture: Any, events: list[TraceEvent]) -> str:
        graph = picture.scene.graph if picture.scene is not None else None
        if graph is None or not events:
            return ""
        hovers = titles(graph)
        recent = events[-self.log_lines :]
        rows = "".join(f"<div>{line_html(event, graph, hovers)}</div>" for event in recent)
        return log_box(rows)


# The edge a message event travels, for the live view's bold paths.
TRAVELS = frozenset({EventKind.PUBLISH, EventKind.ROUTE, EventKind.DELIVER})


def _travelled(event: TraceEvent) -> tuple[str, str] | None:
    if event.kind not in TRAVELS or event.source is None or event.target is None:
        return None
    return (event_node_id(event.source), event_node_id(event.target))


def live(handle: Followable, *, interval: float = 0.5, dpi: float = 90, vhost: str | None = None) -> LiveView:
    """A widget that redraws `handle`'s topology as it changes (queue depths, new queues,
    bindings, consumers), with the latest events. Call `.stop()` when done."""
    return LiveView(handle, interval=interval, dpi=dpi, vhost=vhost)
