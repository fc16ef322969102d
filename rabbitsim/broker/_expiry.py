"""Time in a queue: message TTL (copies expire at the head only, as RabbitMQ's do) and
`x-expires` (an unused queue is deleted), both run by the broker's timers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rabbitsim.vocabulary import EventKind

from ._deadletter import dead_letter

if TYPE_CHECKING:
    from ._queue import Queue


def expire_head(queue: Queue, now: float) -> None:
    """RabbitMQ expires from the head only: a copy behind a live one waits its turn. The
    TTL timer is then armed for the new head (if sooner than it already is)."""
    ready = queue.ready
    while ready:
        expires = getattr(ready[0], "expires", None)
        if expires is None:
            return
        if expires > now:
            if queue.ttl_timer_at is None or expires < queue.ttl_timer_at:
                queue.ttl_timer_at = expires
                schedule_wake(queue)
            return
        entry = queue.pop_head()
        if queue.keeps:
            queue.forget(entry)
        broker = queue.vhost.broker
        if broker.tracing:
            broker.emit(EventKind.EXPIRE, queue.vhost_name, queue.node, message=entry.message.id)
        dead_letter(queue, entry.message, "expired")


def touch(queue: Queue) -> None:
    """The queue was used (declared, read by basic.get, or its last consumer left):
    with `x-expires`, it is deleted once unused for that long."""
    if queue.expires_after is not None and not queue.consumers and not queue.deleted:
        queue.deadline = queue.vhost.broker.clock() + queue.expires_after / 1000
        schedule_wake(queue)


def due_at(queue: Queue) -> float | None:
    """When this queue next has something to do on its own: its TTL timer, or the end of
    `x-expires` unused."""
    due = queue.deadline if not queue.consumers else None
    ttl = queue.ttl_timer_at
    return ttl if ttl is not None and (due is None or ttl < due) else due


def schedule_wake(queue: Queue) -> None:
    """Ask the broker to wake the queue when it is next due, if sooner than already asked."""
    when = due_at(queue)
    if when is not None and (queue.timer_at is None or when < queue.timer_at):
        queue.vhost.broker.schedule(when, queue)


def wake(queue: Queue, now: float) -> None:
    """The broker's timer: delete the queue if unused for long enough; let expired copies
    leave the head when the TTL timer is due (which arms it again); ask for the next."""
    if queue.deadline is not None and queue.deadline <= now and not queue.consumers:
        queue.vhost.delete_queue(queue, reason="expired")
        return
    if queue.ttl_timer_at is not None and queue.ttl_timer_at <= now:
        queue.ttl_timer_at = None
        expire_head(queue, now)
    schedule_wake(queue)
