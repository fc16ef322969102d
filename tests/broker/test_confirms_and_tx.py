"""Publisher confirms and transactions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Connection,
    EventKind,
    PublisherAck,
    Return,
    TraceEvent,
)
from tests.broker.conftest import deliveries

Settle = Callable[[Channel], None]


def fill(channel: Channel, count: int, queue: str = "q") -> None:
    channel.queue_declare(queue)
    for i in range(1, count + 1):
        channel.basic_publish("", queue, f"m{i}".encode())


def drain(broker: Broker, queue: str = "q") -> list[tuple[str, bool]]:
    """What is ready in `queue`, in order, as (body, redelivered), read from a fresh connection."""
    reader = broker.connect().open_channel(1)
    found = []
    while (got := reader.basic_get(queue, no_ack=True)) is not None:
        found.append((got.message.body.decode(), got.redelivered))
    return found


def ready(broker: Broker, queue: str = "q") -> int:
    return len(broker.vhosts["/"].queues[queue].ready)


def unacked(broker: Broker, queue: str = "q") -> int:
    return broker.vhosts["/"].queues[queue].unacked


# --- publisher confirms ------------------------------------------------------------------------


def test_confirm_sequence_numbers_count_per_channel(broker: Broker, connection: Connection) -> None:
    first, second, plain = (connection.open_channel(n) for n in (1, 2, 3))
    first.queue_declare("q")
    first.confirm_select()
    second.confirm_select()
    for channel in (first, second, first, plain, first, second):
        channel.basic_publish("", "q", b"x")
    assert deliveries(broker) == [
        (connection.name, 1, PublisherAck(1)),
        (connection.name, 2, PublisherAck(1)),
        (connection.name, 1, PublisherAck(2)),
        (connection.name, 1, PublisherAck(3)),
        (connection.name, 2, PublisherAck(2)),
    ]
    assert ready(broker) == 6


def test_confirm_is_sent_after_the_message_is_enqueued(
    broker: Broker, connection: Connection, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel.queue_declare("q")
    channel.confirm_select()
    seen: list[tuple[object, int]] = []
    send = connection.send

    def spy(number: int, item: object) -> None:
        seen.append((item, ready(broker)))
        send(number, item)  # type: ignore[arg-type]

    monkeypatch.setattr(connection, "send", spy)
    channel.basic_publish("", "q", b"one")
    channel.basic_publish("", "q", b"two")
    assert seen == [(PublisherAck(1), 1), (PublisherAck(2), 2)]


def test_mandatory_unroutable_is_returned_then_acked(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("x", "direct")
    channel.confirm_select()
    channel.basic_publish("x", "nowhere", b"lost", mandatory=True)
    out = deliveries(broker)
    assert [(number, type(item)) for _, number, item in out] == [(1, Return), (1, PublisherAck)]
    returned, ack = out[0][2], out[1][2]
    assert isinstance(returned, Return)
    assert (returned.reply_code, returned.reply_text, returned.exchange, returned.routing_key) == (
        312,
        "NO_ROUTE",
        "x",
        "nowhere",
    )
    assert returned.message.body == b"lost"
    assert ack == PublisherAck(1)


def test_unroutable_without_mandatory_is_acked(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("x", "fanout")
    channel.confirm_select()
    channel.basic_publish("x", "", b"lost")
    channel.basic_publish("", "no-such-queue", b"lost too")
    assert deliveries(broker) == [
        (channel.connection.name, 1, PublisherAck(1)),
        (channel.connection.name, 1, PublisherAck(2)),
    ]


def test_publish_to_missing_exchange_on_confirm_channel_closes_it_without_nack(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    channel.confirm_select()
    channel.basic_publish("amq.direct", "k", b"fine")
    assert deliveries(broker) == [(connection.name, 1, PublisherAck(1))]
    with pytest.raises(ChannelError) as caught:
        channel.basic_publish("missing", "k", b"bad")
    assert caught.value.reply_code == 404
    assert caught.value.reply_text == "NOT_FOUND - no exchange 'missing' in vhost '/'"
    assert not channel.is_open
    assert connection.is_open
    assert deliveries(broker) == []


# --- transactions ------------------------------------------------------------------------------


def test_tx_publishes_are_held_until_commit(broker: Broker, connection: Connection, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.tx_select()
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2")
    assert ready(broker) == 0
    channel.tx_commit()
    assert drain(broker) == [("m1", False), ("m2", False)]


def test_tx_rollback_discards_publishes(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.tx_select()
    channel.basic_publish("", "q", b"discarded")
    channel.tx_rollback()
    channel.tx_commit()
    assert ready(broker) == 0
    channel.basic_publish("", "q", b"kept")  # still transactional after rollback
    assert ready(broker) == 0
    channel.tx_commit()
    assert drain(broker) == [("kept", False)]


def test_tx_acks_are_held_until_commit(broker: Broker, connection: Connection, channel: Channel) -> None:
    fill(channel, 2)
    channel.tx_select()
    got = channel.basic_get("q")
    assert got is not None
    channel.basic_ack(got.delivery_tag)
    assert unacked(broker) == 1
    channel.tx_commit()
    assert unacked(broker) == 0
    channel.close()
    assert drain(broker) == [("m2", False)]


def test_tx_rolled_back_ack_leaves_the_message_unacked(broker: Broker, channel: Channel) -> None:
    """Measured on RabbitMQ 3.10: the same tag can be acked again after the rollback."""
    fill(channel, 2)
    channel.tx_select()
    assert channel.basic_get("q") is not None
    channel.basic_ack(1)
    channel.tx_rollback()
    assert unacked(broker) == 1
    channel.basic_ack(1)
    channel.tx_commit()
    assert unacked(broker) == 0
    assert drain(broker) == [("m2", False)]


def test_tx_acking_the_same_tag_twice_is_406(broker: Broker, channel: Channel) -> None:
    fill(channel, 2)
    channel.tx_select()
    assert channel.basic_get("q") is not None
    channel.basic_ack(1)
    with pytest.raises(ChannelError, match=r"^PRECONDITION_FAILED - unknown delivery tag 1$"):
        channel.basic_ack(1)
    assert drain(broker) == [("m1", True), ("m2", False)]


@pytest.mark.parametrize(
    ("settle", "settle_again"),
    [
        pytest.param(
            lambda channel: channel.basic_nack(1),
            lambda channel: channel.basic_reject(1),
            id="nack-then-reject",
        ),
        pytest.param(
            lambda channel: channel.basic_reject(1),
            lambda channel: channel.basic_nack(1),
            id="reject-then-nack",
        ),
    ],
)
def test_tx_requeues_are_held_until_commit(
    broker: Broker, channel: Channel, settle: Settle, settle_again: Settle
) -> None:
    fill(channel, 3)
    other = channel.connection.open_channel(2)
    other.tx_select()
    assert other.basic_get("q") is not None
    settle(other)
    assert (ready(broker), unacked(broker)) == (2, 1)
    other.tx_rollback()
    assert (ready(broker), unacked(broker)) == (2, 1)
    settle_again(other)
    other.tx_commit()
    assert (ready(broker), unacked(broker)) == (3, 0)
    assert drain(broker) == [("m1", True), ("m2", False), ("m3", False)]


def test_tx_drop_happens_at_commit(broker: Broker, events: list[TraceEvent], channel: Channel) -> None:
    fill(channel, 2)
    channel.tx_select()
    got = channel.basic_get("q")
    assert got is not None
    channel.basic_reject(got.delivery_tag, requeue=False)
    assert not [event for event in events if event.kind is EventKind.DROP]
    channel.tx_commit()
    drops = [event for event in events if event.kind is EventKind.DROP]
    assert [(event.message, event.detail["reason"]) for event in drops] == [(got.message.id, "rejected")]
    assert unacked(broker) == 0
    assert drain(broker) == [("m2", False)]


@pytest.mark.parametrize("method", ["tx_commit", "tx_rollback"])
def test_commit_or_rollback_without_select_is_406(
    connection: Connection, channel: Channel, method: str
) -> None:
    with pytest.raises(ChannelError) as caught:
        getattr(channel, method)()
    assert caught.value.reply_code == 406
    assert caught.value.reply_text == "PRECONDITION_FAILED - channel is not transactional"
    assert not channel.is_open
    assert connection.is_open


def test_confirm_select_on_a_tx_channel_is_406(connection: Connection, channel: Channel) -> None:
    channel.tx_select()
    with pytest.raises(ChannelError) as caught:
        channel.confirm_select()
    assert caught.value.reply_code == 406
    assert caught.value.reply_text == "PRECONDITION_FAILED - cannot switch from tx to confirm mode"
    assert not channel.is_open
    assert connection.is_open


def test_tx_select_on_a_confirm_channel_is_406(connection: Connection, channel: Channel) -> None:
    channel.confirm_select()
    with pytest.raises(ChannelError) as caught:
        channel.tx_select()
    assert caught.value.reply_code == 406
    assert caught.value.reply_text == "PRECONDITION_FAILED - cannot switch from confirm to tx mode"
    assert not channel.is_open
    assert connection.is_open


def test_closing_a_channel_with_uncommitted_acks_requeues_them(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    """Measured on RabbitMQ 3.10: an uncommitted ack is void, the message comes back."""
    fill(channel, 3)
    worker = connection.open_channel(2)
    worker.tx_select()
    assert worker.basic_get("q") is not None
    assert worker.basic_get("q") is not None
    worker.basic_ack(1)
    worker.close()
    assert unacked(broker) == 0
    assert drain(broker) == [("m1", True), ("m2", True), ("m3", False)]


def test_tx_commit_delivers_held_publishes_to_consumers(broker: Broker, connection: Connection) -> None:
    publisher, consumer = connection.open_channel(1), connection.open_channel(2)
    publisher.queue_declare("q")
    consumer.basic_consume("q", "c")
    publisher.tx_select()
    publisher.basic_publish("", "q", b"a")
    publisher.basic_publish("", "q", b"b")
    assert deliveries(broker) == []
    publisher.tx_commit()
    assert [(number, item.message.body) for _, number, item in deliveries(broker)] == [(2, b"a"), (2, b"b")]
