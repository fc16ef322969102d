"""Handing messages out: round-robin between consumers, basic.qos prefetch (per consumer and
per channel), basic.get, delivery and consumer tags, exclusive consumers, auto-ack."""

from __future__ import annotations

from typing import Any

import pika
import pika.spec

from tests.conformance.harness import (
    Context,
    consume,
    counts,
    filled_queue,
    get_one,
    msgs,
    new_channel_step,
    publish_all,
    pump,
    ready,
    scenario,
    step,
)


@scenario
def round_robin_across_channels(ctx: Context) -> Any:
    """Consumers on one queue take turns, starting with the first to subscribe."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    a = consume(connection.channel(), queue, "a")
    b = consume(connection.channel(), queue, "b")
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(6))
    pump([connection], lambda: len(a) + len(b) >= 6)
    return {"a": a.summary("body", "tag"), "b": b.summary("body", "tag")}


@scenario
def round_robin_on_one_channel(ctx: Context) -> Any:
    """Three consumers on one channel take turns; delivery tags count across them."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    consumer = connection.channel()
    inboxes = [consume(consumer, queue, tag) for tag in ("a", "b", "c")]
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(7))
    pump([connection], lambda: sum(map(len, inboxes)) >= 7)
    return {inbox.label: inbox.summary("body", "tag") for inbox in inboxes}


@scenario
def round_robin_across_connections(ctx: Context) -> Any:
    """Consumers on different connections share a queue in turn, like consumers on one."""
    _publisher, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    first, second = ctx.connect(), ctx.connect()
    a = consume(first.channel(), queue, "a")
    b = consume(second.channel(), queue, "b")
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(4))
    pump([first, second], lambda: len(a) + len(b) >= 4)
    return {"a": a.bodies, "b": b.bodies}


@scenario
def prefetch_per_consumer(ctx: Context) -> Any:
    """basic.qos(1) (global=false) limits each consumer to one unacked message; an ack frees
    exactly that consumer."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    a = consume(consumer, queue, "a")
    b = consume(consumer, queue, "b")
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(5))
    left = ready(channel, queue)
    pump([connection], lambda: len(a) + len(b) >= 5 - left)
    before = {"a": a.bodies, "b": b.bodies, "ready": left}
    consumer.basic_ack(a.items[0]["tag"])
    pump([connection], lambda: len(a) >= 2)
    return {"before-ack": before, "after-ack": {"a": a.bodies, "b": b.bodies, "ready": ready(channel, queue)}}


@scenario
def prefetch_global_limits_the_channel(ctx: Context) -> Any:
    """basic.qos(3, global=true) limits the channel as a whole: a first consumer takes three
    ready messages, a second one on the same channel none."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 10)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=3, global_qos=True)
    a = consume(consumer, queue, "a")
    b = consume(consumer, queue, "b")
    left = ready(channel, queue)
    pump([connection], lambda: len(a) + len(b) >= 10 - left)
    return {"a": a.bodies, "b": b.bodies, "ready": left}


@scenario
def prefetch_global_and_per_consumer_both_apply(ctx: Context) -> Any:
    """With qos(2, global=true) and qos(1, global=false) both set (either order), each consumer
    has one unacked message."""
    out = {}
    for order in ("global-first", "consumer-first"):
        connection, channel = ctx.channel()
        queue = filled_queue(ctx, channel, 10, order)
        consumer = connection.channel()
        if order == "global-first":
            consumer.basic_qos(prefetch_count=2, global_qos=True)
            consumer.basic_qos(prefetch_count=1)
        else:
            consumer.basic_qos(prefetch_count=1)
            consumer.basic_qos(prefetch_count=2, global_qos=True)
        a = consume(consumer, queue, "a")
        b = consume(consumer, queue, "b")
        left = ready(channel, queue)
        pump([connection], lambda a=a, b=b, left=left: len(a) + len(b) >= 10 - left)
        out[order] = {"a": a.bodies, "b": b.bodies, "ready": left}
    return out


@scenario
def prefetch_second_qos_replaces_first(ctx: Context) -> Any:
    """A second per-consumer basic.qos replaces the first for consumers created after it."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 10)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_qos(prefetch_count=3)
    a = consume(consumer, queue, "a")
    b = consume(consumer, queue, "b")
    left = ready(channel, queue)
    pump([connection], lambda: len(a) + len(b) >= 10 - left)
    return {"a": a.bodies, "b": b.bodies, "ready": left}


@scenario
def prefetch_ignores_basic_get(ctx: Context) -> Any:
    """Messages taken with basic.get do not count toward prefetch, and prefetch does not limit
    basic.get."""
    out = {}
    for global_qos in (False, True):
        connection, channel = ctx.channel()
        queue = ctx.queue(f"g{int(global_qos)}")
        channel.queue_declare(queue)
        channel.confirm_delivery()
        publish_all(channel, "", queue, msgs(4))
        consumer = connection.channel()
        consumer.basic_qos(prefetch_count=1, global_qos=global_qos)
        first = get_one(consumer, queue, ack=False)
        second = get_one(consumer, queue, ack=False)
        inbox = consume(consumer, queue, "c")
        left = ready(channel, queue)
        pump([connection], lambda inbox=inbox, left=left: len(inbox) >= 2 - left)
        out[f"global={global_qos}"] = {
            "gets": [first, second],
            "consumer": inbox.summary("body", "tag"),
            "ready": left,
        }
    return out


@scenario
def prefetch_zero_means_unlimited(ctx: Context) -> Any:
    """basic.qos(0) lifts an earlier limit for consumers created after it."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 5)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=2)
    consumer.basic_qos(prefetch_count=0)
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 5)
    return {"got": inbox.bodies, "ready": ready(channel, queue)}


@scenario
def basic_get_reports_remaining(ctx: Context) -> Any:
    """basic.get answers get-empty, or get-ok with the count still ready; tags count up per channel."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    out: list[Any] = [get_one(channel, queue)]
    publish_all(channel, "", queue, msgs(3))
    out.append(get_one(channel, queue, ack=False))
    out.append(get_one(channel, queue, ack=True))
    out.append(get_one(channel, queue, ack=False))
    out.append(get_one(channel, queue))
    return out


@scenario
def delivery_tags_shared_by_get_and_consumers(ctx: Context) -> Any:
    """Delivery tags count from 1 per channel, across basic.get and every consumer on it; another
    channel starts again at 1."""
    connection, channel = ctx.channel()
    q1, q2 = ctx.queue("1"), ctx.queue("2")
    channel.queue_declare(q1)
    channel.queue_declare(q2)
    channel.confirm_delivery()
    publish_all(channel, "", q1, msgs(2, "a"))
    publish_all(channel, "", q2, msgs(2, "b"))
    consumer = connection.channel()
    first = get_one(consumer, q1, ack=False)
    inbox = consume(consumer, q2, "c")
    pump([connection], lambda: len(inbox) >= 2)
    last = get_one(consumer, q1, ack=False)
    other = connection.channel()
    channel.basic_publish("", q1, b"a3")
    return {
        "get": first["tag"] if first else None,
        "consumer": inbox.summary("body", "tag"),
        "get-again": last["tag"] if last else None,
        "other-channel": (get_one(other, q1, ack=False) or {}).get("tag"),
    }


@scenario
def delivery_carries_exchange_and_key(ctx: Context) -> Any:
    """A delivery names the exchange and the routing key used at publish time, not the binding."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "topic")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "a.#")
    channel.confirm_delivery()
    channel.basic_publish(exchange, "a.b.c", b"via-topic")
    channel.basic_publish("", queue, b"via-default")
    got = get_one(channel, queue)
    inbox = consume(connection.channel(), queue, "c", auto_ack=True)
    pump([connection], lambda: len(inbox) >= 1)
    return {"get": got, "deliver": inbox.summary("body", "exchange", "key", "redelivered")}


@scenario
def generated_consumer_tags(ctx: Context) -> Any:
    """With an empty tag, the broker names the consumer `amq.ctag-` + 22 characters, distinct per
    consumer. (pika always picks its own tag, so basic.consume is sent raw.)"""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    tags: list[str] = []
    for _ in range(2):  # one per channel: pika's blocking channel trips over a second raw consume-ok
        consumer = connection.channel()
        consumer._impl.callbacks.add(
            consumer.channel_number,
            pika.spec.Basic.ConsumeOk,
            lambda frame: tags.append(frame.method.consumer_tag),
        )
        consumer._impl._send_method(pika.spec.Basic.Consume(queue=queue, consumer_tag=""))
        expected = len(tags) + 1
        pump([connection], lambda expected=expected: len(tags) >= expected)
    return {
        "tags": tags,
        "form": [(t.startswith("amq.ctag-"), len(t)) for t in tags],
        "distinct": len(set(tags)) == len(tags),
        "consumers": counts(channel, queue)[1],
    }


@scenario
def exclusive_consumer(ctx: Context) -> Any:
    """An exclusive consumer needs the queue to itself (403 otherwise) and keeps others out."""
    connection, channel = ctx.channel()
    busy, held = ctx.queue("busy"), ctx.queue("held")
    channel.queue_declare(busy)
    channel.queue_declare(held)
    channel.basic_consume(busy, lambda *a: None, consumer_tag="plain")
    channel.basic_consume(held, lambda *a: None, consumer_tag="owner", exclusive=True)
    return {
        "exclusive-on-busy": new_channel_step(
            connection, lambda ch: ch.basic_consume(busy, lambda *a: None, exclusive=True)
        ),
        "plain-on-held": new_channel_step(connection, lambda ch: ch.basic_consume(held, lambda *a: None)),
        "exclusive-on-held": new_channel_step(
            connection, lambda ch: ch.basic_consume(held, lambda *a: None, exclusive=True)
        ),
        "same-channel": step(lambda: channel.basic_consume(busy, lambda *a: None, exclusive=True)),
        "get-on-held": new_channel_step(connection, lambda ch: ch.basic_get(held)),
    }


@scenario
def auto_ack_consumer_messages_are_gone(ctx: Context) -> Any:
    """With auto-ack, delivered messages are settled at once: closing the channel requeues none."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 3)
    consumer = connection.channel()
    inbox = consume(consumer, queue, "c", auto_ack=True)
    pump([connection], lambda: len(inbox) >= 3)
    consumer.close()
    return {"got": inbox.summary("body", "redelivered"), "after-close": counts(channel, queue)}


@scenario
def consumer_gets_backlog_then_new_messages(ctx: Context) -> Any:
    """A new consumer first gets what was already ready, in order, then new publishes."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 3, "old")
    inbox = consume(connection.channel(), queue, "c", auto_ack=True)
    publish_all(channel, "", queue, msgs(2, "new"))
    pump([connection], lambda: len(inbox) >= 5)
    return inbox.bodies


@scenario
def per_consumer_qos_fixed_at_consume_time(ctx: Context) -> Any:
    """A per-consumer basic.qos applies to consumers created after it: an existing consumer keeps
    the limit it started with."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    inbox = consume(consumer, queue, "c")
    consumer.basic_qos(prefetch_count=3)
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(5))
    left = ready(channel, queue)
    pump([connection], lambda: len(inbox) >= 5 - left)
    return {"got": inbox.bodies, "ready": left}


@scenario
def global_qos_raised_while_consuming(ctx: Context) -> Any:
    """Raising a global (channel) prefetch takes effect at once for existing consumers."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 5)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1, global_qos=True)
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 1)
    first = ready(channel, queue)
    consumer.basic_qos(prefetch_count=3, global_qos=True)
    pump([connection], lambda: len(inbox) >= 3)
    return {"ready-at-1": first, "got": inbox.bodies, "ready-at-3": ready(channel, queue)}


@scenario
def consumer_priorities(ctx: Context) -> Any:
    """A consumer with a higher x-priority gets messages while it can take them; lower ones get
    the rest only when it is at its prefetch limit."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    low_channel, high_channel = connection.channel(), connection.channel()
    high_channel.basic_qos(prefetch_count=2)
    low = consume(low_channel, queue, "low")
    high = consume(high_channel, queue, "high", arguments={"x-priority": 10})
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(5))
    pump([connection], lambda: len(low) + len(high) >= 5)
    return {"high": high.bodies, "low": low.bodies}
