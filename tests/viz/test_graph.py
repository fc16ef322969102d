"""The graph and its layout, for the course's topologies as the simulator records them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import pytest

from rabbitsim import viz
from rabbitsim.viz._style import channel_caption
from rabbitsim.vocabulary import BindingInfo, ExchangeInfo, NodeKind, QueueInfo, Topology

from .scenarios import Scenario

Get = Callable[[str], Scenario]


def kinds(graph: nx.DiGraph, kind: NodeKind) -> list[str]:
    return sorted(n for n, data in graph.nodes(data=True) if data["kind"] is kind)


def edges(graph: nx.DiGraph, kind: str) -> dict[tuple[str, str], dict[str, object]]:
    return {(a, b): data for a, b, data in graph.edges(data=True) if data["kind"] == kind}


def test_hello_world(scenario: Get) -> None:
    recorded = scenario("hello_world")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    assert kinds(graph, NodeKind.PUBLISHER) == ["publisher:connection-1 (1)"]
    assert kinds(graph, NodeKind.EXCHANGE) == ["exchange:"], "only the default exchange, which was used"
    assert kinds(graph, NodeKind.QUEUE) == ["queue:hello"]
    [consumer] = kinds(graph, NodeKind.CONSUMER)
    assert consumer.startswith("consumer:connection-2 (1):")
    assert edges(graph, "publish") == {
        ("publisher:connection-1 (1)", "exchange:"): {
            "kind": "publish",
            "keys": ("hello",),
            "label": "hello",
            "prefetch": 0,
            "no_ack": False,
        }
    }
    assert set(edges(graph, "binding")) == {("exchange:", "queue:hello")}
    assert edges(graph, "consume")[("queue:hello", consumer)]["label"] == "auto-ack"
    nodes = graph.nodes
    assert (nodes["publisher:connection-1 (1)"]["label"], nodes[consumer]["label"]) == ("P1", "C1")
    assert nodes["exchange:"]["label"] == "(AMQP default)"
    assert nodes["exchange:"]["type"] == "direct"
    assert nodes["queue:hello"]["ready"] == 0


def test_work_queues(scenario: Get) -> None:
    recorded = scenario("work_queues")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    consumers = kinds(graph, NodeKind.CONSUMER)
    assert [graph.nodes[c]["channel"] for c in consumers] == ["connection-2 (1)", "connection-3 (1)"]
    assert sorted(graph.nodes[c]["label"] for c in consumers) == ["C1", "C2"]
    consume = edges(graph, "consume")
    assert {consume[("queue:task_queue", c)]["label"] for c in consumers} == {"prefetch 1"}
    assert "durable" in graph.nodes["queue:task_queue"]["title"]


def test_fanout(scenario: Get) -> None:
    recorded = scenario("fanout")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    queues = kinds(graph, NodeKind.QUEUE)
    assert len(queues) == 3
    assert all(q.startswith("queue:amq.gen-") for q in queues)
    assert all(graph.nodes[q]["exclusive"] for q in queues)
    assert kinds(graph, NodeKind.EXCHANGE) == ["exchange:logs"], "no default exchange: nothing used it"
    assert graph.nodes["exchange:logs"]["type"] == "fanout"
    bindings = edges(graph, "binding")
    assert set(bindings) == {("exchange:logs", q) for q in queues}
    assert {b["label"] for b in bindings.values()} == {""}, "fanout ignores keys: none shown"
    assert [d["label"] for d in edges(graph, "publish").values()] == [""]
    assert len(kinds(graph, NodeKind.CONSUMER)) == 3
    for queue in queues:
        label = graph.nodes[queue]["label"]
        assert label.startswith("amq.gen-\u2026") and len(label) == 12
        assert graph.nodes[queue]["name"] in graph.nodes[queue]["title"], "the full name is in the hover"


def test_direct(scenario: Get) -> None:
    recorded = scenario("direct")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    labels = sorted(d["label"] for d in edges(graph, "binding").values())
    assert labels == ["error", "error, info, warning"]
    [publish] = edges(graph, "publish").values()
    assert publish["keys"] == ("debug", "error", "info", "warning")


def test_topics(scenario: Get) -> None:
    recorded = scenario("topics")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    labels = sorted(d["label"] for d in edges(graph, "binding").values())
    assert labels == ["*.*.rabbit, lazy.#", "*.orange.*"]
    assert graph.nodes["exchange:topic_logs"]["caption"] == "topic"


def test_rpc(scenario: Get) -> None:
    recorded = scenario("rpc")
    graph = viz.graph(recorded.events, topology=recorded.topology)
    queues = kinds(graph, NodeKind.QUEUE)
    assert "queue:rpc_queue" in queues and len(queues) == 2
    assert set(edges(graph, "binding")) == {("exchange:", q) for q in queues}
    producers = {graph.nodes[p]["channel"] for p in kinds(graph, NodeKind.PUBLISHER)}
    consumers = {graph.nodes[c]["channel"] for c in kinds(graph, NodeKind.CONSUMER)}
    assert producers == consumers, "client and server each publish and consume on one channel"
    client = next(
        c for c in kinds(graph, NodeKind.CONSUMER) if graph.nodes[c]["channel"] == "connection-2 (1)"
    )
    assert next(iter(graph.predecessors(client))).startswith("queue:amq.gen-"), "replies come back"


def test_topology_alone_shows_the_default_exchange_only_where_nothing_else_feeds(scenario: Get) -> None:
    """Without a trace no one is known to publish; a queue that no binding feeds is drawn as
    reached through the default exchange, the only way in."""
    for name, fed_by_default in {"hello_world": True, "fanout": False, "rpc": True}.items():
        graph = viz.graph(scenario(name).topology)
        assert not kinds(graph, NodeKind.PUBLISHER)
        assert ("exchange:" in graph) is fed_by_default, name
        assert not [n for n in graph if n.startswith("exchange:amq.")]


def test_a_recorded_trace_object_is_accepted(scenario: Get) -> None:
    @dataclass
    class Recorded:
        events: list[object]
        topology: list[Topology]

    recorded = scenario("direct")
    trace = Recorded(list(recorded.events), [Topology(), recorded.topology])
    assert nx.utils.graphs_equal(viz.graph(trace), viz.graph(recorded.events, topology=recorded.topology)), (
        "the last snapshot of a trace is the one drawn"
    )


def test_exchange_to_exchange_bindings_go_one_column_deeper() -> None:
    topology = Topology(
        exchanges=(
            ExchangeInfo("/", "front", "topic", True, False, False),
            ExchangeInfo("/", "back", "headers", True, False, False),
            ExchangeInfo("/", "loop", "fanout", True, False, False),
        ),
        queues=(QueueInfo("/", "reports", "classic", True, False, False, 2, 1, 0),),
        bindings=(
            BindingInfo("/", "front", "back", "exchange", "reports.#"),
            BindingInfo("/", "back", "reports", "queue", "", {"x-match": "any", "format": "pdf"}),
            BindingInfo("/", "back", "loop", "exchange", ""),
            BindingInfo("/", "loop", "back", "exchange", ""),  # a cycle: legal, and drawn
            BindingInfo("/", "", "reports", "queue", "reports"),
        ),
    )
    graph = viz.graph(topology)
    where = viz.layout(graph)
    columns = {node: i for i, column in enumerate(where.layers) for node in column}
    assert columns["exchange:front"] == 0, "no producers: the first column closes up"
    assert columns["exchange:back"] == 1
    assert columns["exchange:loop"] == 2
    assert columns["queue:reports"] == 3
    assert graph.edges["exchange:back", "queue:reports"]["label"] == "any: format=pdf"
    assert graph.edges["exchange:front", "exchange:back"]["label"] == "reports.#"
    assert graph.nodes["queue:reports"]["ready"] == 2
    assert "exchange:" not in graph, "the queue is fed by a binding, so the default is not drawn"


def test_layout_is_deterministic_and_readable(scenario: Get) -> None:
    for name in ("hello_world", "work_queues", "fanout", "direct", "topics", "rpc"):
        recorded = scenario(name)
        first = viz.layout(viz.graph(recorded.events, topology=recorded.topology))
        again = viz.layout(viz.graph(list(recorded.events), topology=recorded.topology))
        assert first == again, name
        xs = [x for x, _y in first.positions.values()]
        assert first.xlim[0] < min(xs) and max(xs) < first.xlim[1]
        width, height = first.size
        assert width <= 10 and height <= 11, (name, first.size)
    hello = viz.layout(viz.graph(scenario("hello_world").events))
    assert {y for _x, y in hello.positions.values()} == {0.0}, "one row: a straight line"


def test_shortened_names_keep_what_tells_them_apart() -> None:
    assert viz.shorten("amq.gen-sfeI_BURNBPyzK6QYE00tA") == "amq.gen-\u20260tA"
    assert viz.shorten("amq.ctag-AbCdEfGhIjKlMnOpQrStUv") == "amq.ctag-\u2026tUv"
    assert viz.shorten("task_queue") == "task_queue"
    long = viz.shorten("orders.eu-west.priority.high")
    assert len(long) == 16 and long.endswith("high")
    assert channel_caption("127.0.0.1:54321 -> 127.0.0.1:5672 (3)") == ":54321 (3)"
    assert channel_caption("connection-2 (1)") == "connection-2 (1)"


@pytest.mark.parametrize(
    ("arguments", "label"),
    [
        ({"x-match": "all", "a": "pdf", "x-t": "acme"}, "all: a=pdf"),
        ({"x-match": "any", "x-t": "acme"}, "any: "),
        ({"x-match": "any-with-x", "x-t": "acme"}, "any-with-x: x-t=acme"),
        ({"x-match": "all-with-x", "a": "1", "x-t": "2"}, "all-with-x: a=1, x-t=2"),
    ],
)
def test_a_headers_binding_shows_the_headers_it_matches_on(arguments: dict[str, str], label: str) -> None:
    """`all` and `any` ignore `x-` headers, `all-with-x` and `any-with-x` match on them too."""
    topology = Topology(
        exchanges=(ExchangeInfo("/", "reports", "headers", True, False, False),),
        queues=(QueueInfo("/", "inbox", "classic", True, False, False, 0, 0, 0),),
        bindings=(BindingInfo("/", "reports", "inbox", "queue", "", arguments),),
    )
    assert viz.graph(topology).edges["exchange:reports", "queue:inbox"]["label"] == label
