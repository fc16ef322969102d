"""Messages as the core holds them, and what the core hands back for the adapter to send."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


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
    fanout to many queues shares one body. `wire` is free for an adapter to cache its
    encoding in; the core never reads it."""

    __slots__ = ("body", "exchange", "id", "properties", "routing_key", "wire")

    def __init__(
        self, id: int, exchange: str, routing_key: str, properties: PropertiesLike, body: bytes
    ) -> None:
        self.id = id
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties = properties
        self.body = body
        self.wire: object = None

    def __repr__(self) -> str:
        return f"Message(id={self.id}, exchange={self.exchange!r}, routing_key={self.routing_key!r})"


class Entry:
    """One copy of a message in one queue. `seq` is its place in that queue, so a requeued
    copy can go back where it was."""

    __slots__ = ("delivery_count", "message", "redelivered", "seq")

    def __init__(self, message: Message, seq: int) -> None:
        self.message = message
        self.seq = seq
        self.redelivered = False
        self.delivery_count = 0  # returns so far (quorum queues count them)


# What the core hands back for the adapter to send. Tuples: they are made per message.


class Deliver(NamedTuple):
    """basic.deliver to a consumer."""

    consumer_tag: str
    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    message: Message


class Return(NamedTuple):
    """basic.return of a mandatory message that reached no queue."""

    reply_code: int
    reply_text: str
    exchange: str
    routing_key: str
    message: Message


class PublisherAck(NamedTuple):
    delivery_tag: int
    multiple: bool = False


class PublisherNack(NamedTuple):
    delivery_tag: int
    multiple: bool = False


class ConsumerCancelled(NamedTuple):
    """A broker-initiated basic.cancel: the consumed queue went away."""

    consumer_tag: str


Outbound = Deliver | Return | PublisherAck | PublisherNack | ConsumerCancelled


class GetOk(NamedTuple):
    """basic.get-ok. `message_count` is what is still ready after this one."""

    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    message_count: int
    message: Message


class DeclareOk(NamedTuple):
    queue: str
    message_count: int
    consumer_count: int
