"""Waiting for the broker to show something. The simulator's snapshots are exact at once; a real
broker's management API lags by its statistics interval (seconds), so a lesson that reads
counts waits until they say what it expects, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from rabbitsim.backends import BrokerHandle, Topology


def wait_for_topology(
    broker: BrokerHandle, condition: Callable[[Topology], bool], timeout: float = 15.0
) -> Topology:
    """The first snapshot for which `condition` holds; after `timeout`, the last one taken
    (so the notebook still shows what the broker says, and the check after it explains). A
    condition that looks up a queue the API does not list yet (KeyError) means "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        topology = broker.topology()
        try:
            holds = condition(topology)
        except KeyError:
            holds = False
        if holds or time.monotonic() >= deadline:
            return topology
        time.sleep(0.2)
