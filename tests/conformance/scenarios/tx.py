"""Transactions: publishes and acks are held until tx.commit; tx.rollback discards them."""

from __future__ import annotations

from typing import Any

from tests.conformance.harness import (
    Context,
    counts,
    drain,
    fence,
    filled_queue,
    msgs,
    new_channel_step,
    publish_all,
    ready,
    scenario,
    wait_ready,
)


@scenario
def tx_commit_releases_publishes(ctx: Context) -> Any:
    """Publishes in a transaction reach the queue only at commit."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    tx = connection.channel()
    tx.tx_select()
    publish_all(tx, "", queue, msgs(3))
    fence(tx)
    before = ready(channel, queue)
    tx.tx_commit()
    return {
        "before-commit": before,
        "after-commit": wait_ready(channel, queue, 3),
        "queue": drain(channel, queue),
    }


@scenario
def tx_rollback_discards_publishes(ctx: Context) -> Any:
    """tx.rollback drops the uncommitted publishes; the channel stays transactional."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    tx = connection.channel()
    tx.tx_select()
    publish_all(tx, "", queue, msgs(2, "dropped"))
    tx.tx_rollback()
    tx.basic_publish("", queue, b"kept")
    tx.tx_commit()
    return drain(channel, queue)


@scenario
def tx_acks_wait_for_commit(ctx: Context) -> Any:
    """An ack in a transaction takes effect at commit; a rolled-back ack leaves the message
    unacked, so it is requeued when the channel closes."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 3)
    tx = connection.channel()
    tx.tx_select()
    for _ in range(3):
        tx.basic_get(queue, auto_ack=False)
    tx.basic_ack(1)
    tx.tx_rollback()
    tx.basic_ack(2)
    tx.tx_commit()
    tx.basic_ack(3)
    tx.close()
    return {"ready": wait_ready(channel, queue, 2), "queue": drain(channel, queue)}


@scenario
def tx_reject_requeue_waits_for_commit(ctx: Context) -> Any:
    """A reject with requeue in a transaction requeues only when committed."""
    connection, channel = ctx.channel()
    queue = filled_queue(ctx, channel, 1)
    tx = connection.channel()
    tx.tx_select()
    tx.basic_get(queue, auto_ack=False)
    tx.basic_reject(1, requeue=True)
    fence(tx)
    before = counts(channel, queue)
    tx.tx_commit()
    return {
        "before-commit": before,
        "after-commit": wait_ready(channel, queue, 1),
        "queue": drain(channel, queue),
    }


@scenario
def tx_mandatory_return_at_commit(ctx: Context) -> Any:
    """In a transaction an unroutable mandatory message is returned when committed, not before."""
    connection, channel = ctx.channel()
    returned: list[Any] = []
    channel.add_on_return_callback(lambda _c, method, _p, body: returned.append((method.reply_code, body)))
    channel.tx_select()
    channel.basic_publish("", ctx.name("nowhere"), b"unroutable", mandatory=True)
    fence(channel)
    connection.process_data_events(time_limit=0)
    before = list(returned)
    channel.tx_commit()
    connection.process_data_events(time_limit=0)
    return {"before-commit": before, "after-commit": returned}


@scenario
def tx_misuse(ctx: Context) -> Any:
    """commit or rollback without tx.select is 406; tx.select twice is fine."""
    connection, _channel = ctx.channel()
    return {
        "commit-without-select": new_channel_step(connection, lambda ch: ch.tx_commit()),
        "rollback-without-select": new_channel_step(connection, lambda ch: ch.tx_rollback()),
        "select-twice": new_channel_step(
            connection, lambda ch: (ch.tx_select(), ch.tx_select(), ch.tx_commit())
        ),
    }


@scenario
def tx_uncommitted_work_dropped_on_close(ctx: Context) -> Any:
    """Closing a transactional channel drops its uncommitted publishes and acks (the unacked
    message is requeued)."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"committed")
    tx = connection.channel()
    tx.tx_select()
    tx.basic_get(queue, auto_ack=False)
    tx.basic_ack(1)
    tx.basic_publish("", queue, b"uncommitted")
    tx.close()
    return {"ready": wait_ready(channel, queue, 1), "queue": drain(channel, queue)}
