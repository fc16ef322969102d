"""Recording real RabbitMQ 3.10 and 4.0 through the firehose: what it shows, what is derived,
and that a recording leaves the broker as it found it."""

from __future__ import annotations

import threading

import pika
import pytest

from rabbitsim.backends import BrokerHandle, UrlBroker
from rabbitsim.backends._firehose import MARKER_KEY
from rabbitsim.backends._firehose_source import RECORDER_NAME
from rabbitsim.vocabulary import EventKind, Node, NodeKind

from .conftest import VHOST
from .scenarios import connect, pump


def firehose_on(broker: BrokerHandle) -> bool:
    assert isinstance(broker, UrlBroker)
    return bool(broker.management.get(f"vhosts/{VHOST}")["tracing"])


def where(node: Node | None) -> str:
    """Nodes as the test names them: the application's own channels as "app"."""
    if node is None:
        return ""
    return "app" if node.connection else f"{node.kind}:{node.name}"


def recorder_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "rabbitsim-firehose"]


def test_the_firehose_is_switched_on_for_the_recording_and_back_off(real: BrokerHandle) -> None:
    assert not firehose_on(real)
    with real.trace():
        assert firehose_on(real)
        with real.trace():  # a second recording shares it
            assert firehose_on(real)
        assert firehose_on(real)
    assert not firehose_on(real)
    assert recorder_threads() == []


def test_nothing_after_the_block_and_none_of_the_recorders_own_traffic(real: BrokerHandle) -> None:
    connection = connect(real, "app")
    channel = connection.channel()
    channel.queue_declare("after")
    channel.queue_purge("after")
    with real.trace() as trace:
        channel.basic_publish("", "after", b"inside")
    recorded = trace.events
    channel.basic_publish("", "after", b"outside")
    channel.queue_declare("after", passive=True)  # a round trip: the publish has been handled
    assert trace.events == recorded
    assert [str(event.kind) for event in recorded] == ["publish", "route", "enqueue"]
    assert all(event.routing_key != MARKER_KEY for event in recorded)
    assert recorder_threads() == []
    channel.queue_delete("after")
    connection.close()


def test_a_publish_to_a_missing_queue_is_dropped_not_enqueued(real: BrokerHandle) -> None:
    """RabbitMQ lists the key of a default-exchange publish as a routed queue even when no
    queue has that name; the recorder checks, as the simulator would know."""
    connection = connect(real, "app")
    channel = connection.channel()
    with real.trace() as trace:
        channel.basic_publish("", "no-such-queue", b"lost", mandatory=True)
        channel.basic_publish("amq.direct", "no-binding", b"lost too")
    assert [(str(e.kind), e.message) for e in trace.events] == [
        ("publish", 1),
        ("drop", 1),
        ("publish", 2),
        ("drop", 2),
    ]
    assert trace.events[1].source == Node(NodeKind.EXCHANGE, "")
    assert trace.events[1].detail["reason"] == "unroutable"
    connection.close()


def test_a_requeue_shows_as_a_redelivery(real: BrokerHandle) -> None:
    connection = connect(real, "worker")
    channel = connection.channel()
    channel.queue_declare("tasks")
    channel.queue_purge("tasks")
    done: list[bytes] = []

    def work(ch, method, _props, body: bytes) -> None:  # type: ignore[no-untyped-def]
        if not method.redelivered:
            ch.basic_nack(method.delivery_tag, requeue=True)
        else:
            done.append(body)
            ch.basic_ack(method.delivery_tag)

    with real.trace() as trace:
        channel.basic_publish("", "tasks", b"try again")
        tag = channel.basic_consume("tasks", work)
        pump(connection, lambda: done == [b"try again"])
        channel.basic_cancel(tag)
    (message,) = trace.messages()
    path = trace.path(message)
    assert [str(event.kind) for event in path[:6]] == [
        "publish",
        "route",
        "enqueue",
        "deliver",
        "requeue",
        "deliver",
    ]
    assert path[4].detail == {"derived": True}
    assert [event.detail["redelivered"] for event in trace.of_kind("deliver")] == [False, True]
    channel.queue_delete("tasks")
    connection.close()


def test_dead_lettering_is_derived_from_the_delivery(real: BrokerHandle) -> None:
    connection = connect(real, "app")
    channel = connection.channel()
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    for queue in ("dead", "work"):
        channel.queue_purge(queue)
    with real.trace() as trace:
        channel.basic_publish("", "work", b"refused", pika.BasicProperties(message_id="m-1"))
        method, _, _ = channel.basic_get("work")
        assert method is not None
        channel.basic_reject(method.delivery_tag, requeue=False)
        got = None
        for _ in range(100):  # dead-lettering is asynchronous
            got, _, _ = channel.basic_get("dead", auto_ack=True)
            if got is not None:
                break
            connection.sleep(0.01)
        assert got is not None
    (message,) = trace.messages()
    assert [(str(e.kind), where(e.source), where(e.target)) for e in trace.path(message)] == [
        ("publish", "app", "exchange:"),
        ("route", "exchange:", "queue:work"),
        ("enqueue", "queue:work", ""),
        ("deliver", "queue:work", "app"),
        ("dead-letter", "queue:work", "exchange:dlx"),
        ("route", "exchange:dlx", "queue:dead"),
        ("enqueue", "queue:dead", ""),
        ("deliver", "queue:dead", "app"),
    ]
    assert trace.of_kind(EventKind.DEAD_LETTER)[0].detail == {"reason": "rejected", "derived": True}
    channel.queue_delete("work")
    channel.queue_delete("dead")
    channel.exchange_delete("dlx")
    connection.close()


def test_snapshots_at_both_ends(real: BrokerHandle) -> None:
    connection = connect(real, "app")
    channel = connection.channel()
    with real.trace() as trace:
        channel.queue_declare("made-inside")
    assert trace.topology.start is not None and trace.topology.end is not None
    assert "made-inside" not in [queue.name for queue in trace.topology.start.queues]
    assert "made-inside" in [queue.name for queue in trace.topology.end.queues]
    for snapshot in (trace.topology.start, trace.topology.end):  # the recorder is not part of the picture
        assert RECORDER_NAME not in [c.client_provided_name for c in snapshot.connections]
        assert not [b for b in snapshot.bindings if b.source == "amq.rabbitmq.trace"]
    channel.queue_delete("made-inside")
    connection.close()


def test_acks_are_derived_once_the_statistics_count_the_deliveries(real: BrokerHandle) -> None:
    """Statistics lag by one or more collection intervals: within `settle` the acks are derived,
    otherwise the trace says why not. Either way nothing is guessed."""
    connection = connect(real, "worker")
    channel = connection.channel()
    channel.queue_declare("acked")
    channel.queue_purge("acked")
    done: list[bytes] = []

    def work(ch, method, _props, body: bytes) -> None:  # type: ignore[no-untyped-def]
        done.append(body)
        ch.basic_ack(method.delivery_tag)

    with real.trace(settle=1.0) as trace:
        for body in (b"a", b"b"):
            channel.basic_publish("", "acked", body)
        tag = channel.basic_consume("acked", work)
        pump(connection, lambda: len(done) == 2)
        channel.basic_cancel(tag)
    acks = trace.of_kind("ack")
    if acks:
        assert [(ack.message, ack.detail) for ack in acks] == [
            (1, {"derived": True, "requeue": False}),
            (2, {"derived": True, "requeue": False}),
        ]
        assert trace.notes == []
    else:
        assert trace.notes and "they lag" in trace.notes[0]
    channel.queue_delete("acked")
    connection.close()


def test_an_error_in_the_block_is_not_hidden_and_the_recorder_stops(real: BrokerHandle) -> None:
    with pytest.raises(ZeroDivisionError), real.trace() as trace:
        1 / 0  # noqa: B018
    assert not trace.recording
    assert recorder_threads() == []
    assert not firehose_on(real)
