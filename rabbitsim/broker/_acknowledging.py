"""Deliveries awaiting acknowledgement: delivery tags, basic.ack / nack / reject / recover, and
what each does to the copy (it leaves the broker, is dead-lettered, or goes back to its queue
in its original place, redelivered)."""

from __future__ import annotations

from typing import Any

from rabbitsim.vocabulary import EventKind

from ._channel_base import CONFIRM, PLAIN, ChannelBase, Delivery, Settlement, Transaction, amqp_method
from ._consumer import Consumer
from ._consumer_timeout import note_delivery
from ._deadletter import dead_letter
from ._errors import NOT_IMPLEMENTED, PRECONDITION_FAILED, ChannelError, ConnectionError, Crash
from ._firehose import trace_deliver
from ._message import Entry
from ._output import Deliver
from ._queue import Queue

ACK, NACK, REJECT = EventKind.ACK, EventKind.NACK, EventKind.REJECT


class Acknowledgements(ChannelBase):
    """The channel's unacked deliveries, by tag (per channel, from 1), and their settlement."""

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry) -> None:
        """Called by a queue's dispatch: give `entry` to `consumer` with the next delivery tag."""
        tag = self.next_delivery_tag = self.next_delivery_tag + 1
        no_ack = consumer.no_ack
        if not no_ack:
            self.unacked[tag] = (tag, entry, queue, consumer)
            consumer.unacked += 1
            self.consumer_unacked += 1
            queue.unacked += 1
            now = self.broker.clock()
            if now >= self.mark_until:  # consumer timeout: when this burst of deliveries began
                note_delivery(self, tag, now)
        if queue.keeps:
            queue.delivered(entry, no_ack)
        message = queue.as_delivered(entry) if queue.counts_deliveries else entry.message
        redelivered = entry.redelivered
        if self.broker.tracing:
            where: dict[str, Any] = {"offset": entry.seq} if queue.is_stream else {}  # its place in a log
            self._delivered(queue.node, consumer.node, message, tag, redelivered, no_ack=no_ack, **where)
        deliver = Deliver(consumer.tag, tag, redelivered, message.exchange, message.routing_key, message)
        self.broker.output.append((self.connection, self.number, deliver))  # `Connection.send`, inline
        if self.vhost.tracing:
            trace_deliver(self, queue, message, redelivered)

    # --- the methods ---------------------------------------------------------------------------

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        """basic.ack. The fast path, for the usual ack (one known tag, an open channel, no
        transaction), skips only the guard's bookkeeping; everything else takes `_basic_ack`."""
        if self.timers:
            self.broker.run_timers()
        mode = self.mode
        if not multiple and self.is_open and (mode is PLAIN or mode is CONFIRM):
            delivery = self.unacked.pop(delivery_tag, None)
            if delivery is not None:
                self._release(delivery, ACK, False, True)
                return
        self._basic_ack(delivery_tag, multiple)

    @amqp_method("basic.ack", reply=False)
    def _basic_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(Settlement(ACK, False, self._take_unacked(delivery_tag, multiple)))

    @amqp_method("basic.nack", reply=False)
    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        self._settle(Settlement(NACK, requeue, self._refusable(self._take_unacked(delivery_tag, multiple))))

    @amqp_method("basic.reject", reply=False)
    def basic_reject(self, delivery_tag: int, requeue: bool = True) -> None:
        self._settle(Settlement(REJECT, requeue, self._refusable(self._take_unacked(delivery_tag, False))))

    def _refusable(self, deliveries: list[Delivery]) -> list[Delivery]:
        """3.10 refuses to nack or reject what a stream delivered (the connection closes)."""
        if self.broker.profile.stream_refuses_nack:
            for _tag, _entry, queue, _consumer in deliveries:
                if queue.is_stream:
                    raise ConnectionError(
                        NOT_IMPLEMENTED,
                        f"basic.nack and basic.reject not supported by stream queues {queue.described}",
                    )
        return deliveries

    @amqp_method("basic.recover")
    def basic_recover(self, requeue: bool = True) -> None:
        self._recover(requeue)

    @amqp_method("basic.recover", reply=False)
    def basic_recover_async(self, requeue: bool = True) -> None:
        """The deprecated basic.recover-async: basic.recover without recover-ok (RabbitMQ names
        basic.recover in its errors)."""
        self._recover(requeue)

    def _recover(self, requeue: bool) -> None:
        if not requeue:
            raise ConnectionError(NOT_IMPLEMENTED, "requeue=false")
        deliveries = list(self.unacked.values())
        if self.broker.profile.stream_refuses_nack and any(
            queue.is_stream for _t, _e, queue, _c in deliveries
        ):
            raise Crash()  # 3.10's channel cannot requeue what a stream delivered
        self.unacked.clear()
        self.requeue(deliveries)

    # --- settling ------------------------------------------------------------------------------

    def _take_unacked(self, delivery_tag: int, multiple: bool) -> list[Delivery]:
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

    def _settle(self, settlement: Settlement) -> None:
        """Settle now, or at commit in a transaction (the deliveries stay out of `unacked`)."""
        mode = self.mode
        if isinstance(mode, Transaction):
            mode.settlements.append(settlement)
        else:
            self.settle_now(settlement)

    def settle_now(self, settlement: Settlement) -> None:
        if settlement.requeue:
            self.requeue(settlement.deliveries, settlement.action)
            return
        action = settlement.action
        for delivery in settlement.deliveries:
            if action is ACK:  # the copy leaves the broker
                self._release(delivery, action, False, True)
            else:
                self._discard(delivery, action)

    def _discard(self, delivery: Delivery, action: EventKind) -> None:
        """A nack or reject without requeue: the copy leaves its queue, to the queue's
        dead-letter exchange if it has one (not once the queue is deleted)."""
        self._release(delivery, action, False, False)
        _tag, entry, queue, consumer = delivery
        if queue.deleted:
            self._emit(EventKind.DROP, queue.node, message=entry.message.id, reason="rejected")
        elif not queue.is_stream:  # a stream keeps what its consumers reject
            dead_letter(queue, entry.message, "rejected")
        if consumer is not None:
            self._refill(queue)

    def _release(self, delivery: Delivery, action: EventKind | None, requeue: bool, refill: bool) -> None:
        """Take a settled delivery off the counts of its queue, consumer and channel, and say so
        (`action`, unless None). With `refill`, a consumer's freed prefetch lets its queues
        deliver again at once: an ack (the hottest settlement, so it is done here, in one call)."""
        _tag, entry, queue, consumer = delivery
        queue.unacked -= 1
        if not requeue and queue.keeps:
            queue.forget(entry)
        if consumer is not None:
            consumer.unacked -= 1
            self.consumer_unacked -= 1
        if action is not None and self.broker.tracing:
            at: dict[str, Any] = {"offset": entry.seq} if queue.is_stream else {}
            self._emit(
                action,
                queue.node,
                consumer.node if consumer else self.node,
                message=entry.message.id,
                requeue=requeue,
                **at,
            )
        if refill and consumer is not None:  # `_refill`, inline
            if queue.ready:
                queue.dispatch()
            if self.global_prefetch:
                self.dispatch_all()

    def _refill(self, queue: Queue) -> None:
        if queue.ready:
            queue.dispatch()
        if self.global_prefetch:
            self.dispatch_all()

    def requeue(self, deliveries: list[Delivery], action: EventKind | None = None) -> None:
        """Return deliveries to their queues, in their original places, marked redelivered."""
        by_queue: dict[Queue, list[Entry]] = {}
        tracing = self.broker.tracing
        for delivery in deliveries:
            self._release(delivery, action, True, False)
            _tag, entry, queue, _consumer = delivery
            if tracing and not (queue.is_stream and not queue.deleted):  # nothing returns to a log
                reason = "deleted-queue" if queue.deleted else action.value if action else "recover"
                self._emit(
                    EventKind.DROP if queue.deleted else EventKind.REQUEUE,
                    queue.node,
                    message=entry.message.id,
                    reason=reason,
                )
            if not queue.deleted:
                by_queue.setdefault(queue, []).append(entry)
        failed = action is not NACK or not self.broker.profile.quorum_acquired_count
        for queue, entries in by_queue.items():
            for entry in queue.requeue(entries, failed=failed):
                if queue.keeps:
                    queue.forget(entry)
                dead_letter(queue, entry.message, "delivery_limit")
        self.dispatch_all()

    def dispatch_all(self) -> None:
        for queue in {consumer.queue: None for consumer in self.consumers.values()}:
            if queue.ready:
                queue.dispatch()

    def restore_unacked(self, settlements: list[Settlement]) -> None:
        """Deliveries an uncommitted transaction settled are unacked again, in tag order."""
        for settlement in settlements:
            for delivery in settlement.deliveries:
                self.unacked[delivery[0]] = delivery
        self.unacked = dict(sorted(self.unacked.items()))
