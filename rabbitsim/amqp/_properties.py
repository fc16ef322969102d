"""Content properties: decoded as strictly as RabbitMQ decodes them, relayed as they came.

pamqp's `Basic.Properties` gives the property names, flags and types. RabbitMQ decodes a
publisher's properties (and crashes on any fault, trailing octets included) but relays the
publisher's own octets to consumers, so the octets are kept beside the decoded values.
"""

from __future__ import annotations

from typing import Any

from pamqp import commands

from rabbitsim.broker import relayed_text

from ._fields import READERS, Short, Unparseable
from ._pamqp_patches import BasicProperties

__all__ = [
    "NO_PROPERTIES",
    "PROPERTY_NAMES",
    "ReceivedProperties",
    "decode_properties",
    "pamqp_properties",
]

_PROPERTIES = [
    (name, commands.Basic.Properties.flags[name], commands.Basic.Properties.amqp_type(name))
    for name in commands.Basic.Properties.__slots__
]
PROPERTY_NAMES = tuple(name for name, _flag, _kind in _PROPERTIES)


class ReceivedProperties(BasicProperties):  # type: ignore[misc,valid-type]  # a class made by _unchecked
    """Content properties as a publisher sent them, keeping their octets (`encoded`) so that
    deliveries relay them untouched, as RabbitMQ does: decoding to Python and encoding again
    would change types (pamqp writes a double back as a 32-bit float). Setting any property
    (on a copy, as the core does) forgets the octets."""

    encoded: bytes | None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, "encoded", None)
        object.__setattr__(self, name, value)


def _received(encoded: bytes, values: dict[str, Any]) -> ReceivedProperties:
    properties = ReceivedProperties.__new__(ReceivedProperties)
    for name in PROPERTY_NAMES:
        object.__setattr__(properties, name, values.get(name))
    object.__setattr__(properties, "encoded", encoded)
    return properties


_NO_FLAGS = b"\x00\x00"
#: Shared by every message published without properties (the core copies before changing any).
NO_PROPERTIES = _received(_NO_FLAGS, {})


def decode_properties(data: bytes) -> commands.Basic.Properties:
    """Content properties (after class id, weight and body size). RabbitMQ decodes them when it
    publishes and crashes on any fault, trailing octets included: raise ValueError then."""
    if data == _NO_FLAGS:
        return NO_PROPERTIES
    values: dict[str, Any] = {}
    try:
        if len(data) < 2:
            raise ValueError("property flags are truncated")
        flags = word = int.from_bytes(data[:2], "big")  # Basic's fourteen flags fill the first word
        at = 2
        while word & 1:  # continuation words, as pamqp reads them
            if at + 2 > len(data):
                raise ValueError("property flags are truncated")
            word = int.from_bytes(data[at : at + 2], "big")
            at += 2
        for name, flag, kind in _PROPERTIES:
            if flags & flag:
                value, at = READERS[kind](data, at)
                if kind == "shortstr":
                    value = relayed_text(value)  # the octets are relayed as they came
                values[name] = value
    except (Short, Unparseable, ValueError, OverflowError, OSError) as error:
        raise ValueError(f"undecodable content properties: {error!r}") from error
    if at != len(data):
        raise ValueError("octets left over after the content properties")
    return _received(data, values)


def pamqp_properties(properties: Any) -> commands.Basic.Properties:
    """Properties as pamqp encodes them, whatever form the core was given."""
    if isinstance(properties, commands.Basic.Properties):
        return properties
    values: dict[str, Any] = {name: getattr(properties, name, None) for name in PROPERTY_NAMES}
    return BasicProperties(**values)
