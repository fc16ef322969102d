"""Queue length limits: `x-max-length` and `x-max-length-bytes` with `x-overflow` drop-head
(the default), reject-publish and reject-publish-dlx. Measured with pika on RabbitMQ 3.10.8
and 4.0.5, which agree; publishing one message at a time, as the core does, both nack with
`multiple` set (RabbitMQ coalesces a nack when nothing before it is still unconfirmed)."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Deliver,
    EventKind,
    Properties,
    PublisherAck,
    PublisherNack,
    Return,
    TraceEvent,
)
from tests.broker.conftest import deliveries

PROFILES = ("3.10", "4.0", "4.3")


def bodies(channel: Channel, queue: str) -> list[bytes]:
    out = []
    while (got := channel.basic_get(queue, no_ack=True)) is not None:
        out.append(got.message.body)
    return out


def outbound(broker: Broker) -> list[Any]:
    return [item for _connection, _number, item in deliveries(broker)]


def test_drop_head_keeps_the_newest(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length": 2})
    for n in range(1, 5):
        channel.basic_publish("", "q", f"m{n}".encode())
    assert bodies(channel, "q") == [b"m3", b"m4"]


def test_only_ready_messages_count_and_a_requeue_drops_the_head(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length": 2})
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2")
    tags = []
    for _ in range(2):
        got = channel.basic_get("q")
        assert got is not None
        tags.append(got.delivery_tag)
    for body in (b"m3", b"m4", b"m5"):  # the two unacked do not count: m3 is dropped by m5
        channel.basic_publish("", "q", body)
    assert channel.queue_declare("q", passive=True).message_count == 2
    channel.basic_nack(tags[-1], multiple=True, requeue=True)  # back at the head, over the limit
    assert bodies(channel, "q") == [b"m4", b"m5"]


def test_reject_publish_lets_a_requeue_go_over_the_limit(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2")
    tags = [got.delivery_tag for got in (channel.basic_get("q"), channel.basic_get("q")) if got]
    channel.basic_publish("", "q", b"m3")
    channel.basic_publish("", "q", b"m4")
    channel.basic_nack(tags[-1], multiple=True, requeue=True)
    assert bodies(channel, "q") == [b"m1", b"m2", b"m3", b"m4"]


def test_a_full_queue_with_a_waiting_consumer(broker: Broker, channel: Channel) -> None:
    """x-max-length 0: drop-head still hands a message to a consumer waiting for it;
    reject-publish refuses it before any consumer is asked."""
    channel.queue_declare("drop", arguments={"x-max-length": 0})
    channel.queue_declare("refuse", arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    consumer = channel.connection.open_channel(2)
    consumer.basic_consume("drop", "d", no_ack=True)
    consumer.basic_consume("refuse", "r", no_ack=True)
    channel.confirm_select()
    channel.basic_publish("", "drop", b"a")
    channel.basic_publish("", "refuse", b"b")
    sent = outbound(broker)
    assert [item.message.body for item in sent if isinstance(item, Deliver)] == [b"a"]
    assert [item for item in sent if not isinstance(item, Deliver)] == [
        PublisherAck(1),
        PublisherNack(2, True),
    ]


def test_reject_publish_nacks_and_neither_returns_nor_dead_letters(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.exchange_declare("fan", "fanout")
    channel.queue_declare(
        "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish", "x-dead-letter-exchange": "dlx"}
    )
    channel.queue_declare("other")
    channel.queue_bind("q", "fan")
    channel.queue_bind("other", "fan")
    channel.confirm_select()
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2", mandatory=True)
    channel.basic_publish("fan", "", b"m3")  # the other queue takes it; the publisher is still nacked
    sent = outbound(broker)
    assert sent == [PublisherAck(1), PublisherNack(2, True), PublisherNack(3, True)]
    assert not any(isinstance(item, Return) for item in sent)
    plain = channel.connection.open_channel(2)
    plain.basic_publish("", "q", b"m4")  # without confirms: silently gone, the channel stays open
    assert plain.is_open
    assert (bodies(channel, "q"), bodies(channel, "other"), bodies(channel, "dead")) == ([b"m1"], [b"m3"], [])
    confirms = [event.detail["ack"] for event in events if event.kind is EventKind.CONFIRM]
    assert confirms == [True, False, False]
    refusals = [event for event in events if event.kind is EventKind.DROP]
    assert {event.detail["reason"] for event in refusals} == {"reject-publish"}
    assert all(event.source == channel.vhost.queues["q"].node for event in refusals)


def test_reject_publish_dlx_nacks_and_dead_letters(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    arguments = {"x-max-length": 1, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx"}
    channel.queue_declare("q", arguments=arguments)
    channel.confirm_select()
    for body in (b"m1", b"m2", b"m3"):
        channel.basic_publish("", "q", body)
    assert outbound(broker) == [PublisherAck(1), PublisherNack(2, True), PublisherNack(3, True)]
    assert bodies(channel, "q") == [b"m1"]
    dead = []
    while (got := channel.basic_get("dead", no_ack=True)) is not None:
        dead.append((got.message.body, (got.message.properties.headers or {})["x-death"][0]["reason"]))
    assert dead == [(b"m2", "maxlen"), (b"m3", "maxlen")]


def test_max_length_bytes_counts_bodies_inclusively(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("drop", arguments={"x-max-length-bytes": 10})
    channel.queue_declare("refuse", arguments={"x-max-length-bytes": 10, "x-overflow": "reject-publish"})
    channel.queue_declare("both", arguments={"x-max-length-bytes": 5, "x-max-length": 3})
    # headers do not count; a body over the limit on its own is dropped at once
    channel.basic_publish("", "drop", b"x" * 11, Properties(headers={"big": "y" * 100}))
    for body in (b"aaaa", b"bbbbbb", b""):
        channel.basic_publish("", "drop", body)
    channel.confirm_select()
    for body in (b"x" * 11, b"a" * 10, b"", b"b"):
        channel.basic_publish("", "refuse", body)
    assert outbound(broker) == [
        PublisherNack(1, True),
        PublisherAck(2),
        PublisherAck(3),
        PublisherNack(4, True),
    ]
    for body in (b"1", b"22", b"", b"", b"333"):
        channel.basic_publish("", "both", body)
    assert bodies(channel, "drop") == [b"aaaa", b"bbbbbb", b""]
    assert bodies(channel, "refuse") == [b"a" * 10, b""]
    assert bodies(channel, "both") == [b"", b"", b"333"]


def test_bytes_are_accounted_as_messages_come_and_go(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length-bytes": 6})
    channel.basic_publish("", "q", b"aaa")
    got = channel.basic_get("q")
    assert got is not None
    channel.basic_publish("", "q", b"bbb")
    channel.basic_publish("", "q", b"ccc")  # 6 bytes ready: full, nothing dropped
    assert channel.vhost.queues["q"].ready_bytes == 6
    channel.basic_reject(got.delivery_tag, requeue=True)  # 9 bytes: the head (aaa) goes
    assert bodies(channel, "q") == [b"bbb", b"ccc"]
    channel.basic_publish("", "q", b"dddddd")
    channel.queue_purge("q")
    channel.basic_publish("", "q", b"eeeeee")
    assert bodies(channel, "q") == [b"eeeeee"]


def test_a_refused_publish_fails_the_transaction(channel: Channel) -> None:
    """tx.commit answers 406 "partial tx completion"; what was accepted stays."""
    channel.queue_declare("q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    channel.tx_select()
    channel.basic_publish("", "q", b"m1")
    channel.basic_publish("", "q", b"m2")
    with pytest.raises(ChannelError) as caught:
        channel.tx_commit()
    assert (caught.value.reply_code, caught.value.reply_text) == (
        406,
        "PRECONDITION_FAILED - partial tx completion",
    )
    assert not channel.is_open
    assert bodies(channel.connection.open_channel(2), "q") == [b"m1"]


def test_a_priority_queue_drops_its_highest_priority_head(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length": 2, "x-max-priority": 5})
    for body, priority in ((b"p1", 1), (b"p5", 5), (b"p3", 3)):
        channel.basic_publish("", "q", body, Properties(priority=priority))
    assert bodies(channel, "q") == [b"p3", b"p1"]


def test_a_busy_consumer_and_a_short_queue(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-max-length": 1})
    consumer = channel.connection.open_channel(2)
    consumer.basic_qos(1)
    consumer.basic_consume("q", "c")
    for body in (b"m1", b"m2", b"m3"):
        channel.basic_publish("", "q", body)
    assert [item.message.body for item in outbound(broker) if isinstance(item, Deliver)] == [b"m1"]
    assert bodies(channel, "q") == [b"m3"]


# --- quorum queues -------------------------------------------------------------------------------


def quorum(profile: str, **arguments: Any) -> tuple[Broker, Channel]:
    broker = Broker(profile=profile)
    channel = broker.connect().open_channel(1)
    channel.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum", **arguments})
    return broker, channel


@pytest.mark.parametrize("profile", PROFILES)
def test_a_quorum_queue_refuses_only_once_over_its_limit(profile: str) -> None:
    """Measured one publish at a time: a quorum queue takes one message over the limit."""
    broker, channel = quorum(profile, **{"x-max-length": 2, "x-overflow": "reject-publish"})
    channel.confirm_select()
    for n in range(6):
        channel.basic_publish("", "qq", f"b{n}".encode())
    assert outbound(broker) == [PublisherAck(1), PublisherAck(2), PublisherAck(3)] + [
        PublisherNack(n, True) for n in (4, 5, 6)
    ]
    assert bodies(channel, "qq") == [b"b0", b"b1", b"b2"]
    channel.basic_publish("", "qq", b"c0")
    assert bodies(channel, "qq") == [b"c0"]
    _broker, channel = quorum(profile, **{"x-max-length-bytes": 10, "x-overflow": "reject-publish"})
    for body in (b"aaaa", b"bbbb", b"cccc", b"dddd", b"e"):
        channel.basic_publish("", "qq", body)
    assert bodies(channel, "qq") == [b"aaaa", b"bbbb", b"cccc"]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_quorum_queue_treats_reject_publish_dlx_as_drop_head(profile: str) -> None:
    _broker, channel = quorum(profile, **{"x-max-length": 2, "x-overflow": "reject-publish-dlx"})
    for body in (b"c1", b"c2", b"c3"):
        channel.basic_publish("", "qq", body)
    assert bodies(channel, "qq") == [b"c2", b"c3"]


@pytest.mark.parametrize(("profile", "left"), [("3.10", [b"m1", b"m2"]), ("4.0", [b"m4", b"m5"])])
def test_quorum_drop_head_after_a_requeue_follows_where_the_requeue_went(
    profile: str, left: list[bytes]
) -> None:
    """3.10 puts returned messages at the back, so the newer ones are dropped; 4.0 puts them
    back at the head, so they are."""
    _broker, channel = quorum(profile, **{"x-max-length": 2})
    channel.basic_publish("", "qq", b"m1")
    channel.basic_publish("", "qq", b"m2")
    tags = [got.delivery_tag for got in (channel.basic_get("qq"), channel.basic_get("qq")) if got]
    for body in (b"m3", b"m4", b"m5"):
        channel.basic_publish("", "qq", body)
    channel.basic_nack(tags[-1], multiple=True, requeue=True)
    assert bodies(channel, "qq") == left
