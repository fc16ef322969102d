"""The same pika workloads against the simulator and, when given a URL, a real RabbitMQ,
in one run, with the ratio (simulator / real; above 1 means the simulator is faster).

The simulator runs twice: in its own process (`rabbitsim server`, as a real broker runs),
and embedded in the client's process (`rabbitsim.start()`, as a notebook uses it), where
pika and the broker share one interpreter lock.

    .venv/bin/python benchmarks/wire.py [--url amqp://guest:guest@127.0.0.1:5672/%2F] [--messages 50000]

Workloads (one connection, 100-byte bodies, what pika's tutorials do):
  publish   basic_publish N messages to a queue
  consume   basic_consume with manual ack and prefetch 100 until N messages are acked
  confirm   publish with confirms on, waiting for each confirm (N/10 messages)
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
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


WORKLOADS: dict[str, tuple[Callable[[pika.ConnectionParameters, int], float], int]] = {
    "publish": (publish, 1),
    "consume": (consume, 1),
    "confirm": (confirm, 10),
}


@contextlib.contextmanager
def simulator_process() -> Iterator[pika.ConnectionParameters]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "rabbitsim", "server", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        yield pika.ConnectionParameters("127.0.0.1", port)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a real RabbitMQ to compare with")
    parser.add_argument("--messages", type=int, default=50_000)
    options = parser.parse_args()
    real = pika.URLParameters(options.url) if options.url else None
    print(
        f"{'workload':<9}{'messages':>9}{'sim process':>13}{'sim embedded':>14}{'real':>9}"
        f"{'process/real':>14}{'embedded/real':>15}   (msg/s)"
    )
    with simulator_process() as own_process, rabbitsim.start() as embedded:
        for name, (run, divisor) in WORKLOADS.items():
            count = max(1, options.messages // divisor)
            rates = [count / run(parameters, count) for parameters in (own_process, embedded.parameters)]
            line = f"{name:<9}{count:>9}{rates[0]:>13,.0f}{rates[1]:>14,.0f}"
            if real is not None:
                real_rate = count / run(real, count)
                line += f"{real_rate:>9,.0f}{rates[0] / real_rate:>14.2f}{rates[1] / real_rate:>15.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
