"""Consuming: basic.qos, consume, cancel and get, and the direct reply-to consumer (a
consumer with no queue, see `_direct_reply`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rabbitsim.vocabulary import REPLY_QUEUE, EventKind, Node, NodeKind

from . import _direct_reply as direct_reply
from ._arguments import check_stream_consumer_arguments
from ._channel_base import ChannelBase, amqp_method
from ._consumer import Consumer
from ._consumer_timeout import check_consumer_timeout_argument, note_delivery
from ._errors import (
    ACCESS_REFUSED,
    NOT_ALLOWED,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    ChannelError,
    ConnectionError,
)
from ._firehose import trace_deliver
from ._message import Message
from ._output import ConsumerCancelled, Deliver, GetOk
from ._stream import Stream, check_stream_consume


class ConsumerMethods(ChannelBase):
    """How messages reach a channel: subscriptions (basic.consume) under its prefetch limits,
    and single fetches (basic.get)."""

    @amqp_method("basic.qos")
    def basic_qos(self, prefetch_count: int = 0, *, global_qos: bool = False, prefetch_size: int = 0) -> None:
        if prefetch_size:
            raise ConnectionError(NOT_IMPLEMENTED, f"prefetch_size!=0 ({prefetch_size})")
        if global_qos and self.broker.profile.global_qos:  # 4.3 applies a global limit per consumer
            self.global_prefetch = prefetch_count
        else:
            self.consumer_prefetch = prefetch_count
            if not self.global_prefetch:
                return
            self.global_prefetch = 0  # RabbitMQ's channel lifts its global limit too (rabbit_channel)
        for queue in {consumer.queue: None for consumer in self.consumers.values()}:
            queue.dispatch()  # a raised or lifted limit may free consumers at once

    @amqp_method("basic.consume")
    def basic_consume(
        self,
        queue: str = "",
        consumer_tag: str = "",
        *,
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: Mapping[str, Any] | None = None,
        nowait: bool = False,
    ) -> str:
        if consumer_tag in self.consumers:
            raise ConnectionError(NOT_ALLOWED, f"attempt to reuse consumer tag '{consumer_tag}'")
        if queue == REPLY_QUEUE:
            return self._consume_replies(consumer_tag, no_ack)
        found = self._usable_queue(queue)
        if found.is_stream:
            profile = self.broker.profile
            check_stream_consumer_arguments(found.described, profile, arguments or {})
            check_stream_consume(
                found, prefetch=self.consumer_prefetch, no_ack=no_ack, global_qos=bool(self.global_prefetch)
            )
        elif arguments:
            check_consumer_timeout_argument(self.broker.profile, found.described, arguments, found.type)
        if self.global_prefetch and found.type == "quorum":
            raise ConnectionError(NOT_IMPLEMENTED, f"{found.described} does not support global qos")
        if not found.is_stream and (found.exclusive_consumer or (exclusive and found.consumers)):
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
        found.exclusive_consumer = exclusive and not found.is_stream  # a stream has none (measured)
        if self.broker.tracing:
            place: dict[str, Any] = (
                {"offset": found.reading_at(consumer)} if isinstance(found, Stream) else {}
            )
            self._emit(
                EventKind.CONSUMER_ADDED,
                found.node,
                consumer.node,
                no_ack=no_ack,
                prefetch=consumer.prefetch,
                **place,
            )
        found.dispatch()
        return tag

    @amqp_method("basic.cancel")
    def basic_cancel(self, consumer_tag: str, *, nowait: bool = False) -> str:
        consumer = self.consumers.get(consumer_tag)
        if consumer is not None:
            self.forget_consumer(consumer)
        elif consumer_tag == self.reply_consumer:
            self.stop_replies()
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
        if found.is_stream:
            refused = f"basic.get not supported by stream queues {found.described}"
            raise ConnectionError(NOT_IMPLEMENTED, refused)
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
            now = self.broker.clock()
            if now >= self.mark_until:  # consumer timeout: basic.get deliveries count too
                note_delivery(self, tag, now)
        if found.keeps:
            found.delivered(entry, no_ack)
        message = found.as_delivered(entry) if found.counts_deliveries else entry.message
        if self.broker.tracing:
            self._delivered(found.node, self.node, message, tag, entry.redelivered, no_ack=no_ack, get=True)
        if found.special:
            found.settle_head()
        if self.vhost.tracing:
            trace_deliver(self, found, message, entry.redelivered)
        return GetOk(tag, entry.redelivered, message.exchange, message.routing_key, len(found.ready), message)

    # --- direct reply-to -------------------------------------------------------------------

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

    def stop_replies(self) -> None:
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
            self._delivered(reply_node, consumer_node, message, tag, False, no_ack=True)
        self.connection.send(
            self.number, Deliver(self.reply_consumer, tag, False, "", message.routing_key, message)
        )
