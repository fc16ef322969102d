"""Priority queues (`x-max-priority`): higher priorities first, FIFO among equals, none counts
as 0 and anything above the maximum as the maximum; requeued messages go back to their place
within their priority. Measured with pika on RabbitMQ 3.10.8 and 4.0.5; they differ only for
`x-max-priority: 0`."""

from __future__ import annotations

import pytest

from rabbitsim.broker import Broker, Channel, Deliver, EventKind, Properties, TraceEvent
from tests.broker.conftest import FakeClock, deliveries

MIXED = ((b"a3", 3), (b"b0", 0), (b"c9", 9), (b"dN", None), (b"e1", 1), (b"f0", 0), (b"g5", 5))


def bodies(channel: Channel, queue: str) -> list[bytes]:
    out = []
    while (got := channel.basic_get(queue, no_ack=True)) is not None:
        out.append(got.message.body)
    return out


def publish(channel: Channel, queue: str, messages: tuple[tuple[bytes, int | None], ...]) -> None:
    for body, priority in messages:
        channel.basic_publish("", queue, body, Properties(priority=priority))


def test_higher_first_fifo_among_equals_none_is_zero_above_max_is_max(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 5})
    publish(
        channel,
        "q",
        ((b"p1", 1), (b"none", None), (b"p5", 5), (b"p9", 9), (b"p3", 3), (b"p5b", 5), (b"p0", 0)),
    )
    assert bodies(channel, "q") == [b"p5", b"p9", b"p5b", b"p3", b"p1", b"none", b"p0"]


def test_a_requeued_message_goes_back_to_its_place_in_its_priority(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 5})
    publish(channel, "q", ((b"a1", 1), (b"b5", 5), (b"c1", 1), (b"d5", 5), (b"e0", None)))
    tags = []
    for _ in range(3):  # b5, d5, a1
        got = channel.basic_get("q")
        assert got is not None
        tags.append(got.delivery_tag)
    publish(channel, "q", ((b"f5", 5),))
    channel.basic_nack(tags[-1], multiple=True, requeue=True)
    assert bodies(channel, "q") == [b"b5", b"d5", b"f5", b"a1", b"c1", b"e0"]


def test_a_busy_consumer_then_gets_the_backlog_by_priority(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 9})
    consumer = channel.connection.open_channel(2)
    consumer.basic_qos(1)
    consumer.basic_consume("q", "c")
    publish(channel, "q", ((b"first", 0), (b"low", 1), (b"high", 9), (b"mid", 5), (b"high2", 9)))
    got = []
    while items := [item for _c, _n, item in deliveries(broker) if isinstance(item, Deliver)]:
        for item in items:
            got.append(item.message.body)
            consumer.basic_ack(item.delivery_tag)
    assert got == [b"first", b"high", b"high2", b"mid", b"low"]


@pytest.mark.parametrize(
    ("profile", "order"),
    [
        ("3.10", [b"a3", b"b0", b"c9", b"dN", b"e1", b"f0", b"g5"]),  # one level: FIFO
        ("4.0", [b"a3", b"c9", b"e1", b"g5", b"b0", b"dN", b"f0"]),  # as if the maximum were 1
    ],
)
def test_max_priority_zero(profile: str, order: list[bytes]) -> None:
    channel = Broker(profile=profile).connect().open_channel(1)
    channel.queue_declare("q", arguments={"x-max-priority": 0})
    publish(channel, "q", MIXED)
    assert bodies(channel, "q") == order


def test_max_priority_one_has_two_levels(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 1})
    publish(channel, "q", MIXED)
    assert bodies(channel, "q") == [b"a3", b"c9", b"e1", b"g5", b"b0", b"dN", b"f0"]


def test_the_priority_property_is_delivered_as_sent(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 2})
    channel.basic_publish("", "q", b"a", Properties(priority=200))
    got = channel.basic_get("q", no_ack=True)
    assert got is not None and got.message.properties.priority == 200


def test_a_queue_without_max_priority_ignores_priorities(channel: Channel) -> None:
    channel.queue_declare("q")
    publish(channel, "q", MIXED)
    assert bodies(channel, "q") == [body for body, _priority in MIXED]


def test_expiry_waits_for_the_head_in_priority_order(channel: Channel, clock: FakeClock) -> None:
    """The head is the highest priority's oldest: an expired low-priority message waits
    behind a live high-priority one, and goes when that is taken."""
    channel.queue_declare("q", arguments={"x-max-priority": 5})
    channel.basic_publish("", "q", b"p0-short", Properties(priority=0, expiration="50"))
    channel.basic_publish("", "q", b"p5-long", Properties(priority=5, expiration="100000"))
    channel.basic_publish("", "q", b"p5-short", Properties(priority=5, expiration="50"))
    clock.now = 0.3
    assert channel.queue_declare("q", passive=True).message_count == 3
    got = channel.basic_get("q", no_ack=True)
    assert got is not None and (got.message.body, got.message_count) == (b"p5-long", 0)


def test_a_length_limit_counts_every_priority(broker: Broker, channel: Channel) -> None:
    channel.queue_declare(
        "q", arguments={"x-max-priority": 5, "x-max-length": 2, "x-overflow": "reject-publish"}
    )
    publish(channel, "q", ((b"a", 1), (b"b", 1)))
    channel.confirm_select()
    publish(channel, "q", ((b"c", 5),))
    assert [type(item).__name__ for _c, _n, item in deliveries(broker)] == ["PublisherNack"]
    assert bodies(channel, "q") == [b"a", b"b"]


def test_enqueue_events_give_the_place_in_delivery_order(channel: Channel, events: list[TraceEvent]) -> None:
    channel.queue_declare("q", arguments={"x-max-priority": 5})
    publish(channel, "q", ((b"low", 1), (b"low2", 1), (b"high", 5), (b"mid", 3)))
    positions = [event.detail["position"] for event in events if event.kind is EventKind.ENQUEUE]
    assert positions == [1, 2, 1, 2]
