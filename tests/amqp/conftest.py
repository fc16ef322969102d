"""Fixtures for the AMQP server's tests: an embedded broker on a free port, and pika helpers.

Every broker gets a watchdog: if a test is still running after WATCHDOG_SECONDS, the broker is
closed under it, so a blocked pika call fails with a connection error instead of hanging."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pika
import pytest

import rabbitsim
from rabbitsim.backends import BrokerHandle, EmbeddedBroker

WATCHDOG_SECONDS = 20.0


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    handle = rabbitsim.start("sim", in_process=True)  # some tests look inside the server
    watchdog = threading.Timer(WATCHDOG_SECONDS, handle.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield handle
    finally:
        watchdog.cancel()
        handle.close()


def parameters(handle: BrokerHandle, **overrides: object) -> pika.ConnectionParameters:
    """Connection parameters with short timeouts, so a silent server fails the test quickly."""
    settings: dict[str, object] = {
        "host": handle.host,
        "port": handle.port,
        "connection_attempts": 1,
        "socket_timeout": 5,
        "stack_timeout": 5,
        "blocked_connection_timeout": 5,
    }
    settings.update(overrides)
    return pika.ConnectionParameters(**settings)  # type: ignore[arg-type]


def connect(handle: BrokerHandle, **overrides: object) -> pika.BlockingConnection:
    return pika.BlockingConnection(parameters(handle, **overrides))


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, *, pump: object = None) -> bool:
    """Poll `condition` until it is true or `timeout` passes. `pump` is a BlockingConnection whose
    events are processed while waiting (its callbacks run on this thread)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        if isinstance(pump, pika.BlockingConnection):
            pump.process_data_events(time_limit=0.02)
        else:
            time.sleep(0.01)


def assert_broker_alive(handle: EmbeddedBroker) -> None:
    """A new connection to the same broker can declare, publish and get: the server survived."""
    connection = connect(handle)
    try:
        channel = connection.channel()
        name = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish("", name, b"still alive")
        method, _properties, body = channel.basic_get(name, auto_ack=True)
        assert method is not None
        assert body == b"still alive"
    finally:
        connection.close()


#: Where the server still answers differently from RabbitMQ 3.10.8 / 4.0.5 (measured by these
#: tests against both). Strict: a fix turns the test into an unexpected pass, which fails,
#: so the entry must then be removed. None known now.
KNOWN_WIRE_GAPS: set[str] = set()

#: The same, for differences random examples may or may not hit (not strict). None known now.
FLAKY_WIRE_GAPS: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.nodeid.removeprefix("tests/amqp/")
        if name in KNOWN_WIRE_GAPS:
            item.add_marker(pytest.mark.xfail(strict=True, reason="differs from RabbitMQ (issue 3)"))
        elif name in FLAKY_WIRE_GAPS:
            item.add_marker(pytest.mark.xfail(strict=False, reason="pamqp refuses names RabbitMQ takes"))
