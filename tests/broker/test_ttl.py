"""Message TTL: the queue's `x-message-ttl` and a message's `expiration` (the lower applies),
expiry at the head only, TTL 0, and the time the core keeps for it. Every expectation was
measured on RabbitMQ 3.10.8 and 4.0.5 with pika (the two agree on all of it)."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim.broker import Broker, Channel, Deliver, EventKind, Properties, TraceEvent
from tests.broker.conftest import FakeClock, deliveries


def bodies(channel: Channel, queue: str) -> list[bytes]:
    """Every ready message, taken with basic.get."""
    out = []
    while (got := channel.basic_get(queue, no_ack=True)) is not None:
        out.append(got.message.body)
    return out


def ready(channel: Channel, queue: str) -> int:
    """What a passive declare reports."""
    return channel.queue_declare(queue, passive=True).message_count


def expiring(ms: int | str, **more: Any) -> Properties:
    return Properties(expiration=str(ms), **more)


def test_a_queue_ttl_expires_messages_after_that_long(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-message-ttl": 200})
    channel.basic_publish("", "q", b"m1")
    clock.now = 0.1
    channel.basic_publish("", "q", b"m2")
    clock.now = 0.199
    assert ready(channel, "q") == 2
    clock.now = 0.2  # m1 is due exactly now
    assert ready(channel, "q") == 1
    clock.now = 0.31
    assert ready(channel, "q") == 0


def test_the_lower_of_queue_ttl_and_message_expiration_applies(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("short-queue", arguments={"x-message-ttl": 200})
    channel.queue_declare("long-queue", arguments={"x-message-ttl": 100_000})
    channel.basic_publish("", "short-queue", b"long message", expiring(100_000))
    channel.basic_publish("", "long-queue", b"short message", expiring(200))
    clock.now = 0.05
    assert (ready(channel, "short-queue"), ready(channel, "long-queue")) == (1, 1)
    clock.now = 0.45
    assert (ready(channel, "short-queue"), ready(channel, "long-queue")) == (0, 0)


def test_an_expired_message_behind_a_live_one_waits_for_the_head(channel: Channel, clock: FakeClock) -> None:
    """RabbitMQ expires from the head only: it still counts, and goes once it reaches the
    head, which is also when a basic.get's message_count stops counting it."""
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2-short", expiring(50))
    channel.basic_publish("", "q", b"m3")
    channel.basic_publish("", "q", b"m4-short", expiring(50))
    channel.basic_publish("", "q", b"m5-short", expiring(50))
    clock.now = 0.3
    assert ready(channel, "q") == 5
    first = channel.basic_get("q", no_ack=True)
    assert first is not None and (first.message.body, first.message_count) == (b"m1", 3)
    second = channel.basic_get("q", no_ack=True)
    assert second is not None and (second.message.body, second.message_count) == (b"m3", 0)
    assert channel.basic_get("q") is None


def test_a_long_lived_head_keeps_a_short_lived_message_behind_it(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"m1-long", expiring(100_000))
    channel.basic_publish("", "q", b"m2-short", expiring(50))
    clock.now = 0.3
    assert ready(channel, "q") == 2
    got = channel.basic_get("q", no_ack=True)
    assert got is not None and (got.message.body, got.message_count) == (b"m1-long", 0)


def test_a_consumer_arriving_later_gets_only_live_messages(
    broker: Broker, channel: Channel, clock: FakeClock
) -> None:
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2-short", expiring(50))
    channel.basic_publish("", "q", b"m3")
    clock.now = 0.3
    channel.connection.open_channel(2).basic_consume("q", "c", no_ack=True)
    got = [item.message.body for _c, _n, item in deliveries(broker) if isinstance(item, Deliver)]
    assert got == [b"m1", b"m3"]


def test_ttl_zero_expires_at_once_unless_a_consumer_takes_it(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("ttl0", arguments={"x-message-ttl": 0})
    channel.queue_declare("plain")
    channel.basic_publish("", "ttl0", b"queue-ttl")
    channel.basic_publish("", "plain", b"message-ttl", expiring(0))
    channel.basic_publish("", "plain", b"long-ttl", expiring(600_000))
    assert bodies(channel, "ttl0") == []
    assert bodies(channel, "plain") == [b"long-ttl"]
    consumer = channel.connection.open_channel(2)
    consumer.basic_qos(2)
    consumer.basic_consume("ttl0", "c")
    for body in (b"a", b"b", b"c"):  # room for two: the third has nobody waiting and expires
        channel.basic_publish("", "ttl0", body)
    got = [item.message.body for _c, _n, item in deliveries(broker) if isinstance(item, Deliver)]
    assert got == [b"a", b"b"]
    assert ready(channel, "ttl0") == 0


def test_expiration_zero_reaches_a_waiting_consumer(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.connection.open_channel(2).basic_consume("q", "c", no_ack=True)
    channel.basic_publish("", "q", b"c", expiring(0))
    got = [item.message for _c, _n, item in deliveries(broker) if isinstance(item, Deliver)]
    assert [message.body for message in got] == [b"c"]
    assert got[0].properties.expiration == "0"  # delivered messages keep their expiration


def test_an_unacked_message_does_not_expire_but_a_requeued_one_may(
    channel: Channel, clock: FakeClock, events: list[TraceEvent]
) -> None:
    """Measured: a message held past its TTL expires when it goes back (nack, requeue)."""
    channel.queue_declare("q", arguments={"x-message-ttl": 200})
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2")
    held = channel.basic_get("q")
    assert held is not None
    clock.now = 0.5
    assert ready(channel, "q") == 0  # m2 expired meanwhile
    channel.basic_nack(held.delivery_tag, requeue=True)
    assert ready(channel, "q") == 0
    expired = [event.message for event in events if event.kind is EventKind.EXPIRE]
    assert expired == [2, 1]


def test_a_requeued_message_keeps_its_original_expiry(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-message-ttl": 300})
    channel.basic_publish("", "q", b"m1")
    held = channel.basic_get("q")
    assert held is not None
    clock.now = 0.2
    channel.basic_publish("", "q", b"m2")  # expires at 0.5
    clock.now = 0.4
    channel.basic_nack(held.delivery_tag, requeue=True)  # m1 was due at 0.3
    assert bodies(channel, "q") == [b"m2"]


def test_expiry_is_traced_then_dropped(channel: Channel, events: list[TraceEvent]) -> None:
    channel.queue_declare("q", arguments={"x-message-ttl": 0})
    channel.basic_publish("", "q", b"m")
    flow = [(event.kind, event.detail.get("reason")) for event in events if event.message is not None]
    assert flow[-3:] == [(EventKind.ENQUEUE, None), (EventKind.EXPIRE, None), (EventKind.DROP, "expired")]
    expire = next(event for event in events if event.kind is EventKind.EXPIRE)
    assert expire.source == channel.vhost.queues["q"].node


def test_the_broker_says_when_it_next_has_work(broker: Broker, channel: Channel, clock: FakeClock) -> None:
    """`next_due` is what the server arms its one timer with; `run_due` does the work."""
    assert broker.next_due() is None
    channel.queue_declare("q", arguments={"x-message-ttl": 100})
    channel.basic_publish("", "q", b"m1")
    clock.now = 0.05
    channel.basic_publish("", "q", b"m2")
    assert broker.next_due() == pytest.approx(0.1)
    clock.now = 0.12
    broker.run_due()
    assert len(channel.vhost.queues["q"].ready) == 1
    assert broker.next_due() == pytest.approx(0.15)
    clock.now = 0.2
    broker.run_due()
    assert broker.next_due() is None and not channel.vhost.queues["q"].ready


def test_a_priority_queues_new_head_is_not_looked_at(
    broker: Broker, channel: Channel, clock: FakeClock
) -> None:
    """Measured on 3.10.8 and 4.0.5: RabbitMQ checks expiry at the head after a fetch, a
    requeue, its TTL timer, or a publish into an empty queue; a message that jumps ahead of
    waiting ones by its priority is none of those, so it stays, counted, and is even
    delivered after its TTL."""
    channel.queue_declare("q", arguments={"x-max-priority": 5})
    channel.basic_publish("", "q", b"low", Properties(priority=0))
    channel.basic_publish("", "q", b"high-ttl0", expiring(0, priority=5))
    channel.basic_publish("", "q", b"high-ttl100", expiring(100, priority=5))
    clock.now = 0.3
    broker.run_due()
    assert ready(channel, "q") == 3
    got = channel.basic_get("q", no_ack=True)  # expired, delivered all the same; the fetch then
    assert got is not None and (got.message.body, got.message_count) == (b"high-ttl0", 1)  # drops
    assert bodies(channel, "q") == [b"low"]  # high-ttl100, which reached the head expired


def test_a_wake_up_with_nothing_due_asks_for_the_next(
    broker: Broker, channel: Channel, clock: FakeClock
) -> None:
    """Wake-ups only ever move forward (so the heap stays small); one that finds the head
    taken by then just asks again for the new head's time."""
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"m1", expiring(1000))
    channel.basic_publish("", "q", b"m2", expiring(5000))
    held = channel.basic_get("q")
    assert held is not None
    assert broker.next_due() == pytest.approx(1.0)
    clock.now = 1.0
    broker.run_due()
    assert broker.next_due() == pytest.approx(5.0) and ready(channel, "q") == 1
    clock.now = 1.5
    channel.basic_reject(held.delivery_tag, requeue=True)  # back at the head, already due: gone
    assert bodies(channel, "q") == [b"m2"]


def test_plain_queues_keep_no_timers(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"m")
    queue = channel.vhost.queues["q"]
    assert not queue.special and broker.timers == []
