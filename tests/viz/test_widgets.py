"""The ipywidgets player and the live view, headless: in this process (no frontend at all) and
in a kernel driven by nbclient, as the course's CI runs notebooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pika
import pytest
from nbclient import NotebookClient

import rabbitsim
from rabbitsim import viz
from rabbitsim.backends import EmbeddedBroker

from .scenarios import Scenario

Get = Callable[[str], Scenario]
PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rabbitsim-live-view"]


def ready(view: viz.LiveView, queue: str) -> int | None:
    """Messages ready in `queue` on the view's latest picture."""
    drawn = view._last[0] if view._last else None
    found = [q.messages_ready for q in drawn.queues if q.name == queue] if drawn else []
    return found[0] if found else None


def listeners(handle: EmbeddedBroker) -> int:
    return int(handle.server.call(lambda: len(handle.server._listeners)))


def test_player_steps_through_frames(scenario: Get) -> None:
    recorded = scenario("work_queues")
    player = viz.player(recorded.events, topology=recorded.topology, interval=80)
    last = len(player.animation) - 1
    assert (player.slider.max, player.play.max) == (last, last)
    assert (player.link.source, player.link.target) == ((player.play, "value"), (player.slider, "value"))
    assert bytes(player.image.value).startswith(PNG)
    assert "frame 1 /" in player.event_log.value
    first = bytes(player.image.value)
    player.forward.click()
    player.forward.click()
    assert player.frame == 2
    player.back.click()
    assert player.frame == 1
    player.show(last)
    assert player.frame == last
    assert f"{len(recorded.events)} of {len(recorded.events)} events" in player.event_log.value
    player.forward.click()
    assert player.frame == last, "stepping stops at the end"
    player.speed.value = 2.0
    assert player.play.interval == 40
    busy = max(range(last + 1), key=lambda i: len(player.animation.frames[i].events))
    player.show(busy)
    assert player.event_log.value.count('class="now"') == len(player.animation.frames[busy].events)
    moving = max(range(last + 1), key=lambda i: len(player.animation.frames[i].tokens))
    player.show(moving)
    assert bytes(player.image.value) != first, "tokens on the move are drawn"


def test_live_view_follows_the_broker_and_stops_cleanly() -> None:
    before = live_threads()
    handle = rabbitsim.start("sim", in_process=True)  # counts the server's listeners
    assert isinstance(handle, EmbeddedBroker)
    try:
        view = viz.live(handle, interval=0.05)
        assert view.running and listeners(handle) == 1
        assert wait_for(lambda: view.redraws >= 1)
        connection = pika.BlockingConnection(handle.parameters)
        channel = connection.channel()
        channel.queue_declare("hello")
        for _ in range(3):
            channel.basic_publish("", "hello", b"hi")
        channel.queue_declare("hello", passive=True)  # a round trip: all three have arrived
        assert wait_for(lambda: ready(view, "hello") == 3)
        assert wait_for(lambda: "publishes message 3" in view.event_log.value)
        assert wait_for(lambda: view._last is not None and not view._last[2]), "paths fade when traffic stops"
        drawn = view.redraws
        time.sleep(0.3)
        assert view.redraws == drawn, "nothing changed, nothing redrawn"
        assert bytes(view.image.value).startswith(PNG)
        view.stop()
        assert not view.running and live_threads() == before
        assert listeners(handle) == 0
        channel.basic_publish("", "hello", b"after")
        time.sleep(0.2)
        assert view.redraws == drawn, "stopped means stopped"
        view.start()  # and it can follow again
        assert wait_for(lambda: view.redraws > drawn) and listeners(handle) == 1
        view.stop()
        connection.close()
    finally:
        handle.close()
    assert live_threads() == before


def test_live_view_marks_the_paths_just_taken() -> None:
    handle = rabbitsim.start("sim")
    try:
        view = viz.live(handle, interval=60)  # one look at the start, then the test looks
        assert wait_for(lambda: view.redraws == 1)
        connection = pika.BlockingConnection(handle.parameters)
        channel = connection.channel()
        channel.queue_declare("hello")
        channel.basic_consume("hello", lambda *_: None, auto_ack=True)
        channel.basic_publish("", "hello", b"hi")
        channel.queue_declare("hello", passive=True)
        assert view.refresh()
        assert view._last is not None
        consumer = next(iter(viz.graph(view._last[0]).successors("queue:hello")))
        assert view._last[2] == {
            ("publisher:connection-1 (1)", "exchange:"),
            ("exchange:", "queue:hello"),
            ("queue:hello", consumer),
        }
        assert view.refresh() and view._last[2] == frozenset(), "no traffic since: the paths fade"
        assert not view.refresh()
        view.stop()
        connection.close()
    finally:
        handle.close()


def test_live_view_stops_by_itself_when_the_broker_goes() -> None:
    handle = rabbitsim.start("sim")
    view = viz.live(handle, interval=0.05)
    assert wait_for(lambda: view.redraws >= 1)
    handle.close()
    assert wait_for(lambda: not view.running), "the thread ends when the broker is gone"
    assert "stopped" in view.status.value
    view.stop()  # harmless afterwards
    assert not live_threads()


NOTEBOOK = [
    "import pika, rabbitsim\nfrom rabbitsim import viz\nbroker = rabbitsim.start()\n"
    "trace = broker.trace().start()",
    "channel = pika.BlockingConnection(broker.parameters).channel()\n"
    "channel.exchange_declare('logs', 'fanout')\n"
    "queue = channel.queue_declare('', exclusive=True).method.queue\n"
    "channel.queue_bind(queue, 'logs')\nchannel.basic_consume(queue, lambda *a: None, auto_ack=True)\n"
    "for n in range(5):\n    channel.basic_publish('logs', '', b'x')\n"
    "channel.connection.process_data_events(time_limit=0.2)\ntrace.stop()",
    "viz.draw(trace)",
    "animation = viz.animate(trace)\nanimation",
    "player = animation.player()\nplayer.forward.click()\nplayer.show(len(animation) - 1)\nplayer",
    "view = viz.live(broker, interval=0.1)\nview",
    "channel.basic_publish('logs', '', b'more')\nimport time; time.sleep(0.5)\nview.stop()\n"
    "assert view.redraws >= 1 and not view.running",
    "broker.close()",
]


def test_everything_runs_headless_in_a_kernel(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK])
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [set(o.get("data", {})) for o in outputs if o.output_type == "execute_result"]
    assert {"text/html", "image/png"} <= shown[0], "the picture: SVG in HTML, PNG for the rest"
    assert "text/html" in shown[1], "the animation plays as HTML"
    assert "application/vnd.jupyter.widget-view+json" in shown[2], "the player is a widget"
    assert "application/vnd.jupyter.widget-view+json" in shown[3], "so is the live view"


@pytest.fixture(autouse=True)
def _no_stray_threads() -> object:
    yield
    assert not live_threads()
