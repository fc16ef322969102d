"""Erlang C: what queueing theory predicts for a work queue, to check the lab against.

An M/M/c queue (Poisson arrivals at rate lambda, exponential service at rate mu per worker, c workers
sharing one FIFO queue) is a RabbitMQ work queue whose workers take one message at a time
(prefetch 1) over a network with no delay. Its mean wait before service has a closed form, so
the lab's answer for that case can be checked against arithmetic rather than against itself.
"""

from __future__ import annotations


def erlang_c(workers: int, load: float) -> float:
    """The probability that a message must wait (every worker busy), for `workers` servers
    under an offered `load` = lambda / mu (in erlangs); needs load < workers."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if not 0 <= load < workers:
        raise ValueError(f"the load ({load} erlangs) must be below the number of workers ({workers})")
    # Erlang B by its stable recurrence, then C from B
    blocked = 1.0
    for k in range(1, workers + 1):
        blocked = load * blocked / (k + load * blocked)
    utilisation = load / workers
    return blocked / (1 - utilisation + utilisation * blocked)


def mmc_wait(arrival_rate: float, service_rate: float, workers: int) -> float:
    """Mean time a message waits in the queue before a worker takes it (Wq), in seconds:
    C(c, lambda/mu) / (c*mu - lambda)."""
    load = arrival_rate / service_rate
    return erlang_c(workers, load) / (workers * service_rate - arrival_rate)
