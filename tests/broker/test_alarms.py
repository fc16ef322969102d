"""Resource alarms in the core: which readings and limits put an alarm on, and which connections
are blocked and told so (facts in ALARM_FACTS.md, measured on 3.10.8, 4.0.5 and 4.3.6)."""

from __future__ import annotations

import pytest

from rabbitsim.broker import PROFILES, Alarms, Blocked, Broker, Unblocked, parse_bytes

GB = 1000**3


def told(broker: Broker) -> list[tuple[str, object]]:
    """What connections were told on channel 0 since the last look."""
    return [(c.name, item) for c, number, item in broker.take_output() if c is not None and number == 0]


def on(alarms: Alarms) -> tuple[str, ...]:
    """The alarms on (a call, so that mypy does not narrow the attribute between steps)."""
    return alarms.active


def test_defaults_follow_the_version_profile() -> None:
    assert Broker(profile="3.10").alarms.watermark == 0.4
    assert Broker(profile="4.0").alarms.watermark == 0.6
    for name in PROFILES:
        assert Broker(profile=name).alarms.disk_limit == 50_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (50_000_000, 50_000_000),
        ("1000GB", 1000 * GB),
        ("50MB", 50_000_000),
        ("2kB", 2000),
        ("2k", 2048),
        ("2KiB", 2048),
        ("3M", 3 * 2**20),
        ("1G", 2**30),
        ("1GiB", 2**30),
        ("123", 123),
    ],
)
def test_amounts_of_bytes_as_rabbitmqctl_reads_them(text: int | str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["", "1TB", "GB", "-1", "1.5GB", -1, True])
def test_bad_amounts_are_refused(bad: int | str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(bad)


def test_memory_alarm_goes_on_above_the_watermark_and_off_at_or_below_it() -> None:
    alarms = Broker().alarms
    alarms.memory_reading(used=600, total=1000)
    assert alarms.memory_limit == 600 and on(alarms) == ()
    alarms.memory_reading(used=601)
    assert on(alarms) == ("memory",)
    alarms.set_vm_memory_high_watermark(0.7)
    assert on(alarms) == ()
    alarms.set_vm_memory_high_watermark("500")  # absolute bytes
    assert alarms.memory_limit == 500 and on(alarms) == ("memory",)


def test_disk_alarm_goes_on_below_the_limit_and_a_simulated_reading_wins() -> None:
    alarms = Broker().alarms
    alarms.disk_reading(50_000_000)
    assert on(alarms) == ()  # equal is fine
    alarms.set_disk_free_limit("1000GB")
    assert on(alarms) == ("disk",)
    alarms.set_disk_free_limit(50_000_000)
    alarms.simulate_free_disk("10MB")
    assert on(alarms) == ("disk",) and alarms.status().disk_free == 10_000_000
    alarms.simulate_free_disk(None)
    assert on(alarms) == ()


def test_mem_relative_disk_limit_needs_the_total_memory() -> None:
    alarms = Broker().alarms
    alarms.disk_reading(1500)
    alarms.set_disk_free_limit(mem_relative=2.0)
    assert alarms.disk_free_limit is None and on(alarms) == ()
    alarms.memory_reading(used=1, total=1000)
    assert alarms.disk_free_limit == 2000 and on(alarms) == ("disk",)
    with pytest.raises(ValueError):
        alarms.set_disk_free_limit(1, mem_relative=1.0)
    with pytest.raises(ValueError):
        alarms.set_vm_memory_high_watermark(1.5)


def test_a_failed_write_puts_the_disk_alarm_on_until_the_next_reading() -> None:
    alarms = Broker().alarms
    alarms.disk_reading(GB)
    alarms.disk_full()
    assert on(alarms) == ("disk",)
    alarms.disk_reading(GB)
    assert on(alarms) == ()


def test_only_a_publishing_connection_is_blocked_and_told_once_with_the_reason() -> None:
    broker = Broker()
    publisher, consumer = broker.connect(name="pub"), broker.connect(name="cons")
    alarms = broker.alarms
    assert not alarms.publishing(publisher)  # no alarm: publish on
    alarms.simulate_free_disk(0)
    assert told(broker) == []  # an alarm alone tells nobody
    assert alarms.publishing(publisher)
    assert told(broker) == [("pub", Blocked("low on disk"))]
    alarms.memory_reading(used=10, total=10)
    alarms.set_vm_memory_high_watermark(0.1)
    assert alarms.publishing(publisher)  # still blocked, told nothing new
    assert told(broker) == []
    assert alarms.is_blocked(publisher) and not alarms.is_blocked(consumer)


def test_both_alarms_give_both_names_and_unblocking_waits_for_the_last() -> None:
    broker = Broker()
    alarms = broker.alarms
    first, second = broker.connect(name="first"), broker.connect(name="second")
    alarms.memory_reading(used=10, total=10)
    alarms.set_vm_memory_high_watermark(0.1)
    alarms.publishing(first)
    alarms.simulate_free_disk(0)
    alarms.publishing(second)
    assert told(broker) == [("first", Blocked("low on memory")), ("second", Blocked("low on disk & memory"))]
    alarms.set_vm_memory_high_watermark(1.0)
    assert told(broker) == [] and on(alarms) == ("disk",)
    alarms.simulate_free_disk(None)
    assert told(broker) == [("first", Unblocked()), ("second", Unblocked())]
    assert not alarms.is_blocked(first)


def test_a_closed_connection_is_not_told_of_the_unblock() -> None:
    broker = Broker()
    gone = broker.connect(name="gone")
    broker.alarms.simulate_free_disk(0)
    broker.alarms.publishing(gone)
    gone.close()
    broker.take_output()
    broker.alarms.simulate_free_disk(None)
    assert told(broker) == []


def test_the_disk_is_checked_more_often_near_its_limit() -> None:
    alarms = Broker().alarms
    alarms.disk_reading(100 * GB)
    assert alarms.disk_check_interval() == 10.0
    alarms.disk_reading(50_000_000 + 10_000_000)
    assert alarms.disk_check_interval() == 0.1
