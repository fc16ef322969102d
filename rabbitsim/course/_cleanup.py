"""Leave the broker as the chapter found it. On the simulator a new `rabbitsim.start()` is
empty anyway; on a real broker, queues and exchanges would otherwise pile up between runs."""

from __future__ import annotations

from collections.abc import Iterable

import pika
import pika.exceptions

from rabbitsim.backends import BrokerHandle


def cleanup(broker: BrokerHandle, *, queues: Iterable[str] = (), exchanges: Iterable[str] = ()) -> list[str]:
    """Delete the named queues and exchanges that exist; returns what was deleted. Missing
    ones are skipped (a 404 closes only the throwaway channel that asked)."""
    deleted: list[str] = []
    parameters = pika.URLParameters(broker.url)
    parameters.client_properties = {"connection_name": "cleanup"}
    with pika.BlockingConnection(parameters) as connection:
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                channel = connection.channel()
                try:
                    if kind == "queue":
                        channel.queue_declare(name, passive=True)
                        channel.queue_delete(name)
                    else:
                        channel.exchange_declare(name, passive=True)
                        channel.exchange_delete(name)
                except pika.exceptions.ChannelClosedByBroker:
                    continue  # not there (404), or another connection's exclusive queue (405)
                deleted.append(f"{kind} {name}")
                channel.close()
    return deleted
