"""Consumer timeout in the core, on a fake clock (facts: tests/broker/CONSUMER_TIMEOUT.md).

A channel ticks every `channel_tick_interval` (from its opening, or from its next activity after
it hibernated); a tick closes it with 406 when its oldest unacked delivery is older than the
timeout, which requeues everything it held, in order, redelivered."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim.broker import Broker, Channel, ChannelClosed, Connection, Deliver, GetOk
from tests.broker.conftest import FakeClock

TEXT = (
    "PRECONDITION_FAILED - delivery acknowledgement on channel {} timed out. Timeout value used: {} ms. "
    "This timeout value can be configured, see consumers doc guide to learn more"
)


def make(clock: FakeClock, profile: str = "4.0", **settings: Any) -> tuple[Broker, Connection]:
    broker = Broker(clock=clock, profile=profile, **settings)
    return broker, broker.connect()


def fill(channel: Channel, queue: str, n: int, **arguments: Any) -> None:
    channel.queue_declare(queue, arguments=arguments)
    for i in range(1, n + 1):
        channel.basic_publish("", queue, f"m{i}".encode())


def run_until(broker: Broker, clock: FakeClock, until: float) -> None:
    """Fire every due timer up to `until`, as the server does."""
    while (due := broker.next_due()) is not None and due <= until:
        clock.now = due
        broker.run_due()
    clock.now = until


def closes(broker: Broker) -> list[tuple[int, int, str]]:
    return [
        (number, item.error.reply_code, item.error.reply_text)
        for _c, number, item in broker.take_output()
        if isinstance(item, ChannelClosed)
    ]


def ready(broker: Broker, queue: str) -> list[tuple[bytes, bool]]:
    return [(entry.message.body, entry.redelivered) for entry in broker.vhosts["/"].queues[queue].ready]


def test_defaults_are_rabbitmqs() -> None:
    broker = Broker()
    assert (broker.consumer_timeout, broker.channel_tick_interval) == (1_800_000, 60_000)


def test_the_first_tick_after_the_timeout_closes_the_channel_and_requeues_in_order(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 3)
    clock.now = 0.15
    channel.basic_consume("q", "c")
    broker.take_output()
    run_until(broker, clock, 1.99)  # the tick at 1.0 finds the deliveries 0.85 s old
    assert channel.is_open and closes(broker) == []
    run_until(broker, clock, 2.0)
    assert closes(broker) == [(1, 406, TEXT.format(1, 1000))]
    assert not channel.is_open and connection.channels == {}
    assert ready(broker, "q") == [(b"m1", True), (b"m2", True), (b"m3", True)]


def test_a_long_tick_makes_a_short_timeout_late(clock: FakeClock) -> None:
    """With the default 60 s tick, a 1 s timeout fires at the tick a minute after the opening."""
    broker, connection = make(clock, consumer_timeout=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.basic_consume("q", "c")
    run_until(broker, clock, 59.9)
    assert channel.is_open
    run_until(broker, clock, 60.0)
    assert not channel.is_open


def test_a_channel_that_idled_first_ticks_an_interval_after_it_wakes(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    clock.now = 10.0
    channel.basic_consume("q", "c")
    run_until(broker, clock, 69.9)
    assert channel.is_open
    run_until(broker, clock, 70.0)
    assert not channel.is_open


def test_basic_get_deliveries_time_out_too(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 2)
    assert isinstance(channel.basic_get("q"), GetOk)
    run_until(broker, clock, 2.0)
    assert not channel.is_open
    assert ready(broker, "q") == [(b"m1", True), (b"m2", False)]


def test_no_ack_consumers_never_time_out(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 3)
    channel.basic_consume("q", "c", no_ack=True)
    channel.basic_get("q", no_ack=True)
    run_until(broker, clock, 10.0)
    assert channel.is_open and closes(broker) == []


def test_acking_in_time_keeps_the_channel_and_only_the_oldest_counts(clock: FakeClock) -> None:
    """m1 at 0.1 acked at 1.5; m2 delivered at 1.2 is then the oldest: 0.8 s old at the tick at
    2.0, 1.8 s at 3.0 (timeout 1 s), so the channel goes at 3.0."""
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    channel.queue_declare("q")
    clock.now = 0.1
    channel.basic_publish("", "q", b"m1")
    channel.basic_get("q")
    run_until(broker, clock, 1.2)
    channel.basic_publish("", "q", b"m2")
    channel.basic_get("q")
    run_until(broker, clock, 1.5)
    channel.basic_ack(1)
    run_until(broker, clock, 2.9)
    assert channel.is_open
    run_until(broker, clock, 3.0)
    assert not channel.is_open
    assert ready(broker, "q") == [(b"m2", True)]


def test_other_channels_and_connections_are_unaffected(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    slow = connection.open_channel(1)
    quick = connection.open_channel(2)
    other = broker.connect().open_channel(1)
    fill(slow, "slow", 1)
    fill(quick, "quick", 1)
    slow.basic_consume("slow", "s")
    quick.basic_consume("quick", "q")
    other.basic_consume("quick", "o")
    quick.basic_ack(1)
    run_until(broker, clock, 5.0)
    assert not slow.is_open
    assert quick.is_open and other.is_open and connection.is_open


def test_a_requeued_message_goes_to_another_consumer(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    slow = connection.open_channel(1)
    fill(slow, "q", 1)
    slow.basic_consume("q", "slow")
    clock.now = 0.5
    worker = broker.connect().open_channel(1)
    worker.basic_qos(prefetch_count=1)
    worker.basic_consume("q", "worker")
    broker.take_output()
    run_until(broker, clock, 2.0)
    delivered = [item for _c, _n, item in broker.take_output() if isinstance(item, Deliver)]
    assert [(d.consumer_tag, d.message.body, d.redelivered) for d in delivered] == [("worker", b"m1", True)]


def test_the_timeout_in_force_is_the_one_when_the_channel_opened(clock: FakeClock) -> None:
    broker, connection = make(clock, channel_tick_interval=1000)
    before = connection.open_channel(1)
    broker.consumer_timeout = 1000  # as application:set_env at runtime
    after = connection.open_channel(2)
    broker.consumer_timeout = 1_800_000
    fill(before, "a", 1)
    fill(after, "b", 1)
    before.basic_consume("a", "a")
    after.basic_consume("b", "b")
    run_until(broker, clock, 5.0)
    assert before.is_open and not after.is_open


def test_none_disables_the_timeout(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=None, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.basic_consume("q", "c")
    run_until(broker, clock, 100.0)
    assert channel.is_open


@pytest.mark.parametrize(("profile", "fires"), [("4.0", True), ("3.10", False)])
def test_the_queue_argument_where_the_version_reads_it(clock: FakeClock, profile: str, fires: bool) -> None:
    broker, connection = make(clock, profile, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1, **{"x-consumer-timeout": 2000})
    channel.basic_consume("q", "c")
    run_until(broker, clock, 2.9)
    assert channel.is_open
    run_until(broker, clock, 3.0)
    assert channel.is_open is not fires
    if fires:
        assert closes(broker) == [(1, 406, TEXT.format(1, 2000))]


def test_a_policy_and_the_argument_the_lower_wins_on_4_0(clock: FakeClock) -> None:
    broker, connection = make(clock, "4.0", channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1, **{"x-consumer-timeout": 5000})
    broker.set_policy("/", "impatient", "^q$", {"consumer-timeout": 2000})
    channel.basic_consume("q", "c")
    run_until(broker, clock, 2.9)
    assert channel.is_open
    run_until(broker, clock, 3.0)
    assert closes(broker) == [(1, 406, TEXT.format(1, 2000))]


def test_a_consumer_argument_is_not_read(clock: FakeClock) -> None:
    broker, connection = make(clock, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.basic_consume("q", "c", arguments={"x-consumer-timeout": 1000})
    run_until(broker, clock, 10.0)
    assert channel.is_open


def test_quorum_queues_time_out_the_same_way(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    channel.queue_declare("q", durable=True, arguments={"x-queue-type": "quorum"})
    channel.basic_publish("", "q", b"m1")
    channel.basic_consume("q", "c")
    run_until(broker, clock, 2.0)
    assert not channel.is_open
    assert ready(broker, "q") == [(b"m1", True)]


def test_nothing_ticks_while_nothing_is_unacked(clock: FakeClock) -> None:
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.basic_consume("q", "c")
    channel.basic_ack(1)
    run_until(broker, clock, 1.0)  # the one tick finds nothing unacked: the channel hibernates
    assert broker.next_due() is None
    clock.now = 5.0
    channel.basic_publish("", "q", b"m2")
    assert broker.next_due() == pytest.approx(6.0)


def test_the_43_profile_closes_no_channel(clock: FakeClock) -> None:
    """RabbitMQ 4.3.6 closed no channel with a 1 s timeout and a 1 s tick in 8 s (classic queues)."""
    broker, connection = make(clock, "4.3", consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.basic_consume("q", "c")
    assert broker.next_due() is None
    run_until(broker, clock, 10.0)
    assert channel.is_open


def test_a_method_never_runs_a_tick_under_itself(clock: FakeClock) -> None:
    """A method first runs the queues' due timers (TTL here), not the channels' ticks: a tick
    closing the channel under the ack would turn it into a connection error."""
    broker, connection = make(clock, consumer_timeout=1000, channel_tick_interval=1000)
    channel = connection.open_channel(1)
    fill(channel, "q", 1)
    channel.queue_declare("ttl", arguments={"x-message-ttl": 500})
    channel.basic_publish("", "ttl", b"t")
    channel.basic_consume("q", "c")
    clock.now = 2.0  # the tick is due; the host has not run it yet
    channel.basic_ack(1)  # in time after all, as RabbitMQ would see it if the ack came first
    assert channel.queue_declare("ttl", passive=True).message_count == 0  # the TTL timer ran
    broker.run_due()
    assert channel.is_open and connection.is_open
