"""Dead-lettering: a message that leaves a queue rejected (nack/reject without requeue),
expired, over a length limit or over a quorum delivery limit is republished to the queue's
`x-dead-letter-exchange`, under `x-dead-letter-routing-key` or its own key, carrying its
history in `x-death`. At most once, as RabbitMQ's default: nothing waits for the new queues,
and a message that routes nowhere is gone. What the headers look like was measured on
RabbitMQ 3.10.8 and 4.0.5; where they differ the version profile says how.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import EventKind

from ._message import DeadLettered, Death, Long, Message, with_changes
from ._text import display_text

if TYPE_CHECKING:
    from ._broker import Broker
    from ._queue import Queue

#: x-death reason -> the reason a DROP event gives when there is nowhere to dead-letter to.
DROP_REASONS = {
    "rejected": "rejected",
    "expired": "expired",
    "maxlen": "maxlen",
    "delivery_limit": "delivery-limit",
}

History = list[tuple[str, str]]  # (queue, reason) of each x-death entry, newest first


def dead_letter(queue: Queue, message: Message, reason: str, *, refused: bool = False) -> None:
    """`message` has left `queue` for `reason`: republish it to the dead-letter exchange, or
    drop it (no dead-letter exchange, or one that does not exist). `refused` marks a message
    the queue never took (overflow reject-publish-dlx)."""
    vhost = queue.vhost
    broker = vhost.broker
    tracing = broker.tracing
    flags: dict[str, Any] = {"refused": True} if refused else {}
    name = queue.dead_letter_exchange
    exchange = None if name is None else vhost.exchanges.get(name)
    if exchange is None:
        if tracing:
            if name is not None:
                flags["dead_letter_exchange"] = name  # named, but missing
            broker.emit(
                EventKind.DROP,
                vhost.name,
                queue.node,
                message=message.id,
                reason=DROP_REASONS[reason],
                **flags,
            )
        return
    key = message.routing_key if queue.dead_letter_routing_key is None else queue.dead_letter_routing_key
    dead, history = rewritten(message, queue.name, reason, exchange.name, key, broker)
    if tracing:
        broker.emit(
            EventKind.DEAD_LETTER,
            vhost.name,
            queue.node,
            exchange.node,
            message.id,
            key,
            reason=reason,
            **flags,
        )
    targets = vhost.route(exchange, dead)
    if not targets and tracing:
        broker.emit(
            EventKind.DROP,
            vhost.name,
            exchange.node,
            message=message.id,
            routing_key=key,
            reason="unroutable",
        )
    for target in targets:
        if reason != "rejected" and is_cycle(target.name, history):
            if tracing:  # RabbitMQ logs it and drops the copy for that queue
                broker.emit(
                    EventKind.DROP,
                    vhost.name,
                    exchange.node,
                    target.node,
                    message.id,
                    key,
                    reason="dead-letter-cycle",
                )
            continue
        if target.is_stream and not broker.profile.stream_takes_dead_letters:
            continue  # 3.10 loses it, silently (measured)
        target.receive(dead)


def is_cycle(target: str, history: History) -> bool:
    """RabbitMQ drops a dead letter bound for a queue it already died in, when the deaths
    since (that one included) were all automatic: a rejection anywhere breaks the cycle."""
    for queue, reason in history:
        if reason == "rejected":
            return False
        if queue == target:
            return True
    return False


def rewritten(
    message: Message, queue: str, reason: str, exchange: str, routing_key: str, broker: Broker
) -> tuple[Message, History]:
    """The dead letter: the same body and properties, less `expiration` (kept in the
    `x-death` entry as `original-expiration`), with the history in the headers, which
    RabbitMQ then sorts by name. Also the history, for cycle detection."""
    properties = message.properties
    headers: dict[str, Any] = dict(properties.headers or {})
    expiration = properties.expiration
    death = Death(
        queue,
        reason,
        1,
        message.exchange,
        (message.routing_key,),
        broker.wall_time(),
        None if expiration is None else display_text(expiration),
    )
    keys = broker.profile.x_death_keys
    dead: Message
    if broker.profile.death_history_in_headers:
        history = _continue_in_headers(headers, death, keys)
        changed = with_changes(properties, headers=dict(sorted(headers.items())), expiration=None)
        dead = Message(message.id, exchange, routing_key, changed, message.body)
    else:
        deaths, first = _recorded(message, death)
        headers["x-death"] = [_entry(each, keys) for each in deaths]
        first_reason, first_queue, first_exchange = first
        headers["x-first-death-reason"] = first_reason
        headers["x-first-death-queue"] = first_queue
        headers["x-first-death-exchange"] = first_exchange
        headers["x-last-death-reason"] = reason
        headers["x-last-death-queue"] = queue
        headers["x-last-death-exchange"] = message.exchange
        changed = with_changes(properties, headers=dict(sorted(headers.items())), expiration=None)
        dead = DeadLettered(message.id, exchange, routing_key, changed, message.body, deaths, first)
        history = [(each.queue, each.reason) for each in deaths]
    return dead, history


def _entry(death: Death, keys: tuple[str, ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "count": Long(death.count),
        "reason": death.reason,
        "queue": death.queue,
        "time": death.time,
        "exchange": death.exchange,
        "routing-keys": list(death.routing_keys),
    }
    if death.original_expiration is not None:
        fields["original-expiration"] = death.original_expiration
    return {key: fields[key] for key in keys if key in fields}


def _recorded(message: Message, death: Death) -> tuple[list[Death], tuple[str, str, str]]:
    """4.x: the history the broker keeps with the message, newest first. A repeat of the
    same queue and reason counts up and moves to the front, keeping its first time and
    where the message came from then; a client's `x-death` header plays no part."""
    if not isinstance(message, DeadLettered):
        return [death], (death.reason, death.queue, death.exchange)
    deaths = list(message.deaths)
    for index, earlier in enumerate(deaths):
        if (earlier.queue, earlier.reason) == (death.queue, death.reason):
            del deaths[index]
            deaths.insert(0, dataclasses.replace(earlier, count=earlier.count + 1))
            break
    else:
        deaths.insert(0, death)
    return deaths, message.first_death


def _continue_in_headers(headers: dict[str, Any], death: Death, keys: tuple[str, ...]) -> History:
    """3.x: the history is the `x-death` header itself, whoever wrote it. The first death
    also sets `x-first-death-*`; a repeat of the same queue and reason counts up (keeping
    the rest of its entry), and a changed or added entry is written with sorted keys."""
    earlier = headers.get("x-death")
    if not isinstance(earlier, list):
        headers["x-first-death-reason"] = death.reason
        headers["x-first-death-queue"] = death.queue
        headers["x-first-death-exchange"] = death.exchange
        table: list[Any] = [_entry(death, keys)]
    else:
        match = next((entry for entry in earlier if _same_death(entry, death)), None)
        if match is None:
            newest = _entry(death, keys)
        else:
            count = match.get("count")
            newest = {**match, "count": Long((count if isinstance(count, int) else 1) + 1)}
        table = [dict(sorted(newest.items())), *(entry for entry in earlier if entry is not match)]
    headers["x-death"] = table
    return [
        (display_text(entry.get("queue")), display_text(entry.get("reason")))
        for entry in table
        if isinstance(entry, Mapping)
    ]


def _same_death(entry: Any, death: Death) -> bool:
    return (
        isinstance(entry, Mapping)
        and display_text(entry.get("queue")) == death.queue
        and display_text(entry.get("reason")) == death.reason
    )
