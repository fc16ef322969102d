"""Declaring queues and exchanges: idempotence, equivalence of every field, passive declares,
reserved names, server-named queues and argument validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import Context, consume, new_channel_step, pump, scenario, step

Op = Callable[[BlockingChannel], object]


def redeclare(ctx: Context, first: Op, second: Op) -> Any:
    """Declare with `first`, then with `second` on a fresh channel: what the second gets."""
    connection, channel = ctx.channel()
    first(channel)
    return new_channel_step(connection, second)


def declare_ok(channel: BlockingChannel, queue: str, **kw: Any) -> dict[str, int]:
    method = channel.queue_declare(queue, **kw).method
    return {"messages": method.message_count, "consumers": method.consumer_count}


@scenario
def queue_redeclare_equivalent_is_ok(ctx: Context) -> Any:
    """An identical redeclare is a no-op that reports the queue's current counts."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    first = declare_ok(channel, queue, durable=True, arguments={"x-max-length": 5})
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"m")
    second = declare_ok(channel, queue, durable=True, arguments={"x-max-length": 5})
    return {"first": first, "second": second}


@scenario
def queue_redeclare_flags_differ(ctx: Context) -> Any:
    """durable and auto_delete must match on redeclare (406); exclusive gives 405."""
    out = {}
    for flag, a, b in (
        ("durable", {"durable": False}, {"durable": True}),
        ("durable-off", {"durable": True}, {"durable": False}),
        ("auto_delete", {"auto_delete": False}, {"auto_delete": True}),
        ("auto_delete-off", {"auto_delete": True}, {"auto_delete": False}),
        ("exclusive", {"exclusive": True}, {"exclusive": False}),
    ):
        queue = ctx.queue(flag)
        out[flag] = redeclare(
            ctx,
            lambda ch, q=queue, a=a: ch.queue_declare(q, **a),
            lambda ch, q=queue, b=b: ch.queue_declare(q, **b),
        )
    return out


@scenario
def queue_redeclare_arguments_differ(ctx: Context) -> Any:
    """A known argument added, removed or changed is 406; unknown x- arguments are ignored, and
    x-queue-type classic equals no type."""
    out = {}
    for label, a, b in (
        ("added", None, {"x-message-ttl": 1000}),
        ("removed", {"x-message-ttl": 1000}, None),
        ("changed", {"x-message-ttl": 1000}, {"x-message-ttl": 2000}),
        ("max-length", {"x-max-length": 10}, {"x-max-length": 20}),
        ("unknown-changed", {"x-foo": 1}, {"x-foo": 2}),
        ("unknown-added", None, {"x-bar": "b"}),
        ("classic-added", None, {"x-queue-type": "classic"}),
        ("classic-removed", {"x-queue-type": "classic"}, None),
    ):
        queue = ctx.queue(label)
        out[label] = redeclare(
            ctx,
            lambda ch, q=queue, a=a: ch.queue_declare(q, arguments=a),
            lambda ch, q=queue, b=b: ch.queue_declare(q, arguments=b),
        )
    return out


@scenario
def exchange_redeclare_differs(ctx: Context) -> Any:
    """Exchange type, durable, auto_delete, internal and known arguments must match (406)."""
    out = {}
    for label, a, b in (
        ("type", {"exchange_type": "direct"}, {"exchange_type": "fanout"}),
        ("durable", {"durable": False}, {"durable": True}),
        ("auto_delete", {"auto_delete": False}, {"auto_delete": True}),
        ("internal", {"internal": False}, {"internal": True}),
        ("ae-added", {}, {"arguments": {"alternate-exchange": "ae1"}}),
        (
            "ae-changed",
            {"arguments": {"alternate-exchange": "ae1"}},
            {"arguments": {"alternate-exchange": "ae2"}},
        ),
        ("unknown-arg", {"arguments": {"x-foo": 1}}, {"arguments": {"x-foo": 2}}),
        ("same", {"durable": True}, {"durable": True}),
    ):
        exchange = ctx.exchange(label)
        out[label] = redeclare(
            ctx,
            lambda ch, x=exchange, a=a: ch.exchange_declare(x, **a),
            lambda ch, x=exchange, b=b: ch.exchange_declare(x, **b),
        )
    return out


@scenario
def builtin_exchange_redeclare(ctx: Context) -> Any:
    """amq.direct can be redeclared equivalently (durable direct), not otherwise."""
    connection, _channel = ctx.channel()
    return {
        "same": new_channel_step(
            connection, lambda ch: ch.exchange_declare("amq.direct", "direct", durable=True)
        ),
        "transient": new_channel_step(connection, lambda ch: ch.exchange_declare("amq.direct", "direct")),
        "fanout": new_channel_step(
            connection, lambda ch: ch.exchange_declare("amq.direct", "fanout", durable=True)
        ),
    }


@scenario
def passive_declare_of_missing_things_is_404(ctx: Context) -> Any:
    """A passive declare never creates: a missing queue or exchange is 404."""
    connection, _channel = ctx.channel()
    queue, exchange = ctx.queue("missing-q"), ctx.exchange("missing-x")
    return {
        "queue": new_channel_step(connection, lambda ch: ch.queue_declare(queue, passive=True)),
        "exchange": new_channel_step(connection, lambda ch: ch.exchange_declare(exchange, passive=True)),
        "exchange-bad-type": new_channel_step(
            connection, lambda ch: ch.exchange_declare(exchange, "foo", passive=True)
        ),
        "queue-still-missing": new_channel_step(connection, lambda ch: ch.queue_declare(queue, passive=True)),
    }


@scenario
def passive_declare_ignores_properties(ctx: Context) -> Any:
    """A passive declare of an existing queue or exchange ignores every other field."""
    connection, channel = ctx.channel()
    queue, exchange = ctx.queue(), ctx.exchange()
    channel.queue_declare(queue)
    channel.exchange_declare(exchange, "direct")
    return {
        "queue": new_channel_step(
            connection,
            lambda ch: ch.queue_declare(
                queue,
                passive=True,
                durable=True,
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": 1},
            ),
        ),
        "exchange-type": new_channel_step(
            connection, lambda ch: ch.exchange_declare(exchange, "foo", passive=True)
        ),
        "exchange-flags": new_channel_step(
            connection,
            lambda ch: ch.exchange_declare(
                exchange,
                "fanout",
                passive=True,
                durable=True,
                auto_delete=True,
                arguments={"alternate-exchange": "a"},
            ),
        ),
    }


@scenario(
    expect={
        "3.10": {
            "declare": ["connection-closed", 503, "COMMAND_INVALID - invalid exchange type 'foo'"],
            "connection-open": False,
        },
        "4.0": {
            "declare": ["channel-closed", 406, "PRECONDITION_FAILED - invalid exchange type 'foo'"],
            "connection-open": True,
        },
        "4.3": {
            "declare": ["channel-closed", 406, "PRECONDITION_FAILED - invalid exchange type 'foo'"],
            "connection-open": True,
        },
    }
)
def unknown_exchange_type(ctx: Context) -> Any:
    """An unknown exchange type: 3.10 closes the connection (503), 4.x only the channel (406)."""
    connection, channel = ctx.channel()
    exchange = ctx.exchange()
    result = step(lambda: channel.exchange_declare(exchange, "foo"))
    return {"declare": result, "connection-open": connection.is_open}


@scenario
def reserved_amq_names(ctx: Context) -> Any:
    """Declaring `amq.*` queues or exchanges is 403; passively it is 404 when missing."""
    connection, _channel = ctx.channel()
    return {
        "exchange": new_channel_step(connection, lambda ch: ch.exchange_declare("amq.foo", "direct")),
        "exchange-passive": new_channel_step(
            connection, lambda ch: ch.exchange_declare("amq.foo", passive=True)
        ),
        "queue": new_channel_step(connection, lambda ch: ch.queue_declare("amq.foo")),
        "queue-passive": new_channel_step(connection, lambda ch: ch.queue_declare("amq.foo", passive=True)),
        "queue-gen-like": new_channel_step(connection, lambda ch: ch.queue_declare("amq.gen-doesnotexist")),
        "delete-amq.direct": new_channel_step(connection, lambda ch: ch.exchange_delete("amq.direct")),
    }


@scenario
def server_named_queue(ctx: Context) -> Any:
    """queue.declare('') gives `amq.gen-` + 22 characters; redeclaring it by name is 403 (reserved
    prefix), even for its owner; a passive declare works."""
    connection, channel = ctx.channel()
    name = channel.queue_declare("", exclusive=True).method.queue
    other = ctx.track_queue(channel.queue_declare("").method.queue)
    return {
        "name": name,
        "distinct": name != other,
        "form": (name.startswith("amq.gen-"), len(name)),
        "passive": new_channel_step(connection, lambda ch: ch.queue_declare(name, passive=True)),
        "redeclare-exclusive": new_channel_step(
            connection, lambda ch: ch.queue_declare(name, exclusive=True)
        ),
        "redeclare-non-exclusive": new_channel_step(connection, lambda ch: ch.queue_declare(other)),
    }


@scenario
def empty_queue_name_means_last_declared(ctx: Context) -> Any:
    """queue '' in bind, get and purge means the channel's last declared queue; on a fresh channel
    that is 404 "no previously declared queue"."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    channel.queue_bind("", exchange, "k")
    channel.confirm_delivery()
    channel.basic_publish(exchange, "k", b"via-empty-name-binding")
    method, _p, body = channel.basic_get("", auto_ack=True)
    return {
        "got": body,
        "remaining": method.message_count if method else None,
        "purge": channel.queue_purge("").method.message_count,
        "fresh-bind": new_channel_step(connection, lambda ch: ch.queue_bind("", exchange, "k")),
        "fresh-get": new_channel_step(connection, lambda ch: ch.basic_get("")),
        "fresh-purge": new_channel_step(connection, lambda ch: ch.queue_purge("")),
        "fresh-passive": new_channel_step(connection, lambda ch: ch.queue_declare("", passive=True)),
    }


@scenario
def invalid_queue_arguments(ctx: Context) -> Any:
    """Known queue arguments are validated at declare time (406 with RabbitMQ's reason)."""
    connection, _channel = ctx.channel()
    out = {}
    for label, arguments in (
        ("ttl-negative", {"x-message-ttl": -1}),
        ("ttl-string", {"x-message-ttl": "abc"}),
        ("ttl-zero", {"x-message-ttl": 0}),
        ("expires-zero", {"x-expires": 0}),
        ("expires-negative", {"x-expires": -5}),
        ("max-length-negative", {"x-max-length": -1}),
        ("max-length-bytes-negative", {"x-max-length-bytes": -1}),
        ("queue-type", {"x-queue-type": "foo"}),
        ("overflow", {"x-overflow": "foo"}),
        ("max-priority-256", {"x-max-priority": 256}),
        ("max-priority-negative", {"x-max-priority": -1}),
        ("dlrk-without-dlx", {"x-dead-letter-routing-key": "k"}),
    ):
        queue = ctx.queue(label)
        out[label] = new_channel_step(
            connection, lambda ch, q=queue, a=arguments: ch.queue_declare(q, arguments=a)
        )
    return out


@scenario
def quorum_queue_restrictions(ctx: Context) -> Any:
    """Quorum queues must be durable, not exclusive, not auto-delete, without x-max-priority."""
    connection, _channel = ctx.channel()
    out = {}
    quorum = {"x-queue-type": "quorum"}
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("non-durable", {"durable": False}),
        ("exclusive", {"durable": True, "exclusive": True}),
        ("auto-delete", {"durable": True, "auto_delete": True}),
        ("max-priority", {"durable": True, "arguments": quorum | {"x-max-priority": 5}}),
    )
    for label, options in cases:
        queue = ctx.queue(label)
        kw = {"arguments": quorum} | options
        out[label] = new_channel_step(connection, lambda ch, q=queue, kw=kw: ch.queue_declare(q, **kw))
    return out


@scenario
def quorum_queue_declare_and_use(ctx: Context) -> Any:
    """A durable quorum queue is declared, used like any queue, and redeclared as classic is 406."""
    connection, channel = ctx.channel()
    queue = ctx.queue("qq")
    first = declare_ok(channel, queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"q1")
    method, _p, body = channel.basic_get(queue, auto_ack=True)
    return {
        "declare": first,
        "got": body,
        "remaining": method.message_count if method else None,
        "as-classic": new_channel_step(
            connection,
            lambda ch: ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "classic"}),
        ),
        "no-type": new_channel_step(connection, lambda ch: ch.queue_declare(queue, durable=True)),
    }


@scenario
def queue_declare_reports_counts(ctx: Context) -> Any:
    """queue.declare-ok carries ready messages (not unacked ones) and consumers."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    seen = [declare_ok(channel, queue)]
    channel.confirm_delivery()  # counts are only settled once the queue has the messages
    for body in (b"1", b"2", b"3"):
        channel.basic_publish("", queue, body)
    seen.append(declare_ok(channel, queue))
    channel.basic_get(queue, auto_ack=False)
    seen.append(declare_ok(channel, queue, passive=True))
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    first, second = consume(consumer, queue, "c1"), consume(consumer, queue, "c2")
    seen.append(declare_ok(channel, queue, passive=True))
    # let pika dispatch the deliveries: on cancel it requeues those it has not yet dispatched
    pump([connection], lambda: len(first) + len(second) >= 2)
    consumer.basic_cancel("c1")
    seen.append(declare_ok(channel, queue, passive=True))
    return seen
