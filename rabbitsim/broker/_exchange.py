"""Exchanges and the bindings that leave them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import Node, NodeKind

from ._arguments import resource
from ._routing import ROUTERS, Destination, Router
from ._text import utf8_text

if TYPE_CHECKING:
    from ._policies import Policy
    from ._queue import Queue


def freeze(value: Any) -> Any:
    """A hashable stand-in for argument tables, so bindings can be looked up by identity."""
    if isinstance(value, Mapping):
        return tuple(sorted((key, freeze(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, bytearray):
        return bytes(value)
    return (type(value).__name__, value) if isinstance(value, bool | int | float) else value


class Binding:
    __slots__ = ("arguments", "destination", "key", "routing_key", "source")

    def __init__(
        self, source: Exchange, destination: Queue | Exchange, routing_key: str, arguments: Mapping[str, Any]
    ) -> None:
        self.source = source
        self.destination = destination
        self.routing_key = routing_key
        self.arguments = dict(arguments)
        self.key = binding_key(source, destination, routing_key, arguments)


def binding_key(
    source: Exchange, destination: Queue | Exchange, routing_key: str, arguments: Mapping[str, Any]
) -> tuple[Any, ...]:
    return (source.name, destination.node.kind, destination.name, routing_key, freeze(arguments))


class DefaultRouter:
    """The nameless exchange: every queue is reachable by its own name, and nothing else."""

    def __init__(self, queues: Mapping[str, Queue]) -> None:
        self._queues = queues

    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        raise AssertionError("the default exchange takes no bindings")

    remove = add

    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterable[Destination]:
        queue = self._queues.get(key)
        return () if queue is None else (queue,)


class Exchange:
    __slots__ = (
        "arguments",
        "auto_delete",
        "durable",
        "incoming",
        "internal",
        "name",
        "node",
        "operator_policy",
        "outgoing",
        "policy",
        "router",
        "type",
        "vhost_name",
    )

    def __init__(
        self,
        name: str,
        type: str,
        vhost_name: str,
        *,
        durable: bool = True,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Mapping[str, Any] | None = None,
        router: Router | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.vhost_name = vhost_name
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = internal
        self.arguments = dict(arguments or {})
        self.router: Router = router or ROUTERS[type]()
        self.outgoing: dict[tuple[Any, ...], Binding] = {}  # bindings where this is the source
        self.incoming: dict[tuple[Any, ...], Binding] = {}  # exchange-to-exchange bindings to here
        self.node = Node(NodeKind.EXCHANGE, name)
        self.policy: Policy | None = None  # what the vhost's policies apply here (`_policies`)
        self.operator_policy: Policy | None = None

    def __repr__(self) -> str:
        return f"Exchange({self.name!r}, {self.type!r})"

    @property
    def described(self) -> str:
        return resource("exchange", self.name, self.vhost_name)

    @property
    def alternate(self) -> str | None:
        """The alternate exchange: the argument's, else a policy's (the argument wins)."""
        value = self.arguments.get("alternate-exchange")
        if value is None and self.policy is not None:
            value = self.policy.definition.get("alternate-exchange")
        return None if value is None else utf8_text(value)
