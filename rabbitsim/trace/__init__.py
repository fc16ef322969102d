"""Recording what a broker does, in one event vocabulary, whichever backend runs it.

    with broker.trace() as t:          # broker = rabbitsim.start(...), any backend
        channel.basic_publish("", "hello", b"Hello World!")
    print(t)                           # a table: publish, route, enqueue, deliver, ack ...
    t.of_kind("deliver"), t.messages(), t.path(1), t.topology.start, t.topology.end

The events are the core's own (`rabbitsim.broker.TraceEvent`): the simulator emits them as it
works; a real RabbitMQ's firehose (`amq.rabbitmq.trace`) is turned into the same kinds, with
acks derived from management statistics where they can be. What the real side cannot show is
listed in docs/tracing.md. `flow()` puts a trace in a form that compares across backends.
"""

from __future__ import annotations

from collections.abc import Callable

from rabbitsim.backends import BrokerHandle, ContainerBroker, EmbeddedBroker, UrlBroker
from rabbitsim.broker import EventKind, Node, NodeKind, TraceEvent

from ._compare import FIREHOSE_KINDS, FlowStep, flow
from ._firehose import FirehoseConverter
from ._real import FirehoseRecorder
from ._settle import QueueStats, settlements
from ._sim import SimRecorder
from ._trace import Recorder, Snapshots, Trace, TraceIncomplete

__all__ = [
    "FIREHOSE_KINDS",
    "RECORDERS",
    "EventKind",
    "FirehoseConverter",
    "FirehoseRecorder",
    "FlowStep",
    "Node",
    "NodeKind",
    "QueueStats",
    "Recorder",
    "SimRecorder",
    "Snapshots",
    "Trace",
    "TraceEvent",
    "TraceIncomplete",
    "flow",
    "record",
    "settlements",
]


def _sim(handle: BrokerHandle, timeout: float, settle: float) -> Recorder:
    assert isinstance(handle, EmbeddedBroker)
    return SimRecorder(handle, timeout=timeout)


def _firehose(handle: BrokerHandle, timeout: float, settle: float) -> Recorder:
    assert isinstance(handle, UrlBroker | ContainerBroker)
    return FirehoseRecorder(handle.url, handle.management, timeout=timeout, settle=settle)


#: backend name -> what records it
RECORDERS: dict[str, Callable[[BrokerHandle, float, float], Recorder]] = {
    "sim": _sim,
    "url": _firehose,
    "container": _firehose,
}


def record(handle: BrokerHandle, *, timeout: float = 5.0, settle: float = 0.0) -> Trace:
    """A trace of `handle`, recording from `with` (or `.start()`) to its end (or `.stop()`).
    `timeout` bounds each wait; `settle` (real brokers) is how long to let the management
    statistics catch up at the end, so that acks can be derived."""
    recorder = RECORDERS[handle.backend](handle, timeout, settle)
    return Trace(recorder, handle.backend)
