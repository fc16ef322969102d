"""Backends: choosing one, the errors that say what to use instead, and the topology snapshot
being the same on the simulator and on real RabbitMQ 3.10 and 4.0 for the same actions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pika
import pytest

import rabbitsim
from rabbitsim.backends import (
    BackendUnavailable,
    BrokerHandle,
    ContainerBroker,
    ProcessBroker,
    UrlBroker,
)
from rabbitsim.vocabulary import Topology
from tests.real_brokers import require_real_broker

VERSIONS = ["3.10", "4.0", "4.3"]


def test_start_defaults_to_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITSIM_BACKEND", raising=False)
    with rabbitsim.start() as broker:
        assert isinstance(broker, ProcessBroker)  # the simulator, in a process of its own
        assert broker.backend == "sim"
        assert broker.url == f"amqp://guest:guest@127.0.0.1:{broker.port}/%2F"
        connection = pika.BlockingConnection(broker.parameters)
        connection.close()


def test_the_environment_chooses_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    url = require_real_broker("3.10")
    monkeypatch.setenv("RABBITSIM_BACKEND", "url")
    monkeypatch.setenv("RABBITSIM_URL", url)
    with rabbitsim.start() as broker:
        assert isinstance(broker, UrlBroker)
        assert broker.url == url
        assert broker.management_url == "http://guest:guest@127.0.0.1:15672/"
        assert any(exchange.name == "amq.topic" for exchange in broker.topology().exchanges)


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown backend 'docker'; choose one of sim, container, url"):
        rabbitsim.start("docker")


def test_a_url_where_no_broker_answers_suggests_the_simulator() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        rabbitsim.start("url", url="amqp://guest:guest@127.0.0.1:1/%2F")
    assert "no RabbitMQ answers at amqp://guest:guest@127.0.0.1:1/%2F" in str(caught.value)
    assert "rabbitsim.start('sim')" in str(caught.value)


def test_the_container_backend_without_docker_says_what_to_use_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(BackendUnavailable) as caught:
        ContainerBroker(image="rabbitsim/does-not-matter")
    message = str(caught.value)
    assert "needs a running Docker engine" in message
    assert "rabbitsim.start('sim')" in message
    assert "RABBITSIM_URL" in message


# --- the same topology on every backend --------------------------------------------------------


@pytest.fixture(params=VERSIONS)
def real(request: pytest.FixtureRequest) -> Iterator[tuple[str, BrokerHandle]]:
    """(version, a real broker of that version)."""
    with rabbitsim.start("url", url=require_real_broker(request.param)) as broker:
        yield request.param, broker


def build_topology(broker: BrokerHandle, prefix: str) -> pika.BlockingConnection:
    """A topic exchange with an alternate exchange, a queue with arguments, a binding with a
    nested table, three messages, and a consumer with prefetch 2 holding two of them."""
    connection = pika.BlockingConnection(broker.parameters)
    channel = connection.channel()
    channel.exchange_declare(
        f"{prefix}-logs", "topic", auto_delete=True, arguments={"alternate-exchange": "alt"}
    )
    channel.queue_declare(
        f"{prefix}-q", auto_delete=True, arguments={"x-message-ttl": 60000, "x-dead-letter-exchange": "dlx"}
    )
    channel.queue_bind(
        f"{prefix}-q", f"{prefix}-logs", "a.*.c", arguments={"x-deep": {"n": [1, "two", b"3"]}}
    )
    for _ in range(3):
        channel.basic_publish(f"{prefix}-logs", "a.b.c", b"m")
    channel.basic_qos(prefetch_count=2)
    channel.basic_consume(f"{prefix}-q", lambda *_: None, consumer_tag=f"{prefix}-ctag")
    connection.process_data_events(time_limit=0.05)
    return connection


def seen(topology: Topology, prefix: str) -> dict[str, Any]:
    """The part of a snapshot that belongs to `prefix`, with what differs by nature (connection
    names carry ports) left out."""
    return {
        "exchanges": [e for e in topology.exchanges if e.name.startswith(prefix)],
        "queues": [q for q in topology.queues if q.name.startswith(prefix)],
        "bindings": [b for b in topology.bindings if b.destination.startswith(prefix)],
        "consumers": [replace(c, channel="") for c in topology.consumers if c.queue.startswith(prefix)],
    }


def settled(
    broker: BrokerHandle, prefix: str, expected: dict[str, Any], timeout: float = 8.0
) -> dict[str, Any]:
    """A real broker's management API lags by its statistics interval: poll until it agrees."""
    deadline = time.monotonic() + timeout
    while True:
        got = seen(broker.topology(), prefix)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_topology_is_the_same_on_the_simulator_and_real_rabbitmq(real: tuple[str, BrokerHandle]) -> None:
    version, real_broker = real
    prefix = f"topo-{time.monotonic_ns()}"
    with rabbitsim.start("sim", profile=version) as sim:
        sim_connection = build_topology(sim, prefix)
        expected = seen(sim.topology(), prefix)
        sim_connection.close()
    assert expected["queues"][0].messages_ready == 1
    assert expected["queues"][0].messages_unacknowledged == 2
    real_connection = build_topology(real_broker, prefix)
    try:
        assert settled(real_broker, prefix, expected) == expected
    finally:
        real_connection.close()
        cleanup = pika.BlockingConnection(real_broker.parameters)
        cleanup.channel().queue_delete(f"{prefix}-q")
        cleanup.close()


def test_the_simulators_snapshot_names_channels_and_connections_like_rabbitmq() -> None:
    with rabbitsim.start("sim", profile="4.0") as sim:  # 4.3 applies a global prefetch per consumer
        connection = pika.BlockingConnection(sim.parameters)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=5, global_qos=True)
        topology = sim.topology()
        [opened] = topology.connections
        [described] = topology.channels
        assert described == replace(
            described,
            name=f"{opened.name} ({channel.channel_number})",
            connection=opened.name,
            number=channel.channel_number,
            global_prefetch_count=5,
            confirm=True,
            transactional=False,
        )
        assert opened.channels == 1
        assert (opened.user, opened.vhost) == ("guest", "/")
        connection.close()


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "own-process"])
def test_a_closed_simulator_refuses_calls_at_once(in_process: bool) -> None:
    """A stopped event loop would never run the call: fail fast instead of waiting out a timeout."""
    sim = rabbitsim.start("sim", in_process=in_process)
    sim.close()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="broker is closed"):
        sim.topology()
    assert time.monotonic() - started < 1.0
