"""A channel as the broker sees it: declares, publishes, consumers, delivery tags, acks,
prefetch, publisher confirms and transactions.

Each public method is one AMQP method. It returns what the reply carries, or raises an
`AMQPError`; before it raises, the channel (soft error) or the connection (hard error) is
already closed here, with its unacked messages requeued, so the adapter only has to tell
the peer. Messages for other parties (deliveries, returns, confirms, cancels) go to the
connections' outboxes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from . import _direct_reply as direct_reply
from ._arguments import (
    EXCHANGE_COMPARED_ARGUMENTS,
    QUEUE_ARGUMENT_DEFAULTS,
    QUEUE_COMPARED_ARGUMENTS,
    assert_same_arguments,
    assert_same_fields,
    check_exchange_arguments,
    check_queue_arguments,
    check_quorum_declare,
    expiration_problem,
    resource,
    without_default_queue_type,
)
from ._deadletter import dead_letter
from ._direct_reply import REPLY_KEY_PREFIX, REPLY_QUEUE
from ._errors import (
    ACCESS_REFUSED,
    CHANNEL_ERROR,
    NO_ROUTE,
    NOT_ALLOWED,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    AMQPError,
    ChannelError,
    ConnectionError,
)
from ._events import EventKind, Node, NodeKind
from ._exchange import Exchange, binding_key
from ._message import (
    NO_PROPERTIES,
    ConsumerCancelled,
    DeclareOk,
    Deliver,
    Entry,
    GetOk,
    Message,
    PropertiesLike,
    PublisherAck,
    PublisherNack,
    Return,
    with_changes,
)
from ._queue import Consumer, Queue
from ._routing import ROUTERS, parse_x_match

if TYPE_CHECKING:
    from ._connection import Connection

P = ParamSpec("P")
R = TypeVar("R")

#: One delivery awaiting ack: its tag, the copy, its queue, and the consumer (None for basic.get).
Unacked = tuple[int, Entry, Queue, Consumer | None]


def amqp_method(
    name: str,
) -> Callable[[Callable[Concatenate[Channel, P], R]], Callable[Concatenate[Channel, P], R]]:
    """Mark a method as the AMQP method `name`: errors raised anywhere below it name that
    method, and close what they must before they reach the caller."""

    def wrap(method: Callable[Concatenate[Channel, P], R]) -> Callable[Concatenate[Channel, P], R]:
        @functools.wraps(method)
        def guarded(self: Channel, *args: P.args, **kwargs: P.kwargs) -> R:
            if not self.is_open:
                raise ConnectionError(CHANNEL_ERROR, "expected 'channel.open'", name)
            if self.timers:  # what fell due since the last method happens first
                self.broker.run_due()
            try:
                return method(self, *args, **kwargs)
            except AMQPError as error:
                self.fail(error, name)
                raise

        return guarded  # type: ignore[return-value]

    return wrap


_USUAL_DELIVERY_MODES = (None, 1, 2)  # transient, persistent; anything else is checked


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Channel:
    def __init__(self, connection: Connection, number: int) -> None:
        self.connection = connection
        self.number = number
        self.broker = connection.broker
        self.timers = self.broker.timers  # the broker's heap itself: tested before each method
        self.vhost = connection.vhost
        self.is_open = True
        self.next_delivery_tag = 0
        self.unacked: dict[int, Unacked] = {}  # by delivery tag, oldest first
        self.consumers: dict[str, Consumer] = {}
        self.consumer_prefetch = 0  # basic.qos global=false: applies to consumers made later
        self.global_prefetch = 0  # basic.qos global=true: all consumers of the channel together
        self.consumer_unacked = 0  # unacked deliveries to consumers that ack
        self.confirming = False
        self.published = 0  # publish sequence number in confirm mode
        self.transaction: (
            tuple[list[tuple[Exchange, Message, bool]], list[tuple[str, list[Unacked]]]] | None
        ) = None
        self.last_queue = ""  # for the empty-name shortcut in bind / consume / get ...
        self.reply_consumer: str | None = None  # the consumer tag of a direct reply-to consumer
        self.reply_key: str | None = None  # what `reply_to="amq.rabbitmq.reply-to"` becomes
        self.node = Node(NodeKind.CHANNEL, f"{connection.name}#{number}", connection.name, number)
        self.publisher = Node(NodeKind.PUBLISHER, f"{connection.name}#{number}", connection.name, number)

    def __repr__(self) -> str:
        return f"Channel({self.connection.name}#{self.number})"

    # --- failure -------------------------------------------------------------------------------

    def fail(self, error: AMQPError, method: str) -> None:
        """Close what `error` closes: this channel, or (hard errors) the whole connection."""
        error.blame(method)
        if isinstance(error, ConnectionError):
            self.connection.shut_down(error)
        else:
            self.shut_down(error)

    # --- exchanges -----------------------------------------------------------------------------

    @amqp_method("exchange.declare")
    def exchange_declare(
        self,
        exchange: str,
        exchange_type: str = "direct",
        *,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        vhost = self.vhost
        if passive:
            self._refuse_default_exchange(exchange)
            vhost.exchange(exchange)
            return
        if exchange_type not in ROUTERS:
            error_class, code = self.broker.profile.unknown_exchange_type
            # RabbitMQ says "invalid" only for names that happen to be Erlang atoms; typos are "unknown"
            raise error_class(code, f"unknown exchange type '{exchange_type}'")
        self._refuse_default_exchange(exchange)
        arguments = dict(arguments or {})
        existing = vhost.exchanges.get(exchange)
        if existing is None:
            self._refuse_reserved_name("exchange", exchange)
            check_exchange_arguments(resource("exchange", exchange, vhost.name), arguments)
            existing = vhost.exchanges[exchange] = Exchange(
                exchange,
                exchange_type,
                vhost.name,
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=arguments,
            )
            self._emit(EventKind.DECLARE, existing.node, type=exchange_type, durable=durable)
            return
        what = existing.described
        assert_same_fields(
            what,
            [
                ("type", existing.type, exchange_type),
                ("durable", existing.durable, durable),
                ("auto_delete", existing.auto_delete, auto_delete),
                ("internal", existing.internal, internal),
            ],
        )
        assert_same_arguments(what, existing.arguments, arguments, EXCHANGE_COMPARED_ARGUMENTS)

    @amqp_method("exchange.delete")
    def exchange_delete(self, exchange: str, *, if_unused: bool = False) -> None:
        self._refuse_default_exchange(exchange)
        if exchange.startswith("amq."):
            raise ChannelError(
                ACCESS_REFUSED,
                f"deletion of system {resource('exchange', exchange, self.vhost.name)} not allowed",
            )
        existing = self.vhost.exchanges.get(exchange)
        if existing is None:
            return
        if if_unused and existing.outgoing:
            raise ChannelError(PRECONDITION_FAILED, f"{existing.described} in use")
        self.vhost.delete_exchange(existing)

    @amqp_method("exchange.bind")
    def exchange_bind(
        self, destination: str, source: str, routing_key: str = "", arguments: Mapping[str, Any] | None = None
    ) -> None:
        self._bind(source, self._refuse_default_exchange(destination), routing_key, arguments, is_queue=False)

    @amqp_method("exchange.unbind")
    def exchange_unbind(
        self, destination: str, source: str, routing_key: str = "", arguments: Mapping[str, Any] | None = None
    ) -> None:
        self._unbind(
            source, self._refuse_default_exchange(destination), routing_key, arguments, is_queue=False
        )

    # --- queues --------------------------------------------------------------------------------

    @amqp_method("queue.declare")
    def queue_declare(
        self,
        queue: str = "",
        *,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> DeclareOk:
        vhost = self.vhost
        if queue == REPLY_QUEUE or (passive and queue in self.broker.reply_keys.channels):
            return DeclareOk(queue, 0, 1)  # what RabbitMQ answers for the pseudo-queue
        if passive:
            found = vhost.queue(queue)
            found.check_access(self.connection)
            return self._declared(found)
        owner = self.connection if exclusive else None
        requested_durable, durable = durable, durable and not exclusive  # exclusive queues never persist
        if queue:
            self._refuse_reserved_name("queue", queue)
        else:
            queue = self.broker.generate_name("amq.gen")
        arguments = dict(arguments or {})
        existing = vhost.queues.get(queue)
        if existing is not None:
            existing.check_redeclare(owner)
            what = existing.described
            assert_same_fields(
                what,
                [("durable", existing.durable, durable), ("auto_delete", existing.auto_delete, auto_delete)],
            )
            if self.broker.profile.records_queue_type:
                assert_same_arguments(
                    what, existing.arguments, arguments, QUEUE_COMPARED_ARGUMENTS, QUEUE_ARGUMENT_DEFAULTS
                )
            else:
                current, received = without_default_queue_type(existing.arguments, arguments)
                assert_same_arguments(what, current, received, QUEUE_COMPARED_ARGUMENTS)
            return self._declared(existing)
        what = resource("queue", queue, vhost.name)
        check_queue_arguments(what, arguments)
        if arguments.get("x-queue-type") in ("quorum", b"quorum"):
            check_quorum_declare(
                what,
                exclusive=exclusive,
                durable=requested_durable,
                auto_delete=auto_delete,
                arguments=arguments,
            )
        created = vhost.queues[queue] = Queue(
            queue, vhost, durable=durable, owner=owner, auto_delete=auto_delete, arguments=arguments
        )
        if created.type == "quorum":
            created.follow_quorum_rules(self.broker.profile)
        if owner is not None:
            owner.exclusive_queues[queue] = created
        self._emit(
            EventKind.DECLARE, created.node, durable=durable, exclusive=exclusive, auto_delete=auto_delete
        )
        return self._declared(created)

    def _declared(self, queue: Queue) -> DeclareOk:
        """declare-ok. A declare (passive too) is a use of the queue, as far as `x-expires`
        goes. (Expired copies already left the head when their timer ran.)"""
        self.last_queue = queue.name
        queue.touch()
        return DeclareOk(queue.name, len(queue.ready), len(queue.consumers))

    @amqp_method("queue.bind")
    def queue_bind(
        self, queue: str, exchange: str, routing_key: str = "", arguments: Mapping[str, Any] | None = None
    ) -> None:
        queue, routing_key = self._queue_shortcut(queue, routing_key)
        self._bind(exchange, queue, routing_key, arguments, is_queue=True)

    @amqp_method("queue.unbind")
    def queue_unbind(
        self, queue: str, exchange: str, routing_key: str = "", arguments: Mapping[str, Any] | None = None
    ) -> None:
        queue, routing_key = self._queue_shortcut(queue, routing_key)
        self._unbind(exchange, queue, routing_key, arguments, is_queue=True)

    @amqp_method("queue.purge")
    def queue_purge(self, queue: str) -> int:
        found = self._usable_queue(queue)
        count = len(found.ready)
        if self.broker.tracing:
            for entry in found.ready:
                self._emit(EventKind.DROP, found.node, message=entry.message.id, reason="purged")
            self._emit(EventKind.PURGE, found.node, messages=count)
        found.purge()
        return count

    @amqp_method("queue.delete")
    def queue_delete(self, queue: str, *, if_unused: bool = False, if_empty: bool = False) -> int:
        name, _ = self._queue_shortcut(queue, "")
        found = self.vhost.queues.get(name)
        if found is None:
            return 0
        found.check_access(self.connection)
        if if_empty and found.ready:  # RabbitMQ checks emptiness first
            raise ChannelError(PRECONDITION_FAILED, f"{found.described} not empty")
        if if_unused and found.consumers:
            raise ChannelError(PRECONDITION_FAILED, f"{found.described} in use")
        return self.vhost.delete_queue(found)

    # --- consuming -----------------------------------------------------------------------------

    @amqp_method("basic.qos")
    def basic_qos(self, prefetch_count: int = 0, *, global_qos: bool = False, prefetch_size: int = 0) -> None:
        if prefetch_size:
            raise ConnectionError(NOT_IMPLEMENTED, f"prefetch_size!=0 ({prefetch_size})")
        if global_qos:
            self.global_prefetch = prefetch_count
            for queue in {consumer.queue: None for consumer in self.consumers.values()}:
                queue.dispatch()  # a raised limit may free consumers at once
        else:
            self.consumer_prefetch = prefetch_count

    @amqp_method("basic.consume")
    def basic_consume(
        self,
        queue: str = "",
        consumer_tag: str = "",
        *,
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> str:
        if consumer_tag in self.consumers:
            raise ConnectionError(NOT_ALLOWED, f"attempt to reuse consumer tag '{consumer_tag}'")
        if queue == REPLY_QUEUE:
            return self._consume_replies(consumer_tag, no_ack)
        found = self._usable_queue(queue)
        if self.global_prefetch and found.type == "quorum":
            raise ConnectionError(NOT_IMPLEMENTED, f"{found.described} does not support global qos")
        if found.exclusive_consumer or (exclusive and found.consumers):
            raise ChannelError(ACCESS_REFUSED, f"{found.described} in exclusive use")
        tag = consumer_tag or self.broker.generate_name("amq.ctag")
        consumer = Consumer(
            tag,
            self,
            found,
            no_ack=no_ack,
            exclusive=exclusive,
            prefetch=self.consumer_prefetch,
            arguments=arguments or {},
        )
        self.consumers[tag] = consumer
        found.add_consumer(consumer)
        found.exclusive_consumer = exclusive
        self._emit(
            EventKind.CONSUMER_ADDED, found.node, consumer.node, no_ack=no_ack, prefetch=consumer.prefetch
        )
        found.dispatch()
        return tag

    def _consume_replies(self, consumer_tag: str, no_ack: bool) -> str:
        """basic.consume on `amq.rabbitmq.reply-to`: no queue, just a key naming this channel."""
        if not no_ack:
            raise ChannelError(PRECONDITION_FAILED, direct_reply.NEEDS_ACK)
        if self.reply_consumer is not None:
            raise ChannelError(PRECONDITION_FAILED, direct_reply.ALREADY_SET)
        tag = self.reply_consumer = consumer_tag or self.broker.generate_name("amq.ctag")
        self.reply_key = self.broker.reply_keys.register(self)
        reply_node = Node(NodeKind.QUEUE, self.reply_key)
        consumer_node = Node(NodeKind.CONSUMER, tag, self.connection.name, self.number)
        self._emit(EventKind.CONSUMER_ADDED, reply_node, consumer_node, no_ack=True, prefetch=0)
        return tag

    def _stop_replies(self) -> None:
        if self.reply_key is not None:
            self.broker.reply_keys.forget(self.reply_key)
        self.reply_consumer = self.reply_key = None

    def deliver_reply(self, message: Message) -> None:
        """A reply published to this channel's reply key. RabbitMQ stamps it with the next
        delivery tag without using the tag up: nothing is acked."""
        assert self.reply_consumer is not None
        tag = self.next_delivery_tag + 1
        if self.broker.tracing:
            reply_node = Node(NodeKind.QUEUE, message.routing_key)
            consumer_node = Node(NodeKind.CONSUMER, self.reply_consumer, self.connection.name, self.number)
            self._emit(
                EventKind.DELIVER,
                reply_node,
                consumer_node,
                message=message.id,
                routing_key=message.routing_key,
                delivery_tag=tag,
                redelivered=False,
                no_ack=True,
            )
        self.connection.send(
            self.number, Deliver(self.reply_consumer, tag, False, "", message.routing_key, message)
        )

    @amqp_method("basic.cancel")
    def basic_cancel(self, consumer_tag: str) -> str:
        consumer = self.consumers.get(consumer_tag)
        if consumer is not None:
            self.forget_consumer(consumer)
        elif consumer_tag == self.reply_consumer:
            self._stop_replies()
        return consumer_tag

    def forget_consumer(self, consumer: Consumer, *, notify: ConsumerCancelled | None = None) -> None:
        """Detach a consumer. Its unacked messages stay unacked on the channel; an auto-delete
        queue goes when its last consumer does. `notify` is sent when the broker cancels."""
        del self.consumers[consumer.tag]
        queue = consumer.queue
        queue.remove_consumer(consumer)
        if consumer.exclusive:
            queue.exclusive_consumer = False
        self._emit(EventKind.CONSUMER_CANCELLED, queue.node, consumer.node, by_broker=notify is not None)
        if notify is not None:
            self.connection.send(self.number, notify)
        elif queue.auto_delete and not queue.consumers and not queue.deleted:
            self.vhost.delete_queue(queue, reason="auto-delete")

    @amqp_method("basic.get")
    def basic_get(self, queue: str = "", *, no_ack: bool = False) -> GetOk | None:
        found = self._usable_queue(queue)
        if found.expires_after is not None:
            found.touch()
        if found.special:
            taken = found.take()
            if taken is None:
                return None
            entry = taken
        elif found.ready:
            entry = found.ready.popleft()
        else:
            return None
        tag = self.next_delivery_tag = self.next_delivery_tag + 1
        if not no_ack:
            self.unacked[tag] = (tag, entry, found, None)
            found.unacked += 1
        message = found.as_delivered(entry) if found.counts_deliveries else entry.message
        if self.broker.tracing:
            self._emit(
                EventKind.DELIVER,
                found.node,
                self.node,
                message=message.id,
                routing_key=message.routing_key,
                delivery_tag=tag,
                redelivered=entry.redelivered,
                no_ack=no_ack,
                get=True,
            )
        if found.special:
            found.settle_head()
        return GetOk(tag, entry.redelivered, message.exchange, message.routing_key, len(found.ready), message)

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry) -> None:
        """Called by a queue's dispatch: give `entry` to `consumer` with the next delivery tag."""
        tag = self.next_delivery_tag = self.next_delivery_tag + 1
        if not consumer.no_ack:
            self.unacked[tag] = (tag, entry, queue, consumer)
            consumer.unacked += 1
            self.consumer_unacked += 1
            queue.unacked += 1
        message = queue.as_delivered(entry) if queue.counts_deliveries else entry.message
        if self.broker.tracing:
            self._emit(
                EventKind.DELIVER,
                queue.node,
                consumer.node,
                message=message.id,
                routing_key=message.routing_key,
                delivery_tag=tag,
                redelivered=entry.redelivered,
                no_ack=consumer.no_ack,
            )
        self.connection.send(
            self.number,
            Deliver(consumer.tag, tag, entry.redelivered, message.exchange, message.routing_key, message),
        )

    # --- acknowledgements ------------------------------------------------------------------------

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        if not multiple and self.transaction is None and self.is_open:
            record = self.unacked.pop(delivery_tag, None)  # the hot path: one tag, no transaction
            if record is not None:
                self._settle_one(record, "ack")
                return
        self._ack(delivery_tag, multiple)

    @amqp_method("basic.ack")
    def _ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle("ack", self._take_unacked(delivery_tag, multiple), requeue=False)

    @amqp_method("basic.nack")
    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        self._settle("nack", self._take_unacked(delivery_tag, multiple), requeue=requeue)

    @amqp_method("basic.reject")
    def basic_reject(self, delivery_tag: int, requeue: bool = True) -> None:
        self._settle("reject", self._take_unacked(delivery_tag, False), requeue=requeue)

    @amqp_method("basic.recover")
    def basic_recover(self, requeue: bool = True) -> None:
        if not requeue:
            raise ConnectionError(NOT_IMPLEMENTED, "requeue=false")
        records = list(self.unacked.values())
        self.unacked.clear()
        self._requeue(records)

    def _take_unacked(self, delivery_tag: int, multiple: bool) -> list[Unacked]:
        """Remove and return the deliveries an ack names: one tag, every tag up to it
        (`multiple`), or all (`multiple` with tag 0). The named tag must be unacked."""
        unacked = self.unacked
        if multiple and delivery_tag == 0:
            taken = list(unacked.values())
            unacked.clear()
            return taken
        if delivery_tag not in unacked:
            raise ChannelError(PRECONDITION_FAILED, f"unknown delivery tag {delivery_tag}")
        if not multiple:
            return [unacked.pop(delivery_tag)]
        tags = [tag for tag in unacked if tag <= delivery_tag]
        return [unacked.pop(tag) for tag in tags]

    def _settle(self, action: str, records: list[Unacked], *, requeue: bool) -> None:
        if self.transaction is not None:
            self.transaction[1].append((f"{action}:{'requeue' if requeue else 'drop'}", records))
            return
        if requeue:
            self._requeue(records, action)
            return
        settle = self._settle_one if action == "ack" else self._discard_one
        for record in records:
            settle(record, action)

    def _settle_one(self, record: Unacked, action: str) -> None:
        """An ack: the copy leaves the broker."""
        _tag, entry, queue, consumer = record
        queue.unacked -= 1
        if self.broker.tracing:
            self._emit(
                EventKind(action),
                queue.node,
                consumer.node if consumer else self.node,
                message=entry.message.id,
                requeue=False,
            )
        if consumer is not None:
            consumer.unacked -= 1
            self.consumer_unacked -= 1
            if queue.ready:
                queue.dispatch()
            if self.global_prefetch:
                self._dispatch_all()

    def _discard_one(self, record: Unacked, action: str) -> None:
        """A nack or reject without requeue: the copy leaves its queue, to the queue's
        dead-letter exchange if it has one (not once the queue is deleted)."""
        _tag, entry, queue, consumer = record
        queue.unacked -= 1
        self._emit(
            EventKind(action),
            queue.node,
            consumer.node if consumer else self.node,
            message=entry.message.id,
            requeue=False,
        )
        if consumer is not None:
            consumer.unacked -= 1
            self.consumer_unacked -= 1
        if queue.deleted:
            self._emit(EventKind.DROP, queue.node, message=entry.message.id, reason="rejected")
        else:
            dead_letter(queue, entry.message, "rejected")
        if consumer is not None:
            if queue.ready:
                queue.dispatch()
            if self.global_prefetch:
                self._dispatch_all()

    def _requeue(self, records: list[Unacked], action: str | None = None) -> None:
        """Return deliveries to their queues, in their original places, marked redelivered."""
        by_queue: dict[Queue, list[Entry]] = {}
        tracing = self.broker.tracing
        for _tag, entry, queue, consumer in records:
            queue.unacked -= 1
            if consumer is not None:
                consumer.unacked -= 1
                self.consumer_unacked -= 1
            if tracing:
                if action:
                    self._emit(
                        EventKind(action),
                        queue.node,
                        consumer.node if consumer else self.node,
                        message=entry.message.id,
                        requeue=True,
                    )
                reason = "deleted-queue" if queue.deleted else action or "recover"
                self._emit(
                    EventKind.DROP if queue.deleted else EventKind.REQUEUE,
                    queue.node,
                    message=entry.message.id,
                    reason=reason,
                )
            if not queue.deleted:
                by_queue.setdefault(queue, []).append(entry)
        for queue, entries in by_queue.items():
            for entry in queue.requeue(entries):
                dead_letter(queue, entry.message, "delivery_limit")
        self._dispatch_all()

    def _dispatch_all(self) -> None:
        for queue in {consumer.queue: None for consumer in self.consumers.values()}:
            if queue.ready:
                queue.dispatch()

    # --- publishing ----------------------------------------------------------------------------

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: PropertiesLike = NO_PROPERTIES,
        *,
        mandatory: bool = False,
        immediate: bool = False,
    ) -> None:
        if self.timers:  # what fell due since the last method happens first
            self.broker.run_due()
        target = self.vhost.exchanges.get(exchange)
        expiring = False
        if (
            target is None
            or target.internal
            or immediate
            or properties.user_id is not None
            or properties.reply_to is not None
            or properties.expiration is not None
            or properties.delivery_mode not in _USUAL_DELIVERY_MODES
            or not self.is_open
        ):
            target, properties = self._publish_checks(exchange, properties, immediate)
            expiring = properties.expiration is not None
        message = self.broker.new_message(exchange, routing_key, properties, body)
        if self.transaction is not None:
            self.transaction[0].append((target, message, mandatory))
        else:
            self._publish(target, message, mandatory, expiring)

    @amqp_method("basic.publish")
    def _publish_checks(
        self, exchange: str, properties: PropertiesLike, immediate: bool
    ) -> tuple[Exchange, PropertiesLike]:
        """The slow path of basic.publish: everything that can refuse or rewrite a message."""
        if immediate:
            raise ConnectionError(NOT_IMPLEMENTED, "immediate=true")
        target = self.vhost.exchange(exchange)
        if target.internal:
            raise ChannelError(ACCESS_REFUSED, f"cannot publish to internal {target.described}")
        user_id = properties.user_id
        if user_id is not None and _text(user_id) != self.connection.user:
            claimed, actual = _text(user_id), self.connection.user
            raise ChannelError(
                PRECONDITION_FAILED,
                f"user_id property set to '{claimed}' but authenticated user was '{actual}'",
            )
        mode = properties.delivery_mode
        if mode not in _USUAL_DELIVERY_MODES and self.broker.profile.refuses_unknown_delivery_mode:
            raise ChannelError(PRECONDITION_FAILED, f"invalid message: {{delivery_mode_unknown,{mode}}}")
        expiration = properties.expiration
        if expiration is not None and (problem := expiration_problem(expiration)) is not None:
            shown = expiration.decode(errors="replace") if isinstance(expiration, bytes) else expiration
            raise ChannelError(PRECONDITION_FAILED, f"invalid expiration '{shown}': {problem}")
        if properties.reply_to == REPLY_QUEUE:
            if self.reply_key is None:
                raise ChannelError(PRECONDITION_FAILED, direct_reply.NO_CONSUMER)
            properties = with_changes(properties, reply_to=self.reply_key)
        return target, properties

    def _publish(self, exchange: Exchange, message: Message, mandatory: bool, expiring: bool = False) -> bool:
        """Route and enqueue; return, confirm. False when a queue refused the message (its
        overflow is reject-publish): a confirming publisher then gets a nack, and a mandatory
        message is not returned (it was routed). Special queues (and a message with an
        `expiration`) go through `Queue.offer`."""
        broker = self.broker
        tracing = broker.tracing
        if tracing:
            self._emit(
                EventKind.PUBLISH,
                self.publisher,
                exchange.node,
                message=message.id,
                routing_key=message.routing_key,
                mandatory=mandatory,
            )
        queues = self.vhost.route(exchange, message)
        replied = False
        if not queues and not exchange.name and message.routing_key.startswith(REPLY_KEY_PREFIX):
            replier = broker.reply_keys.channels.get(message.routing_key)
            if replier is not None:  # still "unrouted": a mandatory reply is returned as well
                replier.deliver_reply(message)
                replied = True
        refused = False
        for queue in queues:
            refused |= not queue.receive(message, expiring)
        if not queues:
            if mandatory:
                if tracing:
                    self._emit(
                        EventKind.RETURN,
                        exchange.node,
                        self.publisher,
                        message=message.id,
                        routing_key=message.routing_key,
                        reply_code=NO_ROUTE,
                    )
                self.connection.send(
                    self.number, Return(NO_ROUTE, "NO_ROUTE", message.exchange, message.routing_key, message)
                )
            elif tracing and not replied:
                self._emit(EventKind.DROP, exchange.node, message=message.id, reason="unroutable")
        if self.confirming:
            self.published += 1
            if tracing:
                self._emit(
                    EventKind.CONFIRM,
                    exchange.node,
                    self.publisher,
                    message=message.id,
                    ack=not refused,
                    sequence=self.published,
                )
            if refused:  # `multiple`, as RabbitMQ coalesces a nack when nothing before it is pending
                self.connection.send(self.number, PublisherNack(self.published, multiple=True))
            else:
                self.connection.send(self.number, PublisherAck(self.published))
        return not refused

    # --- confirms and transactions ---------------------------------------------------------------

    @amqp_method("confirm.select")
    def confirm_select(self) -> None:
        if self.transaction is not None:
            raise ChannelError(PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
        self.confirming = True

    @amqp_method("tx.select")
    def tx_select(self) -> None:
        if self.confirming:
            raise ChannelError(PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
        if self.transaction is None:
            self.transaction = ([], [])

    @amqp_method("tx.commit")
    def tx_commit(self) -> None:
        publishes, settles = self._transaction()
        self.transaction = ([], [])
        refused = False
        for exchange, message, mandatory in publishes:
            expiring = message.properties.expiration is not None
            refused |= not self._publish(exchange, message, mandatory, expiring)
        self.transaction = None  # settle for real, then reopen the transaction
        try:
            for action, records in settles:
                name, mode = action.split(":")
                self._settle(name, records, requeue=mode == "requeue")
        finally:
            self.transaction = ([], [])
        if refused:  # a full reject-publish queue refused a publish; the rest stands (measured)
            raise ChannelError(PRECONDITION_FAILED, "partial tx completion")

    @amqp_method("tx.rollback")
    def tx_rollback(self) -> None:
        _publishes, settles = self._transaction()
        self._restore_unacked(settles)  # rolled-back acks leave their messages unacked
        self.transaction = ([], [])

    def _transaction(self) -> tuple[list[tuple[Exchange, Message, bool]], list[tuple[str, list[Unacked]]]]:
        if self.transaction is None:
            raise ChannelError(PRECONDITION_FAILED, "channel is not transactional")
        return self.transaction

    def _restore_unacked(self, settles: list[tuple[str, list[Unacked]]]) -> None:
        for _action, records in settles:
            for record in records:
                self.unacked[record[0]] = record
        self.unacked = dict(sorted(self.unacked.items()))

    # --- flow and close ------------------------------------------------------------------------

    @amqp_method("channel.flow")
    def channel_flow(self, active: bool) -> bool:
        if not active:
            raise ConnectionError(NOT_IMPLEMENTED, "active=false")
        return True

    def close(self) -> None:
        """channel.close from the client."""
        if self.is_open:
            self.shut_down(None)

    def shut_down(self, error: AMQPError | None) -> None:
        """Requeue everything unacked, drop consumers (auto-delete queues may go), forget the channel."""
        if not self.is_open:
            return
        self.is_open = False
        if self.transaction is not None:  # uncommitted acks are void: those messages go back too
            self._restore_unacked(self.transaction[1])
            self.transaction = None
        records = list(self.unacked.values())
        self.unacked.clear()
        for consumer in list(self.consumers.values()):
            self.forget_consumer(consumer)  # first, so the requeue below cannot deliver to them
        self._stop_replies()
        self._requeue(records, None)
        self.connection.channels.pop(self.number, None)
        self._emit(
            EventKind.CHANNEL_CLOSED,
            self.node,
            reply_code=error.reply_code if error else 200,
            reply_text=error.reply_text if error else "",
        )

    # --- helpers -------------------------------------------------------------------------------

    def _emit(
        self,
        kind: EventKind,
        source: Node | None = None,
        target: Node | None = None,
        *,
        message: int | None = None,
        routing_key: str | None = None,
        **detail: Any,
    ) -> None:
        if self.broker.tracing:
            self.broker.emit(kind, self.vhost.name, source, target, message, routing_key, **detail)

    def _queue_shortcut(self, queue: str, routing_key: str) -> tuple[str, str]:
        """An empty queue name means the channel's last declared queue (and so does an empty key)."""
        if queue:
            return queue, routing_key
        if not self.last_queue:
            raise ChannelError(NOT_FOUND, "no previously declared queue")
        return self.last_queue, routing_key or self.last_queue

    def _usable_queue(self, queue: str) -> Queue:
        name, _ = self._queue_shortcut(queue, "")
        found = self.vhost.queue(name)
        found.check_access(self.connection)
        return found

    def _refuse_default_exchange(self, name: str) -> str:
        if name == "":
            raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
        return name

    @staticmethod
    def _refuse_reserved_name(kind: str, name: str) -> None:
        if name.startswith("amq."):
            raise ChannelError(ACCESS_REFUSED, f"{kind} name '{name}' contains reserved prefix 'amq.*'")

    def _bind_ends(self, source: str, destination: str, is_queue: bool) -> tuple[Exchange, Queue | Exchange]:
        self._refuse_default_exchange(source)
        vhost = self.vhost
        found_source = vhost.exchange(source)
        if is_queue:
            found_queue = vhost.queue(destination)
            found_queue.check_access(self.connection)
            return found_source, found_queue
        return found_source, vhost.exchange(destination)

    def _bind(
        self,
        source: str,
        destination: str,
        routing_key: str,
        arguments: Mapping[str, Any] | None,
        *,
        is_queue: bool,
    ) -> None:
        found_source, found_destination = self._bind_ends(source, destination, is_queue)
        arguments = dict(arguments or {})
        if found_source.type == "headers":
            parse_x_match(arguments)
        self.vhost.add_binding(found_source, found_destination, routing_key, arguments)

    def _unbind(
        self,
        source: str,
        destination: str,
        routing_key: str,
        arguments: Mapping[str, Any] | None,
        *,
        is_queue: bool,
    ) -> None:
        self._refuse_default_exchange(source)
        vhost = self.vhost
        found_source = vhost.exchanges.get(source)
        found_destination = (vhost.queues if is_queue else vhost.exchanges).get(destination)
        if found_source is None or found_destination is None:
            return  # unbinding what is not there is not an error (RabbitMQ 3.10 and later)
        if isinstance(found_destination, Queue):
            found_destination.check_access(self.connection)
        binding = found_source.outgoing.get(
            binding_key(found_source, found_destination, routing_key, dict(arguments or {}))
        )
        if binding is not None:
            vhost.remove_binding(binding)
