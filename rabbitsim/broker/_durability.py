"""What a restart keeps. The core says what must be stored and what may be forgotten, as items
on its output road (a store adapter writes them; the core does no I/O), and rebuilds itself from
what was stored (`recover_*`, called by that adapter at start).

Kept, as RabbitMQ keeps them (measured: docs/restarts.md): durable exchanges (4.3: every
exchange); durable queues that are not exclusive; the bindings whose ends are both kept; and, in
a kept queue, the copies of persistent messages (delivery mode 2), or of every message in a
quorum queue, with their time to live running while the broker is down. A copy is forgotten
when it leaves its queue for good (acked, taken without ack, expired, dropped, dead-lettered,
purged) and marked when it is delivered: after a restart it comes back `redelivered`, as every
copy of a classic queue does after a crash."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._exchange import Binding, Exchange
from ._expiry import expire_head
from ._message import DeadLettered, Death, Entry, Long, Message, PropertiesLike

if TYPE_CHECKING:
    from ._broker import Broker
    from ._profile import VersionProfile
    from ._queue import Queue
    from ._vhost import VHost

PERSISTENT = 2  # delivery mode


class KeepExchange(NamedTuple):
    exchange: Exchange


class ForgetExchange(NamedTuple):
    vhost: str
    name: str


class KeepQueue(NamedTuple):
    queue: Queue


class ForgetQueue(NamedTuple):
    """The queue and every copy it held."""

    vhost: str
    name: str


class KeepBinding(NamedTuple):
    vhost: str
    binding: Binding


class ForgetBinding(NamedTuple):
    vhost: str
    binding: Binding


class KeepCopy(NamedTuple):
    """A copy of `entry.message` now in `queue`, at `entry.seq`."""

    queue: Queue
    entry: Entry


class DeliveredCopy(NamedTuple):
    """The copy went to a client that must ack it: after a restart it is `redelivered` (and,
    in a quorum queue, counted as returned if it was still out)."""

    queue: Queue
    entry: Entry


class ReturnedCopy(NamedTuple):
    """A quorum queue's copy came back and was counted (`entry.delivery_count`)."""

    queue: Queue
    entry: Entry


class ForgetCopy(NamedTuple):
    queue: Queue
    entry: Entry


class KeepSettings(NamedTuple):
    """Users, vhosts, permissions, policies and limits changed: the whole of them, in RabbitMQ's
    definitions format (`_definitions`). They change rarely, so a store keeps the latest."""

    settings: dict[str, Any]


#: What the road may carry for a store.
Intent = (
    KeepSettings
    | KeepExchange
    | ForgetExchange
    | KeepQueue
    | ForgetQueue
    | KeepBinding
    | ForgetBinding
    | KeepCopy
    | DeliveredCopy
    | ReturnedCopy
    | ForgetCopy
)


def keeps_exchange(exchange: Exchange, profile: VersionProfile) -> bool:
    return exchange.durable or profile.restart_keeps_transient_exchanges


def keeps_binding(binding: Binding, profile: VersionProfile) -> bool:
    """Both ends are kept."""
    destination = binding.destination
    if isinstance(destination, Exchange):
        kept = keeps_exchange(destination, profile)
    else:
        kept = destination.durable and destination.owner is None
    return kept and keeps_exchange(binding.source, profile)


def expiry_of(queue: Queue, entry: Entry) -> float | None:
    """When a copy with a time to live expires, as a wall-clock time: RabbitMQ's expiry is
    absolute, so the time a broker is down counts."""
    expires: float | None = getattr(entry, "expires", None)
    if expires is None:
        return None
    broker = queue.vhost.broker
    return expires - broker.clock() + (broker.wall_clock or broker.clock)()


def persists(queue: Queue, message: Message) -> bool:
    """A quorum queue or a stream keeps every message; a classic queue only persistent ones."""
    return queue.quorum or queue.is_stream or message.properties.delivery_mode == PERSISTENT


# --- at start: the stored state back into the core ------------------------------------------


def recover_exchange(
    vhost: VHost,
    name: str,
    kind: str,
    *,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: Mapping[str, Any],
) -> None:
    exchange = Exchange(
        name,
        kind,
        vhost.name,
        durable=durable,
        auto_delete=auto_delete,
        internal=internal,
        arguments=arguments,
    )
    vhost.exchanges[name] = exchange


def recover_queue(vhost: VHost, name: str, *, auto_delete: bool, arguments: Mapping[str, Any]) -> Queue:
    from ._stream import new_queue  # a cycle at import time: queues import this module

    queue = new_queue(name, vhost, durable=True, owner=None, auto_delete=auto_delete, arguments=arguments)
    if queue.type == "quorum":
        queue.follow_quorum_rules(vhost.broker.profile)
    queue.keeps = vhost.broker.keeping
    vhost.queues[name] = queue
    return queue


def recover_binding(
    vhost: VHost,
    source: str,
    destination: str,
    to_queue: bool,
    routing_key: str,
    arguments: Mapping[str, Any],
) -> None:
    """A stored binding whose ends both came back (a binding is stored only with both durable)."""
    found_source = vhost.exchanges.get(source)
    found = (vhost.queues if to_queue else vhost.exchanges).get(destination)
    if found_source is None or found is None:
        return
    vhost.add_binding(found_source, found, routing_key, arguments, keep=False)


class StoredCopy(NamedTuple):
    """A copy as the store gives it back."""

    seq: int
    message: Message
    delivered: bool  # ever delivered to a client that had to ack it
    out: bool  # with a client at the stop (a quorum queue counts it as returned)
    delivery_count: int
    acquired: int  # 4.3's x-acquired-count
    expires: float | None  # wall-clock time
    written: int | None = None  # a stream's record: when it was written (ms since the epoch)


def recover_copies(queue: Queue, copies: list[StoredCopy], *, crashed: bool) -> None:
    """The stored copies of `queue`, in seq order, as ready messages. A copy delivered before
    the stop is `redelivered`; after a crash every copy of a classic queue is (RabbitMQ cannot
    tell which were delivered); a quorum queue counts a copy that was out as returned. A
    stream's copies are its log's records, at their offsets."""
    broker = queue.vhost.broker
    if queue.is_stream:
        from ._stream import Stream

        assert isinstance(queue, Stream)
        queue.restore([(copy.seq, copy.message, copy.written or 0) for copy in copies])
        return
    now, wall = broker.clock(), (broker.wall_clock or broker.clock)()
    quorum = queue.quorum
    for copy in copies:
        entry = Entry(copy.message, copy.seq)
        entry.redelivered = copy.delivered or (crashed and not quorum)
        # RabbitMQ's quorum queues send a recovered count as a signed 64-bit field (all versions)
        entry.delivery_count = Long(copy.delivery_count + (quorum and copy.out)) if quorum else 0
        if quorum and broker.profile.quorum_acquired_count and (copy.acquired or copy.out):
            entry.acquired = Long(copy.acquired + copy.out)
        if copy.expires is not None:
            entry.expires = now + (copy.expires - wall)
            queue.special = True
        queue.ready.append(entry)
        if queue.max_length_bytes is not None:
            queue.ready_bytes += len(copy.message.body)
        queue.next_seq = max(queue.next_seq, copy.seq)


def recover_message(
    broker: Broker,
    number: int,
    exchange: str,
    routing_key: str,
    properties: PropertiesLike,
    body: bytes,
    history: dict[str, Any] | None,
) -> Message:
    """A stored message, under its stored id (new ids continue after the highest)."""
    broker._message_ids = max(broker._message_ids, number)
    if history is None:
        return Message(number, exchange, routing_key, properties, body)
    deaths = [
        Death(
            death["queue"],
            death["reason"],
            death["count"],
            death["exchange"],
            tuple(death["routing_keys"]),
            datetime.datetime.fromtimestamp(death["time"], datetime.UTC),
            death["original_expiration"],
        )
        for death in history["deaths"]
    ]
    reason, queue, first_exchange = history["first_death"]
    return DeadLettered(
        number, exchange, routing_key, properties, body, deaths, (reason, queue, first_exchange)
    )


def deaths_of(message: Message) -> dict[str, Any] | None:
    """A dead letter's history as plain data (4.x keeps it in the broker, not in headers)."""
    if not isinstance(message, DeadLettered):
        return None
    return {
        "deaths": [
            {
                "queue": death.queue,
                "reason": death.reason,
                "count": death.count,
                "exchange": death.exchange,
                "routing_keys": list(death.routing_keys),
                "time": death.time.timestamp(),
                "original_expiration": death.original_expiration,
            }
            for death in message.deaths
        ],
        "first_death": list(message.first_death),
    }


def recovered(queue: Queue) -> None:
    """After its copies came back: what expired while the broker was down leaves the head, and
    an `x-expires` countdown starts again (RabbitMQ's restarts at boot)."""
    if queue.special:
        expire_head(queue, queue.vhost.broker.clock())
    queue.touch()
