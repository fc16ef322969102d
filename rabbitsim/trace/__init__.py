"""Recording what a broker does, in one event vocabulary, whichever backend runs it.

    with broker.trace() as t:          # broker = rabbitsim.start(...), any backend
        channel.basic_publish("", "hello", b"Hello World!")
    print(t)                           # a table: publish, route, enqueue, deliver, ack ...
    t.of_kind("deliver"), t.messages(), t.path(1), t.topology.start, t.topology.end

Every broker handle supplies its own event source (`handle.events()`): the simulator's core
emits its events (`rabbitsim.vocabulary.TraceEvent`) as it works; a real RabbitMQ's firehose
(`amq.rabbitmq.trace`) is turned into the same kinds, with acks derived from management
statistics where they can be. What the real side cannot show is listed in docs/tracing.md.
A `Trace` records one source and knows no backend class; `flow()` puts a trace in a form that
compares across backends; `follow()` is the live recording `rabbitsim.viz.live` draws from.

`Trace` and `flow` are defined beside the handles (`rabbitsim.backends`), because
`broker.trace()` makes a trace and a layer never imports the layers above it; this package is
their face, and the road from a broker's events to anything drawn.
"""

from __future__ import annotations

from rabbitsim.backends import FIREHOSE_KINDS, FlowStep, Snapshots, Trace, TraceIncomplete, flow
from rabbitsim.vocabulary import EventKind, EventSource, Node, NodeKind, Started, Stopped, TraceEvent

from ._follow import Followable, Following, follow

__all__ = [
    "FIREHOSE_KINDS",
    "EventKind",
    "EventSource",
    "FlowStep",
    "Followable",
    "Following",
    "Node",
    "NodeKind",
    "Snapshots",
    "Started",
    "Stopped",
    "Trace",
    "TraceEvent",
    "TraceIncomplete",
    "flow",
    "follow",
]
