"""Randomness a scenario names: service times, and when a publisher's messages arrive.

A distribution is any callable that takes the lab's `random.Random` and returns a number of
seconds; the factories here only make the usual ones read well in a scenario
(`service=sim.exponential(0.1)`). Drawing from a generator the lab owns, never the global one,
is what lets one seed repeat a run to the event.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Seconds drawn from the lab's generator.
Distribution = Callable[[random.Random], float]


def constant(seconds: float) -> Distribution:
    """Always `seconds`."""
    _check_positive(seconds, "seconds", zero=True)

    def draw(_rng: random.Random) -> float:
        return seconds

    return draw


def exponential(mean: float) -> Distribution:
    """Memoryless, with mean `mean` (the M of M/M/c: a service rate of 1 / mean)."""
    _check_positive(mean, "mean")
    rate = 1.0 / mean

    def draw(rng: random.Random) -> float:
        return rng.expovariate(rate)

    return draw


def uniform(low: float, high: float) -> Distribution:
    """Anywhere between `low` and `high`."""
    _check_positive(low, "low", zero=True)
    if high < low:
        raise ValueError(f"high ({high}) is below low ({low})")

    def draw(rng: random.Random) -> float:
        return rng.uniform(low, high)

    return draw


def empirical(samples: Sequence[float]) -> Distribution:
    """One of `samples` at random, each as likely: measured service times replayed."""
    values = list(samples)
    if not values or any(value < 0 for value in values):
        raise ValueError("empirical needs at least one sample, none negative")

    def draw(rng: random.Random) -> float:
        return values[rng.randrange(len(values))]

    return draw


def distribution(value: float | Distribution | Sequence[float]) -> Distribution:
    """What a scenario passed as a time: a number (constant), a list (empirical), or a callable."""
    if callable(value):
        return value
    if isinstance(value, int | float):
        return constant(float(value))
    return empirical(value)


@dataclass(frozen=True, slots=True)
class Bursts:
    """`size` messages published at once, every `every` seconds (the first burst at the
    publisher's start): what a nightly batch or a retry storm looks like to a queue."""

    size: int
    every: float

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a burst needs at least one message, not {self.size}")
        _check_positive(self.every, "every")


def bursts(size: int, every: float) -> Bursts:
    """Arrivals in bursts of `size` messages every `every` seconds."""
    return Bursts(size, every)


def _check_positive(value: float, name: str, *, zero: bool = False) -> None:
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be {'non-negative' if zero else 'positive'}, not {value}")
