"""Streams in the core: a log read by offset, acks as credit, retention by segment, and
RabbitMQ's refusals per version (tests/conformance/STREAM_FACTS.md; the conformance scenarios in
tests/conformance/scenarios/streams.py compare the same things with real RabbitMQ)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Deliver,
    EventKind,
    Stream,
)
from rabbitsim.broker import ConnectionError as AMQPConnectionError
from tests.broker.conftest import FakeClock, deliveries, record_events

STREAM = {"x-queue-type": "stream"}


def declare(channel: Channel, arguments: dict[str, Any] | None = None, name: str = "s") -> Stream:
    channel.queue_declare(name, durable=True, arguments={**STREAM, **(arguments or {})})
    found = channel.vhost.queues[name]
    assert isinstance(found, Stream)
    return found


def publish(channel: Channel, name: str, *bodies: str, **headers: Any) -> None:
    from rabbitsim.broker import Properties

    for body in bodies:
        channel.basic_publish("", name, body.encode(), Properties(headers=headers or None))


def received(broker: Broker) -> list[tuple[str, str, int]]:
    """(consumer tag, body, x-stream-offset) of each delivery so far."""
    out = []
    for _connection, _number, item in deliveries(broker):
        if isinstance(item, Deliver):
            headers = item.message.properties.headers or {}
            out.append((item.consumer_tag, item.message.body.decode(), headers["x-stream-offset"]))
    return out


def chunk_bytes(broker: Broker, body: int, queue: str = "s") -> int:
    """What one message published to `queue` through the default exchange takes in a segment:
    its chunk header, entry header, stored size and tracking trailer (STREAM_FACTS.md)."""
    return 48 + 4 + broker.profile.stream_message_overhead + len(queue) + body + 44


def consume(channel: Channel, queue: str, tag: str, offset: Any = None, prefetch: int = 10, **kw: Any) -> str:
    channel.basic_qos(prefetch)
    arguments = {} if offset is None else {"x-stream-offset": offset}
    return channel.basic_consume(queue, tag, arguments={**arguments, **kw})


def test_every_consumer_reads_the_whole_log_and_acks_remove_nothing(broker: Broker, channel: Channel) -> None:
    stream = declare(channel)
    publish(channel, "s", "a", "b", "c")
    consume(channel, "s", "one", "first")
    consume(channel, "s", "two", "first")
    got = received(broker)
    assert [(tag, body) for tag, body, _ in got] == [(tag, body) for tag in ("one", "two") for body in "abc"]
    assert [offset for _, _, offset in got] == [0, 1, 2, 0, 1, 2]
    channel.basic_ack(0, multiple=True)
    assert len(stream.ready) == 3 and stream.offsets == (0, 2)


def test_the_offset_header_is_a_signed_64_bit_field(broker: Broker, channel: Channel) -> None:
    from rabbitsim.broker import Long

    declare(channel)
    publish(channel, "s", "a", trace="kept")
    consume(channel, "s", "c", "first")
    ((_, _, item),) = deliveries(broker)
    assert isinstance(item, Deliver) and not item.redelivered
    assert item.message.properties.headers == {"trace": "kept", "x-stream-offset": 0}
    assert isinstance(item.message.properties.headers["x-stream-offset"], Long)


def test_prefetch_is_credit_and_an_ack_brings_the_next(broker: Broker, channel: Channel) -> None:
    declare(channel)
    publish(channel, "s", "a", "b", "c", "d")
    consume(channel, "s", "c", "first", prefetch=2)
    assert [body for _, body, _ in received(broker)] == ["a", "b"]
    channel.basic_ack(1)
    assert [body for _, body, _ in received(broker)] == ["c"]
    channel.basic_nack(2, requeue=True)  # 4.x: as an ack; nothing comes again
    assert [body for _, body, _ in received(broker)] == ["d"]


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("first", ["a", "b", "c"]),
        ("last", ["c"]),
        ("next", []),
        (None, []),
        (1, ["b", "c"]),
        (-1, ["a", "b", "c"]),
    ],
)
def test_where_a_consumer_starts(broker: Broker, channel: Channel, offset: Any, expected: list[str]) -> None:
    declare(channel)
    publish(channel, "s", "a", "b", "c")
    consume(channel, "s", "c", offset)
    assert [body for _, body, _ in received(broker)] == expected
    publish(channel, "s", "d")
    assert [body for _, body, _ in received(broker)] == ["d"]


def test_an_offset_beyond_the_end_waits_for_it(broker: Broker, channel: Channel) -> None:
    declare(channel)
    publish(channel, "s", "a")
    consume(channel, "s", "c", 3)
    publish(channel, "s", "b", "c", "d", "e")
    assert [(body, offset) for _, body, offset in received(broker)] == [("d", 3), ("e", 4)]


def test_timestamps_and_intervals(broker: Broker, channel: Channel, clock: FakeClock) -> None:
    declare(channel)
    clock.now = 1_000_000.0
    publish(channel, "s", "old")
    clock.now += 120
    publish(channel, "s", "new")
    clock.now += 1
    moment = datetime.datetime.fromtimestamp(1_000_060, datetime.UTC)
    consume(channel, "s", "since", moment)
    consume(channel, "s", "recent", "1m")
    consume(channel, "s", "all", "1h")
    assert [(tag, body) for tag, body, _ in received(broker)] == [
        ("since", "new"),
        ("recent", "new"),
        ("all", "old"),
        ("all", "new"),
    ]


def test_retention_removes_whole_old_segments_when_a_new_one_starts(broker: Broker, channel: Channel) -> None:
    size = chunk_bytes(broker, 10)
    stream = declare(channel, {"x-stream-max-segment-size-bytes": 3 * size, "x-max-length-bytes": 7 * size})
    events = record_events(broker)
    publish(channel, "s", *(f"m{i:08d}" for i in range(20)))
    first, last = stream.offsets or (0, 0)
    segments = stream.ready.segments
    assert first == segments[0].first > 0  # whole segments went, oldest first
    assert sum(segment.size for segment in list(segments)[:-1]) <= 7 * size - segments[-1].size + size
    bodies = [entry.message.body.decode() for entry in stream.ready]
    assert bodies == [f"m{i:08d}" for i in range(20 - len(bodies), 20)]  # the newest, in order
    dropped = [e.detail["offset"] for e in events if e.kind is EventKind.DROP]
    assert dropped == sorted(dropped) and dropped[-1] < first
    assert len(dropped) + len(bodies) == 20
    assert {e.detail["reason"] for e in events if e.kind is EventKind.DROP} == {"retention"}
    assert last - first + 1 == stream.counts()[0] > len(bodies)  # a snapshot takes an offset per segment


def test_each_new_segment_opens_with_a_snapshot_that_takes_an_offset(
    broker: Broker, channel: Channel
) -> None:
    size = chunk_bytes(broker, 1)
    stream = declare(channel, {"x-stream-max-segment-size-bytes": 2 * size})
    publish(channel, "s", *"abcde")
    # a segment takes chunks while it is under the limit: 2, then snapshot + 2 (the first after a
    # snapshot has no trailer), ...
    assert [entry.seq for entry in stream.ready] == [0, 1, 3, 4, 6]
    consume(channel, "s", "c", "first")
    assert [(body, offset) for _, body, offset in received(broker)] == list(
        zip("abcde", [0, 1, 3, 4, 6], strict=True)
    )


def test_a_reader_behind_retention_moves_to_the_first_offset(broker: Broker, channel: Channel) -> None:
    size = chunk_bytes(broker, 1)
    stream = declare(channel, {"x-stream-max-segment-size-bytes": 2 * size, "x-max-length-bytes": 2 * size})
    publish(channel, "s", "a", "b")
    consume(channel, "s", "slow", "first", prefetch=1)
    assert [body for _, body, _ in received(broker)] == ["a"]
    publish(channel, "s", *"cdefgh")
    channel.basic_ack(1)
    ((_, body, offset),) = received(broker)
    first, _ = stream.offsets or (0, 0)
    assert offset >= first > 1 and body == stream.ready[0].message.body.decode()


def test_max_age_removes_old_segments_at_the_next_roll(
    broker: Broker, channel: Channel, clock: FakeClock
) -> None:
    stream = declare(channel, {"x-stream-max-segment-size-bytes": chunk_bytes(broker, 1), "x-max-age": "10s"})
    publish(channel, "s", "a", "b")  # b opens a second segment: snapshot 1, b 2
    clock.now += 11
    assert stream.offsets == (0, 2)  # nothing happens until a segment rolls
    publish(channel, "s", "c")  # snapshot 3, c 4: the two older segments are too old
    assert stream.offsets == (3, 4)
    assert [entry.message.body for entry in stream.ready] == [b"c"]


def test_a_policy_sets_retention_and_wins_over_the_argument(broker: Broker, channel: Channel) -> None:
    overhead = chunk_bytes(broker, 1)
    stream = declare(channel, {"x-stream-max-segment-size-bytes": overhead, "x-max-length-bytes": 10**9})
    publish(channel, "s", *"abcdef")
    broker.set_policy("/", "short", "^s$", {"max-length-bytes": 2 * overhead}, apply_to="streams")
    assert stream.offsets is not None and stream.offsets[0] >= 4


def test_the_refusals_of_4_3(broker: Broker, channel: Channel, connection: Any) -> None:
    with pytest.raises(ChannelError, match="invalid property 'non-durable'"):
        channel.queue_declare("t", durable=False, arguments=STREAM)
    channel = connection.open_channel(2)
    with pytest.raises(ChannelError, match="invalid arg 'x-max-length' for queue 't' in vhost '/' of queue"):
        channel.queue_declare("t", durable=True, arguments={**STREAM, "x-max-length": 1})
    channel = connection.open_channel(3)
    declare(channel)
    with pytest.raises(ChannelError, match="consumer prefetch count is not set for stream queue 's'"):
        channel.basic_consume("s", "c")
    channel = connection.open_channel(4)
    channel.basic_qos(5)
    with pytest.raises(AMQPConnectionError, match="automatic acknowledgement not supported by stream"):
        channel.basic_consume("s", "c", no_ack=True)


def test_basic_get_and_purge_close_the_connection(broker: Broker, channel: Channel, connection: Any) -> None:
    declare(channel)
    with pytest.raises(AMQPConnectionError, match=r"basic\.get not supported by stream queues queue 's'"):
        channel.basic_get("s")
    other = broker.connect().open_channel(1)
    with pytest.raises(AMQPConnectionError, match=r"queue\.purge not supported by stream queues queue 's'"):
        other.queue_purge("s")


@pytest.mark.parametrize("broker", ["3.10"], indirect=True)
def test_3_10_refuses_nack_on_a_stream(broker: Broker, channel: Channel) -> None:
    declare(channel)
    publish(channel, "s", "a")
    consume(channel, "s", "c", "first")
    with pytest.raises(AMQPConnectionError, match=r"basic\.nack and basic\.reject not supported"):
        channel.basic_nack(1)


def test_a_stream_is_deleted_whatever_it_holds_and_reports_nothing(broker: Broker, channel: Channel) -> None:
    declare(channel)
    publish(channel, "s", "a", "b")
    assert channel.queue_delete("s", if_empty=True) == 0
    assert "s" not in channel.vhost.queues
