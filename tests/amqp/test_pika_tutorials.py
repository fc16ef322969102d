"""The official RabbitMQ tutorials, end to end: real pika clients over TCP against the embedded server.

BlockingConnection for most paths, SelectConnection (callbacks, an ioloop that stops itself) for
hello world and a manual-ack work queue. Threads and one subprocess stand in for separate workers."""

from __future__ import annotations

import datetime
import decimal
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from rabbitsim.backends import EmbeddedBroker

from .conftest import assert_broker_alive, connect, parameters, wait_until

WORKERS = Path(__file__).parent / "workers"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def drain(connection: pika.BlockingConnection, channel: BlockingChannel, queue_name: str) -> list[bytes]:
    """Every message now ready in `queue_name`, by basic_get with auto-ack."""
    bodies = []
    while True:
        method, _properties, body = channel.basic_get(queue_name, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


def collect(
    connection: pika.BlockingConnection, sink: list[Any], count: int, timeout: float = 5.0
) -> list[Any]:
    """Process events until `sink` holds `count` items (fails the test on timeout)."""
    assert wait_until(lambda: len(sink) >= count, timeout, pump=connection), f"got {len(sink)} of {count}"
    return sink


# --- 1. Hello world ----------------------------------------------------------------------------------

HEADERS = {
    "text": "héllo wörld",
    "int": 42,
    "negative": -7,
    "big": 2**40,
    "flag": True,
    "off": False,
    "price": decimal.Decimal("3.14"),
    "nothing": None,
    "when": datetime.datetime(2024, 5, 17, 12, 30, 45, tzinfo=datetime.UTC),
    "list": [1, "two", {"three": 3}, [4, 5]],
    "nested": {"level1": {"level2": {"deep": "value", "n": 99, "items": ["a", "b"]}}},
}


def rich_properties() -> BasicProperties:
    return BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=HEADERS,
        delivery_mode=2,
        priority=5,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="msg-1",
        timestamp=1_700_000_000,
        type="greeting",
        user_id="guest",
        app_id="tests",
    )


def assert_rich_properties(properties: BasicProperties) -> None:
    expected = rich_properties()
    for name in (
        "content_type",
        "content_encoding",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
    ):
        assert getattr(properties, name) == getattr(expected, name), name
    assert properties.headers == HEADERS
    assert properties.delivery_mode == pika.DeliveryMode.Persistent.value == 2


def test_hello_world_blocking(broker: EmbeddedBroker) -> None:
    sender = connect(broker)
    receiver = connect(broker)
    try:
        send_channel = sender.channel()
        send_channel.queue_declare("hello")
        send_channel.basic_publish("", "hello", b"Hello World!", rich_properties())

        channel = receiver.channel()
        ok = channel.queue_declare("hello")
        assert ok.method.queue == "hello"
        assert ok.method.message_count == 1
        received: list[tuple[Basic.Deliver, BasicProperties, bytes]] = []
        channel.basic_consume(
            "hello", lambda ch, method, props, body: received.append((method, props, body)), auto_ack=True
        )
        collect(receiver, received, 1)
        method, properties, body = received[0]
        assert body == b"Hello World!"
        assert method.exchange == ""
        assert method.routing_key == "hello"
        assert method.redelivered is False
        assert method.delivery_tag == 1
        assert_rich_properties(properties)
        assert channel.queue_declare("hello", passive=True).method.message_count == 0
    finally:
        sender.close()
        receiver.close()


def test_hello_world_select_connection(broker: EmbeddedBroker) -> None:
    events: list[str] = []
    received: list[tuple[Basic.Deliver, BasicProperties, bytes]] = []
    closed: list[BaseException] = []
    channels: list[Any] = []

    def on_open(connection: pika.SelectConnection) -> None:
        events.append("open")
        connection.channel(on_open_callback=on_channel_open)

    def on_open_error(connection: pika.SelectConnection, error: BaseException) -> None:
        closed.append(error)
        connection.ioloop.stop()

    def on_channel_open(channel: Any) -> None:
        events.append("channel")
        channels.append(channel)
        channel.queue_declare("hello", callback=on_declared)

    def on_declared(frame: Any) -> None:
        events.append(f"declared {frame.method.queue}")
        channels[0].basic_consume("hello", on_message, auto_ack=True, callback=on_consuming)

    def on_consuming(frame: Any) -> None:
        events.append("consuming")
        channels[0].basic_publish("", "hello", b"Hello World!", rich_properties())

    def on_message(channel: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes) -> None:
        events.append("message")
        received.append((method, properties, body))
        channel.connection.close()

    def on_closed(connection: pika.SelectConnection, reason: BaseException) -> None:
        closed.append(reason)
        connection.ioloop.stop()

    connection = pika.SelectConnection(
        parameters(broker),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_closed,
    )
    timed_out: list[bool] = []

    def give_up() -> None:
        timed_out.append(True)
        connection.ioloop.stop()

    connection.ioloop.call_later(5, give_up)
    connection.ioloop.start()

    assert not timed_out, f"ioloop timed out after {events}"
    assert events == ["open", "channel", "declared hello", "consuming", "message"]
    method, properties, body = received[0]
    assert body == b"Hello World!"
    assert method.routing_key == "hello"
    assert_rich_properties(properties)
    assert len(closed) == 1
    assert isinstance(closed[0], pika.exceptions.ConnectionClosedByClient)


# --- 2. Work queues ----------------------------------------------------------------------------------


def test_work_queue_select_connection_manual_ack_prefetch_one(broker: EmbeddedBroker) -> None:
    """SelectConnection worker: qos(1), manual ack after a delay; never two messages in flight."""
    task_queue = unique("task_queue")
    publisher = connect(broker)
    publish_channel = publisher.channel()
    publish_channel.queue_declare(task_queue, durable=True)
    for number in range(4):
        publish_channel.basic_publish(
            "",
            task_queue,
            f"task {number}".encode(),
            BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )

    bodies: list[bytes] = []
    in_flight: list[int] = [0]
    most_in_flight: list[int] = [0]
    closed: list[BaseException] = []
    channels: list[Any] = []

    def on_open(connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=on_channel_open)

    def on_channel_open(channel: Any) -> None:
        channels.append(channel)
        channel.basic_qos(prefetch_count=1, callback=lambda _frame: start_consuming())

    def start_consuming() -> None:
        channels[0].basic_consume(task_queue, on_message, auto_ack=False)

    def on_message(channel: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes) -> None:
        in_flight[0] += 1
        most_in_flight[0] = max(most_in_flight[0], in_flight[0])
        bodies.append(body)

        def finish() -> None:
            in_flight[0] -= 1
            channel.basic_ack(method.delivery_tag)
            if len(bodies) == 4:
                channel.connection.close()

        channel.connection.ioloop.call_later(0.05, finish)  # "work", then ack

    def on_closed(connection: pika.SelectConnection, reason: BaseException) -> None:
        closed.append(reason)
        connection.ioloop.stop()

    connection = pika.SelectConnection(
        parameters(broker),
        on_open_callback=on_open,
        on_open_error_callback=on_closed,
        on_close_callback=on_closed,
    )
    connection.ioloop.call_later(5, connection.ioloop.stop)
    connection.ioloop.start()
    try:
        assert bodies == [b"task 0", b"task 1", b"task 2", b"task 3"]
        assert most_in_flight[0] == 1
        assert closed and isinstance(closed[0], pika.exceptions.ConnectionClosedByClient)
        # every ack reached the broker before the close: nothing was requeued
        ok = publish_channel.queue_declare(task_queue, durable=True, passive=True)
        assert ok.method.message_count == 0
    finally:
        publisher.close()


class Worker(threading.Thread):
    """A tutorial worker on its own connection: qos(1), sleeps for each '.' in the body, then acks."""

    def __init__(self, handle: EmbeddedBroker, queue_name: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.handle = handle
        self.queue_name = queue_name
        self.done: list[bytes] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            connection = connect(self.handle)
            channel = connection.channel()
            channel.queue_declare(self.queue_name, durable=True)
            channel.basic_qos(prefetch_count=1)

            def on_message(ch: BlockingChannel, method: Basic.Deliver, props: Any, body: bytes) -> None:
                time.sleep(0.4 * body.count(b"."))
                self.done.append(body)
                ch.basic_ack(method.delivery_tag)

            channel.basic_consume(self.queue_name, on_message)
            self.ready.set()
            while not self.stop.is_set():
                connection.process_data_events(time_limit=0.02)
            connection.close()
        except BaseException as error:
            self.error = error
            self.ready.set()


def test_work_queues_fair_dispatch_between_two_workers(broker: EmbeddedBroker) -> None:
    """With prefetch_count=1 a busy worker gets nothing more; the idle one takes all the light tasks."""
    task_queue = unique("task_queue")
    workers = [Worker(broker, task_queue, "worker-a"), Worker(broker, task_queue, "worker-b")]
    for worker in workers:
        worker.start()
        assert worker.ready.wait(5)
        assert worker.error is None
    publisher = connect(broker)
    try:
        channel = publisher.channel()
        assert channel.queue_declare(task_queue, durable=True, passive=True).method.consumer_count == 2
        tasks = [b"heavy task..", b"light 1", b"light 2", b"light 3", b"light 4", b"light 5"]
        for task in tasks:
            channel.basic_publish(
                "", task_queue, task, BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
            )
        assert wait_until(lambda: sum(len(worker.done) for worker in workers) == len(tasks), 5)
    finally:
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(5)
        publisher.close()
    assert all(worker.error is None for worker in workers)
    busy, idle = sorted(workers, key=lambda worker: len(worker.done))
    assert busy.done == [b"heavy task.."]
    assert idle.done == [b"light 1", b"light 2", b"light 3", b"light 4", b"light 5"]


def read_line(stream: Any, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        return "<timeout>"


def test_consumer_killed_mid_message_is_redelivered(broker: EmbeddedBroker) -> None:
    """A worker process SIGKILLed while holding an unacked message: the message goes to another worker."""
    task_queue = unique("task_queue")
    connection = connect(broker)
    channel = connection.channel()
    channel.queue_declare(task_queue, durable=True)
    channel.basic_publish(
        "", task_queue, b"important work", BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    )
    worker = subprocess.Popen(
        [sys.executable, str(WORKERS / "never_ack.py"), str(broker.port), task_queue],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(worker.stdout, 10) == "ready"
        assert read_line(worker.stdout, 5) == "got important work"
        ok = channel.queue_declare(task_queue, durable=True, passive=True)
        assert (ok.method.message_count, ok.method.consumer_count) == (0, 1)

        received: list[tuple[Basic.Deliver, bytes]] = []
        channel.basic_consume(task_queue, lambda ch, method, props, body: received.append((method, body)))
        connection.process_data_events(time_limit=0.2)
        assert received == []  # the message is held, unacked, by the worker

        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(5) == -signal.SIGKILL
        collect(connection, received, 1)
        method, body = received[0]
        assert body == b"important work"
        assert method.redelivered is True
        channel.basic_ack(method.delivery_tag)
        channel.basic_cancel(method.consumer_tag)
        assert channel.queue_declare(task_queue, durable=True, passive=True).method.message_count == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(5)
        connection.close()


# --- 3. Publish/subscribe ----------------------------------------------------------------------------


def test_fanout_exclusive_server_named_queues(broker: EmbeddedBroker) -> None:
    exchange = unique("logs")
    publisher = connect(broker)
    subscribers = [connect(broker), connect(broker)]
    try:
        publish_channel = publisher.channel()
        publish_channel.exchange_declare(exchange, exchange_type="fanout")
        inboxes: list[list[bytes]] = []
        names = []
        for subscriber in subscribers:
            channel = subscriber.channel()
            channel.exchange_declare(exchange, exchange_type="fanout")
            name = channel.queue_declare("", exclusive=True).method.queue
            assert name.startswith("amq.gen-")
            assert len(name) == len("amq.gen-") + 22
            channel.queue_bind(name, exchange)
            inbox: list[bytes] = []
            channel.basic_consume(name, lambda ch, m, p, body, inbox=inbox: inbox.append(body), auto_ack=True)
            inboxes.append(inbox)
            names.append(name)
        assert names[0] != names[1]

        for number in range(3):
            publish_channel.basic_publish(exchange, "ignored", f"log {number}".encode())
        for subscriber, inbox in zip(subscribers, inboxes, strict=True):
            collect(subscriber, inbox, 3)
        expected = [b"log 0", b"log 1", b"log 2"]
        assert inboxes == [expected, expected]

        for subscriber in subscribers:
            subscriber.close()
        for name in names:
            check = publisher.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
                check.queue_declare(name, passive=True)
            assert caught.value.reply_code == 404
            assert caught.value.reply_text == f"NOT_FOUND - no queue '{name}' in vhost '/'"
        # no queue is bound any more: a mandatory publish comes back
        confirm = publisher.channel()
        confirm.confirm_delivery()
        with pytest.raises(pika.exceptions.UnroutableError):
            confirm.basic_publish(exchange, "", b"nobody listens", mandatory=True)
    finally:
        for connection in [publisher, *subscribers]:
            if connection.is_open:
                connection.close()


# --- 4. Routing and 5. Topics ------------------------------------------------------------------------


def route(
    handle: EmbeddedBroker, exchange_type: str, bindings: dict[str, list[str]], keys: list[str]
) -> dict[str, list[str]]:
    """Declare an exchange and one queue per entry of `bindings`, publish one message per key (the
    body is the key), and return the bodies each queue received."""
    exchange = unique(f"{exchange_type}_logs")
    connection = connect(handle)
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type=exchange_type)
        queues = {}
        for label, keys_for_queue in bindings.items():
            name = channel.queue_declare("", exclusive=True).method.queue
            for key in keys_for_queue:
                channel.queue_bind(name, exchange, routing_key=key)
            queues[label] = name
        for key in keys:
            channel.basic_publish(exchange, key, key.encode())
        return {
            label: [body.decode() for body in drain(connection, channel, name)]
            for label, name in queues.items()
        }
    finally:
        connection.close()


def test_direct_routing_with_several_binding_keys(broker: EmbeddedBroker) -> None:
    got = route(
        broker,
        "direct",
        {"disk": ["error"], "console": ["info", "warning", "error"], "twice": ["error", "error"]},
        ["info", "warning", "error", "debug", "Error", ""],
    )
    assert got == {
        "disk": ["error"],
        "console": ["info", "warning", "error"],
        "twice": ["error"],  # one copy, however many bindings match
    }


def test_topic_routing_star_and_hash(broker: EmbeddedBroker) -> None:
    keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.new.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
        "kern.critical",
    ]
    got = route(
        broker,
        "topic",
        {"Q1": ["*.orange.*"], "Q2": ["*.*.rabbit", "lazy.#"], "all": ["#"], "kern": ["kern.*"]},
        keys,
    )
    assert got == {
        "Q1": ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"],
        "Q2": [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "lazy.brown.fox",
            "lazy.pink.rabbit",
            "lazy.orange.new.rabbit",
            "lazy",
        ],
        "all": keys,
        "kern": ["kern.critical"],
    }


# --- 6. RPC ------------------------------------------------------------------------------------------


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class RpcServer(threading.Thread):
    def __init__(self, handle: EmbeddedBroker, queue_name: str) -> None:
        super().__init__(name="rpc-server", daemon=True)
        self.handle = handle
        self.queue_name = queue_name
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.served = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            connection = connect(self.handle)
            channel = connection.channel()
            channel.queue_declare(self.queue_name)
            channel.basic_qos(prefetch_count=1)

            def on_request(
                ch: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes
            ) -> None:
                answer = str(fib(int(body)))
                self.served += 1  # before replying: the client may check as soon as the reply lands
                ch.basic_publish(
                    "", props.reply_to, answer.encode(), BasicProperties(correlation_id=props.correlation_id)
                )
                ch.basic_ack(method.delivery_tag)

            channel.basic_consume(self.queue_name, on_request)
            self.ready.set()
            while not self.stop.is_set():
                connection.process_data_events(time_limit=0.02)
            connection.close()
        except BaseException as error:
            self.error = error
            self.ready.set()


class FibonacciRpcClient:
    """The tutorial's client. With `direct_reply_to`, replies come through the pseudo-queue
    `amq.rabbitmq.reply-to` instead of an exclusive callback queue."""

    def __init__(self, handle: EmbeddedBroker, queue_name: str, *, direct_reply_to: bool = False) -> None:
        self.connection = connect(handle)
        self.channel = self.connection.channel()
        self.queue_name = queue_name
        if direct_reply_to:
            self.callback_queue = "amq.rabbitmq.reply-to"
        else:
            self.callback_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.basic_consume(self.callback_queue, self.on_response, auto_ack=True)
        self.response: bytes | None = None
        self.corr_id = ""
        self.ignored: list[str] = []

    def on_response(
        self, ch: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes
    ) -> None:
        if props.correlation_id == self.corr_id:
            self.response = body
        else:
            self.ignored.append(props.correlation_id)

    def call(self, n: int) -> int:
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            "",
            self.queue_name,
            str(n).encode(),
            BasicProperties(reply_to=self.callback_queue, correlation_id=self.corr_id),
        )
        assert wait_until(lambda: self.response is not None, 5, pump=self.connection), "no RPC reply"
        assert self.response is not None
        return int(self.response)


def test_rpc_with_reply_to_and_correlation_id(broker: EmbeddedBroker) -> None:
    rpc_queue = unique("rpc_queue")
    server = RpcServer(broker, rpc_queue)
    server.start()
    assert server.ready.wait(5)
    assert server.error is None
    client = FibonacciRpcClient(broker, rpc_queue)
    try:
        # a stale reply for some earlier request sits in the callback queue: it must be ignored
        client.channel.basic_publish(
            "", client.callback_queue, b"-1", BasicProperties(correlation_id="stale-request")
        )
        assert client.call(10) == 55
        assert client.call(20) == 6765
        assert client.call(0) == 0
        assert client.ignored == ["stale-request"]
        assert server.served == 3
    finally:
        server.stop.set()
        server.join(5)
        client.connection.close()
    assert server.error is None


def test_rpc_with_direct_reply_to(broker: EmbeddedBroker) -> None:
    """The same server, unchanged: it replies to whatever reply_to says, here a key the broker
    made up for the client's channel. No callback queue exists anywhere."""
    rpc_queue = unique("rpc_queue")
    server = RpcServer(broker, rpc_queue)
    server.start()
    assert server.ready.wait(5)
    assert server.error is None
    client = FibonacciRpcClient(broker, rpc_queue, direct_reply_to=True)
    try:
        assert client.call(10) == 55
        assert client.call(30) == 832040
        assert server.served == 2
        assert client.ignored == []
        queues = broker.server.call(lambda: sorted(broker.broker.vhosts["/"].queues))
        assert queues == [rpc_queue]
    finally:
        server.stop.set()
        server.join(5)
        client.connection.close()
    assert server.error is None


def test_direct_reply_to_without_a_reply_consumer_is_406(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
            channel.basic_publish("", "nowhere", b"x", BasicProperties(reply_to="amq.rabbitmq.reply-to"))
            channel.queue_declare("", exclusive=True)  # a round trip, so the close arrives
        assert (caught.value.reply_code, caught.value.reply_text) == (
            406,
            "PRECONDITION_FAILED - fast reply consumer does not exist",
        )
    finally:
        connection.close()


# --- 7. Publisher confirms ---------------------------------------------------------------------------


def test_publisher_confirms_and_unroutable_mandatory(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        name = unique("confirmed")
        channel.queue_declare(name, durable=True)
        channel.confirm_delivery()
        for number in range(5):
            channel.basic_publish(
                "", name, f"m{number}".encode(), BasicProperties(delivery_mode=2), mandatory=True
            )
        assert channel.queue_declare(name, durable=True, passive=True).method.message_count == 5

        with pytest.raises(pika.exceptions.UnroutableError) as caught:
            channel.basic_publish("", unique("nowhere"), b"lost", mandatory=True)
        returned = caught.value.messages
        assert len(returned) == 1
        assert returned[0].method.reply_code == 312
        assert returned[0].method.reply_text == "NO_ROUTE"
        assert returned[0].body == b"lost"
        # unroutable without mandatory is simply confirmed (and dropped)
        channel.basic_publish("amq.direct", "nobody-bound", b"dropped")
        assert channel.is_open
        assert drain(connection, channel, name) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    finally:
        connection.close()


# --- Beyond the tutorials: the rest of the basic class -----------------------------------------------


def test_body_larger_than_frame_max_round_trips(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        big = bytes((i * 7 + i // 251) % 256 for i in range(1_048_576 + 13))
        assert len(big) > connection._impl.params.frame_max
        channel.basic_publish("", name, big)
        channel.basic_publish("", name, big[::-1])
        method, _properties, body = channel.basic_get(name, auto_ack=True)
        assert method is not None
        assert body == big
        received: list[bytes] = []
        channel.basic_consume(name, lambda ch, m, p, body: received.append(body), auto_ack=True)
        collect(connection, received, 1)
        assert received[0] == big[::-1]
    finally:
        connection.close()


def test_basic_get_reports_message_count(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        assert channel.basic_get(name) == (None, None, None)
        for number in range(3):
            channel.basic_publish("", name, f"m{number}".encode())
        seen = []
        for _ in range(3):
            method, _properties, body = channel.basic_get(name)
            assert isinstance(method, Basic.GetOk)
            seen.append((body, method.message_count, method.delivery_tag, method.redelivered))
        assert seen == [(b"m0", 2, 1, False), (b"m1", 1, 2, False), (b"m2", 0, 3, False)]
        assert channel.basic_get(name) == (None, None, None)
        channel.basic_ack(3, multiple=True)
        assert channel.queue_declare(name, passive=True).method.message_count == 0
    finally:
        connection.close()


def test_basic_recover_redelivers_unacked(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        for number in range(2):
            channel.basic_publish("", name, f"m{number}".encode())
        received: list[tuple[int, bool, bytes]] = []
        channel.basic_consume(
            name, lambda ch, m, p, body: received.append((m.delivery_tag, m.redelivered, body))
        )
        collect(connection, received, 2)
        channel.basic_recover(requeue=True)
        collect(connection, received, 4)
        assert received == [(1, False, b"m0"), (2, False, b"m1"), (3, True, b"m0"), (4, True, b"m1")]
        channel.basic_ack(4, multiple=True)
        connection.process_data_events(time_limit=0.1)
        assert channel.queue_declare(name, passive=True).method.message_count == 0
        assert len(received) == 4
    finally:
        connection.close()


def test_nack_with_requeue_redelivers(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    try:
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish("", name, b"retry me")
        channel.basic_publish("", name, b"second")
        method, _properties, body = channel.basic_get(name)
        assert (body, method.redelivered) == (b"retry me", False)
        channel.basic_nack(method.delivery_tag, requeue=True)
        method, _properties, body = channel.basic_get(name)
        assert (body, method.redelivered, method.message_count) == (b"retry me", True, 1)
        channel.basic_reject(method.delivery_tag, requeue=False)  # and now it is gone
        method, _properties, body = channel.basic_get(name, auto_ack=True)
        assert (body, method.redelivered, method.message_count) == (b"second", False, 0)
    finally:
        connection.close()


def test_channel_close_requeues_unacked_to_another_consumer(broker: EmbeddedBroker) -> None:
    first = connect(broker)
    second = connect(broker)
    try:
        name = unique("shared")
        first_channel = first.channel()
        first_channel.queue_declare(name)
        first_channel.basic_qos(prefetch_count=2)
        got_first: list[tuple[bool, bytes]] = []
        first_channel.basic_consume(name, lambda ch, m, p, body: got_first.append((m.redelivered, body)))
        for number in range(2):
            first_channel.basic_publish("", name, f"m{number}".encode())
        collect(first, got_first, 2)

        second_channel = second.channel()
        got_second: list[tuple[bool, bytes]] = []
        second_channel.basic_consume(
            name, lambda ch, m, p, body: got_second.append((m.redelivered, body)), auto_ack=True
        )
        second.process_data_events(time_limit=0.1)
        assert got_second == []

        first_channel.close()
        collect(second, got_second, 2)
        assert got_first == [(False, b"m0"), (False, b"m1")]
        assert got_second == [(True, b"m0"), (True, b"m1")]
        assert second_channel.queue_declare(name, passive=True).method.message_count == 0
    finally:
        first.close()
        second.close()


def test_transactions_commit_and_rollback(broker: EmbeddedBroker) -> None:
    connection = connect(broker)
    observer = connect(broker)
    try:
        name = unique("tx")
        channel = connection.channel()
        channel.queue_declare(name)
        watch = observer.channel()

        def ready() -> int:
            return watch.queue_declare(name, passive=True).method.message_count

        channel.tx_select()
        channel.basic_publish("", name, b"one")
        channel.basic_publish("", name, b"two")
        assert ready() == 0
        channel.tx_commit()
        assert ready() == 2

        channel.basic_publish("", name, b"never")
        channel.tx_rollback()
        assert ready() == 2

        method, _properties, body = channel.basic_get(name)
        assert body == b"one"
        channel.basic_ack(method.delivery_tag)
        channel.tx_rollback()  # the ack is discarded: "one" is still unacked on the channel
        assert ready() == 1
        channel.close()  # so closing the channel requeues it
        assert ready() == 2

        channel = connection.channel()
        channel.tx_select()
        method, _properties, body = channel.basic_get(name)
        assert (body, method.redelivered) == (b"one", True)
        channel.basic_ack(method.delivery_tag)
        channel.tx_commit()
        channel.close()
        assert ready() == 1
    finally:
        connection.close()
        observer.close()
    assert_broker_alive(broker)
