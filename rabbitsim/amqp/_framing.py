"""Transitional: the names `_connection.py` and the tests imported from here before the split
into `_frames`, `_methods`, `_properties`, `_fields`, `_erlang` and `_pamqp_patches`. To be
deleted once the importers name the new modules."""

from __future__ import annotations

from ._erlang import frame_octets
from ._fields import Unparseable
from ._frames import (
    ACCEPTED_HEADERS,
    CONTENT_HEADER,
    FRAME_BODY,
    FRAME_CONTENT_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    FRAME_MIN_SIZE,
    HEARTBEAT_FRAME,
    MIN_PAYLOAD,
    PROTOCOL_HEADER,
    content_frames,
    next_frame,
)
from ._methods import CONTENT_METHODS, METHOD_NAMES, CannotDecode, decode_method, method_name
from ._pamqp_patches import BasicDeliver, BasicGetOk, BasicReturn, QueueDeclareOk
from ._properties import decode_properties

__all__ = [
    "ACCEPTED_HEADERS",
    "CONTENT_HEADER",
    "CONTENT_METHODS",
    "FRAME_BODY",
    "FRAME_CONTENT_HEADER",
    "FRAME_HEARTBEAT",
    "FRAME_METHOD",
    "FRAME_MIN_SIZE",
    "HEARTBEAT_FRAME",
    "METHOD_NAMES",
    "MIN_PAYLOAD",
    "PROTOCOL_HEADER",
    "BasicDeliver",
    "BasicGetOk",
    "BasicReturn",
    "CannotDecode",
    "QueueDeclareOk",
    "Unparseable",
    "content_frames",
    "decode_method",
    "decode_properties",
    "frame_octets",
    "method_name",
    "next_frame",
]
