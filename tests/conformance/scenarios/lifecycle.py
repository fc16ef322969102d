"""How queues and exchanges come and go: exclusive and auto-delete queues, auto-delete
exchanges, purge and delete (with their counts and conditions), cancel notifications."""

from __future__ import annotations

from typing import Any

from tests.conformance.harness import (
    Context,
    counts,
    fence,
    fenced,
    new_channel_step,
    publish_all,
    pump,
    scenario,
    step,
    wait_gone,
)


@scenario
def exclusive_queue_locked_for_other_connections(ctx: Context) -> Any:
    """From another connection, everything but publishing to an exclusive queue is 405; the owner
    redeclaring it non-exclusive is 405 too."""
    owner, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, exclusive=True)
    other = ctx.connect()
    out: dict[str, Any] = {}
    for label, op in {
        "declare": lambda ch: ch.queue_declare(queue, exclusive=True),
        "declare-non-exclusive": lambda ch: ch.queue_declare(queue),
        "passive": lambda ch: ch.queue_declare(queue, passive=True),
        "bind": lambda ch: ch.queue_bind(queue, "amq.fanout"),
        "consume": lambda ch: ch.basic_consume(queue, lambda *a: None),
        "get": lambda ch: ch.basic_get(queue),
        "purge": lambda ch: ch.queue_purge(queue),
        "delete": lambda ch: ch.queue_delete(queue),
    }.items():
        out[label] = new_channel_step(other, op)
    publisher = other.channel()
    publisher.confirm_delivery()
    publisher.basic_publish("", queue, b"from-other")
    out["after-publish"] = counts(channel, queue)
    out["owner-redeclare-non-exclusive"] = new_channel_step(owner, lambda ch: ch.queue_declare(queue))
    out["owner-other-channel-consume"] = new_channel_step(
        owner, lambda ch: ch.basic_consume(queue, lambda *a: None, consumer_tag="t")
    )
    return out


@scenario
def exclusive_queue_deleted_with_its_connection(ctx: Context) -> Any:
    """An exclusive queue goes away when the connection that declared it closes, messages and all;
    a channel close alone does not delete it."""
    owner, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, exclusive=True)
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"m")
    second = owner.channel()
    second.close()
    channel.close()
    still = counts(owner.channel(), queue)
    owner.close()
    watcher = ctx.connect()
    return {"after-channel-close": still, "after-connection-close": wait_gone(watcher, queue)}


@scenario
def auto_delete_queue_lifecycle(ctx: Context) -> Any:
    """An auto-delete queue survives while unused (get does not count) and until its last consumer
    is cancelled; then it is deleted."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, auto_delete=True)
    channel.basic_publish("", queue, b"m")
    channel.basic_get(queue, auto_ack=True)
    out: dict[str, Any] = {"after-get": counts(channel, queue)}
    consumer = connection.channel()
    consumer.basic_consume(queue, lambda *a: None, consumer_tag="c1")
    consumer.basic_consume(queue, lambda *a: None, consumer_tag="c2")
    consumer.basic_cancel("c1")
    out["after-first-cancel"] = counts(channel, queue)
    consumer.basic_cancel("c2")
    out["after-last-cancel"] = wait_gone(connection, queue)
    return out


@scenario
def auto_delete_queue_survives_connection_of_declarer(ctx: Context) -> Any:
    """An auto-delete queue never consumed from outlives the connection that declared it."""
    first, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue, auto_delete=True)
    first.close()
    _second, other = ctx.channel()
    return counts(other, queue)


@scenario
def auto_delete_queue_deleted_when_consumer_connection_closes(ctx: Context) -> Any:
    """Closing the consumer's connection cancels its consumer, which deletes an auto-delete queue."""
    consumer_connection, consumer = ctx.channel()
    queue = ctx.queue()
    consumer.queue_declare(queue, auto_delete=True)
    consumer.basic_consume(queue, lambda *a: None)
    consumer_connection.close()
    return wait_gone(ctx.connect(), queue)


@scenario
def auto_delete_exchange_lifecycle(ctx: Context) -> Any:
    """An auto-delete exchange stays until bound; it goes when its last binding (as a source) is
    removed, by unbind or by deleting the bound queue; as a destination only, it stays."""
    connection, channel = ctx.channel()
    never, unbound, queue_gone, destination = (
        ctx.exchange("never"),
        ctx.exchange("unbound"),
        ctx.exchange("queue-gone"),
        ctx.exchange("destination"),
    )
    for exchange in (never, unbound, queue_gone, destination):
        channel.exchange_declare(exchange, "fanout", auto_delete=True)
    q1, q2 = ctx.queue("1"), ctx.queue("2")
    channel.queue_declare(q1)
    channel.queue_declare(q2)
    channel.queue_bind(q1, unbound)
    channel.queue_bind(q1, unbound, "second")
    channel.queue_unbind(q1, unbound)
    still_bound_once = new_channel_step(connection, lambda ch: ch.exchange_declare(unbound, passive=True))
    channel.queue_unbind(q1, unbound, "second")
    channel.queue_bind(q2, queue_gone)
    channel.queue_delete(q2)
    channel.exchange_bind(destination, "amq.fanout")
    channel.exchange_unbind(destination, "amq.fanout")
    return {
        "never-bound": new_channel_step(connection, lambda ch: ch.exchange_declare(never, passive=True)),
        "one-binding-left": still_bound_once,
        "last-binding-removed": wait_gone(connection, unbound, "exchange"),
        "bound-queue-deleted": wait_gone(connection, queue_gone, "exchange"),
        "destination-unbound": new_channel_step(
            connection, lambda ch: ch.exchange_declare(destination, passive=True)
        ),
    }


@scenario
def purge_and_delete_counts(ctx: Context) -> Any:
    """purge and delete report ready messages only; unacked ones are not counted."""
    connection, channel = ctx.channel()
    q1, q2 = ctx.queue("1"), ctx.queue("2")
    channel.queue_declare(q1)
    channel.queue_declare(q2)
    channel.confirm_delivery()
    for queue in (q1, q2):
        publish_all(channel, "", queue, [b"a", b"b", b"c", b"d", b"e"])
    holder = connection.channel()
    holder.basic_get(q1, auto_ack=False)
    holder.basic_get(q2, auto_ack=False)
    holder.basic_get(q2, auto_ack=False)
    purged = channel.queue_purge(q1).method.message_count
    after_purge = counts(channel, q1)
    deleted = channel.queue_delete(q2).method.message_count
    return {
        "purged": purged,
        "after-purge": after_purge,
        "deleted": deleted,
        "delete-missing": channel.queue_delete(ctx.queue("missing")).method.message_count,
        "purge-missing": new_channel_step(connection, lambda ch: ch.queue_purge(ctx.name("missing"))),
    }


@scenario
def delete_conditions(ctx: Context) -> Any:
    """if_empty and if_unused refuse (406) while the condition fails, and delete once it holds; an
    exchange that is only an e2e destination is unused."""
    connection, channel = ctx.channel()
    queue, exchange, destination = ctx.queue(), ctx.exchange("src"), ctx.exchange("dst")
    channel.queue_declare(queue)
    channel.exchange_declare(exchange, "fanout")
    channel.exchange_declare(destination, "fanout")
    channel.queue_bind(queue, exchange)
    channel.exchange_bind(destination, exchange)
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"m")
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(queue, lambda *a: None, consumer_tag="c")
    channel.basic_publish("", queue, b"n")
    out = {
        "queue-if-empty": new_channel_step(connection, lambda ch: ch.queue_delete(queue, if_empty=True)),
        "queue-if-unused": new_channel_step(connection, lambda ch: ch.queue_delete(queue, if_unused=True)),
        "exchange-if-unused": new_channel_step(
            connection, lambda ch: ch.exchange_delete(exchange, if_unused=True)
        ),
        "destination-if-unused": new_channel_step(
            connection, lambda ch: ch.exchange_delete(destination, if_unused=True)
        ),
    }
    consumer.basic_cancel("c")
    out["queue-if-unused-after-cancel"] = new_channel_step(
        connection, lambda ch: ch.queue_delete(queue, if_unused=True)
    )
    out["delete-missing-exchange"] = new_channel_step(
        connection, lambda ch: ch.exchange_delete(ctx.name("nope"))
    )
    return out


@scenario
def consumer_cancelled_when_queue_deleted(ctx: Context) -> Any:
    """Deleting a queue under a consumer sends it basic.cancel (pika's on_cancel callback); the
    consumer's channel stays open and usable."""
    connection, consumer = ctx.channel()
    queue = ctx.queue()
    consumer.queue_declare(queue)
    cancelled: list[str] = []
    consumer.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    consumer.basic_consume(queue, lambda *a: None, consumer_tag="victim")
    _other_connection, other = ctx.channel()
    other.queue_delete(queue)
    pump([connection], lambda: bool(cancelled))
    return {
        "cancelled": cancelled,
        "channel-open": consumer.is_open,
        "consumer-tags": list(consumer.consumer_tags),
        "usable": step(lambda: fence(consumer)),
    }


@scenario
def delete_queue_with_unacked_messages(ctx: Context) -> Any:
    """Deleting a queue drops unacked messages too: acking them afterwards is fine, and nothing
    comes back when the channel closes."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()
    publish_all(channel, "", queue, [b"a", b"b"])
    holder = connection.channel()
    method, _p, _b = holder.basic_get(queue, auto_ack=False)
    channel.queue_delete(queue)
    ack = step(fenced(holder, lambda: holder.basic_ack(method.delivery_tag)))
    holder.close()
    channel.queue_declare(queue)
    return {"ack-after-delete": ack, "redeclared": counts(channel, queue)}
