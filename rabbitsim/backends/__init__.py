"""Where the broker lives: the embedded simulator, a RabbitMQ container, or any broker by URL.
Every backend returns the same handle (`BrokerHandle`), so a chapter never changes; each handle
supplies its own event source (`handle.events()`), which `handle.trace()` records."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._base import BackendUnavailable, BrokerHandle
from ._compare import FIREHOSE_KINDS, FlowStep, flow
from ._container import ContainerBroker
from ._embedded import EmbeddedBroker, snapshot
from ._firehose import FirehoseConverter
from ._firehose_source import FirehoseSource
from ._management import ManagementClient, ManagementError
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
    "ContainerBroker",
    "EmbeddedBroker",
    "FirehoseConverter",
    "FirehoseSource",
    "FlowStep",
    "ManagementClient",
    "ManagementError",
    "QueueStats",
    "RealBroker",
    "SimSource",
    "Snapshots",
    "Trace",
    "TraceIncomplete",
    "UrlBroker",
    "flow",
    "settlements",
    "snapshot",
    "start",
]

#: Backend names (as given to `start` or in RABBITSIM_BACKEND) and what starts them.
BACKENDS: dict[str, Callable[..., BrokerHandle]] = {
    "sim": EmbeddedBroker,
    "container": ContainerBroker,
    "url": UrlBroker,
}


def start(backend: str | None = None, **options: Any) -> BrokerHandle:
    """Start (or reach) a broker. `backend` defaults to RABBITSIM_BACKEND, then "sim".
    Options go to the backend: `profile` for "sim", `image` for "container", `url` and
    `management_url` for "url"."""
    name = backend or os.environ.get("RABBITSIM_BACKEND") or "sim"
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return factory(**options)
