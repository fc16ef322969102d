"""Quorum queues count returns (`x-delivery-count`) and drop a message returned more often than
the delivery limit. Measured on RabbitMQ 3.10.8 and 4.0.5 with pika; the versions differ in the
default limit (4.0: 20, 3.10: none), where a returned message goes, and when the header starts."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim.broker import Broker, Channel, EventKind, TraceEvent

QUORUM = {"x-queue-type": "quorum"}


def quorum_channel(profile: str, **arguments: Any) -> Channel:
    channel = Broker(profile=profile).connect().open_channel(1)
    channel.queue_declare("qq", durable=True, arguments={**QUORUM, **arguments})
    return channel


def count_of(got: Any) -> Any:
    return (got.message.properties.headers or {}).get("x-delivery-count")


@pytest.mark.parametrize(("profile", "first_count"), [("3.10", 0), ("4.0", None), ("4.3", None)])
def test_the_header_counts_returns_including_a_closed_channel(profile: str, first_count: int | None) -> None:
    channel = quorum_channel(profile)
    channel.basic_publish("", "qq", b"m1")
    reader = channel.connection.open_channel(2)
    got = reader.basic_get("qq")
    assert got is not None and count_of(got) == first_count and not got.redelivered
    reader.close()  # the unacked message goes back: that counts as a return
    got = channel.basic_get("qq")
    assert got is not None and count_of(got) == 1 and got.redelivered
    channel.basic_reject(got.delivery_tag, requeue=True)
    got = channel.basic_get("qq")
    assert got is not None and count_of(got) == 2


@pytest.mark.parametrize(
    ("profile", "order"),
    [("3.10", [b"m2", b"m3", b"m1"]), ("4.0", [b"m1", b"m2", b"m3"]), ("4.3", [b"m1", b"m2", b"m3"])],
)
def test_a_nacked_message_goes_to_the_back_on_3_10_and_back_to_its_place_on_4_0(
    profile: str, order: list[bytes]
) -> None:
    channel = quorum_channel(profile)
    for n in (1, 2, 3):
        channel.basic_publish("", "qq", f"m{n}".encode())
    got = channel.basic_get("qq")
    assert got is not None
    channel.basic_nack(got.delivery_tag, requeue=True)
    bodies = []
    while (got := channel.basic_get("qq", no_ack=True)) is not None:
        bodies.append(got.message.body)
    assert bodies == order


@pytest.mark.parametrize(("profile", "deliveries"), [("4.3", 21), ("4.0", 21), ("3.10", None)])
def test_the_default_delivery_limit(profile: str, deliveries: int | None) -> None:
    channel = quorum_channel(profile)
    channel.basic_publish("", "qq", b"m")
    delivered = 0
    while delivered < 40 and (got := channel.basic_get("qq")) is not None:
        delivered += 1
        channel.basic_reject(got.delivery_tag, requeue=True)
    assert delivered == (deliveries or 40)


@pytest.mark.parametrize(("profile", "deliveries"), [("4.3", None), ("4.0", 21)])
def test_4_3_does_not_count_a_nack_toward_the_delivery_limit(profile: str, deliveries: int | None) -> None:
    """4.3 counts basic.nack(requeue) only in x-acquired-count (measured on 4.3.6)."""
    channel = quorum_channel(profile)
    channel.basic_publish("", "qq", b"m")
    delivered = 0
    while delivered < 40 and (got := channel.basic_get("qq")) is not None:
        delivered += 1
        headers = got.message.properties.headers or {}
        if profile == "4.3" and delivered > 1:
            assert (headers.get("x-acquired-count"), headers.get("x-delivery-count")) == (delivered - 1, None)
        channel.basic_nack(got.delivery_tag, requeue=True)
    assert delivered == (deliveries or 40)


def test_a_message_over_its_delivery_limit_is_dropped_and_traced(
    broker: Broker, events: list[TraceEvent]
) -> None:
    channel = broker.connect().open_channel(1)
    channel.queue_declare("qq", durable=True, arguments={**QUORUM, "x-delivery-limit": 1})
    channel.basic_publish("", "qq", b"m")
    for _ in range(2):
        got = channel.basic_get("qq")
        assert got is not None
        channel.basic_reject(got.delivery_tag, requeue=True)
    assert channel.basic_get("qq") is None
    drops = [event for event in events if event.kind is EventKind.DROP]
    assert [event.detail["reason"] for event in drops] == ["delivery-limit"]
    assert channel.vhost.queues["qq"].unacked == 0
