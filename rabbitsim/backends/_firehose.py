"""Turning RabbitMQ's firehose into the simulator's events (sans-IO: messages in, events out).

With tracing on, RabbitMQ copies every message a channel publishes to the topic exchange
`amq.rabbitmq.trace` as `publish.<exchange>`, and every message a channel hands to a client
(consumer or basic.get) as `deliver.<queue>`. The copy's body is the message's body; its
headers say the rest (measured on 3.10.8 and 4.0.5, see tests/trace/FIREHOSE_FACTS.md):
`exchange_name`, `routing_keys` (CC / BCC included), `properties`, `connection` (RabbitMQ's
name for it, `"127.0.0.1:40780 -> 127.0.0.1:5672"`), `channel`, `user`, `vhost`, `node`; a
publish adds `routed_queues`, a delivery `redelivered`. Nothing names a consumer tag, a
delivery tag, or a broker message id, and nothing at all is said about acks, nacks, returns,
confirms, expiry or topology changes.

Message identity: each publish gets the next number (1, 2, 3 … per trace). A delivery is
matched to a publish by content: same body and properties (less the headers the broker adds
when dead-lettering or counting deliveries), routed to the delivering queue. Among several
such publishes, a first delivery takes the earliest one not yet delivered from that queue, a
redelivery the earliest one already delivered. Identical messages can therefore swap numbers;
give each a `message_id` (or a distinct body) to tell them apart. A delivery that matches no
publish (the message was published before recording began) gets a new number.

Streams (measured on 3.10.8, 4.0.5 and 4.3.6, tests/viz/test_stream_real.py): a delivery from a
stream carries its offset in the `x-stream-offset` header, which becomes the DELIVER's
`detail["offset"]`; 4.x also adds `delivery_mode: 1` to a transient message's properties. A
stream hands the same message to every consumer and again on each replay, so a stream's
delivery is matched by its offset once known (each offset is one message), else by content to
the earliest publish routed there whose offset is not known yet. An ENQUEUE into a stream has
no offset: the publish copy does not say where the message landed, and the management API
gives no committed offset to count from (`rabbitsim.viz` places such messages after the
offsets deliveries revealed).

Derived steps, marked `derived=True` in their detail: a redelivery implies the copy went back
to its queue (REQUEUE, just before the redelivery: the nack, reject or lost channel that caused
it is not visible); a delivery carrying `x-death` implies dead-lettering (EXPIRE when the reason
is `expired`, then DEAD_LETTER, ROUTE and ENQUEUE into the queue it now comes from).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rabbitsim.broker import OFFSET_HEADER, display_text
from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent, plain

BINDING_KEYS = ("publish.#", "deliver.#")

#: Recorders publish a marker to the default exchange with this routing key (no such queue
#: exists) and wait for its firehose copy: everything published before it has then arrived.
MARKER_KEY = "rabbitsim.trace.marker"

#: Headers the broker adds to a message on its way (dead-lettering, quorum delivery counts):
#: left out when matching a delivery to its publish.
BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",
        OFFSET_HEADER,  # a stream's: where in its log the delivered message is
    }
)


def marker_of(routing_key: str, headers: Mapping[str, Any]) -> str | None:
    """The marker id when this firehose message is a recorder's marker, else None."""
    if routing_key != "publish." or display_text(headers.get("exchange_name")) != "":
        return None
    keys = headers.get("routing_keys") or []
    if not keys or display_text(keys[0]) != MARKER_KEY:
        return None
    return display_text((headers.get("properties") or {}).get("message_id"))


@dataclass(slots=True)
class _Published:
    message: int
    queues: set[str]
    delivered: Counter[str] = field(default_factory=Counter)  # deliveries per queue
    dead_from: set[str] = field(default_factory=set)  # queues that dead-lettered it
    offsets: dict[str, int] = field(default_factory=dict)  # stream -> its offset there


Content = tuple[bytes, Any]


class FirehoseConverter:
    """Firehose messages in, `TraceEvent`s out. `queue_exists` answers whether a queue exists
    now: RabbitMQ lists a default-exchange publish as routed to the queue named by its key
    even when there is none (measured on 3.10.8 and 4.0.5), so those names are checked."""

    def __init__(self, queue_exists: Callable[[str], bool], known_queues: Iterable[str] = ()) -> None:
        self.queue_exists = queue_exists
        self.known_queues = set(known_queues)
        self._seq = 0
        self._messages = 0
        self._by_content: dict[Content, list[_Published]] = {}
        self._at_offset: dict[tuple[str, int], _Published] = {}  # (stream, offset) -> message

    def convert(
        self, routing_key: str, headers: Mapping[str, Any], body: bytes, now: float
    ) -> list[TraceEvent]:
        kind, _, name = routing_key.partition(".")
        handler = self._HANDLERS.get(kind)
        return [] if handler is None else handler(self, name, headers, body, now)

    # --- publish.<exchange> --------------------------------------------------------------------

    def _publish(
        self, exchange: str, headers: Mapping[str, Any], body: bytes, now: float
    ) -> list[TraceEvent]:
        vhost = display_text(headers.get("vhost"))
        keys = [display_text(key) for key in headers.get("routing_keys") or []]
        key = keys[0] if keys else ""
        properties = plain(headers.get("properties") or {})
        self._messages += 1
        message = self._messages
        exchange_node = Node(NodeKind.EXCHANGE, exchange)
        events = [
            self._event(
                now,
                EventKind.PUBLISH,
                vhost,
                _publisher(headers),
                exchange_node,
                message,
                key,
                routing_keys=keys,
                properties=properties,
                user=display_text(headers.get("user")),
            )
        ]
        routed = headers.get("routed_queues")
        if routed is None:  # brokers before 3.7 do not say where a message went
            self._remember(body, properties, _Published(message, set()))
            return events
        queues = sorted({name for name in map(display_text, routed) if self._exists(name, exchange)})
        self._remember(body, properties, _Published(message, set(queues)))
        for queue in queues:
            events.append(
                self._event(now, EventKind.ROUTE, vhost, exchange_node, _queue(queue), message, key)
            )
        for queue in queues:
            events.append(self._event(now, EventKind.ENQUEUE, vhost, _queue(queue), None, message, key))
        if not queues:
            events.append(
                self._event(
                    now,
                    EventKind.DROP,
                    vhost,
                    exchange_node,
                    None,
                    message,
                    key,
                    reason="unroutable",
                    note="or returned, if published mandatory: the firehose cannot tell",
                )
            )
        return events

    def _exists(self, queue: str, exchange: str) -> bool:
        if exchange or queue in self.known_queues:  # a binding matched: the queue is real
            self.known_queues.add(queue)
            return True
        if self.queue_exists(queue):
            self.known_queues.add(queue)
            return True
        return False

    # --- deliver.<queue> -------------------------------------------------------------------------

    def _deliver(self, queue: str, headers: Mapping[str, Any], body: bytes, now: float) -> list[TraceEvent]:
        self.known_queues.add(queue)
        vhost = display_text(headers.get("vhost"))
        keys = [display_text(key) for key in headers.get("routing_keys") or []]
        key = keys[0] if keys else ""
        exchange = display_text(headers.get("exchange_name"))
        properties = plain(headers.get("properties") or {})
        redelivered = bool(headers.get("redelivered"))
        content = _content(body, properties)
        events: list[TraceEvent] = []
        offset = _offset(properties)
        if offset is not None:
            return self._deliver_from_stream(queue, offset, content, headers, key, exchange, properties, now)
        record = self._match(content, queue, redelivered)
        if record is None:
            death = _first_death(properties)
            if death is not None:
                record = self._dead_lettered(content, queue, exchange, death, vhost, key, now, events)
        if record is None:
            self._messages += 1
            record = _Published(self._messages, {queue})
            self._by_content.setdefault(content, []).append(record)
        if redelivered and record.delivered[queue]:  # a copy this queue had given out came back
            # (4.3 flags a dead letter's first delivery redelivered when basic.reject sent it)
            events.append(
                self._event(now, EventKind.REQUEUE, vhost, _queue(queue), None, record.message, derived=True)
            )
        events.append(
            self._event(
                now,
                EventKind.DELIVER,
                vhost,
                _queue(queue),
                _receiver(headers),
                record.message,
                key,
                redelivered=redelivered,
                exchange=exchange,
                properties=properties,
            )
        )
        record.delivered[queue] += 1
        return events

    def _deliver_from_stream(
        self,
        stream: str,
        offset: int,
        content: Content,
        headers: Mapping[str, Any],
        key: str,
        exchange: str,
        properties: Mapping[str, Any],
        now: float,
    ) -> list[TraceEvent]:
        """A stream's delivery: the message at `offset`, however many consumers read it."""
        record = self._at_offset.get((stream, offset))
        if record is None:
            record = next(
                (
                    found
                    for found in self._by_content.get(content, ())
                    if stream in found.queues and stream not in found.offsets
                ),
                None,
            )
            if record is None:  # appended before the recording began
                self._messages += 1
                record = _Published(self._messages, {stream})
                self._by_content.setdefault(content, []).append(record)
            record.offsets[stream] = offset
            self._at_offset[(stream, offset)] = record
        record.delivered[stream] += 1
        return [
            self._event(
                now,
                EventKind.DELIVER,
                display_text(headers.get("vhost")),
                _queue(stream),
                _receiver(headers),
                record.message,
                key,
                redelivered=bool(headers.get("redelivered")),
                exchange=exchange,
                properties=properties,
                offset=offset,
            )
        ]

    def _match(self, content: Content, queue: str, redelivered: bool) -> _Published | None:
        candidates = [record for record in self._by_content.get(content, ()) if queue in record.queues]
        if redelivered:
            for record in candidates:
                if record.delivered[queue]:
                    return record
        for record in candidates:
            if not record.delivered[queue]:
                return record
        return None

    def _dead_lettered(
        self,
        content: Content,
        queue: str,
        exchange: str,
        death: Mapping[str, Any],
        vhost: str,
        key: str,
        now: float,
        events: list[TraceEvent],
    ) -> _Published | None:
        """The publish this dead-lettered copy came from, with the steps that brought it here."""
        source = display_text(death.get("queue"))
        reason = display_text(death.get("reason"))
        for record in self._by_content.get(content, ()):
            if source in record.queues and source not in record.dead_from:
                record.dead_from.add(source)
                record.queues.add(queue)
                message, dead_queue = record.message, _queue(source)
                if reason == "expired":
                    events.append(
                        self._event(now, EventKind.EXPIRE, vhost, dead_queue, None, message, derived=True)
                    )
                dlx = Node(NodeKind.EXCHANGE, exchange)
                events += [
                    self._event(
                        now,
                        EventKind.DEAD_LETTER,
                        vhost,
                        dead_queue,
                        dlx,
                        message,
                        key,
                        reason=reason,
                        derived=True,
                    ),
                    self._event(now, EventKind.ROUTE, vhost, dlx, _queue(queue), message, key, derived=True),
                    self._event(
                        now, EventKind.ENQUEUE, vhost, _queue(queue), None, message, key, derived=True
                    ),
                ]
                return record
        return None

    # --- helpers ---------------------------------------------------------------------------------

    def _remember(self, body: bytes, properties: Mapping[str, Any], record: _Published) -> None:
        self._by_content.setdefault(_content(body, properties), []).append(record)

    def _event(
        self,
        now: float,
        kind: EventKind,
        vhost: str,
        source: Node | None,
        target: Node | None,
        message: int,
        routing_key: str | None = None,
        **detail: Any,
    ) -> TraceEvent:
        self._seq += 1
        return TraceEvent(self._seq, now, kind, vhost, source, target, message, routing_key, detail)

    _HANDLERS: ClassVar[
        dict[str, Callable[[FirehoseConverter, str, Mapping[str, Any], bytes, float], list[TraceEvent]]]
    ] = {
        "publish": _publish,
        "deliver": _deliver,
    }


def _queue(name: str) -> Node:
    return Node(NodeKind.QUEUE, name)


def _publisher(headers: Mapping[str, Any]) -> Node:
    connection, channel = display_text(headers.get("connection")), int(headers.get("channel") or 0)
    return Node(NodeKind.PUBLISHER, f"{connection}#{channel}", connection, channel)


def _receiver(headers: Mapping[str, Any]) -> Node:
    """The firehose names the channel a delivery went to, not the consumer tag (nor whether it
    answered a basic.get): the receiver is named by its connection and channel."""
    connection, channel = display_text(headers.get("connection")), int(headers.get("channel") or 0)
    return Node(NodeKind.CONSUMER, f"{connection}#{channel}", connection, channel)


def _first_death(properties: Mapping[str, Any]) -> Mapping[str, Any] | None:
    deaths = (properties.get("headers") or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]
    return None


def _offset(properties: Mapping[str, Any]) -> int | None:
    """The stream offset a delivery carries, or None (not from a stream)."""
    value = (properties.get("headers") or {}).get(OFFSET_HEADER)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _content(body: bytes, properties: Mapping[str, Any]) -> Content:
    """What identifies a message across publish and delivery: body and properties, less the
    headers the broker adds on the way, as a hashable value. `delivery_mode` 1 (transient) is
    what no mode means, and RabbitMQ 4.x writes it into a stream's deliveries: left out."""
    if properties.get("delivery_mode") == 1:
        properties = {name: value for name, value in properties.items() if name != "delivery_mode"}
    headers = properties.get("headers")
    if isinstance(headers, Mapping):
        kept = {name: value for name, value in headers.items() if name not in BROKER_HEADERS}
        properties = (
            {**properties, "headers": kept}
            if kept
            else {k: v for k, v in properties.items() if k != "headers"}
        )
    return bytes(body), _frozen(properties)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _frozen(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return repr(value)
