"""A trace recorded from the real broker's firehose animates like the simulator's: the same
pika scenario gives the same (kind, source, target, message) steps on both, for the kinds the
firehose shows, after the normalisation `rabbitsim.trace.flow` defines and documents."""

from __future__ import annotations

import pytest

from rabbitsim.backends import BrokerHandle, EmbeddedBroker
from rabbitsim.trace import FIREHOSE_KINDS

from .scenarios import SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_firehose_trace_matches_the_simulators(
    scenario: str, sim: EmbeddedBroker, real: BrokerHandle
) -> None:
    run = SCENARIOS[scenario]
    simulated, measured = run(sim), run(real)
    assert measured.complete, measured.notes
    assert simulated.flow() == measured.flow()
    assert {step[0] for step in simulated.flow()} == {str(kind) for kind in FIREHOSE_KINDS}


def test_hello_world_flow_reads_as_the_tutorial_says(sim: EmbeddedBroker) -> None:
    """The normalised form itself, so a change in it is seen here and not only as a mismatch."""
    assert SCENARIOS["hello_world"](sim).flow() == [
        ("publish", "publisher:connection-1#1", "exchange:", 1),
        ("route", "exchange:", "queue:hello", 1),
        ("enqueue", "queue:hello", "", 1),
        ("deliver", "queue:hello", "receiver:connection-2#1", 1),
    ]


def test_topic_flow_routes_each_key_to_its_patterns(sim: EmbeddedBroker) -> None:
    routes = [
        (source, target, message)
        for kind, source, target, message in SCENARIOS["topics"](sim).flow()
        if kind == "route"
    ]
    assert routes == [
        ("exchange:topic_logs", "queue:topic-critical", 1),
        ("exchange:topic_logs", "queue:topic-kern", 1),
        ("exchange:topic_logs", "queue:topic-kern", 2),
        ("exchange:topic_logs", "queue:topic-critical", 3),
        ("exchange:topic_logs", "queue:topic-ab", 4),
        ("exchange:topic_logs", "queue:topic-ab", 5),
    ]
