"""rabbitsim: learn RabbitMQ by running it, on a faithful simulated broker or a real one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rabbitsim._language import language
from rabbitsim._version import __version__

__all__ = ["BrokerClosed", "__version__", "language", "start"]

if TYPE_CHECKING:
    from rabbitsim.backends import BrokerClosed, BrokerHandle


def start(backend: str | None = None, *, replace: bool | None = None, **options: Any) -> BrokerHandle:
    """Start a broker and return its handle (`.url`, `.parameters`, `.topology()`, `.close()`).

    `backend` is "sim" (the embedded simulator, the default), "container" (a real RabbitMQ
    through testcontainers) or "url" (an existing broker); RABBITSIM_BACKEND chooses when
    the argument is left out, so a notebook's first cell never changes. Imported lazily so
    that `rabbitsim.broker` (the pure core) loads without sockets or pika.

    In a notebook, starting again replaces: the brokers started before in this kernel are closed
    first (a line says so; one a `with` block is using is kept), so re-running the first cell
    leaves one broker. `replace=False` keeps them (two brokers on purpose); `replace=True` asks
    for it in a program, where it is off by default. A closed handle raises `BrokerClosed`."""
    from rabbitsim.backends import start as start_backend

    return start_backend(backend, replace=replace, **options)


def __getattr__(name: str) -> Any:
    """`rabbitsim.BrokerClosed`, imported only when asked for (as `start` imports the backends)."""
    if name == "BrokerClosed":
        from rabbitsim.backends import BrokerClosed

        return BrokerClosed
    raise AttributeError(f"module 'rabbitsim' has no attribute {name!r}")
