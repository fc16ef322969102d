"""A client connection as the broker sees it: its channels and its exclusive queues."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import EventKind, Node, NodeKind

from ._channel import Channel
from ._errors import CHANNEL_ERROR, REPLY_SUCCESS, AMQPError, ConnectionError
from ._output import Outbound
from ._queue import Queue

if TYPE_CHECKING:
    from ._broker import Broker
    from ._vhost import VHost


class Connection:
    def __init__(self, broker: Broker, vhost: VHost, user: str, name: str) -> None:
        self.broker = broker
        self.vhost = vhost
        self.user = user
        self.name = name
        self.is_open = True
        self.channels: dict[int, Channel] = {}
        self.exclusive_queues: dict[str, Queue] = {}
        self.peer: object = None  # free for an adapter to attach its own side; the core never reads it
        #: what the management API and `rabbitmqctl list_connections` show; the wire adapter fills it
        self.client_properties: dict[str, Any] = {}
        self.peer_host = self.host = ""
        self.peer_port = self.port = 0
        self.connected_at = int((broker.wall_clock or broker.clock)() * 1000)  # ms, as RabbitMQ
        self.channel_max = 0
        self.frame_max = 0
        self.heartbeat = 0
        self.close_reason: AMQPError | None = None
        self.node = Node(NodeKind.CONNECTION, name, name)

    def __repr__(self) -> str:
        return f"Connection({self.name!r}, vhost={self.vhost.name!r}, user={self.user!r})"

    @property
    def network_name(self) -> str:
        """RabbitMQ's name for a network connection, `127.0.0.1:54321 -> 127.0.0.1:5672`, as its
        management API, rabbitmqctl and firehose show it (the client's `connection_name` beside
        it). The core's own `name`, which its events and snapshots use, is the client's name or
        `connection-N`, so that a course's pictures read well; without a socket, it is that."""
        if not self.peer_host:
            return self.name
        return f"{self.peer_host}:{self.peer_port} -> {self.host}:{self.port}"

    def open_channel(self, number: int) -> Channel:
        if not self.is_open:
            raise ConnectionError(CHANNEL_ERROR, "connection is closed", "channel.open")
        if number in self.channels:
            error = ConnectionError(CHANNEL_ERROR, "second 'channel.open' seen", "channel.open")
            self.shut_down(error)
            raise error
        self.broker.check_channel_limit(self.user)
        channel = self.channels[number] = Channel(self, number)
        if self.broker.tracing:
            self.broker.emit(EventKind.CHANNEL_OPENED, self.vhost.name, channel.node)
        return channel

    def channel(self, number: int, method: str | None = None) -> Channel:
        """The open channel `number`; using one never opened is a hard error (504) that names
        the `method` the client sent on it."""
        channel = self.channels.get(number)
        if channel is None:
            error = ConnectionError(CHANNEL_ERROR, "expected 'channel.open'", method)
            self.shut_down(error)
            raise error
        return channel

    def send(self, channel: int, item: Outbound) -> None:
        """Tell this connection something on `channel`, by way of the broker's output road."""
        self.broker.output.append((self, channel, item))

    def close(self) -> None:
        """connection.close from the client, or the socket gone: same cleanup."""
        self.shut_down(None)

    def shut_down(self, error: AMQPError | None) -> None:
        """Close every channel (requeueing their unacked messages), then delete this
        connection's exclusive queues."""
        if not self.is_open:
            return
        self.is_open = False
        self.close_reason = error
        for channel in list(self.channels.values()):
            channel.shut_down(None)
        for queue in list(self.exclusive_queues.values()):
            if not queue.deleted:
                self.vhost.delete_queue(queue, reason="exclusive-owner-closed")
        self.exclusive_queues.clear()
        self.broker.connections.pop(self.name, None)
        # a closed connection is told nothing more: what was on its way to it is dropped
        output = self.broker.output
        output[:] = [item for item in output if item[0] is not self]
        if self.broker.tracing:
            self.broker.emit(
                EventKind.CONNECTION_CLOSED,
                self.vhost.name,
                self.node,
                reply_code=error.reply_code if error else REPLY_SUCCESS,
                reply_text=error.reply_text if error else "",
            )
