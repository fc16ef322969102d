"""Settling deliveries: ack (multiple too), nack, reject, recover, and what happens to unacked
messages when a consumer is cancelled or its channel or connection closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import (
    Context,
    consume,
    counts,
    drain,
    fence,
    fenced,
    filled_queue,
    get_one,
    pump,
    scenario,
    step,
    wait_ready,
)


def loaded(ctx: Context, n: int, suffix: str = "q") -> tuple[Any, BlockingChannel, str]:
    """A connection, a channel and a queue holding m1..mn (settled)."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, n, suffix)
    return connection, channel, queue


def take(channel: BlockingChannel, queue: str, n: int) -> list[int]:
    """basic.get n messages without acking; their delivery tags."""
    tags = []
    for _ in range(n):
        method, _p, _b = channel.basic_get(queue, auto_ack=False)
        tags.append(method.delivery_tag)
    return tags


def settle_step(channel: BlockingChannel, op: Callable[[], object]) -> Any:
    """An ack/nack/reject (no reply of its own) followed by a fence, so a refusal shows here."""
    return step(fenced(channel, op))


@scenario
def ack_multiple_covers_lower_tags(ctx: Context) -> Any:
    """ack(3, multiple=true) settles tags 1..3; the rest come back redelivered when the channel
    closes."""
    connection, channel, queue = loaded(ctx, 5)
    holder = connection.channel()
    take(holder, queue, 5)
    holder.basic_ack(3, multiple=True)
    holder.close()
    return {"ready": wait_ready(channel, queue, 2), "queue": drain(channel, queue)}


@scenario
def unknown_delivery_tags_are_406(ctx: Context) -> Any:
    """Acking, nacking or rejecting a tag the channel never gave out closes it with 406."""
    connection, _channel = ctx.channel()
    out = {}
    for label, op in {
        "ack": lambda ch: ch.basic_ack(99),
        "nack": lambda ch: ch.basic_nack(7),
        "reject": lambda ch: ch.basic_reject(7),
        "ack-zero": lambda ch: ch.basic_ack(0),
        "ack-zero-multiple": lambda ch: ch.basic_ack(0, multiple=True),
        "nack-zero-multiple": lambda ch: ch.basic_nack(0, multiple=True),
    }.items():
        ch = connection.channel()
        out[label] = settle_step(ch, lambda ch=ch, op=op: op(ch))
        if ch.is_open:
            ch.close()
    return out


@scenario
def double_ack_is_406(ctx: Context) -> Any:
    """A tag can be settled once: a second ack of it is "unknown delivery tag"."""
    connection, _channel, queue = loaded(ctx, 2)
    holder = connection.channel()
    take(holder, queue, 1)
    first = settle_step(holder, lambda: holder.basic_ack(1))
    return {"first": first, "second": settle_step(holder, lambda: holder.basic_ack(1))}


@scenario
def ack_multiple_edge_cases(ctx: Context) -> Any:
    """multiple=true needs its own tag outstanding; tag 0 with multiple means everything."""
    connection, _channel, queue = loaded(ctx, 20)
    out = {}
    h = connection.channel()
    take(h, queue, 3)
    h.basic_ack(2)
    out["ack-2-then-ack-2-multiple"] = settle_step(h, lambda: h.basic_ack(2, multiple=True))
    h = connection.channel()
    take(h, queue, 3)
    h.basic_ack(2)
    out["ack-2-then-ack-3-multiple"] = settle_step(h, lambda: h.basic_ack(3, multiple=True))
    out["then-ack-1"] = settle_step(h, lambda: h.basic_ack(1))
    h = connection.channel()
    take(h, queue, 2)
    out["ack-5-multiple-above-max"] = settle_step(h, lambda: h.basic_ack(5, multiple=True))
    h = connection.channel()
    take(h, queue, 3)
    out["ack-0-multiple"] = settle_step(h, lambda: h.basic_ack(0, multiple=True))
    out["then-ack-3"] = settle_step(h, lambda: h.basic_ack(3))
    return out


@scenario
def nack_requeue_restores_original_position(ctx: Context) -> Any:
    """A nacked (requeued) message goes back to its place by publish order, marked redelivered."""
    _connection, channel, queue = loaded(ctx, 6)
    take(channel, queue, 5)
    channel.basic_nack(4, requeue=True)
    channel.basic_nack(2, requeue=True)
    return drain(channel, queue)


@scenario
def nack_multiple_requeue_keeps_order(ctx: Context) -> Any:
    """nack(5, multiple, requeue) puts m1..m5 back in their original order."""
    _connection, channel, queue = loaded(ctx, 5)
    take(channel, queue, 5)
    channel.basic_nack(5, multiple=True, requeue=True)
    return drain(channel, queue)


@scenario
def reject_requeue_and_redelivered_flag(ctx: Context) -> Any:
    """reject(requeue) brings one message back redelivered; taking it again keeps the flag."""
    _connection, channel, queue = loaded(ctx, 2)
    seen = [get_one(channel, queue, ack=False)]
    channel.basic_reject(1, requeue=True)
    seen.append(get_one(channel, queue, ack=False))
    channel.basic_reject(2, requeue=True)
    seen.append(get_one(channel, queue, ack=True))
    seen.append(get_one(channel, queue, ack=True))
    seen.append(get_one(channel, queue, ack=True))
    return seen


@scenario
def reject_and_nack_without_requeue_drop(ctx: Context) -> Any:
    """Without requeue (and no dead-letter exchange), rejected and nacked messages are gone."""
    _connection, channel, queue = loaded(ctx, 6)
    take(channel, queue, 6)
    channel.basic_reject(1, requeue=False)
    channel.basic_nack(2, requeue=False)
    channel.basic_nack(4, multiple=True, requeue=False)
    channel.basic_nack(6, requeue=True)
    return {
        "queue": drain(channel, queue),
        "left-unacked": settle_step(channel, lambda: channel.basic_ack(5)),
    }


@scenario
def recover_redelivers_in_order(ctx: Context) -> Any:
    """basic.recover(requeue=true) redelivers every unacked message in order with new tags."""
    connection, _channel, queue = loaded(ctx, 5)
    consumer = connection.channel()
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 5)
    consumer.basic_ack(2)
    consumer.basic_recover(requeue=True)
    pump([connection], lambda: len(inbox) >= 9)
    return inbox.summary("body", "tag", "redelivered")


@scenario
def channel_close_requeues_unacked(ctx: Context) -> Any:
    """Closing a channel requeues its unacked messages at their original positions, redelivered,
    ahead of messages never delivered."""
    connection, channel, queue = loaded(ctx, 6)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=3)
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 3)
    consumer.basic_ack(2)
    consumer.close()
    return {"got": inbox.bodies, "ready": wait_ready(channel, queue, 5), "queue": drain(channel, queue)}


@scenario
def connection_close_requeues_unacked(ctx: Context) -> Any:
    """Closing a connection requeues the unacked messages of all its channels, in publish order."""
    _connection, channel, queue = loaded(ctx, 6)
    doomed = ctx.connect()
    first, second = doomed.channel(), doomed.channel()
    take(first, queue, 2)
    take(second, queue, 2)
    first.basic_ack(1)
    fence(first)
    doomed.close()
    return {"ready": wait_ready(channel, queue, 5), "queue": drain(channel, queue)}


@scenario
def cancel_keeps_unacked_messages(ctx: Context) -> Any:
    """basic.cancel leaves the consumer's unacked messages with the channel: they can still be
    acked, and only unacked ones are requeued when the channel closes."""
    connection, channel, queue = loaded(ctx, 4)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=3)
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 3)
    consumer.basic_cancel("c")
    after_cancel = counts(channel, queue)
    acked = settle_step(consumer, lambda: consumer.basic_ack(1))
    consumer.close()
    return {
        "got": inbox.summary("body", "tag"),
        "after-cancel": after_cancel,
        "ack-after-cancel": acked,
        "ready-after-close": wait_ready(channel, queue, 3),
        "queue": drain(channel, queue),
    }


@scenario
def nack_requeue_to_sole_consumer(ctx: Context) -> Any:
    """A nacked message goes back to the head and, with one consumer, is redelivered to it."""
    connection, _channel, queue = loaded(ctx, 3)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    inbox = consume(consumer, queue, "c")
    pump([connection], lambda: len(inbox) >= 1)
    consumer.basic_nack(inbox.items[-1]["tag"], requeue=True)
    pump([connection], lambda: len(inbox) >= 2)
    consumer.basic_ack(inbox.items[-1]["tag"])
    pump([connection], lambda: len(inbox) >= 3)
    consumer.basic_ack(inbox.items[-1]["tag"])
    pump([connection], lambda: len(inbox) >= 4)
    consumer.basic_ack(inbox.items[-1]["tag"])
    return inbox.summary("body", "tag", "redelivered")


@scenario
def purge_leaves_unacked_messages(ctx: Context) -> Any:
    """queue.purge removes ready messages only: unacked ones come back when their channel closes."""
    connection, channel, queue = loaded(ctx, 4)
    holder = connection.channel()
    take(holder, queue, 2)
    purged = channel.queue_purge(queue).method.message_count
    holder.close()
    return {"purged": purged, "ready": wait_ready(channel, queue, 2), "queue": drain(channel, queue)}


@scenario
def recover_requeues_basic_get_messages(ctx: Context) -> Any:
    """basic.recover(requeue=true) also requeues messages taken with basic.get and not acked."""
    _connection, channel, queue = loaded(ctx, 3)
    take(channel, queue, 2)
    channel.basic_recover(requeue=True)
    return drain(channel, queue)


@scenario
def delete_if_empty_ignores_unacked(ctx: Context) -> Any:
    """if_empty looks at ready messages: a queue whose only messages are unacked can be deleted,
    and Delete-Ok counts 0."""
    connection, channel, queue = loaded(ctx, 1)
    holder = connection.channel()
    take(holder, queue, 1)
    deleted = step(lambda: channel.queue_delete(queue, if_empty=True))
    return {"delete": deleted, "gone": step(lambda: channel.queue_declare(queue, passive=True))}


@scenario
def requeue_interleaves_by_publish_order(ctx: Context) -> Any:
    """Unacked messages from two channels requeued at different times all return to their
    original places among the ready ones."""
    connection, channel, queue = loaded(ctx, 8)
    a, b = connection.channel(), connection.channel()
    take(a, queue, 1)  # m1
    take(b, queue, 2)  # m2 m3
    take(a, queue, 2)  # m4 m5
    a.basic_ack(2)  # m4 done
    b.close()
    a.close()
    return {"ready": wait_ready(channel, queue, 7), "queue": drain(channel, queue)}
