"""The live view: a widget that follows a running broker while the learner publishes from other
cells. A daemon thread polls `handle.topology()` every `interval` seconds and redraws when
something changed; on the simulator it also subscribes to the core's events, which add the
producers (no snapshot knows who publishes) and fill the log of what just happened.

It owns exactly one thread and one subscription, and `stop()` ends both (it is also stopped
when the broker goes away); tests check that nothing is left running."""

from __future__ import annotations

import contextlib
import io
import threading
from collections import deque
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from rabbitsim.backends import BrokerHandle, EmbeddedBroker, Topology, snapshot
from rabbitsim.broker import EventKind, TraceEvent

from ._graph import channel_name, event_node_id
from ._log import line_html, log_box, titles
from ._scene import RENDERING, draw

KEPT_EVENTS = 20_000
CALL_TIMEOUT = 2.0
# What the picture takes from the events: who publishes where, which queues the default exchange fed.
DRAWN_KINDS = frozenset({EventKind.PUBLISH, EventKind.ROUTE})


class LiveView(widgets.VBox):  # type: ignore[misc]
    """`LiveView(handle)`, or `rabbitsim.viz.live(handle)`: starts at once; `.stop()` ends it."""

    def __init__(
        self,
        handle: BrokerHandle,
        *,
        interval: float = 0.5,
        dpi: float = 90,
        log_lines: int = 12,
        vhost: str | None = None,
    ) -> None:
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
        self.stop_button = widgets.Button(description="stop", tooltip="stop following the broker")
        self.stop_button.on_click(lambda _button: self.stop())
        super().__init__(
            [widgets.HBox([self.image, self.event_log]), widgets.HBox([self.stop_button, self.status])]
        )
        self.redraws = 0
        self._events: deque[TraceEvent] = deque(maxlen=KEPT_EVENTS)  # appended on the broker's thread
        self._seen = 0  # events received so far (the deque forgets, this does not)
        self._last: tuple[Topology, int, frozenset[tuple[str, str]]] | None = None
        self._drawn_seen = 0  # events already reflected in the picture
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._gone = False  # the broker went away: nothing left to unsubscribe from
        self.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._halt.clear()
        if isinstance(self.handle, EmbeddedBroker) and self._unsubscribe is None:
            broker = self.handle.broker
            self._unsubscribe = self.handle.server.call(lambda: broker.subscribe(self._listen))
        self._thread = threading.Thread(target=self._follow, name="rabbitsim-live-view", daemon=True)
        self._thread.start()
        self.status.value = "<i>following the broker</i>"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and the subscription; the last picture stays."""
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None and isinstance(self.handle, EmbeddedBroker) and not self._gone:
            with contextlib.suppress(Exception):  # the broker went meanwhile, and its listeners with it
                self.handle.server.call(unsubscribe, timeout=CALL_TIMEOUT)
        self.status.value = "<i>stopped</i>"

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _listen(self, event: TraceEvent) -> None:
        """On the broker's thread: keep it cheap."""
        self._events.append(event)
        self._seen += 1

    def _follow(self) -> None:
        while not self._halt.is_set():
            try:
                self.refresh()
            except Exception as error:  # a closed broker, a management API that went away
                self.status.value = f"<i>stopped: {type(error).__name__}: {error}</i>"
                self._gone = True
                self._halt.set()
                break
            self._halt.wait(self.interval)

    def refresh(self) -> bool:
        """Take a snapshot and redraw if anything changed; True when it redrew. Edges that
        messages took since the last look are drawn bold, until a look finds no traffic."""
        topology = self._snapshot()
        seen = self._seen
        events = list(self._events)
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

    def _snapshot(self) -> Topology:
        """The simulator's snapshot with a short timeout: once it is closed, a call into it
        would otherwise wait the server's full ten seconds to fail."""
        handle = self.handle
        if isinstance(handle, EmbeddedBroker):
            return handle.server.call(lambda: snapshot(handle.broker), timeout=CALL_TIMEOUT)
        return handle.topology()

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


def live(
    handle: BrokerHandle, *, interval: float = 0.5, dpi: float = 90, vhost: str | None = None
) -> LiveView:
    """A widget that redraws `handle`'s topology as it changes (queue depths, new queues,
    bindings, consumers), with the latest events on the simulator. Call `.stop()` when done."""
    return LiveView(handle, interval=interval, dpi=dpi, vhost=vhost)
