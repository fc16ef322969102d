"""Fixtures for the core's tests: a broker with a fake clock, connections, channels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from weakref import WeakKeyDictionary

import pytest

from rabbitsim.broker import Broker, Channel, Connection, Reply, TraceEvent


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
def broker(clock: FakeClock, request: pytest.FixtureRequest) -> Broker:
    """The default profile's broker, or (`parametrize("broker", ["4.0"], indirect=True)`) another's."""
    profile = getattr(request, "param", None)
    return Broker(clock=clock) if profile is None else Broker(clock=clock, profile=profile)


@pytest.fixture
def connection(broker: Broker) -> Connection:
    return broker.connect()


@pytest.fixture
def channel(connection: Connection) -> Channel:
    return connection.open_channel(1)


class Road:
    """Drains a broker's output road as a wire adapter would, sorting it into the events and
    what the connections are told, each in the order the core produced it."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.events = EventLog(self)
        self.outbound: list[tuple[str, int, object]] = []

    def pull(self) -> None:
        for connection, number, item in self.broker.take_output():
            if connection is None:
                list.append(self.events, item)  # type: ignore[arg-type]
            else:
                self.outbound.append((connection.name, number, item))


class EventLog(list[TraceEvent]):
    """The events so far: reading it drains the broker first, so a test reads it like a list
    that the core fills as it goes."""

    def __init__(self, road: Road) -> None:
        super().__init__()
        self.road = road

    def _now(self) -> list[TraceEvent]:
        self.road.pull()
        return list(super().__iter__())

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._now()[index]

    def __eq__(self, other: object) -> bool:
        return self._now() == other

    def __contains__(self, item: object) -> bool:
        return item in self._now()

    def __bool__(self) -> bool:
        return bool(self._now())

    def __repr__(self) -> str:
        return repr(self._now())

    def clear(self) -> None:
        self.road.pull()
        super().clear()

    def __delitem__(self, index):  # type: ignore[no-untyped-def]
        self.road.pull()
        super().__delitem__(index)

    def index(self, *args):  # type: ignore[no-untyped-def]
        return self._now().index(*args)

    def count(self, item: object) -> int:
        return self._now().count(item)  # type: ignore[arg-type]

    def copy(self) -> list[TraceEvent]:
        return self._now()


_ROADS: WeakKeyDictionary[Broker, Road] = WeakKeyDictionary()


def road(broker: Broker) -> Road:
    """The one `Road` of `broker` (events and deliveries share it, as an adapter's drain does)."""
    found = _ROADS.get(broker)
    if found is None:
        found = _ROADS[broker] = Road(broker)
    return found


def record_events(broker: Broker) -> list[TraceEvent]:
    """Every event the broker emits from now on (what a listener on the adapter would get)."""
    broker.tracing = True
    return road(broker).events


@pytest.fixture
def events(broker: Broker) -> list[TraceEvent]:
    """Every event the broker emits during the test."""
    return record_events(broker)


def drain_events(broker: Broker, sink: Callable[[TraceEvent], object]) -> None:
    """Hand the events on the road to `sink`, as an adapter does after each call; the rest goes."""
    for connection, _number, item in broker.take_output():
        if connection is None:
            sink(item)  # type: ignore[arg-type]


def deliveries(broker: Broker) -> list[tuple[str, int, object]]:
    """Drain what the connections are told: (connection name, channel number, outbound item),
    replies to the methods left out (the tests look at what the core sends unasked)."""
    found = road(broker)
    found.pull()
    items = [item for item in found.outbound if type(item[2]) is not Reply]
    found.outbound.clear()
    return items


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
