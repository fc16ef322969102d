"""Consumer priorities (`x-priority`) and single active consumers, as RabbitMQ 3.10.8 and 4.0.5
dispatch them: the highest priority consumers with room take turns, lower ones only get what
those cannot take; a single active consumer takes everything until it goes."""

from __future__ import annotations

from rabbitsim.broker import Broker, Channel, Deliver
from tests.broker.conftest import deliveries


def consumed(broker: Broker) -> dict[str, list[bytes]]:
    got: dict[str, list[bytes]] = {}
    for _, _, item in deliveries(broker):
        if isinstance(item, Deliver):
            got.setdefault(item.consumer_tag, []).append(item.message.body)
    return got


def test_the_high_priority_consumer_is_filled_first(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.basic_qos(2)
    channel.basic_consume("q", "low")
    channel.basic_consume("q", "high", arguments={"x-priority": 10})
    for n in range(1, 6):
        channel.basic_publish("", "q", f"m{n}".encode())
    assert consumed(broker) == {"high": [b"m1", b"m2"], "low": [b"m3", b"m4"]}


def test_equal_high_priorities_take_turns_and_an_ack_frees_the_high_one(
    broker: Broker, channel: Channel
) -> None:
    channel.queue_declare("q")
    channel.basic_qos(1)
    channel.basic_consume("q", "a", arguments={"x-priority": 5})
    channel.basic_consume("q", "b", arguments={"x-priority": 5})
    channel.basic_consume("q", "low")
    for n in range(1, 5):
        channel.basic_publish("", "q", f"m{n}".encode())
    assert consumed(broker) == {"a": [b"m1"], "b": [b"m2"], "low": [b"m3"]}
    channel.basic_ack(1)  # a's message: a has room again, and outranks low
    assert consumed(broker) == {"a": [b"m4"]}


def test_without_priorities_consumers_keep_plain_round_robin(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.basic_consume("q", "a", arguments={"x-priority": 3})
    channel.basic_cancel("a")
    channel.basic_consume("q", "b")
    channel.basic_consume("q", "c")
    for n in range(1, 5):
        channel.basic_publish("", "q", f"m{n}".encode())
    assert consumed(broker) == {"b": [b"m1", b"m3"], "c": [b"m2", b"m4"]}
    assert channel.vhost.queues["q"].prioritised == 0


def test_a_single_active_consumer_gets_everything_until_it_goes(broker: Broker, channel: Channel) -> None:
    """x-single-active-consumer: the first consumer takes all; the next takes over on cancel."""
    channel.queue_declare("q", arguments={"x-single-active-consumer": True})
    channel.basic_consume("q", "first", no_ack=True)
    channel.basic_consume("q", "second", no_ack=True)
    for n in range(1, 4):
        channel.basic_publish("", "q", f"m{n}".encode())
    assert consumed(broker) == {"first": [b"m1", b"m2", b"m3"]}
    channel.basic_cancel("first")
    channel.basic_publish("", "q", b"m4")
    assert consumed(broker) == {"second": [b"m4"]}
