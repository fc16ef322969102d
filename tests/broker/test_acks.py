"""Consumer acknowledgements: ack, nack, reject, recover, and what closing a channel gives back."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Connection,
    ConnectionError,
    Deliver,
    EventKind,
    TraceEvent,
)
from tests.broker.conftest import deliveries


def fill(channel: Channel, count: int = 5, queue: str = "q") -> None:
    """Declare `queue` and publish m1..m<count> to it."""
    channel.queue_declare(queue)
    for i in range(1, count + 1):
        channel.basic_publish("", queue, f"m{i}".encode())


def get(channel: Channel, count: int, queue: str = "q") -> list[int]:
    """Fetch `count` messages with basic.get (ack required); their delivery tags."""
    tags = []
    for _ in range(count):
        got = channel.basic_get(queue)
        assert got is not None
        tags.append(got.delivery_tag)
    return tags


def drain(broker: Broker, queue: str = "q") -> list[tuple[str, bool]]:
    """What is ready in `queue`, in order, as (body, redelivered), read from a fresh connection."""
    reader = broker.connect().open_channel(1)
    found = []
    while (got := reader.basic_get(queue, no_ack=True)) is not None:
        found.append((got.message.body.decode(), got.redelivered))
    return found


def unacked_count(broker: Broker, queue: str = "q") -> int:
    return broker.vhosts["/"].queues[queue].unacked


def test_ack_settles_only_the_named_message(broker: Broker, channel: Channel) -> None:
    fill(channel, 3)
    assert get(channel, 2) == [1, 2]
    channel.basic_ack(1)
    assert unacked_count(broker) == 1
    channel.close()
    assert drain(broker) == [("m2", True), ("m3", False)]


def test_ack_multiple_covers_every_tag_up_to_and_including(broker: Broker, channel: Channel) -> None:
    fill(channel, 5)
    get(channel, 5)
    channel.basic_ack(3, multiple=True)
    assert unacked_count(broker) == 2
    channel.basic_ack(4)  # still pending, so acking it alone is fine
    channel.close()
    assert drain(broker) == [("m5", True)]


def test_ack_multiple_passes_over_tags_already_acked(broker: Broker, channel: Channel) -> None:
    fill(channel, 5)
    get(channel, 5)
    channel.basic_ack(2)
    channel.basic_ack(4, multiple=True)
    assert unacked_count(broker) == 1
    channel.close()
    assert drain(broker) == [("m5", True)]


def test_ack_zero_multiple_acks_everything(broker: Broker, channel: Channel) -> None:
    fill(channel, 4)
    get(channel, 3)
    channel.basic_ack(0, multiple=True)
    assert unacked_count(broker) == 0
    channel.close()
    assert drain(broker) == [("m4", False)]


def test_ack_zero_multiple_with_nothing_pending_is_fine(broker: Broker, channel: Channel) -> None:
    fill(channel, 1)
    channel.basic_ack(0, multiple=True)
    assert channel.is_open
    assert get(channel, 1) == [1]  # the channel still works, tags still start at 1


@pytest.mark.parametrize(
    ("settled", "bad_tag", "multiple", "left"),
    [
        pytest.param([], 99, False, ["m1", "m2", "m3"], id="unknown-tag"),
        pytest.param([2], 2, False, ["m1", "m3"], id="repeated-ack"),
        pytest.param([], 0, False, ["m1", "m2", "m3"], id="zero-without-multiple"),
        pytest.param([2], 2, True, ["m1", "m3"], id="multiple-naming-acked-tag"),
    ],
)
def test_bad_ack_closes_channel_and_requeues_the_rest(
    broker: Broker,
    connection: Connection,
    channel: Channel,
    settled: list[int],
    bad_tag: int,
    multiple: bool,
    left: list[str],
) -> None:
    fill(channel, 3)
    get(channel, 3)
    for tag in settled:
        channel.basic_ack(tag)
    with pytest.raises(ChannelError) as caught:
        channel.basic_ack(bad_tag, multiple=multiple)
    assert caught.value.reply_code == 406
    assert caught.value.reply_text == f"PRECONDITION_FAILED - unknown delivery tag {bad_tag}"
    assert not channel.is_open
    assert connection.is_open
    assert 1 not in connection.channels
    assert drain(broker) == [(body, True) for body in left]


@pytest.mark.parametrize(
    "settle",
    [
        pytest.param(lambda channel: channel.basic_nack(7), id="nack"),
        pytest.param(lambda channel: channel.basic_nack(7, multiple=True), id="nack-multiple"),
        pytest.param(lambda channel: channel.basic_reject(7, requeue=False), id="reject"),
    ],
)
def test_nack_and_reject_of_unknown_tag_are_406(
    broker: Broker, channel: Channel, settle: Callable[[Channel], None]
) -> None:
    fill(channel, 2)
    get(channel, 1)
    with pytest.raises(ChannelError, match=r"^PRECONDITION_FAILED - unknown delivery tag 7$") as caught:
        settle(channel)
    assert caught.value.reply_code == 406
    assert not channel.is_open
    assert drain(broker) == [("m1", True), ("m2", False)]


@pytest.mark.parametrize("order", [(4, 2), (2, 4)])
def test_requeued_messages_go_back_to_their_original_positions(
    broker: Broker, channel: Channel, order: tuple[int, int]
) -> None:
    """Measured on RabbitMQ 3.10: m2 ends before m4 whichever is nacked first."""
    fill(channel, 5)
    get(channel, 5)
    for tag in order:
        channel.basic_nack(tag)
    assert unacked_count(broker) == 3
    channel.basic_ack(5)
    channel.basic_ack(3)
    channel.basic_ack(1)
    assert drain(broker) == [("m2", True), ("m4", True)]


@pytest.mark.parametrize("order", [(3, 1), (1, 3)])
def test_requeued_messages_go_back_before_those_that_were_behind_them(
    broker: Broker, channel: Channel, order: tuple[int, int]
) -> None:
    fill(channel, 5)
    get(channel, 3)
    for tag in order:
        channel.basic_reject(tag)
    channel.basic_ack(2)
    assert drain(broker) == [("m1", True), ("m3", True), ("m4", False), ("m5", False)]


def test_nack_multiple_requeues_every_tag_up_to_the_given_one(broker: Broker, channel: Channel) -> None:
    fill(channel, 5)
    get(channel, 4)
    channel.basic_ack(2)
    channel.basic_nack(3, multiple=True)
    assert unacked_count(broker) == 1
    channel.basic_ack(4)
    assert drain(broker) == [("m1", True), ("m3", True), ("m5", False)]


def test_requeued_message_is_redelivered_to_a_consumer(broker: Broker, channel: Channel) -> None:
    fill(channel, 1)
    channel.basic_consume("q", "c")
    [(_, _, first)] = deliveries(broker)
    assert isinstance(first, Deliver)
    assert (first.delivery_tag, first.redelivered) == (1, False)
    channel.basic_reject(1)
    [(_, number, again)] = deliveries(broker)
    assert number == 1
    assert isinstance(again, Deliver)
    assert (again.consumer_tag, again.delivery_tag, again.redelivered) == ("c", 2, True)
    assert again.message is first.message


@pytest.mark.parametrize("method", ["nack", "reject"])
def test_settling_without_requeue_drops_the_message(
    broker: Broker, events: list[TraceEvent], channel: Channel, method: str
) -> None:
    fill(channel, 2)
    got = channel.basic_get("q")
    assert got is not None
    getattr(channel, f"basic_{method}")(got.delivery_tag, requeue=False)
    assert unacked_count(broker) == 0
    assert drain(broker) == [("m2", False)]
    drops = [event for event in events if event.kind is EventKind.DROP]
    assert [(event.message, event.detail["reason"]) for event in drops] == [(got.message.id, "rejected")]
    assert any(event.kind == method and event.message == got.message.id for event in events)


def test_recover_requeues_all_unacked_in_original_order(broker: Broker, channel: Channel) -> None:
    fill(channel, 5)
    get(channel, 4)
    channel.basic_ack(3)
    channel.basic_recover(requeue=True)
    assert channel.is_open
    assert unacked_count(broker) == 0
    assert drain(broker) == [("m1", True), ("m2", True), ("m4", True), ("m5", False)]


def test_recover_without_requeue_is_not_implemented(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    fill(channel, 2)
    get(channel, 1)
    with pytest.raises(ConnectionError) as caught:
        channel.basic_recover(requeue=False)
    assert caught.value.reply_code == 540
    assert caught.value.reply_text == "NOT_IMPLEMENTED - requeue=false"
    assert not connection.is_open
    assert drain(broker) == [("m1", True), ("m2", False)]


def test_closing_a_channel_requeues_its_unacked_in_original_order(broker: Broker, channel: Channel) -> None:
    """Measured on RabbitMQ 3.10: requeued messages go before the ones still waiting."""
    fill(channel, 5)
    get(channel, 4)
    channel.basic_ack(2)
    channel.close()
    assert unacked_count(broker) == 0
    assert drain(broker) == [("m1", True), ("m3", True), ("m4", True), ("m5", False)]


def test_consumer_on_another_channel_receives_what_a_closed_channel_held(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    fill(channel, 5)
    get(channel, 4)
    channel.basic_ack(2)
    worker = connection.open_channel(2)
    worker.basic_consume("q", "w")
    deliveries(broker)  # m5, the one message ready when the worker arrived
    channel.close()
    received = [(number, item) for _, number, item in deliveries(broker)]
    assert all(isinstance(item, Deliver) for _, item in received)
    assert [
        (number, item.delivery_tag, item.message.body, item.redelivered) for number, item in received
    ] == [
        (2, 2, b"m1", True),
        (2, 3, b"m3", True),
        (2, 4, b"m4", True),
    ]
    assert unacked_count(broker) == 4  # m5, m1, m3, m4 now wait for the worker's acks


def test_closing_the_connection_requeues_every_channel(broker: Broker, connection: Connection) -> None:
    first, second = connection.open_channel(1), connection.open_channel(2)
    fill(first, 6)
    for channel in (first, second, first, second):
        get(channel, 1)
    consumer_channel = connection.open_channel(3)
    consumer_channel.basic_consume("q")  # takes m5, m6
    connection.close()
    assert not any(channel.is_open for channel in (first, second, consumer_channel))
    assert unacked_count(broker) == 0
    assert drain(broker) == [(f"m{i}", True) for i in range(1, 7)]


def test_messages_delivered_without_ack_are_gone(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    fill(channel, 3)
    channel.basic_consume("q", "fast", no_ack=True)
    assert [item.message.body for _, _, item in deliveries(broker)] == [b"m1", b"m2", b"m3"]
    assert unacked_count(broker) == 0
    connection.close()
    assert drain(broker) == []


def test_acking_a_no_ack_delivery_is_an_unknown_tag(broker: Broker, channel: Channel) -> None:
    fill(channel, 1)
    got = channel.basic_get("q", no_ack=True)
    assert got is not None
    with pytest.raises(ChannelError, match="unknown delivery tag 1"):
        channel.basic_ack(got.delivery_tag)


def test_settling_messages_of_a_deleted_queue_is_fine(broker: Broker, channel: Channel) -> None:
    fill(channel, 3)
    get(channel, 3)
    assert channel.queue_delete("q") == 0  # nothing ready: all three are unacked
    channel.basic_ack(1)
    channel.basic_nack(2, requeue=True)
    channel.basic_reject(3, requeue=False)
    assert channel.is_open
    assert channel.queue_declare("q").message_count == 0  # nothing came back to life


def test_delivery_tags_are_per_channel(broker: Broker, connection: Connection) -> None:
    first, second = connection.open_channel(1), connection.open_channel(2)
    fill(first, 4)
    assert get(first, 2) == [1, 2]
    assert get(second, 1) == [1]
    second.basic_ack(1)  # second's m3, not first's m1
    first.basic_consume("q", "c")  # consumers share the channel's counter with basic.get
    [(_, number, item)] = deliveries(broker)
    assert (number, item.delivery_tag, item.message.body) == (1, 3, b"m4")
    first.close()
    assert drain(broker) == [("m1", True), ("m2", True), ("m4", True)]
    reopened = connection.open_channel(1)
    reopened.basic_publish("", "q", b"m5")
    assert get(reopened, 1) == [1]


def test_ack_frees_a_prefetch_slot(broker: Broker, channel: Channel) -> None:
    fill(channel, 3)
    channel.basic_qos(1)
    channel.basic_consume("q", "c")
    assert [item.message.body for _, _, item in deliveries(broker)] == [b"m1"]
    channel.basic_ack(1)
    assert [(item.delivery_tag, item.message.body) for _, _, item in deliveries(broker)] == [(2, b"m2")]
