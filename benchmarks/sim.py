"""How fast does the capacity lab run, and is it right? An M/M/c work queue in virtual time.

    .venv/bin/python benchmarks/sim.py [--messages 200000] [--workers 10] [--utilisation 0.8] [--seed 1]

Poisson publishes, exponential service (mean 1 s), prefetch 1, no network delay: Erlang C's
M/M/c queue, driven through the broker core by `rabbitsim.sim`. The rate counts simulated
messages (published, delivered and acked) per wall-clock second; the goal is 20,000 on a
2-core machine. The mean wait (publish -> delivery) is set against Erlang C's
C(c, lambda/mu) / (c*mu - lambda). The estimate itself varies from seed to seed: at 200,000 messages and
utilisation 0.8 its standard deviation is about 5% of the mean (measured over seeds), so one
run's error is mostly that noise. The last line is the result, in one fixed format.
"""

from __future__ import annotations

import argparse
import time

from rabbitsim import sim


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--utilisation", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    service_rate = 1.0
    arrival_rate = options.utilisation * options.workers * service_rate
    lab = sim.Lab(seed=options.seed)
    lab.channel.queue_declare("work")
    lab.publisher("work", rate=arrival_rate, arrivals="poisson", messages=options.messages)
    lab.workers("work", count=options.workers, prefetch=1, service=sim.exponential(1 / service_rate))
    started = time.perf_counter()
    result = lab.run()
    wall = time.perf_counter() - started
    assert result.acked == options.messages, "every message should have been acked"
    expected = sim.mmc_wait(arrival_rate, service_rate, options.workers)
    error = (result.wait.mean - expected) / expected
    print(f"{result.elapsed:.0f} simulated seconds, utilisation {result.utilisation:.3f}")
    print(
        f"sim: {result.acked} messages in {wall:.2f} s wall ({result.acked / wall:.0f} msg/s); "
        f"mean wait {result.wait.mean:.4f} s vs Erlang C {expected:.4f} s (error {abs(error) * 100:.1f}%)"
    )


if __name__ == "__main__":
    main()
