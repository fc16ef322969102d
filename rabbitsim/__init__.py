"""rabbitsim: learn RabbitMQ by running it, on a faithful simulated broker or a real one."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["__version__", "start"]

if TYPE_CHECKING:
    from rabbitsim._embedded import EmbeddedBroker


def start(host: str = "127.0.0.1", port: int = 0, *, profile: str = "4.0") -> EmbeddedBroker:
    """Start the embedded simulator on a free port of 127.0.0.1 and return its handle.

    Imported lazily so that `rabbitsim.broker` (the pure core) loads without sockets or pika.
    Real RabbitMQ backends (a container, or any AMQP URL) come with the backends layer."""
    from rabbitsim._embedded import EmbeddedBroker

    return EmbeddedBroker(host, port, profile=profile)
