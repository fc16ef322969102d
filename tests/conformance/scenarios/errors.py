"""Errors: the channel errors (403, 404, 405, 406) and the connection errors (503, 504, 530,
540, and login failures) that pika can provoke, with RabbitMQ's exact reply codes and texts."""

from __future__ import annotations

from typing import Any

import pika
import pika.spec

from tests.conformance.harness import (
    Context,
    attempt,
    new_channel_step,
    publish_step,
    raw,
    scenario,
    step,
    wait_connection_closed,
)


@scenario
def publish_to_internal_exchange_is_403(ctx: Context) -> Any:
    """An internal exchange takes messages only from other exchanges; publishing to it is 403."""
    _connection, channel = ctx.channel()
    internal, front, queue = ctx.exchange("internal"), ctx.exchange("front"), ctx.queue()
    channel.exchange_declare(internal, "fanout", internal=True)
    channel.exchange_declare(front, "fanout")
    channel.exchange_bind(internal, front)
    channel.queue_declare(queue)
    channel.queue_bind(queue, internal)
    channel.confirm_delivery()
    channel.basic_publish(front, "", b"via-front")
    got = channel.queue_declare(queue, passive=True).method.message_count
    return {
        "via-front": got,
        "direct": publish_step(channel, internal, ""),
    }


@scenario
def publish_to_missing_exchange_is_404(ctx: Context) -> Any:
    """Publishing to a missing exchange closes the channel (404) but not the connection."""
    connection, channel = ctx.channel()
    result = publish_step(channel, ctx.name("missing"), "k")
    return {"publish": result, "channel-open": channel.is_open, "connection-open": connection.is_open}


@scenario
def bind_with_missing_ends_is_404(ctx: Context) -> Any:
    """Binding needs both ends; with both missing the exchange is reported."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    missing_x, missing_q = ctx.name("missing-x"), ctx.name("missing-q")
    return {
        "queue-bind-missing-exchange": new_channel_step(
            connection, lambda ch: ch.queue_bind(queue, missing_x)
        ),
        "queue-bind-missing-queue": new_channel_step(
            connection, lambda ch: ch.queue_bind(missing_q, exchange)
        ),
        "queue-bind-both-missing": new_channel_step(
            connection, lambda ch: ch.queue_bind(missing_q, missing_x)
        ),
        "exchange-bind-missing-source": new_channel_step(
            connection, lambda ch: ch.exchange_bind(exchange, missing_x)
        ),
        "exchange-bind-missing-destination": new_channel_step(
            connection, lambda ch: ch.exchange_bind(missing_x, exchange)
        ),
        "exchange-bind-both-missing": new_channel_step(
            connection, lambda ch: ch.exchange_bind(ctx.name("missing-d"), missing_x)
        ),
    }


@scenario
def unbind_and_delete_of_missing_things_is_ok(ctx: Context) -> Any:
    """Unbinding what is not bound, and deleting what does not exist, succeed quietly."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    missing_x, missing_q = ctx.name("missing-x"), ctx.name("missing-q")
    return {
        "queue-unbind-no-binding": new_channel_step(
            connection, lambda ch: ch.queue_unbind(queue, exchange, "k")
        ),
        "queue-unbind-missing-exchange": new_channel_step(
            connection, lambda ch: ch.queue_unbind(queue, missing_x)
        ),
        "queue-unbind-missing-queue": new_channel_step(
            connection, lambda ch: ch.queue_unbind(missing_q, exchange)
        ),
        "queue-unbind-both-missing": new_channel_step(
            connection, lambda ch: ch.queue_unbind(missing_q, missing_x)
        ),
        "exchange-unbind-no-binding": new_channel_step(
            connection, lambda ch: ch.exchange_unbind("amq.fanout", exchange)
        ),
        "exchange-unbind-missing": new_channel_step(
            connection, lambda ch: ch.exchange_unbind(missing_x, exchange)
        ),
        "exchange-delete-missing": new_channel_step(connection, lambda ch: ch.exchange_delete(missing_x)),
        "queue-delete-missing": new_channel_step(connection, lambda ch: ch.queue_delete(missing_q)),
    }


@scenario
def consume_and_get_missing_queue_is_404(ctx: Context) -> Any:
    """Consuming from or getting from a missing queue is 404."""
    connection, _channel = ctx.channel()
    missing = ctx.name("missing")
    return {
        "consume": new_channel_step(connection, lambda ch: ch.basic_consume(missing, lambda *a: None)),
        "get": new_channel_step(connection, lambda ch: ch.basic_get(missing)),
        "purge": new_channel_step(connection, lambda ch: ch.queue_purge(missing)),
    }


@scenario
def channel_error_leaves_other_channels_alone(ctx: Context) -> Any:
    """A channel error closes that channel only; the connection and its other channels carry on,
    and the closed channel's number can be opened again."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    doomed = connection.channel()
    number = doomed.channel_number
    error = step(lambda: doomed.queue_declare(ctx.name("missing"), passive=True))
    channel.basic_publish("", queue, b"still-works")
    _method, _p, body = channel.basic_get(queue, auto_ack=True)
    reopened = connection.channel(channel_number=number)
    return {
        "error": error,
        "doomed-open": doomed.is_open,
        "other-open": channel.is_open,
        "other-works": body,
        "reopened": step(lambda: reopened.queue_declare(queue, passive=True)),
    }


@scenario
def long_reply_text_is_truncated(ctx: Context) -> Any:
    """Reply texts are short strings: one naming a 255-character queue is cut to 255 bytes."""
    connection, _channel = ctx.channel()
    name = ctx.name("x" * (255 - len(ctx.prefix)))
    result = new_channel_step(connection, lambda ch: ch.queue_declare(name, passive=True))
    return {"result": result, "text-length": len(result[2].encode()) if isinstance(result, tuple) else None}


# --- connections -------------------------------------------------------------------------


@scenario
def connection_tuning_and_capabilities(ctx: Context) -> Any:
    """What the broker announces and negotiates with pika: capabilities, channel_max, frame_max
    and heartbeat. (Not the product name and version, which legitimately differ.)"""
    connection = ctx.connect()
    return {
        "capabilities": connection._impl.server_properties.get("capabilities"),
        "channel_max": connection._impl.params.channel_max,
        "frame_max": connection._impl.params.frame_max,
        "heartbeat": connection._impl.params.heartbeat,
    }


@scenario
def unknown_vhost_is_530(ctx: Context) -> Any:
    """Opening an unknown virtual host is refused with connection.close 530."""
    return attempt(lambda: ctx.connect(ctx.url_with(vhost="no-such-vhost")) and "connected")


@scenario
def bad_password_is_403(ctx: Context) -> Any:
    """A failed login is connection.close 403 (pika asks for authentication_failure_close)."""
    return attempt(lambda: ctx.connect(ctx.url_with(password="wrong-password")) and "connected")


@scenario
def prefetch_size_is_540(ctx: Context) -> Any:
    """basic.qos with prefetch_size != 0 is not implemented: the connection closes with 540."""
    connection, channel = ctx.channel()
    return {
        "qos": step(lambda: channel.basic_qos(prefetch_size=10)),
        "connection-open": connection.is_open,
    }


@scenario
def recover_without_requeue_is_540(ctx: Context) -> Any:
    """basic.recover(requeue=false) is not implemented: connection.close 540."""
    connection, channel = ctx.channel()
    return {
        "recover": step(lambda: channel.basic_recover(requeue=False)),
        "connection-open": connection.is_open,
    }


@scenario
def channel_flow(ctx: Context) -> Any:
    """channel.flow(active=true) is answered; active=false is not implemented (540)."""
    connection, channel = ctx.channel()
    return {
        "flow-on": attempt(lambda: channel.flow(True)),
        "flow-off": step(lambda: channel.flow(False)),
        "connection-open": connection.is_open,
    }


@scenario
def immediate_publish_is_540(ctx: Context) -> Any:
    """basic.publish with immediate=true is not implemented: connection.close 540."""
    connection, channel = ctx.channel()
    channel._impl._send_method(
        pika.spec.Basic.Publish(exchange="amq.fanout", routing_key="", immediate=True),
        (pika.BasicProperties(), b"now"),
    )
    return wait_connection_closed(connection)


@scenario
def duplicate_consumer_tag_is_530(ctx: Context) -> Any:
    """Reusing a consumer tag on a channel closes the connection with 530 (sent raw: pika refuses)."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.basic_consume(queue, lambda *a: None, consumer_tag="ctag1")
    raw(channel, pika.spec.Basic.Consume(queue=queue, consumer_tag="ctag1"))
    return wait_connection_closed(connection)


@scenario
def second_channel_open_is_504(ctx: Context) -> Any:
    """channel.open on a channel that is already open is a connection error 504."""
    connection, channel = ctx.channel()
    raw(channel, pika.spec.Channel.Open())
    return wait_connection_closed(connection)


@scenario
def method_on_unopened_channel_is_504(ctx: Context) -> Any:
    """A method on a channel number that was never opened is a connection error 504."""
    connection, _channel = ctx.channel()
    connection._impl._send_method(42, pika.spec.Queue.Declare(queue=ctx.name("q"), passive=True))
    return wait_connection_closed(connection)


@scenario
def connection_method_on_a_channel_is_503(ctx: Context) -> Any:
    """A connection-class method sent on a non-zero channel is a connection error 503."""
    connection, channel = ctx.channel()
    raw(channel, pika.spec.Connection.Open(virtual_host="/"))
    return wait_connection_closed(connection)
