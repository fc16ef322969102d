"""The vocabulary every layer shares: trace events, node kinds, the topology snapshot, the
names every broker has, and what an event source promises.

Plain frozen dataclasses (and one Protocol), importing nothing of rabbitsim: it sits below the
core, so the core, the backends, the trace recorder and the pictures all speak it, and what it
holds can cross a process boundary as data."""

from ._events import EventKind, Node, NodeKind, TraceEvent
from ._names import REPLY_KEY_PREFIX, REPLY_QUEUE, STANDARD_EXCHANGES, TRACE_EXCHANGE
from ._source import EventSource, Started, Stopped
from ._topology import (
    Arguments,
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    QueueInfo,
    Topology,
    plain,
)

__all__ = [
    "REPLY_KEY_PREFIX",
    "REPLY_QUEUE",
    "STANDARD_EXCHANGES",
    "TRACE_EXCHANGE",
    "Arguments",
    "BindingInfo",
    "ChannelInfo",
    "ConnectionInfo",
    "ConsumerInfo",
    "EventKind",
    "EventSource",
    "ExchangeInfo",
    "Node",
    "NodeKind",
    "QueueInfo",
    "Started",
    "Stopped",
    "Topology",
    "TraceEvent",
    "plain",
]
