"""A channel for the API's own work. RabbitMQ's management plugin declares, binds, publishes
and gets through a direct (in-node) AMQP connection, so every check and reply text is the
channel's; here the same: a connection the core knows by name only for the request, never
listed, whose replies go nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rabbitsim.broker import AMQPError, Broker, Channel, Connection

from ._http import DECLARE, ApiError, from_amqp

#: the name the API's connection carries (seen only in events while a request runs)
DIRECT_NAME = "rabbitsim management"


@contextmanager
def direct_channel(broker: Broker, vhost: str, user: str, *, style: str = DECLARE) -> Iterator[Channel]:
    """A fresh channel on `vhost` as `user`; AMQP errors become the API's answers (`from_amqp`)."""
    found = broker.vhosts.get(vhost)
    if found is None:
        raise ApiError(404, "not_found", "vhost_not_found")
    connection = Connection(broker, found, user, DIRECT_NAME)
    channel = Channel(connection, 1)  # not `open_channel`: no event for a channel nobody sees
    connection.channels[1] = channel
    try:
        yield channel
    except AMQPError as error:
        raise from_amqp(error, style) from None
    finally:
        if channel.is_open and (channel.unacked or channel.consumers):
            channel.shut_down(None)
        # its replies and returns have nobody to go to
        broker.output[:] = [item for item in broker.output if item[0] is not connection]
