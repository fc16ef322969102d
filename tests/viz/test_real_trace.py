"""A trace recorded from real RabbitMQ's firehose animates like the simulator's: for the same
pika scenario, every message's tokens travel the same edges (publisher → exchange → queues →
consumers), on RabbitMQ 3.10 and 4.0 alike."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from rabbitsim import viz
from rabbitsim.backends import BrokerHandle
from rabbitsim.trace import Trace
from tests.trace import scenarios
from tests.trace.conftest import real, sim  # noqa: F401  (fixtures)

#: publisher and consumer nodes name a channel: "<connection> (<number>)", then a consumer tag.
#: Connection names differ by nature (RabbitMQ's carry ports; pika makes up consumer tags), so
#: the comparison numbers connections in order of appearance and drops the tags.
CHANNEL_NODE = re.compile(r"^(?P<kind>publisher|consumer):(?P<connection>.+?) \((?P<channel>\d+)\)")


def journeys(trace: Trace) -> list[list[tuple[str, str]]]:
    """Each message's hops in the film, with connections numbered in order of appearance."""
    film = viz.frames(trace)
    connections: dict[str, int] = {}

    def node(name: str) -> str:
        found = CHANNEL_NODE.match(name)
        if found is None:
            return name
        number = connections.setdefault(found["connection"], len(connections) + 1)
        return f"{found['kind']}:connection-{number} ({found['channel']})"

    hops: dict[int, dict[tuple[str, str], None]] = {}
    for frame in film.frames:
        for token in frame.tokens:
            hops.setdefault(token.message, {})[(node(token.source), node(token.target))] = None
    return [sorted(hops[message]) for message in sorted(hops)]


@pytest.mark.parametrize("scenario", [scenarios.hello_world, scenarios.fanout, scenarios.topics])
def test_a_firehose_trace_animates_like_the_simulators(
    sim: BrokerHandle,  # noqa: F811
    real: BrokerHandle,  # noqa: F811
    scenario: Callable[[BrokerHandle], Trace],
) -> None:
    expected = journeys(scenario(sim))
    assert expected, "the simulator's film moves tokens"
    assert journeys(scenario(real)) == expected
