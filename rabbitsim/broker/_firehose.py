"""The firehose (`rabbitmqctl trace_on`): while a vhost traces, every message a channel publishes
and every message a channel hands to a client is copied to the vhost's `amq.rabbitmq.trace`
exchange, as `publish.<exchange>` and `deliver.<queue>`, with what RabbitMQ puts in the copy's
headers (measured: tests/trace/FIREHOSE_FACTS.md, and on 4.3.6 for the order of keys).

The copies are routed like any message, through the trace exchange's bindings; they are not
traced themselves, and a delivery of such a copy is not traced either."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from rabbitsim.vocabulary import TRACE_EXCHANGE

from ._message import Message, Properties

if TYPE_CHECKING:
    from ._channel_base import ChannelBase
    from ._message import PropertiesLike
    from ._queue import Queue

#: the node the simulator says it is (one node: no clustering), where RabbitMQ names its node
NODE_NAME: Final = "rabbit@localhost"

#: a message's properties as the copy's `properties` table names them, in RabbitMQ's order
_PROPERTY_NAMES: Final = (
    ("cluster_id", "cluster_id"),
    ("app_id", "app_id"),
    ("user_id", "user_id"),
    ("message_type", "type"),
    ("timestamp", "timestamp"),
    ("message_id", "message_id"),
    ("expiration", "expiration"),
    ("reply_to", "reply_to"),
    ("correlation_id", "correlation_id"),
    ("priority", "priority"),
    ("delivery_mode", "delivery_mode"),
    ("headers", "headers"),
    ("content_encoding", "content_encoding"),
    ("content_type", "content_type"),
)


def _properties_table(properties: PropertiesLike) -> dict[str, Any]:
    table = {}
    for attribute, name in _PROPERTY_NAMES:
        value = getattr(properties, attribute, None)
        if value is not None:
            table[name] = value
    return table


def _copy(channel: ChannelBase, key: str, message: Message, extra: dict[str, Any]) -> None:
    """Route one copy through the vhost's trace exchange."""
    vhost = channel.vhost
    trace = vhost.exchanges.get(TRACE_EXCHANGE)
    if trace is None or not trace.outgoing:
        return
    headers = {
        "channel": channel.number,
        "connection": channel.connection.network_name,
        "exchange_name": message.exchange,
        "node": NODE_NAME,
        "properties": _properties_table(message.properties),
        "routing_keys": [message.routing_key, *message.cc],
        "user": channel.connection.user,
        "vhost": vhost.name,
        **extra,
    }
    copy = channel.broker.new_message(
        TRACE_EXCHANGE, key, Properties(headers=dict(sorted(headers.items()))), message.body
    )
    for queue in vhost.route(trace, copy):
        queue.receive(copy)


def trace_publish(channel: ChannelBase, message: Message, queues: list[Queue]) -> None:
    """`publish.<exchange>`: the queues it reached (the default exchange names the key's queue,
    whether or not there is one)."""
    if message.exchange == TRACE_EXCHANGE:
        return
    routed = [message.routing_key] if message.exchange == "" else [queue.name for queue in queues]
    _copy(channel, f"publish.{message.exchange}", message, {"routed_queues": routed})


def trace_deliver(channel: ChannelBase, queue: Queue, message: Message, redelivered: bool) -> None:
    """`deliver.<queue>`: to a consumer or by basic.get alike; `redelivered` as 0 or 1."""
    if message.exchange == TRACE_EXCHANGE:
        return
    _copy(channel, f"deliver.{queue.name}", message, {"redelivered": int(redelivered)})
