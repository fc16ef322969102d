"""The picture's graph: producers → exchanges → queues → consumers, from a topology and a trace.

A snapshot alone cannot say who publishes (no broker records it) and misses whatever was gone
by the time it was taken (exclusive queues, consumers that left), so the trace's events add
what they mention. The default exchange binds every queue implicitly; drawing all of those
edges would bury the picture, so it appears only where a message actually used it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from rabbitsim._language import Both, say
from rabbitsim.vocabulary import (
    REPLY_QUEUE,
    STANDARD_EXCHANGES,
    TRACE_EXCHANGE,
    EventKind,
    Node,
    NodeKind,
    Topology,
    TraceEvent,
)

from ._stream import STREAM_TYPE, STREAM_WIDTH, initial_log, log_steps, place_by_argument
from ._style import channel_caption, shorten, shorten_all

OFFSET_ARGUMENT = "x-stream-offset"

DEFAULT_EXCHANGE_LABEL = "(AMQP default)"
DEFAULT_EXCHANGE_LABEL_ZH = "（默认交换机）"
BASIC_GET = "basic.get"

# The exchanges every vhost is born with (a real broker's firehose exchange too): their types,
# so a trace that only uses them still labels them, and their names, so that unused ones stay
# out of the picture.
BUILT_IN_EXCHANGES: dict[str, str] = {"": "direct", **dict(STANDARD_EXCHANGES), TRACE_EXCHANGE: "topic"}
# Types whose bindings ignore the routing key: their edges carry no key label.
KEYLESS_TYPES = frozenset({"fanout", "headers"})
MAX_KEYS_SHOWN = 3
LABEL_WIDTH = 20
MAX_LABEL_LINES = 2


def default_exchange_label() -> str:
    """How the picture names the default exchange, in the kernel's language: RabbitMQ's
    management UI calls it "(AMQP default)"; the Chinese edition says what it is."""
    return say(DEFAULT_EXCHANGE_LABEL, DEFAULT_EXCHANGE_LABEL_ZH)


def node_id(kind: NodeKind, name: str) -> str:
    """Graph node ids are plain strings ('queue:hello'), readable in tests and in networkx."""
    return f"{kind.value}:{name}"


DEFAULT_EXCHANGE = node_id(NodeKind.EXCHANGE, "")


def channel_name(node: Node) -> str:
    """The name RabbitMQ (and `Topology.channels`) gives the channel an event's node lives on."""
    return f"{node.connection} ({node.channel})"


def drawn_as(graph: nx.DiGraph, node: Node) -> str:
    """The graph node an event's node is drawn as in `graph` (see `_Builder.aliases`)."""
    ident = event_node_id(node)
    return str(graph.graph.get("aliases", {}).get(ident, ident))


def event_node_id(node: Node) -> str:
    """The graph node an event's node is drawn as: a publishing channel is a producer, a
    channel doing basic.get is a consumer named 'basic.get', reply-to keys share one queue."""
    return _EVENT_NODES[node.kind](node)


_EVENT_NODES = {
    NodeKind.PUBLISHER: lambda node: node_id(NodeKind.PUBLISHER, channel_name(node)),
    NodeKind.EXCHANGE: lambda node: node_id(NodeKind.EXCHANGE, node.name),
    NodeKind.QUEUE: lambda node: node_id(
        NodeKind.QUEUE, REPLY_QUEUE if node.name.startswith(REPLY_QUEUE) else node.name
    ),
    NodeKind.CONSUMER: lambda node: node_id(NodeKind.CONSUMER, f"{channel_name(node)}:{node.name}"),
    NodeKind.CHANNEL: lambda node: node_id(NodeKind.CONSUMER, f"{channel_name(node)}:{BASIC_GET}"),
    NodeKind.CONNECTION: lambda node: node_id(NodeKind.CONNECTION, node.name),
}


@dataclass
class _Edge:
    kind: str  # "publish", "binding" or "consume"
    keys: set[str] = field(default_factory=set)
    arguments: list[Mapping[str, Any]] = field(default_factory=list)
    prefetch: int = 0
    no_ack: bool = False
    alternate: bool = False  # an exchange's alternate exchange: taken when nothing matched
    offset_spec: Any = None  # a stream consumer's `x-stream-offset`, as given


@dataclass
class _Builder:
    """Collects nodes and edges from both sources, then decides what is shown."""

    vhost: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], _Edge] = field(default_factory=dict)
    exchange_types: dict[str, str] = field(default_factory=lambda: dict(BUILT_IN_EXCHANGES))
    used_exchanges: set[str] = field(default_factory=set)  # bound, published to or routed through
    default_routes: set[str] = field(default_factory=set)  # queues the default exchange reached
    seen_order: dict[str, int] = field(default_factory=dict)  # first appearance in the trace
    # A real broker's firehose names a receiver by its channel only ('conn#1'): such a node is
    # drawn as the snapshot's consumer of that queue on that channel, when there is just one.
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (channel, queue) → tags

    def node(self, ident: str, kind: NodeKind, name: str, **attributes: Any) -> dict[str, Any]:
        found = self.nodes.setdefault(ident, {"kind": kind, "name": name})
        found.update(attributes)
        return found

    def edge(self, source: str, target: str, kind: str) -> _Edge:
        return self.edges.setdefault((source, target), _Edge(kind))

    def seen(self, ident: str) -> None:
        self.seen_order.setdefault(ident, len(self.seen_order))

    # --- from a topology ---------------------------------------------------------------------

    def add_topology(self, topology: Topology) -> None:
        vhost = self.vhost
        for exchange in topology.exchanges:
            if exchange.vhost == vhost:
                self.exchange_types[exchange.name] = exchange.type
                if exchange.name not in BUILT_IN_EXCHANGES and not exchange.name.startswith("amq."):
                    self.add_exchange(exchange.name, internal=exchange.internal, durable=exchange.durable)
        for queue in topology.queues:
            if queue.vhost == vhost:
                self.node(
                    node_id(NodeKind.QUEUE, queue.name),
                    NodeKind.QUEUE,
                    queue.name,
                    ready=queue.messages_ready,
                    unacked=queue.messages_unacknowledged,
                    consumers=queue.consumers,
                    exclusive=queue.exclusive,
                    durable=queue.durable,
                    auto_delete=queue.auto_delete,
                    queue_type=queue.type,
                    first_offset=queue.first_offset,
                    committed_offset=queue.committed_offset,
                    counted=True,  # ready and unacked are the snapshot's
                )
        for binding in topology.bindings:
            if binding.vhost != vhost or binding.source == "":
                continue
            kind = NodeKind.QUEUE if binding.destination_type == "queue" else NodeKind.EXCHANGE
            self.add_binding(
                binding.source, kind, binding.destination, binding.routing_key, binding.arguments
            )
        for consumer in topology.consumers:
            if consumer.vhost == vhost:
                self.tags.setdefault((consumer.channel, consumer.queue), []).append(consumer.consumer_tag)
                self.add_consumer(
                    consumer.queue,
                    consumer.channel,
                    consumer.consumer_tag,
                    prefetch=consumer.prefetch_count,
                    no_ack=not consumer.ack_required,
                    offset_spec=consumer.arguments.get(OFFSET_ARGUMENT),
                )

    def add_exchange(self, name: str, **attributes: Any) -> str:
        ident = node_id(NodeKind.EXCHANGE, name)
        self.node(ident, NodeKind.EXCHANGE, name, **attributes)
        return ident

    def add_binding(
        self, source: str, kind: NodeKind, destination: str, key: str, arguments: Mapping[str, Any]
    ) -> None:
        target = node_id(kind, destination)
        self.node(target, kind, destination)
        edge = self.edge(self.add_exchange(source), target, "binding")
        edge.keys.add(key)
        if arguments:
            edge.arguments.append(arguments)
        self.used_exchanges.add(source)
        if kind is NodeKind.EXCHANGE:
            self.used_exchanges.add(destination)

    def add_consumer(
        self,
        queue: str,
        channel: str,
        tag: str,
        *,
        prefetch: int = 0,
        no_ack: bool = False,
        offset_spec: Any = None,
    ) -> str:
        ident = node_id(NodeKind.CONSUMER, f"{channel}:{tag}")
        self.node(ident, NodeKind.CONSUMER, tag, channel=channel)
        source = node_id(NodeKind.QUEUE, queue)
        self.node(source, NodeKind.QUEUE, queue)
        edge = self.edge(source, ident, "consume")
        edge.prefetch = prefetch or edge.prefetch
        edge.no_ack = no_ack or edge.no_ack
        edge.offset_spec = edge.offset_spec if offset_spec is None else offset_spec
        return ident

    def mark_stream(self, node: Node) -> None:
        """A queue an event shows to be a stream (an offset only a log has)."""
        queue = REPLY_QUEUE if node.name.startswith(REPLY_QUEUE) else node.name
        self.node(node_id(NodeKind.QUEUE, queue), NodeKind.QUEUE, queue, queue_type=STREAM_TYPE)

    # --- from a trace ------------------------------------------------------------------------

    def add_event(self, event: TraceEvent) -> None:
        handler = _EVENT_HANDLERS.get(event.kind)
        if handler is not None and event.vhost == self.vhost:
            handler(self, event)
            for node in (event.source, event.target):
                if node is not None:
                    ident = event_node_id(node)
                    self.seen(self.aliases.get(ident, ident))

    def on_declare(self, event: TraceEvent) -> None:
        node = event.source
        if node is None:
            return
        if node.kind is NodeKind.EXCHANGE:
            if "type" in event.detail:
                self.exchange_types[node.name] = str(event.detail["type"])
            if node.name not in BUILT_IN_EXCHANGES:
                self.add_exchange(node.name)
        elif node.kind is NodeKind.QUEUE:
            self.node(
                node_id(NodeKind.QUEUE, node.name),
                NodeKind.QUEUE,
                node.name,
                **{
                    k: bool(v)
                    for k, v in event.detail.items()
                    if k in ("exclusive", "durable", "auto_delete")
                },
            )
            declared = event.detail.get("type") or (event.detail.get("arguments") or {}).get("x-queue-type")
            if declared == STREAM_TYPE:
                self.mark_stream(node)

    def on_offset(self, event: TraceEvent) -> None:
        """An append or a retention drop that names an offset: the queue is a stream."""
        if "offset" in event.detail and event.source is not None and event.source.kind is NodeKind.QUEUE:
            self.mark_stream(event.source)

    def on_bind(self, event: TraceEvent) -> None:
        if event.source is not None and event.target is not None:
            arguments = event.detail.get("arguments") or {}
            self.add_binding(
                event.source.name, event.target.kind, event.target.name, event.routing_key or "", arguments
            )

    def on_publish(self, event: TraceEvent) -> None:
        if event.source is None or event.target is None:
            return
        channel = channel_name(event.source)
        producer = node_id(NodeKind.PUBLISHER, channel)
        self.node(producer, NodeKind.PUBLISHER, channel, channel=channel)
        exchange = self.add_exchange(event.target.name)
        self.used_exchanges.add(event.target.name)
        self.edge(producer, exchange, "publish").keys.add(event.routing_key or "")

    def on_route(self, event: TraceEvent) -> None:
        if event.source is None or event.target is None:
            return
        source = self.add_exchange(event.source.name)
        target = event_node_id(event.target)
        self.node(target, event.target.kind, event.target.name)
        self.used_exchanges.add(event.source.name)
        edge = self.edge(source, target, "binding")
        edge.alternate = edge.alternate or bool(event.detail.get("alternate"))
        if event.source.name == "":
            edge.keys.add(event.target.name)
            self.default_routes.add(target)

    def on_consume(self, event: TraceEvent) -> None:
        source, target = event.source, event.target
        if source is None or target is None:
            return
        queue = REPLY_QUEUE if source.name.startswith(REPLY_QUEUE) else source.name
        tag = BASIC_GET if target.kind is NodeKind.CHANNEL else target.name
        channel = channel_name(target)
        known = self.tags.get((channel, queue), [])
        if target.name == f"{target.connection}#{target.channel}" and len(known) == 1:
            self.aliases[event_node_id(target)] = node_id(NodeKind.CONSUMER, f"{channel}:{known[0]}")
            tag = known[0]
        self.add_consumer(
            queue,
            channel,
            tag,
            prefetch=int(event.detail.get("prefetch") or 0),
            no_ack=bool(event.detail.get("no_ack")),
        )
        if "offset" in event.detail:
            self.mark_stream(source)
        if queue == REPLY_QUEUE:  # direct reply-to: the default exchange hands it over
            self.edge(self.add_exchange(""), node_id(NodeKind.QUEUE, queue), "binding")
            self.default_routes.add(node_id(NodeKind.QUEUE, queue))

    # --- what is shown -----------------------------------------------------------------------

    def build(self, *, traced: bool) -> nx.DiGraph:
        shown_exchange = self._exchange_filter(traced)
        graph = nx.DiGraph(vhost=self.vhost, aliases=dict(self.aliases))
        hidden = {
            ident
            for ident, attributes in self.nodes.items()
            if attributes["kind"] is NodeKind.EXCHANGE and not shown_exchange(attributes["name"])
        }
        for ident, attributes in self.nodes.items():
            if ident not in hidden and attributes["kind"] in LABELS:
                graph.add_node(ident, **{**DEFAULTS.get(attributes["kind"], {}), **attributes})
                if attributes.get("queue_type") == STREAM_TYPE:
                    graph.nodes[ident]["half_width"] = STREAM_WIDTH / 2
                if attributes["kind"] is NodeKind.EXCHANGE:
                    graph.nodes[ident]["type"] = self.exchange_types.get(attributes["name"], "")
        for (source, target), edge in self.edges.items():
            if source in graph and target in graph:
                if source == DEFAULT_EXCHANGE and target not in self.default_routes:
                    continue
                graph.add_edge(source, target, **self._edge_attributes(source, target, edge))
        self._label(graph)
        return graph

    def _exchange_filter(self, traced: bool) -> Callable[[str], bool]:
        """Built-in exchanges appear only when used. Without a trace, the default exchange is
        taken as used by every queue that nothing else feeds: it is the only way in."""
        if not traced:
            fed = {target for (_s, target), edge in self.edges.items() if edge.kind == "binding"}
            for ident, attributes in list(self.nodes.items()):
                if attributes["kind"] is NodeKind.QUEUE and ident not in fed:
                    self.default_routes.add(ident)
                    self.edge(self.add_exchange(""), ident, "binding").keys.add(attributes["name"])
            if self.default_routes:
                self.used_exchanges.add("")
        return lambda name: (
            name in self.used_exchanges or not (name in BUILT_IN_EXCHANGES or name.startswith("amq."))
        )

    def _edge_attributes(self, source: str, target: str, edge: _Edge) -> dict[str, Any]:
        keys = tuple(sorted(edge.keys))
        exchange = target if edge.kind == "publish" else source
        exchange_type = self.exchange_types.get(self.nodes[exchange]["name"], "")
        if edge.alternate:
            label = say("alternate", "备用")
        elif edge.kind == "binding":
            label = _binding_label(exchange_type, keys, edge.arguments, default=source == DEFAULT_EXCHANGE)
        elif edge.kind == "publish":
            label = "" if exchange_type in KEYLESS_TYPES else _keys_label(keys, count_if_long=True)
        else:
            label = "auto-ack" if edge.no_ack else (f"prefetch {edge.prefetch}" if edge.prefetch else "")
            if edge.offset_spec is not None:
                start = shorten(str(edge.offset_spec), 12)
                label = "\n".join(filter(None, (label, say(f"from {start}", f"从 {start} 开始"))))
        return {
            "kind": edge.kind,
            "keys": keys,
            "label": label,
            "prefetch": edge.prefetch,
            "no_ack": edge.no_ack,
            **({} if edge.offset_spec is None else {"offset_spec": edge.offset_spec}),
        }

    def _label(self, graph: nx.DiGraph) -> None:
        """Short labels for the picture, full names for hovers and the log. Producers and
        consumers are numbered P1, C1… in the order the trace first met them."""
        numbered = {NodeKind.PUBLISHER: 0, NodeKind.CONSUMER: 0}
        unseen = len(self.seen_order)
        order = sorted(graph.nodes, key=lambda ident: (self.seen_order.get(ident, unseen), ident))
        for ident in order:
            attributes = graph.nodes[ident]
            attributes["order"] = self.seen_order.get(ident, unseen)
            kind = attributes["kind"]
            if kind in numbered:
                numbered[kind] += 1
            label, caption, title = LABELS[kind](self, attributes, numbered.get(kind, 0))
            attributes.update(label=label, caption=caption, title=title)
        self._cross_reference(graph)
        for kind in (NodeKind.EXCHANGE, NodeKind.QUEUE):
            siblings = {n: graph.nodes[n]["name"] for n in graph.nodes if graph.nodes[n]["kind"] is kind}
            labels = shorten_all([name for name in siblings.values() if name])
            for node, name in siblings.items():
                if name:
                    graph.nodes[node]["label"] = labels[name]

    @staticmethod
    def _cross_reference(graph: nx.DiGraph) -> None:
        """A channel that both publishes and consumes (an RPC client or server) is drawn twice,
        at both ends; each caption names the other: 'connection-2 (1) · C2'."""
        roles: dict[str, list[str]] = {}
        for node, data in graph.nodes(data=True):
            if data["kind"] in (NodeKind.PUBLISHER, NodeKind.CONSUMER):
                roles.setdefault(data["channel"], []).append(node)
        for nodes in roles.values():
            for node in nodes:
                others = sorted(graph.nodes[n]["label"] for n in nodes if n != node)
                if others:
                    graph.nodes[node]["caption"] += " \u00b7 " + ", ".join(others)


def _keys_label(keys: Sequence[str], *, count_if_long: bool = False) -> str:
    """Keys as lines of about LABEL_WIDTH characters, at most MAX_LABEL_LINES of them; what
    does not fit is counted ('+4'), or, for the many keys one producer used, just '6 keys'
    (an animation's colour key lists them)."""
    lines: list[str] = []
    for index, key in enumerate(keys):
        shown = shorten(key, LABEL_WIDTH) if key else '""'
        if lines and len(lines[-1]) + len(shown) + 2 <= LABEL_WIDTH:
            lines[-1] += f", {shown}"
        elif len(lines) < MAX_LABEL_LINES:
            lines.append(shown)
        elif count_if_long:
            return say(f"{len(keys)} keys", f"{len(keys)} 个键")
        else:
            lines[-1] += f", +{len(keys) - index}"
            break
    return "\n".join(lines)


def _binding_label(
    exchange_type: str, keys: Sequence[str], arguments: Sequence[Mapping[str, Any]], *, default: bool
) -> str:
    if default:
        return ""
    if exchange_type == "headers":
        return "\n".join(_headers_label(each) for each in arguments[:MAX_KEYS_SHOWN])
    if exchange_type in KEYLESS_TYPES:
        return ""
    return _keys_label(keys)


def _headers_label(arguments: Mapping[str, Any]) -> str:
    """`all: a=1, b=2`: the headers a binding matches on. `all` and `any` ignore `x-` headers, so
    they are left out; `all-with-x` and `any-with-x` match on them too, so they are shown."""
    match = str(arguments.get("x-match", "all"))
    with_x = match.endswith("-with-x")
    pairs = ", ".join(
        f"{k}={v}"
        for k, v in sorted(arguments.items())
        if k != "x-match" and (with_x or not k.startswith("x-"))
    )
    return shorten(f"{match}: {pairs}", 24)


def _producer_label(builder: _Builder, attributes: dict[str, Any], number: int) -> tuple[str, str, str]:
    channel = attributes["name"]
    title = say(f"producer P{number}: channel {channel}", f"生产者 P{number}：信道 {channel}")
    return f"P{number}", channel_caption(channel), title


def _exchange_label(builder: _Builder, attributes: dict[str, Any], number: int) -> tuple[str, str, str]:
    name = attributes["name"]
    kind = attributes["type"]
    shown = default_exchange_label() if name == "" else shorten(name)
    if name == "":
        full = say(f"exchange {DEFAULT_EXCHANGE_LABEL}", "默认交换机")
    else:
        full = say(f"exchange {name!r}", f"交换机 {name!r}")
    return shown, kind, full + (say(f" ({kind})", f"（{kind}）") if kind else "")


#: a queue's flags as its title lists them
QUEUE_FLAGS = {
    "durable": Both("durable", "持久化"),
    "exclusive": Both("exclusive", "排他"),
    "auto_delete": Both("auto-delete", "自动删除"),
}


def _queue_label(builder: _Builder, attributes: dict[str, Any], number: int) -> tuple[str, str, str]:
    name = attributes["name"]
    flags = say(", ", "、").join(str(word) for flag, word in QUEUE_FLAGS.items() if attributes.get(flag))
    what = say("stream", "流") if attributes.get("queue_type") == STREAM_TYPE else say("queue", "队列")
    return shorten(name), "", f"{what} {name!r}" + (say(f" ({flags})", f"（{flags}）") if flags else "")


def _consumer_label(builder: _Builder, attributes: dict[str, Any], number: int) -> tuple[str, str, str]:
    channel, tag = attributes["channel"], attributes["name"]
    what = say("basic.get", " basic.get") if tag == BASIC_GET else say(f"consumer {tag!r}", f"消费者 {tag!r}")
    title = say(f"C{number}: {what} on channel {channel}", f"C{number}：信道 {channel} 上的{what}")
    return f"C{number}", channel_caption(channel), title


DEFAULTS: dict[NodeKind, dict[str, Any]] = {NodeKind.QUEUE: {"ready": 0, "unacked": 0}}
LABELS = {
    NodeKind.PUBLISHER: _producer_label,
    NodeKind.EXCHANGE: _exchange_label,
    NodeKind.QUEUE: _queue_label,
    NodeKind.CONSUMER: _consumer_label,
}

_EVENT_HANDLERS = {
    EventKind.DECLARE: _Builder.on_declare,
    EventKind.BIND: _Builder.on_bind,
    EventKind.UNBIND: _Builder.on_bind,  # a binding that existed during the trace is drawn
    EventKind.PUBLISH: _Builder.on_publish,
    EventKind.ROUTE: _Builder.on_route,
    EventKind.CONSUMER_ADDED: _Builder.on_consume,
    EventKind.DELIVER: _Builder.on_consume,
    EventKind.ENQUEUE: _Builder.on_offset,
    EventKind.DROP: _Builder.on_offset,
}


def graph(
    source: Any = None,
    events: Iterable[TraceEvent] = (),
    *,
    topology: Topology | None = None,
    vhost: str | None = None,
) -> nx.DiGraph:
    """The networkx graph of a topology and/or a trace, one vhost.

    `source` is a `Topology`, a sequence of `TraceEvent`s, or a recorded trace (anything with
    `.events` and `.topology`). Nodes are 'publisher:<channel>', 'exchange:<name>',
    'queue:<name>' and 'consumer:<channel>:<tag>', with `kind`, `name`, `label`, `caption`
    and `title` (the full description); queues carry `ready` and `unacked` from the snapshot.
    Edges carry `kind` ('publish', 'binding', 'consume'), `keys` and a display `label`."""
    topology, events = resolve(source, events, topology)
    builder = _Builder(vhost or traced_vhost(events))
    if topology is not None:
        builder.add_topology(topology)
    traced = False
    for event in events:
        builder.add_event(event)
        traced = traced or event.kind is EventKind.PUBLISH
    built = builder.build(traced=traced)
    _attach_logs(built, [event for event in events if event.vhost == builder.vhost])
    return built


def streams_of(picture: nx.DiGraph) -> list[str]:
    """The queue nodes drawn as logs."""
    return [n for n, data in picture.nodes(data=True) if data.get("queue_type") == STREAM_TYPE]


def _attach_logs(picture: nx.DiGraph, events: list[TraceEvent]) -> None:
    """Each stream's log as the trace leaves it, for a static picture (`log`, a LogView)."""
    streams = streams_of(picture)
    if not streams:
        return
    steps, numbered = log_steps(events, streams, lambda node: drawn_as(picture, node))
    for stream in streams:
        own = [step for _index, step in steps if step.stream == stream]
        log = initial_log(picture.nodes[stream], own, stream in numbered or is_numbered(picture, stream))
        for step in own:
            log.apply(step)
        for consumer in picture.successors(stream):
            place_by_argument(log, consumer, picture.edges[stream, consumer].get("offset_spec"))
        picture.nodes[stream]["log"] = log.view()


def is_numbered(picture: nx.DiGraph, stream: str) -> bool:
    """Whether the snapshot gives the stream's offsets (the simulator's does; a real broker's
    management API gives none)."""
    return picture.nodes[stream].get("first_offset") is not None


def traced_vhost(events: Iterable[TraceEvent]) -> str:
    """The vhost a trace happened in (its first event's), "/" when there are no events: so a
    trace recorded in another vhost draws without the learner naming it."""
    return next((event.vhost for event in events), "/")


def resolve(
    source: Any, events: Iterable[TraceEvent] = (), topology: Topology | None = None
) -> tuple[Topology | None, list[TraceEvent]]:
    """Accept what a learner has at hand: a Topology, a list of events, or a recorded trace
    (`.events` and `.topology`: a Topology, start and end snapshots as `rabbitsim.trace`
    keeps them, or a sequence; the end wins, since the picture wants the state after)."""
    found = list(events)
    if isinstance(source, Topology):
        topology = topology or source
    elif source is not None and hasattr(source, "events"):
        found = list(source.events) + found
        recorded = getattr(source, "topology", None)
        if callable(recorded):
            recorded = recorded()
        if isinstance(getattr(recorded, "end", None), Topology):  # rabbitsim.trace: (start, end)
            recorded = recorded.end  # type: ignore[union-attr]
        elif isinstance(recorded, Sequence) and recorded and isinstance(recorded[-1], Topology):
            recorded = recorded[-1]
        if topology is None and isinstance(recorded, Topology):
            topology = recorded
    elif source is not None:
        found = list(source) + found
    return topology, found
