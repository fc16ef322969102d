"""The embedded simulator: a broker core served over AMQP by a daemon thread, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from rabbitsim.admin import AdminServer
from rabbitsim.amqp import AMQPServer
from rabbitsim.broker import (
    DEFAULT_CONSUMER_TIMEOUT,
    DEFAULT_PROFILE,
    DEFAULT_TICK_INTERVAL,
    Broker,
    Exchange,
    Stream,
)
from rabbitsim.store import Store, StoreError
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

from ._alarms import SimulatorAlarms
from ._base import BackendUnavailable, BrokerHandle
from ._data_dir import DataDir
from ._management import MANAGEMENT_PORT_OFFSET, ManagementClient
from ._sim_source import SimSource

if TYPE_CHECKING:
    import pika

MAX_PORT = 65535
#: The core's clock: real time. Its events are stamped with it, and so is a recording's start.
CLOCK = time.monotonic


def management_port_for(amqp_port: int, management_port: int | None) -> int | None:
    """Where the management API listens: `management_port` if given (0: any free port; a
    negative number: nowhere), else the AMQP port + 10000 (5672 -> 15672, as RabbitMQ's
    defaults), or a free port when the AMQP port is free too or the sum is no port."""
    if management_port is None:
        derived = amqp_port + MANAGEMENT_PORT_OFFSET
        return derived if amqp_port and derived <= MAX_PORT else 0
    return None if management_port < 0 else management_port


class EmbeddedBroker(SimulatorAlarms, BrokerHandle):
    """A running simulated RabbitMQ. `.broker` is the core; touch it only through
    `.server.call(...)`, which runs on the thread that owns it.

    What RabbitMQ keeps across a restart is stored in `data_dir` (SQLite); without one, in a
    temporary directory removed at `close`. A broker started on a directory an earlier one
    used comes back with its durable exchanges, queues, bindings and persistent messages.

    RabbitMQ's management HTTP API (`rabbitsim.admin`) is served beside it on the same loop:
    `management_url` (with guest's credentials) and `management` (a `ManagementClient`), on
    `management_port` (by default the AMQP port + 10000; see `management_port_for`)."""

    backend = "sim"
    admin: AdminServer | None = None
    management: ManagementClient | None = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        profile: str = DEFAULT_PROFILE.name,
        data_dir: str | os.PathLike[str] | None = None,
        consumer_timeout: int | None = DEFAULT_CONSUMER_TIMEOUT,
        channel_tick_interval: int = DEFAULT_TICK_INTERVAL,
        management_port: int | None = None,
    ) -> None:
        self.profile = profile
        self._management_port = management_port
        #: RabbitMQ's settings of the same names (ms), given to the broker at each start
        self.consumer_timeout = consumer_timeout
        self.channel_tick_interval = channel_tick_interval
        self._data = DataDir.given(data_dir)
        self.data_dir = self._data.path
        try:
            self._start(host, port)
        except BaseException:
            self._data.remove_if_temporary()
            raise

    def _start(self, host: str, port: int) -> None:
        try:
            self.store = Store(self.data_dir)
        except StoreError as error:
            raise BackendUnavailable(str(error)) from error
        try:
            self.broker = Broker(
                clock=CLOCK,
                profile=self.profile,
                consumer_timeout=self.consumer_timeout,
                channel_tick_interval=self.channel_tick_interval,
            )
            self.store.load(self.broker)
            self.server = AMQPServer(
                self.broker,
                host,
                port,
                keeper=self.store.take,
                commit=self.store.commit,
                data_dir=self.data_dir,
            )
        except BaseException:
            self.store.abandon()
            raise
        self.url = f"amqp://guest:guest@{host}:{self.server.port}/%2F"
        self._start_admin(host)

    def _start_admin(self, host: str) -> None:
        """The management API on the AMQP server's loop; a restart finds it on the same port.
        A port derived from the AMQP port that is taken falls back to a free one (the URL
        says where); a port asked for explicitly must be free."""
        port = management_port_for(self.server.port, self._management_port)
        if port is None:
            return
        try:
            loop = self.server.call(asyncio.get_running_loop)
            try:
                self.admin = self._admin_on(loop, host, port)
            except OSError:
                if self._management_port is not None or port == 0:
                    raise
                self.admin = self._admin_on(loop, host, 0)
        except BaseException:
            self.server.close()
            self.store.abandon()
            raise
        self._management_port = self.admin.port  # kept across restarts
        self.management_url = self.admin.url
        self.management = ManagementClient(self.management_url)

    def _admin_on(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> AdminServer:
        return AdminServer(
            self.broker,
            loop,
            host=host,
            port=port,
            amqp_port=self.server.port,
            after=self.server.schedule_flush,
        )

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same port and data dir. A clean stop (the default) is
        `rabbitmqctl stop`'s: clients are told the broker shuts down, and everything is
        stored; `kill=True` is a crash: sockets drop, and only what was committed (everything
        a publisher saw confirmed) comes back."""
        self._stop(clean=not kill)
        self._start(self.host, self.port)

    def _stop(self, *, clean: bool) -> None:
        if self.admin is not None:
            self.admin.close()
        self.server.close(clean=clean)
        if clean:
            self.store.close()
        else:
            self.store.abandon()  # a crash: what was not committed is lost

    @property
    def parameters(self) -> pika.ConnectionParameters:
        """As for every backend: heartbeats off, so an idle notebook connection stays up."""
        import pika  # here: the simulator's own process never connects as a client

        return pika.ConnectionParameters(host=self.host, port=self.port, heartbeat=0)

    def topology(self) -> Topology:
        return self.server.call(self._snapshot)

    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> SimSource:
        """The core's own events, complete: `settle` has nothing to wait for here."""
        return SimSource(self.server, self._snapshot, CLOCK, timeout=timeout)

    def _snapshot(self) -> Topology:
        return snapshot(self.broker)

    def close(self, *, clean: bool = False) -> None:
        """Stop: connections are dropped (or, `clean`, closed as at a shutdown), what is
        pending is stored, and a temporary data dir goes. Closing again does nothing."""
        self.close_as("broker.close()", clean=clean)

    def _shutdown(self, *, clean: bool = False) -> None:
        if self.server.closed:
            return
        if self.admin is not None:
            self.admin.close()
        self.server.close(clean=clean)
        self.store.close()
        self._data.remove_if_temporary()


def _provided_name(client_properties: dict[str, Any]) -> str | None:
    """The `connection_name` a client gave, as the management API shows it (`user_provided_name`)."""
    name = client_properties.get("connection_name")
    return None if name is None else str(plain(name))


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
            offsets = queue.offsets if isinstance(queue, Stream) else None
            ready, unacked = queue.message_counts
            queues.append(
                QueueInfo(
                    vhost.name,
                    queue.name,
                    queue.type,
                    queue.durable,
                    queue.auto_delete,
                    queue.exclusive,
                    ready,
                    unacked,
                    len(queue.consumers),
                    plain(
                        {"x-queue-type": queue.type, **queue.arguments}
                        if records_queue_type
                        else queue.arguments
                    ),
                    first_offset=offsets[0] if offsets else None,
                    committed_offset=offsets[1] if offsets else None,
                )
            )
            bindings.append(BindingInfo(vhost.name, "", queue.name, "queue", queue.name, {}))
    for connection in broker.connections.values():
        connections.append(
            ConnectionInfo(
                connection.name,
                connection.vhost.name,
                connection.user,
                len(connection.channels),
                client_provided_name=_provided_name(connection.client_properties),
            )
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
