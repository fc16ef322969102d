"""What a run leaves for a learner to read: plain numbers, lists and dicts, nothing to import
to look at them (a `pandas.DataFrame(result.table())` or `plt.plot(*result.timeline())` works,
but neither is needed)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rabbitsim.vocabulary import TraceEvent


@dataclass(frozen=True, slots=True)
class Stats:
    """A distribution of times in seconds, summarised: how many, the mean, and percentiles
    (p95: 95% of messages took no longer). NaN where there was nothing to measure."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        ordered = sorted(values)
        if not ordered:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            len(ordered),
            math.fsum(ordered) / len(ordered),
            percentile(ordered, 50),
            percentile(ordered, 95),
            percentile(ordered, 99),
            ordered[-1],
        )

    def __str__(self) -> str:
        if not self.count:
            return "n=0"
        return (
            f"mean {self.mean:.4g} s, p50 {self.p50:.4g} s, p95 {self.p95:.4g} s, "
            f"p99 {self.p99:.4g} s (n={self.count})"
        )


def percentile(ordered: list[float], percent: float) -> float:
    """The `percent` percentile of sorted values, interpolating between neighbours (numpy's
    default), so that p50 of an even count is the middle two's mean."""
    place = (len(ordered) - 1) * percent / 100
    low = math.floor(place)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (place - low)


@dataclass(slots=True)
class Result:
    """One run, measured. Times are simulated seconds from the start of the run.

    - `wait`: publish -> first delivery (time in the broker's queue); `latency`: publish -> the
      ack that settled it reaching the broker (for a no-ack consumer: until its work was done).
    - `utilisation`: the workers' mean share of time busy; per worker in `table()`.
    - `series`: columns sampled every `sample_every` seconds: `time`, `ready`, `unacked` (all
      queues), the same per queue (`ready[name]`, `unacked[name]`), and what happened since the
      previous sample (`published`, `delivered`, `acked`).
    - `message_table()`: one row per message; `table()`: one row per worker.
    - `events`: the core's trace events, when the lab was made with `trace=True`.
    """

    elapsed: float
    published: int
    delivered: int
    redelivered: int
    acked: int
    nacked: int
    rejected: int
    confirmed: int
    publish_nacked: int
    returned: int
    lost: int
    wait: Stats
    latency: Stats
    utilisation: float
    series: dict[str, list[float]]
    queues: dict[str, dict[str, int]]
    workers: list[dict[str, Any]] = field(default_factory=list)
    publishers: list[dict[str, Any]] = field(default_factory=list)
    #: per message id: when it was published, first delivered, and settled (see `latency`)
    published_at: dict[int, float] = field(default_factory=dict)
    delivered_at: dict[int, float] = field(default_factory=dict)
    settled_at: dict[int, float] = field(default_factory=dict)
    events: list[TraceEvent] = field(default_factory=list)
    #: False when an open-ended run hit its limit with messages still going round
    finished: bool = True

    @property
    def publish_rate(self) -> float:
        return self._rate(self.published)

    @property
    def deliver_rate(self) -> float:
        return self._rate(self.delivered)

    @property
    def ack_rate(self) -> float:
        return self._rate(self.acked)

    def _rate(self, count: int) -> float:
        return count / self.elapsed if self.elapsed > 0 else math.nan

    def table(self) -> list[dict[str, Any]]:
        """One row per worker (delivered, acked, busy seconds, utilisation ...), to sort or plot."""
        return [dict(row) for row in self.workers]

    def message_table(self) -> list[dict[str, Any]]:
        """One row per published message: its id, when it was published, delivered and settled,
        its wait and latency (None where it never got that far: still queued, dropped, lost)."""
        rows = []
        for message, born in self.published_at.items():
            delivered = self.delivered_at.get(message)
            settled = self.settled_at.get(message)
            rows.append(
                {
                    "message": message,
                    "published": born,
                    "delivered": delivered,
                    "settled": settled,
                    "wait": None if delivered is None else delivered - born,
                    "latency": None if settled is None else settled - born,
                }
            )
        return rows

    def timeline(self, column: str = "ready") -> tuple[list[float], list[float]]:
        """(times, values) of one column of `series`, ready for `plt.plot(*...)`."""
        return self.series["time"], self.series[column]

    def summary(self) -> dict[str, float | int]:
        """The headline figures as one flat row."""
        return {
            "elapsed": self.elapsed,
            "published": self.published,
            "delivered": self.delivered,
            "acked": self.acked,
            "publish_rate": self.publish_rate,
            "ack_rate": self.ack_rate,
            "wait_mean": self.wait.mean,
            "wait_p95": self.wait.p95,
            "latency_mean": self.latency.mean,
            "latency_p50": self.latency.p50,
            "latency_p95": self.latency.p95,
            "latency_p99": self.latency.p99,
            "utilisation": self.utilisation,
        }

    def __str__(self) -> str:
        lines = [
            f"{self.elapsed:.6g} simulated seconds: {self.published} published "
            f"({self.publish_rate:.4g}/s), {self.delivered} delivered ({self.redelivered} again), "
            f"{self.acked} acked ({self.ack_rate:.4g}/s)",
            f"wait    {self.wait}",
            f"latency {self.latency}",
            f"workers {self.utilisation:.1%} busy on average",
        ]
        if self.nacked or self.rejected:
            lines.append(f"refused {self.nacked} nacked, {self.rejected} rejected")
        if not self.finished:
            lines.append("unfinished: the run hit its time limit with messages still in play")
        if self.lost:
            lines.append(f"lost    {self.lost} (delivered without ack to a worker that crashed)")
        for name, counts in self.queues.items():
            lines.append(f"queue {name}: {counts['ready']} ready, {counts['unacked']} unacked at the end")
        return "\n".join(lines)
