"""The same small scenario in virtual time and on the real-time simulator (pika over TCP to
`rabbitsim.start(in_process=True)`, recorded with `broker.trace()`) gives the same steps.

What must be equal, and is compared: the sequence of message steps (declare, publish, route,
enqueue, consumer-added, deliver, ack), each with its kind, its nodes, its message and, for
deliveries, the delivery tag and redelivered flag. What cannot be equal, and is left out:
- times (simulated seconds against the wall clock);
- names the clients choose or the broker generates per run: connection names (pika's against
  the lab's `publisher-1`), hence channel, publisher and consumer node names, and the consumer
  tag. Those nodes are compared by their kind and the order in which they first appear (the
  same consumer throughout), exchanges and queues by name;
- message ids, compared by the order in which messages first appear;
- connection and channel open / close events and basic.qos: pika and the lab open different
  connections (the lab has its own for declaring), which is setup, not the scenario.
"""

from __future__ import annotations

import time
from typing import Any

import pika

import rabbitsim
from rabbitsim import sim
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

COMPARED = {
    EventKind.DECLARE,
    EventKind.PUBLISH,
    EventKind.ROUTE,
    EventKind.ENQUEUE,
    EventKind.CONSUMER_ADDED,
    EventKind.DELIVER,
    EventKind.ACK,
}
NAMED = (NodeKind.QUEUE, NodeKind.EXCHANGE)


def steps(events: list[TraceEvent]) -> list[tuple[Any, ...]]:
    """The compared steps, with nodes and messages named by first appearance where need be."""
    seen_nodes: dict[Node, str] = {}
    seen_messages: dict[int, int] = {}

    def node(found: Node | None) -> object:
        if found is None or found.kind in NAMED:
            return found and (found.kind, found.name)
        return seen_nodes.setdefault(found, f"{found.kind}#{sum(n.kind == found.kind for n in seen_nodes)}")

    result = []
    for event in events:
        if event.kind not in COMPARED:
            continue
        message = (
            None if event.message is None else seen_messages.setdefault(event.message, len(seen_messages))
        )
        detail = (
            (event.detail["delivery_tag"], event.detail["redelivered"])
            if event.kind == EventKind.DELIVER
            else ()
        )
        result.append((str(event.kind), node(event.source), node(event.target), message, detail))
    return result


def virtual() -> list[TraceEvent]:
    lab = sim.Lab(seed=1, round_trip=0.001, trace=True)
    lab.channel.queue_declare("tasks", durable=True)
    lab.publisher("tasks", arrivals=sim.bursts(5, every=1), messages=5, body=b"task", persistent=True)
    lab.workers("tasks", prefetch=2, service=0.01, start=1.0)  # after the five are in the queue
    return lab.run().events


def real_time() -> list[TraceEvent]:
    with rabbitsim.start("sim", in_process=True) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        try:
            publishing, working = connection.channel(), connection.channel()
            acked: list[int] = []

            def work(channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
                channel.basic_ack(method.delivery_tag)
                acked.append(method.delivery_tag)

            with broker.trace() as trace:
                publishing.queue_declare("tasks", durable=True)
                for _ in range(5):
                    publishing.basic_publish("", "tasks", b"task", pika.BasicProperties(delivery_mode=2))
                working.basic_qos(prefetch_count=2)  # a round trip: the publishes are in first
                working.basic_consume("tasks", work)
                deadline = time.monotonic() + 5
                while len(acked) < 5:
                    assert time.monotonic() < deadline, "the worker did not get its five messages"
                    connection.process_data_events(time_limit=0.01)
            return trace.events
        finally:
            connection.close()


def test_one_publisher_and_a_prefetch_2_worker_take_the_same_steps() -> None:
    expected = steps(real_time())
    assert [step[0] for step in expected] == [
        "declare",
        *["publish", "route", "enqueue"] * 5,
        "consumer-added",
        "deliver", "deliver",  # prefetch 2
        "ack", "deliver", "ack", "deliver", "ack", "deliver",
        "ack", "ack",
    ]  # fmt: skip
    assert steps(virtual()) == expected
