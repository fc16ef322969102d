"""Drawing: static pictures, PNG frames, and the HTML player (its script run under node with a
stand-in for the page, since no browser is at hand)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from rabbitsim import viz
from rabbitsim.viz._html import MARKUP_JS, film_data
from rabbitsim.vocabulary import BindingInfo, ConsumerInfo, ExchangeInfo, QueueInfo, Topology

from .scenarios import SCENARIOS, Scenario

Get = Callable[[str], Scenario]
PNG = b"\x89PNG\r\n\x1a\n"


def overlaps(figure: Any) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts whose boxes intersect on the drawn figure."""
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    boxes = [
        (text.get_text(), Bbox(text.get_window_extent(renderer)))
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    ]
    return [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.x0 < box_b.x1 and box_b.x0 < box_a.x1 and box_a.y0 < box_b.y1 and box_b.y0 < box_a.y1
    ]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_label_covers_another(scenario: Get, name: str) -> None:
    recorded = scenario(name)
    assert overlaps(viz.draw(recorded.events, topology=recorded.topology)) == []
    animation = viz.animate(recorded.events, topology=recorded.topology)
    for index in range(0, len(animation), 7):  # with tokens, counts, marks and the colour key
        animation.scene.show(animation.frames[index])
        clashes = [pair for pair in overlaps(animation.scene.figure) if not _is_mark(pair)]
        assert clashes == [], (name, index)


def _is_mark(pair: tuple[str, str]) -> bool:
    """A mark (a glyph that flashes beside a node) may briefly touch a neighbour's caption."""
    return any(len(text) == 1 and not text.isalnum() for text in pair)


def test_a_few_dozen_nodes_stay_legible() -> None:
    """Four exchanges, sixteen queues with long names, sixteen consumers: nothing overlaps and
    every long name is shortened, with the full name kept for the hover."""
    exchanges = [ExchangeInfo("/", f"exchange.number.{i}", "topic", True, False, False) for i in range(4)]
    queues = [
        QueueInfo("/", f"orders.region-{i}.priority-high", "classic", True, False, False, i, i % 3, 1)
        for i in range(16)
    ]
    bindings = [
        BindingInfo("/", f"exchange.number.{i % 4}", queue.name, "queue", f"orders.{i}.#")
        for i, queue in enumerate(queues)
    ]
    consumers = [
        ConsumerInfo("/", queue.name, f"ctag-{i}", f"connection-{i} (1)", True, 10, False)
        for i, queue in enumerate(queues)
    ]
    topology = Topology(tuple(exchanges), tuple(queues), tuple(bindings), tuple(consumers))
    picture = viz.draw(topology)
    assert overlaps(picture) == []
    graph = picture.scene.graph  # type: ignore[union-attr]
    for _node, data in graph.nodes(data=True):
        assert len(data["label"]) <= 16
        assert data["name"] in data["title"] or data["kind"] == "consumer"
    assert max(picture.get_size_inches()) <= 11


def test_static_picture_shows_itself(scenario: Get) -> None:
    recorded = scenario("fanout")
    picture = viz.draw(recorded.events, topology=recorded.topology)
    assert isinstance(picture, viz.Picture)
    assert picture._repr_png_().startswith(PNG)
    html = picture._repr_html_()
    assert html is not None and "<svg" in html
    for queue in recorded.topology.queues:
        assert f"<title>queue &#x27;{queue.name}&#x27; (exclusive)</title>" in html, "full name on hover"
        assert queue.name not in html.replace(f"<title>queue &#x27;{queue.name}", ""), "drawn shortened"


def test_svg_coordinates_match_matplotlib(scenario: Get) -> None:
    """The script draws in the SVG's own coordinates; they must land where matplotlib drew."""
    recorded = scenario("topics")
    animation = viz.animate(recorded.events, topology=recorded.topology, dpi=72)
    scene, where = animation.scene, animation.film.layout
    height = where.size[1] * 72
    for x, y in where.positions.values():
        display_x, display_y = scene.axes.transData.transform((x, y))
        assert where.to_svg(x, y) == pytest.approx((display_x, height - display_y), abs=0.01)
    svg = scene.svg()
    width_pt, height_pt = (
        float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    )  # type: ignore[union-attr]
    assert (width_pt, height_pt) == pytest.approx((where.size[0] * 72, height), abs=0.01)


def test_frames_drawn_by_matplotlib(scenario: Get) -> None:
    recorded = scenario("work_queues")
    animation = viz.animate(recorded.events, topology=recorded.topology)
    busy = max(range(len(animation)), key=lambda i: len(animation.frames[i].tokens))
    frame = animation.frames[busy]
    animation.scene.show(frame)
    offsets = animation.scene.tokens.get_offsets()
    assert [v for p in offsets for v in p] == pytest.approx([v for t in frame.tokens for v in (t.x, t.y)])
    counts = {text.get_text() for text in animation.scene.count_texts.values()}
    ready, unacked = frame.ready["queue:task_queue"], frame.unacked["queue:task_queue"]
    assert counts == {f"{ready} ready \u00b7 {unacked} unacked"}
    assert animation.frame_png(busy).startswith(PNG)


def test_matplotlib_jshtml_is_there_too(scenario: Get) -> None:
    recorded = scenario("hello_world")
    animation = viz.animate(recorded.events, topology=recorded.topology, dpi=40)
    html = animation.to_jshtml(every=4)
    assert "data:image/png;base64" in html
    assert html.count("data:image/png;base64") == len(range(0, len(animation), 4))


def test_html_player_structure(scenario: Get, tmp_path: Any) -> None:
    recorded = scenario("rpc")
    animation = viz.animate(recorded.events, topology=recorded.topology)
    html = animation._repr_html_()
    data = json.loads(re.search(r'class="rsviz-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["frames"] == len(animation)
    assert len(re.findall(r"<div data-f=", html)) == len(recorded.events), "one log line per event"
    assert len(data["tokens"]) == len(data["counts"]) == len(data["marks"]) == len(animation)
    callback = next(q.name for q in recorded.topology.queues if q.name.startswith("amq.gen-"))
    assert f"queue &#x27;{callback}&#x27;" in html, "the log names queues in full"
    page = animation.save(tmp_path / "rpc.html")
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert html.count("<script") == 2 and "</script>" not in json.dumps(data).replace("<\\/", "")


NODE = shutil.which("node")

FAKE_PAGE = r"""
const html = require("fs").readFileSync(process.argv[2], "utf8");
const id = html.match(/<div id="(rsviz-[0-9a-f]+)"/)[1];
const dataText = html.match(/class="rsviz-data">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>(\(function \(\) \{[\s\S]*\}\)\(\);)<\/script>/)[1];
const count = (html.match(/<div data-f=/g) || []).length;
function element(extra) {
  return Object.assign({
    listeners: {}, attrs: {}, textContent: "", innerHTML: "", value: "0",
    addEventListener(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); },
    fire(type, event) { (this.listeners[type] || []).forEach(f => f(event || {})); },
    getAttribute(name) { return name in this.attrs ? this.attrs[name] : null; },
    setAttribute(name, value) { this.attrs[name] = value; },
  }, extra);
}
const lines = Array.from({length: count}, (_, i) => {
  const classes = new Set();
  return {offsetTop: 14 * i, classes, classList: {add: c => classes.add(c), remove: c => classes.delete(c)}};
});
const parts = {
  "script.rsviz-data": element({textContent: dataText}),
  ".rsviz-moving": element({}),
  ".rsviz-slider": element({}),
  ".rsviz-clock": element({}),
  ".rsviz-log": element({children: lines, offsetTop: 0, clientHeight: 300, scrollTop: 0}),
  "[data-act=play]": null,
  ".rsviz-speed": element({value: "2"}),
  ".rsviz-loop": element({checked: false}),
};
const buttons = ["first", "back", "play", "forward", "last"].map(a => element({attrs: {"data-act": a}}));
parts["[data-act=play]"] = buttons[2];
const root = element({querySelector: s => parts[s], querySelectorAll: () => buttons});
let timers = [];
global.setInterval = (f, ms) => { timers.push({f, ms}); return timers.length; };
global.clearInterval = n => { timers[n - 1] = null; };
let misses = 3;  // the output's HTML is not in the page yet when its script first runs
global.document = {getElementById: wanted => (wanted === id && misses-- <= 0 ? root : null)};
eval(code);
setTimeout(check, 400);
function check() {
const moving = parts[".rsviz-moving"], slider = parts[".rsviz-slider"];
const state = () => ({
  frame: Number(slider.value), clock: parts[".rsviz-clock"].textContent,
  circles: (moving.innerHTML.match(/<circle/g) || []).length,
  counts: (moving.innerHTML.match(/rsviz-count/g) || []).length,
  lit: lines.map((l, i) => (l.classes.has("now") ? i : -1)).filter(i => i >= 0),
});
const out = {first: state()};
buttons[3].fire("click"); out.forward = state();
buttons[4].fire("click"); out.last = state();
parts[".rsviz-log"].fire("click", {target: {closest: () => ({getAttribute: () => "5"})}});
out.clicked = state();
buttons[2].fire("click");
out.playing = {timers: timers.filter(Boolean).map(t => t.ms), label: buttons[2].textContent};
const live = timers.filter(Boolean)[0];
live.f(); live.f(); out.ticked = state();
for (let i = 0; i < 10000 && timers.filter(Boolean).length; i++) timers.filter(Boolean)[0].f();
out.ended = Object.assign(state(), {label: buttons[2].textContent, running: timers.filter(Boolean).length});
root.attrs["data-live"] = "1"; eval(code);  // a second run of the same output does nothing
out.listeners = buttons[3].listeners.click.length;
console.log(JSON.stringify(out));
}
"""


@pytest.mark.skipif(NODE is None, reason="node is what runs the player's script here")
def test_the_html_player_plays(scenario: Get, tmp_path: Any) -> None:
    recorded = scenario("work_queues")
    animation = viz.animate(recorded.events, topology=recorded.topology, interval=120)
    page = tmp_path / "player.html"
    page.write_text(animation.to_html(), encoding="utf-8")
    script = tmp_path / "fake_page.js"
    script.write_text(FAKE_PAGE, encoding="utf-8")
    done = subprocess.run([NODE, str(script), str(page)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    frames, last = animation.frames, len(animation) - 1

    def expect(state: dict[str, Any], index: int) -> None:
        assert state["frame"] == index
        assert state["clock"] == f"frame {index + 1} / {len(frames)}"
        assert state["circles"] == len(frames[index].tokens)
        assert state["counts"] == 1, "one queue, one counts line"
        assert state["lit"] == list(frames[index].events)

    expect(out["first"], 0)
    expect(out["forward"], 1)
    expect(out["last"], last)
    expect(out["clicked"], 5)
    assert out["playing"] == {"timers": [60], "label": "\u23f8 pause"}, "120 ms a frame at 2x"
    expect(out["ticked"], 7)
    assert out["ended"]["frame"] == last and out["ended"]["running"] == 0
    assert out["ended"]["label"] == "\u25b6 play"
    assert out["listeners"] == 1


@pytest.mark.skipif(NODE is None, reason="node runs the markup function")
def test_markup_draws_what_the_frame_holds(scenario: Get, tmp_path: Any) -> None:
    recorded = scenario("direct")
    animation = viz.animate(recorded.events, topology=recorded.topology)
    data = film_data(animation.film, animation.scene, 100)
    busy = max(
        range(len(animation)), key=lambda i: len(animation.frames[i].tokens) + len(animation.frames[i].marks)
    )
    program = tmp_path / "markup.js"
    program.write_text(
        f"{MARKUP_JS}\nconst D = {json.dumps(data)};\nconsole.log(rsvizMarkup(D, {busy}));", encoding="utf-8"
    )
    markup = subprocess.run(
        [NODE, str(program)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    frame = animation.frames[busy]
    assert markup.count("<circle") == len(frame.tokens)
    assert markup.count('class="rsviz-mark"') == len(frame.marks)
    for queue in animation.film.queues:
        assert f">{frame.ready[queue]} ready \u00b7 {frame.unacked[queue]} unacked<" in markup
    first = frame.tokens[0]
    x, y = animation.film.layout.to_svg(first.x, first.y)
    assert f'cx="{round(x * 10) / 10:g}" cy="{round(y * 10) / 10:g}"' in markup
