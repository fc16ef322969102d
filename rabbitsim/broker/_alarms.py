"""Resource alarms: RabbitMQ's memory high watermark and disk free limit.

The core is told readings (memory used and total, free disk) or limits, and decides: while any
alarm is on, a connection that starts a publish is blocked. It learns of that from the adapter
(`publishing`, at the publish's content header, where RabbitMQ's reader blocks), so a
connection that only consumes, declares or acks is never blocked. A blocked connection is told
`Blocked` with RabbitMQ's reason text once, and `Unblocked` when the last alarm clears; both go
on the output road on channel 0, and the adapter sends them only to clients that announced the
`connection.blocked` capability (the others are blocked all the same, without a word).

Measured on 3.10.8, 4.0.5 and 4.3.6 (tests/broker/ALARM_FACTS.md): nothing is sent when an alarm
goes on, only at a connection's next publish; the reason is "low on disk", "low on memory" or
"low on disk & memory" (what is on when the connection is blocked; a later change is not told);
the held publish and everything after it is read, in order, after the unblock; no message is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._broker import Broker
    from ._connection import Connection

DISK = "disk"
MEMORY = "memory"
#: Alarm names in the order RabbitMQ writes them in a reason ("low on disk & memory").
RESOURCES = (DISK, MEMORY)

#: How often RabbitMQ's vm_memory_monitor looks at the memory used (`memory_monitor_interval`).
MEMORY_CHECK_INTERVAL = 1.0
#: rabbit_disk_monitor looks more often the nearer the free space is to the limit: twice the
#: time a disk filling at 250 MB/s would take to reach it, between these bounds.
DISK_CHECK_MIN_INTERVAL = 0.1
DISK_CHECK_MAX_INTERVAL = 10.0
DISK_FAST_RATE = 250_000_000

#: RabbitMQ's information units (rabbit_resource_monitor_misc): a single letter or `iB` is binary,
#: `B` after the prefix decimal.
_UNITS = {
    "": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
}
_AMOUNT = re.compile(r"\s*([0-9]+)\s*([a-zA-Z]*)\s*")


class Blocked(NamedTuple):
    """connection.blocked, on channel 0."""

    reason: str


class Unblocked(NamedTuple):
    """connection.unblocked, on channel 0."""


def parse_bytes(value: int | str) -> int:
    """An amount of bytes as rabbitmqctl takes it: 50000000, "50MB" (10^6), "2GiB" or "2G" (2^30)."""
    if isinstance(value, bool):
        raise ValueError(f"not an amount of bytes: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"not an amount of bytes: {value!r}")
        return value
    found = _AMOUNT.fullmatch(value)
    unit = _UNITS.get(found.group(2).lower()) if found else None
    if found is None or unit is None:
        raise ValueError(f"not an amount of bytes: {value!r} (e.g. 50000000, '50MB', '1GB', '2GiB')")
    return int(found.group(1)) * unit


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """What `rabbitmqctl status` shows about alarms: the active ones, and the readings and limits
    they come from (None where nothing was read yet)."""

    alarms: tuple[str, ...]
    memory_used: int | None
    memory_limit: int | None
    #: the watermark as set: a fraction of the total memory, or an absolute number of bytes
    vm_memory_high_watermark: float | int
    total_memory: int | None
    disk_free: int | None
    disk_free_limit: int | None
    simulated_disk_free: int | None


class Alarms:
    """The broker's alarms, limits and readings, and the connections they block."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        profile = broker.profile
        #: a float is a fraction of `total_memory` (RabbitMQ's relative), an int bytes (absolute)
        self.watermark: float | int = profile.vm_memory_high_watermark
        #: an int is bytes; a float is a multiple of `total_memory` (RabbitMQ's mem_relative)
        self.disk_limit: int | float = profile.disk_free_limit
        self.memory_used: int | None = None
        self.total_memory: int | None = None
        self.measured_disk_free: int | None = None
        self.simulated_disk_free: int | None = None
        self._disk_full = False  # a write failed for want of space: on until the next reading
        #: the alarms on, in RabbitMQ's order
        self.active: tuple[str, ...] = ()
        #: connections blocked since the first alarm went on, in the order they were blocked
        self.blocked: dict[Connection, None] = {}

    # --- limits, as rabbitmqctl sets them ----------------------------------------------------------

    def set_vm_memory_high_watermark(self, value: float | int | str) -> None:
        """A float is a fraction of the total memory (`set_vm_memory_high_watermark 0.4`); an int
        or a string with units is absolute (`set_vm_memory_high_watermark absolute 2GB`)."""
        if isinstance(value, float):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the watermark must be a fraction between 0.0 and 1.0, not {value}")
            self.watermark = value
        else:
            self.watermark = parse_bytes(value)
        self._decide()

    def set_disk_free_limit(
        self, value: int | str | None = None, *, mem_relative: float | None = None
    ) -> None:
        """Bytes (`set_disk_free_limit 1GB`), or a multiple of the total memory
        (`set_disk_free_limit mem_relative 1.5`)."""
        if (value is None) == (mem_relative is None):
            raise ValueError("give a limit in bytes, or mem_relative=<multiple of the total memory>")
        if mem_relative is not None:
            if mem_relative < 0:
                raise ValueError(f"mem_relative must not be negative, not {mem_relative}")
            self.disk_limit = float(mem_relative)
        else:
            assert value is not None
            self.disk_limit = parse_bytes(value)
        self._decide()

    def simulate_free_disk(self, free: int | str | None) -> None:
        """Pretend the data directory's disk has `free` bytes left (None: go back to readings)."""
        self.simulated_disk_free = None if free is None else parse_bytes(free)
        self._decide()

    # --- readings, from whoever can measure ---------------------------------------------------------

    def memory_reading(self, used: int, total: int | None = None) -> None:
        """The broker's memory use (RabbitMQ's `rss` strategy), and the memory it may have."""
        self.memory_used = used
        if total is not None:
            self.total_memory = total
        self._decide()

    def disk_reading(self, free: int) -> None:
        self.measured_disk_free = free
        self._disk_full = False
        self._decide()

    def disk_full(self) -> None:
        """A write failed because the disk is full: the disk alarm goes on, as RabbitMQ's would
        on its next look, until a reading says there is room again. For a store to call."""
        self._disk_full = True
        self._decide()

    # --- what the limits come to ------------------------------------------------------------------

    @property
    def memory_limit(self) -> int | None:
        """The watermark in bytes (None while a relative one has no total memory to apply to)."""
        if isinstance(self.watermark, int):
            return self.watermark
        return None if self.total_memory is None else int(self.total_memory * self.watermark)

    @property
    def disk_free_limit(self) -> int | None:
        if isinstance(self.disk_limit, int):
            return self.disk_limit
        return None if self.total_memory is None else int(self.total_memory * self.disk_limit)

    @property
    def disk_free(self) -> int | None:
        """The free disk the alarm goes by: the simulated value if one is set, else the reading."""
        return self.measured_disk_free if self.simulated_disk_free is None else self.simulated_disk_free

    def disk_check_interval(self) -> float:
        """When to look at the disk again, as rabbit_disk_monitor decides (seconds)."""
        free, limit = self.disk_free, self.disk_free_limit
        if free is None or limit is None:
            return DISK_CHECK_MAX_INTERVAL
        ideal = 2 * (free - limit) / DISK_FAST_RATE
        return max(DISK_CHECK_MIN_INTERVAL, min(DISK_CHECK_MAX_INTERVAL, ideal))

    def status(self) -> AlarmStatus:
        return AlarmStatus(
            self.active,
            self.memory_used,
            self.memory_limit,
            self.watermark,
            self.total_memory,
            self.disk_free,
            self.disk_free_limit,
            self.simulated_disk_free,
        )

    def _decide(self) -> None:
        """Which alarms are on now. RabbitMQ's monitors: memory above the limit, or free disk
        below it (equal is fine)."""
        used, memory_limit = self.memory_used, self.memory_limit
        memory = used is not None and memory_limit is not None and used > memory_limit
        free, disk_limit = self.disk_free, self.disk_free_limit
        disk = self._disk_full or (free is not None and disk_limit is not None and free < disk_limit)
        on = {DISK: disk, MEMORY: memory}
        self.set_active(tuple(name for name in RESOURCES if on[name]))

    def set_active(self, alarms: tuple[str, ...]) -> None:
        """Put exactly these alarms on. When the last one clears, every blocked connection is
        unblocked; while one stays on, blocked connections stay so, and are told nothing new."""
        self.active = alarms
        if not alarms and self.blocked:
            blocked, self.blocked = self.blocked, {}
            for connection in blocked:
                if connection.is_open:
                    connection.send(0, Unblocked())

    # --- connections -----------------------------------------------------------------------------

    def publishing(self, connection: Connection) -> bool:
        """A publish is arriving on `connection`: True if it must now stop being read (an alarm is
        on). The first time, it is told `Blocked` with the alarms on at this moment."""
        if not self.active:
            return False
        if connection not in self.blocked:
            self.blocked[connection] = None
            connection.send(0, Blocked("low on " + " & ".join(self.active)))
        return True

    def is_blocked(self, connection: Connection) -> bool:
        return connection in self.blocked
