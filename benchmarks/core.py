"""How fast is the broker core on its own, with no sockets in the way?

    .venv/bin/python benchmarks/core.py [--messages 200000] [--repeat 5]

Workloads:
  direct   publish -> deliver -> ack through the default exchange, one consumer with manual
           ack and prefetch 100, acks one by one (what pika's tutorials do)
  fanout   one publish copied to 3 queues, 3 consumers, each copy acked
  topic    routing only, through a topic exchange with 10,000 bindings
  topic+q  publish through that exchange into queues (routing + enqueue), queues purged
The core must stay well under the ~70 us pika itself spends per publish, so that the wire
server built on it can outrun a real RabbitMQ driven by pika (goal: <= 10 us per message).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from rabbitsim.broker import Broker, Deliver, Message, Properties

BODY = b"x" * 100


def direct(messages: int) -> float:
    broker = Broker()
    connection = broker.connect()
    publisher = connection.open_channel(1)
    consumer = connection.open_channel(2)
    publisher.queue_declare("work")
    consumer.basic_qos(100)
    consumer.basic_consume("work", "worker")
    publish, ack, take = publisher.basic_publish, consumer.basic_ack, broker.take_output
    take()  # the setup's replies
    started = time.perf_counter()
    for start in range(0, messages, 100):
        for _ in range(min(100, messages - start)):
            publish("", "work", BODY)
        for _connection, _number, item in take():
            ack(item.delivery_tag)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started
    assert not broker.vhosts["/"].queues["work"].ready, "every message should have been delivered"
    return elapsed


def fanout(messages: int) -> float:
    broker = Broker()
    connection = broker.connect()
    publisher = connection.open_channel(1)
    publisher.exchange_declare("logs", "fanout")
    consumers = {}
    for index in range(3):
        channel = connection.open_channel(10 + index)
        queue = channel.queue_declare("", exclusive=True).queue
        channel.queue_bind(queue, "logs")
        channel.basic_qos(100)
        channel.basic_consume(queue)
        consumers[channel.number] = channel
    broker.take_output()  # the setup's replies
    started = time.perf_counter()
    for start in range(0, messages, 30):
        for _ in range(min(30, messages - start)):
            publisher.basic_publish("logs", "", BODY)
        for _connection, number, item in broker.take_output():
            assert isinstance(item, Deliver)
            consumers[number].basic_ack(item.delivery_tag)
    return time.perf_counter() - started


def topic_broker(bindings: int, queues: int) -> Broker:
    rng = random.Random(7)
    broker = Broker()
    channel = broker.connect().open_channel(1)
    channel.exchange_declare("market", "topic")
    for index in range(queues):
        channel.queue_declare(f"q{index}")
    shapes = ["stock.{a}.{b}", "stock.{a}.*", "*.{a}.#", "#.{b}", "stock.#.{b}", "{a}.{b}.*.*"]
    for index in range(bindings):
        key = rng.choice(shapes).format(a=f"w{rng.randrange(500)}", b=f"v{rng.randrange(500)}")
        channel.queue_bind(f"q{index % queues}", "market", key)
    return broker


def topic_keys(count: int) -> list[str]:
    rng = random.Random(11)
    return [f"stock.w{rng.randrange(500)}.v{rng.randrange(500)}" for _ in range(count)]


def topic_route(messages: int) -> float:
    broker = topic_broker(10_000, 1000)
    vhost = broker.vhosts["/"]
    exchange = vhost.exchanges["market"]
    keys = [Message(0, "market", key, Properties(), BODY) for key in topic_keys(messages)]
    route = vhost.route
    started = time.perf_counter()
    for message in keys:
        route(exchange, message)
    return time.perf_counter() - started


def topic_publish(messages: int) -> float:
    broker = topic_broker(10_000, 1000)
    channel = broker.connect().open_channel(1)
    keys = topic_keys(messages)
    publish = channel.basic_publish
    started = time.perf_counter()
    for key in keys:
        publish("market", key, BODY)
    return time.perf_counter() - started


WORKLOADS: dict[str, tuple[Callable[[int], float], int]] = {
    # name: (run, message divisor: a smaller run where the workload is heavier per message)
    "direct": (direct, 1),
    "fanout": (fanout, 3),
    "topic": (topic_route, 4),
    "topic+q": (topic_publish, 4),
}


def copies_per_topic_message(samples: int = 2000) -> float:
    broker = topic_broker(10_000, 1000)
    vhost = broker.vhosts["/"]
    exchange = vhost.exchanges["market"]
    keys = topic_keys(samples)
    return (
        sum(len(vhost.route(exchange, Message(0, "market", key, Properties(), BODY))) for key in keys)
        / samples
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    options = parser.parse_args()
    print(f"{'workload':<10}{'messages':>10}{'best msg/s':>14}{'us/msg':>9}{'median us/msg':>15}")
    for name in options.workloads:
        run, divisor = WORKLOADS[name]
        count = max(1, options.messages // divisor)
        times = sorted(run(count) for _ in range(options.repeat))
        best, median = times[0], times[len(times) // 2]
        per_message = best / count * 1e6
        print(f"{name:<10}{count:>10}{count / best:>14,.0f}{per_message:>9.2f}{median / count * 1e6:>15.2f}")
    if {"topic", "topic+q"} & set(options.workloads):
        matched = copies_per_topic_message()
        print(f"(topic: 10,000 bindings over 1,000 queues; {matched:.1f} queues matched per message)")


if __name__ == "__main__":
    main()
