"""Frames on the wire: the protocol header, cutting a byte stream into frames as RabbitMQ's
reader does, and rendering a message's content header and body frames.

Frame types, sizes and the end octet are pamqp's constants; what is added is RabbitMQ's
reading of them (a frame over frame_max is refused from its header alone) and the 0-9 header
it also accepts.
"""

from __future__ import annotations

import struct

from pamqp import body, commands, constants, frame, header, heartbeat

from rabbitsim.broker import FRAME_ERROR, ConnectionError, Message

from ._erlang import frame_octets
from ._properties import pamqp_properties

__all__ = [
    "ACCEPTED_HEADERS",
    "CONTENT_HEADER",
    "FRAME_BODY",
    "FRAME_CONTENT_HEADER",
    "FRAME_END",
    "FRAME_HEADER",
    "FRAME_HEARTBEAT",
    "FRAME_METHOD",
    "FRAME_MIN_SIZE",
    "FRAME_OVERHEAD",
    "HEARTBEAT_FRAME",
    "MIN_PAYLOAD",
    "PROTOCOL_HEADER",
    "content_frames",
    "next_frame",
]

#: "AMQP" 0 0 9 1.
PROTOCOL_HEADER = constants.AMQP + bytes((0, *constants.VERSION))
#: RabbitMQ starts a 0-9-1 connection for these; 0-9 (`AMQP 1 1 0 9`) is treated as 0-9-1.
ACCEPTED_HEADERS = frozenset((PROTOCOL_HEADER, constants.AMQP + bytes((1, 1, 0, 9))))

FRAME_METHOD: int = constants.FRAME_METHOD
FRAME_CONTENT_HEADER: int = constants.FRAME_HEADER
FRAME_BODY: int = constants.FRAME_BODY
FRAME_HEARTBEAT: int = constants.FRAME_HEARTBEAT
FRAME_END: int = constants.FRAME_END
#: The frame_max in force until tune-ok (RabbitMQ's minimum frame size).
FRAME_MIN_SIZE: int = constants.FRAME_MIN_SIZE
#: Type, channel and payload size.
FRAME_HEADER = struct.Struct(">BHI")
#: A frame's header and end octet: RabbitMQ reports frame_max less these in frame_too_large.
FRAME_OVERHEAD = FRAME_HEADER.size + len(constants.FRAME_END_CHAR)
HEARTBEAT_FRAME: bytes = heartbeat.Heartbeat.marshal()
#: A content header's class id, weight and body size.
CONTENT_HEADER = struct.Struct(">HHQ")
#: The shortest payload RabbitMQ can analyse, by frame type: class and method ids; class id,
#: weight and body size. A shorter one (or a heartbeat with a payload) is an unknown frame.
MIN_PAYLOAD = {FRAME_METHOD: struct.calcsize(">HH"), FRAME_CONTENT_HEADER: CONTENT_HEADER.size, FRAME_BODY: 0}


def next_frame(buffer: bytearray, at: int, frame_max: int) -> tuple[int, int, bytes, int] | None:
    """The frame starting at `at`: (type, channel, payload, next position), or None when more
    bytes are needed. As in RabbitMQ, a frame over frame_max is refused from its header alone
    (of any type), and a bad end octet once the payload is in; both are fatal 501s."""
    if len(buffer) - at < FRAME_HEADER.size:
        return None
    frame_type, channel, size = FRAME_HEADER.unpack_from(buffer, at)
    if size > frame_max:
        limit = frame_max - FRAME_OVERHEAD
        raise ConnectionError(
            FRAME_ERROR, f"{frame_octets(frame_type, b'')}: {{frame_too_large,{size},{limit}}}"
        )
    end = at + size + FRAME_OVERHEAD
    if len(buffer) < end:
        return None
    payload = bytes(buffer[at + FRAME_HEADER.size : end - 1])
    if buffer[end - 1] != FRAME_END:
        marker = buffer[end - 1]
        raise ConnectionError(
            FRAME_ERROR, f"{frame_octets(frame_type, payload)}: {{invalid_frame_end_marker,{marker}}}"
        )
    return frame_type, channel, payload, end


def _content_header_frame(message: Message) -> bytes:
    """The content header frame (on channel 0) with the publisher's own property octets when
    the core kept them, else pamqp's encoding of the properties."""
    encoded: bytes | None = getattr(message.properties, "encoded", None)
    if encoded is None:
        return frame.marshal(
            header.ContentHeader(0, len(message.body), pamqp_properties(message.properties)), 0
        )
    payload = CONTENT_HEADER.pack(commands.Basic.frame_id, 0, len(message.body)) + encoded
    return FRAME_HEADER.pack(FRAME_CONTENT_HEADER, 0, len(payload)) + payload + constants.FRAME_END_CHAR


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
