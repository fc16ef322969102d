"""rabbitsim: learn RabbitMQ by running it, on a faithful simulated broker or a real one."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "start"]


def start(host: str = "127.0.0.1", port: int = 0, *, profile: str = "4.0") -> "EmbeddedBroker":  # noqa: UP037
    """Start the embedded simulator on a free port of 127.0.0.1 and return its handle.

    Real RabbitMQ backends (a container, or any AMQP URL) come with the backends layer."""
    from rabbitsim._embedded import EmbeddedBroker

    return EmbeddedBroker(host, port, profile=profile)


from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from rabbitsim._embedded import EmbeddedBroker
