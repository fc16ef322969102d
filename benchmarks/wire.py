"""The same pika workloads against the simulator and, when given a URL, a real RabbitMQ,
in one run, with the ratio (simulator / real; above 1 means the simulator is faster).

The simulator runs twice: as `rabbitsim.start()` gives it, in a process of its own (as a real
broker runs), and in the client's process (`rabbitsim.start(in_process=True)`), where pika and
the broker share one interpreter lock. The first lines say how long each takes from start to
its first connection.

    .venv/bin/python benchmarks/wire.py [--url amqp://guest:guest@127.0.0.1:5672/%2F] [--messages 50000]

Workloads (one connection, 100-byte bodies, what pika's tutorials do):
  publish   basic_publish N messages to a queue
  consume   basic_consume with manual ack and prefetch 100 until N messages are acked
  confirm   publish with confirms on, waiting for each confirm (N/10 messages)
  durable   the same with persistent messages to a durable queue (N/10 messages)
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import pika

import rabbitsim

BODY = b"x" * 100


def publish(parameters: pika.ConnectionParameters, count: int) -> float:
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue, auto_delete=False)
        started = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", queue, BODY)
        channel.queue_declare(queue, passive=True)  # a round trip: everything before it has arrived
        elapsed = time.perf_counter() - started
        channel.queue_delete(queue)
    return elapsed


def consume(parameters: pika.ConnectionParameters, count: int) -> float:
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue)
        for _ in range(count):
            channel.basic_publish("", queue, BODY)
        channel.queue_declare(queue, passive=True)
        channel.basic_qos(prefetch_count=100)
        received = 0

        def on_message(
            ch: pika.adapters.blocking_connection.BlockingChannel, method: object, _p: object, _b: bytes
        ) -> None:
            nonlocal received
            ch.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]
            received += 1
            if received == count:
                ch.stop_consuming()

        started = time.perf_counter()
        channel.basic_consume(queue, on_message)
        channel.start_consuming()
        elapsed = time.perf_counter() - started
        channel.queue_delete(queue)
    return elapsed


def confirm(parameters: pika.ConnectionParameters, count: int) -> float:
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue)
        channel.confirm_delivery()
        started = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", queue, BODY)
        elapsed = time.perf_counter() - started
        channel.queue_delete(queue)
    return elapsed


def durable(parameters: pika.ConnectionParameters, count: int) -> float:
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue, durable=True)
        channel.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
        started = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", queue, BODY, persistent)
        elapsed = time.perf_counter() - started
        channel.queue_delete(queue)
    return elapsed


WORKLOADS: dict[str, tuple[Callable[[pika.ConnectionParameters, int], float], int]] = {
    "publish": (publish, 1),
    "consume": (consume, 1),
    "confirm": (confirm, 10),
    "durable": (durable, 10),
}


@contextlib.contextmanager
def started(**options: object) -> Iterator[rabbitsim.backends.BrokerHandle]:
    """A simulator from `rabbitsim.start`, with the time from the call to a first connection."""
    began = time.perf_counter()
    with rabbitsim.start("sim", **options) as broker:
        pika.BlockingConnection(broker.parameters).close()
        kind = "in-process" if options.get("in_process") else "own process"
        print(f"start to first connection, {kind}: {time.perf_counter() - began:.2f} s", flush=True)
        yield broker


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a real RabbitMQ to compare with")
    parser.add_argument("--messages", type=int, default=50_000)
    options = parser.parse_args()
    real = pika.URLParameters(options.url) if options.url else None
    with started() as own_process, started(in_process=True) as embedded:
        print(
            f"{'workload':<9}{'messages':>9}{'sim process':>13}{'sim embedded':>14}{'real':>9}"
            f"{'process/real':>14}{'embedded/real':>15}   (msg/s)"
        )
        for name, (run, divisor) in WORKLOADS.items():
            count = max(1, options.messages // divisor)
            rates = [count / run(broker.parameters, count) for broker in (own_process, embedded)]
            line = f"{name:<9}{count:>9}{rates[0]:>13,.0f}{rates[1]:>14,.0f}"
            if real is not None:
                real_rate = count / run(real, count)
                line += f"{real_rate:>9,.0f}{rates[0] / real_rate:>14.2f}{rates[1] / real_rate:>15.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
