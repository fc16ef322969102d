"""Streams through pika: the simulator against a real RabbitMQ in one run, with the ratio
(simulator / real; above 1 means the simulator is faster).

    .venv/bin/python benchmarks/streams.py [--url amqp://guest:guest@127.0.0.1:5674/%2F] [--messages 20000]

Workloads (one connection each, 100-byte bodies, a durable stream `x-queue-type: stream`):
  publish   basic_publish N messages to the stream (a passive declare after them is the fence)
  consume   read the N messages from "first" with prefetch 100, acking each
  replay    a second consumer reads the same N again (acks removed nothing)

Each workload runs `--rounds` times on each broker, taking turns; the table gives the best rate.
The real broker defaults to the 4.3 this project's CI starts (port 5674); streams need 3.9 or later.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import pika
from pika.adapters.blocking_connection import BlockingChannel

import rabbitsim

BODY = b"x" * 100
STREAM = {"x-queue-type": "stream"}


def fill(channel: BlockingChannel, stream: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        channel.basic_publish("", stream, BODY)
    channel.queue_declare(stream, passive=True)  # a round trip: every publish before it has arrived
    return time.perf_counter() - started


def read(channel: BlockingChannel, stream: str, count: int) -> float:
    """Seconds to receive and ack `count` messages from the start of `stream`."""
    channel.basic_qos(prefetch_count=100)
    received = 0
    started = time.perf_counter()

    def on_message(ch: BlockingChannel, method: pika.spec.Basic.Deliver, _p: object, _b: bytes) -> None:
        nonlocal received
        received += 1
        ch.basic_ack(method.delivery_tag)
        if received == count:
            ch.stop_consuming()

    tag = channel.basic_consume(stream, on_message, arguments={"x-stream-offset": "first"})
    deadline = time.monotonic() + 120
    while received < count and time.monotonic() < deadline:
        channel.connection.process_data_events(time_limit=1)
    channel.basic_cancel(tag)
    if received < count:
        raise RuntimeError(f"only {received} of {count} messages came back from {stream}")
    return time.perf_counter() - started


def workloads(parameters: pika.ConnectionParameters, count: int) -> dict[str, float]:
    """msg/s of each workload on one broker, on a stream of its own."""
    stream = f"bench-stream-{uuid.uuid4().hex[:8]}"
    rates: dict[str, float] = {}
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        channel.queue_declare(stream, durable=True, arguments=STREAM)
        try:
            rates["publish"] = count / fill(channel, stream, count)
            for name in ("consume", "replay"):
                with pika.BlockingConnection(parameters) as reader:
                    rates[name] = count / read(reader.channel(), stream, count)
        finally:
            channel.queue_delete(stream)
    return rates


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: max(run[name] for run in runs) for name in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5674/%2F", help="the real RabbitMQ")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    real = pika.URLParameters(options.url)
    sim_runs: list[dict[str, float]] = []
    real_runs: list[dict[str, float]] = []
    with rabbitsim.start() as broker:
        turns: list[tuple[list[dict[str, float]], Callable[[], dict[str, float]]]] = [
            (sim_runs, lambda: workloads(broker.parameters, options.messages)),
            (real_runs, lambda: workloads(real, options.messages)),
        ]
        for _ in range(options.rounds):
            for runs, run in turns:
                runs.append(run())
    sim, measured = best(sim_runs), best(real_runs)
    heading = f"{'workload':<9}{'messages':>9}{'sim':>10}{'real':>10}{'sim/real':>10}"
    print(f"{heading}   (msg/s, best of {options.rounds})")
    for name in sim:
        ratio = sim[name] / measured[name]
        print(f"{name:<9}{options.messages:>9}{sim[name]:>10,.0f}{measured[name]:>10,.0f}{ratio:>10.2f}")


if __name__ == "__main__":
    main()
