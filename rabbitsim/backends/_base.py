"""What every backend hands back: one handle, whether the broker is simulated or real."""

from __future__ import annotations

import functools
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from rabbitsim.vocabulary import EventSource, Topology

from ._management import ManagementClient

if TYPE_CHECKING:  # imported where used: the simulator's own process needs none of them
    import pika

    from ._ctl import CtlOutput
    from ._recording import Trace


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot run here (no Docker, no broker at the URL); the message says
    what to use instead."""


class BrokerClosed(RuntimeError):
    """A closed handle was used: said at once, with who closed it and what to do, rather than
    as pika's empty `AMQPConnectionError` from a port nobody listens on any more."""

    def __init__(self, by: str) -> None:
        super().__init__(
            f"this broker is closed (by {by}); run the chapter's first cell again to start a new one"
        )
        self.by = by

    def __reduce__(self) -> tuple[type[BrokerClosed], tuple[str]]:
        return (type(self), (self.by,))  # as built, when it crosses the simulator's pipe


#: What a closed handle refuses (`url`, and what is derived from it, too): the operations that
#: would otherwise reach for a broker that is gone, in every backend.
GUARDED = frozenset(
    {
        "topology",
        "events",
        "trace",
        "ctl",
        "restart",
        "alarms",
        "alarm_status",
        "set_vm_memory_high_watermark",
        "set_disk_free_limit",
        "simulate_free_disk",
        "rabbitmqctl",
    }
)


def _refused_when_closed(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: BrokerHandle, *arguments: Any, **options: Any) -> Any:
        self.check_open()
        return method(self, *arguments, **options)

    guarded.refused_when_closed = True  # type: ignore[attr-defined]
    return guarded


class BrokerHandle(ABC):
    """A running broker. Connect with `.parameters` (pika) or `.url` (any AMQP client); look
    inside with `.topology()`, follow it with `.events()` or record it with `.trace()`; stop
    with `.close()` or a `with` block. Once closed, it raises `BrokerClosed` when used.

    Subclasses stop their broker in `_shutdown`; `close` makes a second call harmless and
    remembers who closed it, for the error."""

    backend: ClassVar[str]
    management_url: str | None = None
    _url: str = ""
    #: who closed this handle ("broker.close()", ...), None while it is open
    closed_by: str | None = None
    #: how many `with` blocks are using it now: `start` does not replace a broker in use so
    _entered: int = 0

    def __init_subclass__(cls, **options: Any) -> None:
        """Every backend's `GUARDED` operations (its own or inherited, from mixins too) check
        first that the handle is open: one rule in one place, not a line in each method."""
        super().__init_subclass__(**options)
        for name in GUARDED:
            method = getattr(cls, name, None)
            if callable(method) and not getattr(method, "refused_when_closed", False):
                setattr(cls, name, _refused_when_closed(method))

    @property
    def url(self) -> str:
        """The broker's AMQP URL (with its credentials)."""
        self.check_open()
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        self._url = value

    @property
    def closed(self) -> bool:
        return self.closed_by is not None

    def check_open(self) -> None:
        """Raise `BrokerClosed` if this handle was closed."""
        if self.closed_by is not None:
            raise BrokerClosed(self.closed_by)

    @property
    def parameters(self) -> pika.URLParameters:
        """pika's parameters for this broker, with heartbeats off: a notebook's blocking
        connection only answers heartbeats while a cell runs, so while the learner reads, the
        broker would close it as dead (after two missed 60 s beats). `.url` keeps the default."""
        import pika

        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = 0
        return parameters

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 5672

    @abstractmethod
    def topology(self) -> Topology: ...

    @abstractmethod
    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> EventSource:
        """A new source of this broker's events, for one recording. `timeout` bounds each wait;
        `settle` (real brokers) is how long to let the management statistics catch up at the
        end so acks can be derived (see docs/tracing.md)."""

    @abstractmethod
    def restart(self, *, kill: bool = False) -> None:
        """Stop the broker and start it again: cleanly, as `rabbitmqctl stop` (clients are told it
        shuts down), or, `kill=True`, by SIGKILL, as a crash. What comes back is what the broker
        keeps: durable exchanges, queues and bindings, persistent messages. Open connections
        are gone either way; `.url` may change (a container's port)."""

    @abstractmethod
    def set_vm_memory_high_watermark(self, value: float | int | str) -> None:
        """As `rabbitmqctl set_vm_memory_high_watermark`: a fraction of the total memory (0.4), or
        absolute bytes (2_000_000_000 or "2GB"). Above it the memory alarm blocks publishers."""

    @abstractmethod
    def set_disk_free_limit(
        self, value: int | str | None = None, *, mem_relative: float | None = None
    ) -> None:
        """As `rabbitmqctl set_disk_free_limit`: bytes (50_000_000 or "1GB"), or `mem_relative=1.5`
        times the total memory. Below it the disk alarm blocks publishers."""

    @abstractmethod
    def alarms(self) -> list[str]:
        """The resource alarms on now: "disk", "memory", both or none (`_alarms`)."""

    def close(self) -> None:
        """Stop the broker (a URL's broker is only let go of: it is not ours): its port, threads
        and process go. Closing again does nothing."""
        self.close_as("broker.close()")

    def close_as(self, by: str, **options: Any) -> None:
        """Close, remembering `by` (who closed it) for the `BrokerClosed` errors that follow."""
        if self.closed_by is not None:
            return
        self.closed_by = by
        self._shutdown(**options)

    @abstractmethod
    def _shutdown(self) -> None:
        """Stop the broker and free what it holds; called once, by `close_as`."""

    def ctl(self, command: str) -> CtlOutput:
        """Run a rabbitmqctl command line on this broker, through its management API:
        `broker.ctl("list_queues name messages_ready messages_unacknowledged")` returns exactly
        what rabbitmqctl prints (its `.rows` hold the table), or raises CtlError with
        rabbitmqctl's error text and exit code. `set_disk_free_limit` uses this handle's own, and
        on the simulator `stop` stops it (`close`); a real broker is not stopped from here."""
        if self.management_url is None:
            raise BackendUnavailable(f"{self!r} has no management API, which ctl speaks through")
        hooks: dict[str, Callable[..., None]] = {"set_disk_free_limit": self.set_disk_free_limit}
        if self.backend == "sim":
            hooks["stop"] = lambda: self.close_as('ctl("stop")')
        from ._ctl import Ctl

        return Ctl(ManagementClient(self.management_url), hooks=hooks)(command)

    def trace(self, *, timeout: float = 5.0, settle: float = 0.0) -> Trace:
        """Record what the broker does: `with broker.trace() as t: ...`, then `print(t)`.
        `timeout` and `settle` are as for `events`."""
        from ._recording import Trace

        return Trace(self.events(timeout=timeout, settle=settle), self.backend)

    def __enter__(self) -> Self:
        self._entered += 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._entered -= 1
        self.close_as("the end of its with block")

    def __repr__(self) -> str:
        closed = "" if self.closed_by is None else f", closed by {self.closed_by}"
        return f"{type(self).__name__}({self._url!r}{closed})"

    @property
    def shown_url(self) -> str:
        """`.url` without its password, to print (works on a closed handle too)."""
        parts = urllib.parse.urlsplit(self._url)
        if parts.password is None:
            return self._url
        netloc = parts.netloc.rsplit("@", 1)[1]
        if parts.username is not None:
            netloc = f"{parts.username}@{netloc}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def with_credentials(url: str, username: str, password: str) -> str:
    """`url` with `username:password@` put in (or replaced), for URLs derived from another."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
