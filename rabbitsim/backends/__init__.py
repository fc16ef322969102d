"""Where the broker lives: the simulator in a process of its own (the default) or in this one, a
RabbitMQ container, or any broker by URL. Every backend returns the same handle (`BrokerHandle`),
so a chapter never changes; each handle supplies its own event source (`handle.events()`), which
`handle.trace()` records."""

from __future__ import annotations

import os
import sys
import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rabbitsim._lazy import lazy_names

from ._base import BackendUnavailable, BrokerClosed, BrokerHandle

if TYPE_CHECKING:
    from ._compare import FIREHOSE_KINDS, FlowStep, flow
    from ._container import ContainerBroker
    from ._ctl import Ctl, CtlError, CtlOutput
    from ._embedded import EmbeddedBroker, snapshot
    from ._firehose import FirehoseConverter
    from ._firehose_source import FirehoseSource
    from ._management import ManagementClient, ManagementError
    from ._process import ChildSource, ProcessBroker
    from ._real import RealBroker
    from ._recording import Snapshots, Trace, TraceIncomplete
    from ._settle import QueueStats, settlements
    from ._sim_source import SimSource
    from ._url import UrlBroker

#: Where each public name lives, imported when first asked for: the simulator's own process
#: needs only the simulator, and a notebook's first cell should not wait for rabbitmqctl's
#: command table, the container backend or the firehose.
_LAZY: dict[str, str] = {
    "FIREHOSE_KINDS": "_compare",
    "FlowStep": "_compare",
    "flow": "_compare",
    "ContainerBroker": "_container",
    "Ctl": "_ctl",
    "CtlError": "_ctl",
    "CtlOutput": "_ctl",
    "EmbeddedBroker": "_embedded",
    "snapshot": "_embedded",
    "FirehoseConverter": "_firehose",
    "FirehoseSource": "_firehose_source",
    "ManagementClient": "_management",
    "ManagementError": "_management",
    "ChildSource": "_process",
    "ProcessBroker": "_process",
    "RealBroker": "_real",
    "Snapshots": "_recording",
    "Trace": "_recording",
    "TraceIncomplete": "_recording",
    "QueueStats": "_settle",
    "settlements": "_settle",
    "SimSource": "_sim_source",
    "UrlBroker": "_url",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "BACKENDS",
    "FIREHOSE_KINDS",
    "BackendUnavailable",
    "BrokerClosed",
    "BrokerHandle",
    "ChildSource",
    "ContainerBroker",
    "Ctl",
    "CtlError",
    "CtlOutput",
    "EmbeddedBroker",
    "FirehoseConverter",
    "FirehoseSource",
    "FlowStep",
    "ManagementClient",
    "ManagementError",
    "ProcessBroker",
    "QueueStats",
    "RealBroker",
    "SimSource",
    "Snapshots",
    "Trace",
    "TraceIncomplete",
    "UrlBroker",
    "flow",
    "settlements",
    "simulator",
    "snapshot",
    "start",
]


def simulator(*, in_process: bool | None = None, **options: Any) -> ProcessBroker | EmbeddedBroker:
    """The simulated broker: in a process of its own, unless `in_process` (or, when it is left
    out, RABBITSIM_IN_PROCESS=1) asks for it in this one, for places that cannot start a process
    (the embedded broker then shares this interpreter, and its speed, with the client)."""
    if in_process is None:
        in_process = os.environ.get("RABBITSIM_IN_PROCESS", "") not in ("", "0")
    if in_process:
        from ._embedded import EmbeddedBroker

        return EmbeddedBroker(**options)
    from ._process import ProcessBroker

    return ProcessBroker(**options)


def container(**options: Any) -> ContainerBroker:
    """A RabbitMQ container started through testcontainers (Docker)."""
    from ._container import ContainerBroker

    return ContainerBroker(**options)


def url(**options: Any) -> UrlBroker:
    """Any running RabbitMQ, by URL."""
    from ._url import UrlBroker

    return UrlBroker(**options)


#: Backend names (as given to `start` or in RABBITSIM_BACKEND) and what starts them.
BACKENDS: dict[str, Callable[..., BrokerHandle]] = {"sim": simulator, "container": container, "url": url}


#: The handles `start` returned in this process that may still be open, oldest first.
_started: list[BrokerHandle] = []
#: Those found closed since (kept: objects made with them may still be used by mistake).
_closed: list[BrokerHandle] = []
_starting = threading.Lock()


def _interactive() -> bool:
    """Whether code here may be run again by hand: a notebook's kernel or an IPython shell (an
    IPython shell exists), or Python's own interactive prompt."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        return True
    return hasattr(sys, "ps1") or bool(sys.flags.interactive)


def start(backend: str | None = None, *, replace: bool | None = None, **options: Any) -> BrokerHandle:
    """Start (or reach) a broker. `backend` defaults to RABBITSIM_BACKEND, then "sim".
    Options go to the backend: `profile` and `in_process` for "sim", `image` for "container",
    `url` and `management_url` for "url".

    `replace`: first close every broker an earlier `start` in this process returned that is still
    open (except one a `with` block is using now), printing a line for each, so that running a
    notebook's first cell again leaves one broker, not two that objects made before and after
    talk to in turn. Left out, it is on where cells are re-run (a notebook's kernel, IPython, the
    interactive prompt) and off in programs, which may want several brokers; `replace=False`
    keeps the others in a notebook too."""
    name = backend or os.environ.get("RABBITSIM_BACKEND") or "sim"
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    interactive = _interactive()
    with _starting:
        if replace if replace is not None else interactive:
            _replace_earlier()
        _closed.extend(handle for handle in _started if handle.closed)
        _started[:] = [handle for handle in _started if not handle.closed]
        handle = factory(**options)
        _started.append(handle)
    if interactive:
        from ._notebook import install

        install(_closed_ports)
    return handle


def _closed_ports() -> dict[int, str]:
    """The ports of the brokers this process started and closed (a URL broker that was only let
    go keeps serving its connections, and a port a broker open now uses is not closed)."""
    with _starting:
        handles = [*_closed, *_started]
    ported = [(handle, _port_of(handle)) for handle in handles]
    open_ports = {port for handle, port in ported if not handle.closed}
    return {
        port: f"the broker at {handle.shown_url} was closed (by {handle.closed_by})"
        for handle, port in ported
        if port is not None and handle.closed and handle.backend != "url" and port not in open_ports
    }


def _port_of(handle: BrokerHandle) -> int | None:
    """Where the handle's broker listened (None for one that never started)."""
    try:
        return urllib.parse.urlsplit(handle._url).port
    except Exception:  # a simulator whose start failed raises that failure here
        return None


def _replace_earlier() -> None:
    """Close the brokers earlier `start` calls returned, except those in a `with` block now."""
    for handle in list(_started):
        if handle.closed or handle._entered:
            continue
        if handle.backend == "url":
            said = f"let go of the broker reached before ({handle.shown_url}, which keeps running)"
        else:
            said = f"closed the broker started before ({handle.shown_url})"
        try:
            handle.close_as("a later rabbitsim.start(), which replaced it")
        except Exception as error:  # what is left of it must not stop the new one from starting
            said += f", though not cleanly: {type(error).__name__}: {error}"
        print(f"rabbitsim: {said}; this cell's broker replaces it", flush=True)
