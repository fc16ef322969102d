"""One trace's message flow in a form that does not depend on the backend, so a simulator run
and a real RabbitMQ run of the same code can be compared step for step.

What differs between the two by nature, and how `flow` removes it:

- **kinds**: only those the firehose can show are kept (publish, route, enqueue, deliver);
- **message ids**: the simulator's are broker-wide counters, the firehose recorder's count
  from 1 per trace: both are renumbered 1, 2, 3 … in order of publication;
- **connection names**: RabbitMQ names connections by address (`127.0.0.1:40780 ->
  127.0.0.1:5672`), the simulator by the client's `connection_name` or a counter: each is
  replaced by `connection-<n>` in order of first appearance;
- **receivers**: the firehose names a delivery's connection and channel, not its consumer tag,
  nor whether it was a consumer or basic.get: a delivery's target becomes `receiver:<conn>#<ch>`;
- **routes through other exchanges**: the firehose names the queues a message reached, not the
  exchanges in between (exchange-to-exchange bindings, alternate exchanges): a route becomes
  (exchange published to → queue), and hops to exchanges are left out;
- **order**: a real broker publishes and delivers on different processes, so the next publish
  can overtake the last delivery. Steps are grouped by message in order of publication; inside a
  message: the publish, then routes and enqueues by queue name (RabbitMQ 4.0 lists a message's
  queues in no fixed order), then deliveries by queue name, each queue's in the order they
  happened.
"""

from __future__ import annotations

from collections.abc import Iterable

from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

#: What the firehose shows, and so what the two backends can be compared on.
FIREHOSE_KINDS = (EventKind.PUBLISH, EventKind.ROUTE, EventKind.ENQUEUE, EventKind.DELIVER)

#: Inside one message, the order its steps are listed in.
_RANK = {kind: rank for rank, kind in enumerate(FIREHOSE_KINDS)}

FlowStep = tuple[str, str, str, int]  # (kind, source, target, message)
_Step = tuple[int, int, EventKind, Node | None, Node | None]  # (position, message, kind, source, target)


def flow(events: Iterable[TraceEvent], kinds: tuple[EventKind, ...] = FIREHOSE_KINDS) -> list[FlowStep]:
    """(kind, source, target, message) for each kept event, normalised as the module says."""
    kept = [(event.message, event) for event in events if event.kind in kinds and event.message is not None]
    published_to = {
        message: event.target for message, event in kept if event.kind is EventKind.PUBLISH and event.target
    }
    steps: list[_Step] = []
    for position, (message, event) in enumerate(kept):
        source, target = event.source, event.target
        if event.kind is EventKind.ROUTE:
            if target is None or target.kind is not NodeKind.QUEUE:
                continue  # a hop between exchanges: the firehose cannot see it
            source = published_to.get(message, source)
        steps.append((position, message, event.kind, source, target))
    numbers = {message: number for number, message in enumerate(dict.fromkeys(s[1] for s in steps), 1)}

    def place(step: _Step) -> tuple[int, int, str, int]:
        position, message, kind, source, target = step
        queue = (target if kind is EventKind.ROUTE else source) or Node(NodeKind.QUEUE, "")
        within = position if kind is EventKind.DELIVER else 0
        return (numbers[message], _RANK.get(kind, len(_RANK)), queue.name, within)

    steps.sort(key=place)
    names = _Renamer()
    return [
        (
            str(kind),
            names.node(source, receiver=False),
            names.node(target, receiver=kind is EventKind.DELIVER),
            numbers[message],
        )
        for _, message, kind, source, target in steps
    ]


class _Renamer:
    """Connection names replaced by their order of first appearance."""

    def __init__(self) -> None:
        self.connections: dict[str, str] = {}

    def connection(self, name: str) -> str:
        if name not in self.connections:
            self.connections[name] = f"connection-{len(self.connections) + 1}"
        return self.connections[name]

    def node(self, node: Node | None, *, receiver: bool) -> str:
        if node is None:
            return ""
        if receiver or node.kind is NodeKind.PUBLISHER:
            kind = "receiver" if receiver else str(node.kind)
            return f"{kind}:{self.connection(node.connection)}#{node.channel}"
        return f"{node.kind}:{node.name}"
