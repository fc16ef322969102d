"""Readings for the core's resource alarms: this process's memory and its data directory's free
disk, sampled on the server's event loop at RabbitMQ's intervals (memory every second, the disk
more often as it nears its limit). The core decides what the readings mean (`Broker.alarms`)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rabbitsim.broker import MEMORY_CHECK_INTERVAL, Broker

#: cgroup v2, then v1: a container's memory limit, which RabbitMQ takes as the total if lower.
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_used() -> int | None:
    """This process's resident set (RabbitMQ's default `rss` strategy), or None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def total_memory() -> int | None:
    """The memory this process may use: the physical memory, or a lower cgroup limit."""
    try:
        total: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        total = None
    for path in CGROUP_LIMITS:
        try:
            limit = int(Path(path).read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        if limit > 0 and (total is None or limit < total):
            total = limit
        break
    return total


def disk_free(directory: Path) -> int | None:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


#: How much client input may arrive between two memory readings (see `ResourceMonitor.received`).
READ_BETWEEN_READINGS = 8 * 1024 * 1024


class ResourceMonitor:
    """Feeds the core's alarms from the event loop that owns the core; `changed` is called when
    the alarms it reads may have changed what connections are told (the server flushes)."""

    def __init__(
        self,
        broker: Broker,
        loop: asyncio.AbstractEventLoop,
        directory: Path,
        changed: Callable[[], object],
    ) -> None:
        self.broker = broker
        self.loop = loop
        self.directory = directory
        self.changed = changed
        self._handles: list[asyncio.TimerHandle] = []
        self.total = total_memory()
        self._received = 0  # bytes read from clients since the last memory reading

    def received(self, size: int) -> None:
        """Input arrived: after `READ_BETWEEN_READINGS` bytes, the memory is read at once, not at
        the next tick, so a fast publisher cannot pile up a second's worth of messages (with
        100 kB bodies, hundreds of MB) over the watermark before the alarm blocks it."""
        self._received += size
        if self._received >= READ_BETWEEN_READINGS:
            self._received = 0
            used = memory_used()
            if used is not None:
                self._read(lambda: self.broker.alarms.memory_reading(used, self.total))

    def start(self) -> None:
        self._memory()
        self._disk()

    def stop(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    def _after(self, delay: float, function: Callable[[], None]) -> None:
        self._handles = [handle for handle in self._handles if not handle.cancelled()]
        self._handles.append(self.loop.call_later(delay, function))

    def _memory(self) -> None:
        self._received = 0
        used = memory_used()
        if used is not None:
            self._read(lambda: self.broker.alarms.memory_reading(used, self.total))
        self._after(MEMORY_CHECK_INTERVAL, self._memory)

    def _disk(self) -> None:
        free = disk_free(self.directory)
        if free is not None:
            self._read(lambda: self.broker.alarms.disk_reading(free))
        self._after(self.broker.alarms.disk_check_interval(), self._disk)

    def _read(self, reading: Callable[[], None]) -> None:
        before = self.broker.alarms.active
        reading()
        if self.broker.alarms.active != before or self.broker.output:
            self.changed()
