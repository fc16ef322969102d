"""The event log beside a picture: one readable line per event, with full names (the picture
shortens them; the log is where the long ones can be read)."""

from __future__ import annotations

import html
import itertools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from rabbitsim._language import Language, language, say
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

from ._graph import default_exchange_label, drawn_as
from ._stream import STREAM_TYPE

TEMPLATES: dict[EventKind, str] = {
    EventKind.PUBLISH: "{source} publishes message {message} to {target}, key {key}",
    EventKind.ROUTE: "{source} routes message {message} to {target}",
    EventKind.ENQUEUE: "message {message} waits in {source}",
    EventKind.DELIVER: "{source} delivers message {message} to {target}{redelivered}",
    EventKind.ACK: "{target} acks message {message}",
    EventKind.NACK: "{target} nacks message {message}{requeue}",
    EventKind.REJECT: "{target} rejects message {message}{requeue}",
    EventKind.REQUEUE: "message {message} goes back to {source} ({reason})",
    EventKind.DROP: "message {message} is dropped at {source} ({reason})",
    EventKind.RETURN: "{source} returns message {message} to {target}: no route",
    EventKind.CONFIRM: "the broker confirms message {message} to {target}",
    EventKind.EXPIRE: "message {message} expires in {source}",
    EventKind.DEAD_LETTER: "message {message} is dead-lettered from {source} to {target}",
    EventKind.DECLARE: "{source} declared",
    EventKind.DELETE: "{source} deleted",
    EventKind.BIND: "{source} bound to {target}, key {key}",
    EventKind.UNBIND: "{source} unbound from {target}, key {key}",
    EventKind.PURGE: "{source} purged",
    EventKind.CONSUMER_ADDED: "{target} consumes from {source}",
    EventKind.CONSUMER_CANCELLED: "{target} stops consuming from {source}",
    EventKind.CONNECTION_OPENED: "{source} opened",
    EventKind.CONNECTION_CLOSED: "{source} closed",
    EventKind.CHANNEL_OPENED: "{source} opened",
    EventKind.CHANNEL_CLOSED: "{source} closed",
}

_DETAILS: dict[str, Any] = {
    "redelivered": lambda detail: " (redelivered)" if detail.get("redelivered") else "",
    "requeue": lambda detail: ", requeue" if detail.get("requeue") else ", no requeue",
    "reason": lambda detail: str(detail.get("reason") or "requeued"),
    "at": lambda detail: f" at offset {detail['offset']}" if "offset" in detail else "",
    "from_offset": lambda detail: f" from offset {detail['offset']}" if "offset" in detail else "",
}


def name_of(node: Node | None, picture: nx.DiGraph) -> str:
    """A node as the log names it: the picture's label for producers and consumers (P1, C2),
    the full name for exchanges and queues."""
    if node is None:
        return "?"
    what = KINDS_ZH[node.kind] if language() == "zh" else node.kind.value
    if node.kind is NodeKind.EXCHANGE and node.name == "":
        return say("the default exchange", "默认交换机")
    named = f"{what} '{node.name}'"  # exchange 'logs', 队列 'hello'
    if node.kind in (NodeKind.EXCHANGE, NodeKind.QUEUE):
        return named
    if node.kind in (NodeKind.CONNECTION, NodeKind.CHANNEL) and drawn_as(picture, node) not in picture:
        return named
    found = picture.nodes.get(drawn_as(picture, node))
    return str(found["label"]) if found else named


# A stream keeps what it delivers: its lines say where in the log, and that an ack removes nothing.
STREAM_TEMPLATES: dict[EventKind, str] = {
    EventKind.ENQUEUE: "message {message} is appended to {source}{at}",
    EventKind.DELIVER: "{source} delivers message {message}{at} to {target}; it stays in the log",
    EventKind.ACK: "{target} acks message {message}{at}; the log keeps it",
    EventKind.DROP: "message {message}{at} leaves {source} ({reason})",
    EventKind.CONSUMER_ADDED: "{target} reads {source}{from_offset}",
}


# --- the Chinese edition's lines ----------------------------------------------------------------
# The same events in Chinese. Names stay as they are (quoted as in the English lines, P1 / C2 as
# the picture labels them); the kind in the line's first column stays the event's own keyword.

TEMPLATES_ZH: dict[EventKind, str] = {
    EventKind.PUBLISH: "{source}把消息{message}发布到{target}，路由键为{key}",
    EventKind.ROUTE: "{source}把消息{message}路由到{target}",
    EventKind.ENQUEUE: "消息{message}进入{source}，等待投递",
    EventKind.DELIVER: "{source}把消息{message}投递给{target}{redelivered}",
    EventKind.ACK: "{target}确认了消息{message}",
    EventKind.NACK: "{target}对消息{message}回复 nack{requeue}",
    EventKind.REJECT: "{target}拒绝了消息{message}{requeue}",
    EventKind.REQUEUE: "消息{message}回到{source}（{reason}）",
    EventKind.DROP: "消息{message}在{source}被丢弃（{reason}）",
    EventKind.RETURN: "{source}把消息{message}退回给{target}：无法路由",
    EventKind.CONFIRM: "消息代理向{target}确认了消息{message}",
    EventKind.EXPIRE: "消息{message}在{source}中过期",
    EventKind.DEAD_LETTER: "消息{message}在{source}成为死信，转到{target}",
    EventKind.DECLARE: "{source}已声明",
    EventKind.DELETE: "{source}已删除",
    EventKind.BIND: "{target}绑定到{source}，绑定键为{key}",
    EventKind.UNBIND: "{target}与{source}解除绑定，绑定键为{key}",
    EventKind.PURGE: "{source}已清空",
    EventKind.CONSUMER_ADDED: "{target}开始从{source}消费",
    EventKind.CONSUMER_CANCELLED: "{target}停止从{source}消费",
    EventKind.CONNECTION_OPENED: "{source}已打开",
    EventKind.CONNECTION_CLOSED: "{source}已关闭",
    EventKind.CHANNEL_OPENED: "{source}已打开",
    EventKind.CHANNEL_CLOSED: "{source}已关闭",
}

STREAM_TEMPLATES_ZH: dict[EventKind, str] = {
    EventKind.ENQUEUE: "消息{message}{at}追加到{source}",
    EventKind.DELIVER: "{source}把消息{message}{at}投递给{target}；它仍留在日志中",
    EventKind.ACK: "{target}确认了消息{message}{at}；日志仍保留它",
    EventKind.DROP: "消息{message}{at}离开{source}（{reason}）",
    EventKind.CONSUMER_ADDED: "{target}开始读取{source}{from_offset}",
}

#: why a message left or went back (the events' `reason`); one not listed is shown as it is
REASONS_ZH: dict[str, str] = {
    "unroutable": "无法路由",
    "rejected": "被拒绝",
    "reject": "被拒绝",
    "nack": "被 nack",
    "recover": "basic.recover",
    "requeued": "重新入队",
    "purged": "队列被清空",
    "queue-deleted": "队列被删除",
    "deleted-queue": "队列被删除",
    "vhost-deleted": "虚拟主机被删除",
    "expired": "已过期",
    "maxlen": "超出长度上限",
    "delivery-limit": "超出投递次数上限",
    "delivery_limit": "超出投递次数上限",
    "dead-letter-cycle": "死信循环",
    "reject-publish": "队列已满，拒收",
    "retention": "被保留策略清除",
}

_DETAILS_ZH: dict[str, Any] = {
    "redelivered": lambda detail: "（重新投递）" if detail.get("redelivered") else "",
    "requeue": lambda detail: "，重新入队" if detail.get("requeue") else "，不重新入队",
    "reason": lambda detail: REASONS_ZH.get(reason := str(detail.get("reason") or "requeued"), reason),
    "at": lambda detail: f"（偏移量 {detail['offset']}）" if "offset" in detail else "",
    "from_offset": lambda detail: f"，从偏移量 {detail['offset']} 开始" if "offset" in detail else "",
}


KINDS_ZH: dict[NodeKind, str] = {
    NodeKind.PUBLISHER: "生产者",
    NodeKind.EXCHANGE: "交换机",
    NodeKind.QUEUE: "队列",
    NodeKind.CONSUMER: "消费者",
    NodeKind.CHANNEL: "信道",
    NodeKind.CONNECTION: "连接",
}


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z0-9'\"?]")


def spaced(template: str, values: Mapping[str, Any]) -> str:
    """`template` filled in, a space put where a Chinese character meets a name, a number or a
    quoted key ("消息 3 投递给 C1"), as Chinese technical writing does; nothing added inside a
    value, so names stay exactly as they are."""
    out = ""
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        for piece in (literal, "" if field is None else str(values[field])):
            if not piece:
                continue
            if out and (
                (_CJK.match(out[-1]) and _LATIN.match(piece[0]))
                or (_LATIN.match(out[-1]) and _CJK.match(piece[0]))
            ):
                out += " "
            out += piece
    return out


@dataclass(frozen=True)
class _Voice:
    """How one language writes the log's lines: its templates and details, how a template is
    filled in, and its words for the default exchange and for a queue that is a stream."""

    templates: Mapping[EventKind, str]
    stream_templates: Mapping[EventKind, str]
    details: Mapping[str, Any]
    fill: Callable[[str, Mapping[str, Any]], str]
    nameless_exchange: str  # how `{target}` reads for the default exchange before it is renamed
    queue: str
    stream: str


def _formatted(template: str, values: Mapping[str, Any]) -> str:
    return template.format_map(values)


VOICES: dict[Language, _Voice] = {
    "en": _Voice(TEMPLATES, STREAM_TEMPLATES, _DETAILS, _formatted, "exchange ''", "queue '", "stream '"),
    "zh": _Voice(TEMPLATES_ZH, STREAM_TEMPLATES_ZH, _DETAILS_ZH, spaced, "交换机 ''", "队列 '", "流 '"),
}


def describe(event: TraceEvent, picture: nx.DiGraph) -> str:
    """One line for `event`, e.g. "P1 publishes message 3 to exchange 'logs', key 'info'"; in a
    Chinese kernel "P1 把消息 3 发布到交换机 'logs'，路由键为 'info'"."""
    voice = VOICES[language()]
    stream = _in_stream(event, picture)
    template = voice.templates.get(event.kind, "{kind} {source} {target}")
    if stream:
        template = voice.stream_templates.get(event.kind, template)
    values: Mapping[str, Any] = {
        "kind": event.kind.value,
        "source": name_of(event.source, picture),
        "target": name_of(event.target, picture),
        "message": event.message,
        "key": repr(event.routing_key or ""),
        **{name: render(event.detail) for name, render in voice.details.items()},
    }
    text = voice.fill(template, values).replace(voice.nameless_exchange, default_exchange_label())
    return text.replace(voice.queue, voice.stream, 1) if stream else text


def _in_stream(event: TraceEvent, picture: nx.DiGraph) -> bool:
    node = event.source
    if node is None or node.kind is not NodeKind.QUEUE:
        return False
    found = picture.nodes.get(drawn_as(picture, node))
    return bool(found and found.get("queue_type") == STREAM_TYPE)


def titles(picture: nx.DiGraph) -> dict[str, str]:
    """Label → full description, for hovers on the labels the log uses (P1, C2)."""
    return {
        str(attributes["label"]): str(attributes["title"])
        for _node, attributes in picture.nodes(data=True)
        if attributes["kind"] in (NodeKind.PUBLISHER, NodeKind.CONSUMER)
    }


def line_html(event: TraceEvent, picture: nx.DiGraph, hovers: Mapping[str, str]) -> str:
    """The log line as HTML: the kind first, P1 / C2 with their full description on hover."""
    text = html.escape(describe(event, picture))
    for label, title in hovers.items():
        text = _replace_word(text, label, f'<span title="{html.escape(title)}">{label}</span>')
    return f'<b class="k-{event.kind.value}">{event.kind.value}</b> {text}'


LOG_STYLE = (
    "<style>.rsviz-plog div{padding:1px 3px;border-radius:3px;color:#444}"
    ".rsviz-plog div.now{background:#ffe9a8;color:#000}.rsviz-plog b{font-weight:600;color:#0072B2}"
    ".rsviz-plog div.later{color:#aaa}</style>"
)


def log_box(rows: str) -> str:
    """Log lines in the box the widgets show them in."""
    return f'{LOG_STYLE}<div class="rsviz-plog" style="font-size:11px;line-height:1.35">{rows}</div>'


def _replace_word(text: str, word: str, replacement: str) -> str:
    """Replace `word` where it stands alone ('C1' but not inside 'C12')."""
    parts = text.split(word)
    out = parts[0]
    for before, after in itertools.pairwise(parts):
        alone = not (before[-1:].isalnum()) and not (after[:1].isalnum())
        out += (replacement if alone else word) + after
    return out
