"""Text from AMQP string values, decoded one deliberate way per use.

RabbitMQ keeps AMQP strings as binaries; pamqp and the Python clients hand them over either
as `str` (when they are UTF-8) or as `bytes` (the octets). Three readings are needed, and each
place in rabbitsim uses the one that matches what RabbitMQ does there:

- `utf8_text`: a string RabbitMQ uses as a name or a setting (exchange and queue names in
  arguments, argument values, a claimed user-id). Octets must be UTF-8: no guessing.
- `display_text`: a string that is only shown or compared loosely (trace headers, x-death
  entries, error texts quoting what a client sent). Never fails: bad octets become U+FFFD.
- `relayed_text`: a string RabbitMQ passes on without reading it (a publish's exchange and
  routing key, content properties). UTF-8 when it is, else latin-1: no octet is lost or refused.

A `bytearray` is AMQP's byte array (`x`), a different type from a string: the first two
readings show it with `str()` like any other non-string value, so it never equals a name
(RabbitMQ matches on type too). Code that deliberately reads a byte array as a string (the
headers exchange) says so where it does.
"""

from __future__ import annotations

__all__ = ["display_text", "relayed_text", "utf8_text"]


def utf8_text(value: object) -> str:
    """A name or setting: octets strictly decoded as UTF-8 (`UnicodeDecodeError` if they are
    not; the argument checks refuse such values first where RabbitMQ does), anything else as
    `str()` gives it."""
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else str(value)


def display_text(value: object) -> str:
    """Text to show or compare loosely: octets decoded with replacement characters, None as "",
    anything else as `str()` gives it. Never raises, so a stray octet in a header cannot break
    a trace or an error text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def relayed_text(raw: bytes) -> str:
    """Octets RabbitMQ relays without reading them: UTF-8 when they are, else latin-1 (one
    character per octet), so that no octet is lost or refused."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")
