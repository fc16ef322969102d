"""The event vocabulary now lives in `rabbitsim.vocabulary`; this re-export keeps the core's
imports working until they name it directly."""

from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

__all__ = ["EventKind", "Node", "NodeKind", "TraceEvent"]
