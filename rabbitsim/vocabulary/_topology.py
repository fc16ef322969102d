"""One snapshot of a broker's topology, whatever the backend: the simulator fills it from the
core's objects, real brokers from the management HTTP API. Pictures and checks read only this,
and it is plain data, so it can cross a process boundary.

Names follow the management API (`messages_ready`, `ack_required`, ...), so what a learner
sees here is what RabbitMQ's own web UI and `rabbitmqctl list_*` call the same things."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Arguments = Mapping[str, Any]


def plain(value: Any) -> Any:
    """Argument and header values as JSON shows them: text for bytes, lists for arrays,
    recursively. The management API can only show JSON, so the simulator's snapshot says the
    same to make the two comparable."""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """An exchange as `rabbitmqctl list_exchanges` shows it."""

    vhost: str
    name: str  # "" is the default exchange
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: Arguments = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue and its counts; `messages` adds ready and unacked, as the web UI's total does.
    A stream is a log: its messages stay after they are read, so `messages_ready` counts what
    the log holds; `first_offset` and `committed_offset` are the offsets of its oldest and newest
    message (None for other queues, and for a stream that holds nothing)."""

    vhost: str
    name: str
    type: str  # "classic", "quorum" or "stream"
    durable: bool
    auto_delete: bool
    exclusive: bool
    messages_ready: int
    messages_unacknowledged: int
    consumers: int
    arguments: Arguments = field(default_factory=dict, hash=False)
    first_offset: int | None = None
    committed_offset: int | None = None

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class BindingInfo:
    """`source` "" is the default exchange's implicit binding of every queue to its own name."""

    vhost: str
    source: str
    destination: str
    destination_type: str  # "queue" or "exchange"
    routing_key: str
    arguments: Arguments = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    """A consumer, named by its tag and its channel, because tags are unique per channel only."""

    vhost: str
    queue: str
    consumer_tag: str
    channel: str  # the channel's name, as in ChannelInfo.name
    ack_required: bool
    prefetch_count: int
    exclusive: bool
    arguments: Arguments = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel with its prefetch and modes: what decides who gets the next message."""

    name: str  # "<connection name> (<number>)", as RabbitMQ names channels
    connection: str
    number: int
    prefetch_count: int  # basic.qos global=false: for consumers started after it
    global_prefetch_count: int  # basic.qos global=true: shared by the channel's consumers
    messages_unacknowledged: int
    consumer_count: int
    confirm: bool
    transactional: bool


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A client connection; `client_provided_name` is what the client called itself."""

    name: str
    vhost: str
    user: str
    channels: int
    client_provided_name: str | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything in one broker at one moment, each list sorted so that snapshots compare."""

    exchanges: tuple[ExchangeInfo, ...] = ()
    queues: tuple[QueueInfo, ...] = ()
    bindings: tuple[BindingInfo, ...] = ()
    consumers: tuple[ConsumerInfo, ...] = ()
    channels: tuple[ChannelInfo, ...] = ()
    connections: tuple[ConnectionInfo, ...] = ()

    def exchange(self, name: str, vhost: str = "/") -> ExchangeInfo:
        found: ExchangeInfo = _one(self.exchanges, vhost, name, "exchange")
        return found

    def queue(self, name: str, vhost: str = "/") -> QueueInfo:
        found: QueueInfo = _one(self.queues, vhost, name, "queue")
        return found

    def bindings_from(self, exchange: str, vhost: str = "/") -> tuple[BindingInfo, ...]:
        return tuple(b for b in self.bindings if b.vhost == vhost and b.source == exchange)

    def consumers_of(self, queue: str, vhost: str = "/") -> tuple[ConsumerInfo, ...]:
        return tuple(c for c in self.consumers if c.vhost == vhost and c.queue == queue)

    @classmethod
    def sorted(
        cls,
        *,
        exchanges: list[ExchangeInfo],
        queues: list[QueueInfo],
        bindings: list[BindingInfo],
        consumers: list[ConsumerInfo],
        channels: list[ChannelInfo],
        connections: list[ConnectionInfo],
    ) -> Topology:
        return cls(
            exchanges=tuple(sorted(exchanges, key=lambda e: (e.vhost, e.name))),
            queues=tuple(sorted(queues, key=lambda q: (q.vhost, q.name))),
            bindings=tuple(
                sorted(
                    bindings,
                    key=lambda b: (b.vhost, b.source, b.destination_type, b.destination, b.routing_key),
                )
            ),
            consumers=tuple(sorted(consumers, key=lambda c: (c.vhost, c.queue, c.consumer_tag))),
            channels=tuple(sorted(channels, key=lambda c: (c.connection, c.number))),
            connections=tuple(sorted(connections, key=lambda c: c.name)),
        )


def _one(items: tuple[Any, ...], vhost: str, name: str, kind: str) -> Any:
    for item in items:
        if item.vhost == vhost and item.name == name:
            return item
    raise KeyError(f"no {kind} '{name}' in vhost '{vhost}'")
