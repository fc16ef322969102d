"""The embedded simulator: a broker core served over AMQP by a daemon thread, on 127.0.0.1."""

from __future__ import annotations

import time

import pika

from rabbitsim.amqp import AMQPServer
from rabbitsim.broker import DEFAULT_PROFILE, Broker, Exchange
from rabbitsim.vocabulary import (
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    QueueInfo,
    Topology,
    plain,
)

from ._base import BrokerHandle
from ._sim_source import SimSource

#: The core's clock: real time. Its events are stamped with it, and so is a recording's start.
CLOCK = time.monotonic


class EmbeddedBroker(BrokerHandle):
    """A running simulated RabbitMQ. `.broker` is the core; touch it only through
    `.server.call(...)`, which runs on the thread that owns it."""

    backend = "sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, profile: str = DEFAULT_PROFILE.name
    ) -> None:
        self.broker = Broker(clock=CLOCK, profile=profile)
        self.server = AMQPServer(self.broker, host, port)
        self.profile = profile
        self.url = f"amqp://guest:guest@{host}:{self.server.port}/%2F"

    @property
    def parameters(self) -> pika.ConnectionParameters:
        """As for every backend: heartbeats off, so an idle notebook connection stays up."""
        return pika.ConnectionParameters(host=self.host, port=self.port, heartbeat=0)

    def topology(self) -> Topology:
        return self.server.call(self._snapshot)

    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> SimSource:
        """The core's own events, complete: `settle` has nothing to wait for here."""
        return SimSource(self.server, self._snapshot, CLOCK, timeout=timeout)

    def _snapshot(self) -> Topology:
        return snapshot(self.broker)

    def close(self) -> None:
        self.server.close()


def snapshot(broker: Broker) -> Topology:
    """The core's state as a `Topology`, with the names and implicit bindings RabbitMQ shows."""
    exchanges, queues, bindings, consumers, channels, connections = [], [], [], [], [], []
    records_queue_type = broker.profile.records_queue_type
    for vhost in broker.vhosts.values():
        for exchange in vhost.exchanges.values():
            exchanges.append(
                ExchangeInfo(
                    vhost.name,
                    exchange.name,
                    exchange.type,
                    exchange.durable,
                    exchange.auto_delete,
                    exchange.internal,
                    plain(exchange.arguments),
                )
            )
            for binding in exchange.outgoing.values():
                destination = binding.destination
                bindings.append(
                    BindingInfo(
                        vhost.name,
                        exchange.name,
                        destination.name,
                        "exchange" if isinstance(destination, Exchange) else "queue",
                        binding.routing_key,
                        plain(binding.arguments),
                    )
                )
        for queue in vhost.queues.values():
            queues.append(
                QueueInfo(
                    vhost.name,
                    queue.name,
                    queue.type,
                    queue.durable,
                    queue.auto_delete,
                    queue.exclusive,
                    len(queue.ready),
                    queue.unacked,
                    len(queue.consumers),
                    plain(
                        {"x-queue-type": queue.type, **queue.arguments}
                        if records_queue_type
                        else queue.arguments
                    ),
                )
            )
            bindings.append(BindingInfo(vhost.name, "", queue.name, "queue", queue.name, {}))
    for connection in broker.connections.values():
        connections.append(
            ConnectionInfo(connection.name, connection.vhost.name, connection.user, len(connection.channels))
        )
        for number, channel in connection.channels.items():
            name = f"{connection.name} ({number})"
            channels.append(
                ChannelInfo(
                    name,
                    connection.name,
                    number,
                    channel.consumer_prefetch,
                    channel.global_prefetch,
                    len(channel.unacked),
                    len(channel.consumers) + (channel.reply_consumer is not None),
                    channel.confirming,
                    channel.transaction is not None,
                )
            )
            for consumer in channel.consumers.values():
                consumers.append(
                    ConsumerInfo(
                        connection.vhost.name,
                        consumer.queue.name,
                        consumer.tag,
                        name,
                        not consumer.no_ack,
                        consumer.prefetch,
                        consumer.exclusive,
                        plain(consumer.arguments),
                    )
                )
    return Topology.sorted(
        exchanges=exchanges,
        queues=queues,
        bindings=bindings,
        consumers=consumers,
        channels=channels,
        connections=connections,
    )
