"""The same pika workloads against the simulator and, when given a URL, a real RabbitMQ,
in one run, with the ratio (simulator / real; above 1 means the simulator is faster).

The simulator runs twice: as `rabbitsim.start()` gives it, in a process of its own (as a real
broker runs), and in the client's process (`rabbitsim.start(in_process=True)`), where pika and
the broker share one interpreter lock. The first lines say how long each takes from start to
its first connection. The last columns give the broker's own CPU time per message (user +
system, from /proc) for the simulator's process and for the real broker's Erlang VM (found with
`rabbitmqctl eval 'os:getpid().'`, so only for a broker this project's scripts started).

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
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pika

import rabbitsim
from rabbitsim.backends import BackendUnavailable, BrokerHandle, ProcessBroker, UrlBroker

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


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc), or NaN if unknown."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def real_broker_pid(url: str) -> int | None:
    """The OS pid of the Erlang VM of a broker this project's scripts started, if it is one."""
    local = UrlBroker(url).local
    if local is None:
        return None
    try:
        return int(local.rabbitmqctl("eval", "list_to_integer(os:getpid()).").strip())
    except (BackendUnavailable, RuntimeError, ValueError):
        return None


def measured(
    run: Callable[[pika.ConnectionParameters, int], float],
    parameters: pika.ConnectionParameters,
    count: int,
    pid: int | None,
) -> tuple[float, float]:
    """(messages per second, broker CPU µs per message) of one workload."""
    cpu = cpu_seconds(pid)
    elapsed = run(parameters, count)
    return count / elapsed, (cpu_seconds(pid) - cpu) / count * 1e6


@contextlib.contextmanager
def started(**options: object) -> Iterator[BrokerHandle]:
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
    real_pid = real_broker_pid(options.url) if options.url else None
    with started() as own_process, started(in_process=True) as embedded:
        sim_pid = own_process.process.pid if isinstance(own_process, ProcessBroker) else None
        print(
            f"{'workload':<9}{'messages':>9}{'sim process':>13}{'sim embedded':>14}{'real':>9}"
            f"{'process/real':>14}{'embedded/real':>15}   (msg/s)"
            f"{'sim CPU':>10}{'real CPU':>10}   (µs per message)"
        )
        for name, (run, divisor) in WORKLOADS.items():
            count = max(1, options.messages // divisor)
            rate, sim_cpu = measured(run, own_process.parameters, count, sim_pid)
            embedded_rate, _ = measured(run, embedded.parameters, count, None)
            line = f"{name:<9}{count:>9}{rate:>13,.0f}{embedded_rate:>14,.0f}"
            real_cpu = float("nan")
            if real is not None:
                real_rate, real_cpu = measured(run, real, count, real_pid)
                line += f"{real_rate:>9,.0f}{rate / real_rate:>14.2f}{embedded_rate / real_rate:>15.2f}"
            else:
                line += " " * 38
            print(f"{line}{sim_cpu:>20.1f}{real_cpu:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
