"""Messages as the core holds them: properties, the message, its copies in queues, its deaths."""

from __future__ import annotations

import copy
import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any, Protocol


class PropertiesLike(Protocol):
    """What the core reads of basic properties. pamqp's `Basic.Properties` fits, so the
    wire adapter can pass decoded properties through without copying them."""

    @property
    def headers(self) -> dict[str, Any] | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def delivery_mode(self) -> int | None: ...
    @property
    def expiration(self) -> str | None: ...
    @property
    def priority(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Properties:
    """The fourteen AMQP basic properties, named as pamqp names them (`message_type` is `type`)."""

    content_type: str | None = None
    content_encoding: str | None = None
    headers: dict[str, Any] | None = None
    delivery_mode: int | None = None
    priority: int | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    expiration: str | None = None
    message_id: str | None = None
    timestamp: Any = None
    message_type: str | None = None
    user_id: str | None = None
    app_id: str | None = None
    cluster_id: str | None = None


NO_PROPERTIES = Properties()


def with_changes(properties: PropertiesLike, **changes: Any) -> PropertiesLike:
    """A copy of `properties` with some replaced: the core's own, or pamqp's as decoded."""
    if isinstance(properties, Properties):
        return dataclasses.replace(properties, **changes)
    changed = copy.copy(properties)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


class Message:
    """One published message. Every queue it reaches holds an `Entry` pointing at it, so a
    fanout to many queues shares one body. `cc` are the routing keys a publisher added in the
    `CC` and `BCC` headers (sender-selected distribution), routed by as well as `routing_key`.
    `wire` is free for an adapter to cache its encoding in; the core never reads it."""

    __slots__ = ("body", "cc", "exchange", "id", "properties", "routing_key", "wire")

    def __init__(
        self, id: int, exchange: str, routing_key: str, properties: PropertiesLike, body: bytes
    ) -> None:
        self.id = id
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties = properties
        self.body = body
        self.cc: tuple[str, ...] = ()
        self.wire: object = None

    def __repr__(self) -> str:
        return f"Message(id={self.id}, exchange={self.exchange!r}, routing_key={self.routing_key!r})"


class DeadLettered(Message):
    """A message republished by dead-lettering. `deaths` is the history RabbitMQ 4.x keeps
    inside the broker (newest first), `first_death` the (reason, queue, exchange) of the
    first; 3.x reads its history from the `x-death` header instead."""

    __slots__ = ("deaths", "first_death")

    def __init__(
        self,
        id: int,
        exchange: str,
        routing_key: str,
        properties: PropertiesLike,
        body: bytes,
        deaths: list[Death],
        first_death: tuple[str, str, str],
    ) -> None:
        super().__init__(id, exchange, routing_key, properties, body)
        self.deaths = deaths
        self.first_death = first_death


@dataclass(frozen=True, slots=True)
class Death:
    """One `x-death` entry: how often a message left `queue` for `reason`, and how it
    had arrived there the first time."""

    queue: str
    reason: str
    count: int
    exchange: str
    routing_keys: tuple[str, ...]
    time: datetime.datetime
    original_expiration: str | None


class Long(int):
    """An integer sent as AMQP's signed 64-bit field (`l`), as RabbitMQ types `x-death`
    counts; clients tell the widths apart (pika decodes `l` as its own `long`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Long({int(self)})"


class Entry:
    """One copy of a message in one queue. `seq` is its place in that queue, so a requeued
    copy can go back where it was. `expires` (a clock time) is set only on copies with a
    time to live, so ordinary copies cost nothing for it."""

    __slots__ = ("acquired", "delivery_count", "expires", "message", "redelivered", "seq")

    expires: float  # read with getattr(entry, "expires", None): unset unless the copy can expire
    acquired: int  # read with getattr(entry, "acquired", 0): 4.3's quorum returns of every kind

    def __init__(self, message: Message, seq: int) -> None:
        self.message = message
        self.seq = seq
        self.redelivered = False
        self.delivery_count = 0  # returns so far (quorum queues count them)
