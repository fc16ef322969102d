"""Recording the simulator: the events a learner's pika code causes, as the core emits them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pika
import pytest

from rabbitsim.backends import EmbeddedBroker
from rabbitsim.trace import Trace
from rabbitsim.vocabulary import EventKind, Node, NodeKind, Started, Stopped, Topology, TraceEvent

from .scenarios import connect, pump


def kinds(events: list[TraceEvent]) -> list[str]:
    return [str(event.kind) for event in events]


def tracing(sim: EmbeddedBroker) -> bool:
    return sim.server.call(lambda: sim.broker.tracing)


def test_hello_world(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "hello")
    channel = connection.channel()
    received: list[bytes] = []
    with sim.trace() as trace:
        channel.queue_declare("hello")
        channel.basic_publish("", "hello", b"Hello World!")
        channel.basic_consume("hello", lambda _c, _m, _p, body: received.append(body), auto_ack=True)
        pump(connection, lambda: received == [b"Hello World!"])
    assert kinds(trace.events) == ["declare", "publish", "route", "enqueue", "consumer-added", "deliver"]
    (message,) = trace.messages()
    publish, route, enqueue, deliver = trace.path(message)
    assert publish.source == Node(NodeKind.PUBLISHER, "hello#1", "hello", 1)
    assert publish.target == route.source == Node(NodeKind.EXCHANGE, "")
    assert route.target == enqueue.source == deliver.source == Node(NodeKind.QUEUE, "hello")
    assert deliver.target is not None and deliver.target.kind is NodeKind.CONSUMER
    assert deliver.detail == {"delivery_tag": 1, "redelivered": False, "no_ack": True}
    assert trace.topology.start is not None and trace.topology.end is not None
    assert [q.name for q in trace.topology.start.queues] == []
    assert [q.name for q in trace.topology.end.queues] == ["hello"]
    connection.close()


def test_work_queue_with_ack_and_a_requeue(sim: EmbeddedBroker) -> None:
    """Two tasks, prefetch 1; the first delivery of task one is nacked back and redelivered."""
    connection = connect(sim, "worker")
    channel = connection.channel()
    channel.queue_declare("task_queue", durable=True)
    channel.basic_qos(prefetch_count=1)
    done: list[bytes] = []

    def work(ch: pika.adapters.blocking_connection.BlockingChannel, method, _props, body: bytes) -> None:  # type: ignore[no-untyped-def]
        if body == b"one" and not method.redelivered:
            ch.basic_nack(method.delivery_tag, requeue=True)
        else:
            done.append(body)
            ch.basic_ack(method.delivery_tag)

    with sim.trace() as trace:
        for body in (b"one", b"two"):
            channel.basic_publish("", "task_queue", body, pika.BasicProperties(delivery_mode=2))
        channel.basic_consume("task_queue", work)
        pump(connection, lambda: sorted(done) == [b"one", b"two"])
    one, two = trace.messages()
    assert kinds(trace.path(one)) == [
        "publish", "route", "enqueue", "deliver", "nack", "requeue", "deliver", "ack",
    ]  # fmt: skip
    assert kinds(trace.path(two)) == ["publish", "route", "enqueue", "deliver", "ack"]
    redelivery = trace.path(one)[6]
    assert redelivery.detail["redelivered"] is True
    assert [event.message for event in trace.of_kind("ack")] == [one, two]
    assert trace.topology.end is not None
    assert trace.topology.end.queue("task_queue").messages == 0
    connection.close()


def test_fanout_reaches_every_bound_queue(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "fanout")
    channel = connection.channel()
    channel.exchange_declare("logs", "fanout")
    for queue in ("a", "b", "c"):
        channel.queue_declare(queue)
        channel.queue_bind(queue, "logs")
    with sim.trace() as trace:
        channel.basic_publish("logs", "", b"to all")
    (message,) = trace.messages()
    assert kinds(trace.path(message)) == [
        "publish",
        "route",
        "route",
        "route",
        "enqueue",
        "enqueue",
        "enqueue",
    ]
    assert [(e.source, e.target) for e in trace.of_kind(EventKind.ROUTE)] == [
        (Node(NodeKind.EXCHANGE, "logs"), Node(NodeKind.QUEUE, name)) for name in ("a", "b", "c")
    ]
    connection.close()


def test_a_mandatory_message_with_no_route_is_returned(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "sender")
    channel = connection.channel()
    returned: list[bytes] = []
    channel.add_on_return_callback(lambda _ch, _m, _p, body: returned.append(body))
    with sim.trace() as trace:
        channel.basic_publish("amq.direct", "nobody", b"anyone?", mandatory=True)
        channel.basic_publish("amq.direct", "nobody", b"dropped")
        pump(connection, lambda: returned == [b"anyone?"])
    returned_one, dropped = trace.messages()
    assert kinds(trace.path(returned_one)) == ["publish", "return"]
    (ret,) = trace.of_kind("return")
    assert ret.source == Node(NodeKind.EXCHANGE, "amq.direct")
    assert ret.target == Node(NodeKind.PUBLISHER, "sender#1", "sender", 1)
    assert ret.detail["reply_code"] == 312
    assert kinds(trace.path(dropped)) == ["publish", "drop"]
    assert trace.path(dropped)[1].detail["reason"] == "unroutable"
    connection.close()


def test_a_publisher_confirm(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "confirming")
    channel = connection.channel()
    channel.queue_declare("confirmed")
    channel.confirm_delivery()
    with sim.trace() as trace:
        channel.basic_publish("", "confirmed", b"safe")  # returns once the broker confirmed it
    (message,) = trace.messages()
    assert kinds(trace.path(message)) == ["publish", "route", "enqueue", "confirm"]
    confirm = trace.path(message)[-1]
    assert confirm.detail == {"ack": True, "sequence": 1}
    assert confirm.target == Node(NodeKind.PUBLISHER, "confirming#1", "confirming", 1)
    connection.close()


def test_recording_is_thread_safe(sim: EmbeddedBroker) -> None:
    """Four producers on their own threads and connections; every step recorded once, in order."""
    threads, per_thread = 4, 50
    for_queue = connect(sim, "setup")
    for_queue.channel().queue_declare("busy")

    def produce(number: int) -> None:
        connection = connect(sim, f"producer-{number}")
        channel = connection.channel()
        for index in range(per_thread):
            channel.basic_publish("", "busy", f"{number}-{index}".encode())
        connection.close()

    with sim.trace() as trace:
        workers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(5)
            assert not worker.is_alive()
    assert len(trace.of_kind("publish")) == len(trace.of_kind("enqueue")) == threads * per_thread
    sequence = [event.seq for event in trace.events]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    for_queue.close()


def test_adding_from_many_threads_loses_nothing() -> None:
    class Idle:
        def start(self, deliver: Callable[[TraceEvent], None]) -> Started:
            return Started(None, 0.0)

        def stop(self) -> Stopped:
            return Stopped(None)

        def topology(self) -> Topology:
            return Topology()

    trace = Trace(Idle(), "test")
    event = TraceEvent(0, 0.0, EventKind.PUBLISH, "/")

    def add_many() -> None:
        for _ in range(2000):
            trace.add(event)

    with trace:
        workers = [threading.Thread(target=add_many) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(5)
            assert not worker.is_alive()
    assert len(trace) == 16000


def test_nothing_is_recorded_after_the_block(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "late")
    channel = connection.channel()
    channel.queue_declare("later")
    with sim.trace() as trace:
        channel.basic_publish("", "later", b"inside")
    recorded = trace.events
    channel.basic_publish("", "later", b"outside")
    channel.queue_declare("", exclusive=True)
    assert sim.topology().queue("later").messages_ready == 2  # the second publish has been handled
    trace.add(TraceEvent(0, 0.0, EventKind.PUBLISH, "/"))
    assert trace.events == recorded
    assert not trace.recording
    connection.close()


def test_tracing_is_off_while_nobody_records(sim: EmbeddedBroker) -> None:
    assert not tracing(sim)
    with sim.trace():
        assert tracing(sim)
        with sim.trace():
            assert tracing(sim)
        assert tracing(sim)  # the outer recording still listens
    assert not tracing(sim)
    assert sim.server.call(lambda: sim.server._listeners) == []


def test_a_trace_records_once(sim: EmbeddedBroker) -> None:
    trace = sim.trace()
    with trace:
        pass
    with pytest.raises(RuntimeError, match="take a new one"):
        trace.start()


def test_the_log_is_a_table_for_people(sim: EmbeddedBroker) -> None:
    connection = connect(sim, "app")
    channel = connection.channel()
    channel.queue_declare("hello")
    with sim.trace() as trace:
        channel.basic_publish("", "hello", b"Hello World!")
    lines = str(trace).splitlines()
    assert lines[0].split() == ["ms", "event", "msg", "from", "to", "key", "detail"]
    assert lines[1].split()[1:6] == ["publish", "1", "publisher", "app#1", "exchange"]
    assert "(AMQP default)" in lines[1] and "'hello'" in lines[1]
    assert "queue hello" in lines[2]
    assert len(lines) == 4
    assert repr(trace) == "<Trace sim: 3 events, stopped>"
    assert trace.counts() == {"publish": 1, "route": 1, "enqueue": 1}
    connection.close()
