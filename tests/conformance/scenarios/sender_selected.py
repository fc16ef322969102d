"""Sender-selected distribution: the CC and BCC headers add routing keys to a publish; BCC is
taken out of what the queues get. Publishes use confirms, so every queue has settled before it
is read."""

from __future__ import annotations

from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import Context, bodies, props, publish_step, scenario, step


def bound_queues(ctx: Context, channel: BlockingChannel, kind: str, keys: list[str]) -> tuple[str, list[str]]:
    """A fresh exchange of `kind` with one queue bound per key (the queue's suffix is the key)."""
    exchange = ctx.exchange("x")
    channel.exchange_declare(exchange, kind)
    queues = []
    for key in keys:
        queue = ctx.queue(key)
        channel.queue_declare(queue)
        channel.queue_bind(queue, exchange, key)
        queues.append(queue)
    return exchange, queues


def contents(channel: BlockingChannel, queue: str) -> list[tuple[bytes, str, dict[str, Any]]]:
    """(body, routing key, headers) of every ready message, taken with basic.get."""
    out = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append((body, method.routing_key, props(properties).get("headers", {})))


def headers(**values: Any) -> pika.BasicProperties:
    return pika.BasicProperties(headers=values)


@scenario
def cc_and_bcc_route_as_well(ctx: Context) -> Any:
    """A message goes to the queues of its routing key and of its CC and BCC keys, once each;
    the delivered routing key is the publisher's; BCC is gone from every copy, CC stays."""
    _connection, channel = ctx.channel()
    exchange, queues = bound_queues(ctx, channel, "direct", ["a", "b", "c", "d"])
    channel.confirm_delivery()
    channel.basic_publish(exchange, "a", b"1", headers(CC=["b"], BCC=["c"], other=1))
    channel.basic_publish(exchange, "a", b"2", headers(CC=["d", "a"]))
    channel.basic_publish(exchange, "nowhere", b"3", headers(BCC=["b", "d"]))
    return {queue: contents(channel, queue) for queue in queues}


@scenario
def cc_through_topic_and_default_exchanges(ctx: Context) -> Any:
    """CC keys are matched like the routing key: against topic patterns, or as queue names on
    the default exchange."""
    _connection, channel = ctx.channel()
    exchange, queues = bound_queues(ctx, channel, "topic", ["x.*", "#.z"])
    plain = ctx.queue("plain")
    channel.queue_declare(plain)
    channel.confirm_delivery()
    channel.basic_publish(exchange, "none", b"t", headers(CC=["x.y", "a.b.z"]))
    channel.basic_publish("", "none", b"d", headers(CC=[plain]))
    return {queue: bodies(channel, queue) for queue in [*queues, plain]}


@scenario
def bcc_alone_makes_a_mandatory_message_routable(ctx: Context) -> Any:
    """A mandatory message whose routing key matches nothing is not returned when a BCC key
    routes it."""
    _connection, channel = ctx.channel()
    exchange, [queue] = bound_queues(ctx, channel, "direct", ["b"])
    channel.confirm_delivery()
    return {
        "publish": step(
            lambda: channel.basic_publish(exchange, "nowhere", b"m", headers(BCC=["b"]), mandatory=True)
        ),
        "queue": bodies(channel, queue),
    }


@scenario
def cc_must_be_an_array_of_strings(ctx: Context) -> Any:
    """A CC or BCC header that is not an array makes the message invalid (406, the channel
    closes); in an array, what is not a string is ignored."""
    connection, channel = ctx.channel()
    exchange, [queue_a, queue_b] = bound_queues(ctx, channel, "direct", ["a", "b"])
    outcome = {
        "mixed-array": publish_step(channel, exchange, "a", b"m", properties=headers(CC=[1, "b", True]))
    }
    outcome["a"], outcome["b"] = bodies(channel, queue_a), bodies(channel, queue_b)
    for name, value in (("CC", "b"), ("BCC", 5), ("CC", {"k": "b"})):
        channel = connection.channel()
        outcome[f"{name}={value!r}"] = publish_step(
            channel, exchange, "a", b"m", properties=headers(**{name: value})
        )
    return outcome
