"""Queues: ready messages, round-robin dispatch to consumers, requeue; and what RabbitMQ's
queue arguments add: priorities (`_ready`), length limits (`_overflow`), message TTL and
`x-expires` (`_expiry`), quorum queues' delivery counts, dead-lettering (`_deadletter`).

A queue that uses none of those (nor holds a message with an `expiration`) keeps to the fast
paths (`enqueue`, and the plain case of `dispatch`); `special` sends the rest through the
general ones (`offer`, `take`, and `dispatch`'s byte count and head expiry), so plain queues
pay a flag test or two for all of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from rabbitsim.vocabulary import EventKind, Node, NodeKind

from ._arguments import resource
from ._consumer import Consumer
from ._durability import DeliveredCopy, ForgetCopy, KeepCopy, ReturnedCopy, persists
from ._errors import RESOURCE_LOCKED, ChannelError
from ._expiry import due_at, expire_head
from ._expiry import touch as _touch
from ._expiry import wake as _wake
from ._message import Entry, Message, with_changes
from ._overflow import OVERFLOW_MODES, QUORUM_OVERFLOW_MODES, drop_over_limit, full_for, refuse, set_overflow
from ._policies import queue_settings
from ._ready import PriorityReady, Ready, by_seq, merge_back
from ._text import utf8_text

if TYPE_CHECKING:
    from ._connection import Connection
    from ._exchange import Binding
    from ._policies import Policy
    from ._profile import VersionProfile
    from ._vhost import VHost


def _number(arguments: Mapping[str, Any], key: str) -> int | None:
    value = arguments.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Queue:
    """A classic or quorum queue (a stream is a `Stream`, in `_stream`)."""

    is_stream = False

    __slots__ = (
        "arguments",
        "auto_delete",
        "chooses",
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
        "incoming",
        "keeps",
        "max_length",
        "max_length_bytes",
        "message_ttl",
        "name",
        "next_seq",
        "node",
        "operator_policy",
        "owner",
        "policy",
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
        self.chooses = self.single_active  # the ring does not decide who is next (`_chosen_consumer`)
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
        #: a store keeps this queue and its persistent copies (`_durability`)
        self.keeps = vhost.broker.keeping and durable and owner is None
        self.incoming: dict[tuple[Any, ...], Binding] = {}  # bindings that lead here
        self.node = Node(NodeKind.QUEUE, name)
        self.deadline: float | None = None  # when unused long enough (no consumers meanwhile)
        self.timer_at: float | None = None  # the earliest wake-up asked of the broker
        self.ttl_timer_at: float | None = None  # RabbitMQ's TTL timer: armed for a head's expiry
        top = _number(self.arguments, "x-max-priority")  # never from a policy
        if top is not None:
            self.ready = PriorityReady(max(top, vhost.broker.profile.least_max_priority))
        self.policy: Policy | None = None  # what the vhost's policies apply here (`_policies`)
        self.operator_policy: Policy | None = None
        self._configure(self.arguments)

    def _configure(self, settings: Mapping[str, Any]) -> None:
        """What the arguments (met by any policy) add; validated before the queue was made."""
        self.message_ttl = _number(settings, "x-message-ttl")  # ms
        self.max_length = _number(settings, "x-max-length")
        self.max_length_bytes = _number(settings, "x-max-length-bytes")  # bodies only
        exchange = settings.get("x-dead-letter-exchange")
        key = settings.get("x-dead-letter-routing-key")
        self.dead_letter_exchange = None if exchange is None else utf8_text(exchange)
        self.dead_letter_routing_key = None if key is None else utf8_text(key)
        self.drops_head = self.refuses = self.refuse_dead_letters = False
        set_overflow(self, QUORUM_OVERFLOW_MODES if self.quorum else OVERFLOW_MODES, settings)
        self.expires_after = _number(settings, "x-expires")  # ms unused before deletion
        # kept only while limited by bytes (`pop_head`)
        self.ready_bytes = (
            sum(len(e.message.body) for e in self.ready) if self.max_length_bytes is not None else 0
        )
        self.special = (
            isinstance(self.ready, PriorityReady)
            or self.message_ttl is not None
            or self.max_length is not None
            or self.max_length_bytes is not None
        )

    def apply_policy(self, definition: Mapping[str, Any]) -> None:
        """Behave by the arguments met by a policy's `definition` (empty: by the arguments alone),
        and act on it now as RabbitMQ does: a lower length limit drops or dead-letters the head, a
        shorter TTL expires what it must, a new `expires` restarts the idle clock."""
        profile = self.vhost.broker.profile
        settings = queue_settings(
            self.type, self.arguments, definition, policy_expires=profile.quorum_policy_expires_wins
        )
        self._configure(settings)
        if self.quorum:
            self._quorum_limit(settings, profile)
        self.after_policy_change()

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, ready={len(self.ready)}, unacked={self.unacked})"

    def counts(self) -> tuple[int, int]:
        """What declare-ok reports: ready messages and consumers."""
        return len(self.ready), len(self.consumers)

    @property
    def message_counts(self) -> tuple[int, int]:
        """Ready and unacknowledged messages, as RabbitMQ reports them (`rabbitmqctl`, the API)."""
        return len(self.ready), self.unacked

    @property
    def type(self) -> str:
        kind = self.arguments.get("x-queue-type", "classic")
        return utf8_text(kind)

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
        self.quorum = True
        set_overflow(self, QUORUM_OVERFLOW_MODES, self.arguments)
        self.counts_deliveries = True
        self.count_from_first_delivery = profile.quorum_count_from_first_delivery
        self._quorum_limit(self.arguments, profile)
        self.requeue_to_back = profile.quorum_requeue_to_back

    def _quorum_limit(self, settings: Mapping[str, Any], profile: VersionProfile) -> None:
        limit = settings.get("x-delivery-limit", profile.quorum_default_delivery_limit)
        self.delivery_limit = limit if isinstance(limit, int) and limit >= 0 else None

    def as_delivered(self, entry: Entry) -> Message:
        """The message a consumer receives for `entry`: with `x-delivery-count` when counted."""
        message = entry.message
        count = entry.delivery_count
        acquired = getattr(entry, "acquired", 0)
        if not self.counts_deliveries or (count == 0 and not self.count_from_first_delivery and not acquired):
            return message
        counts = {"x-acquired-count": acquired} if acquired else {}
        if count or self.count_from_first_delivery:
            counts["x-delivery-count"] = count
        # RabbitMQ's quorum queues write the headers back sorted (measured on 3.10.8 and 4.0.5)
        headers = dict(sorted({**(message.properties.headers or {}), **counts}.items()))
        properties = with_changes(message.properties, headers=headers)
        return Message(message.id, message.exchange, message.routing_key, properties, message.body)

    def receive(self, message: Message, expiring: bool = False) -> bool:
        """Take a message routed here (published, or dead-lettered): `enqueue` for a plain
        queue, `offer` otherwise. False when the queue refused it."""
        if self.special or expiring:
            return self.offer(message, expiring)
        if self.vhost.broker.tracing:  # before enqueue, which may deliver at once
            self._enqueued(message, len(self.ready))
        self.enqueue(message)
        return True

    def _enqueued(self, message: Message, ahead: int) -> None:
        """The ENQUEUE event, with the place the copy takes (behind `ahead` others)."""
        self.vhost.broker.emit(
            EventKind.ENQUEUE,
            self.vhost_name,
            self.node,
            message=message.id,
            routing_key=message.routing_key,
            position=ahead + 1,
        )

    def enqueue(self, message: Message) -> Entry:
        """The fast path: a plain queue takes a message (its ENQUEUE event is the caller's)."""
        self.next_seq += 1
        entry = Entry(message, self.next_seq)
        if self.keeps and persists(self, message):
            self.vhost.broker.keep(KeepCopy(self, entry))
        self.ready.append(entry)
        if self.consumers:
            self.dispatch()
        return entry

    def requeue(self, entries: list[Entry], *, failed: bool = True) -> list[Entry]:
        """Put delivered copies back where they were (by their sequence), redelivered; a quorum
        queue counts the return (a `failed` delivery: all but 4.3's basic.nack), and gives back
        the entries over its delivery limit, dropped.
        Then, as RabbitMQ does after a requeue: drop the head while over a length limit, and
        let expired copies that reached the head go."""
        entries.sort(key=by_seq)
        for entry in entries:
            entry.redelivered = True
        dropped: list[Entry] = []
        if self.counts_deliveries:
            entries, dropped = self._count_returns(entries, failed)
            if self.keeps:
                for entry in entries:
                    if persists(self, entry.message):
                        self.vhost.broker.keep(ReturnedCopy(self, entry))
            if not entries:
                return dropped
        ready = self.ready
        if isinstance(ready, PriorityReady):
            ready.put_back(entries)
        elif self.requeue_to_back:
            cast("deque[Entry]", ready).extend(entries)
        else:
            merge_back(cast("deque[Entry]", ready), entries)
        if self.special:
            if self.max_length_bytes is not None:
                self.ready_bytes += sum(len(entry.message.body) for entry in entries)
            drop_over_limit(self)
            expire_head(self, self.vhost.broker.clock())
        if self.consumers:
            self.dispatch()
        return dropped

    def _count_returns(self, entries: list[Entry], failed: bool) -> tuple[list[Entry], list[Entry]]:
        kept: list[Entry] = []
        dropped: list[Entry] = []
        limit = self.delivery_limit
        acquired = self.vhost.broker.profile.quorum_acquired_count
        for entry in entries:
            if acquired:
                entry.acquired = getattr(entry, "acquired", 0) + 1
            if failed or not acquired:
                entry.delivery_count += 1
            (dropped if limit is not None and entry.delivery_count > limit else kept).append(entry)
        return kept, dropped

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.prioritised += consumer.priority != 0
        self.chooses = self.single_active or bool(self.prioritised)
        self.deadline = None  # a queue with a consumer is in use

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.remove(consumer)
        self.prioritised -= consumer.priority != 0
        self.chooses = self.single_active or bool(self.prioritised)
        if not self.consumers:
            self.touch()

    def dispatch(self) -> None:
        """Hand ready messages to consumers in turn, skipping those at their prefetch limit.
        One loop for every queue, the plain case inline (it runs once per delivery): the next
        consumer with room in the ring, unless single-active or priorities choose
        (`_chosen_consumer`); a special queue also keeps its byte count and, after each
        delivery, lets expired copies that reached the head go."""
        ready, consumers = self.ready, self.consumers
        special = self.special
        chooses = self.chooses
        now = self.vhost.broker.clock() if special else 0.0
        while ready and consumers:
            if chooses:
                chosen = self._chosen_consumer()
                if chosen is None:
                    return
                consumer = chosen
            else:
                for _ in range(len(consumers)):
                    consumer = consumers[0]
                    consumers.rotate(-1)
                    if consumer.has_room():
                        break
                else:
                    return
            consumer.channel.deliver(consumer, self, self.pop_head() if special else ready.popleft())
            if special:
                expire_head(self, now)

    def _chosen_consumer(self) -> Consumer | None:
        """Who takes the next message when the ring does not decide: the single active consumer
        (the ring is never rotated, so the oldest is first); or, with consumer priorities
        (`x-priority`), the highest-priority consumers with room in turn (lower ones only while
        all higher ones are at their limit)."""
        consumers = self.consumers
        if self.single_active:
            return consumers[0] if consumers[0].has_room() else None
        chosen: Consumer | None = None
        for consumer in consumers:
            if consumer.has_room() and (chosen is None or consumer.priority > chosen.priority):
                chosen = consumer
        if chosen is not None:
            consumers.remove(chosen)
            consumers.append(chosen)  # to the back of the ring: its equals go first next time
        return chosen

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
            self.special = True  # it holds a copy that can expire from now on
        broker = self.vhost.broker
        if self.refuses and full_for(self, message):
            refuse(self, message)
            return False
        now = broker.clock()
        self.next_seq += 1
        entry = Entry(message, self.next_seq)
        ttl = self.message_ttl
        if expiring:
            expiration = message.properties.expiration
            given = int(utf8_text(expiration))
            ttl = given if ttl is None else min(ttl, given)
        if ttl is not None:
            entry.expires = now + ttl / 1000
        if self.keeps and persists(self, message):
            broker.keep(KeepCopy(self, entry))
        ready = self.ready
        if broker.tracing:
            self._enqueued(message, ready.ahead_of(entry) if isinstance(ready, PriorityReady) else len(ready))
        was_empty = not ready
        ready.append(entry)
        if self.max_length_bytes is not None:
            self.ready_bytes += len(message.body)
        if self.consumers:
            self.dispatch()
            if was_empty and not ready:
                return True  # delivered straight away
        dropped = drop_over_limit(self)
        alone = len(ready) == 1
        if (dropped or alone) and not (dropped and alone and getattr(entry, "expires", None) is None):
            expire_head(self, now)
        return True

    def take(self) -> Entry | None:
        """The head for basic.get, as it is (RabbitMQ drops expired copies after a fetch, not
        before: the timer has taken care of a head that was due); `settle_head` follows."""
        return self.pop_head() if self.ready else None

    def settle_head(self) -> None:
        """After the head was taken: expired copies that reached the head go (so get-ok's
        count leaves them out, as RabbitMQ's does)."""
        expire_head(self, self.vhost.broker.clock())

    def purge(self) -> None:
        if self.keeps:
            for entry in self.ready:
                self.forget(entry)
        self.ready.clear()
        self.ready_bytes = 0

    def pop_head(self) -> Entry:
        entry = self.ready.popleft()
        if self.max_length_bytes is not None:
            self.ready_bytes -= len(entry.message.body)
        return entry

    # --- what a restart keeps (see `_durability`; callers test `keeps` first) -------------------

    def forget(self, entry: Entry) -> None:
        """The copy left this queue for good."""
        if persists(self, entry.message):
            self.vhost.broker.keep(ForgetCopy(self, entry))

    def delivered(self, entry: Entry, no_ack: bool) -> None:
        """The copy went to a client: gone if without ack; else marked (the first time; every
        time in a quorum queue, which counts what is out at a crash)."""
        if no_ack:
            self.forget(entry)
        elif (self.quorum or not entry.redelivered) and persists(self, entry.message):
            self.vhost.broker.keep(DeliveredCopy(self, entry))

    # --- time (see `_expiry`) ---------------------------------------------------------------------

    def after_policy_change(self) -> None:
        """As RabbitMQ's queue process on a policy change: over a new length limit the head goes
        (drop-head), expired copies leave the head, and the idle clock starts again."""
        if self.drops_head:
            drop_over_limit(self)
        if self.message_ttl is not None:
            expire_head(self, self.vhost.broker.clock())
        self.deadline = None
        _touch(self)

    def touch(self) -> None:
        """The queue was used (declared, read by basic.get, or its last consumer left)."""
        _touch(self)

    def due(self) -> float | None:
        return due_at(self)

    def wake(self, now: float) -> None:
        """The broker's timer for this queue went off."""
        _wake(self, now)
