"""The lab against arithmetic: an M/M/c work queue against Erlang C, and prefetch against the
round trip (a consumer busy 4 ms per message behind 100 ms is ~4% busy at prefetch 1 and
saturated near prefetch 26, the figures RabbitMQ's own writing on prefetch works through)."""

from __future__ import annotations

import pytest

from rabbitsim import sim

# (lambda, mu, c): arrivals per second, services per second per worker, workers
CASES = [(8.0, 1.0, 10), (4.0, 1.0, 5), (45.0, 10.0, 5)]
MESSAGES = 60_000


def test_erlang_c_by_hand() -> None:
    """Closed forms the recurrence must agree with: one server waits with probability rho; two
    servers at one erlang, 1/3; a textbook figure (c=5, a=4: 0.5541)."""
    assert sim.erlang_c(1, 0.7) == pytest.approx(0.7)
    assert sim.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert sim.erlang_c(5, 4.0) == pytest.approx(0.5541, abs=1e-4)
    assert sim.mmc_wait(0.5, 1.0, 1) == pytest.approx(1.0)  # M/M/1: rho / (mu - lambda)
    with pytest.raises(ValueError):
        sim.erlang_c(3, 3.0)


@pytest.mark.parametrize(("arrival", "service", "workers"), CASES)
def test_a_work_queue_at_prefetch_1_is_an_mmc_queue(arrival: float, service: float, workers: int) -> None:
    """Poisson publishes, exponential service, prefetch 1 and no network delay: Erlang C's
    M/M/c. Tolerances, from the spread over 8 seeds at 50,000 messages (one standard deviation
    of the relative error: mean wait 7-10%, share that waited 2-3.4%, utilisation < 1%), are
    about three standard deviations: mean wait 25%, share that waited 10%, utilisation 3%.
    A lab that delayed deliveries, served out of order or let a worker take two messages at
    once would be off by far more (the mean service time alone is 2 to 5 times the mean wait)."""
    lab = sim.Lab(seed=7)
    lab.channel.queue_declare("work")
    lab.publisher("work", rate=arrival, arrivals="poisson", messages=MESSAGES)
    lab.workers("work", count=workers, prefetch=1, service=sim.exponential(1 / service))
    result = lab.run()
    assert result.acked == result.delivered == MESSAGES
    expected_wait = sim.mmc_wait(arrival, service, workers)
    assert result.wait.mean == pytest.approx(expected_wait, rel=0.25)
    waited = sum(1 for m, t in result.delivered_at.items() if t > result.published_at[m]) / MESSAGES
    assert waited == pytest.approx(sim.erlang_c(workers, arrival / service), rel=0.10)
    assert result.utilisation == pytest.approx(arrival / service / workers, rel=0.03)
    # latency is the wait plus one service time (the ack is instant without a network)
    assert result.latency.mean - result.wait.mean == pytest.approx(1 / service, rel=0.05)


def prefetch_lab(prefetch: int) -> sim.Result:
    """One consumer, 4 ms per message, behind a 100 ms round trip, with a full queue."""
    lab = sim.Lab(seed=1, round_trip=0.1)
    lab.channel.queue_declare("work")
    lab.publisher("work", arrivals=sim.bursts(6000, every=1), messages=6000)
    lab.workers("work", prefetch=prefetch, service=0.004)
    return lab.run(until=20)


def test_prefetch_1_leaves_a_fast_consumer_idle_behind_a_round_trip() -> None:
    """Each message costs a round trip (100 ms) plus 4 ms of work: 4 / 104 busy."""
    result = prefetch_lab(1)
    assert result.utilisation == pytest.approx(4 / 104, rel=0.01)
    assert result.ack_rate == pytest.approx(1 / 0.104, rel=0.01)


@pytest.mark.parametrize("prefetch", [5, 13, 25])
def test_below_26_the_consumer_is_busy_prefetch_times_4_of_every_104_ms(prefetch: int) -> None:
    result = prefetch_lab(prefetch)
    assert result.utilisation == pytest.approx(prefetch * 4 / 104, rel=0.01)


def test_prefetch_26_covers_the_round_trip_and_saturates_the_consumer() -> None:
    """26 x 4 ms = 104 ms of work in flight covers the trip: the consumer never waits again
    after the first delivery arrives (50 ms in)."""
    result = prefetch_lab(26)
    assert result.utilisation == pytest.approx((20 - 0.05) / 20, rel=0.001)
    assert result.ack_rate == pytest.approx(250, rel=0.01)
