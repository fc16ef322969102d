"""Messages themselves: every property round-tripped, header tables of every field type, bodies
of every size, and request/reply (RPC) by reply_to and correlation_id."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pika

from tests.conformance.harness import (
    Context,
    consume,
    digest,
    props,
    publish_step,
    pump,
    scenario,
    step,
)


def round_trip(ctx: Context, bodies_and_props: list[tuple[bytes, pika.BasicProperties | None]]) -> Any:
    """Publish each message, read it back with basic.get and with a consumer; per message the
    body (or its digest when large) and the properties that came back."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()

    def show(body: bytes) -> Any:
        return body if len(body) <= 64 else digest(body)

    for body, properties in bodies_and_props:
        channel.basic_publish("", queue, body, properties)
    got = []
    for _ in bodies_and_props:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        got.append({"body": show(body), "props": props(properties)} if method else None)
    for body, properties in bodies_and_props:
        channel.basic_publish("", queue, body, properties)
    inbox = consume(connection.channel(), queue, "c", auto_ack=True)
    pump([connection], lambda: len(inbox) >= len(bodies_and_props), timeout=10)
    delivered = [
        {"body": show(i["body"]), "props": props(p)}
        for i, p in zip(inbox.items, inbox.properties, strict=True)
    ]
    return {"get": got, "deliver": delivered}


@scenario
def every_property_round_trips(ctx: Context) -> Any:
    """All fourteen basic properties come back as they were sent."""
    user = pika.URLParameters(ctx.url).credentials.username
    properties = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"h": "v"},
        delivery_mode=2,
        priority=7,
        correlation_id="corr-1",
        reply_to="reply-queue",
        expiration="600000",
        message_id="msg-1",
        timestamp=1_700_000_000,
        type="greeting",
        user_id=user,
        app_id="conformance",
        cluster_id="cluster-x",
    )
    return round_trip(ctx, [(b'{"hello": "world"}', properties), (b"bare", None)])


@scenario
def header_table_field_types_round_trip(ctx: Context) -> Any:
    """Header tables keep every AMQP field type pika can send (not floats), nested tables and
    arrays included."""
    headers = {
        "str": "text",
        "unicode": "кролик 🐇",
        "int": 42,
        "negative": -7,
        "long": 2**40,
        "big": -(2**62),
        "bool-true": True,
        "bool-false": False,
        "decimal": decimal.Decimal("3.14"),
        "timestamp": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "void": None,
        "bytes": b"\x00\x01binary",
        "empty-str": "",
        "table": {"nested": {"deeper": [1, "two", {"three": 3}]}, "n": 1},
        "array": [1, "a", True, None, [2, [3]], {"k": "v"}],
        "empty-table": {},
        "empty-array": [],
    }
    return round_trip(ctx, [(b"typed", pika.BasicProperties(headers=headers))])


@scenario
def empty_and_absent_headers(ctx: Context) -> Any:
    """An empty header table and no headers at all are kept apart, as are other empty strings."""
    return round_trip(
        ctx,
        [
            (b"empty-table", pika.BasicProperties(headers={})),
            (b"no-props", pika.BasicProperties()),
            (b"empty-strings", pika.BasicProperties(content_type="", correlation_id="", message_id="")),
        ],
    )


@scenario
def largest_message_body(ctx: Context) -> Any:
    """The largest body 4.x takes is 16 MiB (`max_message_size`): one byte more closes the
    channel with 406; 3.10's default limit is 128 MiB, so it takes both."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()
    limit = 16 * 1024 * 1024
    at_limit = publish_step(channel, "", queue, b"\x00" * limit)
    publisher = connection.channel()
    publisher.confirm_delivery()
    above = publish_step(publisher, "", queue, b"\x00" * (limit + 1))
    return {
        "16 MiB": at_limit,
        "16 MiB + 1": above,
        "queued": channel.queue_declare(queue, passive=True).method.message_count,
    }


@scenario
def bodies_of_every_size(ctx: Context) -> Any:
    """Bodies of 0 bytes, around the 128 KB frame size, 300 KB and 1 MB arrive whole."""
    frame_payload = 131072 - 8
    sizes = [0, 1, frame_payload - 1, frame_payload, frame_payload + 1, 2 * frame_payload, 300_000, 1_048_576]
    pattern = bytes(range(256)) * (1_048_576 // 256 + 1)
    messages = [(pattern[n % 256 : n % 256 + n], None) for n in sizes]
    return round_trip(ctx, messages)


@scenario
def zero_length_body_with_properties(ctx: Context) -> Any:
    """A zero-length body (no body frame at all) still carries its properties."""
    return round_trip(ctx, [(b"", pika.BasicProperties(message_id="empty", headers={"k": 1}))])


@scenario
def unicode_names_and_keys(ctx: Context) -> Any:
    """Queue names and routing keys are UTF-8: they route and come back unchanged."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange("обмен"), ctx.queue("очередь-🐇")
    channel.exchange_declare(exchange, "topic")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "ключ.*")
    channel.confirm_delivery()
    channel.basic_publish(exchange, "ключ.🐇", "тело".encode())
    method, _p, body = channel.basic_get(queue, auto_ack=True)
    return {
        "body": body,
        "key": method.routing_key if method else None,
        "exchange": method.exchange if method else None,
    }


@scenario
def user_id_must_match_login(ctx: Context) -> Any:
    """A user_id property that is not the connection's user closes the channel with 406."""
    connection, channel = ctx.channel()
    user = pika.URLParameters(ctx.url).credentials.username
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()  # so the ready count below is settled
    own = step(lambda: channel.basic_publish("", queue, b"own", pika.BasicProperties(user_id=user)))
    other = connection.channel()
    foreign = publish_step(other, "", queue, b"bob", properties=pika.BasicProperties(user_id="bob"))
    return {
        "own": own,
        "foreign": foreign,
        "ready": channel.queue_declare(queue, passive=True).method.message_count,
    }


@scenario
def rpc_with_reply_to_and_correlation_id(ctx: Context) -> Any:
    """The tutorial RPC: a client with a server-named exclusive callback queue, a server replying
    to reply_to with the request's correlation_id."""
    server_connection, server = ctx.channel()
    rpc_queue = ctx.queue("rpc")
    server.queue_declare(rpc_queue)
    server.basic_qos(prefetch_count=1)

    def on_request(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        reply = pika.BasicProperties(correlation_id=properties.correlation_id)
        ch.basic_publish("", properties.reply_to, b"reply-to-" + body, reply)
        ch.basic_ack(method.delivery_tag)

    server.basic_consume(rpc_queue, on_request)
    client_connection, client = ctx.channel()
    callback_queue = client.queue_declare("", exclusive=True).method.queue
    inbox = consume(client, callback_queue, "replies", auto_ack=True)
    for n in ("1", "2"):
        client.basic_publish(
            "",
            rpc_queue,
            n.encode(),
            pika.BasicProperties(reply_to=callback_queue, correlation_id=f"corr-{n}"),
        )
    pump([server_connection, client_connection], lambda: len(inbox) >= 2)
    return {
        "callback-queue-generated": callback_queue.startswith("amq.gen-"),
        "replies": [
            (i["body"], p.correlation_id, i["key"] == callback_queue)
            for i, p in zip(inbox.items, inbox.properties, strict=True)
        ],
    }


@scenario
def direct_reply_to(ctx: Context) -> Any:
    """Direct reply-to: the requester consumes amq.rabbitmq.reply-to (auto-ack); the server sees
    reply_to rewritten to amq.rabbitmq.reply-to.<opaque> and its reply comes straight back."""
    server_connection, server = ctx.channel()
    rpc_queue = ctx.queue("rpc")
    server.queue_declare(rpc_queue)
    seen: list[str] = []

    def on_request(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        seen.append(properties.reply_to)
        ch.basic_publish(
            "", properties.reply_to, b"pong", pika.BasicProperties(correlation_id=properties.correlation_id)
        )

    server.basic_consume(rpc_queue, on_request, auto_ack=True)
    client_connection, client = ctx.channel()
    inbox = consume(client, "amq.rabbitmq.reply-to", "me", auto_ack=True)
    client.basic_publish(
        "", rpc_queue, b"ping", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="c1")
    )
    pump([server_connection, client_connection], lambda: len(inbox) >= 1)
    return {
        "server-saw-rewritten": [r.startswith("amq.rabbitmq.reply-to.") and len(r) > 30 for r in seen],
        "replies": [
            (i["body"], p.correlation_id) for i, p in zip(inbox.items, inbox.properties, strict=True)
        ],
    }
