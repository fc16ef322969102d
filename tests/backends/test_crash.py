"""The simulator killed (SIGKILL) at random moments while publishers wait for confirms and
consumers ack, then started from its data dir, many times: every confirmed message is there
afterwards or was consumed, none whose ack the broker answered comes back, and a message seen
twice was redelivered (RabbitMQ's at-least-once)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pika
import pika.exceptions as px

import rabbitsim

QUEUES = ("crash-classic", "crash-quorum")
KILLS = 8


class Client(threading.Thread):
    """Publishes with confirms to both queues and consumes (get, ack, then a round trip that
    proves the ack was handled), reconnecting after each crash, until told to stop."""

    def __init__(self, broker: rabbitsim.backends.BrokerHandle) -> None:
        super().__init__(daemon=True)
        self.broker = broker
        self.confirmed: set[bytes] = set()
        self.acked: set[bytes] = set()  # the broker answered a method sent after the ack
        self.seen: list[tuple[bytes, bool]] = []  # (body, redelivered) of every delivery
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.session()
            except (px.AMQPError, OSError):
                time.sleep(0.05)  # the broker is down: try again

    def session(self) -> None:
        connection = pika.BlockingConnection(self.broker.parameters)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(QUEUES[0], durable=True)
        channel.queue_declare(QUEUES[1], durable=True, arguments={"x-queue-type": "quorum"})
        while not self.stopping.is_set():
            self.sent += 1
            body = f"m{self.sent}".encode()
            queue = QUEUES[self.sent % 2]
            channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
            self.confirmed.add(body)
            if self.sent % 3 == 0:
                method, _properties, got = channel.basic_get(queue)
                if method is not None:
                    self.seen.append((got, method.redelivered))
                    channel.basic_ack(method.delivery_tag)
                    channel.basic_qos(prefetch_count=0)  # answered only after the ack was handled
                    self.acked.add(got)
        connection.close()


def test_confirmed_messages_survive_random_kills(tmp_path: Path) -> None:
    chance = random.Random(11)
    broker = rabbitsim.start("sim", data_dir=tmp_path)
    try:
        client = Client(broker)
        client.start()
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.05, 0.4))
            broker.restart(kill=True)
        client.stopping.set()
        client.join(30)
        assert not client.is_alive()
        broker.restart(kill=True)
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        left: list[tuple[bytes, bool]] = []
        for queue in QUEUES:
            while True:
                method, _properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                left.append((body, method.redelivered))
        connection.close()
    finally:
        broker.close()
    assert client.sent > 50, "too little traffic to prove anything"
    everything = client.seen + left
    bodies = Counter(body for body, _ in everything)
    assert client.confirmed - set(bodies) == set(), "confirmed messages were lost"
    assert {body for body, _ in left} & client.acked == set(), "acked messages came back"
    delivered: set[bytes] = set()
    for body, redelivered in everything:  # seen again: only ever as a redelivery
        assert redelivered or body not in delivered, f"{body!r} came twice, the second time not redelivered"
        delivered.add(body)
