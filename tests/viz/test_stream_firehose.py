"""A stream through a real broker's firehose and statistics, without a broker: copies shaped
as RabbitMQ 3.10.8, 4.0.5 and 4.3.6 sent them (measured, see rabbitsim/backends/_firehose.py).
A stream's delivery carries `x-stream-offset`; 4.x adds `delivery_mode: 1` to a transient
message; one message goes to every reader and again on a replay; acks are counted per
delivery. The converter must keep one message id per offset, and the derived acks must be
one per delivery, each saying its offset."""

from __future__ import annotations

from typing import Any

from rabbitsim.backends import FirehoseConverter, QueueStats, settlements
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

PUBLISHER = "127.0.0.1:56752 -> 127.0.0.1:5674"
READER = "127.0.0.1:56760 -> 127.0.0.1:5674"


def publish(body: bytes) -> tuple[str, dict[str, Any], bytes]:
    headers = {
        "exchange_name": "",
        "routing_keys": [b"log"],
        "routed_queues": [b"log"],
        "properties": {},
        "connection": PUBLISHER,
        "channel": 1,
        "user": "guest",
        "vhost": "/",
        "node": "rabbit43@localhost",
    }
    return "publish.", headers, body


def deliver(
    body: bytes, offset: int, channel: int, *, version: str = "4.3"
) -> tuple[str, dict[str, Any], bytes]:
    properties: dict[str, Any] = {"headers": {"x-stream-offset": offset}}
    if version != "3.10":
        properties["delivery_mode"] = 1  # 4.0.5 and 4.3.6 add it; 3.10.8 does not
    headers = {
        "exchange_name": "",
        "routing_keys": [b"log"],
        "properties": properties,
        "redelivered": 0,
        "connection": READER,
        "channel": channel,
        "user": "guest",
        "vhost": "/",
        "node": "rabbit43@localhost",
    }
    return "deliver.log", headers, body


def channel(event: TraceEvent) -> int:
    assert event.target is not None
    return event.target.channel


def convert(converter: FirehoseConverter, *copies: tuple[str, dict[str, Any], bytes]) -> list[TraceEvent]:
    return [event for key, headers, body in copies for event in converter.convert(key, headers, body, 0.0)]


def test_every_reader_of_an_offset_gets_the_same_message() -> None:
    for version in ("3.10", "4.3"):
        converter = FirehoseConverter(lambda _name: True, ["log"])
        events = convert(
            converter,
            publish(b"a"),
            publish(b"b"),
            deliver(b"a", 0, 2, version=version),
            deliver(b"b", 1, 2, version=version),
            deliver(b"b", 1, 3, version=version),  # a second reader, from offset 1
            deliver(b"a", 0, 4, version=version),  # a replay from the start
        )
        delivered = [
            (e.message, e.detail["offset"], channel(e)) for e in events if e.kind is EventKind.DELIVER
        ]
        assert delivered == [(1, 0, 2), (2, 1, 2), (2, 1, 3), (1, 0, 4)], version
        assert not any(e.kind is EventKind.REQUEUE for e in events)
        enqueued = [e for e in events if e.kind is EventKind.ENQUEUE]
        assert [e.message for e in enqueued] == [1, 2] and all("offset" not in e.detail for e in enqueued), (
            "the publish copy does not say where the message landed"
        )


def test_identical_messages_are_told_apart_by_offset() -> None:
    converter = FirehoseConverter(lambda _name: True, ["log"])
    events = convert(
        converter,
        publish(b"same"),
        publish(b"same"),
        deliver(b"same", 0, 2),
        deliver(b"same", 1, 2),
        deliver(b"same", 1, 3),
        deliver(b"same", 0, 3),
    )
    assert [(e.message, e.detail["offset"]) for e in events if e.kind is EventKind.DELIVER] == [
        (1, 0),
        (2, 1),
        (2, 1),
        (1, 0),
    ]


def test_a_message_from_before_the_recording_keeps_one_number_for_all_readers() -> None:
    converter = FirehoseConverter(lambda _name: True, ["log"])
    events = convert(
        converter, deliver(b"old", 7, 2), deliver(b"old", 7, 3), publish(b"new"), deliver(b"new", 8, 2)
    )
    assert [(e.message, e.detail["offset"]) for e in events if e.kind is EventKind.DELIVER] == [
        (1, 7),
        (1, 7),
        (2, 8),
    ]


def stream_delivery(message: int, offset: int, channel: int) -> TraceEvent:
    reader = Node(NodeKind.CONSUMER, f"{READER}#{channel}", READER, channel)
    return TraceEvent(
        message + offset, 0.0, EventKind.DELIVER, "/", Node(NodeKind.QUEUE, "log"), reader, message, None,
        {"offset": offset},
    )  # fmt: skip


def test_a_streams_acks_are_one_per_delivery_and_name_their_offset() -> None:
    """Measured on all three versions: two readers taking 5 and 3 messages gave deliver_get 8
    and ack 8."""
    events = [stream_delivery(m, m - 1, 2) for m in (1, 2, 3)] + [
        stream_delivery(m, m - 1, 3) for m in (2, 3)
    ]
    after = {"log": QueueStats(delivered=5, acked=5)}
    derived, notes = settlements(events, {}, after, 4.0)
    assert notes == []
    assert [(a.message, a.detail["offset"], channel(a)) for a in derived] == [
        (1, 0, 2),
        (2, 1, 2),
        (3, 2, 2),
        (2, 1, 3),
        (3, 2, 3),
    ]
    assert all(a.kind is EventKind.ACK and a.detail["derived"] for a in derived)


def test_a_streams_partial_acks_are_not_guessed() -> None:
    events = [stream_delivery(1, 0, 2), stream_delivery(1, 0, 3)]
    derived, notes = settlements(events, {}, {"log": QueueStats(delivered=2, acked=1)}, 0.0)
    assert derived == [] and "1 acks and 0 deliveries without ack for 2 deliveries" in notes[0]
