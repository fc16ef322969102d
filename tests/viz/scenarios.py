"""The course's tutorial topologies, run with pika against the simulator while its events are
recorded: what the picture tests, the benchmark and the pictures in docs/ are made from.

    .venv/bin/python -m tests.viz.scenarios docs      # writes docs/<scenario>.png

Each scenario opens its own connections on one thread and pumps them until the messages it
expects have been settled, then snapshots the topology while everything is still connected."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
from pika.adapters.blocking_connection import BlockingChannel

import rabbitsim
from rabbitsim.backends import BrokerHandle, EmbeddedBroker
from rabbitsim.trace import Trace
from rabbitsim.vocabulary import EventKind, Topology, TraceEvent

TIMEOUT = 10.0
DPI = 120


@dataclass(frozen=True)
class Scenario:
    name: str
    events: list[TraceEvent]
    topology: Topology


@contextlib.contextmanager
def recording(handle: EmbeddedBroker) -> Iterator[list[TraceEvent]]:
    """Every event the simulator emits while the block runs (appended on the broker's thread)."""
    events: list[TraceEvent] = []
    source = handle.events(timeout=TIMEOUT)
    source.start(events.append)
    try:
        yield events
    finally:
        source.stop()


def pump(connections: list[pika.BlockingConnection], done: Callable[[], bool]) -> None:
    """Let every connection's callbacks run until `done()` (or fail after TIMEOUT)."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        assert time.monotonic() < deadline, "scenario did not finish"
        for connection in connections:
            connection.process_data_events(time_limit=0.005)


def count(events: list[TraceEvent], kind: EventKind) -> int:
    return sum(1 for event in events if event.kind is kind)


def _acker(channel: BlockingChannel, method: object, _properties: object, _body: bytes) -> None:
    channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]


def hello_world(handle: EmbeddedBroker) -> Scenario:
    """Tutorial 1: one producer, the default exchange, queue 'hello', one consumer (auto-ack)."""
    with recording(handle) as events:
        sender = pika.BlockingConnection(handle.parameters)
        receiver = pika.BlockingConnection(handle.parameters)
        channel = sender.channel()
        channel.queue_declare("hello")
        channel.basic_publish("", "hello", b"Hello World!")
        inbox = receiver.channel()
        inbox.queue_declare("hello")
        inbox.basic_consume("hello", lambda *_: None, auto_ack=True)
        pump([receiver], lambda: count(events, EventKind.DELIVER) >= 1)
        topology = handle.topology()
    sender.close()
    receiver.close()
    return Scenario("hello_world", events, topology)


def work_queues(handle: EmbeddedBroker, tasks: int = 6) -> Scenario:
    """Tutorial 2: a durable task queue, two workers with prefetch 1 and manual acks."""
    with recording(handle) as events:
        producer = pika.BlockingConnection(handle.parameters)
        channel = producer.channel()
        channel.queue_declare("task_queue", durable=True)
        workers = [pika.BlockingConnection(handle.parameters) for _ in range(2)]
        for worker in workers:
            work = worker.channel()
            work.queue_declare("task_queue", durable=True)
            work.basic_qos(prefetch_count=1)
            work.basic_consume("task_queue", _acker)
        for number in range(tasks):
            channel.basic_publish(
                "", "task_queue", f"task {number}".encode(), pika.BasicProperties(delivery_mode=2)
            )
        pump(workers, lambda: count(events, EventKind.ACK) >= tasks)
        topology = handle.topology()
    for connection in [producer, *workers]:
        connection.close()
    return Scenario("work_queues", events, topology)


def _subscribers(
    handle: EmbeddedBroker, exchange: str, kind: str, bindings: list[list[str]], *, ack: bool = False
) -> list[pika.BlockingConnection]:
    """One connection per receiver: an exclusive server-named queue bound with its keys."""
    receivers = []
    for keys in bindings:
        receiver = pika.BlockingConnection(handle.parameters)
        channel = receiver.channel()
        channel.exchange_declare(exchange, kind)
        queue = channel.queue_declare("", exclusive=True).method.queue
        for key in keys:
            channel.queue_bind(queue, exchange, key)
        if ack:
            channel.basic_consume(queue, _acker)
        else:
            channel.basic_consume(queue, lambda *_: None, auto_ack=True)
        receivers.append(receiver)
    return receivers


def fanout(handle: EmbeddedBroker, messages: int = 4, *, ack: bool = False) -> Scenario:
    """Tutorial 3: exchange 'logs' (fanout), three exclusive queues, three consumers."""
    with recording(handle) as events:
        receivers = _subscribers(handle, "logs", "fanout", [[""], [""], [""]], ack=ack)
        producer = pika.BlockingConnection(handle.parameters)
        channel = producer.channel()
        channel.exchange_declare("logs", "fanout")
        for number in range(messages):
            channel.basic_publish("logs", "", f"log line {number}".encode())
        settled = EventKind.ACK if ack else EventKind.DELIVER
        pump(receivers, lambda: count(events, settled) >= 3 * messages)
        topology = handle.topology()
    for connection in [producer, *receivers]:
        connection.close()
    return Scenario("fanout", events, topology)


SEVERITIES = ["info", "warning", "error", "info", "error", "debug"]


def direct(handle: EmbeddedBroker) -> Scenario:
    """Tutorial 4: exchange 'direct_logs'; one queue takes errors, the other everything but
    debug, which nobody binds, so it is dropped."""
    with recording(handle) as events:
        receivers = _subscribers(handle, "direct_logs", "direct", [["error"], ["info", "warning", "error"]])
        producer = pika.BlockingConnection(handle.parameters)
        channel = producer.channel()
        channel.exchange_declare("direct_logs", "direct")
        for severity in SEVERITIES:
            channel.basic_publish("direct_logs", severity, f"{severity} message".encode())
        pump(receivers, lambda: count(events, EventKind.DELIVER) >= 7)
        topology = handle.topology()
    for connection in [producer, *receivers]:
        connection.close()
    return Scenario("direct", events, topology)


TOPIC_KEYS = [
    "quick.orange.rabbit",
    "lazy.orange.elephant",
    "quick.orange.fox",
    "lazy.brown.fox",
    "lazy.pink.rabbit",
    "quick.brown.fox",
]


def topics(handle: EmbeddedBroker) -> Scenario:
    """Tutorial 5: exchange 'topic_logs'; Q1 binds '*.orange.*', Q2 '*.*.rabbit' and 'lazy.#'."""
    with recording(handle) as events:
        receivers = _subscribers(
            handle, "topic_logs", "topic", [["*.orange.*"], ["*.*.rabbit", "lazy.#"]], ack=True
        )
        producer = pika.BlockingConnection(handle.parameters)
        channel = producer.channel()
        channel.exchange_declare("topic_logs", "topic")
        for key in TOPIC_KEYS:
            channel.basic_publish("topic_logs", key, key.encode())
        pump(receivers, lambda: count(events, EventKind.ACK) >= 7)
        topology = handle.topology()
    for connection in [producer, *receivers]:
        connection.close()
    return Scenario("topics", events, topology)


def rpc(handle: EmbeddedBroker, requests: tuple[int, ...] = (10, 20, 30)) -> Scenario:
    """Tutorial 6: a client publishes to 'rpc_queue' with reply_to its exclusive callback queue;
    the server (prefetch 1, manual ack) answers through the default exchange."""
    with recording(handle) as events:
        server = pika.BlockingConnection(handle.parameters)
        serving = server.channel()
        serving.queue_declare("rpc_queue")
        serving.basic_qos(prefetch_count=1)

        def on_request(
            channel: BlockingChannel, method: object, properties: pika.BasicProperties, body: bytes
        ) -> None:
            channel.basic_publish(
                "",
                properties.reply_to,
                str(int(body) * 2).encode(),
                pika.BasicProperties(correlation_id=properties.correlation_id),
            )
            channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

        serving.basic_consume("rpc_queue", on_request)
        client = pika.BlockingConnection(handle.parameters)
        calling = client.channel()
        callback = calling.queue_declare("", exclusive=True).method.queue
        answers: list[bytes] = []
        calling.basic_consume(callback, lambda _c, _m, _p, body: answers.append(body), auto_ack=True)
        for number, request in enumerate(requests):
            calling.basic_publish(
                "",
                "rpc_queue",
                str(request).encode(),
                pika.BasicProperties(reply_to=callback, correlation_id=str(number)),
            )
            pump([server, client], lambda number=number: len(answers) > number)  # type: ignore[misc]
        topology = handle.topology()
    client.close()
    server.close()
    return Scenario("rpc", events, topology)


SCENARIOS: dict[str, Callable[[EmbeddedBroker], Scenario]] = {
    "hello_world": hello_world,
    "work_queues": work_queues,
    "fanout": fanout,
    "direct": direct,
    "topics": topics,
    "rpc": rpc,
}


def stream_trace(handle: BrokerHandle, *, prefix: str = "", settle: float = 0.0) -> Trace:
    """Chapter 9's picture, on any backend: a fanout exchange feeds a stream and a classic
    queue. Two messages were in the log before the recording; inside it, a consumer reads the
    stream from "next" and a worker the classic queue while three messages arrive, then a
    second stream consumer replays the log from "first" (all five); all ack. The stream keeps
    all five, the classic queue ends empty. Names start with `prefix` (a real broker's run
    uses its own)."""
    exchange, log, work = f"{prefix}events", f"{prefix}orders-log", f"{prefix}orders-work"
    producer, consumer = pika.URLParameters(handle.url), pika.URLParameters(handle.url)
    sender, receiver = pika.BlockingConnection(producer), pika.BlockingConnection(consumer)
    try:
        channel = sender.channel()
        channel.exchange_declare(exchange, "fanout")
        channel.queue_declare(log, durable=True, arguments={"x-queue-type": "stream"})
        channel.queue_bind(log, exchange)
        for number in (1, 2):
            channel.basic_publish(exchange, "", f"history {number}".encode())
        channel.queue_declare(work)
        channel.queue_bind(work, exchange)
        received: dict[str, list[bytes]] = {"first": [], "next": [], "work": []}

        def keep(name: str) -> Callable[..., None]:
            def on_message(inbox: BlockingChannel, method: object, _properties: object, body: bytes) -> None:
                received[name].append(body)
                inbox.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

            return on_message

        def attach(name: str, queue: str, arguments: dict[str, str]) -> None:
            inbox = receiver.channel()
            inbox.basic_qos(prefetch_count=10)  # a stream's consumers must have one
            inbox.basic_consume(queue, keep(name), arguments=arguments)  # waits for consume-ok

        with handle.trace(settle=settle) as trace:
            attach("next", log, {"x-stream-offset": "next"})
            attach("work", work, {})
            for number in (1, 2, 3):
                channel.basic_publish(exchange, "", f"order {number}".encode())
            pump([receiver], lambda: len(received["next"]) == len(received["work"]) == 3)
            attach("first", log, {"x-stream-offset": "first"})  # a replay, from the start
            pump([receiver], lambda: len(received["first"]) == 5)
            receiver.process_data_events(time_limit=0.05)  # the last acks go out
        expected = {"first": 5, "next": 3, "work": 3}
        assert {n: len(bodies) for n, bodies in received.items()} == expected, received
        channel.queue_delete(log)
        channel.queue_delete(work)
        channel.exchange_delete(exchange)
        return trace
    finally:
        receiver.close()
        sender.close()


def stream(handle: EmbeddedBroker) -> Scenario:
    """`stream_trace` on the simulator, as the picture tests and docs/stream.png use it."""
    trace = stream_trace(handle)
    assert trace.topology.end is not None
    return Scenario("stream", list(trace.events), trace.topology.end)


def stream_picture(path: Path) -> Path:
    """docs/stream.png: the stream scenario's moment with the most going on (tokens on their
    way to the log and from it, readers apart), drawn as the animation shows it."""
    from rabbitsim import viz

    handle = rabbitsim.start("sim", in_process=True)
    assert isinstance(handle, EmbeddedBroker)
    try:
        scenario = stream(handle)
    finally:
        handle.close()
    animation = viz.animate(scenario.events, topology=scenario.topology, dpi=DPI)

    def busy(index: int) -> tuple[int, int]:
        frame = animation.frames[index]
        readers = {r.next for view in frame.logs.values() for r in view.readers}
        return (len(readers), len(frame.tokens) + len(frame.marks))

    path.write_bytes(animation.frame_png(max(range(len(animation)), key=busy)))
    return path


def run(name: str, **options: object) -> Scenario:
    """One scenario on a fresh simulator, so generated names repeat run after run."""
    handle = rabbitsim.start("sim", in_process=True)
    assert isinstance(handle, EmbeddedBroker)
    try:
        return SCENARIOS[name](handle, **options)  # type: ignore[call-arg]
    finally:
        handle.close()


def write_pictures(folder: Path) -> list[Path]:
    """docs/<scenario>.png for every scenario, and one animation frame of the work queue: the
    moment with the most going on (tokens on their way, messages waiting, marks)."""
    from rabbitsim import viz

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCENARIOS:
        scenario = run(name)
        path = folder / f"{name}.png"
        viz.draw(scenario.events, topology=scenario.topology, dpi=DPI).savefig(path)
        written.append(path)
        if name == "work_queues":
            animation = viz.animate(scenario.events, topology=scenario.topology, dpi=DPI)
            busiest = max(
                range(len(animation)),
                key=lambda i: (
                    min(sum(animation.frames[i].ready.values()), 2)
                    + len(animation.frames[i].tokens)
                    + len(animation.frames[i].marks)
                ),
            )
            path = folder / f"{name}_frame.png"
            path.write_bytes(animation.frame_png(busiest))
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_pictures(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
