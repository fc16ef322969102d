"""The animation as one self-contained HTML fragment: the graph drawn once by matplotlib as
SVG, and the frames as numbers that a small script draws on top of it (tokens, depth bars,
counts, marks), with play / pause / step / speed controls and the event log beside it.

Why not matplotlib's `to_jshtml`: it embeds one PNG per frame. Measured on this project's
2-core machine, 100 frames of a small graph took 4.5 s and 3.6 MB; the 200-message fanout
needs more frames than that to be followed. Here a frame costs a few dozen numbers, so the
same story is a fraction of a megabyte and renders in well under a second, and the picture
stays sharp at any zoom. It plays wherever notebook HTML runs scripts (JupyterLab, VS Code,
nbviewer); where scripts are stripped the graph itself still shows."""

from __future__ import annotations

import html
import json
import uuid
from typing import Any

from rabbitsim._language import language, say
from rabbitsim.vocabulary import NodeKind

from ._frames import Film
from ._layout import Layout
from ._log import line_html, titles
from ._scene import Scene, mark_offset
from ._stream import Box, LogView, Marker, Shape, shapes
from ._style import (
    CIRCLE_RADIUS,
    DIAMOND_RADIUS,
    MARK_KINDS,
    MARKS,
    PALETTE,
    QUEUE_HEIGHT,
    QUEUE_WIDTH,
    READY_COLOUR,
    TOKEN_OUTLINES,
    TOKEN_RADIUS,
    TOKEN_STYLES,
    UNACKED_COLOUR,
)

# Pure: frame `i` of data `D` as SVG markup. Kept apart so tests can run it under node.
MARKUP_JS = r"""
function rsvizMarkup(D, i) {
  var out = [], k, t = D.tokens[i], c = D.counts[i], m = D.marks[i];
  for (k = 0; k < D.queues.length; k++) {
    var q = D.queues[k], ready = c[2 * k], unacked = c[2 * k + 1];
    var ow = q[2] * Math.min(1, unacked / D.scale);
    var rw = Math.min(q[2] - ow, q[2] * ready / D.scale);
    out.push('<rect x="' + (q[0] - ow - rw).toFixed(1) + '" y="' + q[1] + '" width="' + rw.toFixed(1) +
             '" height="' + q[3] + '" fill="' + D.readyColour + '"/>');
    out.push('<rect x="' + (q[0] - ow).toFixed(1) + '" y="' + q[1] + '" width="' + ow.toFixed(1) +
             '" height="' + q[3] + '" fill="' + D.unackedColour + '"/>');
    out.push('<text class="rsviz-count" x="' + q[4] + '" y="' + q[5] + '">' + ready + ' ready \u00b7 ' +
             unacked + ' unacked</text>');
  }
  if (D.logAt) {
    for (k = 0; k < D.logAt[i].length; k++) out.push(D.logs[D.logAt[i][k]]);
  }
  for (k = 0; k < t.length; k += 4) {
    out.push('<circle cx="' + t[k] / 10 + '" cy="' + t[k + 1] / 10 + '" r="' + D.radius + '" fill="' +
             D.palette[t[k + 2] % D.palette.length] + '" stroke="' + D.outlines[t[k + 3]] +
             '" stroke-width="' + (t[k + 3] ? 2 : 0.8) + '"/>');
  }
  for (k = 0; k < m.length; k += 4) {
    out.push('<text class="rsviz-mark" x="' + m[k] / 10 + '" y="' + m[k + 1] / 10 + '" fill="' +
             D.markColours[m[k + 2]] + '" opacity="' + m[k + 3] / 100 + '">' +
             D.markGlyphs[m[k + 2]] + '</text>');
  }
  return out.join("");
}
"""

# Notebook frontends may run an output's scripts before its HTML is in the page (matplotlib's
# own player defers for the same reason): look for the root until it is there.
PLAYER_JS = r"""
function rsvizStart(root) {
  if (root.getAttribute("data-live")) return;
  root.setAttribute("data-live", "1");
  var D = JSON.parse(root.querySelector("script.rsviz-data").textContent);
  var layer = root.querySelector(".rsviz-moving"), slider = root.querySelector(".rsviz-slider");
  var clock = root.querySelector(".rsviz-clock"), log = root.querySelector(".rsviz-log");
  var play = root.querySelector("[data-act=play]"), speed = root.querySelector(".rsviz-speed");
  var loop = root.querySelector(".rsviz-loop"), lines = log.children, lit = [], frame = 0, timer = null;
  function show(i) {
    frame = Math.max(0, Math.min(D.frames - 1, i));
    layer.innerHTML = rsvizMarkup(D, frame);
    slider.value = frame;
    clock.textContent = "frame " + (frame + 1) + " / " + D.frames;
    lit.forEach(function (n) { lines[n].classList.remove("now"); });
    lit = D.events[frame];
    lit.forEach(function (n) { lines[n].classList.add("now"); });
    if (lit.length) {
      var line = lines[lit[0]];
      log.scrollTop = line.offsetTop - log.offsetTop - log.clientHeight / 3;
    }
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } play.textContent = "\u25b6 play"; }
  function start() {
    stop();
    if (frame >= D.frames - 1) show(0);
    play.textContent = "\u23f8 pause";
    timer = setInterval(function () {
      if (frame < D.frames - 1) show(frame + 1);
      else if (loop.checked) show(0);
      else stop();
    }, D.interval / parseFloat(speed.value));
  }
  var acts = {
    play: function () { if (timer) stop(); else start(); },
    first: function () { stop(); show(0); },
    back: function () { stop(); show(frame - 1); },
    forward: function () { stop(); show(frame + 1); },
    last: function () { stop(); show(D.frames - 1); }
  };
  root.querySelectorAll("button[data-act]").forEach(function (b) {
    b.addEventListener("click", acts[b.getAttribute("data-act")]);
  });
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  speed.addEventListener("change", function () { if (timer) start(); });
  log.addEventListener("click", function (e) {
    var line = e.target.closest("[data-f]");
    if (line) { stop(); show(parseInt(line.getAttribute("data-f"), 10)); }
  });
  show(0);
}
var tries = 0;
(function attempt() {
  var root = document.getElementById("__ID__");
  if (root) rsvizStart(root);
  else if (++tries < 200) setTimeout(attempt, 50);
})();
"""

CSS = """
#__ID__ { font-family: "DejaVu Sans", Verdana, sans-serif; color: #222; }
#__ID__ .rsviz-main { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
#__ID__ .rsviz-stage { flex: 0 1 auto; background: #fff; }
#__ID__ .rsviz-stage svg { max-width: 100%; height: auto; display: block; }
#__ID__ .rsviz-log { flex: 1 1 260px; max-width: 420px; max-height: __HEIGHT__px; overflow-y: auto;
  font-size: 11px; line-height: 1.35; background: #fafafa; border: 1px solid #ddd; padding: 4px;
  position: relative; }
#__ID__ .rsviz-log div { padding: 1px 3px; border-radius: 3px; cursor: pointer; color: #444; }
#__ID__ .rsviz-log div.now { background: #ffe9a8; color: #000; }
#__ID__ .rsviz-log b { font-weight: 600; color: #0072B2; }
#__ID__ .rsviz-log b.k-ack, #__ID__ .rsviz-log b.k-confirm { color: #007A59; }
#__ID__ .rsviz-log b.k-drop, #__ID__ .rsviz-log b.k-nack, #__ID__ .rsviz-log b.k-reject,
#__ID__ .rsviz-log b.k-return { color: #D55E00; }
#__ID__ .rsviz-log b.k-requeue { color: #B07A00; }
#__ID__ .rsviz-controls { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 4px;
  font-size: 12px; }
#__ID__ .rsviz-controls button { font-size: 12px; padding: 1px 6px; }
#__ID__ .rsviz-slider { flex: 1 1 160px; }
#__ID__ .rsviz-count { font: 6.8px "DejaVu Sans", Verdana, sans-serif; fill: #555; text-anchor: middle; }
#__ID__ .rsviz-mark { font: bold 12px "DejaVu Sans", Verdana, sans-serif; text-anchor: middle; }
#__ID__ .rsviz-moving { pointer-events: none; }
#__ID__ .rsviz-hover rect { fill: transparent; }
"""

FONT_FAMILY = "DejaVu Sans, Verdana, sans-serif"
COUNT_SIZE, MARK_SIZE = 6.8, 12.0  # points, as the CSS above and the matplotlib scene use
ASCENT, MIDDLE = 0.76, 0.36  # DejaVu Sans: baseline below the top, and below the middle, per point
SPEEDS = ((0.25, "\u00bc\u00d7"), (0.5, "\u00bd\u00d7"), (1.0, "1\u00d7"), (2.0, "2\u00d7"), (4.0, "4\u00d7"))

# --- the Chinese edition ------------------------------------------------------------------------
# The words the scripts write, as they stand in MARKUP_JS and PLAYER_JS, and what a Chinese
# kernel's player writes instead (the scripts are English as written, so tests run them as is).
SCRIPT_WORDS_ZH: tuple[tuple[str, str], ...] = (
    (r"' ready \u00b7 '", r"' 条待投递 \u00b7 '"),
    (r"' unacked</text>'", r"' 条未确认</text>'"),
    ('"frame " + (frame + 1) + " / " + D.frames', '"第 " + (frame + 1) + " / " + D.frames + " 帧"'),
    (r'"\u25b6 play"', r'"\u25b6 播放"'),
    (r'"\u23f8 pause"', r'"\u23f8 暂停"'),
)
# Browsers take a glyph DejaVu lacks from the next font listed: for Chinese, a CJK one.
ENGLISH_FONTS = '"DejaVu Sans", Verdana, sans-serif'
CHINESE_FONTS = (
    '"DejaVu Sans", Verdana, "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", '
    '"PingFang SC", "Microsoft YaHei", sans-serif'
)


def in_language(script: str) -> str:
    """`script` (MARKUP_JS, PLAYER_JS) writing its words in the kernel's language."""
    if language() == "zh":
        for english, chinese in SCRIPT_WORDS_ZH:
            script = script.replace(english, chinese)
    return script


def css(ident: str) -> str:
    """The player's style for the element `ident`, with CJK fonts in a Chinese kernel."""
    style = CSS.replace("__ID__", ident)
    return style.replace(ENGLISH_FONTS, CHINESE_FONTS) if language() == "zh" else style


def svg_fonts() -> str:
    """FONT_FAMILY, or with CJK fonts in a Chinese kernel (the texts of a stream's log)."""
    return CHINESE_FONTS.replace('"', "") if language() == "zh" else FONT_FAMILY


def lang() -> str:
    """The root element's language attribute: so that a browser picks Chinese glyph shapes."""
    return ' lang="zh-Hans"' if language() == "zh" else ""


def film_data(film: Film, scene: Scene, interval: float) -> dict[str, Any]:
    """The numbers the script needs, in the SVG's coordinates (points, y down), tenths of a
    point as integers where there are many of them."""
    where = film.layout
    points = where.inches_per_unit * 72
    queues = []
    for queue in film.queues:
        x, y = where.positions[queue]
        right, top = where.to_svg(x + QUEUE_WIDTH / 2 - 0.035, y + QUEUE_HEIGHT / 2 - 0.035)
        text_x, text_y = where.to_svg(x, y - QUEUE_HEIGHT / 2 - 0.05)
        text_y += COUNT_SIZE * ASCENT  # SVG places text by its baseline; matplotlib drew it by its top
        queues.append(
            [
                round(right, 1),
                round(top, 1),
                round((QUEUE_WIDTH - 0.07) * points, 1),
                round((QUEUE_HEIGHT - 0.07) * points, 1),
                round(text_x, 1),
                round(text_y, 1),
            ]
        )
    style_index = {style: index for index, style in enumerate(TOKEN_STYLES)}
    mark_index = {kind: index for index, kind in enumerate(MARK_KINDS)}
    tokens, counts, marks = [], [], []
    for frame in film.frames:
        flat: list[int] = []
        for token in frame.tokens:
            x, y = where.to_svg(token.x, token.y)
            flat += [round(x * 10), round(y * 10), token.colour, style_index[token.style]]
        tokens.append(flat)
        counts.append([n for q in film.queues for n in (frame.ready[q], frame.unacked[q])])
        shown: list[int] = []
        for mark in frame.marks:
            dx, dy = mark_offset(film.graph.nodes[mark.node])
            x, y = where.to_svg(mark.x + dx, mark.y + dy)
            y += MARK_SIZE * MIDDLE  # from the glyph's middle to its baseline
            shown += [
                round(x * 10),
                round(y * 10),
                mark_index[mark.kind],
                round(100 * max(0.25, 1 - 0.75 * mark.age)),
            ]
        marks.append(shown)
    logs, log_at = _logs_markup(film)
    return {
        "frames": len(film.frames),
        "interval": interval,
        "radius": round(TOKEN_RADIUS * points, 2),
        "palette": list(PALETTE),
        "outlines": [TOKEN_OUTLINES[style] for style in TOKEN_STYLES],
        "markGlyphs": [MARKS[kind][0] for kind in MARK_KINDS],
        "markColours": [MARKS[kind][1] for kind in MARK_KINDS],
        "readyColour": READY_COLOUR,
        "unackedColour": UNACKED_COLOUR,
        "scale": film.scale,
        "queues": queues,
        "tokens": tokens,
        "counts": counts,
        "marks": marks,
        "events": [list(frame.events) for frame in film.frames],
        **({"logs": logs, "logAt": log_at} if film.streams else {}),
    }


def _logs_markup(film: Film) -> tuple[list[str], list[list[int]]]:
    """Each distinct log view drawn once as SVG markup, and per frame the one each stream
    shows: a log changes only at appends, reads and retention, so most frames share them."""
    where, streams = film.layout, film.streams
    labels = {n: str(film.graph.nodes[n].get("label", "")) for n in film.graph.nodes}
    index: dict[tuple[str, LogView], int] = {}
    markup: list[str] = []
    at: list[list[int]] = []
    for frame in film.frames:
        row = []
        for stream in streams:
            view = frame.logs.get(stream)
            if view is None:
                continue
            key = (stream, view)
            if key not in index:
                index[key] = len(markup)
                x, y = where.positions[stream]
                markup.append("".join(_svg(shape, where) for shape in shapes(view, x, y, labels)))
            row.append(index[key])
        at.append(row)
    return markup, at


def _svg(shape: Shape, where: Layout) -> str:
    """One shape of a log in the SVG's coordinates, as matplotlib draws it in the scene."""
    if isinstance(shape, Box):
        left, top = where.to_svg(shape.x, shape.y + shape.height)
        right, bottom = where.to_svg(shape.x + shape.width, shape.y)
        dash = ' stroke-dasharray="1.2,0.9"' if shape.dashed else ""
        return (
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}" '
            f'fill="{shape.fill}" stroke="{shape.edge}" stroke-width="0.6"{dash}/>'
        )
    if isinstance(shape, Marker):
        points = " ".join("{:.1f},{:.1f}".format(*where.to_svg(x, y)) for x, y in shape.points)
        return f'<polygon points="{points}" fill="{shape.fill}"/>'
    x, y = where.to_svg(shape.x, shape.y)
    y += shape.size * (ASCENT if shape.va == "top" else MIDDLE)  # SVG places text by its baseline
    anchor = {"left": "start", "center": "middle", "right": "end"}[shape.ha]
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{shape.size}" fill="{shape.colour}" '
        f'text-anchor="{anchor}" font-family="{svg_fonts()}">{html.escape(shape.text)}</text>'
    )


def hover_layer(scene: Scene) -> str:
    """Transparent boxes over the nodes whose SVG <title> is the full name: browsers show it on
    hover, and no script is needed."""
    where, boxes = scene.layout, []
    sizes = {
        NodeKind.PUBLISHER: (CIRCLE_RADIUS, CIRCLE_RADIUS),
        NodeKind.CONSUMER: (CIRCLE_RADIUS, CIRCLE_RADIUS),
        NodeKind.EXCHANGE: (DIAMOND_RADIUS, DIAMOND_RADIUS + 0.25),
        NodeKind.QUEUE: (QUEUE_WIDTH / 2, QUEUE_HEIGHT / 2 + 0.25),
    }
    for node in sorted(scene.graph.nodes):
        attributes = scene.graph.nodes[node]
        half_width, half_height = sizes[attributes["kind"]]
        half_width = attributes.get("half_width", half_width)
        x, y = where.positions[node]
        left, top = where.to_svg(x - half_width, y + half_height)
        right, bottom = where.to_svg(x + half_width, y - half_height)
        boxes.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}">'
            f"<title>{html.escape(str(attributes['title']))}</title></rect>"
        )
    return f'<g class="rsviz-hover">{"".join(boxes)}</g>'


def _stage(scene: Scene, salt: str) -> str:
    """The figure as SVG (without its moving parts), with the layer the script draws into and
    the hover boxes on top."""
    scene.hide_moving_parts()
    try:
        svg = scene.svg(salt)
    finally:
        scene.hide_moving_parts(False)
    closing = svg.rindex("</svg>")
    return f'{svg[:closing]}<g class="rsviz-moving"></g>{hover_layer(scene)}</svg>'


def picture_html(scene: Scene) -> str:
    """A static picture as inline SVG with hovers, its depth bars drawn (not hidden)."""
    ident = f"rsviz-{uuid.uuid4().hex[:12]}"
    svg = scene.svg(ident)
    closing = svg.rindex("</svg>")
    body = f"{svg[:closing]}{hover_layer(scene)}</svg>"
    style = css(ident)
    return f'<div id="{ident}"{lang()}><style>{style}</style><div class="rsviz-stage">{body}</div></div>'


def film_html(film: Film, scene: Scene, *, interval: float = 100.0) -> str:
    """The whole player: stage, controls and log, with its data and script."""
    ident = f"rsviz-{uuid.uuid4().hex[:12]}"
    data = json.dumps(film_data(film, scene, interval), separators=(",", ":")).replace("</", "<\\/")
    hovers = titles(film.graph)
    log = "".join(
        f'<div data-f="{frame}">{line_html(event, film.graph, hovers)}</div>'
        for event, frame in zip(film.events, film.event_frames, strict=True)
    )
    speeds = "".join(
        f'<option value="{value}"{" selected" if value == 1.0 else ""}>{label}</option>'
        for value, label in SPEEDS
    )
    height = round(film.layout.size[1] * 72 * 1.34)  # about the SVG's height in CSS pixels
    style = css(ident).replace("__HEIGHT__", str(max(height, 160)))
    count = len(film.frames)
    back, play = say("\u25c0 step", "\u25c0 上一帧"), say("\u25b6 play", "\u25b6 播放")
    forward = say("step \u25b6", "下一帧 \u25b6")
    script = in_language(MARKUP_JS + PLAYER_JS.replace("__ID__", ident))
    return (
        f'<div id="{ident}" class="rsviz"{lang()}><style>{style}</style>'
        f'<div class="rsviz-main"><div class="rsviz-stage">{_stage(scene, ident)}</div>'
        f'<div class="rsviz-log">{log}</div></div>'
        '<div class="rsviz-controls">'
        f'<button data-act="first" title="{say("first frame", "第一帧")}">\u23ee</button>'
        f'<button data-act="back" title="{say("one frame back", "后退一帧")}">{back}</button>'
        f'<button data-act="play">{play}</button>'
        f'<button data-act="forward" title="{say("one frame on", "前进一帧")}">{forward}</button>'
        f'<button data-act="last" title="{say("last frame", "最后一帧")}">\u23ed</button>'
        f'<input type="range" class="rsviz-slider" min="0" max="{count - 1}" value="0">'
        f'<span class="rsviz-clock">{say(f"frame 1 / {count}", f"第 1 / {count} 帧")}</span>'
        f'<label>{say("speed", "速度")} <select class="rsviz-speed">{speeds}</select></label>'
        f'<label><input type="checkbox" class="rsviz-loop"> {say("loop", "循环")}</label></div>'
        f'<script type="application/json" class="rsviz-data">{data}</script>'
        f"<script>(function () {{{script}}})();</script></div>"
    )
