"""Resource alarms, the simulator against real RabbitMQ, with pika.

Each real broker's disk alarm is raised for a moment (`set_disk_free_limit` far above any disk,
then back to the limit it had, in a `finally`), through the handle's own `rabbitmqctl`, so only
brokers this project's scripts started are used (tests/real_brokers.py). The same is done to the
simulator of that version, and what pika sees must agree: the publisher told `connection.blocked`
with the reason, a client without the capability told nothing, a consumer on another connection
served and not told, the held publishes delivered after `connection.unblocked`, none lost."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pika
import pytest

from rabbitsim.backends import BrokerHandle, EmbeddedBroker, UrlBroker
from tests.real_brokers import real_brokers, require_real_broker

VERSIONS = sorted(real_brokers())
#: pika's own capabilities, less `connection.blocked`
NO_BLOCKED_CAPABILITY = {
    "capabilities": {
        "authentication_failure_close": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "publisher_confirms": True,
    }
}


def pump(connections: list[pika.BlockingConnection], until: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() >= deadline:
            return False
        for connection in connections:
            connection.process_data_events(time_limit=0.02)
    return True


def observe(handle: BrokerHandle, disk_free_limit: Callable[[], int], *, ask_alarms: bool) -> dict[str, Any]:
    """Raise the disk alarm on `handle` for a moment; what pika saw. `ask_alarms`: also ask the
    handle for its alarms while it lasts (on a real broker another rabbitmqctl, seconds long
    here, is saved: the alarm should be on for as short a time as can be)."""
    parameters = pika.URLParameters(handle.url)
    parameters.blocked_connection_timeout = None
    seen: list[str] = []
    consumer = pika.BlockingConnection(parameters)
    publisher = pika.BlockingConnection(parameters)
    deaf_parameters = pika.URLParameters(handle.url)
    deaf_parameters.client_properties = NO_BLOCKED_CAPABILITY
    deaf = pika.BlockingConnection(deaf_parameters)
    for name, connection in (("consumer", consumer), ("publisher", publisher), ("deaf", deaf)):
        connection.add_on_connection_blocked_callback(
            lambda _c, f, name=name: seen.append(f"{name} blocked: {f.method.reason}")
        )
        connection.add_on_connection_unblocked_callback(
            lambda _c, _f, name=name: seen.append(f"{name} unblocked")
        )
    consuming = consumer.channel()
    queue = f"alarm-{uuid.uuid4().hex[:8]}"
    consuming.queue_declare(queue, exclusive=True)  # others may publish to it
    consuming.basic_publish("", queue, b"before")
    received: list[bytes] = []
    outcome: dict[str, Any] = {}
    original = disk_free_limit()
    handle.set_disk_free_limit("1000000GB")
    try:
        publisher.channel().basic_publish("", queue, b"publisher")
        deaf.channel().basic_publish("", queue, b"deaf")
        outcome["blocked in time"] = pump([publisher], lambda: bool(seen), 10)
        consuming.basic_consume(queue, lambda _ch, _m, _p, payload: received.append(payload), auto_ack=True)
        pump([consumer, deaf], lambda: b"publisher" in received, 0.5)
        outcome["consumer got while blocked"] = list(received)
        if ask_alarms:
            assert handle.alarms() == ["disk"]
    finally:
        handle.set_disk_free_limit(original)
    outcome["delivered after"] = pump([publisher, consumer, deaf], lambda: len(received) == 3, 10)
    pump([publisher, consumer, deaf], lambda: False, 0.2)
    outcome["told"] = seen
    outcome["received"] = sorted(received)
    for connection in (deaf, publisher, consumer):
        connection.close()
    return outcome


EXPECTED = {
    "blocked in time": True,
    "consumer got while blocked": [b"before"],
    "delivered after": True,
    "told": ["publisher blocked: low on disk", "publisher unblocked"],
    "received": [b"before", b"deaf", b"publisher"],
}


@pytest.mark.parametrize("version", VERSIONS)
def test_disk_alarm_blocks_publishers_only_as_on_rabbitmq(version: str) -> None:
    real = UrlBroker(require_real_broker(version))
    if real.local is None:
        pytest.fail(
            f"the RabbitMQ {version} at {real.url} was not started by this project's scripts "
            "(no /run/rabbitsim/brokers entry): its alarms are not ours to set"
        )

    node = real.local.node

    def real_limit() -> int:  # the management API answers in milliseconds, rabbitmqctl in seconds
        return int(real.management.get(f"nodes/{node}")["disk_free_limit"])

    with EmbeddedBroker(profile=version) as sim:

        def sim_limit() -> int:
            limit = sim.alarm_status().disk_free_limit
            assert limit is not None
            return limit

        simulated = observe(sim, sim_limit, ask_alarms=True)
    measured = observe(real, real_limit, ask_alarms=False)
    assert measured == EXPECTED
    assert simulated == measured
