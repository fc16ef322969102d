"""A channel as the broker sees it, assembled from one part per AMQP idea.

Each public method is one AMQP method. It returns what the reply carries (which also goes on
the output road as a `Reply`), or raises an `AMQPError`; before it raises, the channel (soft
error) or the connection (hard error) is already closed here, with its unacked messages
requeued, so the adapter only has to tell the peer. What others must be told (deliveries,
returns, confirms, cancels) goes on the broker's output road.

Where each method lives:
- `_declaring`: exchange.* and queue.* (declare, delete, bind, unbind, purge);
- `_consuming`: basic.qos, consume, cancel, get, and the direct reply-to consumer;
- `_acknowledging`: delivery tags, basic.ack / nack / reject / recover;
- `_publishing`: basic.publish, returns and confirms; confirm.select and tx.*;
- here: the channel's own life (open, channel.flow, close).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rabbitsim.vocabulary import EventKind, Node, NodeKind

from . import _consumer_timeout as consumer_timeout
from ._access import Access
from ._acknowledging import Acknowledgements
from ._channel_base import Delivery, Mode, amqp_method
from ._consuming import ConsumerMethods
from ._declaring import ExchangeMethods, QueueMethods
from ._errors import NOT_IMPLEMENTED, REPLY_SUCCESS, AMQPError, ConnectionError
from ._publishing import ModeMethods, Publishing

if TYPE_CHECKING:
    from ._connection import Connection
    from ._consumer import Consumer


class Channel(ExchangeMethods, QueueMethods, ConsumerMethods, Acknowledgements, Publishing, ModeMethods):
    def __init__(self, connection: Connection, number: int) -> None:
        self.connection = connection
        self.number = number
        self.broker = connection.broker
        self.timers = self.broker.timers
        self.vhost = connection.vhost
        #: what the user may do here (`_access`): read afresh, remembered per channel
        self.access = Access(self.broker, connection.user, self.vhost.name)
        self.is_open = True
        self.mode = Mode.PLAIN
        self.next_delivery_tag = 0
        self.unacked: dict[int, Delivery] = {}
        self.consumers: dict[str, Consumer] = {}
        self.consumer_prefetch = 0
        self.global_prefetch = 0
        self.consumer_unacked = 0
        self.published = 0
        self.last_queue = ""
        self.reply_consumer = None
        self.reply_key = None
        self.node = Node(NodeKind.CHANNEL, f"{connection.name}#{number}", connection.name, number)
        self.publisher = Node(NodeKind.PUBLISHER, f"{connection.name}#{number}", connection.name, number)
        consumer_timeout.opened(self)

    def __repr__(self) -> str:
        return f"Channel({self.connection.name}#{self.number})"

    @amqp_method("channel.flow")
    def channel_flow(self, active: bool) -> bool:
        if not active:
            raise ConnectionError(NOT_IMPLEMENTED, "active=false")
        return True

    def close(self) -> None:
        """channel.close from the client (its close-ok is the adapter's: it owns channel numbers)."""
        if self.is_open:
            self.shut_down(None)

    def shut_down(self, error: AMQPError | None) -> None:
        """Requeue everything unacked, drop consumers (auto-delete queues may go), forget the channel."""
        if not self.is_open:
            return
        self.is_open = False
        transaction = self.transaction
        if transaction is not None:  # uncommitted acks are void: those messages go back too
            self.restore_unacked(transaction.settlements)
            self.mode = Mode.PLAIN
        deliveries = list(self.unacked.values())
        self.unacked.clear()
        for consumer in list(self.consumers.values()):
            self.forget_consumer(consumer)  # first, so the requeue below cannot deliver to them
        self.stop_replies()
        self.requeue(deliveries, None)
        self.connection.channels.pop(self.number, None)
        self._emit(
            EventKind.CHANNEL_CLOSED,
            self.node,
            reply_code=error.reply_code if error else REPLY_SUCCESS,
            reply_text=error.reply_text if error else "",
        )
