"""Direct reply-to in the core, as measured on RabbitMQ 3.10.8 and 4.0.5: the pseudo-queue,
the reply_to rewrite, replies straight to the consuming channel, and the errors."""

from __future__ import annotations

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Connection,
    Deliver,
    EventKind,
    Properties,
    Return,
    TraceEvent,
)
from rabbitsim.vocabulary import REPLY_KEY_PREFIX, REPLY_QUEUE
from tests.broker.conftest import deliveries


@pytest.fixture
def server(broker: Broker) -> Channel:
    """The RPC server's channel, on its own connection, holding the request queue 'rpc'."""
    channel = broker.connect(name="server").open_channel(1)
    channel.queue_declare("rpc")
    return channel


def request_reply_to(client: Channel, server: Channel) -> str:
    """Publish a request with reply_to=amq.rabbitmq.reply-to; the reply_to the server sees."""
    client.basic_publish("", "rpc", b"request", Properties(reply_to=REPLY_QUEUE, correlation_id="c1"))
    got = server.basic_get("rpc", no_ack=True)
    assert got is not None
    reply_to = got.message.properties.reply_to
    assert reply_to is not None
    return reply_to


def test_a_request_reply_to_is_rewritten_to_a_key_naming_the_channel(
    broker: Broker, channel: Channel, server: Channel
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    assert reply_to.startswith(REPLY_KEY_PREFIX)
    assert len(reply_to) > len(REPLY_KEY_PREFIX)
    got = server.basic_get("rpc")
    assert got is None  # the request went once


def test_the_reply_goes_straight_to_the_reply_consumer_with_properties_intact(
    broker: Broker, channel: Channel, server: Channel
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    deliveries(broker)
    server.basic_publish("", reply_to, b"answer", Properties(correlation_id="c1"))
    [(name, number, item)] = deliveries(broker)
    assert (name, number) == (channel.connection.name, channel.number)
    assert isinstance(item, Deliver)
    assert (item.consumer_tag, item.redelivered, item.exchange, item.routing_key) == (
        "replies",
        False,
        "",
        reply_to,
    )
    assert item.message.body == b"answer"
    assert item.message.properties.correlation_id == "c1"  # type: ignore[attr-defined]


def test_replies_take_the_next_delivery_tag_without_using_it_up(
    broker: Broker, channel: Channel, server: Channel
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    channel.queue_declare("work")
    channel.basic_publish("", "work", b"job")
    assert channel.basic_get("work") is not None  # delivery tag 1
    deliveries(broker)
    server.basic_publish("", reply_to, b"r1")
    server.basic_publish("", reply_to, b"r2")
    tags = [item.delivery_tag for _, _, item in deliveries(broker) if isinstance(item, Deliver)]
    assert tags == [2, 2]
    channel.basic_publish("", "work", b"job")
    got = channel.basic_get("work")
    assert got is not None
    assert got.delivery_tag == 2
    assert channel.unacked.keys() == {1, 2}  # replies are never waiting for an ack


def test_a_mandatory_reply_is_delivered_and_returned(
    broker: Broker, channel: Channel, server: Channel
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    deliveries(broker)
    server.basic_publish("", reply_to, b"answer", mandatory=True)
    kinds = sorted(type(item).__name__ for _, _, item in deliveries(broker))
    assert kinds == ["Deliver", "Return"]


def test_only_the_default_exchange_reaches_a_reply_consumer(
    broker: Broker, channel: Channel, server: Channel
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    deliveries(broker)
    server.basic_publish("amq.direct", reply_to, b"answer")
    assert deliveries(broker) == []


@pytest.mark.parametrize("how", ["cancel", "close-channel", "close-connection"])
def test_a_reply_to_a_gone_consumer_is_dropped_and_its_key_forgotten(
    broker: Broker, connection: Connection, channel: Channel, server: Channel, how: str
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    stop = {
        "cancel": lambda: channel.basic_cancel("replies"),
        "close-channel": channel.close,
        "close-connection": lambda: connection.shut_down(None),
    }
    stop[how]()
    deliveries(broker)
    server.basic_publish("", reply_to, b"late", mandatory=True)
    [(_, _, item)] = deliveries(broker)
    assert isinstance(item, Return)
    with pytest.raises(ChannelError) as caught:
        server.queue_declare(reply_to, passive=True)
    assert caught.value.reply_code == 404


def test_a_reply_to_a_made_up_key_is_unroutable(broker: Broker, server: Channel) -> None:
    server.basic_publish("", REPLY_KEY_PREFIX + "made-up", b"x", mandatory=True)
    [(_, _, item)] = deliveries(broker)
    assert isinstance(item, Return)


def test_a_reply_to_that_already_names_a_key_is_kept(channel: Channel, server: Channel) -> None:
    channel.basic_publish("", "rpc", b"request", Properties(reply_to=REPLY_KEY_PREFIX + "xyz"))
    got = server.basic_get("rpc")
    assert got is not None
    assert got.message.properties.reply_to == REPLY_KEY_PREFIX + "xyz"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("consume-with-ack", "PRECONDITION_FAILED - reply consumer cannot acknowledge"),
        ("consume-twice", "PRECONDITION_FAILED - reply consumer already set"),
        ("publish-without-consumer", "PRECONDITION_FAILED - fast reply consumer does not exist"),
    ],
)
def test_misuse_closes_the_channel_with_rabbitmqs_406(channel: Channel, setup: str, expected: str) -> None:
    steps = {
        "consume-with-ack": lambda: channel.basic_consume(REPLY_QUEUE, "a"),
        "consume-twice": lambda: (
            channel.basic_consume(REPLY_QUEUE, "a", no_ack=True),
            channel.basic_consume(REPLY_QUEUE, "b", no_ack=True),
        ),
        "publish-without-consumer": lambda: channel.basic_publish(
            "", "nowhere", b"x", Properties(reply_to=REPLY_QUEUE)
        ),
    }
    with pytest.raises(ChannelError) as caught:
        steps[setup]()
    assert (caught.value.reply_code, caught.value.reply_text) == (406, expected)
    assert not channel.is_open


def test_the_pseudo_queue_declares_with_one_consumer_but_is_no_queue(
    channel: Channel, server: Channel
) -> None:
    """RabbitMQ answers declare-ok (0 messages, 1 consumer), yet get and bind find no queue."""
    assert tuple(channel.queue_declare(REPLY_QUEUE, passive=True)) == (REPLY_QUEUE, 0, 1)
    assert tuple(channel.queue_declare(REPLY_QUEUE)) == (REPLY_QUEUE, 0, 1)
    assert channel.queue_delete(REPLY_QUEUE) == 0
    with pytest.raises(ChannelError) as caught:
        channel.basic_get(REPLY_QUEUE)
    assert caught.value.reply_code == 404
    assert caught.value.reply_text == f"NOT_FOUND - no queue '{REPLY_QUEUE}' in vhost '/'"


def test_a_live_reply_key_declares_passively(channel: Channel, server: Channel) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    assert tuple(server.queue_declare(reply_to, passive=True)) == (reply_to, 0, 1)


def test_the_reply_is_traced_from_the_key_to_the_consumer(
    broker: Broker, channel: Channel, server: Channel, events: list[TraceEvent]
) -> None:
    channel.basic_consume(REPLY_QUEUE, "replies", no_ack=True)
    reply_to = request_reply_to(channel, server)
    events.clear()
    server.basic_publish("", reply_to, b"answer")
    delivered = [event for event in events if event.kind is EventKind.DELIVER]
    assert len(delivered) == 1
    assert delivered[0].source is not None and delivered[0].source.name == reply_to
    assert delivered[0].target is not None and delivered[0].target.name == "replies"
    assert not [event for event in events if event.kind is EventKind.DROP]  # delivered, not dropped
