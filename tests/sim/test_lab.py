"""The lab's behaviour: repeatable runs, crashes that lose nothing, and the core's timers and
topology (TTL, dead letters, length limits, consumer timeout) working in virtual time."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim import sim
from rabbitsim.broker import Properties
from rabbitsim.vocabulary import TraceEvent


def busy_lab(seed: int, *, trace: bool = True) -> sim.Lab:
    lab = sim.Lab(seed=seed, round_trip=0.02, trace=trace)
    lab.channel.queue_declare("work")
    lab.publisher("work", rate=40, arrivals="poisson", messages=300)
    lab.workers("work", count=3, prefetch=2, service=sim.exponential(0.06), nack=0.1)
    return lab


def as_data(events: list[TraceEvent]) -> list[tuple[Any, ...]]:
    """Every field, the detail too (events compare without it)."""
    return [(e.seq, e.time, e.kind, e.source, e.target, e.message, e.routing_key, e.detail) for e in events]


def test_one_seed_gives_the_same_run_to_the_event() -> None:
    first, second = busy_lab(3).run(), busy_lab(3).run()
    assert len(first.events) > 1500
    assert as_data(first.events) == as_data(second.events)
    assert first.series == second.series
    assert first.table() == second.table()


def test_another_seed_gives_another_run() -> None:
    assert as_data(busy_lab(3).run().events) != as_data(busy_lab(4).run().events)


def test_events_carry_simulated_time_and_are_kept_only_when_asked() -> None:
    result = busy_lab(3).run()
    times = [event.time for event in result.events]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(result.elapsed)
    assert result.elapsed > 7  # 300 messages at 40/s
    untraced = busy_lab(3, trace=False).run()
    assert untraced.events == []
    assert untraced.table() == result.table()  # tracing changes nothing else


def test_a_worker_that_crashes_mid_task_loses_nothing() -> None:
    """Its unacked messages go back to the queue when the broker sees its connection drop, and
    the other workers (and it, once back) take them: every message is acked exactly once."""
    lab = sim.Lab(seed=5, round_trip=0.02)
    lab.channel.queue_declare("work", durable=True)
    lab.publisher("work", rate=80, messages=2000, persistent=True)  # more than 3 workers take
    doomed, *_others = lab.workers("work", count=3, prefetch=5, service=sim.exponential(0.05))
    doomed.crash(at=10.0, back=20.0)
    before = lab.run(until=10.5).table()[0]["acked"]
    assert lab.run(until=20).table()[0]["acked"] == before  # down from 10 s to 20 s
    result = lab.run()
    assert result.published == result.acked == 2000
    assert result.redelivered >= 1
    assert result.lost == 0
    assert result.queues["work"] == {"ready": 0, "unacked": 0}
    assert set(result.settled_at) == set(result.published_at)
    rows = {row["worker"]: row for row in result.table()}
    assert rows["worker-1"]["crashes"] == 1
    assert sum(row["acked"] for row in rows.values()) == 2000
    assert sum(row["redelivered"] for row in rows.values()) == result.redelivered
    assert rows["worker-1"]["acked"] > before + 100  # back at work


def test_an_auto_ack_worker_that_crashes_loses_what_it_held() -> None:
    """No ack, no safety: what the broker pushed to it and it had not finished is gone."""
    lab = sim.Lab(seed=5, round_trip=0.02)
    lab.channel.queue_declare("work")
    lab.publisher("work", rate=50, messages=1000)
    (worker,) = lab.workers("work", auto_ack=True, service=0.03)
    worker.crash(at=5.0)
    result = lab.run()
    assert result.lost > 0
    assert result.redelivered == 0
    done = len([t for t in result.settled_at.values() if t <= 5.0])
    assert result.acked == done  # auto-ack counts a message once its work is done
    assert done + result.lost + result.queues["work"]["ready"] == 1000  # each once: done, lost or left


def test_ttl_and_dead_lettering_fire_on_the_virtual_clock() -> None:
    lab = sim.Lab(seed=1)
    lab.channel.queue_declare("dead")
    lab.channel.queue_declare(
        "work",
        arguments={
            "x-message-ttl": 30_000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "dead",
        },
    )
    lab.publisher("work", arrivals=sim.bursts(10, every=1), messages=10)
    result = lab.run()
    assert result.elapsed == pytest.approx(30.0)  # the run lasted until the timer fired
    assert result.queues == {"dead": {"ready": 10, "unacked": 0}, "work": {"ready": 0, "unacked": 0}}
    index = result.series["time"].index(29.0)
    assert result.series["ready[work]"][index] == 10
    assert result.series["ready[dead]"][-1] == 10


def test_a_retry_loop_through_a_dead_letter_exchange() -> None:
    """Rejected messages wait 5 s in a retry queue, then return: the quorum of retries is
    visible, and every message is eventually acked."""
    lab = sim.Lab(seed=2, round_trip=0.01)
    lab.channel.queue_declare(
        "work", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "retry"}
    )
    lab.channel.queue_declare(
        "retry",
        arguments={"x-message-ttl": 5000, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work"},
    )
    lab.publisher("work", rate=20, messages=200)
    lab.workers("work", count=2, service=0.01, reject=0.3, requeue=False)
    result = lab.run()
    assert result.acked == 200
    assert result.rejected > 30
    assert max(result.series["ready[retry]"]) > 0
    assert result.latency.p99 > 5  # a retried message waited out the TTL at least once


def test_max_length_reject_publish_nacks_confirms() -> None:
    lab = sim.Lab(seed=1)
    lab.channel.queue_declare("small", arguments={"x-max-length": 10, "x-overflow": "reject-publish"})
    publisher = lab.publisher("small", arrivals=sim.bursts(25, every=1), messages=25, confirms=True)
    result = lab.run()
    assert (publisher.confirmed, publisher.publish_nacked) == (10, 15)
    assert (result.confirmed, result.publish_nacked) == (10, 15)
    assert result.queues["small"]["ready"] == 10


def test_priorities_overtake_under_load() -> None:
    lab = sim.Lab(seed=4)
    lab.channel.queue_declare("jobs", arguments={"x-max-priority": 9})
    high = Properties(priority=9)
    lab.publisher(
        "jobs", rate=30, messages=600, properties=lambda rng: high if rng.random() < 0.1 else Properties()
    )
    lab.workers("jobs", service=0.04)  # 25/s: the queue grows
    result = lab.run()
    waits = {m: result.delivered_at[m] - result.published_at[m] for m in result.delivered_at}
    assert result.acked == 600
    assert result.wait.max > 2
    assert min(waits.values()) == 0


def test_a_consumer_timeout_closes_a_stuck_workers_channel() -> None:
    """4.0 closes the channel of a delivery unacked longer than consumer_timeout (at the
    channel's next tick); the message goes to the other worker."""
    lab = sim.Lab(seed=1, profile="4.0", consumer_timeout=5_000)
    lab.broker.channel_tick_interval = 1_000
    lab.channel.queue_declare("work")
    lab.publisher("work", arrivals=sim.bursts(1, every=1), messages=1)
    (stuck,) = lab.workers("work", service=100.0)
    (spare,) = lab.workers("work", service=1.0, start=1.0)
    result = lab.run()
    assert stuck.closed_by is not None and "timed out" in stuck.closed_by.reply_text
    assert spare.acked == 1
    assert result.acked == 1
    assert 5 <= result.settled_at[1] <= 8


def test_series_columns_line_up_and_sample_the_queue() -> None:
    lab = sim.Lab(seed=1, sample_every=0.5)
    lab.channel.queue_declare("q")
    lab.publisher("q", rate=10, arrivals="constant", messages=20)
    result = lab.run()
    lengths = {len(column) for column in result.series.values()}
    assert len(lengths) == 1
    assert sum(result.series["published"]) == 20
    assert result.series["time"][:3] == [0, 0.5, 1.0]
    assert result.series["ready"][-1] == 20
    _times, ready = result.timeline("ready[q]")
    assert ready == result.series["ready"]
    assert result.elapsed == pytest.approx(1.9)  # constant: the first at 0, then every 0.1 s


def test_until_runs_to_the_time_and_can_continue() -> None:
    lab = sim.Lab(seed=1)
    lab.channel.queue_declare("q")
    lab.publisher("q", rate=100, arrivals="constant", until=100)
    lab.workers("q", service=0.005)
    first = lab.run(until=10)
    assert first.elapsed == 10
    assert first.published == 1000
    second = lab.run(until=20)
    assert second.published == 2000
    assert second.utilisation == pytest.approx(0.5, rel=0.01)


def test_an_open_ended_publisher_needs_an_until() -> None:
    lab = sim.Lab()
    lab.channel.queue_declare("q")
    lab.publisher("q", rate=1)
    with pytest.raises(ValueError, match="until"):
        lab.run()


def test_stats() -> None:
    stats = sim.Stats.of([4.0, 1.0, 3.0, 2.0])
    assert (stats.count, stats.mean, stats.p50, stats.max) == (4, 2.5, 2.5, 4.0)
    assert stats.p95 == pytest.approx(3.85)
    assert sim.Stats.of([]).count == 0


def test_a_topic_exchange_feeds_each_queue_what_its_bindings_match() -> None:
    lab = sim.Lab(seed=3, round_trip=0.004)
    lab.channel.exchange_declare("logs", "topic")
    for queue, key in (("errors", "*.error"), ("everything", "#")):
        lab.channel.queue_declare(queue)
        lab.channel.queue_bind(queue, "logs", key)
    lab.publisher("kern.error", exchange="logs", rate=20, messages=100)
    lab.publisher("kern.info", exchange="logs", rate=80, messages=400)
    lab.workers("errors", service=0.01)
    lab.workers("everything", count=2, prefetch=10, service=0.01)
    result = lab.run()
    rows = {row["worker"]: row for row in result.table()}
    assert rows["worker-1"]["acked"] == 100
    assert rows["worker-2"]["acked"] + rows["worker-3"]["acked"] == 500
    assert result.published == 500
    assert result.acked == 600  # a copy per queue


def test_a_quorum_queue_dead_letters_past_its_delivery_limit() -> None:
    """A worker that always rejects with requeue: each message comes back until the quorum
    queue's delivery limit (2 returns) is passed, then it is dead-lettered. (4.3 does not count
    a basic.nack's return against the limit: see the next test.)"""
    lab = sim.Lab(seed=1, round_trip=0.01)
    lab.channel.queue_declare("parked", durable=True)
    lab.channel.queue_declare(
        "jobs",
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 2,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "parked",
        },
    )
    lab.publisher("jobs", rate=10, messages=20, persistent=True)
    lab.workers("jobs", service=0.01, reject=1.0, requeue=True)
    result = lab.run()
    assert result.acked == 0
    assert result.rejected == 60  # the first delivery and two redeliveries each
    assert result.redelivered == 40
    assert result.queues["parked"]["ready"] == 20
    assert result.queues["jobs"] == {"ready": 0, "unacked": 0}


def test_a_requeue_loop_runs_until_the_limit_and_says_so() -> None:
    """4.3 lets a quorum queue's message be nacked back for ever: the run cannot settle."""
    lab = sim.Lab(seed=1, round_trip=0.01)
    lab.channel.queue_declare(
        "jobs", durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 2}
    )
    lab.publisher("jobs", arrivals=sim.bursts(1, every=1), messages=1)
    lab.workers("jobs", service=0.01, nack=1.0, requeue=True)
    result = lab.run(limit=5)
    assert not result.finished
    assert result.elapsed == 5
    assert result.delivered == result.redelivered + 1
    assert result.nacked == pytest.approx(5 / 0.02, abs=1)  # one round of 20 ms after another
    assert "unfinished" in str(result)


def test_mandatory_returns_and_scheduled_actions() -> None:
    """A binding removed at 5 s (`lab.at`): mandatory messages published after it come back."""
    lab = sim.Lab(seed=1)
    lab.channel.exchange_declare("orders", "direct")
    lab.channel.queue_declare("billing")
    lab.channel.queue_bind("billing", "orders", "new")
    publisher = lab.publisher(
        "new", exchange="orders", rate=10, arrivals="constant", messages=100, mandatory=True
    )
    lab.at(5.0, lambda: lab.channel.queue_unbind("billing", "orders", "new"))
    result = lab.run()
    assert publisher.returned == result.returned == 50  # 0.0 .. 4.9 routed, 5.0 .. 9.9 returned
    assert result.queues["billing"]["ready"] == 50
    later = lab.publisher(
        "new", exchange="orders", arrivals=sim.bursts(3, every=1), messages=3, mandatory=True
    )
    assert lab.run().returned == 53
    assert later.returned == 3


def test_a_publisher_that_waits_for_each_confirm_manages_one_per_round_trip() -> None:
    """pika's BlockingChannel with confirms (`in_flight=1`): 100 ms a publish, whatever the
    rate asked; the rest wait in the publisher. A window of 10 keeps up with 20/s."""
    lab = sim.Lab(seed=1, round_trip=0.1)
    lab.channel.queue_declare("q")
    blocking = lab.publisher("q", rate=20, arrivals="constant", messages=100, confirms=True, in_flight=1)
    result = lab.run()
    assert blocking.confirmed == 100
    assert max(result.published_at.values()) == pytest.approx(99 * 0.1)  # one publish per round trip
    assert result.elapsed == pytest.approx(100 * 0.1)  # the last confirm's trip
    row = result.publishers[0]
    assert row["held_max"] == pytest.approx(99 * 0.1 - 99 / 20)
    assert row["backlog_max"] > 40
    lab = sim.Lab(seed=1, round_trip=0.1)
    lab.channel.queue_declare("q")
    windowed = lab.publisher("q", rate=20, arrivals="constant", messages=100, confirms=True, in_flight=10)
    result = lab.run()
    assert windowed.confirmed == 100
    assert max(result.published_at.values()) == pytest.approx(99 / 20)
    assert result.publishers[0]["held_max"] == 0
