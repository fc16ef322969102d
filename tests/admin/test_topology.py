"""One Topology reader for every backend: for the same state, the simulator's own snapshot
(the fast in-process path) and `ManagementClient(management_url).topology()` (the reader real
brokers use) agree, in process and in the simulator's own process. They name connections
differently, each rightly: the API as RabbitMQ does (`127.0.0.1:54321 -> 127.0.0.1:5672`), the
snapshot as the core's events do (the client's name), so the comparison maps one to the other."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from rabbitsim.backends import BrokerHandle, EmbeddedBroker, ManagementClient, ProcessBroker
from rabbitsim.vocabulary import Topology

from .state import build, settle


def by_client_name(topology: Topology) -> Topology:
    """The API's topology with each connection named as the core names it: by the name its
    client gave (every connection of these tests gives one)."""
    names = {c.name: c.client_provided_name or c.name for c in topology.connections}

    def channel(name: str) -> str:
        connection, _, number = name.rpartition(" (")
        return f"{names.get(connection, connection)} ({number}"

    return Topology.sorted(
        exchanges=list(topology.exchanges),
        queues=list(topology.queues),
        bindings=list(topology.bindings),
        consumers=[dataclasses.replace(c, channel=channel(c.channel)) for c in topology.consumers],
        channels=[
            dataclasses.replace(c, name=channel(c.name), connection=names.get(c.connection, c.connection))
            for c in topology.channels
        ],
        connections=[dataclasses.replace(c, name=names[c.name]) for c in topology.connections],
    )


@pytest.fixture(params=["embedded", "process"])
def handle(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    broker: BrokerHandle = EmbeddedBroker() if request.param == "embedded" else ProcessBroker()
    yield broker
    broker.close()


def test_snapshot_and_management_api_agree(handle: BrokerHandle) -> None:
    assert handle.management_url is not None
    api = ManagementClient(handle.management_url)
    empty = handle.topology()
    assert by_client_name(api.topology()) == empty
    state = build(api, "127.0.0.1", handle.port)
    try:
        settle(api, state)
        snapshot = handle.topology()
        assert by_client_name(api.topology()) == snapshot
        assert all(" -> " in c.name for c in api.topology().connections)
        # and it is the state built, not two empty answers agreeing
        assert {queue.name for queue in snapshot.queues if queue.vhost == state.vhost} == {
            "q1",
            "q2",
            "q3",
            "ex",
        }
        assert [consumer.consumer_tag for consumer in snapshot.consumers] == ["A-ctag"]
        assert [c.client_provided_name for c in snapshot.connections] == [f"A-{state.token}-conn"]
    finally:
        state.close(api)
    assert by_client_name(api.topology()) == handle.topology()


def test_the_process_handle_keeps_its_management_port_across_restarts() -> None:
    broker = ProcessBroker()
    try:
        url = broker.management_url
        assert url is not None and broker.management is not None
        broker.restart(kill=True)
        assert broker.management_url == url
        assert broker.management.get("whoami")["name"] == "guest"
    finally:
        broker.close()
