"""Declaring: the exchange and queue methods of a channel (declare, delete, bind, unbind,
purge), with RabbitMQ's checks: reserved names, equivalence on redeclare, exclusive owners."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rabbitsim.vocabulary import REPLY_QUEUE, EventKind

from ._access import CONFIGURE, READ, WRITE
from ._arguments import (
    EXCHANGE_COMPARED_ARGUMENTS,
    QUEUE_ARGUMENT_DEFAULTS,
    QUEUE_COMPARED_ARGUMENTS,
    ages_in_ms,
    assert_same_arguments,
    assert_same_fields,
    check_exchange_arguments,
    check_exchange_names,
    check_queue_arguments,
    check_quorum_declare,
    check_stream_declare,
    resource,
    without_default_queue_type,
)
from ._channel_base import ChannelBase, amqp_method
from ._consumer_timeout import check_consumer_timeout_argument
from ._errors import ACCESS_REFUSED, NOT_IMPLEMENTED, PRECONDITION_FAILED, ChannelError, ConnectionError
from ._exchange import Exchange, binding_key
from ._output import DeclareOk
from ._queue import Queue
from ._routing import ROUTERS, parse_x_match
from ._stream import new_queue
from ._text import utf8_text


class Bindings(ChannelBase):
    """What queue.bind and exchange.bind (and their unbinds) share."""

    def _permit_binding(self, source: str, destination: str, is_queue: bool, routing_key: str) -> None:
        """RabbitMQ's order: write on the destination, neither end the default exchange, read on
        the source, and read on the routing key when the source is a topic exchange."""
        access = self.access
        access.check(WRITE, "queue" if is_queue else "exchange", destination)
        if not is_queue:
            self._refuse_default_exchange(destination)
        self._refuse_default_exchange(source)
        if not access.everything:
            access.check(READ, "exchange", source)
            found = self.vhost.exchanges.get(source)
            if found is not None and found.type == "topic":
                access.check_topic(READ, source, routing_key)

    def _bind_ends(self, source: str, destination: str, is_queue: bool) -> tuple[Exchange, Queue | Exchange]:
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
        self._permit_binding(source, destination, is_queue, routing_key)
        found_source, found_destination = self._bind_ends(source, destination, is_queue)
        arguments = dict(arguments or {})
        if found_source.type == "headers":
            parse_x_match(arguments)
        limit = self.broker.profile.topic_max_hash_words
        if limit is not None and found_source.type == "topic":
            hashes = routing_key.split(".").count("#")
            if hashes > limit:
                raise ChannelError(
                    PRECONDITION_FAILED,
                    f"Topic binding key '{routing_key}' uses {hashes} '#' wildcards, "
                    f"at most {limit} are allowed",
                )
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
        self._permit_binding(source, destination, is_queue, routing_key)
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


class ExchangeMethods(Bindings):
    """exchange.declare, delete, bind and unbind; exchange-to-exchange bindings share their
    checks with queue bindings (`_bind`, `_unbind`)."""

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
        nowait: bool = False,
    ) -> None:
        vhost = self.vhost
        if passive:
            self._refuse_default_exchange(exchange)
            if self.broker.profile.passive_declare_checks_access:
                self.access.check_any("exchange", exchange)
            vhost.exchange(exchange)
            return
        if exchange_type not in ROUTERS:
            error_class, code = self.broker.profile.unknown_exchange_type
            # RabbitMQ says "invalid" only for names that happen to be Erlang atoms; typos are "unknown"
            raise error_class(code, f"unknown exchange type '{exchange_type}'")
        self._refuse_default_exchange(exchange)
        access = self.access
        access.check(CONFIGURE, "exchange", exchange)
        arguments = dict(arguments or {})
        existing = vhost.exchanges.get(exchange)
        if existing is None:
            self._refuse_reserved_name("exchange", exchange)
            check_exchange_arguments(resource("exchange", exchange, vhost.name), arguments)
            alternate = arguments.get("alternate-exchange")
            if alternate is not None and not access.everything:
                access.check(WRITE, "exchange", utf8_text(alternate))
                access.check(READ, "exchange", exchange)
            existing = vhost.add_exchange(
                Exchange(
                    exchange,
                    exchange_type,
                    vhost.name,
                    durable=durable,
                    auto_delete=auto_delete,
                    internal=internal,
                    arguments=arguments,
                )
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
    def exchange_delete(self, exchange: str, *, if_unused: bool = False, nowait: bool = False) -> None:
        self._refuse_default_exchange(exchange)
        if exchange.startswith("amq."):
            raise ChannelError(
                ACCESS_REFUSED,
                f"deletion of system {resource('exchange', exchange, self.vhost.name)} not allowed",
            )
        self.access.check(CONFIGURE, "exchange", exchange)
        existing = self.vhost.exchanges.get(exchange)
        if existing is None:
            return
        if if_unused and existing.outgoing:
            raise ChannelError(PRECONDITION_FAILED, f"{existing.described} in use")
        self.vhost.delete_exchange(existing)

    @amqp_method("exchange.bind")
    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        *,
        nowait: bool = False,
    ) -> None:
        self._bind(source, destination, routing_key, arguments, is_queue=False)

    @amqp_method("exchange.unbind")
    def exchange_unbind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        *,
        nowait: bool = False,
    ) -> None:
        self._unbind(source, destination, routing_key, arguments, is_queue=False)


class QueueMethods(Bindings):
    """queue.declare, bind, unbind, purge and delete."""

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
        nowait: bool = False,
    ) -> DeclareOk:
        vhost = self.vhost
        if queue == REPLY_QUEUE or (passive and queue in self.broker.reply_keys.channels):
            return DeclareOk(queue, 0, 1)  # what RabbitMQ answers for the pseudo-queue
        if passive:
            if self.broker.profile.passive_declare_checks_access:
                self.access.check_any("queue", queue)
            found = vhost.queue(queue)
            found.check_access(self.connection)
            return self._declared(found)
        owner = self.connection if exclusive else None
        requested_durable, durable = durable, durable and not exclusive  # exclusive queues never persist
        if queue:
            self._refuse_reserved_name("queue", queue)
        else:
            queue = self.broker.generate_name("amq.gen")
        access = self.access
        access.check(CONFIGURE, "queue", queue)
        arguments = dict(arguments or {})
        existing = vhost.queues.get(queue)
        if existing is not None:
            existing.check_redeclare(owner)
            what = existing.described
            assert_same_fields(
                what,
                [("durable", existing.durable, durable), ("auto_delete", existing.auto_delete, auto_delete)],
            )
            profile = self.broker.profile
            current: Mapping[str, Any] = existing.arguments
            received: Mapping[str, Any] = arguments
            compared: tuple[str, ...] = QUEUE_COMPARED_ARGUMENTS
            if existing.is_stream:
                compared = profile.stream_compared_arguments
                if profile.stream_age_compared_in_ms:
                    current, received = ages_in_ms(current), ages_in_ms(received)
            if profile.records_queue_type:
                assert_same_arguments(what, current, received, compared, QUEUE_ARGUMENT_DEFAULTS)
            else:
                current, received = without_default_queue_type(current, received)
                assert_same_arguments(what, current, received, compared)
            return self._declared(existing)
        what = resource("queue", queue, vhost.name)
        kind = arguments.get("x-queue-type")
        stream = kind in ("stream", b"stream")
        if stream:
            check_exchange_names(what, arguments)
        else:
            check_queue_arguments(what, arguments)
        dead_letter_exchange = arguments.get("x-dead-letter-exchange")
        if dead_letter_exchange is not None and not access.everything:
            access.check(WRITE, "exchange", utf8_text(dead_letter_exchange))
            access.check(READ, "queue", queue)
        if stream:
            check_stream_declare(
                what,
                self.broker.profile,
                exclusive=exclusive,
                durable=requested_durable,
                auto_delete=auto_delete,
                arguments=arguments,
            )
        else:
            check_consumer_timeout_argument(self.broker.profile, what, arguments, kind)
        if kind in ("quorum", b"quorum"):
            check_quorum_declare(
                what,
                exclusive=exclusive,
                durable=requested_durable,
                auto_delete=auto_delete,
                arguments=arguments,
            )
        self.broker.check_queue_limit(vhost, queue)
        created = new_queue(
            queue, vhost, durable=durable, owner=owner, auto_delete=auto_delete, arguments=arguments
        )
        if created.type == "quorum":
            created.follow_quorum_rules(self.broker.profile)
        vhost.add_queue(created)
        if owner is not None:
            owner.exclusive_queues[queue] = created
        self._emit(
            EventKind.DECLARE,
            created.node,
            durable=durable,
            exclusive=exclusive,
            auto_delete=auto_delete,
            queue_type=created.type,
        )
        return self._declared(created)

    def _declared(self, queue: Queue) -> DeclareOk:
        """declare-ok. A declare (passive too) is a use of the queue, as far as `x-expires`
        goes. (Expired copies already left the head when their timer ran.)"""
        self.last_queue = queue.name
        queue.touch()
        return DeclareOk(queue.name, *queue.counts())

    @amqp_method("queue.bind")
    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        *,
        nowait: bool = False,
    ) -> None:
        queue, routing_key = self._queue_shortcut(queue, routing_key)
        self._bind(exchange, queue, routing_key, arguments, is_queue=True)

    @amqp_method("queue.unbind")
    def queue_unbind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        queue, routing_key = self._queue_shortcut(queue, routing_key)
        self._unbind(exchange, queue, routing_key, arguments, is_queue=True)

    @amqp_method("queue.purge")
    def queue_purge(self, queue: str, *, nowait: bool = False) -> int:
        found = self._usable_queue(queue)
        if found.is_stream:  # a log is only ever cut by retention
            raise ConnectionError(
                NOT_IMPLEMENTED, f"queue.purge not supported by stream queues {found.described}"
            )
        count = len(found.ready)
        if self.broker.tracing:
            for entry in found.ready:
                self._emit(EventKind.DROP, found.node, message=entry.message.id, reason="purged")
            self._emit(EventKind.PURGE, found.node, messages=count)
        found.purge()
        return count

    @amqp_method("queue.delete")
    def queue_delete(
        self, queue: str, *, if_unused: bool = False, if_empty: bool = False, nowait: bool = False
    ) -> int:
        name, _ = self._queue_shortcut(queue, "")
        self.access.check(CONFIGURE, "queue", name)
        found = self.vhost.queues.get(name)
        if found is None:
            return 0
        found.check_access(self.connection)
        if found.is_stream:  # a stream goes whatever it holds, and says it held nothing (measured)
            self.vhost.delete_queue(found)
            return 0
        if if_empty and found.ready:  # RabbitMQ checks emptiness first
            raise ChannelError(PRECONDITION_FAILED, f"{found.described} not empty")
        if if_unused and found.consumers:
            raise ChannelError(PRECONDITION_FAILED, f"{found.described} in use")
        return self.vhost.delete_queue(found)
