"""A stream traced on real RabbitMQ (3.10 and 4.3) through its firehose draws as the
simulator's does: the same log (offsets 0-4, the two messages from before the recording grey,
the three new ones in their colours), both readers at the same offsets at the end, the same
token journeys; each delivery's offset comes from its `x-stream-offset` header, and the acks
derived from the statistics are one per delivery and remove nothing.

Everything lives in a vhost of this file's own (`s13v-stream-viz`), made afresh for each
broker and deleted afterwards, so other suites' traffic never shows in these traces."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

import rabbitsim
from rabbitsim import viz
from rabbitsim.backends import BrokerHandle, EmbeddedBroker, ManagementError, UrlBroker
from rabbitsim.trace import Trace
from rabbitsim.viz._stream import EMPTY, HELD
from rabbitsim.vocabulary import EventKind
from tests.real_brokers import require_real_broker

from .scenarios import stream_trace
from .test_real_trace import journeys

VHOST = "s13v-stream-viz"
PREFIX = "s13v-"
LOG = f"queue:{PREFIX}orders-log"
SETTLE = 8.0  # seconds to wait for the statistics the acks are derived from (3.10 took 3.1 s)


@pytest.fixture(scope="module")
def simulated() -> Trace:
    with rabbitsim.start("sim", in_process=True) as broker:
        assert isinstance(broker, EmbeddedBroker)
        return stream_trace(broker, prefix=PREFIX)


@pytest.fixture(scope="module", params=["3.10", "4.3"])
def real(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    url = require_real_broker(request.param)
    management = UrlBroker(url).management
    _delete_vhost(management)
    management.request("PUT", f"vhosts/{VHOST}", {"tracing": False})
    management.request(
        "PUT", f"permissions/{VHOST}/{management.username}", {"configure": ".*", "write": ".*", "read": ".*"}
    )
    parts = urllib.parse.urlsplit(url)
    try:
        with rabbitsim.start("url", url=urllib.parse.urlunsplit(parts._replace(path=f"/{VHOST}"))) as broker:
            yield broker
    finally:
        _delete_vhost(management)


def _delete_vhost(management: object) -> None:
    try:
        management.request("DELETE", f"vhosts/{VHOST}")  # type: ignore[attr-defined]
    except ManagementError as error:
        if error.status != 404:
            raise


def final_log(trace: Trace) -> tuple[tuple[int | None, int | None], list[int], list[int]]:
    """The log at the end of the film: its offsets, its cells' colours, its readers' places."""
    view = viz.frames(trace).frames[-1].logs[LOG]
    return (view.first, view.last), [c.colour for c in view.cells], sorted(r.next for r in view.readers)


def test_a_real_stream_draws_like_the_simulators(simulated: Trace, real: BrokerHandle) -> None:
    trace = stream_trace(real, prefix=PREFIX, settle=SETTLE)
    offsets: dict[str, list[int]] = {}
    for event in trace.of_kind("deliver"):
        if event.source is not None and event.source.name == f"{PREFIX}orders-log":
            assert event.target is not None
            offsets.setdefault(event.target.name, []).append(event.detail["offset"])
    assert sorted(offsets.values()) == [[0, 1, 2, 3, 4], [2, 3, 4]], "x-stream-offset of each delivery"

    expected = final_log(simulated)
    assert expected == ((0, 4), [HELD, HELD, 0, 1, 2] + [EMPTY] * 5, [5, 5])
    assert final_log(trace) == expected
    # messages published before the recording are numbered by the simulator at their publish,
    # by the firehose at their first delivery: compare the journeys whatever the numbers
    assert sorted(journeys(trace)) == sorted(journeys(simulated))
    assert "queue:" + f"{PREFIX}orders-log" in viz.draw(trace).scene.streams  # type: ignore[union-attr]

    acks = [
        e for e in trace.of_kind("ack") if e.source is not None and e.source.name == f"{PREFIX}orders-log"
    ]
    if any(f"'{PREFIX}orders-log'" in note for note in trace.notes):
        pytest.fail(f"the statistics did not catch up within {SETTLE} s: {trace.notes}")
    assert len(acks) == 8 and all(a.detail["derived"] and "offset" in a.detail for a in acks)
    assert sorted(a.detail["offset"] for a in acks) == [0, 1, 2, 2, 3, 3, 4, 4], "one ack per delivery"
    assert not any(e.kind is EventKind.DROP for e in trace.events), "acks remove nothing"
