"""Consumers and basic.get: tags, exclusivity, round-robin, prefetch (per consumer and per
channel), acks freeing slots, cancel, and delivery tags shared by a channel."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from rabbitsim.broker import (
    AMQPError,
    Broker,
    Channel,
    ChannelError,
    Connection,
    Deliver,
    EventKind,
    GetOk,
    Queue,
    TraceEvent,
)
from rabbitsim.broker import ConnectionError as AMQPConnectionError
from tests.broker.conftest import deliveries

BASIC_QOS = (60, 10)
BASIC_CONSUME = (60, 20)
BASIC_ACK = (60, 80)


def raises(kind: type[AMQPError], call: Callable[..., Any], *args: Any, **kwargs: Any) -> AMQPError:
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    return caught.value


def failure(error: AMQPError) -> tuple[int, str, tuple[int, int]]:
    return error.reply_code, error.reply_text, (error.class_id, error.method_id)


def delivered(broker: Broker) -> list[tuple[str, int, bytes]]:
    """(consumer tag, delivery tag, body) of every basic.deliver sent since the last call."""
    return [
        (item.consumer_tag, item.delivery_tag, item.message.body)
        for _, _, item in deliveries(broker)
        if isinstance(item, Deliver)
    ]


def queue(broker: Broker, name: str = "q") -> Queue:
    return broker.vhosts["/"].queues[name]


def publish(channel: Channel, count: int, queue: str = "q") -> None:
    for number in range(1, count + 1):
        channel.basic_publish("", queue, f"m{number}".encode())


@pytest.fixture
def q(channel: Channel) -> str:
    channel.queue_declare("q")
    return "q"


# --- consumer tags -------------------------------------------------------------------------------


def test_a_given_consumer_tag_names_the_deliveries(
    broker: Broker, channel: Channel, q: str, events: list[TraceEvent]
) -> None:
    assert channel.basic_consume(q, "worker") == "worker"
    publish(channel, 1)

    assert delivered(broker) == [("worker", 1, b"m1")]
    [added] = [event for event in events if event.kind is EventKind.CONSUMER_ADDED]
    assert added.source is not None and added.source.name == "q"
    assert added.target is not None and added.target.name == "worker"


def test_generated_consumer_tags_are_amq_ctag_names(channel: Channel, q: str) -> None:
    first = channel.basic_consume(q)
    second = channel.basic_consume(q)

    assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", first)
    assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", second)
    assert first != second
    assert set(channel.consumers) == {first, second}


def test_reusing_a_consumer_tag_on_a_channel_closes_the_connection(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    channel.queue_declare("q2")
    channel.basic_consume(q, "x")
    publish(channel, 1)
    assert delivered(broker) == [("x", 1, b"m1")]

    error = raises(AMQPConnectionError, channel.basic_consume, "q2", "x")

    assert failure(error) == (530, "NOT_ALLOWED - attempt to reuse consumer tag 'x'", BASIC_CONSUME)
    assert not connection.is_open and not channel.is_open
    assert connection.close_reason is error
    # the connection's unacked delivery went back, and its consumer went away
    assert len(queue(broker).ready) == 1 and not queue(broker).consumers


def test_the_same_tag_on_another_channel_is_another_consumer(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    second = connection.open_channel(2)
    channel.basic_consume(q, "x")
    second.basic_consume(q, "x")
    publish(channel, 2)

    sent = [
        (number, item.consumer_tag) for _, number, item in deliveries(broker) if isinstance(item, Deliver)
    ]

    assert sent == [(1, "x"), (2, "x")]
    assert channel.is_open and second.is_open


# --- exclusive consumers and missing queues ------------------------------------------------------


def test_an_exclusive_consume_is_refused_while_others_consume(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    channel.basic_consume(q, "a")
    other = connection.open_channel(2)

    error = raises(ChannelError, other.basic_consume, q, "b", exclusive=True)

    assert failure(error) == (
        403,
        "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use",
        BASIC_CONSUME,
    )
    assert not other.is_open and connection.is_open
    publish(channel, 2)
    assert [tag for tag, _, _ in delivered(broker)] == ["a", "a"]


@pytest.mark.parametrize("exclusive", [False, True])
def test_no_consume_while_an_exclusive_consumer_exists(
    broker: Broker, channel: Channel, q: str, exclusive: bool
) -> None:
    channel.basic_consume(q, "only", exclusive=True)
    other = broker.connect().open_channel(1)

    error = raises(ChannelError, other.basic_consume, q, "b", exclusive=exclusive)

    assert failure(error) == (
        403,
        "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use",
        BASIC_CONSUME,
    )
    assert [consumer.tag for consumer in queue(broker).consumers] == ["only"]


def test_others_may_consume_once_the_exclusive_consumer_is_cancelled(
    broker: Broker, channel: Channel, q: str
) -> None:
    channel.basic_consume(q, "only", exclusive=True)
    channel.basic_cancel("only")
    other = broker.connect().open_channel(1)

    assert other.basic_consume(q, "b") == "b"
    assert channel.basic_consume(q, "c") == "c"


def test_consuming_from_a_missing_queue_is_404(connection: Connection, channel: Channel) -> None:
    error = raises(ChannelError, channel.basic_consume, "nowhere", "c")

    assert failure(error) == (404, "NOT_FOUND - no queue 'nowhere' in vhost '/'", BASIC_CONSUME)
    assert not channel.is_open and connection.is_open


# --- no_ack --------------------------------------------------------------------------------------


def test_no_ack_consumers_are_not_tracked_and_not_limited(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    channel.basic_qos(1)
    channel.basic_consume(q, "fast", no_ack=True)
    publish(channel, 4)

    assert delivered(broker) == [
        ("fast", 1, b"m1"),
        ("fast", 2, b"m2"),
        ("fast", 3, b"m3"),
        ("fast", 4, b"m4"),
    ]
    assert queue(broker).unacked == 0 and not channel.unacked

    error = raises(ChannelError, channel.basic_ack, 1)

    assert failure(error) == (406, "PRECONDITION_FAILED - unknown delivery tag 1", BASIC_ACK)
    assert not channel.is_open and connection.is_open


# --- round-robin and prefetch --------------------------------------------------------------------


def test_round_robin_between_consumers_in_publish_order(broker: Broker, channel: Channel, q: str) -> None:
    for tag in ("c1", "c2", "c3"):
        channel.basic_consume(q, tag)

    publish(channel, 9)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [
        ("c1", b"m1"),
        ("c2", b"m2"),
        ("c3", b"m3"),
        ("c1", b"m4"),
        ("c2", b"m5"),
        ("c3", b"m6"),
        ("c1", b"m7"),
        ("c2", b"m8"),
        ("c3", b"m9"),
    ]


def test_round_robin_skips_consumers_at_their_prefetch_limit(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    limited_a = connection.open_channel(2)
    unlimited = connection.open_channel(3)
    limited_c = connection.open_channel(4)
    limited_a.basic_qos(1)
    limited_c.basic_qos(1)
    limited_a.basic_consume(q, "a")
    unlimited.basic_consume(q, "b")
    limited_c.basic_consume(q, "c")

    publish(channel, 6)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [
        ("a", b"m1"),
        ("b", b"m2"),
        ("c", b"m3"),
        ("b", b"m4"),
        ("b", b"m5"),
        ("b", b"m6"),
    ]


def test_consumer_prefetch_applies_to_consumers_made_after_it(
    broker: Broker, channel: Channel, q: str
) -> None:
    channel.basic_consume(q, "before")
    channel.basic_qos(1)
    channel.basic_consume(q, "after")

    publish(channel, 6)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [
        ("before", b"m1"),
        ("after", b"m2"),
        ("before", b"m3"),
        ("before", b"m4"),
        ("before", b"m5"),
        ("before", b"m6"),
    ]


def test_raising_consumer_prefetch_does_not_change_existing_consumers(
    broker: Broker, channel: Channel, q: str
) -> None:
    channel.basic_qos(1)
    channel.basic_consume(q, "c")
    publish(channel, 3)

    channel.basic_qos(5)

    assert delivered(broker) == [("c", 1, b"m1")]
    assert len(queue(broker).ready) == 2


@pytest.mark.parametrize("broker", ["4.0", "3.10"], indirect=True)
def test_channel_prefetch_limits_all_its_consumers_together(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    limited = connection.open_channel(2)
    limited.basic_consume(q, "a")
    limited.basic_consume(q, "b")
    limited.basic_qos(3, global_qos=True)  # applies to consumers that already exist
    elsewhere = connection.open_channel(3)
    elsewhere.basic_qos(1)
    elsewhere.basic_consume(q, "z")

    publish(channel, 8)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [
        ("a", b"m1"),
        ("b", b"m2"),
        ("z", b"m3"),
        ("a", b"m4"),
    ]
    assert len(queue(broker).ready) == 4


@pytest.mark.parametrize(
    ("consumer_limit", "expected"),
    [
        (2, [("a", b"m1"), ("b", b"m2"), ("a", b"m3")]),  # the channel's 3 binds first: 2 + 1
        (1, [("a", b"m1"), ("b", b"m2")]),  # each consumer's 1 binds first: 1 + 1
    ],
)
@pytest.mark.parametrize("broker", ["4.0", "3.10"], indirect=True)
def test_consumer_and_channel_prefetch_apply_together(
    broker: Broker,
    channel: Channel,
    q: str,
    consumer_limit: int,
    expected: list[tuple[str, bytes]],
) -> None:
    channel.basic_qos(consumer_limit)
    channel.basic_qos(3, global_qos=True)
    channel.basic_consume(q, "a")
    channel.basic_consume(q, "b")

    publish(channel, 6)

    assert [(tag, body) for tag, _, body in delivered(broker)] == expected
    assert len(queue(broker).ready) == 6 - len(expected)


def test_prefetch_zero_means_unlimited(broker: Broker, channel: Channel, q: str) -> None:
    channel.basic_qos(2)
    channel.basic_qos(0)
    channel.basic_consume(q, "c")

    publish(channel, 10)

    assert len(delivered(broker)) == 10
    assert queue(broker).unacked == 10 and not queue(broker).ready


@pytest.mark.parametrize("broker", ["4.0", "3.10"], indirect=True)
def test_lifting_the_channel_prefetch_delivers_at_once(broker: Broker, channel: Channel, q: str) -> None:
    channel.basic_qos(1, global_qos=True)
    channel.basic_consume(q, "c")
    publish(channel, 3)
    assert delivered(broker) == [("c", 1, b"m1")]

    channel.basic_qos(0, global_qos=True)

    assert delivered(broker) == [("c", 2, b"m2"), ("c", 3, b"m3")]


@pytest.mark.parametrize("broker", ["4.0", "3.10"], indirect=True)
def test_a_consumer_prefetch_lifts_the_channel_prefetch(broker: Broker, channel: Channel, q: str) -> None:
    """rabbit_channel unlimits the channel's global prefetch on every basic.qos(global=false)."""
    channel.basic_qos(1, global_qos=True)
    channel.basic_consume(q, "c")
    publish(channel, 3)
    assert delivered(broker) == [("c", 1, b"m1")]

    channel.basic_qos(5)  # for consumers made later; the old one is now unlimited

    assert delivered(broker) == [("c", 2, b"m2"), ("c", 3, b"m3")]


@pytest.mark.parametrize("global_qos", [False, True])
def test_an_ack_frees_a_slot_and_the_next_message_goes_at_once(
    broker: Broker, channel: Channel, q: str, global_qos: bool
) -> None:
    channel.basic_qos(1, global_qos=global_qos)
    channel.basic_consume(q, "c")
    publish(channel, 3)
    assert delivered(broker) == [("c", 1, b"m1")]

    channel.basic_ack(1)

    assert delivered(broker) == [("c", 2, b"m2")]
    assert len(queue(broker).ready) == 1 and queue(broker).unacked == 1


# --- cancel --------------------------------------------------------------------------------------


def test_a_cancelled_consumer_gets_nothing_more_and_its_unacked_stay_unacked(
    broker: Broker, channel: Channel, q: str, events: list[TraceEvent]
) -> None:
    channel.basic_consume(q, "gone")
    channel.basic_consume(q, "stays")
    publish(channel, 2)
    assert delivered(broker) == [("gone", 1, b"m1"), ("stays", 2, b"m2")]

    assert channel.basic_cancel("gone") == "gone"
    publish(channel, 2)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [("stays", b"m1"), ("stays", b"m2")]
    assert queue(broker).unacked == 4 and 1 in channel.unacked
    channel.basic_ack(1)  # still the channel's to settle
    assert queue(broker).unacked == 3 and channel.is_open
    cancelled = [event for event in events if event.kind is EventKind.CONSUMER_CANCELLED]
    assert [(event.target.name if event.target else None, event.detail) for event in cancelled] == [
        ("gone", {"by_broker": False})
    ]


def test_cancelling_the_only_consumer_leaves_new_messages_ready(
    broker: Broker, channel: Channel, q: str
) -> None:
    channel.basic_consume(q, "c")
    channel.basic_cancel("c")

    publish(channel, 2)

    assert delivered(broker) == []
    assert len(queue(broker).ready) == 2 and not queue(broker).consumers


def test_cancelling_an_unknown_tag_is_not_an_error(channel: Channel) -> None:
    assert channel.basic_cancel("nobody") == "nobody"
    assert channel.is_open


# --- basic.get and delivery tags -----------------------------------------------------------------


def test_basic_get_on_an_empty_queue_returns_none(channel: Channel, q: str) -> None:
    assert channel.basic_get(q) is None
    assert channel.is_open


def test_basic_get_reports_the_messages_still_ready(
    broker: Broker, channel: Channel, q: str, events: list[TraceEvent]
) -> None:
    publish(channel, 3)

    got = channel.basic_get(q)

    assert isinstance(got, GetOk)
    assert got[:5] == (1, False, "", "q", 2)
    assert got.message.body == b"m1"
    assert len(queue(broker).ready) == 2 and queue(broker).unacked == 1
    [delivery] = [event for event in events if event.kind is EventKind.DELIVER]
    assert delivery.detail["get"] is True and delivery.detail["delivery_tag"] == 1


def test_delivery_tags_count_per_channel_and_are_shared_by_get_and_consumers(
    broker: Broker, connection: Connection, channel: Channel, q: str
) -> None:
    channel.queue_declare("polled")
    publish(channel, 3, queue="polled")

    first = channel.basic_get("polled")
    channel.basic_consume(q, "c")
    publish(channel, 1)
    second = channel.basic_get("polled")
    other_channel_get = connection.open_channel(2).basic_get("polled")

    assert first is not None and first.delivery_tag == 1
    assert delivered(broker) == [("c", 2, b"m1")]
    assert second is not None and second.delivery_tag == 3
    assert other_channel_get is not None and other_channel_get.delivery_tag == 1


def test_prefetch_size_is_not_implemented(connection: Connection, channel: Channel) -> None:
    error = raises(AMQPConnectionError, channel.basic_qos, 0, prefetch_size=10)

    assert failure(error) == (540, "NOT_IMPLEMENTED - prefetch_size!=0 (10)", BASIC_QOS)
    assert not connection.is_open and not channel.is_open


def test_a_new_consumer_gets_the_ready_messages_at_once(broker: Broker, channel: Channel, q: str) -> None:
    publish(channel, 3)

    channel.basic_consume(q, "late")

    assert delivered(broker) == [("late", 1, b"m1"), ("late", 2, b"m2"), ("late", 3, b"m3")]
    assert not queue(broker).ready and queue(broker).unacked == 3


@pytest.mark.parametrize("broker", ["4.3"], indirect=True)
def test_4_3_applies_a_global_prefetch_per_consumer(broker: Broker, connection: Connection, q: str) -> None:
    """RabbitMQ 4.3 denies the deprecated global qos by default: the limit is each consumer's."""
    limited = connection.open_channel(2)
    limited.basic_qos(1, global_qos=True)
    limited.basic_consume(q, "a")
    limited.basic_consume(q, "b")
    publish(connection.open_channel(3), 4)

    assert [(tag, body) for tag, _, body in delivered(broker)] == [("a", b"m1"), ("b", b"m2")]
