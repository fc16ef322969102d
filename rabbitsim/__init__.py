"""rabbitsim: learn RabbitMQ by running it, on a faithful simulated broker or a real one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rabbitsim._version import __version__

__all__ = ["__version__", "start"]

if TYPE_CHECKING:
    from rabbitsim.backends import BrokerHandle


def start(backend: str | None = None, **options: Any) -> BrokerHandle:
    """Start a broker and return its handle (`.url`, `.parameters`, `.topology()`, `.close()`).

    `backend` is "sim" (the embedded simulator, the default), "container" (a real RabbitMQ
    through testcontainers) or "url" (an existing broker); RABBITSIM_BACKEND chooses when
    the argument is left out, so a notebook's first cell never changes. Imported lazily so
    that `rabbitsim.broker` (the pure core) loads without sockets or pika."""
    from rabbitsim.backends import start as start_backend

    return start_backend(backend, **options)
