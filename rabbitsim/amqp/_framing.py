"""Frames on the wire: cutting a byte stream into frames, reading method fields and content
properties as strictly as RabbitMQ does, rendering outbound content, and RabbitMQ's error texts.

pamqp is the source of truth: its method index, field layouts and value codecs. What is added
here is RabbitMQ's strictness, which pamqp (a client library) does not have: a frame over
frame_max is refused from its header alone, method fields must fill the frame exactly, shortstr
fields must be UTF-8, and field tables RabbitMQ cannot parse end the connection. Replies are
built without pamqp's client-side validation, which refuses names RabbitMQ accepts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pamqp import base, body, commands, decode, encode, frame, header

from rabbitsim.broker import FRAME_ERROR, ConnectionError, Long, Message

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
#: RabbitMQ starts a 0-9-1 connection for these; 0-9 (`AMQP 1 1 0 9`) is treated as 0-9-1.
ACCEPTED_HEADERS = frozenset((PROTOCOL_HEADER, b"AMQP\x01\x01\x00\x09"))
FRAME_HEADER = struct.Struct(">BHI")
FRAME_END = 0xCE
FRAME_METHOD, FRAME_CONTENT_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
#: The frame_max in force until tune-ok (RabbitMQ's minimum frame size).
FRAME_MIN_SIZE = 4096
#: A frame's header and end octet: RabbitMQ reports frame_max less these in frame_too_large.
FRAME_OVERHEAD = 8
HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"
#: The shortest payload RabbitMQ can analyse, by frame type: class and method ids; class id,
#: weight and body size. A shorter one (or a heartbeat with a payload) is an unknown frame.
MIN_PAYLOAD = {FRAME_METHOD: 4, FRAME_CONTENT_HEADER: 12, FRAME_BODY: 0}
CONTENT_HEADER = struct.Struct(">HHQ")

#: Methods followed by a content header and body frames.
CONTENT_METHODS = frozenset(
    (commands.Basic.Publish, commands.Basic.Return, commands.Basic.Deliver, commands.Basic.GetOk)
)
#: pamqp class -> "queue.declare", the name the core's errors use for class and method ids.
METHOD_NAMES: dict[type, str] = {
    cls: str(cls.name).lower()  # type: ignore[attr-defined]
    for cls in commands.INDEX_MAPPING.values()
}

F = TypeVar("F")


# --- replies without pamqp's validation ------------------------------------------------------------


def _accept(_self: object) -> None:
    return None


def _unchecked(cls: type[F], name: str) -> type[F]:
    """`cls` without pamqp's validation. pamqp allows queue and exchange names of its own
    pattern and 127 bytes; RabbitMQ takes any UTF-8 up to 255 bytes ("fu{z"), and any
    delivery mode. Refusing to build a reply would turn a valid request into a 541. (No
    `__slots__` of its own: pamqp encodes the fields it finds in `self.__slots__`.)"""
    return cast(type[F], type(name, (cls,), {"validate": _accept, "__qualname__": name}))


QueueDeclareOk = _unchecked(commands.Queue.DeclareOk, "QueueDeclareOk")
BasicDeliver = _unchecked(commands.Basic.Deliver, "BasicDeliver")
BasicGetOk = _unchecked(commands.Basic.GetOk, "BasicGetOk")
BasicReturn = _unchecked(commands.Basic.Return, "BasicReturn")
BasicProperties = _unchecked(commands.Basic.Properties, "BasicProperties")


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
    """A header table as the core wrote it: in its order (pamqp would sort the keys; RabbitMQ
    writes tables in the order it builds them, x-death entries for one, and the core sorts
    where RabbitMQ sorts), and with a `Long` kept 64-bit (`l`, RabbitMQ's type for x-death
    counts) where pamqp would pick the narrowest integer type. Values are pamqp's otherwise."""
    items = b"".join(encode.short_string(key) + _table_value(item) for key, item in table.items())
    return struct.pack(">I", len(items)) + items


def _encode_property(self: Any, name: str, value: Any) -> bytes:
    if name == "headers" and isinstance(value, dict):
        return _field_table(value)
    return commands.Basic.Properties.encode_property(self, name, value)


BasicProperties.encode_property = _encode_property  # type: ignore[method-assign]


# --- RabbitMQ's texts ------------------------------------------------------------------------------

_ESCAPES = {34: '\\"', 92: "\\\\", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 8: "\\b", 12: "\\f", 27: "\\e"}
_PRINTABLE_CONTROLS = frozenset((8, 9, 10, 11, 12, 13, 27))
#: Erlang's line width for `~p`; a line that breaks goes on two columns in from `<<`.
_LINE = 80


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


def frame_octets(frame_type: int, payload: bytes) -> str:
    """RabbitMQ's description of a frame it refuses: "type 2, all octets = <<...>>" (or the
    first 16 octets of a longer payload)."""
    if len(payload) <= 16:
        prefix = f"type {frame_type}, all octets = "
    else:
        prefix, payload = f"type {frame_type}, first 16 octets = ", payload[:16]
    return prefix + erlang_binary(payload, len(prefix))


def erlang_octets(data: bytes) -> str:
    """A binary as Erlang's `~w` writes it: octets only, never wrapped."""
    return "<<" + ",".join(map(str, data)) + ">>"


# --- frames ----------------------------------------------------------------------------------------


def next_frame(buffer: bytearray, at: int, frame_max: int) -> tuple[int, int, bytes, int] | None:
    """The frame starting at `at`: (type, channel, payload, next position), or None when more
    bytes are needed. As in RabbitMQ, a frame over frame_max is refused from its header alone
    (of any type), and a bad end octet once the payload is in; both are fatal 501s."""
    if len(buffer) - at < 7:
        return None
    frame_type, channel, size = FRAME_HEADER.unpack_from(buffer, at)
    if size > frame_max:
        limit = frame_max - FRAME_OVERHEAD
        raise ConnectionError(
            FRAME_ERROR, f"{frame_octets(frame_type, b'')}: {{frame_too_large,{size},{limit}}}"
        )
    end = at + size + 8
    if len(buffer) < end:
        return None
    payload = bytes(buffer[at + 7 : end - 1])
    if buffer[end - 1] != FRAME_END:
        marker = buffer[end - 1]
        raise ConnectionError(
            FRAME_ERROR, f"{frame_octets(frame_type, payload)}: {{invalid_frame_end_marker,{marker}}}"
        )
    return frame_type, channel, payload, end


# --- method fields, as strictly as RabbitMQ reads them --------------------------------------------


class Unparseable(Exception):
    """Input RabbitMQ's reader crashes on (an unknown method, a field table it cannot parse):
    it drops the socket without a word."""


class CannotDecode(ConnectionError):
    """Method fields that do not fill the frame exactly: RabbitMQ's 501 "cannot decode"."""

    def __init__(self, name: str, fields: bytes) -> None:
        super().__init__(FRAME_ERROR, f"cannot decode {erlang_octets(fields)}", name)


def malformed_utf8() -> ConnectionError:
    """A shortstr that is not UTF-8: RabbitMQ names no method (ids 0/0) on a channel."""
    return ConnectionError(FRAME_ERROR, "Malformed UTF-8 in shortstr")


class _Short(Exception):
    """The fields end before their layout does."""


_Reader = Callable[[bytes, int], tuple[Any, int]]


def _fixed(layout: str) -> _Reader:
    unpack = struct.Struct(layout).unpack_from
    size = struct.calcsize(layout)

    def read(data: bytes, at: int) -> tuple[Any, int]:
        try:
            return unpack(data, at)[0], at + size
        except struct.error as error:
            raise _Short from error

    return read


def _shortstr(data: bytes, at: int) -> tuple[Any, int]:
    """The raw octets; UTF-8 is checked once the whole frame is known to be well formed."""
    if at >= len(data):
        raise _Short
    end = at + 1 + data[at]
    if end > len(data):
        raise _Short
    return data[at + 1 : end], end


def _sized(data: bytes, at: int) -> int:
    if at + 4 > len(data):
        raise _Short
    end = at + 4 + int.from_bytes(data[at : at + 4], "big")
    if end > len(data):
        raise _Short
    return end


def _longstr(data: bytes, at: int) -> tuple[Any, int]:
    end = _sized(data, at)
    raw = data[at + 4 : end]
    try:
        return raw.decode(), end
    except UnicodeDecodeError:
        return raw, end  # as pamqp does: text when it is text, else the octets


def _table_octets(data: bytes, at: int) -> tuple[Any, int]:
    """The raw table, length included; its entries are read once the frame is known to be well
    formed (RabbitMQ matches the fields first, then parses tables)."""
    end = _sized(data, at)
    return data[at:end], end


def _parse_table(octets: bytes) -> Any:
    try:
        return decode.field_table(octets)[1]
    except Exception as error:  # pamqp's table decoder raises many kinds; RabbitMQ crashes
        raise Unparseable(f"field table: {error}") from error


def _table(data: bytes, at: int) -> tuple[Any, int]:
    octets, end = _table_octets(data, at)
    return _parse_table(octets), end


def _timestamp(data: bytes, at: int) -> tuple[Any, int]:
    if at + 8 > len(data):
        raise _Short
    return decode.timestamp(data[at : at + 8])[1], at + 8


_READERS: dict[str, _Reader] = {
    "octet": _fixed(">B"),
    "short": _fixed(">H"),
    "long": _fixed(">I"),
    "longlong": _fixed(">Q"),
    "shortstr": _shortstr,
    "longstr": _longstr,
    "table": _table,
    "timestamp": _timestamp,
}


def _layout(cls: type[base.Frame]) -> list[tuple[tuple[str, ...], str]]:
    """pamqp's fields of `cls` as (names, type), consecutive bits packed eight to an octet."""
    steps: list[tuple[tuple[str, ...], str]] = []
    for name in cls.__slots__:
        kind = cls.amqp_type(name)
        if kind == "bit" and steps and steps[-1][1] == "bit" and len(steps[-1][0]) < 8:
            steps[-1] = ((*steps[-1][0], name), "bit")
        else:
            steps.append(((name,), kind))
    return steps


#: Method fields: tables are only delimited while the fields are matched.
_FIELD_READERS = {**_READERS, "table": _table_octets}
#: method index -> (pamqp class, name, field layout), for every method in pamqp's index.
METHODS: dict[int, tuple[type[base.Frame], str, list[tuple[tuple[str, ...], str]]]] = {
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
    method = cls.__new__(cls)  # not __init__: pamqp's validation is not RabbitMQ's
    at = 4
    strings, tables = [], []
    try:
        for names, kind in layout:
            if kind == "bit":
                if at >= len(payload):
                    raise _Short
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
    except _Short:
        raise CannotDecode(name, payload[4:]) from None
    if at != len(payload):
        raise CannotDecode(name, payload[4:])
    for field in strings:
        raw = getattr(method, field)
        try:
            setattr(method, field, raw.decode())
        except UnicodeDecodeError:
            if cls not in _UNCHECKED_UTF8:
                raise malformed_utf8() from None
            setattr(method, field, raw.decode("latin-1"))
    for field in tables:
        setattr(method, field, _parse_table(getattr(method, field)))
    return method


# --- content -------------------------------------------------------------------------------------

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
                value, at = _READERS[kind](data, at)
                if kind == "shortstr":
                    try:
                        value = value.decode()
                    except UnicodeDecodeError:
                        value = value.decode("latin-1")  # the octets are relayed as they came
                values[name] = value
    except (_Short, Unparseable, ValueError, OverflowError, OSError) as error:
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


def _content_header_frame(message: Message) -> bytes:
    """The content header frame (on channel 0) with the publisher's own property octets when
    the core kept them, else pamqp's encoding of the properties."""
    encoded: bytes | None = getattr(message.properties, "encoded", None)
    if encoded is None:
        return frame.marshal(
            header.ContentHeader(0, len(message.body), pamqp_properties(message.properties)), 0
        )
    payload = CONTENT_HEADER.pack(60, 0, len(message.body)) + encoded
    return FRAME_HEADER.pack(FRAME_CONTENT_HEADER, 0, len(payload)) + payload + b"\xce"


def _on_channel(encoded: bytes, channel: int) -> bytes:
    return encoded[:1] + channel.to_bytes(2, "big") + encoded[3:]


def content_frames(message: Message, channel: int, frame_max: int) -> list[bytes]:
    """The content header and body frames of `message`, encoded once per message and frame
    size (fanout copies share them), then stamped with the channel number."""
    cached = message.wire
    if not isinstance(cached, tuple) or cached[0] != frame_max:
        chunk = frame_max - FRAME_OVERHEAD
        payload = message.body
        frames = [_content_header_frame(message)]
        frames += [
            frame.marshal(body.ContentBody(payload[start : start + chunk]), 0)
            for start in range(0, len(payload), chunk)
        ]
        cached = message.wire = (frame_max, frames)
    return [_on_channel(encoded, channel) for encoded in cached[1]]
