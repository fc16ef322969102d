"""Fixtures for the pictures' tests: the tutorial scenarios, each run once per session on a fresh
simulator, and a small core-level broker for traces written step by step."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rabbitsim.broker import Broker
from rabbitsim.vocabulary import TraceEvent
from tests.broker.conftest import record_events

from .scenarios import Scenario, run


@pytest.fixture(scope="session")
def scenario() -> Callable[[str], Scenario]:
    """`scenario("fanout")`: the recorded events and final topology of a tutorial."""
    cache: dict[str, Scenario] = {}

    def get(name: str) -> Scenario:
        if name not in cache:
            cache[name] = run(name)
        return cache[name]

    return get


@pytest.fixture
def core() -> tuple[Broker, list[TraceEvent]]:
    """The sans-IO core with a frozen clock, and every event it emits: exact, repeatable traces."""
    broker = Broker(clock=lambda: 0.0)
    return broker, record_events(broker)
