"""The server runs the core's timers when they fall due: a message TTL of 100 ms is seen by a
consumer of the dead-letter queue about 100 ms later (RabbitMQ 3.10.8 and 4.0.5: 0.10 s), with
no client method to set it off; an unused queue with `x-expires` goes on time. Time here is
the real clock, so the bounds are generous."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest

from rabbitsim.amqp import AMQPServer
from rabbitsim.broker import Broker


@pytest.fixture
def server() -> Iterator[AMQPServer]:
    running = AMQPServer(Broker(clock=time.monotonic))
    try:
        yield running
    finally:
        running.close()


def connect(server: AMQPServer) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", server.port, socket_timeout=5))


def test_a_dead_letter_arrives_when_the_ttl_runs_out(server: AMQPServer) -> None:
    connection = connect(server)
    channel = connection.channel()
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("work", arguments={"x-message-ttl": 100, "x-dead-letter-exchange": "dlx"})
    arrived: list[float] = []
    channel.basic_consume("dead", lambda _ch, _m, _p, _b: arrived.append(time.monotonic()), auto_ack=True)
    channel.confirm_delivery()
    sent = time.monotonic()
    channel.basic_publish("", "work", b"m")
    deadline = sent + 2.0
    while not arrived and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.01)
    assert arrived, "the dead letter never came"
    assert 0.09 <= arrived[0] - sent < 0.5
    assert channel.basic_get("dead") == (None, None, None)  # nothing else was left
    connection.close()


def test_x_death_is_dated_by_the_wall_clock(server: AMQPServer) -> None:
    connection = connect(server)
    channel = connection.channel()
    channel.queue_declare("dead")
    channel.queue_declare(
        "work", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
    )
    channel.confirm_delivery()
    channel.basic_publish("", "work", b"m")
    method, _properties, _body = channel.basic_get("work")
    channel.basic_reject(method.delivery_tag, requeue=False)
    _method, properties, _body = channel.basic_get("dead", auto_ack=True)
    death = properties.headers["x-death"][0]
    assert abs(death["time"].timestamp() - time.time()) < 5
    assert type(death["count"]).__name__ == "long"  # sent as a 64-bit `l`, as RabbitMQ does
    connection.close()


def test_an_unused_queue_goes_on_time(server: AMQPServer) -> None:
    connection = connect(server)
    channel = connection.channel()
    channel.queue_declare("brief", arguments={"x-expires": 150})
    queues = server.broker.vhosts["/"].queues
    started = time.monotonic()
    while "brief" in queues and time.monotonic() - started < 2.0:
        time.sleep(0.01)  # no client method meanwhile: only the server's timer can delete it
    assert 0.14 <= time.monotonic() - started < 0.6
    connection.close()
