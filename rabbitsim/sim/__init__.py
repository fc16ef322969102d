"""The capacity lab: the broker core under load in virtual time, where ten minutes of a work
queue run in a second.

    from rabbitsim import sim
    lab = sim.Lab(seed=1, round_trip=0.1)                  # seconds, broker <-> every client
    lab.channel.queue_declare("task_queue", durable=True)   # the core's channel, pika's arguments
    lab.publisher("task_queue", rate=80, arrivals="poisson", messages=50_000)
    lab.workers("task_queue", count=10, prefetch=1, service=sim.exponential(0.1))
    result = lab.run()                                       # or run(until=600)
    result.wait.mean, result.latency.p95, result.utilisation, result.table(), result.series

SimPy keeps the clock; the core is the one the wire server runs (`Broker(clock=lambda: env.now)`),
so acks, prefetch, requeues, TTL, dead letters, length limits, priorities and quorum delivery
limits behave as the simulator's broker does, only faster than real time. What it models and
what it leaves out: docs/capacity.md.
"""

from ._clients import Publisher, Worker
from ._erlang import erlang_c, mmc_wait
from ._lab import Lab
from ._random import Bursts, Distribution, bursts, constant, distribution, empirical, exponential, uniform
from ._results import Result, Stats, percentile

__all__ = [
    "Bursts",
    "Distribution",
    "Lab",
    "Publisher",
    "Result",
    "Stats",
    "Worker",
    "bursts",
    "constant",
    "distribution",
    "empirical",
    "erlang_c",
    "exponential",
    "mmc_wait",
    "percentile",
    "uniform",
]
