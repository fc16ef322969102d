"""kombu over py-amqp (the `amqp://` transport Celery uses), over TCP against the server.

py-amqp is a third independent AMQP codec and channel machine (after pika's and aiormq's), and
kombu adds its own habits: it declares before it publishes, serializes to JSON with a content
type, and requeues with basic.reject. The broker comes from `clients.broker_target()`: the embedded
simulator, or the real broker named by RABBITSIM_CLIENT_TESTS_URL (how every expectation here was
first checked against RabbitMQ 3.10.8 and 4.0.5). Every wait has a timeout, and the simulator has
a watchdog, so no test can hang."""

from __future__ import annotations

import datetime
import decimal
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import amqp.exceptions
import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.message import Message

from .clients import STEP_SECONDS, Target, broker_target, unique


@pytest.fixture
def target() -> Iterator[Target]:
    with broker_target() as found:
        yield found


@pytest.fixture
def connection(target: Target) -> Iterator[Connection]:
    """A py-amqp connection with publisher confirms, so a publish returns once the broker has it."""
    with Connection(
        target.url,
        transport="pyamqp",
        connect_timeout=STEP_SECONDS,
        transport_options={"confirm_publish": True},
    ) as opened:
        opened.ensure_connection(max_retries=1)
        yield opened


def drain_until(connection: Connection, condition: Callable[[], bool], what: str) -> None:
    """Process deliveries (their callbacks run here) until `condition` holds; fail after a while."""
    deadline = time.monotonic() + STEP_SECONDS
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"timed out after {STEP_SECONDS} s: {what}")
        try:
            connection.drain_events(timeout=min(remaining, 0.5))
        except TimeoutError:
            continue


def assert_gone(connection: Connection, name: str) -> None:
    """The queue no longer exists: a passive declare is refused with 404."""
    with connection.channel() as channel, pytest.raises(amqp.exceptions.NotFound):
        channel.queue_declare(name, passive=True)


def test_simple_queue_hello_world(connection: Connection) -> None:
    """kombu's SimpleQueue: put a JSON payload, get it back decoded, with kombu's properties."""
    name = unique("hello")
    with connection.SimpleQueue(name, queue_opts={"auto_delete": True}) as queue:
        queue.put({"hello": "world", "n": [1, 2, 3]})
        message = queue.get(block=True, timeout=STEP_SECONDS)
        assert message.payload == {"hello": "world", "n": [1, 2, 3]}
        assert message.content_type == "application/json"
        assert message.delivery_info["routing_key"] == name
        assert message.delivery_info["redelivered"] is False
        message.ack()
        assert queue.qsize() == 0


def test_publish_and_consume_with_manual_ack(connection: Connection) -> None:
    """A Producer and a Consumer on one connection: deliveries come in order and are acked; the
    auto-delete queue goes when its only consumer is cancelled."""
    name = unique("tasks")
    queue = Queue(name, routing_key=name, auto_delete=True)  # on the default exchange
    received: list[Any] = []

    def on_message(body: Any, message: Message) -> None:
        received.append(body)
        message.ack()

    with connection.channel() as channel:
        producer = Producer(channel)
        for n in range(5):
            producer.publish({"task": n}, routing_key=queue.name, declare=[queue], headers={"attempt": 1})
        with Consumer(channel, queues=[queue], callbacks=[on_message], prefetch_count=2):
            drain_until(connection, lambda: len(received) == 5, f"received {received}")
            _name, ready, consumers = queue(channel).queue_declare(passive=True)
            assert (ready, consumers) == (0, 1)
        assert received == [{"task": n} for n in range(5)]
    assert_gone(connection, queue.name)


def test_reject_requeue_redelivers_then_reject_drops(connection: Connection) -> None:
    """requeue() puts the message back at the head, redelivered=true; reject() drops it; only the
    acked and the dropped ones leave the queue."""
    name = unique("retry")
    queue = Queue(name, routing_key=name, auto_delete=True)
    seen: list[tuple[str, bool]] = []

    def on_message(body: Any, message: Message) -> None:
        redelivered = bool(message.delivery_info["redelivered"])
        seen.append((body, redelivered))
        if body == "flaky" and not redelivered:
            message.requeue()
        elif body == "poison":
            message.reject()
        else:
            message.ack()

    with connection.channel() as channel:
        producer = Producer(channel)
        for body in ["flaky", "poison", "fine"]:
            producer.publish(body, routing_key=queue.name, declare=[queue])
        with Consumer(channel, queues=[queue], callbacks=[on_message], prefetch_count=1):
            drain_until(connection, lambda: len(seen) == 4, f"seen {seen}")
            _name, ready, _consumers = queue(channel).queue_declare(passive=True)
            assert ready == 0
        assert seen == [("flaky", False), ("flaky", True), ("poison", False), ("fine", False)]


def test_topic_exchange_routing(connection: Connection) -> None:
    """kombu declares the exchange, queues and bindings; '*' is one word, '#' zero or more."""
    exchange = Exchange(unique("topic_logs"), type="topic", auto_delete=True)
    q1 = Queue(unique("q1"), exchange, routing_key="*.orange.*", auto_delete=True)
    q2 = Queue(
        unique("q2"),
        bindings=[binding(exchange, routing_key=pattern) for pattern in ["*.*.rabbit", "lazy.#"]],
        auto_delete=True,
    )
    keys = ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox"]
    keys += ["lazy.pink.rabbit", "quick.brown.fox", "orange", "lazy.orange.new.rabbit", "lazy"]
    with connection.channel() as channel:
        bound_q1 = q1(channel)
        bound_q1.declare()
        bound_q2 = q2(channel)
        bound_q2.declare()
        producer = Producer(channel, exchange=exchange)
        for key in keys:
            producer.publish(key, routing_key=key)

        def drain(bound: Queue) -> list[Any]:
            bodies = []
            while (message := bound.get(no_ack=True)) is not None:
                bodies.append(message.payload)
            return bodies

        assert drain(bound_q1) == ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
        assert drain(bound_q2) == [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "lazy.brown.fox",
            "lazy.pink.rabbit",
            "lazy.orange.new.rabbit",
            "lazy",
        ]
        bound_q1.delete()
        bound_q2.delete()


HEADERS: dict[str, Any] = {
    "pi": math.pi,  # py-amqp sends floats as 64-bit doubles (field type 'd')
    "tenth": 0.1,
    "tiny": 5e-324,
    "big": 2**62,
    "negative": -42,
    "text": "héllo wörld",
    "flag": True,
    "nothing": None,
    "when": datetime.datetime(2024, 5, 17, 12, 30, 45),
    "price": decimal.Decimal("3.14"),
    "list": [1, "two", 3.5, {"four": 4}],
    "nested": {"level1": {"level2": ["a", 2.25]}},
}


def test_header_values_arrive_exactly(connection: Connection) -> None:
    """The broker relays message properties untouched: every header, doubles included, arrives as
    it was sent, to the last bit."""
    name = unique("headers")
    with connection.SimpleQueue(name, queue_opts={"auto_delete": True}) as queue:
        queue.put(b"body", headers=HEADERS, serializer=None, content_type="application/octet-stream")
        message = queue.get(block=True, timeout=STEP_SECONDS)
        message.ack()
    assert message.headers == HEADERS
    assert {key: repr(value) for key, value in message.headers.items()} == {
        key: repr(value) for key, value in HEADERS.items()
    }


def test_a_double_beyond_float32_range_is_relayed(connection: Connection) -> None:
    """1e300 fits a double but no 32-bit float: a broker that re-encoded headers as floats could
    not deliver this message at all. RabbitMQ relays it."""
    name = unique("huge")
    with connection.SimpleQueue(name, queue_opts={"auto_delete": True}) as queue:
        queue.put(b"body", headers={"huge": 1e300, "-huge": -1e300}, serializer=None)
        message = queue.get(block=True, timeout=STEP_SECONDS)
        message.ack()
    assert message.headers == {"huge": 1e300, "-huge": -1e300}


def test_redeclare_with_other_properties_is_406(connection: Connection, target: Target) -> None:
    """py-amqp raises PreconditionFailed carrying RabbitMQ's code, text and the failing method;
    the channel is gone, the connection is not."""
    name = unique("inequivalent")
    channel = connection.channel()
    Queue(name, durable=False, auto_delete=True)(channel).declare()
    with pytest.raises(amqp.exceptions.PreconditionFailed) as failed:
        Queue(name, durable=True, auto_delete=True)(channel).declare()
    error = failed.value
    assert error.reply_code == 406
    assert error.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{name}' in vhost "
        f"'{target.vhost}': received 'true' but current is 'false'"
    )
    assert error.method_sig == (50, 10)  # queue.declare

    with connection.channel() as again:
        with pytest.raises(amqp.exceptions.NotFound) as missing:
            again.queue_declare(unique("absent"), passive=True)
        assert missing.value.reply_code == 404
        assert missing.value.reply_text.startswith("NOT_FOUND - no queue 'absent-")
    with connection.channel() as last:
        assert last.queue_delete(name) == 0
