"""Streams (`x-queue-type: stream`): a queue that is a log, as RabbitMQ serves one over AMQP 0-9-1.

A message appended to a stream gets the next offset and stays there after it is read: every
consumer has its own place in the log (its `Reader`), starts where its `x-stream-offset` says,
and an ack only gives it room for the next message (credit), removing nothing. The log is cut
into segments (osiris' files); retention (`x-max-length-bytes`, `x-max-age`, or the policy keys
of the same names, which win over the arguments) removes whole segments, oldest first, never the
one being written, and only when a new segment starts (or a policy changes), as osiris does.

Sizes follow osiris' on-disk format as measured (tests/conformance/STREAM_FACTS.md): every
segment after the first opens with a tracking snapshot that takes an offset of its own (so the
offsets of messages have gaps there), and a message costs its chunk header, its entry, its
publisher's tracking trailer and the message as RabbitMQ stores it. The simulator writes one chunk
per message (osiris writes one per batch the writer received together), so `last` starts at the
newest message and a timestamp resolves per message; properties' sizes are estimated.
docs/streams.md says what that changes for a learner.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from rabbitsim.vocabulary import EventKind

from ._arguments import max_age_ms
from ._durability import ForgetCopy, KeepCopy
from ._errors import NOT_IMPLEMENTED, PRECONDITION_FAILED, ChannelError, ConnectionError, Crash
from ._message import Entry, Long, Message, Properties, PropertiesLike, with_changes
from ._policies import queue_settings
from ._queue import Queue
from ._text import utf8_text

if TYPE_CHECKING:
    from ._connection import Connection
    from ._consumer import Consumer
    from ._vhost import VHost

#: osiris' format: an 8-byte segment header; a 48-byte chunk header; a 4-byte length before each
#: entry; a 16-byte bloom filter in a chunk that holds a filter value (4.x)
SEGMENT_HEADER_BYTES: Final = 8
CHUNK_HEADER_BYTES: Final = 48
ENTRY_HEADER_BYTES: Final = 4
FILTER_BYTES: Final = 16
#: a publisher's tracking: its writer id ("<0.N.0>_" and 22 characters), the trailer a chunk
#: carries for it (not the first chunk after a snapshot), and its entry in a snapshot
WRITER_ID_BYTES: Final = 34
TRAILER_BYTES: Final = 10 + WRITER_ID_BYTES
SNAPSHOT_BYTES: Final = CHUNK_HEADER_BYTES + ENTRY_HEADER_BYTES + (1 + 1 + WRITER_ID_BYTES + 8 + 8)
#: RabbitMQ's defaults: 500 MB segments; no retention unless asked
DEFAULT_SEGMENT_BYTES: Final = 500_000_000
FILTER_VALUE_HEADER: Final = "x-stream-filter-value"
OFFSET_HEADER: Final = "x-stream-offset"


def stored_size(message: Message, overhead: int) -> int:
    """The bytes RabbitMQ stores for a message: measured exactly for one without properties
    (`overhead` + exchange + routing key + body); properties are estimated (their AMQP 1.0
    encoding: a few bytes of framing each, plus the text)."""
    size = overhead + len(message.exchange.encode()) + len(message.routing_key.encode()) + len(message.body)
    for name, value in _property_items(message.properties):
        if name == "headers":
            size += sum(3 + len(str(key)) + 3 + len(str(item)) for key, item in value.items())
        else:
            size += 3 + len(str(value))
    return size


#: the properties a stream keeps (RabbitMQ drops `cluster_id`), in AMQP's order
_PROPERTY_NAMES: Final = tuple(
    field.name for field in dataclasses.fields(Properties) if field.name != "cluster_id"
)


def _property_items(properties: PropertiesLike) -> Iterator[tuple[str, Any]]:
    for name in _PROPERTY_NAMES:
        value = getattr(properties, name, None)
        if value is not None and value != {}:
            yield name, value


class Record(Entry):
    """One message in a stream's log. `seq` is its offset; `timestamp` (ms since the epoch) is
    when its chunk was written, which timestamp offsets and `x-max-age` read."""

    __slots__ = ("filter_value", "shown", "timestamp")

    def __init__(self, message: Message, offset: int, timestamp: int, filter_value: str | None) -> None:
        super().__init__(message, offset)
        self.timestamp = timestamp
        self.filter_value = filter_value
        self.shown: Message | None = None  # as delivered: the same for every reader


class Segment:
    """One segment file: where it starts in the log, its size in bytes and its newest timestamp."""

    __slots__ = ("first", "last_timestamp", "size")

    def __init__(self, first: int) -> None:
        self.first = first
        self.size = SEGMENT_HEADER_BYTES
        self.last_timestamp = 0


class Log:
    """A stream's messages, oldest first, by offset; offsets run from `first` (where the oldest
    segment starts) to `next` - 1, with gaps where a snapshot took one. It stands where a queue
    keeps its ready messages; nothing is ever taken from its head by a delivery."""

    __slots__ = ("first", "next", "offsets", "records", "segments")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.offsets: list[int] = []  # records[i].seq, for finding an offset
        self.first = 0
        self.next = 0  # the offset the next chunk gets
        self.segments: deque[Segment] = deque([Segment(0)])

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.records)

    def __getitem__(self, index: int, /) -> Entry:
        return self.records[index]

    @property
    def span(self) -> int:
        """How many offsets the log holds, snapshots included: RabbitMQ's count of messages."""
        return self.next - self.first

    def append(self, entry: Entry, /) -> None:
        assert isinstance(entry, Record)
        self.records.append(entry)
        self.offsets.append(entry.seq)
        self.next = entry.seq + 1

    def popleft(self) -> Entry:
        raise TypeError("a stream's log is never consumed from its head")

    def clear(self) -> None:
        self.records.clear()
        self.offsets.clear()
        self.first = self.next
        self.segments = deque([Segment(self.first)])

    def index_at_or_after(self, offset: int) -> int:
        """Where the first message at or after `offset` is in `records` (len: none yet)."""
        return bisect.bisect_left(self.offsets, offset)

    def drop_segments(self, count: int) -> list[Record]:
        """Remove the `count` oldest segments and the messages in them."""
        for _ in range(count):
            self.segments.popleft()
        self.first = self.segments[0].first
        cut = self.index_at_or_after(self.first)
        gone = self.records[:cut]
        del self.records[:cut]
        del self.offsets[:cut]
        return gone

    def first_at_or_after(self, timestamp: int) -> int:
        """The offset of the first message written at or after `timestamp` (ms), or the next."""
        for record in self.records:  # oldest first; a reader starting by time is rare
            if record.timestamp >= timestamp:
                return record.seq
        return self.next


class Reader:
    """A consumer's place in a stream: the next offset it is sent, the offset below which it
    skips what it reads (a numeric `x-stream-offset` can point inside a chunk), and its filter."""

    __slots__ = ("filters", "match_unfiltered", "next", "start")

    def __init__(
        self, next_offset: int, start: int, filters: tuple[str, ...] | None, match_unfiltered: bool
    ) -> None:
        self.next = next_offset
        self.start = start
        self.filters = filters
        self.match_unfiltered = match_unfiltered

    def wants(self, record: Record) -> bool:
        if record.seq < self.start:
            return False
        if self.filters is None:
            return True
        value = record.filter_value
        if value is None:  # unfiltered: with match-unfiltered, or a filter "" (measured)
            return self.match_unfiltered or "" in self.filters
        return value in self.filters


# --- what a consumer may ask of a stream -------------------------------------------------------


def check_stream_consume(queue: Queue, *, prefetch: int, no_ack: bool, global_qos: bool) -> None:
    """RabbitMQ's refusals, in its order: no prefetch (406), automatic acks (540), a channel-wide
    prefetch limit (540). The texts differ between 3.10 and 4.x."""
    profile = queue.vhost.broker.profile
    if prefetch == 0:
        raise ChannelError(PRECONDITION_FAILED, profile.stream_no_prefetch_text.format(queue.described))
    if no_ack:
        raise ConnectionError(NOT_IMPLEMENTED, profile.stream_auto_ack_text.format(queue.described))
    if global_qos:
        raise ConnectionError(NOT_IMPLEMENTED, f"{queue.described} does not support global qos")


def _offset_spec(value: Any) -> Any:
    """`x-stream-offset` as RabbitMQ parses it: first / last / next, a timestamp, an interval
    ("30s", as `x-max-age` is written) back from now, or an offset; None when it cannot be read."""
    if value is None:
        return "next"
    if isinstance(value, datetime.datetime):
        return ("timestamp", int(value.replace(tzinfo=value.tzinfo or datetime.UTC).timestamp()) * 1000)
    if isinstance(value, bytes | bytearray):  # only a keyword can be read from a byte array
        return bytes(value).decode()
    if isinstance(value, str):
        text = value
        if text in ("first", "last", "next"):
            return text
        age = max_age_ms(text)
        return None if age is None else ("age", age)
    return value


def _filters(arguments: Mapping[str, Any]) -> tuple[tuple[str, ...] | None, bool]:
    """`x-stream-filter` (a string, or an array of them) and `x-stream-match-unfiltered`."""
    value = arguments.get("x-stream-filter")
    if isinstance(value, str | bytes):
        filters: tuple[str, ...] | None = (utf8_text(value),)
    elif isinstance(value, list | tuple):
        filters = tuple(utf8_text(item) for item in value if isinstance(item, str | bytes))
    else:
        return None, False
    match = arguments.get("x-stream-match-unfiltered")
    return filters, match if isinstance(match, bool) else False


class Stream(Queue):
    """A stream queue. It keeps the `Queue` face (bindings, consumers, declare-ok counts, the
    management API's listing) and replaces what a log does differently: appending, reading by
    offset, acks as credit, no requeue, retention by segment."""

    __slots__ = ("max_age", "readers", "segment_bytes")

    is_stream = True
    ready: Log

    def __init__(
        self,
        name: str,
        vhost: VHost,
        *,
        durable: bool,
        owner: Connection | None,
        auto_delete: bool,
        arguments: Mapping[str, Any],
    ) -> None:
        self.readers: dict[Consumer, Reader] = {}
        super().__init__(
            name, vhost, durable=durable, owner=owner, auto_delete=auto_delete, arguments=arguments
        )
        self.ready = Log()
        self.counts_deliveries = True  # every delivery carries its offset (`as_delivered`)

    def _configure(self, settings: Mapping[str, Any]) -> None:
        """Retention and segment size: from the arguments, or from a policy, which wins."""
        super()._configure({})
        length_bytes = settings.get("x-max-length-bytes")
        self.max_length_bytes = length_bytes if isinstance(length_bytes, int) else None
        age = settings.get("x-max-age")
        self.max_age = max_age_ms(utf8_text(age)) if isinstance(age, str | bytes) else None
        segment = settings.get("x-stream-max-segment-size-bytes")
        self.segment_bytes = segment if isinstance(segment, int) and segment > 0 else DEFAULT_SEGMENT_BYTES

    def apply_policy(self, definition: Mapping[str, Any]) -> None:
        """A policy's retention is evaluated at once (osiris' `update_retention`)."""
        self._configure(queue_settings("stream", self.arguments, definition))
        self.apply_retention()

    # --- appending ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        """The wall-clock time in ms, which chunk timestamps and ages are read against."""
        broker = self.vhost.broker
        return int((broker.wall_clock or broker.clock)() * 1000)

    def receive(self, message: Message, expiring: bool = False) -> bool:
        """Append `message` (a stream keeps every message, persistent or not, and ignores its
        `expiration`); retention runs when the append started a new segment."""
        broker = self.vhost.broker
        record, rolled = self._write(message, self._now_ms())
        if self.keeps:
            broker.keep(KeepCopy(self, record))
        if broker.tracing:
            broker.emit(
                EventKind.ENQUEUE,
                self.vhost_name,
                self.node,
                message=message.id,
                routing_key=message.routing_key,
                offset=record.seq,
            )
        if rolled:
            self.apply_retention()
        if self.consumers:
            self.dispatch()
        return True

    def _write(self, message: Message, timestamp: int, offset: int | None = None) -> tuple[Record, bool]:
        """Write `message` as one chunk at the log's end (at `offset` when restoring one): into a
        new segment when the current one is full (osiris checks before each chunk), which opens
        with a tracking snapshot taking an offset. True when a new segment started."""
        profile = self.vhost.broker.profile
        log = self.ready
        segment = log.segments[-1]
        trailer = TRAILER_BYTES
        rolled = segment.size >= self.segment_bytes
        if rolled:
            segment = Segment(log.next)
            log.segments.append(segment)
            if log.next > 0:  # the stream has publishers to track
                segment.size += SNAPSHOT_BYTES
                log.next += 1
                trailer = 0
        headers = message.properties.headers
        value = headers.get(FILTER_VALUE_HEADER) if headers else None
        if value is not None and not isinstance(value, str) and profile.stream_filtering:
            raise Crash()  # 4.x's stream client reads only a string there (measured)
        filter_value = value if isinstance(value, str) and value else None
        size = CHUNK_HEADER_BYTES + ENTRY_HEADER_BYTES + stored_size(message, profile.stream_message_overhead)
        if filter_value is not None and profile.stream_filtering:
            size += FILTER_BYTES
        record = Record(message, log.next if offset is None else offset, timestamp, filter_value)
        segment.size += size + trailer
        segment.last_timestamp = timestamp
        log.append(record)
        self.next_seq = log.next
        return record, rolled

    def restore(self, stored: list[tuple[int, Message, int]]) -> None:
        """The stored messages, (offset, message, timestamp) in offset order, back into the log;
        segments are cut again as they were written, and retention runs, as osiris' writer
        evaluates it when it starts."""
        log = self.ready
        if stored:
            log.first = log.next = stored[0][0]
            log.segments = deque([Segment(log.first)])
        for offset, message, timestamp in stored:
            self._write(message, timestamp, offset)
        self.apply_retention()

    def apply_retention(self) -> None:
        """osiris' evaluation: by size, keep the newest segments whose sizes fit in
        `max_length_bytes` (the newest always); by age, drop the oldest segments whose newest
        message is older than `max_age`, never the newest segment."""
        log = self.ready
        segments = log.segments
        drop = 0
        if self.max_length_bytes is not None:
            room = self.max_length_bytes - segments[-1].size
            kept = 1
            for segment in reversed(list(segments)[:-1]):
                if segment.size > room:
                    break
                room -= segment.size
                kept += 1
            drop = len(segments) - kept
        if self.max_age is not None:
            oldest_kept = self._now_ms() - self.max_age
            while drop < len(segments) - 1 and segments[drop].last_timestamp < oldest_kept:
                drop += 1
        if drop:
            self._drop(log.drop_segments(drop))

    def _drop(self, gone: list[Record]) -> None:
        broker = self.vhost.broker
        for record in gone:
            if self.keeps:
                broker.keep(ForgetCopy(self, record))
            if broker.tracing:
                broker.emit(
                    EventKind.DROP,
                    self.vhost_name,
                    self.node,
                    message=record.message.id,
                    reason="retention",
                    offset=record.seq,
                )
        first = self.ready.first
        for reader in self.readers.values():
            reader.next = max(reader.next, first)

    # --- reading --------------------------------------------------------------------------------

    def start_reading(self, consumer: Consumer) -> int:
        """Place a new consumer in the log by its `x-stream-offset`; the offset it reads first."""
        log = self.ready
        spec = _offset_spec(consumer.arguments.get("x-stream-offset"))
        first, end = log.first, log.next
        start = first
        if spec == "first":
            position = first
        elif spec == "last":  # the start of the last chunk: the newest message
            position = log.records[-1].seq if log.records else end
        elif isinstance(spec, tuple):
            kind, value = spec
            position = log.first_at_or_after(value if kind == "timestamp" else self._now_ms() - value)
        elif isinstance(spec, int) and not isinstance(spec, bool):
            position = min(max(spec, first), end)
            start = spec
        else:  # "next", or nothing said
            position = end
        filters, match_unfiltered = (None, False)
        if self.vhost.broker.profile.stream_filtering:
            filters, match_unfiltered = _filters(consumer.arguments)
        self.readers[consumer] = Reader(position, start, filters, match_unfiltered)
        return position

    def add_consumer(self, consumer: Consumer) -> None:
        super().add_consumer(consumer)
        self.start_reading(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        super().remove_consumer(consumer)
        self.readers.pop(consumer, None)

    @property
    def offsets(self) -> tuple[int, int] | None:
        """The first and the last offset the log holds (None: it holds none)."""
        log = self.ready
        return (log.first, log.next - 1) if log.span else None

    @property
    def message_counts(self) -> tuple[int, int]:
        """The offsets the log holds (snapshots too), and nothing unacknowledged (measured)."""
        return self.ready.span, 0

    def counts(self) -> tuple[int, int]:
        """declare-ok's counts: the offsets held (RabbitMQ's count of messages) and, always, no
        consumers (measured)."""
        return self.ready.span, 0

    def reading_at(self, consumer: Consumer) -> int:
        return self.readers[consumer].next

    def dispatch(self) -> None:
        """Each consumer reads on from its own place while its prefetch leaves room."""
        log = self.ready
        records = log.records
        for consumer in list(self.consumers):
            reader = self.readers.get(consumer)
            if reader is None:
                continue
            index = log.index_at_or_after(reader.next)
            while index < len(records) and consumer.has_room():
                record = records[index]
                index += 1
                reader.next = record.seq + 1
                if reader.wants(record):
                    consumer.channel.deliver(consumer, self, record)
                    if consumer not in self.readers:  # the delivery closed its channel
                        break

    def as_delivered(self, entry: Entry) -> Message:
        """The message as a stream gives it back: its offset in the `x-stream-offset` header (a
        signed 64-bit field), no `cluster_id`, and on 4.x a delivery mode if it had none. Made
        once per message: every reader gets the same, so the wire can reuse its encoding."""
        if isinstance(entry, Record) and entry.shown is not None:
            return entry.shown
        message = entry.message
        properties = message.properties
        changes: dict[str, Any] = {
            "headers": {**(properties.headers or {}), OFFSET_HEADER: Long(entry.seq)},
            "cluster_id": None,
        }
        if properties.delivery_mode is None and self.vhost.broker.profile.stream_sets_delivery_mode:
            changes["delivery_mode"] = 1
        changed = with_changes(properties, **changes)
        shown = Message(message.id, message.exchange, message.routing_key, changed, message.body)
        if isinstance(entry, Record):
            entry.shown = shown
        return shown

    # --- acks are credit; nothing is requeued or removed -------------------------------------

    def requeue(self, entries: list[Entry], *, failed: bool = True) -> list[Entry]:
        """A nack or reject with requeue, a recover, a closed channel: the consumer gets room,
        the message stays where it is in the log and is not sent again."""
        if self.consumers:
            self.dispatch()
        return []

    def forget(self, entry: Entry) -> None:
        """Acked or rejected: a stream keeps it until retention removes its segment."""

    def delivered(self, entry: Entry, no_ack: bool) -> None:
        """Reading marks nothing on disk."""

    def purge(self) -> None:
        """Never called: queue.purge refuses a stream first (`_declaring`)."""
        raise TypeError("a stream cannot be purged")

    def touch(self) -> None:
        """Streams have no `x-expires`."""


def new_queue(
    name: str,
    vhost: VHost,
    *,
    durable: bool,
    owner: Connection | None,
    auto_delete: bool,
    arguments: Mapping[str, Any],
) -> Queue:
    """A queue of the type its arguments name: a `Stream` for `x-queue-type: stream`."""
    kind = Stream if arguments.get("x-queue-type") in ("stream", b"stream") else Queue
    return kind(name, vhost, durable=durable, owner=owner, auto_delete=auto_delete, arguments=arguments)
