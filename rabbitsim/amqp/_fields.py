"""AMQP field values read as strictly as RabbitMQ reads them, shared by method fields and
content properties.

pamqp's decoders trust their input (a client trusts its broker); these readers bound every
read by the frame, so a short frame is noticed (`Short`) instead of read past, and they leave
UTF-8 and table parsing to the caller, which does them in RabbitMQ's order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from pamqp import decode

__all__ = ["READERS", "Reader", "Short", "Unparseable", "parse_table", "table_octets"]


class Unparseable(Exception):
    """Input RabbitMQ's reader crashes on (an unknown method, a field table it cannot parse):
    it drops the socket without a word."""


class Short(Exception):
    """The fields end before their layout does."""


#: (data, position) -> (value, next position); raises `Short` rather than read past the end.
Reader = Callable[[bytes, int], tuple[Any, int]]


def _fixed(layout: str) -> Reader:
    unpack = struct.Struct(layout).unpack_from
    size = struct.calcsize(layout)

    def read(data: bytes, at: int) -> tuple[Any, int]:
        try:
            return unpack(data, at)[0], at + size
        except struct.error as error:
            raise Short from error

    return read


def _shortstr(data: bytes, at: int) -> tuple[Any, int]:
    """The raw octets; UTF-8 is checked once the whole frame is known to be well formed."""
    if at >= len(data):
        raise Short
    end = at + 1 + data[at]
    if end > len(data):
        raise Short
    return data[at + 1 : end], end


def _sized(data: bytes, at: int) -> int:
    if at + 4 > len(data):
        raise Short
    end = at + 4 + int.from_bytes(data[at : at + 4], "big")
    if end > len(data):
        raise Short
    return end


def _longstr(data: bytes, at: int) -> tuple[Any, int]:
    end = _sized(data, at)
    raw = data[at + 4 : end]
    try:
        return raw.decode(), end
    except UnicodeDecodeError:
        return raw, end  # as pamqp does: text when it is text, else the octets


def table_octets(data: bytes, at: int) -> tuple[Any, int]:
    """The raw table, length included; its entries are read once the frame is known to be well
    formed (RabbitMQ matches the fields first, then parses tables)."""
    end = _sized(data, at)
    return data[at:end], end


def parse_table(octets: bytes) -> Any:
    """A field table (length included) as pamqp decodes it; `Unparseable` where RabbitMQ crashes."""
    try:
        return decode.field_table(octets)[1]
    except Exception as error:  # pamqp's table decoder raises many kinds; RabbitMQ crashes
        raise Unparseable(f"field table: {error}") from error


def _table(data: bytes, at: int) -> tuple[Any, int]:
    octets, end = table_octets(data, at)
    return parse_table(octets), end


def _timestamp(data: bytes, at: int) -> tuple[Any, int]:
    if at + 8 > len(data):
        raise Short
    return decode.timestamp(data[at : at + 8])[1], at + 8


#: AMQP field type (pamqp's name) -> its reader.
READERS: dict[str, Reader] = {
    "octet": _fixed(">B"),
    "short": _fixed(">H"),
    "long": _fixed(">I"),
    "longlong": _fixed(">Q"),
    "shortstr": _shortstr,
    "longstr": _longstr,
    "table": _table,
    "timestamp": _timestamp,
}
