"""The pika scenarios run on the simulator and on real RabbitMQ, recorded, and compared.

Each takes a broker handle, declares what it needs, runs inside `broker.trace()`, waits (with
a deadline) until its consumers have everything, and cleans up after the recording."""

from __future__ import annotations

import time
from collections.abc import Callable

import pika
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import BrokerHandle
from rabbitsim.trace import Trace

DEADLINE = 2.0


def connect(broker: BrokerHandle, name: str) -> pika.BlockingConnection:
    parameters = pika.URLParameters(broker.url)
    parameters.client_properties = {"connection_name": name}
    return pika.BlockingConnection(parameters)


def pump(connection: pika.BlockingConnection, done: Callable[[], bool]) -> None:
    """Let `connection` run its consumers until `done()`, for at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, "the consumers did not receive everything in time"
        connection.process_data_events(time_limit=0.01)


def consume_all(channel: BlockingChannel, queues: list[str], received: list[bytes]) -> None:
    for queue in queues:
        channel.basic_consume(queue, lambda _ch, _m, _p, body: received.append(body), auto_ack=True)


def hello_world(broker: BrokerHandle) -> Trace:
    """Tutorial one: a producer sends "Hello World!" to a queue, a consumer receives it."""
    producer, consumer = connect(broker, "producer"), connect(broker, "consumer")
    try:
        sending, receiving = producer.channel(), consumer.channel()
        sending.queue_declare("hello")
        sending.queue_purge("hello")
        received: list[bytes] = []
        with broker.trace() as trace:
            sending.basic_publish("", "hello", b"Hello World!")
            consume_all(receiving, ["hello"], received)
            pump(consumer, lambda: len(received) == 1)
        sending.queue_delete("hello")
        return trace
    finally:
        producer.close()
        consumer.close()


def fanout(broker: BrokerHandle) -> Trace:
    """Tutorial three: two messages to a fanout exchange reach three queues, each consumed."""
    producer, consumer = connect(broker, "producer"), connect(broker, "consumer")
    queues = ["logs-a", "logs-b", "logs-c"]
    try:
        sending, receiving = producer.channel(), consumer.channel()
        sending.exchange_declare("logs", "fanout")
        for queue in queues:
            sending.queue_declare(queue)
            sending.queue_purge(queue)
            sending.queue_bind(queue, "logs")
        received: list[bytes] = []
        with broker.trace() as trace:
            consume_all(receiving, queues, received)
            sending.basic_publish("logs", "", b"first")
            sending.basic_publish("logs", "", b"second")
            pump(consumer, lambda: len(received) == 6)
        for queue in queues:
            sending.queue_delete(queue)
        sending.exchange_delete("logs")
        return trace
    finally:
        producer.close()
        consumer.close()


#: (routing key, body): the queues each reaches follow from TOPIC_BINDINGS
TOPIC_MESSAGES = [
    ("kern.critical", b"kernel panic"),
    ("kern.info", b"kernel fine"),
    ("app.critical", b"app down"),
    ("a.b", b"a then b"),
    ("a.x.y.b", b"a, two words, b"),
    ("nothing.matches.this", b"lost"),
]
TOPIC_BINDINGS = [("topic-kern", "kern.*"), ("topic-critical", "*.critical"), ("topic-ab", "a.#.b")]


def topics(broker: BrokerHandle) -> Trace:
    """Tutorial five: keys matched against `*` and `#` patterns; one message matches nothing."""
    producer, consumer = connect(broker, "producer"), connect(broker, "consumer")
    try:
        sending, receiving = producer.channel(), consumer.channel()
        sending.exchange_declare("topic_logs", "topic")
        for queue, pattern in TOPIC_BINDINGS:
            sending.queue_declare(queue)
            sending.queue_purge(queue)
            sending.queue_bind(queue, "topic_logs", pattern)
        received: list[bytes] = []
        with broker.trace() as trace:
            consume_all(receiving, [queue for queue, _ in TOPIC_BINDINGS], received)
            for key, body in TOPIC_MESSAGES:
                sending.basic_publish("topic_logs", key, body)
            pump(consumer, lambda: len(received) == 6)
        for queue, _ in TOPIC_BINDINGS:
            sending.queue_delete(queue)
        sending.exchange_delete("topic_logs")
        return trace
    finally:
        producer.close()
        consumer.close()


SCENARIOS: dict[str, Callable[[BrokerHandle], Trace]] = {
    "hello_world": hello_world,
    "fanout": fanout,
    "topics": topics,
}
