"""How things look, in one place: the palette, node sizes and the rules that shorten names.

Colours are Okabe and Ito's colour-blind safe set. Node kinds differ by shape as well as by
colour, so a picture still reads in grey or for a reader who cannot tell the hues apart."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from rabbitsim._language import language
from rabbitsim.vocabulary import NodeKind

# Okabe-Ito: tokens take these in order (routing keys or messages), nodes take tints of four.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)

# (fill, outline) per node kind: light tints so that tokens stand out on top of them.
NODE_COLOURS: dict[NodeKind, tuple[str, str]] = {
    NodeKind.PUBLISHER: ("#D6E8F5", "#0072B2"),
    NodeKind.EXCHANGE: ("#FBE6BF", "#B07A00"),
    NodeKind.QUEUE: ("#E3F3EE", "#007A59"),
    NodeKind.CONSUMER: ("#F4DDEA", "#A8527F"),
}
READY_COLOUR = "#009E73"
UNACKED_COLOUR = "#9AD5C4"
EDGE_COLOUR = "#8A8A8A"
HIGHLIGHT_COLOUR = "#0072B2"
TEXT_COLOUR = "#222222"
CAPTION_COLOUR = "#555555"

# What a mark at a node means, drawn as a glyph for a moment: (glyph, colour).
MARKS: dict[str, tuple[str, str]] = {
    "ack": ("\u2713", "#007A59"),  # check mark
    "nack": ("\u2717", "#D55E00"),  # ballot x
    "reject": ("\u2717", "#D55E00"),
    "drop": ("\u2717", "#D55E00"),
    "requeue": ("\u21ba", "#E69F00"),  # anticlockwise arrow
    "return": ("\u21a9", "#D55E00"),  # hooked arrow
    "confirm": ("\u2713", "#0072B2"),
}
MARK_KINDS: tuple[str, ...] = tuple(MARKS)

# Token outline by style: a requeued or returned message keeps its colour, the ring says why.
TOKEN_OUTLINES: dict[str, str] = {"message": "#333333", "requeue": "#E69F00", "return": "#D55E00"}
TOKEN_STYLES: tuple[str, ...] = tuple(TOKEN_OUTLINES)

# Geometry in layout units (one unit is the distance between two rows).
LAYER_GAP = 2.7
ROW_GAP = 1.0
CIRCLE_RADIUS = 0.24
DIAMOND_RADIUS = 0.3
QUEUE_WIDTH = 1.5
QUEUE_HEIGHT = 0.3
TOKEN_RADIUS = 0.075
INCHES_PER_UNIT = 0.68
FONT = "DejaVu Sans"
# Chinese labels: DejaVu has no CJK glyphs, so a Chinese kernel's pictures list one of these after
# it (the first installed), and matplotlib (>= 3.6) takes each glyph from the first font that has
# it: Latin text looks as it does in English, Chinese text comes from the CJK font.
CJK_FONTS = (
    "WenQuanYi Zen Hei",  # fonts-wqy-zenhei, which .ci/browser.sh installs
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "SimHei",
)

HALF_WIDTHS: dict[NodeKind, float] = {
    NodeKind.PUBLISHER: CIRCLE_RADIUS,
    NodeKind.EXCHANGE: DIAMOND_RADIUS,
    NodeKind.QUEUE: QUEUE_WIDTH / 2,
    NodeKind.CONSUMER: CIRCLE_RADIUS,
}

# Server-generated names keep their prefix: the prefix says what made them.
GENERATED_PREFIXES = ("amq.gen-", "amq.ctag-", "amq.rabbitmq.reply-to.")
NAME_LIMIT = 16


def font_family() -> str | list[str]:
    """The font family a picture's texts are drawn in, in the kernel's language when it is
    drawn: FONT in English (as it always was); in Chinese FONT followed by an installed CJK
    font, so that Chinese labels have glyphs (FONT alone where none is installed)."""
    if language() != "zh":
        return FONT
    found = installed_cjk_font()
    return [FONT, found] if found else FONT


@functools.cache
def installed_cjk_font() -> str | None:
    """The first of CJK_FONTS matplotlib knows, or None; and, once one is found, quiet about its
    weight: such fonts come in one weight (WenQuanYi's is 500), for which matplotlib would log a
    "findfont: Failed to find font weight" warning per text size, in red, under every picture."""
    from matplotlib import font_manager  # here, not at the top: this module is pure otherwise

    known = {entry.name for entry in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in known), None)
    if found is not None:
        logging.getLogger(font_manager.__name__).addFilter(_OnlyWeight(found))
    return found


class _OnlyWeight(logging.Filter):
    """Drops matplotlib's weight warning for one font (and nothing else)."""

    def __init__(self, font: str) -> None:
        super().__init__()
        self.font = font

    def filter(self, record: logging.LogRecord) -> bool:
        weight_warning = str(record.msg).startswith("findfont: Failed to find font weight")
        return not (weight_warning and isinstance(record.args, tuple) and self.font in record.args)


def shorten(name: str, limit: int = NAME_LIMIT) -> str:
    """`name` cut to about `limit` characters with an ellipsis, keeping the end, which is what
    tells two generated names apart: 'amq.gen-…0tA'. The full name goes in a hover or the log."""
    if len(name) <= limit:
        return name
    for prefix in GENERATED_PREFIXES:
        if name.startswith(prefix):
            return f"{prefix}\u2026{name[-3:]}"
    tail = max(3, limit // 3)
    return f"{name[: limit - tail - 1]}\u2026{name[-tail:]}"


def shorten_all(names: Iterable[str], limit: int = NAME_LIMIT) -> dict[str, str]:
    """Labels for sibling names: `shorten`, except where two would read the same; those show
    where they differ instead: 'orders.region-12.priority-high' → '…region-12.prio…'."""
    labels = {name: shorten(name, limit) for name in names}
    clashes: dict[str, list[str]] = {}
    for name, label in labels.items():
        clashes.setdefault(label, []).append(name)
    for group in clashes.values():
        if len(group) < 2:
            continue
        common = _common_prefix(group)
        for name in group:
            cut = next(
                (name.rfind(s, 0, common) + 1 for s in (".", ":", "/", "-", "_") if s in name[:common]), 0
            )
            window = name[cut:]
            head = "\u2026" if cut else ""
            if len(head) + len(window) > limit:
                window = window[: limit - len(head) - 1] + "\u2026"
            labels[name] = head + window
    return labels


def _common_prefix(names: list[str]) -> int:
    first, last = min(names), max(names)  # the sorted extremes share what all share
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return length


def channel_caption(channel: str, limit: int = 18) -> str:
    """A channel's name as RabbitMQ gives it ('connection-2 (1)', or '127.0.0.1:54321 ->
    127.0.0.1:5672 (1)' on a real broker) cut to what tells channels apart: the client's port."""
    if " -> " in channel:
        client, _, rest = channel.partition(" -> ")
        number = rest[rest.rfind(" (") :] if rest.endswith(")") else ""
        channel = f":{client.rpartition(':')[2]}{number}"
    return shorten(channel, limit)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]
