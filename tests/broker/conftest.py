"""Fixtures for the core's tests: a broker with a fake clock, connections, channels."""

from __future__ import annotations

from collections import Counter

import pytest

from rabbitsim.broker import Broker, Channel, Connection, TraceEvent


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def broker(clock: FakeClock) -> Broker:
    return Broker(clock=clock)


@pytest.fixture
def connection(broker: Broker) -> Connection:
    return broker.connect()


@pytest.fixture
def channel(connection: Connection) -> Channel:
    return connection.open_channel(1)


@pytest.fixture
def events(broker: Broker) -> list[TraceEvent]:
    """Every event the broker emits during the test."""
    recorded: list[TraceEvent] = []
    broker.subscribe(recorded.append)
    return recorded


def deliveries(broker: Broker) -> list[tuple[str, int, object]]:
    """Drain the broker's outboxes: (connection name, channel number, outbound item)."""
    return [
        (connection.name, number, item)
        for connection, items in broker.take_outbound()
        for number, item in items
    ]


def live_copies(broker: Broker) -> Counter[tuple[str, int]]:
    """Copies still in the broker: ready, or unacked on a channel (even if their queue has
    since been deleted: they can still be acked). Message ids make names unambiguous."""
    live: Counter[tuple[str, int]] = Counter()
    for queue in broker.vhosts["/"].queues.values():
        live.update((queue.name, entry.message.id) for entry in queue.ready)
    for connection in broker.connections.values():
        for channel in connection.channels.values():
            live.update((queue.name, entry.message.id) for _tag, entry, queue, _c in channel.unacked.values())
    return live
