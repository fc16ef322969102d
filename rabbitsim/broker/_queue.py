"""Queues and the consumers attached to them: ready messages, round-robin dispatch, requeue;
and what RabbitMQ's queue arguments add: message TTL (expiry at the head), length limits
(`x-overflow`), priorities, dead-lettering and `x-expires`.

A queue that uses none of those (nor holds a message with an `expiration`) keeps to the fast
paths (`enqueue`, `dispatch`); `special` sends the rest through the general ones (`offer`,
`take`, `_dispatch_general`), so plain queues pay one flag test for all of it.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from ._arguments import resource
from ._deadletter import dead_letter
from ._errors import RESOURCE_LOCKED, ChannelError
from ._events import EventKind, Node, NodeKind
from ._message import Entry, Message, with_changes

if TYPE_CHECKING:
    from ._channel import Channel
    from ._connection import Connection
    from ._exchange import Binding
    from ._profile import VersionProfile
    from ._vhost import VHost


class Ready(Protocol):
    """What the rest of the core may do with a queue's ready messages: a `deque` for most
    queues, a `PriorityReady` for priority queues. Iteration is delivery order."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Entry]: ...
    def __getitem__(self, index: int, /) -> Entry: ...
    def append(self, entry: Entry, /) -> None: ...
    def popleft(self) -> Entry: ...
    def clear(self) -> None: ...


class PriorityReady:
    """The ready messages of a priority queue: one FIFO per level, as RabbitMQ's priority
    queue keeps them. The head is the oldest message of the highest priority present; a
    priority above the top level counts as the top, none as 0."""

    __slots__ = ("levels", "size", "top")

    def __init__(self, top: int) -> None:
        self.top = top
        self.levels: list[deque[Entry]] = [deque() for _ in range(top + 1)]
        self.size = 0

    def level_of(self, entry: Entry) -> int:
        priority = entry.message.properties.priority
        return min(priority, self.top) if isinstance(priority, int) and priority > 0 else 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Entry]:
        for level in reversed(self.levels):
            yield from level

    def __getitem__(self, index: int, /) -> Entry:
        if index == 0:
            for level in reversed(self.levels):
                if level:
                    return level[0]
        raise IndexError("only the head of a priority queue can be read")

    def append(self, entry: Entry, /) -> None:
        self.levels[self.level_of(entry)].append(entry)
        self.size += 1

    def popleft(self) -> Entry:
        for level in reversed(self.levels):
            if level:
                self.size -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def clear(self) -> None:
        for level in self.levels:
            level.clear()
        self.size = 0

    def ahead_of(self, entry: Entry) -> int:
        """How many ready messages a new `entry` queues behind."""
        return sum(len(level) for level in self.levels[self.level_of(entry) :])

    def put_back(self, entries: list[Entry]) -> None:
        """Requeued copies (sorted by seq) return to their places within their levels."""
        by_level: dict[int, list[Entry]] = {}
        for entry in entries:
            by_level.setdefault(self.level_of(entry), []).append(entry)
        for level, returning in by_level.items():
            _merge_back(self.levels[level], returning)
        self.size += len(entries)


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


#: x-overflow -> (drops the head when over the limit, refuses new messages when full,
#: dead-letters what it refuses), for classic queues. Quorum queues treat reject-publish-dlx
#: as drop-head (measured on 3.10.8 and 4.0.5).
OVERFLOW_MODES = {
    "drop-head": (True, False, False),
    "reject-publish": (False, True, False),
    "reject-publish-dlx": (False, True, True),
}
QUORUM_OVERFLOW_MODES = {**OVERFLOW_MODES, "reject-publish-dlx": (True, False, False)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(arguments: Mapping[str, Any], key: str) -> int | None:
    value = arguments.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Queue:
    __slots__ = (
        "arguments",
        "auto_delete",
        "consumers",
        "count_from_first_delivery",
        "counts_deliveries",
        "dead_letter_exchange",
        "dead_letter_routing_key",
        "deadline",
        "deleted",
        "delivery_limit",
        "drops_head",
        "durable",
        "exclusive_consumer",
        "expires_after",
        "general",
        "incoming",
        "max_length",
        "max_length_bytes",
        "message_ttl",
        "name",
        "next_seq",
        "node",
        "owner",
        "prioritised",
        "quorum",
        "ready",
        "ready_bytes",
        "refuse_dead_letters",
        "refuses",
        "requeue_to_back",
        "single_active",
        "special",
        "timer_at",
        "ttl_timer_at",
        "unacked",
        "vhost",
        "vhost_name",
    )

    def __init__(
        self,
        name: str,
        vhost: VHost,
        *,
        durable: bool,
        owner: Connection | None,
        auto_delete: bool,
        arguments: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.vhost_name = vhost.name
        self.durable = durable
        self.owner = owner  # the connection of an exclusive queue
        self.auto_delete = auto_delete
        self.arguments = dict(arguments)
        self.ready: Ready = deque()
        self.consumers: deque[Consumer] = deque()  # a ring: the head is next in turn
        self.prioritised = 0  # consumers with a non-zero x-priority
        # x-single-active-consumer: the oldest consumer gets everything until it goes
        self.single_active = self.arguments.get("x-single-active-consumer") is True
        # quorum queues count deliveries (see `follow_quorum_rules`)
        self.quorum = False
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
        # what the arguments add (validated by the declare before the queue is made)
        self.message_ttl = _number(self.arguments, "x-message-ttl")  # ms
        self.max_length = _number(self.arguments, "x-max-length")
        self.max_length_bytes = _number(self.arguments, "x-max-length-bytes")  # bodies only
        self.ready_bytes = 0
        exchange = self.arguments.get("x-dead-letter-exchange")
        key = self.arguments.get("x-dead-letter-routing-key")
        self.dead_letter_exchange = None if exchange is None else _text(exchange)
        self.dead_letter_routing_key = None if key is None else _text(key)
        self.drops_head = self.refuses = self.refuse_dead_letters = False
        self._set_overflow(OVERFLOW_MODES)
        self.expires_after = _number(self.arguments, "x-expires")  # ms unused before deletion
        self.deadline: float | None = None  # when unused long enough (no consumers meanwhile)
        self.timer_at: float | None = None  # the earliest wake-up asked of the broker
        self.ttl_timer_at: float | None = None  # RabbitMQ's TTL timer: armed for a head's expiry
        top = _number(self.arguments, "x-max-priority")
        if top is not None:
            self.ready = PriorityReady(max(top, vhost.broker.profile.least_max_priority))
        self.special = (
            top is not None
            or self.message_ttl is not None
            or self.max_length is not None
            or self.max_length_bytes is not None
        )
        self.general = self.special or self.single_active  # dispatch takes the general path

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

    def _set_overflow(self, modes: Mapping[str, tuple[bool, bool, bool]]) -> None:
        """`x-overflow` as a row of `modes`; it matters only with a length limit."""
        limited = self.max_length is not None or self.max_length_bytes is not None
        mode = _text(self.arguments.get("x-overflow", "drop-head"))
        drops, refuses, refused_dead = modes.get(mode, modes["drop-head"])
        self.drops_head, self.refuses = drops and limited, refuses and limited
        self.refuse_dead_letters = refused_dead

    def follow_quorum_rules(self, profile: VersionProfile) -> None:
        """A quorum queue counts each message's returns (`x-delivery-count`) and drops a message
        returned more often than its delivery limit, as the version `profile` does."""
        self.quorum = True
        self._set_overflow(QUORUM_OVERFLOW_MODES)
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
        # RabbitMQ's quorum queues write the headers back sorted (measured on 3.10.8 and 4.0.5)
        headers = dict(sorted({**(message.properties.headers or {}), "x-delivery-count": count}.items()))
        properties = with_changes(message.properties, headers=headers)
        return Message(message.id, message.exchange, message.routing_key, properties, message.body)

    def receive(self, message: Message, expiring: bool = False) -> bool:
        """Take a message routed here (published, or dead-lettered): `enqueue` for a plain
        queue, `offer` otherwise. False when the queue refused it."""
        if self.special or expiring:
            return self.offer(message, expiring)
        broker = self.vhost.broker
        if broker.tracing:  # before enqueue, which may deliver at once: the picture needs this order
            broker.emit(
                EventKind.ENQUEUE,
                self.vhost_name,
                self.node,
                message=message.id,
                routing_key=message.routing_key,
                position=len(self.ready) + 1,
            )
        self.enqueue(message)
        return True

    def enqueue(self, message: Message) -> Entry:
        """The fast path: a plain queue takes a message (its ENQUEUE event is the caller's)."""
        self.next_seq += 1
        entry = Entry(message, self.next_seq)
        self.ready.append(entry)
        if self.consumers:
            self.dispatch()
        return entry

    def requeue(self, entries: list[Entry]) -> list[Entry]:
        """Put delivered copies back where they were (by their sequence), redelivered; a quorum
        queue counts the return, and gives back the entries over its delivery limit, dropped.
        Then, as RabbitMQ does after a requeue: drop the head while over a length limit, and
        let expired copies that reached the head go."""
        entries.sort(key=_by_seq)
        for entry in entries:
            entry.redelivered = True
        dropped: list[Entry] = []
        if self.counts_deliveries:
            entries, dropped = self._count_returns(entries)
            if not entries:
                return dropped
        if self.special:
            self._put_back(entries)
        elif self.requeue_to_back:
            cast("deque[Entry]", self.ready).extend(entries)
        else:
            _merge_back(cast("deque[Entry]", self.ready), entries)
        if self.consumers:
            self.dispatch()
        return dropped

    def _put_back(self, entries: list[Entry]) -> None:
        ready = self.ready
        if isinstance(ready, PriorityReady):
            ready.put_back(entries)
        elif self.requeue_to_back:
            cast("deque[Entry]", ready).extend(entries)
        else:
            _merge_back(cast("deque[Entry]", ready), entries)
        if self.max_length_bytes is not None:
            self.ready_bytes += sum(len(entry.message.body) for entry in entries)
        self._drop_over_limit()
        self._expire_head(self.vhost.broker.clock())

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
        self.general = bool(self.special or self.single_active or self.prioritised)
        self.deadline = None  # a queue with a consumer is in use

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.remove(consumer)
        self.prioritised -= consumer.priority != 0
        self.general = bool(self.special or self.single_active or self.prioritised)
        if not self.consumers:
            self.touch()

    def dispatch(self) -> None:
        """Hand ready messages to consumers in turn, skipping those at their prefetch limit."""
        if self.general:
            self._dispatch_general()
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

    def _dispatch_general(self) -> None:
        """Dispatch for everything but the plain case: consumers are chosen by
        `_next_consumer`, and after each delivery expired copies that reached the head go."""
        ready = self.ready
        special = self.special
        now = self.vhost.broker.clock() if special else 0.0
        while ready and self.consumers:
            consumer = self._next_consumer()
            if consumer is None:
                break
            entry = self._pop()
            consumer.channel.deliver(consumer, self, entry)
            if special:
                self._expire_head(now)

    def _next_consumer(self) -> Consumer | None:
        """Who takes the next message: the single active consumer (the ring is never rotated,
        so the oldest is first); or, with consumer priorities (`x-priority`), the
        highest-priority consumers with room in turn (lower ones only while all higher ones are
        at their limit); else the next in the ring with room."""
        consumers = self.consumers
        if self.single_active:
            return consumers[0] if consumers[0].has_room() else None
        if self.prioritised:
            chosen: Consumer | None = None
            for consumer in consumers:
                if consumer.has_room() and (chosen is None or consumer.priority > chosen.priority):
                    chosen = consumer
            if chosen is not None:
                consumers.remove(chosen)
                consumers.append(chosen)  # to the back of the ring: its equals go first next time
            return chosen
        for _ in range(len(consumers)):
            consumer = consumers[0]
            consumers.rotate(-1)
            if consumer.has_room():
                return consumer
        return None

    # --- the general path: TTL, limits, priorities ---------------------------------------------

    def offer(self, message: Message, expiring: bool) -> bool:
        """Take a routed message into a special queue (or any queue, for a message with an
        `expiration`). False when a full queue refuses it (`x-overflow` reject-publish), so
        that a confirming publisher gets a nack. In RabbitMQ's order: the overflow check, a
        waiting consumer (which takes it even with TTL 0), the queue, drop-head, and expiry at
        the head, but only when the head can have changed: the message is alone, or a drop
        made room (a priority queue's new head is not looked at, as in RabbitMQ, so it can
        even be delivered after its TTL)."""
        if not self.special:
            self.special = self.general = True  # it holds a copy that can expire from now on
        broker = self.vhost.broker
        if self.refuses and self._full_for(message):
            self._refuse(message)
            return False
        now = broker.clock()
        self.next_seq += 1
        entry = Entry(message, self.next_seq)
        ttl = self.message_ttl
        if expiring:
            expiration = message.properties.expiration
            given = int(expiration.decode() if isinstance(expiration, bytes) else str(expiration))
            ttl = given if ttl is None else min(ttl, given)
        if ttl is not None:
            entry.expires = now + ttl / 1000
        ready = self.ready
        if broker.tracing:
            ahead = ready.ahead_of(entry) if isinstance(ready, PriorityReady) else len(ready)
            broker.emit(
                EventKind.ENQUEUE,
                self.vhost_name,
                self.node,
                message=message.id,
                routing_key=message.routing_key,
                position=ahead + 1,
            )
        was_empty = not ready
        ready.append(entry)
        if self.max_length_bytes is not None:
            self.ready_bytes += len(message.body)
        if self.consumers:
            self._dispatch_general()
            if was_empty and not ready:
                return True  # delivered straight away
        dropped = self._drop_over_limit()
        alone = len(ready) == 1
        if (dropped or alone) and not (dropped and alone and getattr(entry, "expires", None) is None):
            self._expire_head(now)
        return True

    def take(self) -> Entry | None:
        """The head for basic.get, as it is (RabbitMQ drops expired copies after a fetch, not
        before: the timer has taken care of a head that was due); `settle_head` follows."""
        return self._pop() if self.ready else None

    def settle_head(self) -> None:
        """After the head was taken: expired copies that reached the head go (so get-ok's
        count leaves them out, as RabbitMQ's does)."""
        self._expire_head(self.vhost.broker.clock())

    def purge(self) -> None:
        self.ready.clear()
        self.ready_bytes = 0

    def _pop(self) -> Entry:
        entry = self.ready.popleft()
        if self.max_length_bytes is not None:
            self.ready_bytes -= len(entry.message.body)
        return entry

    def _expire_head(self, now: float) -> None:
        """RabbitMQ expires from the head only: a copy behind a live one waits its turn. The
        TTL timer is then armed for the new head (if sooner than it already is)."""
        ready = self.ready
        while ready:
            expires = getattr(ready[0], "expires", None)
            if expires is None:
                return
            if expires > now:
                if self.ttl_timer_at is None or expires < self.ttl_timer_at:
                    self.ttl_timer_at = expires
                    self._schedule()
                return
            entry = self._pop()
            broker = self.vhost.broker
            if broker.tracing:
                broker.emit(EventKind.EXPIRE, self.vhost_name, self.node, message=entry.message.id)
            dead_letter(self, entry.message, "expired")

    def _over_limit(self) -> bool:
        return (self.max_length is not None and len(self.ready) > self.max_length) or (
            self.max_length_bytes is not None and self.ready_bytes > self.max_length_bytes
        )

    def _drop_over_limit(self) -> bool:
        """Overflow drop-head: the head goes (dead-lettered as `maxlen`) while over a limit;
        only ready copies count. In a priority queue the head is the highest priority's.
        True if any went."""
        dropped = False
        if self.drops_head:
            while self.ready and self._over_limit():
                dead_letter(self, self._pop().message, "maxlen")
                dropped = True
        return dropped

    def _full_for(self, message: Message) -> bool:
        """Overflow reject-publish: a classic queue refuses a message that would take it over
        a limit (bytes inclusive); a quorum queue one that arrives when it is already over."""
        size = 0 if self.quorum else 1
        body = 0 if self.quorum else len(message.body)
        return (self.max_length is not None and len(self.ready) + size > self.max_length) or (
            self.max_length_bytes is not None and self.ready_bytes + body > self.max_length_bytes
        )

    def _refuse(self, message: Message) -> None:
        if self.refuse_dead_letters:
            dead_letter(self, message, "maxlen", refused=True)
            return
        broker = self.vhost.broker
        if broker.tracing:
            broker.emit(
                EventKind.DROP, self.vhost_name, self.node, message=message.id, reason="reject-publish"
            )

    # --- time -----------------------------------------------------------------------------------

    def touch(self) -> None:
        """The queue was used (declared, read by basic.get, or its last consumer left):
        with `x-expires`, it is deleted once unused for that long."""
        if self.expires_after is not None and not self.consumers and not self.deleted:
            self.deadline = self.vhost.broker.clock() + self.expires_after / 1000
            self._schedule()

    def due(self) -> float | None:
        """When this queue next has something to do on its own: its TTL timer, or the end of
        `x-expires` unused."""
        due = self.deadline if not self.consumers else None
        ttl = self.ttl_timer_at
        return ttl if ttl is not None and (due is None or ttl < due) else due

    def _schedule(self) -> None:
        due = self.due()
        if due is not None and (self.timer_at is None or due < self.timer_at):
            self.vhost.broker.schedule(due, self)

    def wake(self, now: float) -> None:
        """The broker's timer: delete the queue if unused for long enough; let expired copies
        leave the head when the TTL timer is due (which arms it again); ask for the next."""
        if self.deadline is not None and self.deadline <= now and not self.consumers:
            self.vhost.delete_queue(self, reason="expired")
            return
        if self.ttl_timer_at is not None and self.ttl_timer_at <= now:
            self.ttl_timer_at = None
            self._expire_head(now)
        self._schedule()


def _by_seq(entry: Entry) -> int:
    return entry.seq


def _merge_back(ready: deque[Entry], entries: Iterable[Entry]) -> None:
    """Requeued copies (sorted by seq) go back among the ready ones by their sequence."""
    returning = list(entries)
    if not ready or returning[-1].seq < ready[0].seq:
        ready.extendleft(reversed(returning))
        return
    merged = list(heapq.merge(ready, returning, key=_by_seq))
    ready.clear()
    ready.extend(merged)
