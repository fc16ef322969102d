"""The event log beside a picture: one readable line per event, with full names (the picture
shortens them; the log is where the long ones can be read)."""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

from ._graph import DEFAULT_EXCHANGE_LABEL, drawn_as
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
    if node.kind is NodeKind.EXCHANGE:
        return "the default exchange" if node.name == "" else f"exchange '{node.name}'"
    if node.kind is NodeKind.QUEUE:
        return f"queue '{node.name}'"
    if node.kind in (NodeKind.CONNECTION, NodeKind.CHANNEL) and drawn_as(picture, node) not in picture:
        return f"{node.kind.value} '{node.name}'"
    found = picture.nodes.get(drawn_as(picture, node))
    return str(found["label"]) if found else f"{node.kind.value} '{node.name}'"


# A stream keeps what it delivers: its lines say where in the log, and that an ack removes nothing.
STREAM_TEMPLATES: dict[EventKind, str] = {
    EventKind.ENQUEUE: "message {message} is appended to {source}{at}",
    EventKind.DELIVER: "{source} delivers message {message}{at} to {target}; it stays in the log",
    EventKind.ACK: "{target} acks message {message}{at}; the log keeps it",
    EventKind.DROP: "message {message}{at} leaves {source} ({reason})",
    EventKind.CONSUMER_ADDED: "{target} reads {source}{from_offset}",
}


def describe(event: TraceEvent, picture: nx.DiGraph) -> str:
    """One line for `event`, e.g. "P1 publishes message 3 to exchange 'logs', key 'info'"."""
    template = TEMPLATES.get(event.kind, "{kind} {source} {target}")
    if _in_stream(event, picture):
        template = STREAM_TEMPLATES.get(event.kind, template)
    values: Mapping[str, Any] = {
        "kind": event.kind.value,
        "source": name_of(event.source, picture),
        "target": name_of(event.target, picture),
        "message": event.message,
        "key": repr(event.routing_key or ""),
        **{name: render(event.detail) for name, render in _DETAILS.items()},
    }
    text = template.format_map(values).replace("exchange ''", DEFAULT_EXCHANGE_LABEL)
    return text.replace("queue '", "stream '", 1) if _in_stream(event, picture) else text


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
