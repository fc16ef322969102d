"""Where the broker lives: the simulator in a process of its own (the default) or in this one, a
RabbitMQ container, or any broker by URL. Every backend returns the same handle (`BrokerHandle`),
so a chapter never changes; each handle supplies its own event source (`handle.events()`), which
`handle.trace()` records."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._base import BackendUnavailable, BrokerHandle
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

__all__ = [
    "BACKENDS",
    "FIREHOSE_KINDS",
    "BackendUnavailable",
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


#: Backend names (as given to `start` or in RABBITSIM_BACKEND) and what starts them.
def simulator(*, in_process: bool | None = None, **options: Any) -> ProcessBroker | EmbeddedBroker:
    """The simulated broker: in a process of its own, unless `in_process` (or, when it is left
    out, RABBITSIM_IN_PROCESS=1) asks for it in this one, for places that cannot start a process
    (the embedded broker then shares this interpreter, and its speed, with the client)."""
    if in_process is None:
        in_process = os.environ.get("RABBITSIM_IN_PROCESS", "") not in ("", "0")
    return EmbeddedBroker(**options) if in_process else ProcessBroker(**options)


BACKENDS: dict[str, Callable[..., BrokerHandle]] = {
    "sim": simulator,
    "container": ContainerBroker,
    "url": UrlBroker,
}


def start(backend: str | None = None, **options: Any) -> BrokerHandle:
    """Start (or reach) a broker. `backend` defaults to RABBITSIM_BACKEND, then "sim".
    Options go to the backend: `profile` and `in_process` for "sim", `image` for "container",
    `url` and `management_url` for "url"."""
    name = backend or os.environ.get("RABBITSIM_BACKEND") or "sim"
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return factory(**options)
