"""Publishing: basic.publish's checks, routing into queues, basic.return for a mandatory
message that reached none, and the publisher confirm that follows."""

from __future__ import annotations

from rabbitsim.vocabulary import REPLY_KEY_PREFIX, REPLY_QUEUE, EventKind

from . import _direct_reply as direct_reply
from ._access import WRITE
from ._arguments import expiration_problem
from ._channel_base import CONFIRM, PLAIN, ChannelBase, Mode, Transaction, amqp_method
from ._errors import (
    ACCESS_REFUSED,
    NO_ROUTE,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    ChannelError,
    ConnectionError,
)
from ._exchange import Exchange
from ._firehose import trace_publish
from ._message import NO_PROPERTIES, Message, PropertiesLike, with_changes
from ._output import PublisherAck, PublisherNack, Return
from ._routing import wire_type
from ._text import display_text, utf8_text

_USUAL_DELIVERY_MODES = (None, 1, 2)  # transient, persistent; anything else is checked


def sender_selected(properties: PropertiesLike) -> tuple[PropertiesLike, tuple[str, ...]]:
    """Sender-selected distribution: the string keys listed in the `CC` and `BCC` headers route
    the message too, and `BCC` is taken out of what every queue gets. A header that is not an
    array is an invalid message (measured on 3.10.8 and 4.0.5: 406, `{unacceptable_type_in_header,
    "CC",longstr}` for a string); what in an array is not a string is ignored."""
    headers = properties.headers
    if not headers:
        return properties, ()
    keys: list[str] = []
    for name in ("CC", "BCC"):
        value = headers.get(name)
        if value is None:
            continue
        if not isinstance(value, list | tuple):
            raise ChannelError(
                PRECONDITION_FAILED,
                f'invalid message: {{unacceptable_type_in_header,"{name}",{wire_type(value)}}}',
            )
        keys += [utf8_text(key) for key in value if isinstance(key, str | bytes)]
    if "BCC" in headers:
        properties = with_changes(properties, headers={k: v for k, v in headers.items() if k != "BCC"})
    return properties, tuple(keys)


class Publishing(ChannelBase):
    """basic.publish, one message at a time, in the order RabbitMQ's channel takes the steps."""

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
        """basic.publish. The fast path, for a message none of `_checked_publish`'s checks can
        refuse or rewrite (a known, public exchange; no immediate, user-id, reply-to, expiration,
        unusual delivery mode or CC / BCC header; an open channel), skips them and the guard."""
        if self.timers:
            self.broker.run_timers()
        if len(body) > self.broker.profile.max_message_size:
            self._too_large(len(body))
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
            or not self.access.everything
            or ((headers := properties.headers) is not None and ("CC" in headers or "BCC" in headers))
        ):
            target, properties, cc = self._checked_publish(exchange, routing_key, properties, immediate)
            expiring = properties.expiration is not None
            message = self.broker.new_message(exchange, routing_key, properties, body)
            message.cc = cc
        else:
            message = self.broker.new_message(exchange, routing_key, properties, body)
        mode = self.mode
        if mode is PLAIN or mode is CONFIRM:
            self.route(target, message, mandatory, expiring)
        else:
            mode.publishes.append((target, message, mandatory))

    @amqp_method("basic.publish", reply=False)
    def _too_large(self, size: int) -> None:
        """A body over `max_message_size` (3.x 128 MiB, 4.x 16 MiB) closes the channel."""
        limit = self.broker.profile.max_message_size
        raise ChannelError(
            PRECONDITION_FAILED, f"message size {size} is larger than configured max size {limit}"
        )

    @amqp_method("basic.publish", reply=False)
    def _checked_publish(
        self, exchange: str, routing_key: str, properties: PropertiesLike, immediate: bool
    ) -> tuple[Exchange, PropertiesLike, tuple[str, ...]]:
        """Everything that can refuse or rewrite a message, in RabbitMQ's order; and the routing
        keys the CC and BCC headers add."""
        if immediate:
            raise ConnectionError(NOT_IMPLEMENTED, "immediate=true")
        access = self.access
        access.check(WRITE, "exchange", exchange)  # before the exchange is looked up
        target = self.vhost.exchange(exchange)
        if target.internal:
            raise ChannelError(ACCESS_REFUSED, f"cannot publish to internal {target.described}")
        user_id = properties.user_id
        if user_id is not None and utf8_text(user_id) != self.connection.user:
            claimed, actual = utf8_text(user_id), self.connection.user
            raise ChannelError(
                PRECONDITION_FAILED,
                f"user_id property set to '{claimed}' but authenticated user was '{actual}'",
            )
        mode = properties.delivery_mode
        if mode not in _USUAL_DELIVERY_MODES and self.broker.profile.refuses_unknown_delivery_mode:
            raise ChannelError(PRECONDITION_FAILED, f"invalid message: {{delivery_mode_unknown,{mode}}}")
        properties, cc = sender_selected(properties)
        expiration = properties.expiration
        if expiration is not None and (problem := expiration_problem(expiration)) is not None:
            raise ChannelError(
                PRECONDITION_FAILED, f"invalid expiration '{display_text(expiration)}': {problem}"
            )
        if properties.reply_to == REPLY_QUEUE:
            if self.reply_key is None:
                raise ChannelError(PRECONDITION_FAILED, direct_reply.NO_CONSUMER)
            properties = with_changes(properties, reply_to=self.reply_key)
        if target.type == "topic" and not access.everything:
            for key in (routing_key, *cc):
                access.check_topic(WRITE, exchange, key)
        return target, properties, cc

    def route(self, exchange: Exchange, message: Message, mandatory: bool, expiring: bool = False) -> bool:
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
        if self.vhost.tracing:
            trace_publish(self, message, queues)
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
        if self.mode is CONFIRM:
            self._confirm(exchange, message, refused)
        return not refused

    def _confirm(self, exchange: Exchange, message: Message, refused: bool) -> None:
        self.published += 1
        if self.broker.tracing:
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


class ModeMethods(ChannelBase):
    """confirm.select and the tx class: a channel is plain, confirming, or transactional, and
    cannot switch between the last two."""

    @amqp_method("confirm.select")
    def confirm_select(self, *, nowait: bool = False) -> None:
        if isinstance(self.mode, Transaction):
            raise ChannelError(PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
        self.mode = Mode.CONFIRM

    @amqp_method("tx.select")
    def tx_select(self) -> None:
        if self.mode is Mode.CONFIRM:
            raise ChannelError(PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
        if not isinstance(self.mode, Transaction):
            self.mode = Transaction()

    @amqp_method("tx.commit")
    def tx_commit(self) -> None:
        """The transaction's publishes, then its settlements, in order; a new one opens."""
        transaction = self._open_transaction()
        self.mode = Transaction()
        refused = False
        for exchange, message, mandatory in transaction.publishes:
            expiring = message.properties.expiration is not None
            refused |= not self.route(exchange, message, mandatory, expiring)
        for settlement in transaction.settlements:
            self.settle_now(settlement)
        if refused:  # a full reject-publish queue refused a publish; the rest stands (measured)
            raise ChannelError(PRECONDITION_FAILED, "partial tx completion")

    @amqp_method("tx.rollback")
    def tx_rollback(self) -> None:
        transaction = self._open_transaction()
        self.restore_unacked(transaction.settlements)  # rolled-back acks leave their messages unacked
        self.mode = Transaction()

    def _open_transaction(self) -> Transaction:
        mode = self.mode
        if not isinstance(mode, Transaction):
            raise ChannelError(PRECONDITION_FAILED, "channel is not transactional")
        return mode
