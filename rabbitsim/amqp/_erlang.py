"""Erlang terms as RabbitMQ prints them in its error texts.

RabbitMQ builds the reply text for a bad frame with `io_lib:format`: `~p` for the octets of a
refused frame, `~w` for method fields it cannot decode. Clients show these texts verbatim, so
they are reproduced character for character (measured on RabbitMQ 3.10.8 and 4.0.5).
"""

from __future__ import annotations

__all__ = ["erlang_binary", "erlang_octets", "frame_octets"]

_ESCAPES = {34: '\\"', 92: "\\\\", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 8: "\\b", 12: "\\f", 27: "\\e"}
_PRINTABLE_CONTROLS = frozenset((8, 9, 10, 11, 12, 13, 27))
#: Erlang's line width for `~p`; a line that breaks goes on two columns in from `<<`.
_LINE = 80
#: RabbitMQ quotes at most this many octets of a refused frame's payload.
_QUOTED_OCTETS = 16


def _printable(code: int) -> bool:
    """Erlang's printable characters (io_lib's unicode range; latin-1 is the part below 256)."""
    return (
        32 <= code <= 126
        or 160 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
        or code in _PRINTABLE_CONTROLS
    )


def _quoted(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(ord(char), char) for char in text) + '"'


def erlang_binary(data: bytes, column: int) -> str:
    """A binary as RabbitMQ 4 prints it with `~p`, starting at `column`: as text when printable
    (ASCII; else UTF-8, marked `/utf8`; else latin-1), else as octets wrapped at 80 columns as
    Erlang's pretty printer wraps them (measured; RabbitMQ 3.10 hangs on non-ASCII text)."""
    if not data:
        return "<<>>"
    if data.isascii() and all(map(_printable, data)):
        return f"<<{_quoted(data.decode('ascii'))}>>"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        pass
    else:
        if all(_printable(ord(char)) for char in text):
            return f"<<{_quoted(text)}/utf8>>"
    if all(map(_printable, data)):
        return f"<<{_quoted(data.decode('latin-1'))}>>"
    items = [str(octet) for octet in data]
    flat = "<<" + ",".join(items) + ">>"
    if column + len(flat) <= _LINE + 1:
        return flat
    indent = column + 2
    lines, line, at = [], "<<", indent
    for index, item in enumerate(items):
        last = index == len(items) - 1
        piece = item + (">>" if last else ",")
        if at + len(piece) > (_LINE + 1 if last else _LINE - 1):
            lines.append(line)
            line, at = " " * indent, indent
        line += piece
        at += len(piece)
    return "\n".join([*lines, line])


def erlang_octets(data: bytes) -> str:
    """A binary as Erlang's `~w` writes it: octets only, never wrapped."""
    return "<<" + ",".join(map(str, data)) + ">>"


def frame_octets(frame_type: int, payload: bytes) -> str:
    """RabbitMQ's description of a frame it refuses: "type 2, all octets = <<...>>" (or the
    first 16 octets of a longer payload)."""
    if len(payload) <= _QUOTED_OCTETS:
        prefix = f"type {frame_type}, all octets = "
    else:
        prefix = f"type {frame_type}, first {_QUOTED_OCTETS} octets = "
        payload = payload[:_QUOTED_OCTETS]
    return prefix + erlang_binary(payload, len(prefix))
