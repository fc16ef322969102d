"""Cutting a byte stream into AMQP frames, and rendering outbound content.

pamqp decodes and encodes every frame; this module only finds frame boundaries (so that a
frame that is too large or badly terminated gets RabbitMQ's 501 before any decoding) and
splits message bodies by the negotiated frame_max.
"""

from __future__ import annotations

import struct
from typing import Any

from pamqp import body, commands, frame, header

from rabbitsim.broker import FRAME_ERROR, ConnectionError, Message

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_HEADER = struct.Struct(">BHI")
FRAME_END = 0xCE
FRAME_METHOD, FRAME_CONTENT_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
KNOWN_FRAME_TYPES = frozenset((FRAME_METHOD, FRAME_CONTENT_HEADER, FRAME_BODY, FRAME_HEARTBEAT))
#: RabbitMQ accepts frames this much larger than the negotiated frame_max.
FRAME_MAX_SLACK = 8
HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"

PROPERTY_NAMES = tuple(commands.Basic.Properties().__slots__)


def next_frame(buffer: bytearray, at: int, frame_max: int) -> tuple[int, int, bytes, int] | None:
    """The frame starting at `at`: (type, channel, whole frame bytes, next position), or None
    when more bytes are needed. Oversize frames, unknown types and bad end octets are 501."""
    if len(buffer) - at < FRAME_HEADER.size:
        return None
    frame_type, channel, size = FRAME_HEADER.unpack_from(buffer, at)
    if frame_type not in KNOWN_FRAME_TYPES:
        raise ConnectionError(FRAME_ERROR, f"unknown frame type {frame_type}")
    if size > frame_max + FRAME_MAX_SLACK and frame_type in (FRAME_BODY,):
        raise ConnectionError(FRAME_ERROR, f"frame size {size} larger than negotiated maximum {frame_max}")
    end = at + FRAME_HEADER.size + size + 1
    if len(buffer) < end:
        return None
    if buffer[end - 1] != FRAME_END:
        raise ConnectionError(FRAME_ERROR, f"bad frame end octet {buffer[end - 1]}")
    return frame_type, channel, bytes(buffer[at:end]), end


def pamqp_properties(properties: Any) -> commands.Basic.Properties:
    """Properties as pamqp encodes them, whatever form the core was given."""
    if isinstance(properties, commands.Basic.Properties):
        return properties
    values: dict[str, Any] = {name: getattr(properties, name, None) for name in PROPERTY_NAMES}
    return commands.Basic.Properties(**values)


def _on_channel(encoded: bytes, channel: int) -> bytes:
    return encoded[:1] + channel.to_bytes(2, "big") + encoded[3:]


def content_frames(message: Message, channel: int, frame_max: int) -> list[bytes]:
    """The content header and body frames of `message`, encoded once per message and frame
    size (fanout copies share them), then stamped with the channel number."""
    cached = message.wire
    if not isinstance(cached, tuple) or cached[0] != frame_max:
        chunk = frame_max - 8  # the frame header and end octet take 8 bytes of every frame
        payload = message.body
        frames = [
            frame.marshal(header.ContentHeader(0, len(payload), pamqp_properties(message.properties)), 0)
        ]
        frames += [
            frame.marshal(body.ContentBody(payload[start : start + chunk]), 0)
            for start in range(0, len(payload), chunk)
        ]
        cached = message.wire = (frame_max, frames)
    return [_on_channel(encoded, channel) for encoded in cached[1]]
