"""A real RabbitMQ's event source: its firehose, consumed on a thread of our own, plus
management snapshots at the start and the end.

Starting switches tracing on for the vhost if it is off (and switches it back off at the end,
unless another recording in this process still needs it), binds an exclusive server-named queue
to `amq.rabbitmq.trace` with `publish.#` and `deliver.#`, and consumes it on a background
thread with its own pika connection (pika connections are not thread-safe: everything on it
happens on that thread). A marker published through the firehose and waited for closes both
ends: at the start, the firehose is live before the block runs; at the end, the copies of the
block's steps have arrived, because RabbitMQ copies a publish to the trace exchange on the
publishing channel as it routes it, and a delivery as it sends it, so the marker's copy comes
after theirs. One gap is left: the broker may not yet have read what a client sent just before
the block ended (pika returns once the bytes are written), so the end waits `grace` (50 ms)
before its marker. Steps the broker handles later than that are not recorded.

Tracing is switched on and off per vhost for the whole broker: a recording in another process
on the same vhost that finds tracing on leaves it, and loses the firehose if ours switches it
off first. The brokers CI starts have it on for `/` all the time (`rabbitmqctl trace_on`).

What the firehose cannot show, and what is derived instead, is said in `_firehose` and
`_settle`, and for learners in docs/tracing.md."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.broker import RESOURCE_LOCKED
from rabbitsim.vocabulary import TRACE_EXCHANGE, Started, Stopped, Topology, TraceEvent

from ._firehose import BINDING_KEYS, MARKER_KEY, FirehoseConverter, marker_of
from ._management import ManagementClient
from ._recording import TraceIncomplete
from ._settle import QueueStats, queue_stats, settlements

RECORDER_NAME = "rabbitsim trace recorder"

#: Seconds to let the broker read what clients sent just before the block ended (see `stop`).
GRACE = 0.05
TOPOLOGY_ATTEMPTS = 3
MARKER_POLL = 0.05

#: (management API, vhost) -> how many recordings in this process need tracing that we switched on
_enabled: dict[tuple[str, str], int] = {}
_enabled_lock = threading.Lock()


class FirehoseSource:
    """`timeout` bounds every wait (connecting, each marker); `settle` is how long to wait at
    the end for the management statistics to count the block's deliveries, so that acks can be
    derived (they lag by one or more `collect_statistics_interval`s; 0 takes them as they are)."""

    def __init__(
        self,
        url: str,
        management: ManagementClient,
        *,
        timeout: float = 5.0,
        settle: float = 0.0,
        grace: float = GRACE,
    ) -> None:
        self.url = url
        self.grace = grace
        self.management = management
        self.vhost = urllib.parse.unquote(urllib.parse.urlsplit(url).path[1:] or "%2F") or "/"
        self.timeout = timeout
        self.settle = settle
        self._ready = threading.Event()
        self._markers: dict[str, threading.Event] = {}
        self._error: BaseException | None = None
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._check_channel: BlockingChannel | None = None
        self._thread: threading.Thread | None = None
        self._converter: FirehoseConverter | None = None
        self._deliver: Callable[[TraceEvent], None] | None = None
        self._delivered: list[TraceEvent] = []  # what settlements derive acks from
        self._enabled_here = False
        self._stats_before: dict[str, QueueStats] = {}
        self._live = False  # set by the consumer thread at the first marker: earlier copies are not ours

    # --- the recording's two ends ---------------------------------------------------------------

    def start(self, deliver: Callable[[TraceEvent], None]) -> Started:
        notes: list[str] = []
        start_topology = self._snapshot(notes)
        self._stats_before = queue_stats(self.management, self.vhost)
        known = start_topology.queues if start_topology is not None else ()
        self._converter = FirehoseConverter(
            self._queue_exists, (queue.name for queue in known if queue.vhost == self.vhost)
        )
        self._deliver = deliver
        self._enable_tracing()
        try:
            self._thread = threading.Thread(target=self._consume, name="rabbitsim-firehose", daemon=True)
            self._thread.start()
            if not self._ready.wait(self.timeout):
                raise TimeoutError(f"the firehose consumer did not start within {self.timeout} s")
            if self._error is not None:
                raise self._error
            started_at = time.monotonic()
            if not self._mark():
                raise TraceIncomplete(
                    f"the firehose of vhost '{self.vhost}' delivered nothing within {self.timeout} s: "
                    "is tracing on (rabbitmqctl trace_on) and the management API reachable?"
                )
        except BaseException:
            self._shut_down()
            raise
        return Started(start_topology, started_at, tuple(notes))

    def stop(self) -> Stopped:
        notes: list[str] = []
        complete = True
        try:
            # pika returns from basic_publish once the bytes are sent, and RabbitMQ reads each
            # connection on its own process: a publish sent just before the block ended can be
            # handled after our marker. Measured: 1 run in 60 without this pause, none with 10 ms.
            time.sleep(self.grace)
            if not self._mark():
                complete = False
                notes.append(
                    f"the firehose did not catch up within {self.timeout} s: the last steps may be missing"
                )
        finally:
            self._shut_down()
        stats_after = self._statistics_after()
        end_topology = self._snapshot(notes)
        derived, unsettled = settlements(self._delivered, self._stats_before, stats_after, time.monotonic())
        return Stopped(end_topology, tuple(derived), (*notes, *unsettled), complete)

    def topology(self) -> Topology:
        """A snapshot without the recorders in it. The management API can list a channel whose
        connection has just gone with `connection_details: []`, which the snapshot cannot read:
        try again a few times."""
        for _ in range(TOPOLOGY_ATTEMPTS - 1):
            try:
                return without_recorders(self.management.topology())
            except (TypeError, KeyError):
                time.sleep(0.1)
        return without_recorders(self.management.topology())

    def _snapshot(self, notes: list[str]) -> Topology | None:
        """`topology()`, or None and a note when the management API gave no consistent one."""
        try:
            return self.topology()
        except (TypeError, KeyError):
            notes.append("the management API gave no consistent topology snapshot")
            return None

    def _statistics_after(self) -> dict[str, QueueStats]:
        """Queue statistics at the end, waiting up to `settle` seconds for them to count every
        delivery the firehose saw."""
        deadline = time.monotonic() + self.settle
        delivered: dict[str, int] = {}
        for event in self._delivered:
            if event.kind == "deliver" and event.source is not None:
                delivered[event.source.name] = delivered.get(event.source.name, 0) + 1
        while True:
            after = queue_stats(self.management, self.vhost)
            fresh = all(
                after.get(queue, QueueStats()).delivered
                - self._stats_before.get(queue, QueueStats()).delivered
                >= count
                for queue, count in delivered.items()
            )
            if fresh or time.monotonic() >= deadline:
                return after
            time.sleep(0.1)

    def _shut_down(self) -> None:
        connection, thread = self._connection, self._thread
        if connection is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(pika.exceptions.AMQPError):  # already closed: nothing to stop
                connection.add_callback_threadsafe(self._stop_consuming)
            thread.join(self.timeout)
        self._disable_tracing()

    # --- tracing on and off ----------------------------------------------------------------------

    def _enable_tracing(self) -> None:
        key = (self.management.base, self.vhost)
        with _enabled_lock:
            if key in _enabled:
                _enabled[key] += 1
            elif not self.management.get(f"vhosts/{_quoted(self.vhost)}").get("tracing"):
                self.management.set_tracing(self.vhost, True)
                _enabled[key] = 1
            else:
                return  # someone else switched it on: leave it as found
            self._enabled_here = True

    def _disable_tracing(self) -> None:
        if not self._enabled_here:
            return
        self._enabled_here = False
        key = (self.management.base, self.vhost)
        with _enabled_lock:
            _enabled[key] -= 1
            if _enabled[key] == 0:
                del _enabled[key]
                self.management.set_tracing(self.vhost, False)

    # --- markers ---------------------------------------------------------------------------------

    def _mark(self) -> bool:
        """Publish a marker and wait for its firehose copy; False if it did not come in time."""
        connection = self._connection
        if connection is None or self._error is not None:
            return False
        marker = uuid.uuid4().hex
        arrived = self._markers[marker] = threading.Event()

        def publish() -> None:
            assert self._channel is not None
            properties = pika.BasicProperties(message_id=marker)
            self._channel.basic_publish("", MARKER_KEY, b"", properties)

        try:
            connection.add_callback_threadsafe(publish)
        except pika.exceptions.AMQPError:
            return False
        deadline = time.monotonic() + self.timeout
        try:
            while not arrived.wait(MARKER_POLL):  # stop early if the consumer thread has died
                if time.monotonic() >= deadline or self._thread is None or not self._thread.is_alive():
                    return False
            return True
        finally:
            self._markers.pop(marker, None)

    # --- the consumer thread ---------------------------------------------------------------------

    def _consume(self) -> None:
        try:
            parameters = pika.URLParameters(self.url)
            parameters.client_properties = {"connection_name": RECORDER_NAME}
            parameters.socket_timeout = self.timeout
            parameters.blocked_connection_timeout = self.timeout
            connection = pika.BlockingConnection(parameters)
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            for key in BINDING_KEYS:
                channel.queue_bind(queue, TRACE_EXCHANGE, key)
            channel.basic_consume(queue, self._on_message, auto_ack=True)
            self._connection, self._channel = connection, channel
        except BaseException as error:  # reported by start(), on the caller's thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            channel.start_consuming()
        except BaseException as error:
            self._error = error
        finally:
            try:
                if connection.is_open:
                    connection.close()
            except pika.exceptions.AMQPError:
                pass

    def _stop_consuming(self) -> None:
        if self._channel is not None:
            self._channel.stop_consuming()

    def _on_message(
        self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        headers: dict[str, Any] = properties.headers or {}
        marker = marker_of(method.routing_key, headers)
        if marker is not None:
            arrived = self._markers.get(marker)
            if arrived is not None:
                self._live = True
                arrived.set()
            return  # ours or another recorder's: never part of a trace
        if not self._live:
            return  # a step from before the recording began
        assert self._converter is not None and self._deliver is not None
        for event in self._converter.convert(method.routing_key, headers, body, time.monotonic()):
            self._delivered.append(event)
            self._deliver(event)

    def _queue_exists(self, name: str) -> bool:
        """A passive declare, on a channel of its own because a 404 closes it (runs on the
        consumer thread). 405 means the queue exists and is another connection's exclusive one."""
        assert self._connection is not None
        if self._check_channel is None or not self._check_channel.is_open:
            self._check_channel = self._connection.channel()
        try:
            self._check_channel.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            self._check_channel = None
            return bool(error.reply_code == RESOURCE_LOCKED)
        return True


def _quoted(vhost: str) -> str:
    return urllib.parse.quote(vhost, safe="")


def without_recorders(topology: Topology) -> Topology:
    """`topology` less every firehose recorder: queues bound to the trace exchange, with their
    bindings and consumers, and the recorders' connections and channels."""
    queues = {b.destination for b in topology.bindings if b.source == TRACE_EXCHANGE}
    connections = {c.name for c in topology.connections if c.client_provided_name == RECORDER_NAME}
    return dataclasses.replace(
        topology,
        queues=tuple(q for q in topology.queues if q.name not in queues),
        bindings=tuple(b for b in topology.bindings if b.destination not in queues),
        consumers=tuple(c for c in topology.consumers if c.queue not in queues),
        channels=tuple(c for c in topology.channels if c.connection not in connections),
        connections=tuple(c for c in topology.connections if c.name not in connections),
    )
