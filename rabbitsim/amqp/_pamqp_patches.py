"""Every place rabbitsim changes or bypasses pamqp's behaviour, in one visible module.

pamqp is a client library; a broker must build and read frames a client never would. Nothing
here modifies pamqp's own classes (other users of pamqp in the process, pika's peers in tests
for one, see pamqp unchanged): each patch is a subclass or a helper that goes around a check.

1. `QueueDeclareOk`, `BasicDeliver`, `BasicGetOk`, `BasicReturn`, `BasicProperties`: pamqp's
   classes without their `validate()`. pamqp accepts queue and exchange names of its own
   pattern up to 127 bytes and delivery modes 1 and 2; RabbitMQ accepts any UTF-8 name up to
   255 bytes (`fu{z`) and relays any delivery mode. Refusing to build a reply would turn a
   valid request into a 541.
2. `BasicProperties.encode_property` writes the `headers` table as the core built it: in its
   order (pamqp sorts the keys; RabbitMQ writes tables in the order it builds them, x-death
   entries for one) and with a `Long` kept 64-bit (`l`, RabbitMQ's type for x-death counts)
   where pamqp picks the narrowest integer type. Every other value is pamqp's encoding.
3. `unvalidated(cls)`: an instance made without `__init__`, for decoding methods whose fields
   RabbitMQ accepts but pamqp's constructor would refuse (see `_methods.decode_method`).
"""

from __future__ import annotations

import struct
from typing import Any, TypeVar, cast

from pamqp import commands, encode

from rabbitsim.broker import Long

__all__ = [
    "BasicDeliver",
    "BasicGetOk",
    "BasicProperties",
    "BasicReturn",
    "QueueDeclareOk",
    "unvalidated",
]

F = TypeVar("F")


def unvalidated(cls: type[F]) -> F:
    """A bare instance of `cls`: pamqp's `__init__` validates, RabbitMQ's reader does not."""
    return cls.__new__(cls)


# --- 1. replies without pamqp's validation ---------------------------------------------------------


def _accept(_self: object) -> None:
    return None


def _unchecked(cls: type[F], name: str) -> type[F]:
    """`cls` with a `validate` that accepts everything. (No `__slots__` of its own: pamqp
    encodes the fields it finds in `self.__slots__`.)"""
    return cast(type[F], type(name, (cls,), {"validate": _accept, "__qualname__": name}))


QueueDeclareOk = _unchecked(commands.Queue.DeclareOk, "QueueDeclareOk")
BasicDeliver = _unchecked(commands.Basic.Deliver, "BasicDeliver")
BasicGetOk = _unchecked(commands.Basic.GetOk, "BasicGetOk")
BasicReturn = _unchecked(commands.Basic.Return, "BasicReturn")
BasicProperties = _unchecked(commands.Basic.Properties, "BasicProperties")


# --- 2. header tables in the core's order, with 64-bit Longs ---------------------------------------


def _table_value(value: Any) -> bytes:
    if isinstance(value, Long):
        return b"l" + struct.pack(">q", value)
    if isinstance(value, dict):
        return b"F" + _field_table(value)
    if isinstance(value, list):
        items = b"".join(_table_value(item) for item in value)
        return b"A" + struct.pack(">I", len(items)) + items
    return encode.encode_table_value(value)


def _field_table(table: dict[str, Any]) -> bytes:
    items = b"".join(encode.short_string(key) + _table_value(item) for key, item in table.items())
    return struct.pack(">I", len(items)) + items


def _encode_property(self: Any, name: str, value: Any) -> bytes:
    if name == "headers" and isinstance(value, dict):
        return _field_table(value)
    return commands.Basic.Properties.encode_property(self, name, value)


BasicProperties.encode_property = _encode_property  # type: ignore[method-assign]
