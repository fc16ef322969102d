"""RabbitMQ's `*_details.rate`: how fast a count changed, per second, over the last sample
interval (RabbitMQ samples every `collect_statistics_interval`, 5 s by default). The admin
server samples the core's queue and vhost counts on its loop; a count seen once has rate 0."""

from __future__ import annotations

from collections.abc import Iterator

from rabbitsim.broker import Broker

#: seconds between samples, RabbitMQ's default `collect_statistics_interval`
SAMPLE_SECONDS = 5.0

Key = tuple[str, ...]


def gauges(broker: Broker) -> Iterator[tuple[Key, float]]:
    """The counts whose rates the API shows: per queue and per vhost, messages, ready, unacked."""
    for vhost in broker.vhosts.values():
        totals = [0, 0]
        for queue in vhost.queues.values():
            ready, unacked = queue.message_counts
            totals[0] += ready
            totals[1] += unacked
            key = ("queue", vhost.name, queue.name)
            yield (*key, "messages"), ready + unacked
            yield (*key, "messages_ready"), ready
            yield (*key, "messages_unacknowledged"), unacked
        yield ("vhost", vhost.name, "messages"), totals[0] + totals[1]
        yield ("vhost", vhost.name, "messages_ready"), totals[0]
        yield ("vhost", vhost.name, "messages_unacknowledged"), totals[1]


class Rates:
    def __init__(self) -> None:
        self._last: dict[Key, float] = {}
        self._rates: dict[Key, float] = {}
        self._at: float | None = None

    def sample(self, broker: Broker, now: float) -> None:
        current = dict(gauges(broker))
        if self._at is not None and now > self._at:
            elapsed = now - self._at
            self._rates = {
                key: round((value - self._last[key]) / elapsed, 1)
                for key, value in current.items()
                if key in self._last
            }
        self._last, self._at = current, now

    def rate(self, key: Key) -> float:
        return self._rates.get(key, 0.0)
