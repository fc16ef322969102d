"""Resource alarms on every handle, as `rabbitmqctl` sets them: the memory high watermark and the
disk free limit, and the list of alarms on. The simulator can also pretend its disk is filling
(`simulate_free_disk`), so a lesson can show a blocked publisher without filling a real disk.

Settings made here last until the broker stops, as with rabbitmqctl: a restart goes back to the
defaults (the simulator's version profile, or the real broker's configuration)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rabbitsim.broker import AlarmStatus, parse_bytes
from rabbitsim.broker._alarms import RESOURCES

if TYPE_CHECKING:
    from rabbitsim.amqp import AMQPServer
    from rabbitsim.broker import Broker

#: The handle methods a `ProcessBroker` forwards to its child.
ALARM_METHODS = frozenset(
    {"set_vm_memory_high_watermark", "set_disk_free_limit", "simulate_free_disk", "alarms", "alarm_status"}
)


def watermark_arguments(value: float | int | str) -> list[str]:
    """rabbitmqctl's arguments for a watermark: a float is relative, bytes or "2GB" absolute."""
    if isinstance(value, float):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"the watermark must be a fraction between 0.0 and 1.0, not {value}")
        return ["set_vm_memory_high_watermark", format(value, "f")]
    parse_bytes(value)  # refuse here what rabbitmqctl would refuse there
    return ["set_vm_memory_high_watermark", "absolute", str(value)]


def disk_limit_arguments(value: int | str | None, mem_relative: float | None) -> list[str]:
    if (value is None) == (mem_relative is None):
        raise ValueError("give a limit in bytes, or mem_relative=<multiple of the total memory>")
    if mem_relative is not None:
        return ["set_disk_free_limit", "mem_relative", format(mem_relative, "f")]
    assert value is not None
    parse_bytes(value)
    return ["set_disk_free_limit", str(value)]


def alarms_in(erlang_term: str) -> list[str]:
    """The alarm names in `rabbit_alarm:get_alarms()`'s answer, in RabbitMQ's order."""
    found = set(re.findall(r"resource_limit\s*,\s*(\w+)", erlang_term))
    return [name for name in RESOURCES if name in found]


class SimulatorAlarms:
    """The in-process simulator's alarms: the core's `Broker.alarms`, on the broker's thread."""

    broker: Broker
    server: AMQPServer

    def set_vm_memory_high_watermark(self, value: float | int | str) -> None:
        """Like `rabbitmqctl set_vm_memory_high_watermark`: a fraction of the total memory (0.4),
        or absolute bytes (2_000_000_000 or "2GB")."""
        self.server.call(lambda: self.broker.alarms.set_vm_memory_high_watermark(value))

    def set_disk_free_limit(
        self, value: int | str | None = None, *, mem_relative: float | None = None
    ) -> None:
        """Like `rabbitmqctl set_disk_free_limit`: bytes (50_000_000 or "1GB"), or
        `mem_relative=1.5` times the total memory."""
        self.server.call(lambda: self.broker.alarms.set_disk_free_limit(value, mem_relative=mem_relative))

    def simulate_free_disk(self, free: int | str | None) -> None:
        """Pretend the broker's disk has `free` bytes left ("10MB" works too); None goes back to
        reading the real disk. Below the disk free limit, the disk alarm goes on at once."""
        self.server.call(lambda: self.broker.alarms.simulate_free_disk(free))

    def alarms(self) -> list[str]:
        """The alarms on now: "disk", "memory", both or none."""
        return list(self.server.call(lambda: self.broker.alarms.active))

    def alarm_status(self) -> AlarmStatus:
        """The alarms with the readings and limits behind them (what `rabbitmqctl status` shows)."""
        return self.server.call(self.broker.alarms.status)


class ChildAlarms:
    """The same, for the simulator in its own process: each call runs there."""

    def call_method(self, name: str, *arguments: Any, timeout: float = 10.0, **options: Any) -> Any:
        raise NotImplementedError

    def set_vm_memory_high_watermark(self, value: float | int | str) -> None:
        """Like `rabbitmqctl set_vm_memory_high_watermark`: a fraction of the total memory (0.4),
        or absolute bytes (2_000_000_000 or "2GB")."""
        self.call_method("set_vm_memory_high_watermark", value)

    def set_disk_free_limit(
        self, value: int | str | None = None, *, mem_relative: float | None = None
    ) -> None:
        """Like `rabbitmqctl set_disk_free_limit`: bytes (50_000_000 or "1GB"), or
        `mem_relative=1.5` times the total memory."""
        self.call_method("set_disk_free_limit", value, mem_relative=mem_relative)

    def simulate_free_disk(self, free: int | str | None) -> None:
        """Pretend the broker's disk has `free` bytes left ("10MB" works too); None goes back to
        reading the real disk. Below the disk free limit, the disk alarm goes on at once."""
        self.call_method("simulate_free_disk", free)

    def alarms(self) -> list[str]:
        """The alarms on now: "disk", "memory", both or none."""
        return list(self.call_method("alarms"))

    def alarm_status(self) -> AlarmStatus:
        """The alarms with the readings and limits behind them (what `rabbitmqctl status` shows)."""
        status: AlarmStatus = self.call_method("alarm_status")
        return status


class RealAlarms:
    """A real broker's alarms, through its `rabbitmqctl`."""

    def rabbitmqctl(self, *arguments: str) -> str:
        raise NotImplementedError

    def set_vm_memory_high_watermark(self, value: float | int | str) -> None:
        """`rabbitmqctl set_vm_memory_high_watermark`: a fraction (0.4), or absolute bytes
        (2_000_000_000 or "2GB"). Lasts until the node restarts."""
        self.rabbitmqctl(*watermark_arguments(value))

    def set_disk_free_limit(
        self, value: int | str | None = None, *, mem_relative: float | None = None
    ) -> None:
        """`rabbitmqctl set_disk_free_limit`: bytes ("1GB"), or `mem_relative=1.5`. Lasts until
        the node restarts."""
        self.rabbitmqctl(*disk_limit_arguments(value, mem_relative))

    def alarms(self) -> list[str]:
        """The alarms on now on this node: "disk", "memory", both or none."""
        return alarms_in(self.rabbitmqctl("eval", "rabbit_alarm:get_alarms()."))
