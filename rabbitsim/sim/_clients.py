"""The simulated clients: publishers and workers, each on a connection of its own to the core.

They are not SimPy processes. A process per client (let alone per message) costs a generator
resumption per step; instead each client schedules plain timeouts with a callback, and a worker
computes a delivery's whole course the moment the broker sends it: it reaches the worker half a
round trip later, waits behind the worker's earlier messages (a worker does one thing at a
time), takes its service time, and its ack reaches the broker half a round trip after that. So
a message costs two scheduled events: its publish and its ack.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from simpy.events import Event, Timeout

from rabbitsim.broker import (
    AMQPError,
    Channel,
    ChannelClosed,
    Connection,
    ConnectionClosed,
    ConsumerCancelled,
    Deliver,
    Outbound,
    Properties,
    PropertiesLike,
    PublisherAck,
    PublisherNack,
    Return,
)

from ._random import Bursts, Distribution, constant, exponential

if TYPE_CHECKING:
    from ._lab import Lab

ACK, NACK, REJECT = "ack", "nack", "reject"
# a delivery in a worker's hands: [tag, start, done, message id, outcome, cancelled, channel]
TAG, START, DONE, MESSAGE, OUTCOME, CANCELLED, CHANNEL = range(7)


class Publisher:
    """Publishes to `exchange` with `routing_key`, one message per arrival (or a burst), until
    `messages` are sent or the clock passes `until`. Made by `Lab.publisher`."""

    def __init__(
        self,
        lab: Lab,
        name: str,
        exchange: str,
        routing_key: str,
        *,
        arrivals: str | Bursts | Distribution,
        rate: float | None,
        messages: int | None,
        until: float | None,
        start: float,
        confirms: bool,
        in_flight: int | None,
        body: bytes,
        properties: PropertiesLike | Callable[[random.Random], PropertiesLike],
        mandatory: bool,
        rng: random.Random,
    ) -> None:
        if in_flight is not None and (not confirms or in_flight < 1):
            raise ValueError(
                f"in_flight (unconfirmed messages at most) needs confirms=True and >= 1: {in_flight}"
            )
        self.lab, self.name = lab, name
        self.exchange, self.routing_key = exchange, routing_key
        self.messages, self.until = messages, until
        self.body, self.properties, self.mandatory = body, properties, mandatory
        self.rng = rng
        self.burst = 1
        self.start = first = max(start, lab.env.now)  # a publisher added after a run starts now
        self.period: float | None = None  # periodic arrivals are timed from the start, without drift
        if isinstance(arrivals, Bursts):
            self.burst, self.gap, self.period = arrivals.size, constant(arrivals.every), arrivals.every
        elif arrivals in ("poisson", "constant"):
            if rate is None or rate <= 0:
                raise ValueError(f"{arrivals} arrivals need a positive rate (messages per second)")
            if arrivals == "poisson":
                self.gap = exponential(1 / rate)
                first += self.gap(rng)
            else:
                self.gap, self.period = constant(1 / rate), 1 / rate
        elif callable(arrivals):
            self.gap = arrivals
            first += self.gap(rng)
        else:
            raise ValueError(
                f"arrivals must be 'poisson', 'constant', sim.bursts(...) or a callable: {arrivals!r}"
            )
        if messages is not None and messages < 0:
            raise ValueError(f"messages must not be negative: {messages}")
        self.sent = 0
        self.arrived = 0  # messages that were due (sent, or waiting for confirms to make room)
        self.arrivals = 0
        self._scheduled = False  # an arrival is
        #: confirms=True, in_flight=1 is pika's BlockingChannel: each publish waits for its confirm
        self.in_flight = in_flight
        self.unconfirmed = 0
        self.backlog: deque[float] = deque()  # arrival times of messages held back by the window
        self.held: list[float] = []  # how long each held message waited to be published
        self.backlog_max = 0
        self.confirmed = 0
        self.publish_nacked = 0
        self.returned = 0
        self.error: AMQPError | None = None
        self._settled_up_to = 0
        self.connection = lab.broker.connect(name=name)
        lab.peers[self.connection] = self
        self.channel: Channel = self.connection.open_channel(1)
        if confirms:
            self.channel.confirm_select()
        lab.drain()
        if messages != 0 and (until is None or first <= until):
            self._scheduled = True
            lab.later(first - lab.env.now, self._arrive)

    @property
    def finite(self) -> bool:
        return self.messages is not None or self.until is not None

    @property
    def active(self) -> bool:
        """More is to come: an arrival is scheduled, or messages wait for room in the window."""
        return self._scheduled or bool(self.backlog)

    def _arrive(self, _event: Event) -> None:
        lab = self.lab
        lab.pending -= 1
        self._scheduled = False
        count = self.burst if self.messages is None else min(self.burst, self.messages - self.arrived)
        self.arrived += count
        self.arrivals += 1
        if self.in_flight is None:
            self._publish(count)
        else:
            self.backlog.extend([lab.env.now] * count)
            self.backlog_max = max(self.backlog_max, len(self.backlog))
            self._publish_backlog()
        if self.error is None and (self.messages is None or self.arrived < self.messages):
            now = lab.env.now
            period = self.period
            gap = self.gap(self.rng) if period is None else self.start + self.arrivals * period - now
            until = self.until
            if until is None or now + gap <= until:
                self._scheduled = True
                lab.later(gap, self._arrive)
        if not lab.pending:
            lab.quiet()

    def _publish(self, count: int) -> None:
        lab = self.lab
        publish = self.channel.basic_publish
        exchange, key, body, mandatory = self.exchange, self.routing_key, self.body, self.mandatory
        properties = self.properties
        try:
            if callable(properties):
                rng = self.rng
                for _ in range(count):
                    publish(exchange, key, body, properties(rng), mandatory=mandatory)
                    self.sent += 1
            else:
                for _ in range(count):
                    publish(exchange, key, body, properties, mandatory=mandatory)
                self.sent += count
        except AMQPError as error:  # the channel is closed now: a real publisher would stop too
            self.error = error
            self.backlog.clear()
        lab.drain()

    def _publish_backlog(self) -> None:
        """Publish what waits, as far as the window allows (`in_flight` unconfirmed at most)."""
        assert self.in_flight is not None
        count = min(self.in_flight - self.unconfirmed, len(self.backlog))
        if count <= 0:
            return
        now = self.lab.env.now
        backlog, held = self.backlog, self.held
        for _ in range(count):
            held.append(now - backlog.popleft())
        self.unconfirmed += count
        self._publish(count)

    def _room(self, event: Event) -> None:
        """Confirms reached the publisher and its next publish reached the broker: a round
        trip after the broker confirmed."""
        lab = self.lab
        lab.pending -= 1
        self.unconfirmed -= cast(int, event.value)
        if self.error is None:
            self._publish_backlog()
        if not lab.pending:
            lab.quiet()

    def deliver(self, connection: Connection, item: Deliver) -> None:
        """A publisher consumes nothing; a delivery cannot reach it."""

    def told(self, item: Outbound) -> None:
        kind = type(item)
        if kind is PublisherAck or kind is PublisherNack:
            tag, multiple = item.delivery_tag, item.multiple  # type: ignore[union-attr]
            count = tag - self._settled_up_to if multiple else 1
            self._settled_up_to = tag
            if kind is PublisherAck:
                self.confirmed += count
            else:
                self.publish_nacked += count
            if self.in_flight is not None:
                lab = self.lab
                lab.pending += 1
                Timeout(lab.env, lab.round_trip, count).callbacks.append(self._room)
        elif kind is Return:
            self.returned += 1
        elif kind is ChannelClosed or kind is ConnectionClosed:
            self.error = item.error  # type: ignore[union-attr]

    def row(self) -> dict[str, Any]:
        return {
            "publisher": self.name,
            "sent": self.sent,
            "confirmed": self.confirmed,
            "nacked": self.publish_nacked,
            "returned": self.returned,
            "held_mean": sum(self.held) / len(self.held) if self.held else 0.0,
            "held_max": max(self.held, default=0.0),
            "backlog_max": self.backlog_max,
            "error": None if self.error is None else str(self.error),
        }


class Worker:
    """Consumes `queue` with `prefetch`, one message at a time, each for a service time, then
    acks it (or nacks / rejects it at the given probabilities). Made by `Lab.workers`."""

    def __init__(
        self,
        lab: Lab,
        name: str,
        queue: str,
        *,
        prefetch: int,
        service: Distribution,
        auto_ack: bool,
        nack: float,
        reject: float,
        requeue: bool,
        start: float,
        arguments: Mapping[str, Any] | None,
        rng: random.Random,
    ) -> None:
        if not 0 <= nack + reject <= 1 or nack < 0 or reject < 0:
            raise ValueError(
                f"nack ({nack}) and reject ({reject}) are probabilities that add up to at most 1"
            )
        if auto_ack and (nack or reject):
            raise ValueError("a consumer with auto_ack has nothing to nack or reject")
        if prefetch < 0:
            raise ValueError(f"prefetch must not be negative: {prefetch}")
        self.lab, self.name, self.queue = lab, name, queue
        self.prefetch, self.service, self.auto_ack = prefetch, service, auto_ack
        self.nack, self.reject, self.requeue = nack, reject, requeue
        self.refuses = nack + reject > 0
        self.arguments = dict(arguments or {})
        self.rng = rng
        self.records: deque[list[Any]] = deque()  # deliveries not yet settled, in order
        self.busy = 0.0
        self.free_at = start
        self.delivered = self.redelivered = self.acked = self.nacked = self.rejected = 0
        self.lost = 0
        self.crashes = 0
        self.generation = 0
        self.up = False
        self.cancelled = False
        self.closed_by: AMQPError | None = None
        self.connection: Connection | None = None
        self.channel: Channel | None = None
        if start <= lab.env.now:
            self._subscribe()
        else:
            lab.later(start - lab.env.now, self._come_back)

    # --- life: subscribe, crash, come back -------------------------------------------------------

    def _subscribe(self) -> None:
        """A connection, a channel, basic.qos and basic.consume, all at once: the moment the
        subscription reaches the broker (the handshake before it is not modelled)."""
        lab = self.lab
        self.generation += 1
        name = self.name if self.generation == 1 else f"{self.name}.{self.generation}"
        connection = self.connection = lab.broker.connect(name=name)
        lab.peers[connection] = self
        channel = self.channel = connection.open_channel(1)
        self.up, self.cancelled, self.closed_by = True, False, None
        self.free_at = max(self.free_at, lab.env.now)
        if self.prefetch:
            channel.basic_qos(self.prefetch)
        channel.basic_consume(self.queue, no_ack=self.auto_ack, arguments=self.arguments)
        lab.drain()

    def crash(self, at: float, back: float | None = None) -> None:
        """Die at `at` (what it was working on is unfinished; acks not yet sent never will be);
        the broker sees the connection drop half a round trip later and requeues every unacked
        message, as RabbitMQ does. With `back`, consume again from that time."""
        lab = self.lab
        if at < lab.env.now or (back is not None and back < at):
            raise ValueError(f"crash at {at} and come back at {back}: both in the future, in that order")
        lab.later(at - lab.env.now, self._crash)
        if back is not None:
            lab.later(back - lab.env.now, self._come_back)

    def _crash(self, _event: Event) -> None:
        lab = self.lab
        lab.pending -= 1
        if not self.up:
            if not lab.pending:
                lab.quiet()
            return
        now = lab.env.now
        self.up = False
        self.crashes += 1
        kept: deque[list[Any]] = deque()
        for record in self.records:
            if record[DONE] > now:  # unfinished: its ack (or its work, without ack) is lost
                record[CANCELLED] = True
                self.busy -= record[DONE] - max(record[START], now)
                if self.auto_ack:
                    self._lose(record[MESSAGE], record[DONE])
            else:
                kept.append(record)
        self.records = kept
        self.free_at = now
        connection = self.connection
        assert connection is not None

        def dropped(_event: Event) -> None:  # the broker notices the connection is gone
            lab.pending -= 1
            connection.close()
            lab.drain()
            if not lab.pending:
                lab.quiet()

        lab.later(lab.half, dropped)

    def _come_back(self, _event: Event) -> None:
        lab = self.lab
        lab.pending -= 1
        if not self.up:
            self._subscribe()
        if not lab.pending:
            lab.quiet()

    def _lose(self, message: int, done: float) -> None:
        """An auto-ack delivery whose work the crash cut short: it was counted done on arrival."""
        lab = self.lab
        self.lost += 1
        lab.lost += 1
        self.acked -= 1
        lab.acked -= 1
        if lab.settled.get(message) == done:
            del lab.settled[message]

    # --- what the broker sends --------------------------------------------------------------------

    def deliver(self, connection: Connection, item: Deliver) -> None:
        """A delivery, at the moment the broker sends it: its whole course in this worker is
        known now, so only its ack needs an event."""
        lab = self.lab
        now = lab.env.now
        message = item.message.id
        if connection is not self.connection or not self.up:  # sent to a worker that has died
            if self.auto_ack:
                self.lost += 1
                lab.lost += 1
            return
        lab.delivered += 1
        self.delivered += 1
        if item.redelivered:
            self.redelivered += 1
            lab.redelivered += 1
        first = lab.first
        if message not in first:
            first[message] = now
        arrive = now + lab.half
        start = arrive if arrive > self.free_at else self.free_at
        done = start + self.service(self.rng)
        self.free_at = done
        self.busy += done - start
        outcome = ACK
        if self.refuses:
            draw = self.rng.random()
            if draw < self.nack:
                outcome = NACK
            elif draw < self.nack + self.reject:
                outcome = REJECT
        record = [item.delivery_tag, start, done, message, outcome, False, self.channel]
        records = self.records
        if self.auto_ack:  # nothing to send back: the work is done at `done`
            while records and records[0][DONE] <= now:
                records.popleft()
            records.append(record)
            lab.settled[message] = done
            self.acked += 1
            lab.acked += 1
            return
        records.append(record)
        lab.pending += 1
        Timeout(lab.env, done + lab.half - now, record).callbacks.append(self._settle)

    def _settle(self, event: Event) -> None:
        """The ack (or nack, or reject) reaches the broker."""
        lab = self.lab
        lab.pending -= 1
        record = cast("list[Any]", event.value)
        if not record[CANCELLED]:
            self.records.popleft()
            channel = record[CHANNEL]
            if channel.is_open:
                outcome = record[OUTCOME]
                if outcome is ACK:
                    channel.basic_ack(record[TAG])
                    self.acked += 1
                    lab.acked += 1
                    lab.settled[record[MESSAGE]] = lab.env.now
                elif outcome is NACK:
                    channel.basic_nack(record[TAG], requeue=self.requeue)
                    self.nacked += 1
                    lab.nacked += 1
                else:
                    channel.basic_reject(record[TAG], requeue=self.requeue)
                    self.rejected += 1
                    lab.rejected += 1
                if lab.broker.output:
                    lab.drain()
        if not lab.pending:
            lab.quiet()

    def told(self, item: Outbound) -> None:
        kind = type(item)
        if kind is ConsumerCancelled:  # its queue was deleted: pika's consumer just stops
            self.cancelled = True
        elif kind is ChannelClosed or kind is ConnectionClosed:  # e.g. a consumer timeout
            self.closed_by = item.error  # type: ignore[union-attr]

    # --- measuring --------------------------------------------------------------------------------

    def busy_until(self, end: float) -> float:
        """Busy seconds up to `end` (work scheduled past it is not counted)."""
        over: float = sum(max(0.0, record[DONE] - max(record[START], end)) for record in self.records)
        return self.busy - over

    def row(self, end: float) -> dict[str, Any]:
        busy = self.busy_until(end)
        return {
            "worker": self.name,
            "delivered": self.delivered,
            "redelivered": self.redelivered,
            "acked": self.acked,
            "nacked": self.nacked,
            "rejected": self.rejected,
            "lost": self.lost,
            "crashes": self.crashes,
            "busy": busy,
            "utilisation": busy / end if end > 0 else 0.0,
            "closed_by": None if self.closed_by is None else str(self.closed_by),
        }


NO_PROPERTIES = Properties()
PERSISTENT = Properties(delivery_mode=2)
