"""Sockets that connect and never finish the handshake: RabbitMQ resets them `handshake_timeout`
(10 s) after connect, whatever stage they reached, and serves everyone else meanwhile. So does
the simulator, so that idle sockets cannot pile up until it runs out of file descriptors."""

from __future__ import annotations

import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pika
import pytest
from pamqp import commands, frame
from pamqp.header import ProtocolHeader

import rabbitsim
from rabbitsim.amqp import AMQPConnection, AMQPServer, State
from rabbitsim.amqp._connection import HANDSHAKE_TIMEOUT
from rabbitsim.broker import Broker
from tests.real_brokers import require_real_broker

HEADER = ProtocolHeader().marshal()
START_OK = frame.marshal(
    commands.Connection.StartOk(client_properties={}, mechanism="PLAIN", response="\x00guest\x00guest"), 0
)


def hung_up_after(port: int, sent: bytes = b"", limit: float = 20.0) -> tuple[str, float]:
    """How the broker ends a connection that sends `sent` and then nothing, and when."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        began = time.monotonic()
        sock.sendall(sent)
        sock.settimeout(limit)
        try:
            while sock.recv(4096):
                pass
            return "closed", time.monotonic() - began
        except ConnectionResetError:
            return "reset", time.monotonic() - began
        except TimeoutError:
            return "open", time.monotonic() - began


def port_of(url: str) -> int:
    return urllib.parse.urlsplit(url).port or 5672


@pytest.mark.parametrize("sent", [b"", HEADER, HEADER + START_OK], ids=["nothing", "header", "start-ok"])
def test_an_unfinished_handshake_is_reset_after_ten_seconds_as_rabbitmq_does(sent: bytes) -> None:
    real = [port_of(require_real_broker(version)) for version in ("3.10", "4.0", "4.3")]
    with rabbitsim.start("sim", in_process=True) as sim, ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda port: hung_up_after(port, sent), [sim.port, *real]))
    assert HANDSHAKE_TIMEOUT == 10.0
    for how, after in outcomes:  # the simulator's first, then each real broker's
        assert how == "reset" and 9.9 <= after < 10.6, outcomes


def test_idle_sockets_go_and_everyone_else_is_served() -> None:
    server = AMQPServer(Broker(clock=time.monotonic), handshake_timeout=0.5)
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", server.port, heartbeat=0))
        channel = connection.channel()
        channel.queue_declare("q")
        time.sleep(1.0)  # past the idle sockets' deadline, and this connection's
        channel.basic_publish("", "q", b"still here")
        assert channel.basic_get("q", auto_ack=True)[2] == b"still here"
        for sock in idle:
            sock.settimeout(2)
            with pytest.raises(ConnectionResetError):
                assert sock.recv(1) == b""  # an orderly close would end here without a reset
            sock.close()
        assert server.call(lambda: len(server.wires)) == 1
        connection.close()
    finally:
        server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_deadline_counts_from_connect_and_ends_with_connection_open() -> None:
    clock = Clock()
    late = AMQPConnection(Broker(clock=clock))
    clock.now += 6
    late.receive(HEADER)  # a late header does not move the deadline
    late.data_to_send()
    clock.now += 3.9
    late.tick()
    assert late.state is State.AWAIT_START_OK
    clock.now += 0.1
    late.tick()
    assert late.closed and late.reset and late.data_to_send() == b""
    opened = AMQPConnection(Broker(clock=clock))
    opened.receive(
        HEADER
        + START_OK
        + frame.marshal(commands.Connection.TuneOk(2047, 131072, 0), 0)
        + frame.marshal(commands.Connection.Open("/"), 0)
    )
    clock.now += 60
    opened.tick()
    assert opened.state is State.OPEN
