"""One Topology reader for every backend: for the same state, the simulator's own snapshot
(the fast in-process path) and `ManagementClient(management_url).topology()` (the reader real
brokers use) agree, in process and in the simulator's own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rabbitsim.backends import BrokerHandle, EmbeddedBroker, ManagementClient, ProcessBroker

from .state import build, settle


@pytest.fixture(params=["embedded", "process"])
def handle(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    broker: BrokerHandle = EmbeddedBroker() if request.param == "embedded" else ProcessBroker()
    yield broker
    broker.close()


def test_snapshot_and_management_api_agree(handle: BrokerHandle) -> None:
    assert handle.management_url is not None
    api = ManagementClient(handle.management_url)
    empty = handle.topology()
    assert api.topology() == empty
    state = build(api, "127.0.0.1", handle.port)
    try:
        settle(api, state)
        snapshot = handle.topology()
        assert api.topology() == snapshot
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
    assert api.topology() == handle.topology()


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
