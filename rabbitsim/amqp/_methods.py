"""Method frames' fields, read as strictly as RabbitMQ reads them.

pamqp is the source of truth for which methods exist and their field layouts
(`commands.INDEX_MAPPING`, each class's `__slots__` and `amqp_type`). What is added here is
RabbitMQ's strictness, which pamqp (a client library) does not have: fields must fill the
frame exactly, shortstr fields must be UTF-8, and field tables RabbitMQ cannot parse end the
connection; and RabbitMQ's leniency, which pamqp's constructors would refuse.
"""

from __future__ import annotations

from typing import Any

from pamqp import base, commands

from rabbitsim.broker import FRAME_ERROR, ConnectionError, relayed_text, utf8_text

from ._erlang import erlang_octets
from ._fields import READERS, Short, Unparseable, parse_table, table_octets
from ._pamqp_patches import unvalidated

__all__ = [
    "CONTENT_METHODS",
    "METHODS",
    "METHOD_NAMES",
    "CannotDecode",
    "decode_method",
    "malformed_utf8",
    "method_name",
]

Layout = list[tuple[tuple[str, ...], str]]

#: Methods followed by a content header and body frames.
CONTENT_METHODS = frozenset(
    (commands.Basic.Publish, commands.Basic.Return, commands.Basic.Deliver, commands.Basic.GetOk)
)
#: pamqp class -> "queue.declare", the name the core's errors use for class and method ids.
METHOD_NAMES: dict[type, str] = {
    cls: str(cls.name).lower()  # type: ignore[attr-defined]
    for cls in commands.INDEX_MAPPING.values()
}


class CannotDecode(ConnectionError):
    """Method fields that do not fill the frame exactly: RabbitMQ's 501 "cannot decode"."""

    def __init__(self, name: str, fields: bytes) -> None:
        super().__init__(FRAME_ERROR, f"cannot decode {erlang_octets(fields)}", name)


def malformed_utf8() -> ConnectionError:
    """A shortstr that is not UTF-8: RabbitMQ names no method (ids 0/0) on a channel."""
    return ConnectionError(FRAME_ERROR, "Malformed UTF-8 in shortstr")


def _layout(cls: type[base.Frame]) -> Layout:
    """pamqp's fields of `cls` as (names, type), consecutive bits packed eight to an octet."""
    steps: Layout = []
    for name in cls.__slots__:
        kind = cls.amqp_type(name)
        if kind == "bit" and steps and steps[-1][1] == "bit" and len(steps[-1][0]) < 8:
            steps[-1] = ((*steps[-1][0], name), "bit")
        else:
            steps.append(((name,), kind))
    return steps


#: Method fields: tables are only delimited while the fields are matched.
_FIELD_READERS = {**READERS, "table": table_octets}
#: method index -> (pamqp class, name, field layout), for every method in pamqp's index.
METHODS: dict[int, tuple[type[base.Frame], str, Layout]] = {
    index: (cls, METHOD_NAMES[cls], _layout(cls)) for index, cls in commands.INDEX_MAPPING.items()
}
#: basic.publish's exchange and routing key are passed on as RabbitMQ gets them, UTF-8 or not.
_UNCHECKED_UTF8 = frozenset((commands.Basic.Publish,))


def method_name(payload: bytes) -> str | None:
    """The name of the method a method frame's payload starts with, if pamqp knows it."""
    known = METHODS.get(int.from_bytes(payload[:4], "big"))
    return known[1] if known else None


def decode_method(payload: bytes) -> Any:
    """The pamqp method in a method frame's payload (its class and method ids first).

    Unknown ids and unparseable tables raise `Unparseable`; fields that overrun the frame or
    leave octets over raise `CannotDecode`; a shortstr that is not UTF-8 is RabbitMQ's 501."""
    known = METHODS.get(int.from_bytes(payload[:4], "big"))
    if known is None:
        raise Unparseable(f"unknown method {erlang_octets(payload[:4])}")
    cls, name, layout = known
    method = unvalidated(cls)  # pamqp's validation is not RabbitMQ's
    at = 4
    strings, tables = [], []
    try:
        for names, kind in layout:
            if kind == "bit":
                if at >= len(payload):
                    raise Short
                octet = payload[at]
                for position, field in enumerate(names):
                    setattr(method, field, bool(octet >> position & 1))
                at += 1
                continue
            value, at = _FIELD_READERS[kind](payload, at)
            if kind == "shortstr":
                strings.append(names[0])
            elif kind == "table":
                tables.append(names[0])
            setattr(method, names[0], value)
    except Short:
        raise CannotDecode(name, payload[4:]) from None
    if at != len(payload):
        raise CannotDecode(name, payload[4:])
    for field in strings:
        raw = getattr(method, field)
        if cls in _UNCHECKED_UTF8:
            setattr(method, field, relayed_text(raw))
            continue
        try:
            setattr(method, field, utf8_text(raw))
        except UnicodeDecodeError:
            raise malformed_utf8() from None
    for field in tables:
        setattr(method, field, parse_table(getattr(method, field)))
    return method
