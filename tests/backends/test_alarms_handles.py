"""The alarm methods on every handle: the simulator in this process and in its own, and real
brokers through rabbitmqctl (the commands they run; tests/conformance/test_alarms.py runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rabbitsim.backends import BackendUnavailable, EmbeddedBroker, ProcessBroker, UrlBroker, _local
from rabbitsim.backends._alarms import alarms_in, disk_limit_arguments, watermark_arguments
from rabbitsim.broker import AlarmStatus


def test_the_simulator_in_its_own_process_takes_the_same_calls() -> None:
    with ProcessBroker(profile="3.10") as handle:
        status = handle.alarm_status()
        assert isinstance(status, AlarmStatus)
        assert status.vm_memory_high_watermark == 0.4 and status.disk_free_limit == 50_000_000
        assert status.memory_used and status.total_memory and status.disk_free  # read from this machine
        assert handle.alarms() == []
        handle.simulate_free_disk("10MB")
        assert handle.alarms() == ["disk"]
        handle.set_disk_free_limit("5MB")
        assert handle.alarms() == []
        handle.set_vm_memory_high_watermark(1)  # one byte, absolute
        assert handle.alarms() == ["memory"]
        handle.set_disk_free_limit(mem_relative=1.0)
        assert handle.alarms() == ["disk", "memory"]
        with pytest.raises(ValueError):
            handle.set_vm_memory_high_watermark(2.0)


def test_the_embedded_simulator_reads_its_data_dir_disk(tmp_path: Path) -> None:
    with EmbeddedBroker(data_dir=tmp_path) as handle:
        assert handle.server.monitor.directory == tmp_path
        handle.set_disk_free_limit("1000000GB")
        assert handle.alarms() == ["disk"]


def test_rabbitmqctl_arguments() -> None:
    assert watermark_arguments(0.4) == ["set_vm_memory_high_watermark", "0.400000"]
    assert watermark_arguments(0.0001) == ["set_vm_memory_high_watermark", "0.000100"]
    assert watermark_arguments("2GB") == ["set_vm_memory_high_watermark", "absolute", "2GB"]
    assert watermark_arguments(2_000_000_000) == ["set_vm_memory_high_watermark", "absolute", "2000000000"]
    assert disk_limit_arguments("1GB", None) == ["set_disk_free_limit", "1GB"]
    assert disk_limit_arguments(None, 1.5) == ["set_disk_free_limit", "mem_relative", "1.500000"]
    with pytest.raises(ValueError):
        disk_limit_arguments("lots", None)
    with pytest.raises(ValueError):
        disk_limit_arguments(None, None)


def test_alarms_from_rabbit_alarm_get_alarms() -> None:
    # as `rabbitmqctl eval 'rabbit_alarm:get_alarms().'` prints them (3.10.8, 4.0.5, 4.3.6)
    both = (
        "[{{resource_limit,memory,'rabbit@localhost'},[]},\n {{resource_limit,disk,'rabbit@localhost'},[]}]\n"
    )
    assert alarms_in(both) == ["disk", "memory"]
    assert alarms_in("[]\n") == []


def test_a_broker_someone_else_runs_is_not_ours_to_alarm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_local, "REGISTRY", tmp_path)  # no broker registered here
    with EmbeddedBroker() as sim:  # anything that answers AMQP will do
        stranger = UrlBroker(sim.url)
        with pytest.raises(BackendUnavailable, match="not one this project's scripts started"):
            stranger.set_disk_free_limit("1GB")
        with pytest.raises(BackendUnavailable):
            stranger.alarms()
