"""The pictures in a Chinese kernel (`rabbitsim.language("zh")`, as a chapter of notebooks/zh/
starts): their words are Chinese (the player's controls, the event log's sentences, queue
counts, edge labels that are words, legends, hovers), their names are not (queues, exchanges,
P1 / C1, exchange types, pika's own words such as auto-ack), matplotlib finds a glyph for every
Chinese character, and outside the block everything is English, exactly as before."""

from __future__ import annotations

import html
import io
import json
import logging
import re
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from rabbitsim import viz
from rabbitsim.viz import _html
from rabbitsim.viz._html import MARKUP_JS, film_data, in_language
from rabbitsim.viz._log import describe
from rabbitsim.viz._stream import StreamLog
from rabbitsim.viz._style import FONT, installed_cjk_font
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent
from tests.course.zh import in_chinese, is_chinese

from .scenarios import Scenario
from .test_render import FAKE_PAGE

Get = Callable[[str], Scenario]
NODE = shutil.which("node")
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")
LOG_LINE = re.compile(r'<div data-f="\d+"><b class="k-([\w-]+)">([\w-]+)</b> (.*?)</div>')
ENGLISH_WORDS = re.compile(r"\b(ready|unacked|play|pause|speed|loop|step|frame|delivers|routes|consumes)\b")

# --- a trace that uses every kind of event, written by hand --------------------------------------

P = Node(NodeKind.PUBLISHER, "", "connection-1", 1)
LOGS = Node(NodeKind.EXCHANGE, "logs")
DEFAULT = Node(NodeKind.EXCHANGE, "")
SPARE = Node(NodeKind.EXCHANGE, "spare")
HELLO = Node(NodeKind.QUEUE, "hello")
CONSUMER = Node(NodeKind.CONSUMER, "ctag1", "connection-2", 1)
CHANNEL = Node(NodeKind.CHANNEL, "connection-1#1", "connection-1", 1)
CONNECTION = Node(NodeKind.CONNECTION, "connection-1")
STREAM = Node(NodeKind.QUEUE, "orders-log")
READER = Node(NodeKind.CONSUMER, "reader", "connection-3", 1)
EVERYTHING: list[tuple[EventKind, Node, Node | None, str | None, dict[str, Any]]] = [
    (EventKind.CONNECTION_OPENED, CONNECTION, None, None, {}),
    (EventKind.DECLARE, LOGS, None, None, {"type": "fanout"}),
    (EventKind.DECLARE, HELLO, None, None, {"durable": True, "exclusive": True, "auto_delete": True}),
    (EventKind.BIND, LOGS, HELLO, "k", {}),
    (EventKind.CONSUMER_ADDED, HELLO, CONSUMER, None, {"prefetch": 3}),
    (EventKind.PUBLISH, P, LOGS, "k", {}),
    (EventKind.PUBLISH, P, DEFAULT, "hello", {}),
    (EventKind.ROUTE, DEFAULT, HELLO, "hello", {}),
    (EventKind.ROUTE, LOGS, SPARE, "k", {"alternate": True}),
    (EventKind.ENQUEUE, HELLO, None, None, {}),
    (EventKind.DELIVER, HELLO, CONSUMER, None, {"redelivered": True}),
    (EventKind.ACK, HELLO, CONSUMER, None, {}),
    (EventKind.NACK, HELLO, CONSUMER, None, {"requeue": True}),
    (EventKind.REJECT, HELLO, CONSUMER, None, {"requeue": False}),
    (EventKind.REQUEUE, HELLO, None, None, {"reason": "nack"}),
    (EventKind.DROP, LOGS, None, None, {"reason": "unroutable"}),
    (EventKind.DROP, HELLO, None, None, {"reason": "maxlen"}),
    (EventKind.RETURN, LOGS, CHANNEL, "k", {}),
    (EventKind.CONFIRM, LOGS, CHANNEL, None, {"ack": True}),
    (EventKind.EXPIRE, HELLO, None, None, {}),
    (EventKind.DEAD_LETTER, HELLO, SPARE, None, {"reason": "expired"}),
    (EventKind.PURGE, HELLO, None, None, {}),
    (EventKind.UNBIND, LOGS, HELLO, "k", {}),
    (EventKind.CONSUMER_CANCELLED, HELLO, CONSUMER, None, {}),
    (EventKind.DELETE, HELLO, None, None, {}),
    (EventKind.DECLARE, STREAM, None, None, {"type": "stream"}),
    (EventKind.CONSUMER_ADDED, STREAM, READER, None, {"offset": 0}),
    (EventKind.ENQUEUE, STREAM, None, None, {"offset": 0}),
    (EventKind.DELIVER, STREAM, READER, None, {"offset": 0}),
    (EventKind.ACK, STREAM, READER, None, {}),
    (EventKind.DROP, STREAM, None, None, {"reason": "retention", "offset": 0}),
    (EventKind.CONNECTION_CLOSED, CONNECTION, None, None, {}),
]
MESSAGELESS = {EventKind.DECLARE, EventKind.DELETE, EventKind.BIND, EventKind.UNBIND, EventKind.PURGE}


def everything() -> list[TraceEvent]:
    events = []
    for seq, (kind, source, target, key, detail) in enumerate(EVERYTHING):
        message = None if kind in MESSAGELESS else 1 + seq % 3
        events.append(TraceEvent(seq, float(seq), kind, "/", source, target, message, key, detail))
    return events


def log_lines(page: str) -> list[tuple[str, str, str]]:
    """(class, kind, sentence) of each line of a player's event log, the sentence as text."""
    return [
        (css_kind, kind, html.unescape(re.sub(r"<[^>]+>", "", sentence)))
        for css_kind, kind, sentence in LOG_LINE.findall(page)
    ]


def texts(figure: Figure) -> list[Text]:
    return [artist for artist in figure.findobj(Text) if artist.get_text()]


# --- the HTML player ----------------------------------------------------------------------------


def test_the_html_player_speaks_chinese(scenario: Get) -> None:
    recorded = scenario("hello_world")
    with in_chinese():
        page = viz.animate(recorded.events, topology=recorded.topology).to_html()
    for control in ("\u25b6 播放", "\u25c0 上一帧", "下一帧 \u25b6"):
        assert f">{control}</button>" in page, control
    frames = int(re.search(r'"frames":(\d+)', page).group(1))  # type: ignore[union-attr]
    assert f'<span class="rsviz-clock">第 1 / {frames} 帧</span>' in page
    assert '<label>速度 <select class="rsviz-speed">' in page
    assert '<input type="checkbox" class="rsviz-loop"> 循环</label>' in page
    for title in ("第一帧", "后退一帧", "前进一帧", "最后一帧"):
        assert f'title="{title}"' in page
    script = page[page.index("<script>(function") :]
    for word in ("条待投递", "条未确认", r"\u23f8 暂停", r"\u25b6 播放", '" 帧"'):
        assert word in script, word
    assert ' lang="zh-Hans"' in page and "WenQuanYi Zen Hei" in page
    lines = log_lines(page)
    assert len(lines) == len(recorded.events) == page.count('<div data-f="')
    for css_kind, kind, sentence in lines:
        assert css_kind == kind and kind in {k.value for k in EventKind}, "the kind stays the keyword"
        assert is_chinese(sentence), sentence
        assert not ENGLISH_WORDS.search(sentence), sentence
    sentences = [sentence for _c, _k, sentence in lines]
    assert "P1 把消息 1 发布到默认交换机，路由键为 'hello'" in sentences
    assert "默认交换机把消息 1 路由到队列 'hello'" in sentences
    assert "C1 开始从队列 'hello' 消费" in sentences
    assert "队列 'hello' 把消息 1 投递给 C1" in sentences
    assert 'title="C1：信道 connection-2 (1) 上的消费者' in page, "hovers on C1 are Chinese too"


@pytest.mark.skipif(NODE is None, reason="node runs the player's script")
def test_the_chinese_player_script_plays_in_chinese(scenario: Get, tmp_path: Path) -> None:
    recorded = scenario("work_queues")
    with in_chinese():
        animation = viz.animate(recorded.events, topology=recorded.topology, interval=120)
        page = tmp_path / "player.html"
        page.write_text(animation.to_html(), encoding="utf-8")
        busy = max(range(len(animation)), key=lambda i: len(animation.frames[i].tokens))
        data = film_data(animation.film, animation.scene, 100)
        markup_js = in_language(MARKUP_JS)
    fake = tmp_path / "fake_page.js"
    fake.write_text(FAKE_PAGE, encoding="utf-8")
    done = subprocess.run([NODE, str(fake), str(page)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    last = len(animation)
    assert out["first"]["clock"] == f"第 1 / {last} 帧"
    assert out["last"]["clock"] == f"第 {last} / {last} 帧"
    assert out["playing"]["label"] == "\u23f8 暂停"
    assert out["ended"]["label"] == "\u25b6 播放"
    program = tmp_path / "markup.js"
    call = f"console.log(rsvizMarkup({json.dumps(data)}, {busy}));"
    program.write_text(f"{markup_js}\n{call}", encoding="utf-8")
    markup = subprocess.run(
        [NODE, str(program)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    frame = animation.frames[busy]
    queue = "queue:task_queue"
    assert f">{frame.ready[queue]} 条待投递 \u00b7 {frame.unacked[queue]} 条未确认<" in markup


# --- the event log's sentences ---------------------------------------------------------------------


def test_every_kind_of_event_has_a_chinese_sentence() -> None:
    events = everything()
    with in_chinese():
        picture = viz.graph(events)
        sentences = {(event.kind, event.source): describe(event, picture) for event in events}
    for sentence in sentences.values():
        assert is_chinese(sentence), sentence
        assert not ENGLISH_WORDS.search(sentence), sentence
        prose = re.sub(r"'[^']*'", "", sentence)  # names stay as they are
        assert not re.search(r"[,:;()]", prose), f"full-width punctuation in Chinese text: {sentence}"
    said = set(sentences.values())
    assert "P1 把消息 1 发布到默认交换机，路由键为 'hello'" in said
    assert "默认交换机把消息 2 路由到队列 'hello'" in said
    assert "交换机 'logs' 把消息 3 路由到交换机 'spare'" in said
    assert "队列 'hello' 把消息 2 投递给 C1（重新投递）" in said
    assert "C1 对消息 1 回复 nack，重新入队" in said
    assert "C1 拒绝了消息 2，不重新入队" in said
    assert "消息 3 回到队列 'hello'（被 nack）" in said
    assert "消息 1 在交换机 'logs' 被丢弃（无法路由）" in said
    assert "交换机 'logs' 把消息 3 退回给信道 'connection-1#1'：无法路由" in said
    assert "消息 3 在队列 'hello' 成为死信，转到交换机 'spare'" in said
    assert "队列 'hello' 绑定到交换机 'logs'，绑定键为 'k'" in said
    assert "C2 开始读取流 'orders-log'，从偏移量 0 开始" in said
    assert "流 'orders-log' 把消息 2（偏移量 0）投递给 C2；它仍留在日志中" in said
    assert "消息 1（偏移量 0）离开流 'orders-log'（被保留策略清除）" in said
    assert "连接 'connection-1' 已打开" in said


# --- the drawn graph -----------------------------------------------------------------------------------


def test_the_graphs_words_are_chinese_and_its_names_are_not() -> None:
    events = everything()
    with in_chinese():
        picture = viz.graph(events)
        figure = viz.draw(events)
    nodes = picture.nodes
    assert nodes["exchange:"]["label"] == "（默认交换机）"
    assert nodes["exchange:"]["title"] == "默认交换机（direct）"
    assert (nodes["exchange:logs"]["label"], nodes["exchange:logs"]["caption"]) == ("logs", "fanout")
    assert nodes["exchange:logs"]["title"] == "交换机 'logs'（fanout）"
    assert nodes["queue:hello"]["label"] == "hello"
    assert nodes["queue:hello"]["title"] == "队列 'hello'（持久化、排他、自动删除）"
    assert nodes["queue:orders-log"]["title"] == "流 'orders-log'"
    producer = "publisher:connection-1 (1)"
    assert (nodes[producer]["label"], nodes[producer]["title"]) == ("P1", "生产者 P1：信道 connection-1 (1)")
    assert nodes["consumer:connection-2 (1):ctag1"]["title"] == "C1：信道 connection-2 (1) 上的消费者 'ctag1'"
    for _node, data in picture.nodes(data=True):
        assert is_chinese(data["title"]), data["title"]
    assert picture.edges["exchange:logs", "exchange:spare"]["label"] == "备用"
    assert picture.edges["queue:hello", "consumer:connection-2 (1):ctag1"]["label"] == "prefetch 3"
    shown = {text.get_text() for text in texts(figure)}
    assert {"（默认交换机）", "备用", "prefetch 3", "logs", "hello", "P1", "C1", "fanout"} <= shown
    assert "0 条待投递 \u00b7 0 条未确认" in shown
    assert not {"(AMQP default)", "alternate"} & shown
    assert not any(ENGLISH_WORDS.search(text) for text in shown), shown


def test_edge_labels_legends_and_logs_say_their_words_in_chinese(scenario: Get) -> None:
    recorded = scenario("rpc")
    topics = scenario("topics")
    with in_chinese():
        picture = viz.graph(recorded.events, topology=recorded.topology)
        labels = {data["label"] for _a, _b, data in picture.edges(data=True)}
        animation = viz.animate(topics.events, topology=topics.topology)
        legend = {text.get_text() for text in texts(animation.scene.figure)}
        edge = viz.graph(topics.events, topology=topics.topology).edges[
            "publisher:connection-3 (1)", "exchange:topic_logs"
        ]
        log = StreamLog(0, 0)
        for offset in range(5):
            log.append(offset, offset)
        captions = (StreamLog(0, 0).view().caption, log.view().caption)
    assert {"auto-ack", "prefetch 1"} <= labels, "pika's words and the argument stay as code says them"
    assert "路由键：" in legend and "另有 1 个" in legend
    assert "'quick.orange.fox'" in legend, "routing keys are names"
    assert edge["label"] == "6 个键"
    assert captions == ("日志为空", "偏移量 0\u20134 \u00b7 共 5 条")


def test_the_widget_player_speaks_chinese(scenario: Get) -> None:
    recorded = scenario("work_queues")
    with in_chinese():
        player = viz.player(recorded.events, topology=recorded.topology)
        player.show(len(player.animation) - 1)
    assert player.slider.description == "帧"
    assert (player.back.description, player.forward.description) == ("\u25c0 上一帧", "下一帧 \u25b6")
    assert (player.back.tooltip, player.forward.tooltip) == ("后退一帧", "前进一帧")
    assert player.speed.description == "速度"
    total, frames = len(recorded.events), len(player.animation)
    assert f"第 {frames} / {frames} 帧 \u00b7 已发生 {total} / {total} 个事件" in player.event_log.value
    assert "条未确认" not in player.event_log.value and "把消息" in player.event_log.value


# --- glyphs ------------------------------------------------------------------------------------------


def glyph_warnings(draw: Callable[[], Any]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_the_check_for_missing_glyphs_catches_them() -> None:
    """DejaVu Sans alone has no Chinese: the check below would see it."""
    figure = Figure(figsize=(2, 1))
    FigureCanvasAgg(figure)
    figure.text(0.1, 0.5, "默认交换机", fontfamily=FONT)
    assert glyph_warnings(lambda: figure.savefig(io.BytesIO(), format="png"))


@pytest.mark.skipif(installed_cjk_font() is None, reason="no CJK font (fonts-wqy-zenhei, .ci/browser.sh)")
def test_chinese_pictures_have_every_glyph(scenario: Get, caplog: pytest.LogCaptureFixture) -> None:
    recorded, stream = scenario("topics"), everything()
    caplog.set_level(logging.WARNING, logger="matplotlib")
    with in_chinese():

        def draw() -> None:
            viz.draw(stream).savefig(io.BytesIO(), format="png")
            animation = viz.animate(recorded.events, topology=recorded.topology, dpi=60)
            animation.frame_png(len(animation) // 2)
            animation.scene.svg()

        assert glyph_warnings(draw) == []
        figure = viz.draw(stream)
    chinese = [text for text in texts(figure) if CJK.search(text.get_text())]
    assert chinese and all(text.get_fontfamily() == [FONT, installed_cjk_font()] for text in chinese)
    assert not [r.getMessage() for r in caplog.records if "findfont" in r.getMessage()]


# --- English, as it was --------------------------------------------------------------------------------


def test_outside_the_block_everything_is_english_as_before(
    scenario: Get, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = scenario("hello_world")
    # the player's id (and the SVG's ids made from it) the same each time; widgets keep theirs
    monkeypatch.setattr(_html, "uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(int=0)))

    def english() -> tuple[str, str, bytes, list[str]]:
        animation = viz.animate(recorded.events, topology=recorded.topology)
        figure = viz.draw(recorded.events, topology=recorded.topology)
        player = animation.player()
        png = io.BytesIO()
        figure.savefig(png, format="png")
        shown = sorted(text.get_text() for text in texts(figure))
        return animation.to_html(), player.event_log.value, png.getvalue(), shown

    before = english()
    with in_chinese():
        chinese = english()
    after = english()
    assert after == before, "a Chinese picture leaves nothing behind"
    assert chinese != before
    page, log, _png, shown = after
    assert not CJK.search(page) and not CJK.search(log) and not any(CJK.search(text) for text in shown)
    assert "(AMQP default)" in shown and "0 ready \u00b7 0 unacked" in shown
    controls = ("\u25b6 play", "\u25c0 step", "step \u25b6", "speed <select", "> loop</label>", ">frame 1 / ")
    for control in controls:
        assert control in page, control
    sentences = [sentence for _c, _k, sentence in log_lines(page)]
    assert "C1 consumes from queue 'hello'" in sentences
    assert "queue 'hello' delivers message 1 to C1" in sentences
    assert "the default exchange routes message 1 to queue 'hello'" in sentences
    assert "frame 1 / " in log and " events</i>" in log
    figure = viz.draw(recorded.events, topology=recorded.topology)
    assert not any(set(text.get_fontfamily()) - {FONT, "sans-serif"} for text in texts(figure))
