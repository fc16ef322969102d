"""The core's one output road: what a call produces for others, in the order it happened.

Every core call appends here rather than returning or calling back, h11's rule (data in,
events out): the adapter that made the call drains `Broker.take_output()` and sends, draws or
stores each item in order, so order on the wire follows from the core. An item is
`(connection, channel number, what)`: what a connection must be told (a `Reply` to its method,
a delivery, a return, a confirm, a broker-made cancel), or, with no connection, a
`TraceEvent` for whoever records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from rabbitsim.vocabulary import TraceEvent

from ._alarms import Blocked, Unblocked
from ._message import Message

if TYPE_CHECKING:
    from ._connection import Connection
    from ._durability import Intent
    from ._errors import AMQPError


class Reply(NamedTuple):
    """The reply to a synchronous AMQP method (`method` names it, e.g. "queue.declare"), with
    the value the core method returned (a `DeclareOk`, a consumer tag, a count, or None). It
    goes out before anything the method set in motion, as RabbitMQ's channel answers before its
    queues act: consume-ok precedes the first delivery."""

    method: str
    value: Any


# Tuples, not dataclasses: they are made per message.


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


class ChannelClosed(NamedTuple):
    """A channel the broker closed on its own (not in answer to a method): channel.close with
    the error's code and text. The core has already shut the channel down."""

    error: AMQPError


class ConnectionClosed(NamedTuple):
    """A connection the broker closed on its own (an administrator closed it, or deleted its
    vhost or user): connection.close with the error's code and text, on channel 0. The core has
    already shut the connection down."""

    error: AMQPError


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


#: What a connection is sent on one of its channels.
Outbound = (
    Reply
    | Deliver
    | Return
    | PublisherAck
    | PublisherNack
    | ConsumerCancelled
    | ChannelClosed
    | ConnectionClosed
    | Blocked
    | Unblocked
)
#: One item on the road: a connection, its channel, and what it is told; or (None, 0, event),
#: or (None, 0, what a store must write or forget).
Output = tuple["Connection", int, Outbound] | tuple[None, int, "TraceEvent | Intent"]
