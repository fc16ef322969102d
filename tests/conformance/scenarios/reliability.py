"""Reliability features from the course's later chapters: TTL, dead-lettering, length limits,
priorities. Each is observed without waiting on the clock (TTL 0 expires at once)."""

from __future__ import annotations

from typing import Any

import pika

from tests.conformance.harness import (
    Confirms,
    Context,
    bodies,
    consume,
    drain,
    fence,
    msgs,
    props,
    publish_all,
    publish_step,
    pump,
    scenario,
    step,
    wait_ready,
)


def without_times(headers: dict[str, Any] | None) -> Any:
    """Headers with x-death times dropped: they are wall-clock values."""
    if not headers:
        return headers
    out = dict(headers)
    if "x-death" in out:
        out["x-death"] = [{k: v for k, v in entry.items() if k != "time"} for entry in out["x-death"]]
    return out


@scenario
def message_ttl_zero_expires_at_once(ctx: Context) -> Any:
    """With x-message-ttl 0 (or expiration '0') and no consumer waiting, a message expires at once."""
    _connection, channel = ctx.channel()
    ttl_queue, plain = ctx.queue("ttl"), ctx.queue("plain")
    channel.queue_declare(ttl_queue, arguments={"x-message-ttl": 0})
    channel.queue_declare(plain)
    channel.confirm_delivery()
    channel.basic_publish("", ttl_queue, b"queue-ttl")
    channel.basic_publish("", plain, b"message-ttl", pika.BasicProperties(expiration="0"))
    channel.basic_publish("", plain, b"long-ttl", pika.BasicProperties(expiration="600000"))
    return {"ttl-queue": bodies(channel, ttl_queue), "plain-queue": bodies(channel, plain)}


@scenario
def invalid_expiration_is_406(ctx: Context) -> Any:
    """An expiration that is not a non-negative integer string closes the channel with 406."""
    connection, _channel = ctx.channel()
    out = {}
    for value in ("abc", "-1"):
        ch = connection.channel()
        out[value] = publish_step(ch, "amq.fanout", "", properties=pika.BasicProperties(expiration=value))
    return out


@scenario
def dead_letter_on_reject(ctx: Context) -> Any:
    """A message rejected without requeue goes to the dead-letter exchange with an x-death entry
    (times left out) and the original routing key, or x-dead-letter-routing-key."""
    _connection, channel = ctx.channel()
    dlx, work, keyed, dead = ctx.exchange("dlx"), ctx.queue("work"), ctx.queue("keyed"), ctx.queue("dead")
    channel.exchange_declare(dlx, "topic")
    channel.queue_declare(dead)
    channel.queue_bind(dead, dlx, "#")
    channel.queue_declare(work, arguments={"x-dead-letter-exchange": dlx})
    channel.queue_declare(
        keyed, arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dl.key"}
    )
    channel.confirm_delivery()
    channel.basic_publish("", work, b"rejected", pika.BasicProperties(headers={"h": 1}))
    channel.basic_publish("", keyed, b"nacked")
    method, _p, _b = channel.basic_get(work, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    method, _p, _b = channel.basic_get(keyed, auto_ack=False)
    channel.basic_nack(method.delivery_tag, requeue=False)
    fence(channel)
    out = []
    for _ in range(2):
        method, properties, body = channel.basic_get(dead, auto_ack=True)
        if method is None:
            break
        p = props(properties)
        p["headers"] = without_times(p.get("headers"))
        out.append({"body": body, "key": method.routing_key, "exchange": method.exchange, "props": p})
    return out


@scenario
def dead_letter_on_expiry(ctx: Context) -> Any:
    """An expired message is dead-lettered with reason 'expired'."""
    _connection, channel = ctx.channel()
    dlx, work, dead = ctx.exchange("dlx"), ctx.queue("work"), ctx.queue("dead")
    channel.exchange_declare(dlx, "fanout")
    channel.queue_declare(dead)
    channel.queue_bind(dead, dlx)
    channel.queue_declare(work, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 0})
    channel.confirm_delivery()
    channel.basic_publish("", work, b"expired")
    from tests.conformance.harness import wait_ready

    wait_ready(channel, dead, 1)
    method, properties, body = channel.basic_get(dead, auto_ack=True)
    if method is None:
        return None
    return {"body": body, "headers": without_times(properties.headers)}


@scenario
def max_length_drops_head(ctx: Context) -> Any:
    """x-max-length keeps the newest messages (overflow drop-head, the default)."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, arguments={"x-max-length": 2})
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(4))
    return drain(channel, queue)


@scenario
def max_length_reject_publish_nacks(ctx: Context) -> Any:
    """With overflow reject-publish, a full queue nacks new publishes and keeps the oldest."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    confirms = Confirms(connection, connection.channel())
    for body in msgs(4):
        confirms.publish("", queue, body)
    return {"settled": confirms.wait(), "queue": drain(channel, queue)}


@scenario
def max_length_bytes_drops_head(ctx: Context) -> Any:
    """x-max-length-bytes counts body bytes, inclusively."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, arguments={"x-max-length-bytes": 10})
    channel.confirm_delivery()
    for body in (b"aaaa", b"bbbb", b"cc", b"dddd"):
        channel.basic_publish("", queue, body)
    return drain(channel, queue)


@scenario
def priority_queue_order(ctx: Context) -> Any:
    """A priority queue hands out higher priorities first, FIFO among equals; none counts as 0 and
    above x-max-priority counts as the maximum."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, arguments={"x-max-priority": 5})
    channel.confirm_delivery()
    for body, priority in (
        (b"p1", 1),
        (b"none", None),
        (b"p5", 5),
        (b"p9", 9),
        (b"p3", 3),
        (b"p5b", 5),
        (b"p0", 0),
    ):
        channel.basic_publish("", queue, body, pika.BasicProperties(priority=priority))
    return bodies(channel, queue)


def delivery_count(properties: pika.BasicProperties) -> int | None:
    """The x-delivery-count header as a plain number (None when absent)."""
    headers = properties.headers or {}
    return int(headers["x-delivery-count"]) if "x-delivery-count" in headers else None


@scenario(
    expect={
        "3.10": {
            "first-get-count": 0,
            "after-nack": [[b"m2", False, 0], [b"m3", False, 0], [b"m1", True, 1]],
        },
        "4.0": {
            "first-get-count": None,
            "after-nack": [[b"m1", True, 1], [b"m2", False, None], [b"m3", False, None]],
        },
        "4.3": {
            "first-get-count": None,
            "after-nack": [[b"m1", True, None], [b"m2", False, None], [b"m3", False, None]],
        },
    }
)
def quorum_nack_requeue_position_and_delivery_count(ctx: Context) -> Any:
    """A nacked (requeued) message in a quorum queue: 3.10 puts it at the back and sends
    x-delivery-count on every basic.get; 4.0 returns it to the front and sends the count only
    once it is above 0; 4.3 does not count a nack as a failed delivery at all (it sends
    x-acquired-count instead)."""
    _connection, channel = ctx.channel()
    queue = ctx.queue("qq")
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(3))
    method, properties, _body = channel.basic_get(queue, auto_ack=False)
    first = delivery_count(properties)
    channel.basic_nack(method.delivery_tag, requeue=True)
    out = []
    for _ in range(3):
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((body, method.redelivered, delivery_count(properties)))
    return {"first-get-count": first, "after-nack": out}


@scenario
def dead_lettered_copy_redelivered_flag(ctx: Context) -> Any:
    """A dead-lettered copy's first delivery: 4.3 flags it redelivered when basic.reject sent it
    there (classic or quorum source), never after basic.nack or expiry; 3.10 and 4.0 never do."""
    _connection, channel = ctx.channel()
    dlx, dead = ctx.exchange("dlx"), ctx.queue("dead")
    channel.exchange_declare(dlx, "fanout")
    channel.queue_declare(dead)
    channel.queue_bind(dead, dlx)
    classic, quorum, ttl = ctx.queue("work"), ctx.queue("qq"), ctx.queue("ttl")
    channel.queue_declare(classic, arguments={"x-dead-letter-exchange": dlx})
    channel.queue_declare(
        quorum, durable=True, arguments={"x-dead-letter-exchange": dlx, "x-queue-type": "quorum"}
    )
    channel.queue_declare(ttl, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 20})
    channel.confirm_delivery()

    def first_from_dead() -> Any:
        wait_ready(channel, dead, 1)
        method, _properties, body = channel.basic_get(dead, auto_ack=True)
        return None if method is None else [body, method.redelivered]

    out = {}
    for name, queue, settle in (
        ("classic reject", classic, lambda tag: channel.basic_reject(tag, requeue=False)),
        ("classic nack", classic, lambda tag: channel.basic_nack(tag, requeue=False)),
        ("quorum reject", quorum, lambda tag: channel.basic_reject(tag, requeue=False)),
    ):
        channel.basic_publish("", queue, name.encode())
        wait_ready(channel, queue, 1)
        method, _properties, _body = channel.basic_get(queue, auto_ack=False)
        settle(method.delivery_tag)
        out[name] = first_from_dead()
    channel.basic_publish("", ttl, b"expired")
    out["expired"] = first_from_dead()
    return out


@scenario
def quorum_queue_refuses_global_qos(ctx: Context) -> Any:
    """Consuming from a quorum queue on a channel with global qos is not implemented (540)."""
    connection, channel = ctx.channel()
    queue = ctx.queue("qq")
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=5, global_qos=True)
    return step(lambda: consumer.basic_consume(queue, lambda *a: None))


@scenario
def single_active_consumer(ctx: Context) -> Any:
    """With x-single-active-consumer only the first consumer gets messages, until it goes."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, arguments={"x-single-active-consumer": True})
    first_channel = connection.channel()
    first = consume(first_channel, queue, "first", auto_ack=True)
    second = consume(connection.channel(), queue, "second", auto_ack=True)
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(3))
    pump([connection], lambda: len(first) + len(second) >= 3)
    first_channel.basic_cancel("first")
    publish_all(channel, "", queue, msgs(2, "n"))
    pump([connection], lambda: len(first) + len(second) >= 5)
    return {"first": first.bodies, "second": second.bodies}
