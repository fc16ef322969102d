"""A virtual host: the exchanges, queues and bindings of one namespace, and the cascades
that tie them (a queue's bindings go with it, auto-delete exchanges go with their last binding)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from rabbitsim.vocabulary import STANDARD_EXCHANGES, TRACE_EXCHANGE, EventKind

from ._arguments import resource
from ._durability import (
    ForgetBinding,
    ForgetExchange,
    ForgetQueue,
    KeepBinding,
    KeepExchange,
    KeepQueue,
    keeps_binding,
    keeps_exchange,
)
from ._errors import NOT_FOUND, ChannelError
from ._exchange import Binding, DefaultRouter, Exchange
from ._message import Message
from ._output import ConsumerCancelled
from ._queue import Queue

if TYPE_CHECKING:
    from ._broker import Broker
    from ._policies import Policy


class VHost:
    def __init__(self, name: str, broker: Broker) -> None:
        self.name = name
        self.broker = broker
        # what administration sets (`_administration`)
        self.description = ""
        self.tags: tuple[str, ...] = ()
        self.default_queue_type: str | None = None
        self.tracing = False
        self.limits: dict[str, int] = {}  # "max-connections", "max-queues"
        self.policies: dict[str, Policy] = {}
        self.operator_policies: dict[str, Policy] = {}
        self.queues: dict[str, Queue] = {}
        self.exchanges: dict[str, Exchange] = {
            "": Exchange("", "direct", name, router=DefaultRouter(self.queues))
        }
        for exchange_name, kind in STANDARD_EXCHANGES:
            self.exchanges[exchange_name] = Exchange(exchange_name, kind, name)
        # the firehose's (`_firehose`): internal, so only the broker publishes to it
        self.exchanges[TRACE_EXCHANGE] = Exchange(TRACE_EXCHANGE, "topic", name, internal=True)

    def __repr__(self) -> str:
        return f"VHost({self.name!r})"

    # --- lookups that fail as RabbitMQ fails ------------------------------------------------

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelError(NOT_FOUND, f"no {resource('queue', name, self.name)}")
        return queue

    def exchange(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise ChannelError(NOT_FOUND, f"no {resource('exchange', name, self.name)}")
        return exchange

    # --- routing ------------------------------------------------------------------------------

    def route(self, exchange: Exchange, message: Message) -> list[Queue]:
        """The queues a message reaches, each once, following exchange-to-exchange bindings
        and alternate exchanges (used by an exchange whose own bindings matched nothing). Every
        exchange on the way routes by the routing key and by the keys of the CC and BCC headers."""
        key = message.routing_key
        cc = message.cc
        headers = message.properties.headers
        tracing = self.broker.tracing
        found: dict[Queue, None] = {}
        seen = {exchange}
        pending = deque((exchange,))
        while pending:
            source = pending.popleft()
            matched = False
            routed = source.router.route(key, headers) if not cc else _routed_by(source, (key, *cc), headers)
            for destination in cast("Iterable[Queue | Exchange]", routed):
                matched = True
                if tracing:
                    self.broker.emit(
                        EventKind.ROUTE, self.name, source.node, destination.node, message.id, key
                    )
                if isinstance(destination, Queue):
                    found[destination] = None
                elif destination not in seen:
                    seen.add(destination)
                    pending.append(destination)
            if not matched and (source.arguments or source.policy is not None):
                alternate = self.exchanges.get(source.alternate or "")
                if alternate is not None and alternate is not source and alternate not in seen:
                    if tracing:
                        self.broker.emit(
                            EventKind.ROUTE,
                            self.name,
                            source.node,
                            alternate.node,
                            message.id,
                            key,
                            alternate=True,
                        )
                    seen.add(alternate)
                    pending.append(alternate)
        return list(found)

    # --- declared things -----------------------------------------------------------------------

    def add_exchange(self, exchange: Exchange) -> Exchange:
        self.exchanges[exchange.name] = exchange
        if self.policies or self.operator_policies:
            self.broker.apply_exchange_policy(exchange, self)
        if self.broker.keeping and keeps_exchange(exchange, self.broker.profile):
            self.broker.keep(KeepExchange(exchange))
        return exchange

    def add_queue(self, queue: Queue) -> Queue:
        """A new queue (its type's rules already applied); the vhost's policies apply to it."""
        self.queues[queue.name] = queue
        if self.policies or self.operator_policies:
            self.broker.apply_queue_policy(queue)
        if queue.keeps:
            self.broker.keep(KeepQueue(queue))
        return queue

    # --- bindings -----------------------------------------------------------------------------

    def add_binding(
        self,
        source: Exchange,
        destination: Queue | Exchange,
        routing_key: str,
        arguments: Mapping[str, Any],
        *,
        keep: bool = True,
    ) -> None:
        """Bind (binding twice is a no-op). `keep=False` when the binding comes from the store."""
        binding = Binding(source, destination, routing_key, arguments)
        if binding.key in source.outgoing:
            return
        source.router.add(routing_key, binding.arguments, destination)
        source.outgoing[binding.key] = binding
        destination.incoming[binding.key] = binding
        if keep and self.broker.keeping and keeps_binding(binding, self.broker.profile):
            self.broker.keep(KeepBinding(self.name, binding))
        if self.broker.tracing:
            self.broker.emit(
                EventKind.BIND,
                self.name,
                source.node,
                destination.node,
                routing_key=routing_key,
                arguments=binding.arguments,
            )

    def remove_binding(self, binding: Binding) -> None:
        source = binding.source
        del source.outgoing[binding.key]
        del binding.destination.incoming[binding.key]
        source.router.remove(binding.routing_key, binding.arguments, binding.destination)
        if self.broker.keeping and keeps_binding(binding, self.broker.profile):
            self.broker.keep(ForgetBinding(self.name, binding))
        if self.broker.tracing:
            self.broker.emit(
                EventKind.UNBIND,
                self.name,
                source.node,
                binding.destination.node,
                routing_key=binding.routing_key,
                arguments=binding.arguments,
            )
        if source.auto_delete and not source.outgoing and self.exchanges.get(source.name) is source:
            self.delete_exchange(source, reason="auto-delete")

    # --- deletion cascades ----------------------------------------------------------------------

    def delete_exchange(self, exchange: Exchange, *, reason: str = "deleted") -> None:
        del self.exchanges[exchange.name]
        for binding in list(exchange.outgoing.values()) + list(exchange.incoming.values()):
            if binding.key in binding.source.outgoing:
                self.remove_binding(binding)
        if self.broker.keeping and keeps_exchange(exchange, self.broker.profile):
            self.broker.keep(ForgetExchange(self.name, exchange.name))
        if self.broker.tracing:
            self.broker.emit(EventKind.DELETE, self.name, exchange.node, reason=reason)

    def delete_queue(self, queue: Queue, *, reason: str = "deleted") -> int:
        """Remove a queue; its ready messages are dropped, its consumers told (basic.cancel).
        Returns how many ready messages it held."""
        del self.queues[queue.name]
        queue.deleted = True
        for binding in list(queue.incoming.values()):
            self.remove_binding(binding)
        for consumer in list(queue.consumers):
            consumer.channel.forget_consumer(consumer, notify=ConsumerCancelled(consumer.tag))
        if queue.owner is not None:
            queue.owner.exclusive_queues.pop(queue.name, None)
        if queue.keeps:
            self.broker.keep(ForgetQueue(self.name, queue.name))
        count = len(queue.ready)
        broker = self.broker
        if broker.tracing:
            for entry in queue.ready:
                broker.emit(
                    EventKind.DROP, self.name, queue.node, message=entry.message.id, reason="queue-deleted"
                )
            broker.emit(EventKind.DELETE, self.name, queue.node, reason=reason, messages=count)
        queue.ready.clear()
        return count


def _routed_by(source: Exchange, keys: Iterable[str], headers: Mapping[str, Any] | None) -> dict[Any, None]:
    """Where `source` sends a message routed by several keys (its routing key and its CC and BCC
    keys): every destination any key reaches, once."""
    return {target: None for key in keys for target in source.router.route(key, headers)}
