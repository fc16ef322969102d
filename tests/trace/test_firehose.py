"""The firehose converter and the ack derivation on their own: firehose messages shaped as
RabbitMQ 3.10.8 and 4.0.5 send them (FIREHOSE_FACTS.md), events out. No broker needed."""

from __future__ import annotations

from typing import Any

from rabbitsim.backends import FirehoseConverter, QueueStats, settlements
from rabbitsim.backends._firehose import MARKER_KEY, marker_of
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

CONNECTION = "127.0.0.1:40780 -> 127.0.0.1:5672"
CONSUMER = "127.0.0.1:40784 -> 127.0.0.1:5672"


def published(
    exchange: str, keys: list[str], routed: list[str], **properties: Any
) -> tuple[str, dict[str, Any]]:
    return f"publish.{exchange}", {
        "exchange_name": exchange,
        "routing_keys": keys,
        "routed_queues": routed,
        "properties": properties,
        "connection": CONNECTION,
        "channel": 1,
        "user": "guest",
        "vhost": "/",
        "node": "rabbit@vm",
    }


def delivered(
    queue: str, exchange: str, keys: list[str], redelivered: int = 0, **properties: Any
) -> tuple[str, dict[str, Any]]:
    return f"deliver.{queue}", {
        "exchange_name": exchange,
        "routing_keys": keys,
        "redelivered": redelivered,
        "properties": properties,
        "connection": CONSUMER,
        "channel": 2,
        "user": "guest",
        "vhost": "/",
        "node": "rabbit@vm",
    }


def steps(
    converter: FirehoseConverter, *messages: tuple[tuple[str, dict[str, Any]], bytes]
) -> list[tuple[str, str, str, int | None]]:
    out = []
    for (key, headers), body in messages:
        for event in converter.convert(key, headers, body, 0.0):
            out.append((str(event.kind), str(event.source or ""), str(event.target or ""), event.message))
    return out


def test_publish_route_enqueue_deliver() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: name == "hello")
    assert steps(
        converter,
        (published("", ["hello"], ["hello"]), b"Hello World!"),
        (delivered("hello", "", ["hello"]), b"Hello World!"),
    ) == [
        ("publish", f"publisher:{CONNECTION}#1:{CONNECTION}#1", "exchange:", 1),
        ("route", "exchange:", "queue:hello", 1),
        ("enqueue", "queue:hello", "", 1),
        ("deliver", "queue:hello", f"consumer:{CONSUMER}#2:{CONSUMER}#2", 1),
    ]


def test_the_default_exchange_names_queues_that_do_not_exist() -> None:
    """RabbitMQ lists `nowhere` in routed_queues though no such queue exists: checked, dropped."""
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return False

    converter = FirehoseConverter(queue_exists=exists)
    assert steps(converter, (published("", ["nowhere"], ["nowhere"]), b"lost")) == [
        ("publish", f"publisher:{CONNECTION}#1:{CONNECTION}#1", "exchange:", 1),
        ("drop", "exchange:", "", 1),
    ]
    assert asked == ["nowhere"]


def test_queues_a_binding_matched_are_not_checked_and_come_in_name_order() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: False)
    routes = [
        s for s in steps(converter, (published("logs", [""], ["c", "a", "b"]), b"x")) if s[0] == "route"
    ]
    assert [target for _, _, target, _ in routes] == [
        "queue:a",
        "queue:b",
        "queue:c",
    ]  # 4.0 lists them unordered


def test_identical_messages_are_told_apart_by_delivery_order_and_redelivery() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: True)
    messages = [
        (published("", ["work"], ["work"]), b"same"),
        (published("", ["work"], ["work"]), b"same"),
        (delivered("work", "", ["work"]), b"same"),  # first copy
        (delivered("work", "", ["work"]), b"same"),  # second copy
        (delivered("work", "", ["work"], redelivered=1), b"same"),  # one went back: the earliest
    ]
    out = [
        (kind, message)
        for kind, _, _, message in steps(converter, *messages)
        if kind in ("deliver", "requeue")
    ]
    assert out == [("deliver", 1), ("deliver", 2), ("requeue", 1), ("deliver", 1)]


def test_message_id_keeps_identities_apart() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: True)
    messages = [
        (published("", ["work"], ["work"], message_id="a"), b"same"),
        (published("", ["work"], ["work"], message_id="b"), b"same"),
        (delivered("work", "", ["work"], message_id="b"), b"same"),
        (delivered("work", "", ["work"], message_id="a"), b"same"),
    ]
    assert [m for kind, _, _, m in steps(converter, *messages) if kind == "deliver"] == [2, 1]


def test_a_delivery_published_before_recording_gets_a_new_number() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: True)
    out = steps(
        converter,
        (delivered("old", "", ["old"]), b"from before"),
        (delivered("old", "", ["old"], 1), b"from before"),
    )
    assert [(kind, message) for kind, _, _, message in out] == [
        ("deliver", 1),
        ("requeue", 1),
        ("deliver", 1),
    ]


def test_dead_lettering_is_derived_from_x_death() -> None:
    converter = FirehoseConverter(queue_exists=lambda name: True)
    death = {
        "count": 1,
        "reason": "expired",
        "queue": "ttl",
        "exchange": "",
        "routing-keys": ["ttl"],
    }
    dead_headers = {"x-death": [death], "x-first-death-queue": "ttl", "x-first-death-reason": "expired"}
    out = steps(
        converter,
        (published("", ["ttl"], ["ttl"], headers={"app": 1}), b"too late"),
        (delivered("dead", "dlx", ["ttl"], headers={"app": 1, **dead_headers}), b"too late"),
    )
    assert [(kind, source, target) for kind, source, target, _ in out[3:]] == [
        ("expire", "queue:ttl", ""),
        ("dead-letter", "queue:ttl", "exchange:dlx"),
        ("route", "exchange:dlx", "queue:dead"),
        ("enqueue", "queue:dead", ""),
        ("deliver", "queue:dead", f"consumer:{CONSUMER}#2:{CONSUMER}#2"),
    ]
    assert {message for *_, message in out} == {1}


def test_markers_are_recognised() -> None:
    key, headers = published("", [MARKER_KEY], [MARKER_KEY], message_id="abc")
    assert marker_of(key, headers) == "abc"
    key, headers = published("", ["hello"], ["hello"], message_id="abc")
    assert marker_of(key, headers) is None


# --- acks from statistics ------------------------------------------------------------------------

QUEUE, RECEIVER = Node(NodeKind.QUEUE, "work"), Node(NodeKind.CONSUMER, "c#1", "c", 1)


def delivery(seq: int, message: int) -> TraceEvent:
    return TraceEvent(seq, 0.0, EventKind.DELIVER, "/", QUEUE, RECEIVER, message)


def test_acks_are_derived_from_fresh_statistics() -> None:
    events = [delivery(1, 1), delivery(2, 2), delivery(3, 1)]  # message 1 delivered twice
    before = {"work": QueueStats(delivered=10, acked=10)}
    after = {"work": QueueStats(delivered=13, acked=12)}
    derived, notes = settlements(events, before, after, 9.0)
    assert [(e.kind, e.message, e.seq, e.time, e.detail["derived"]) for e in derived] == [
        (EventKind.ACK, 1, 4, 9.0, True),
        (EventKind.ACK, 2, 5, 9.0, True),
    ]
    assert notes == []


def test_stale_statistics_derive_nothing_and_say_so() -> None:
    derived, notes = settlements([delivery(1, 1)], {"work": QueueStats()}, {"work": QueueStats()}, 0.0)
    assert derived == []
    assert notes == [
        "queue 'work': the statistics count 0 of the 1 deliveries seen (they lag); "
        "acks not derived: record with settle=<seconds> to wait for them"
    ]


def test_partial_acks_are_not_guessed() -> None:
    after = {"work": QueueStats(delivered=2, acked=1)}
    derived, notes = settlements([delivery(1, 1), delivery(2, 2)], {}, after, 0.0)
    assert derived == [] and "1 acks and 0 deliveries without ack for 2 copies" in notes[0]


def test_auto_ack_deliveries_need_no_ack_event() -> None:
    after = {"work": QueueStats(delivered=2, without_ack=2)}
    assert settlements([delivery(1, 1), delivery(2, 2)], {}, after, 0.0) == ([], [])
