"""Queues and the consumers attached to them: ready messages, round-robin dispatch, requeue."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._arguments import resource
from ._errors import RESOURCE_LOCKED, ChannelError
from ._events import Node, NodeKind
from ._message import Entry, Message, with_changes

if TYPE_CHECKING:
    from ._channel import Channel
    from ._connection import Connection
    from ._exchange import Binding
    from ._profile import VersionProfile


class Consumer:
    """A basic.consume subscription: one channel reading one queue."""

    __slots__ = (
        "arguments",
        "channel",
        "exclusive",
        "no_ack",
        "node",
        "prefetch",
        "priority",
        "queue",
        "tag",
        "unacked",
    )

    def __init__(
        self,
        tag: str,
        channel: Channel,
        queue: Queue,
        *,
        no_ack: bool,
        exclusive: bool,
        prefetch: int,
        arguments: Mapping[str, Any],
    ) -> None:
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.arguments = dict(arguments)
        priority = arguments.get("x-priority", 0)
        self.priority = priority if isinstance(priority, int) and not isinstance(priority, bool) else 0
        self.unacked = 0
        self.node = Node(NodeKind.CONSUMER, tag, channel.connection.name, channel.number)

    def has_room(self) -> bool:
        """Can this consumer take one more message, under its own and its channel's prefetch?"""
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        channel = self.channel
        return not channel.global_prefetch or channel.consumer_unacked < channel.global_prefetch


class Queue:
    __slots__ = (
        "arguments",
        "auto_delete",
        "consumers",
        "count_from_first_delivery",
        "counts_deliveries",
        "deleted",
        "delivery_limit",
        "durable",
        "exclusive_consumer",
        "incoming",
        "name",
        "next_seq",
        "node",
        "owner",
        "prioritised",
        "ready",
        "requeue_to_back",
        "single_active",
        "unacked",
        "vhost_name",
    )

    def __init__(
        self,
        name: str,
        vhost_name: str,
        *,
        durable: bool,
        owner: Connection | None,
        auto_delete: bool,
        arguments: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.vhost_name = vhost_name
        self.durable = durable
        self.owner = owner  # the connection of an exclusive queue
        self.auto_delete = auto_delete
        self.arguments = dict(arguments)
        self.ready: deque[Entry] = deque()
        self.consumers: deque[Consumer] = deque()  # a ring: the head is next in turn
        self.prioritised = 0  # consumers with a non-zero x-priority
        # x-single-active-consumer: the oldest consumer gets everything until it goes
        self.single_active = self.arguments.get("x-single-active-consumer") is True
        # quorum queues count deliveries (see `follow_quorum_rules`)
        self.counts_deliveries = False
        self.count_from_first_delivery = False
        self.delivery_limit: int | None = None
        self.requeue_to_back = False
        self.exclusive_consumer = False
        self.unacked = 0
        self.next_seq = 0
        self.deleted = False
        self.incoming: dict[tuple[Any, ...], Binding] = {}  # bindings that lead here
        self.node = Node(NodeKind.QUEUE, name)

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, ready={len(self.ready)}, unacked={self.unacked})"

    @property
    def type(self) -> str:
        kind = self.arguments.get("x-queue-type", "classic")
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    @property
    def exclusive(self) -> bool:
        return self.owner is not None

    @property
    def described(self) -> str:
        return resource("queue", self.name, self.vhost_name)

    def check_access(self, connection: Connection) -> None:
        """Exclusive queues belong to one connection; others may only publish to them."""
        if self.owner is not None and self.owner is not connection:
            raise self._locked()

    def check_redeclare(self, owner: Connection | None) -> None:
        """A redeclare must name the same owner: the same connection for an exclusive queue,
        none for a shared one (so a different `exclusive` flag is 405, not 406)."""
        if self.owner is not owner:
            raise self._locked()

    def _locked(self) -> ChannelError:
        return ChannelError(
            RESOURCE_LOCKED,
            f"cannot obtain exclusive access to locked {self.described}. It could be originally "
            "declared on another connection or the exclusive property value does not match "
            "that of the original declaration.",
        )

    def follow_quorum_rules(self, profile: VersionProfile) -> None:
        """A quorum queue counts each message's returns (`x-delivery-count`) and drops a message
        returned more often than its delivery limit, as the version `profile` does."""
        self.counts_deliveries = True
        self.count_from_first_delivery = profile.quorum_count_from_first_delivery
        limit = self.arguments.get("x-delivery-limit", profile.quorum_default_delivery_limit)
        self.delivery_limit = limit if isinstance(limit, int) else None
        self.requeue_to_back = profile.quorum_requeue_to_back

    def as_delivered(self, entry: Entry) -> Message:
        """The message a consumer receives for `entry`: with `x-delivery-count` when counted."""
        message = entry.message
        count = entry.delivery_count
        if not self.counts_deliveries or (count == 0 and not self.count_from_first_delivery):
            return message
        headers = {**(message.properties.headers or {}), "x-delivery-count": count}
        properties = with_changes(message.properties, headers=headers)
        return Message(message.id, message.exchange, message.routing_key, properties, message.body)

    def enqueue(self, message: Message) -> Entry:
        self.next_seq += 1
        entry = Entry(message, self.next_seq)
        self.ready.append(entry)
        if self.consumers:
            self.dispatch()
        return entry

    def requeue(self, entries: list[Entry]) -> list[Entry]:
        """Put delivered copies back where they were (by their sequence), redelivered; a quorum
        queue counts the return, and gives back the entries over its delivery limit, dropped."""
        entries.sort(key=_by_seq)
        for entry in entries:
            entry.redelivered = True
        dropped: list[Entry] = []
        if self.counts_deliveries:
            entries, dropped = self._count_returns(entries)
            if not entries:
                return dropped
        ready = self.ready
        if self.requeue_to_back:
            ready.extend(entries)
        elif not ready or entries[-1].seq < ready[0].seq:
            ready.extendleft(reversed(entries))
        else:
            merged = list(heapq.merge(ready, entries, key=_by_seq))
            ready.clear()
            ready.extend(merged)
        if self.consumers:
            self.dispatch()
        return dropped

    def _count_returns(self, entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
        kept: list[Entry] = []
        dropped: list[Entry] = []
        limit = self.delivery_limit
        for entry in entries:
            entry.delivery_count += 1
            (dropped if limit is not None and entry.delivery_count > limit else kept).append(entry)
        return kept, dropped

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.prioritised += consumer.priority != 0

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.remove(consumer)
        self.prioritised -= consumer.priority != 0

    def dispatch(self) -> None:
        """Hand ready messages to consumers in turn, skipping those at their prefetch limit."""
        if self.prioritised or self.single_active:
            self._dispatch_special()
            return
        ready = self.ready
        consumers = self.consumers
        while ready and consumers:
            for _ in range(len(consumers)):
                consumer = consumers[0]
                consumers.rotate(-1)
                if consumer.has_room():
                    break
            else:
                return
            consumer.channel.deliver(consumer, self, ready.popleft())

    def _dispatch_special(self) -> None:
        """A single active consumer (the ring is never rotated, so the oldest is first), or
        consumer priorities (`x-priority`): the highest-priority consumers with room take turns;
        lower ones get messages only while all higher ones are at their limit."""
        ready = self.ready
        consumers = self.consumers
        if self.single_active:
            while ready and consumers and consumers[0].has_room():
                active = consumers[0]
                active.channel.deliver(active, self, ready.popleft())
            return
        while ready:
            chosen: Consumer | None = None
            for consumer in consumers:
                if consumer.has_room() and (chosen is None or consumer.priority > chosen.priority):
                    chosen = consumer
            if chosen is None:
                return
            consumers.remove(chosen)
            consumers.append(chosen)  # to the back of the ring: its equals go first next time
            chosen.channel.deliver(chosen, self, ready.popleft())


def _by_seq(entry: Entry) -> int:
    return entry.seq
