"""`x-expires`: a queue unused for that long is deleted, with its messages (never dead-
lettered). Measured with pika on RabbitMQ 3.10.8 and 4.0.5: a declare (passive too), a
basic.get and a consumer count as use; publishing and acking do not; the time runs from the
last use, or from when the last consumer left."""

from __future__ import annotations

import pytest

from rabbitsim.broker import Broker, Channel, ChannelError, EventKind, TraceEvent
from tests.broker.conftest import FakeClock


def exists(channel: Channel, queue: str) -> bool:
    other = channel.connection.open_channel(max(channel.connection.channels) + 1)
    try:
        other.queue_declare(queue, passive=True)
    except ChannelError as error:
        assert error.reply_code == 404
        return False
    other.close()
    return True


def test_an_unused_queue_goes_with_its_messages(
    broker: Broker, channel: Channel, clock: FakeClock, events: list[TraceEvent]
) -> None:
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("q", arguments={"x-expires": 300, "x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "q", b"m")
    assert broker.next_due() == pytest.approx(0.3)
    clock.now = 0.3
    broker.run_due()
    assert "q" not in channel.vhost.queues
    deleted = [event for event in events if event.kind is EventKind.DELETE]
    assert [(str(event.source), event.detail["reason"]) for event in deleted] == [("queue:q", "expired")]
    assert [event.detail["reason"] for event in events if event.kind is EventKind.DROP] == ["queue-deleted"]
    assert channel.queue_declare("dead", passive=True).message_count == 0


def test_declaring_it_again_even_passively_is_a_use(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("passive", arguments={"x-expires": 400})
    channel.queue_declare("active", arguments={"x-expires": 400})
    for step in range(1, 7):
        clock.now = step * 0.2
        channel.queue_declare("passive", passive=True)
        channel.queue_declare("active", arguments={"x-expires": 400})
    assert exists(channel, "passive") and exists(channel, "active")


def test_basic_get_is_a_use_even_when_empty(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-expires": 400})
    for step in range(1, 7):
        clock.now = step * 0.2
        assert channel.basic_get("q") is None
    clock.now = 1.7  # 0.4 s after the last get
    assert not exists(channel, "q")


def test_publishing_and_acking_are_not(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-expires": 400})
    for _ in range(3):
        channel.basic_publish("", "q", b"m")
    tags = []
    for _ in range(3):
        got = channel.basic_get("q")  # a use, at 0
        assert got is not None
        tags.append(got.delivery_tag)
    for step, tag in enumerate(tags, 1):
        clock.now = step * 0.15
        channel.basic_publish("", "q", b"more")
        channel.basic_ack(tag)
    assert "q" not in channel.vhost.queues


def test_a_consumer_keeps_it_until_it_leaves(broker: Broker, channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-expires": 300})
    consumer = channel.connection.open_channel(2)
    consumer.basic_consume("q", "c")
    clock.now = 10.0
    broker.run_due()
    assert "q" in channel.vhost.queues
    consumer.basic_cancel("c")
    clock.now = 10.15
    assert exists(channel, "q")  # (a use itself: the clock starts again at 10.15)
    clock.now = 10.4
    assert exists(channel, "q")
    clock.now = 10.8
    assert not exists(channel, "q")


def test_unacked_messages_do_not_keep_it(broker: Broker, channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("q", arguments={"x-expires": 300})
    channel.basic_publish("", "q", b"m")
    got = channel.basic_get("q")
    assert got is not None
    clock.now = 0.6
    broker.run_due()
    assert "q" not in channel.vhost.queues
    channel.basic_ack(got.delivery_tag)  # still fine, as on RabbitMQ
    assert channel.is_open


def test_an_exclusive_queue_that_expires_leaves_its_owner(channel: Channel, clock: FakeClock) -> None:
    channel.queue_declare("mine", exclusive=True, arguments={"x-expires": 100})
    clock.now = 0.2
    channel.queue_declare("other")  # any method runs what fell due
    assert "mine" not in channel.connection.exclusive_queues
