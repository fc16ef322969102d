"""The course's shared helpers: background consumers, worker processes, feedback, cleanup."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def publisher(broker: BrokerHandle) -> pika.adapters.blocking_connection.BlockingChannel:
    return pika.BlockingConnection(broker.parameters).channel()


def test_a_background_consumer_receives_while_the_notebook_goes_on(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("hello")
    with course.BackgroundConsumer(broker, "hello", name="receiver") as consumer:
        for n in range(3):
            channel.basic_publish("", "hello", f"m{n}".encode())
        assert consumer.wait_for(3)
        assert consumer.bodies == [b"m0", b"m1", b"m2"]
        assert consumer.received[0].routing_key == "hello"
    assert not consumer.running
    assert broker.topology().queue("hello").messages == 0  # all acked


def test_a_consumer_that_forgets_to_ack_leaves_messages_unacked_until_it_stops(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("tasks")
    consumer = course.BackgroundConsumer(broker, "tasks", ack=False)
    for n in range(4):
        channel.basic_publish("", "tasks", f"t{n}".encode())
    assert consumer.wait_for(4)
    assert broker.topology().queue("tasks").messages_unacknowledged == 4
    consumer.stop()
    queue = broker.topology().queue("tasks")
    assert (queue.messages_ready, queue.messages_unacknowledged) == (4, 0)  # back in the queue


def test_a_consumer_on_a_missing_queue_fails_with_the_brokers_reason(broker: BrokerHandle) -> None:
    with pytest.raises(RuntimeError, match="NOT_FOUND - no queue 'nowhere'"):
        course.BackgroundConsumer(broker, "nowhere")


def test_a_killed_worker_process_leaves_its_task_to_another_worker(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("task_queue", durable=True)
    first = course.WorkerProcess(broker, "task_queue", name="first", seconds_per_dot=1.0)
    try:
        channel.basic_publish("", "task_queue", b"slow.....")
        assert first.wait_for_line("received slow.....")
        first.kill()
        assert not first.alive
        with course.BackgroundConsumer(broker, "task_queue", name="second") as second:
            assert second.wait_for(1)
            assert second.received[0].body == b"slow....."
            assert second.received[0].redelivered
    finally:
        first.stop()
    assert first.done == []


def test_feedback_reads_well_as_text_and_html() -> None:
    verdict = course.wrong("'kern.*' misses messages", "kern.disk.full has three words")
    assert not verdict
    assert str(verdict) == "✘ 'kern.*' misses messages\n  - kern.disk.full has three words"
    assert "kern.disk.full has three words" in verdict._repr_html_()
    assert course.right("all good")


def test_cleanup_deletes_what_exists_and_skips_the_rest(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("q1")
    channel.exchange_declare("x1", "fanout")
    deleted = course.cleanup(broker, queues=["q1", "q-missing"], exchanges=["x1", "x-missing"])
    assert deleted == ["queue q1", "exchange x1"]
    names = {queue.name for queue in broker.topology().queues}
    assert "q1" not in names


def test_background_consumers_end_their_threads(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("q")
    consumers = [course.BackgroundConsumer(broker, "q", name=f"c{n}") for n in range(3)]
    for consumer in consumers:
        consumer.stop()
    deadline = time.monotonic() + 5
    while any(consumer.running for consumer in consumers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(consumer.running for consumer in consumers)


def test_waiting_for_the_topology_returns_the_first_snapshot_that_agrees(broker: BrokerHandle) -> None:
    channel = publisher(broker)
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"x")
    topology = course.wait_for_topology(broker, lambda t: t.queue("q").messages_ready == 1, timeout=2)
    assert topology.queue("q").messages_ready == 1
    started = time.monotonic()
    stale = course.wait_for_topology(broker, lambda t: t.queue("q").messages_ready == 5, timeout=0.5)
    assert stale.queue("q").messages_ready == 1  # gave up after the deadline, with the last snapshot
    assert time.monotonic() - started < 2


def test_feedback_shows_as_its_verdict_in_plain_text() -> None:
    verdict = course.wrong("not yet", "one detail")
    assert repr(verdict) == str(verdict) == "✘ not yet\n  - one detail"


def test_the_handles_parameters_keep_an_idle_notebook_connection_alive(broker: BrokerHandle) -> None:
    """Heartbeats off: a blocking connection left idle while the learner reads is not closed."""
    connection = pika.BlockingConnection(broker.parameters)
    try:
        assert connection._impl.params.heartbeat == 0
    finally:
        connection.close()


def test_waiting_treats_a_queue_not_listed_yet_as_not_yet(broker: BrokerHandle) -> None:
    declared = threading.Timer(0.3, lambda: publisher(broker).queue_declare("later"))  # its own connection
    declared.start()
    topology = course.wait_for_topology(broker, lambda t: t.queue("later").messages == 0, timeout=5)
    declared.join()
    assert topology.queue("later").messages == 0
