"""The lab: a SimPy clock, the broker core running on it, the simulated clients, and the
network between them; and the drain of the core's output road that ties them together.

The core is the same one the wire server runs (`Broker(clock=lambda: env.now)`): every publish,
delivery, ack, TTL expiry and dead letter is RabbitMQ's behaviour as the core models it, only
in virtual time. The scenario declares its topology through `lab.channel`, a core channel that
takes the arguments pika takes, so anything the core supports can be put under load.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import simpy
from simpy.events import Event, Timeout

from rabbitsim.broker import (
    DEFAULT_CONSUMER_TIMEOUT,
    DEFAULT_PROFILE,
    Broker,
    Connection,
    Deliver,
    Message,
    Outbound,
    PropertiesLike,
    TraceEvent,
    VersionProfile,
)

from ._clients import NO_PROPERTIES, PERSISTENT, Publisher, Worker
from ._random import Bursts, Distribution, distribution
from ._results import Result, Stats


class _Broker(Broker):
    """The core, noting when each message is made (its publish), so that its wait and latency
    can be measured from the ids its deliveries carry."""

    def __init__(self, born: dict[int, float], **options: Any) -> None:
        super().__init__(**options)
        self.born = born

    def new_message(
        self, exchange: str, routing_key: str, properties: PropertiesLike, body: bytes
    ) -> Message:
        message = super().new_message(exchange, routing_key, properties, body)
        self.born[message.id] = self.clock()
        return message


class _Bystander:
    """The lab's own connection (`lab.channel`): what it is told is not measured."""

    def deliver(self, connection: Connection, item: Deliver) -> None:
        pass

    def told(self, item: Outbound) -> None:
        pass


Peer = Publisher | Worker | _Bystander


class Lab:
    """A broker under load in virtual time. `round_trip` (seconds) is the network between the
    broker and every client: a delivery reaches a worker half of it after the broker sends it,
    an ack reaches the broker half of it after the worker sends it. `seed` makes the run
    repeatable to the event; `trace=True` keeps the core's events (memory: one per step);
    `sample_every` is the interval of `Result.series`. `profile` and `consumer_timeout` are the
    core's (`rabbitsim.broker.Broker`)."""

    def __init__(
        self,
        seed: int = 0,
        *,
        round_trip: float = 0.0,
        trace: bool = False,
        sample_every: float = 1.0,
        profile: str | VersionProfile = DEFAULT_PROFILE,
        consumer_timeout: int | None = DEFAULT_CONSUMER_TIMEOUT,
    ) -> None:
        if round_trip < 0 or sample_every <= 0:
            raise ValueError("round_trip must be non-negative and sample_every positive")
        self.env = simpy.Environment()
        env = self.env
        self.seed = seed
        #: the lab's one generator; each client draws from its own, seeded from this one in the
        #: order the scenario made them, so adding a worker does not change the arrivals
        self.rng = random.Random(seed)
        self.round_trip = round_trip
        self.half = round_trip / 2
        self.sample_every = sample_every
        self.born: dict[int, float] = {}  # message id -> published
        self.first: dict[int, float] = {}  # message id -> first delivered
        self.settled: dict[int, float] = {}  # message id -> its ack reached the broker
        self.broker = _Broker(
            self.born, clock=lambda: env.now, profile=profile, consumer_timeout=consumer_timeout
        )
        self.broker.tracing = trace
        self.events: list[TraceEvent] = []
        self.peers: dict[Connection, Peer] = {}
        self.connection = self.broker.connect(name="lab")
        self.peers[self.connection] = _Bystander()
        #: the core's channel for declaring the scenario's topology (pika's names and arguments)
        self.channel = self.connection.open_channel(1)
        self.publishers: list[Publisher] = []
        self.consumers: list[Worker] = []
        self._names: dict[str, int] = {}
        self.pending = 0  # client events scheduled and not yet run: the run is over at zero
        self.delivered = self.redelivered = self.acked = self.nacked = self.rejected = self.lost = 0
        self._timer_at: float | None = None
        self._stop: Event | None = None
        self._samples: list[tuple[float, dict[str, tuple[int, int]], tuple[int, int, int]]] = []
        self._sampling = False
        self._end = 0.0
        self._finished = True

    # --- the scenario ---------------------------------------------------------------------------

    def publisher(
        self,
        routing_key: str = "",
        *,
        exchange: str = "",
        rate: float | None = None,
        arrivals: str | Bursts | Distribution = "poisson",
        messages: int | None = None,
        until: float | None = None,
        start: float = 0.0,
        confirms: bool = False,
        in_flight: int | None = None,
        body: bytes = b"",
        properties: PropertiesLike | Callable[[random.Random], PropertiesLike] | None = None,
        persistent: bool = False,
        mandatory: bool = False,
        name: str = "publisher",
    ) -> Publisher:
        """A publisher of `messages` (or until `until`) to `exchange` with `routing_key`:
        arrivals "poisson" or "constant" at `rate` per second, `sim.bursts(size, every)`, or a
        callable giving the gap to the next message. `confirms=True` counts the broker's confirms;
        with `in_flight=n` too, at most n messages are unconfirmed at once and the rest wait in
        the publisher (`in_flight=1` is pika's BlockingChannel, one round trip per publish).
        `properties` may be a callable of the client's generator (per-message priorities,
        expirations)."""
        chosen = properties if properties is not None else PERSISTENT if persistent else NO_PROPERTIES
        publisher = Publisher(
            self,
            self._name(name),
            exchange,
            routing_key,
            arrivals=arrivals,
            rate=rate,
            messages=messages,
            until=until,
            start=start,
            confirms=confirms,
            in_flight=in_flight,
            body=body,
            properties=chosen,
            mandatory=mandatory,
            rng=self._child_rng(),
        )
        self.publishers.append(publisher)
        return publisher

    def workers(
        self,
        queue: str,
        count: int = 1,
        *,
        prefetch: int = 1,
        service: float | Distribution | Sequence[float] = 0.0,
        auto_ack: bool = False,
        nack: float = 0.0,
        reject: float = 0.0,
        requeue: bool = True,
        start: float = 0.0,
        arguments: Mapping[str, Any] | None = None,
        name: str = "worker",
    ) -> list[Worker]:
        """`count` workers consuming `queue`, each with its own connection and `prefetch`
        (0: unlimited), busy `service` seconds per message (a number, a list to draw from, or
        `sim.exponential(...)`), then acking it; or nacking / rejecting it with probability
        `nack` / `reject` (`requeue` or not). They subscribe at `start`."""
        drawn = distribution(service)
        made = [
            Worker(
                self,
                self._name(name),
                queue,
                prefetch=prefetch,
                service=drawn,
                auto_ack=auto_ack,
                nack=nack,
                reject=reject,
                requeue=requeue,
                start=start,
                arguments=arguments,
                rng=self._child_rng(),
            )
            for _ in range(count)
        ]
        self.consumers.extend(made)
        return made

    def at(self, time: float, action: Callable[[], object]) -> None:
        """Do `action` (say, `lambda: lab.channel.queue_purge("q")`) at simulated `time`."""

        def run(_event: Event) -> None:
            self.pending -= 1
            action()
            self.drain()
            if not self.pending:
                self.quiet()

        self.later(time - self.env.now, run)

    def _name(self, prefix: str) -> str:
        number = self._names[prefix] = self._names.get(prefix, 0) + 1
        return f"{prefix}-{number}"

    def _child_rng(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))

    # --- the engine -----------------------------------------------------------------------------

    def later(self, delay: float, callback: Callable[[Event], None]) -> None:
        """Call `callback` after `delay` simulated seconds; the run lasts until it has."""
        self.pending += 1
        Timeout(self.env, delay).callbacks.append(callback)

    def drain(self) -> None:
        """Hand what the core produced to whom it is for, in order; then make sure its timers
        (TTL, x-expires, consumer timeout) will fire on the virtual clock."""
        broker = self.broker
        if broker.output:
            peers = self.peers
            events = self.events
            for connection, _number, item in broker.take_output():
                if connection is None:
                    if type(item) is TraceEvent:
                        events.append(item)
                elif type(item) is Deliver:
                    peers[connection].deliver(connection, item)
                else:
                    peer = peers.get(connection)
                    if peer is not None:
                        peer.told(item)  # type: ignore[arg-type]
        if broker.timers or broker.channel_ticks.heap:
            self._arm_timer()

    def _arm_timer(self) -> None:
        due = self.broker.next_due()
        if due is None or (self._timer_at is not None and self._timer_at <= due):
            return
        self._timer_at = due
        Timeout(self.env, max(0.0, due - self.env.now), due).callbacks.append(self._timer_fired)

    def _timer_fired(self, event: Event) -> None:
        if event.value != self._timer_at:
            return  # superseded by an earlier wake-up, which has run
        self._timer_at = None
        self.broker.run_due()
        self.drain()
        if not self.pending:
            self.quiet()

    def _queue_timer_waiting(self) -> bool:
        """Is a queue's timer (TTL, x-expires) still to fire? Channels' ticks do not count: they
        run as long as a channel is open, and would keep an idle lab going for ever."""
        return any(queue.timer_at == when and not queue.deleted for when, _seq, queue in self.broker.timers)

    def quiet(self) -> None:
        """No client event is pending: if no queue timer is either, an open-ended run is over."""
        stop = self._stop
        if stop is None or stop.triggered or self.pending or self._queue_timer_waiting():
            return
        self._end = self.env.now
        stop.succeed()

    def _counts(self) -> dict[str, tuple[int, int]]:
        """Every queue's ready and unacked messages, by name (`vhost/name` outside "/")."""
        counts: dict[str, tuple[int, int]] = {}
        for vhost in self.broker.vhosts.values():
            prefix = "" if vhost.name == "/" else f"{vhost.name}/"
            for queue in vhost.queues.values():
                counts[prefix + queue.name] = (len(queue.ready), queue.unacked)
        return counts

    def _sample(self, _event: Event | None = None, *, again: bool = True) -> None:
        now = self.env.now
        self._samples.append((now, self._counts(), (len(self.born), self.delivered, self.acked)))
        if again:
            Timeout(self.env, self.sample_every).callbacks.append(self._sample)

    # --- running --------------------------------------------------------------------------------

    def run(self, until: float | None = None, *, limit: float = 86_400.0) -> Result:
        """Run to simulated time `until`, or (None) until every publisher has finished and every
        message has gone as far as it can (delivered and settled, or stuck with no one to take
        it); but once the publishers are done, for `limit` simulated seconds at most (checked at
        multiples of `limit`): a message nacked with requeue for ever never settles (then
        `Result.finished` is False). May be called again to run further."""
        self.drain()  # what the scenario's declarations produced
        if not self._sampling:
            self._sampling = True
            self._sample()
        env = self.env
        if until is None:
            endless = [p.name for p in self.publishers if not p.finite]
            if endless:
                raise ValueError(
                    f"publishers without messages= or until= never finish: give run() an until ({endless})"
                )
            stop = self._stop = env.event()
            self.quiet()

            def give_up(_event: Event) -> None:
                if stop.triggered:
                    return
                if any(publisher.active for publisher in self.publishers):
                    Timeout(env, limit).callbacks.append(give_up)  # the limit counts from their end
                    return
                self._end, self._finished = env.now, False
                stop.succeed()

            Timeout(env, limit).callbacks.append(give_up)
            self._finished = True
            env.run(until=stop)
            self._stop = None
            end = self._end
        else:
            if until > env.now:
                env.run(until=until)
            end = until
            self._finished = True
        if self._samples[-1][0] < end:  # the end, between two regular samples
            self._sample(again=False)
        return self.result(end)

    def result(self, end: float) -> Result:
        """The measurements at simulated time `end` (what `run` returns)."""
        born, first = self.born, self.first
        settled = {message: time for message, time in self.settled.items() if time <= end}
        wait = Stats.of(first[message] - born[message] for message in first if message in born)
        latency = Stats.of(settled[message] - born[message] for message in settled if message in born)
        rows = [worker.row(end) for worker in self.consumers]
        utilisation = sum(row["utilisation"] for row in rows) / len(rows) if rows else 0.0
        queues = {
            name: {"ready": ready, "unacked": unacked} for name, (ready, unacked) in self._counts().items()
        }
        return Result(
            elapsed=end,
            published=len(born),
            delivered=self.delivered,
            redelivered=self.redelivered,
            acked=self.acked,
            nacked=self.nacked,
            rejected=self.rejected,
            confirmed=sum(p.confirmed for p in self.publishers),
            publish_nacked=sum(p.publish_nacked for p in self.publishers),
            returned=sum(p.returned for p in self.publishers),
            lost=self.lost,
            wait=wait,
            latency=latency,
            utilisation=utilisation,
            series=self._series(end),
            queues=queues,
            workers=rows,
            publishers=[publisher.row() for publisher in self.publishers],
            published_at=dict(born),
            delivered_at=dict(first),
            settled_at=settled,
            events=list(self.events),
            finished=self._finished,
        )

    def _series(self, end: float) -> dict[str, list[float]]:
        samples = [sample for sample in self._samples if sample[0] <= end]
        names = list(dict.fromkeys(name for _time, counts, _totals in samples for name in counts))
        series: dict[str, list[float]] = {
            "time": [],
            "ready": [],
            "unacked": [],
            "published": [],
            "delivered": [],
            "acked": [],
        }
        for name in names:
            series[f"ready[{name}]"] = []
            series[f"unacked[{name}]"] = []
        previous = (0, 0, 0)
        for time, counts, totals in samples:
            series["time"].append(time)
            series["ready"].append(sum(ready for ready, _unacked in counts.values()))
            series["unacked"].append(sum(unacked for _ready, unacked in counts.values()))
            for column, now, before in zip(
                ("published", "delivered", "acked"), totals, previous, strict=True
            ):
                series[column].append(now - before)
            previous = totals
            for name in names:
                ready, unacked = counts.get(name, (0, 0))
                series[f"ready[{name}]"].append(ready)
                series[f"unacked[{name}]"].append(unacked)
        return series
