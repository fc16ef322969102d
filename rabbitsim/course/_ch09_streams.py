"""Chapter 9, streams: the checks of exercises 9.1 (a new consumer that reads only what arrived
in the last so many seconds), 9.2 (a consumer that resumes after the last offset it processed)
and 9.3 (a stream whose retention keeps at most about RETENTION_BYTES bytes).

Each check makes a stream of its own with an unguessable name, publishes to it with confirms,
gives the learner's function a real pika channel (watched, so the verdict can quote the
`x-stream-offset` the consumer asked for), and judges by what the broker then delivered: which
messages, at which offsets, or which refusal (a missing prefetch, auto-ack) in RabbitMQ's
words. Timestamps are the broker's: the gaps between "earlier" and "recent" messages are real
seconds, sized so that a timestamp sent as AMQP's whole seconds still falls between them."""

from __future__ import annotations

import contextlib
import datetime
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import BrokerHandle, ManagementClient, ManagementError

from ._client import connected, delete_queues, describe, private_name
from ._feedback import Feedback, exercise, listed, plural, right, wrong

__all__ = [
    "RETENTION_BYTES",
    "RETENTION_MESSAGE_BYTES",
    "StreamRead",
    "check_recent",
    "check_resume",
    "check_retention",
    "read_stream",
]

STREAM = {"x-queue-type": "stream"}
OFFSET = "x-stream-offset"
NO_CONSUMER = "no consumer"  # what a learner's function that never called basic_consume asked for
NO_OFFSET = "no x-stream-offset"
#: how long a check waits for a delivery that may never come (a consumer that starts at "next")
QUIET_SECONDS = 1.5
#: how long it waits at most for deliveries it knows are coming
ARRIVAL_SECONDS = 5.0


# --- reading a stream, and watching the learner's consumer ----------------------------------------


@dataclass(frozen=True, slots=True)
class StreamRead:
    """One delivery from a stream: its offset (the `x-stream-offset` header) and body."""

    offset: int | None
    body: str

    def __str__(self) -> str:
        return f"{self.body!r} (offset {self.offset})"


@dataclass
class _Recorder:
    """The `on_message` callback handed to the learner: it keeps what arrives and acknowledges
    it (a stream consumer without acks stops once its prefetch is used up)."""

    got: list[StreamRead] = field(default_factory=list)

    def __call__(self, channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        offset = (properties.headers or {}).get(OFFSET)
        self.got.append(StreamRead(None if offset is None else int(offset), body.decode(errors="replace")))
        if channel.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                channel.basic_ack(method.delivery_tag)

    @property
    def bodies(self) -> list[str]:
        return [item.body for item in self.got]


class _WatchedChannel:
    """The learner's channel: a real pika channel that notes each consumer's arguments, so that a
    verdict can quote them."""

    def __init__(self, channel: BlockingChannel) -> None:
        self._channel = channel
        self.consumes: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def basic_consume(
        self,
        queue: str,
        on_message_callback: Callable[..., Any],
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> str:
        self.consumes.append(dict(arguments or {}))
        tag: str = self._channel.basic_consume(
            queue,
            on_message_callback,
            auto_ack=auto_ack,
            exclusive=exclusive,
            consumer_tag=consumer_tag,
            arguments=arguments,
        )
        return tag

    @property
    def offset(self) -> Any:
        """The last consumer's `x-stream-offset` as the learner wrote it (NO_CONSUMER, NO_OFFSET)."""
        if not self.consumes:
            return NO_CONSUMER
        return self.consumes[-1].get(OFFSET, NO_OFFSET)


def _pump(connection: pika.BlockingConnection, done: Callable[[], bool], timeout: float) -> bool:
    """Let deliveries arrive until `done()` or `timeout` (a closed connection ends it too)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline or not connection.is_open:
            return done()
        connection.process_data_events(time_limit=0.05)
    return True


def _publish(channel: BlockingChannel, stream: str, bodies: list[str]) -> None:
    """Publish with confirms (the channel is in confirm mode): each is in the log on return."""
    for body in bodies:
        channel.basic_publish("", stream, body.encode())


def read_stream(broker: BrokerHandle, stream: str, until: str, *, offset: Any = "first") -> list[StreamRead]:
    """What a new consumer of `stream` starting at `offset` reads, up to the message `until`
    (which the caller published last): the log as the broker keeps it."""
    recorder = _Recorder()
    with connected(broker, "exercise reader") as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=500)
        channel.basic_consume(stream, recorder, arguments={OFFSET: offset})
        _pump(connection, lambda: until in recorder.bodies, ARRIVAL_SECONDS)
    return recorder.got


def _call(function: Callable[..., object], *args: Any) -> str | None:
    """Call the learner's function; None if it returned, else what it raised as the broker said it."""
    try:
        function(*args)
    except Exception as error:  # the learner's code: report it, never raise it
        return describe(error)
    return None


def _refusal_advice(raised: str) -> str:
    """What a stream consumer's usual refusals mean."""
    if "prefetch count is not set" in raised:
        return (
            "A stream consumer needs a prefetch: channel.basic_qos(prefetch_count=...) before basic_consume."
        )
    if "automatic acknowledgement" in raised:
        return "A stream consumer must acknowledge manually: leave auto_ack=False (acks remove nothing)."
    if "invalid arg 'x-stream-offset'" in raised or "INTERNAL_ERROR" in raised:  # 3.10 and 4.0: 541 for some
        return (
            "x-stream-offset takes 'first', 'last', 'next', an offset (int), a timestamp (datetime) or an "
            "interval string with its unit: '30s', '5m', '1h', '7D'."
        )
    return "See the broker's reply above."


@contextlib.contextmanager
def _stream(broker: BrokerHandle, what: str) -> Iterator[str]:
    """A stream of the check's own, deleted afterwards whatever happened to it."""
    name = private_name(what)
    try:
        with connected(broker, f"exercise {what} (setup)") as connection:
            connection.channel().queue_declare(name, durable=True, arguments=STREAM)
        yield name
    finally:
        delete_queues(broker, [name])


@dataclass
class _Consumed:
    """What the learner's consumer did: what it raised, asked for and received."""

    raised: str | None = None
    offset: Any = NO_CONSUMER  # its x-stream-offset, as written
    got: list[StreamRead] = field(default_factory=list)

    @property
    def bodies(self) -> list[str]:
        return [item.body for item in self.got]

    @property
    def asked(self) -> str:
        if self.offset in (NO_CONSUMER, NO_OFFSET):
            return str(self.offset)
        return f"x-stream-offset={self.offset!r}"


def _consume_with(
    broker: BrokerHandle,
    what: str,
    start: Callable[[_WatchedChannel, _Recorder], object],
    until: Callable[[_Recorder], bool],
    *,
    timeout: float,
    then: Callable[[], object] | None = None,
    until_then: Callable[[_Recorder], bool] | None = None,
) -> _Consumed:
    """Run the learner's `start(channel, on_message)` on a connection of its own, let deliveries
    arrive until `until` (or `timeout`), then optionally run `then()` (the check publishes more)
    and wait for `until_then` (or `timeout` again)."""
    run = _Consumed()
    recorder = _Recorder()
    with connected(broker, f"exercise {what}") as connection:
        watched = _WatchedChannel(connection.channel())
        run.raised = _call(start, watched, recorder)
        run.offset = watched.offset
        if run.raised is None and connection.is_open and watched.consumes:
            try:
                _pump(connection, lambda: until(recorder), timeout)
                if then is not None and until_then is not None:
                    then()
                    _pump(connection, lambda: until_then(recorder), timeout)
            except pika.exceptions.AMQPError as error:  # the broker closed it over the learner's code
                run.raised = describe(error)
    run.got = recorder.got
    return run


def _not_consuming(run: _Consumed) -> Feedback | None:
    """The verdict when the learner's consumer did not get going at all, else None."""
    if run.raised is not None and not run.raised[:3].isdigit():  # Python's error, not the broker's
        return wrong("Your function raised an error", run.raised)
    if run.raised is not None:
        return wrong(
            "The broker refused your consumer",
            f"It answered {run.raised}.",
            _refusal_advice(run.raised),
        )
    if run.offset == NO_CONSUMER:
        return wrong(
            "Your function started no consumer", "Call channel.basic_consume(stream, on_message, ...)."
        )
    return None


# --- exercise 9.1 -----------------------------------------------------------------------------------

EARLIER = ["earlier 1", "earlier 2", "earlier 3"]
RECENT = ["recent 1", "recent 2"]
#: the window the check asks for, and the real seconds between the two batches: a timestamp is
#: sent in whole seconds, so "now - WINDOW" may be read up to a second early; the gap leaves room
WINDOW_SECONDS = 1
GAP_SECONDS = WINDOW_SECONDS + 1.3


@dataclass
class _Recent:
    short: _Consumed = field(default_factory=_Consumed)  # asked for the last WINDOW_SECONDS
    minute: _Consumed = field(default_factory=_Consumed)  # asked for the last 60 seconds


def _window(
    broker: BrokerHandle,
    stream: str,
    seconds: int,
    consume_recent: Callable[..., object],
    expected: list[str],
) -> _Consumed:
    """The learner's consumer of the last `seconds`, until it has `expected`'s last message."""

    def start(channel: _WatchedChannel, on_message: _Recorder) -> object:
        return consume_recent(channel, stream, seconds, on_message)

    return _consume_with(
        broker, "9.1", start, lambda recorder: expected[-1] in recorder.bodies, timeout=QUIET_SECONDS
    )


def _recent(broker: BrokerHandle, consume_recent: Callable[..., object]) -> _Recent:
    run = _Recent()
    with _stream(broker, "9.1") as stream:
        with connected(broker, "exercise 9.1 (producer)") as producer:
            channel = producer.channel()
            channel.confirm_delivery()
            _publish(channel, stream, EARLIER)
            time.sleep(GAP_SECONDS)
            _publish(channel, stream, RECENT)
        run.short = _window(broker, stream, WINDOW_SECONDS, consume_recent, RECENT)
        if run.short.bodies == RECENT:  # else the verdict is about the short window already
            run.minute = _window(broker, stream, 60, consume_recent, EARLIER + RECENT)
    return run


def _why_recent_is_wrong(consumed: _Consumed) -> str:
    """Why a consumer asked for the last WINDOW_SECONDS got what it got."""
    offset, got = consumed.offset, consumed.bodies
    if offset in (NO_OFFSET, "next"):
        return (
            "A consumer without x-stream-offset (or with 'next') starts at the end of the log: it gets "
            "only messages published after it starts, and the check published none."
        )
    if offset == "first":
        return "'first' starts at the beginning of the log, however old."
    if offset == "last":
        return "'last' starts at the last chunk (the last batch the broker wrote), not at a time."
    if isinstance(offset, int) and not isinstance(offset, bool):
        return (
            f"A number is an offset, a position in the log (here {offset}), not a number of seconds: use "
            "an interval string such as f'{seconds}s', or a datetime."
        )
    if isinstance(offset, datetime.datetime) and offset.tzinfo is None:
        return (
            "pika sends a datetime without a time zone as if it were UTC: with a local time the start is "
            "hours off. Use datetime.now(timezone.utc) - timedelta(seconds=seconds)."
        )
    if not got:
        return (
            f"It started reading after the recent messages: the start must be {WINDOW_SECONDS} s before now."
        )
    if any(body in EARLIER for body in got):
        return (
            f"It also read messages published {GAP_SECONDS:.1f} s before the recent ones, more than "
            f"{WINDOW_SECONDS} s ago: is the unit right ('s' for seconds, 'm' for minutes)?"
        )
    return f"It missed recent messages: the start must be {WINDOW_SECONDS} s before now."


@exercise(
    "9.1",
    "Read only what arrived in the last minute",
    solution="""def consume_recent(channel, stream, seconds, on_message):
    channel.basic_qos(prefetch_count=100)      # a stream consumer needs a prefetch...
    channel.basic_consume(                     # ...and manual acks (on_message acks)
        stream, on_message, arguments={"x-stream-offset": f"{seconds}s"}
    )


course.EXERCISES["9.1"](broker, consume_recent)""",
    explanation=(
        "x-stream-offset takes an interval as a string with its unit ('60s', '1m', '2h', '7D'): the "
        "broker subtracts it from its own clock and starts at the first chunk written since. A "
        "datetime works too (datetime.now(timezone.utc) - timedelta(seconds=seconds)), sent as an AMQP "
        "timestamp in whole seconds. A plain number would be an offset, a position in the log."
    ),
    hints=(
        "Which x-stream-offset values are about time rather than position? Section 3 used two.",
        "An interval is a string with a unit: '30s' is thirty seconds.",
    ),
)
def check_recent(broker: BrokerHandle, consume_recent: Callable[..., object]) -> Feedback:
    """Publish EARLIER, wait GAP_SECONDS, publish RECENT; then call `consume_recent(channel,
    stream, seconds, on_message)` with seconds=WINDOW_SECONDS (must read RECENT only) and, on a
    new connection, with seconds=60 (must read everything)."""
    run = _recent(broker, consume_recent)
    short, minute = run.short, run.minute
    refused = _not_consuming(short)
    if refused is None and short.bodies == RECENT:
        refused = _not_consuming(minute)  # a Feedback is falsy when wrong: no `or` here
    if refused is not None:
        return refused
    asked = f"Your consumer asked for {short.asked} (seconds={WINDOW_SECONDS})" + (
        f" and {minute.asked} (seconds=60)." if minute.offset != NO_CONSUMER else "."
    )
    story = (
        f"The check published {listed(EARLIER)}, waited {GAP_SECONDS:.1f} s, published {listed(RECENT)}, "
        f"and then asked for the last {WINDOW_SECONDS} s."
    )
    if short.bodies != RECENT:
        return wrong(
            f"Asked for the last {WINDOW_SECONDS} s, your consumer read "
            + (listed(short.bodies) if short.bodies else "nothing"),
            story,
            asked,
            _why_recent_is_wrong(short),
        )
    if minute.bodies != EARLIER + RECENT:
        return wrong(
            f"Asked for the last 60 s, your consumer read {listed(minute.bodies)}",
            "Every message the check published is less than a minute old, so all five should arrive.",
            asked,
            "Does your function use its `seconds` argument?",
        )
    return right(
        "Your consumer reads exactly what arrived in the window",
        story,
        f"It read {', '.join(str(item) for item in short.got)}; asked for 60 s, all "
        f"{plural(len(minute.got), 'message')}.",
        asked,
    )


# --- exercise 9.2 -----------------------------------------------------------------------------------

EVENTS = [f"event {number}" for number in range(1, 9)]
PROCESSED = 5  # the consumer had processed events 1..PROCESSED when it crashed
LATER = ["event 9", "event 10"]  # published while the resumed consumer runs


@exercise(
    "9.2",
    "Resume after the last processed offset",
    solution="""def resume(channel, stream, last_done, on_message):
    channel.basic_qos(prefetch_count=100)
    channel.basic_consume(
        stream, on_message, arguments={"x-stream-offset": last_done + 1}
    )


course.EXERCISES["9.2"](broker, resume)""",
    explanation=(
        "The broker does not remember how far a consumer of a stream got: the consumer keeps its "
        "own offset (Kafka's consumers commit theirs). It saved the offset of the last event it "
        "finished, so it starts at the next one: last_done + 1. Starting at last_done would do that "
        "event twice; 'next' would skip what was published while it was down; 'first' would redo "
        "everything."
    ),
    hints=(
        "x-stream-offset also takes a number: the offset to start at.",
        "last_done was already processed.",
    ),
)
def check_resume(broker: BrokerHandle, resume: Callable[..., object]) -> Feedback:
    """Publish EVENTS; a consumer processed the first PROCESSED of them (their offsets are read
    back from the broker); call `resume(channel, stream, last_done, on_message)`, then publish
    LATER. Every event after last_done, and the later ones, must arrive exactly once, in order."""
    with _stream(broker, "9.2") as stream, connected(broker, "exercise 9.2 (producer)") as producer:
        channel = producer.channel()
        channel.confirm_delivery()
        _publish(channel, stream, EVENTS)
        log = read_stream(broker, stream, EVENTS[-1])
        offsets = {item.body: item.offset for item in log}
        last_done = offsets[EVENTS[PROCESSED - 1]]
        consumed = _consume_with(
            broker,
            "9.2",
            lambda watched, on_message: resume(watched, stream, last_done, on_message),
            lambda recorder: True,  # the log is delivered in order: LATER comes after the rest
            timeout=QUIET_SECONDS,
            then=lambda: _publish(channel, stream, LATER),
            until_then=lambda recorder: LATER[-1] in recorder.bodies,
        )
    refused = _not_consuming(consumed)
    if refused is not None:
        return refused
    expected = EVENTS[PROCESSED:] + LATER
    got = consumed.bodies
    story = (
        f"The stream held {EVENTS[0]!r} to {EVENTS[-1]!r} at offsets {offsets[EVENTS[0]]} to "
        f"{offsets[EVENTS[-1]]}; the consumer had processed up to {EVENTS[PROCESSED - 1]!r}, so "
        f"last_done={last_done}. After your consumer started, the check published {listed(LATER)}."
    )
    asked = f"Your consumer asked for {consumed.asked}."
    if got == expected:
        return right(
            "Every remaining event arrived exactly once, in order, and the consumer keeps following the log",
            story,
            asked,
            f"It read {', '.join(str(item) for item in consumed.got)}.",
        )
    again = [body for body in got if body in EVENTS[:PROCESSED]]
    missed = [body for body in expected if body not in got]
    details = [story, asked, f"It read {listed(got)}."]
    if again == [EVENTS[PROCESSED - 1]]:
        details.append(
            f"{again[0]!r} (offset last_done) was already processed: start at the offset after it, "
            "last_done + 1."
        )
    elif again:
        details.append(
            f"It processed {plural(len(again), 'event')} again: {listed(again)}. Start after last_done, "
            "not at the beginning."
        )
    if missed:
        first = got[0] if got else None
        if first is None:
            why = "nothing arrived at all."
        elif first == LATER[0]:
            why = (
                "'next' (also what a consumer without x-stream-offset gets) starts at the end of the log, "
                "skipping what was published while the consumer was down."
            )
        elif first == EVENTS[-1]:
            why = "'last' starts at the last chunk written, not after the offset you processed."
        else:
            why = f"it started at {first!r}, after {missed[0]!r}: start at last_done + 1."
        details.append(f"It missed {listed(missed)}: {why}")
    if not again and not missed:
        details.append("Each remaining event should arrive once, in the log's order.")
    title = (
        "Your consumer read the wrong events"
        if (again and missed) or not (again or missed)
        else f"Your consumer processed {plural(len(again), 'event')} twice"
        if again
        else f"Your consumer missed {plural(len(missed), 'event')}"
    )
    return wrong(title, *details)


# --- exercise 9.3 -----------------------------------------------------------------------------------

RETENTION_BYTES = 50_000
RETENTION_MESSAGE_BYTES = 1_000
RETENTION_MESSAGES = 150  # three times the limit
#: "about": what the retention may keep above the limit (chunk headers and timing)
RETENTION_SLACK = 1.1
#: below this share of the limit, it keeps far less than asked
RETENTION_FLOOR = 0.25
DEFAULT_SEGMENT_BYTES = 500_000_000


def _management(broker: BrokerHandle) -> ManagementClient:
    if broker.management_url is None:
        raise RuntimeError(f"{broker!r} serves no management API, which this check reads")
    return ManagementClient(broker.management_url)


def _queue_record(broker: BrokerHandle, name: str) -> dict[str, Any] | None:
    """The queue as the management API shows it (a real broker may list it a moment late)."""
    api = _management(broker)
    path = "queues/" + "/".join(urllib.parse.quote(part, safe="") for part in ("/", name))
    deadline = time.monotonic() + 5.0
    while True:
        try:
            found: dict[str, Any] = api.get(path)
            return found
        except ManagementError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


@dataclass
class _Retained:
    raised: str | None = None
    queue: dict[str, Any] | None = None
    error: str | None = None
    kept: list[StreamRead] = field(default_factory=list)

    @property
    def kept_bytes(self) -> int:
        return len(self.kept) * RETENTION_MESSAGE_BYTES


def _message(number: int) -> str:
    return f"audit {number:03d} ".ljust(RETENTION_MESSAGE_BYTES, ".")


def _retained(broker: BrokerHandle, declare: Callable[[BlockingChannel, str], object]) -> _Retained:
    run = _Retained()
    name = private_name("9.3")
    try:
        with connected(broker, "exercise 9.3") as connection:
            run.raised = _call(declare, connection.channel(), name)
        if run.raised is not None:
            return run
        run.queue = _queue_record(broker, name)
        if run.queue is None or run.queue.get("type") != "stream":
            return run
        last = _message(RETENTION_MESSAGES)
        try:
            with connected(broker, "exercise 9.3 (producer)") as producer:
                channel = producer.channel()
                channel.confirm_delivery()
                _publish(channel, name, [_message(number) for number in range(1, RETENTION_MESSAGES + 1)])
        except pika.exceptions.AMQPError as error:
            run.error = describe(error)
            return run
        time.sleep(0.3)  # RabbitMQ removes old segments just after a new one starts
        run.kept = read_stream(broker, name, last)
    finally:
        delete_queues(broker, [name])
    return run


def _argument(queue: dict[str, Any], key: str) -> Any:
    return (queue.get("arguments") or {}).get(key)


@exercise(
    "9.3",
    f"A stream that keeps at most about {RETENTION_BYTES // 1000} kB",
    solution=f"""def declare_audit_log(channel, name):
    channel.queue_declare(
        name,
        durable=True,
        arguments={{
            "x-queue-type": "stream",
            "x-max-length-bytes": {RETENTION_BYTES:_},
            "x-stream-max-segment-size-bytes": {RETENTION_BYTES // 5:_},
        }},
    )


course.EXERCISES["9.3"](broker, declare_audit_log)""",
    explanation=(
        "x-max-length-bytes is the limit, but retention removes whole segment files, and never the "
        "one being written. With the default segment size (500 MB) a 50 kB stream is one segment, "
        "so nothing would ever go: the segments must be a fraction of the limit. With 10 kB segments "
        "the stream keeps between 40 and 50 kB (plus what the segment being written holds)."
    ),
    hints=(
        "Section 4: which two arguments did the retention experiment use?",
        "x-stream-max-segment-size-bytes: a segment is removed only whole, and the newest never.",
    ),
)
def check_retention(
    broker: BrokerHandle, declare_audit_log: Callable[[BlockingChannel, str], object]
) -> Feedback:
    """Call `declare_audit_log(channel, name)`; read the queue's type and arguments from the
    management API; publish RETENTION_MESSAGES messages of RETENTION_MESSAGE_BYTES bytes (three
    times the limit) with confirms; then read the stream from its first offset."""
    run = _retained(broker, declare_audit_log)
    if run.raised is not None:
        advice = (
            ["A stream takes no x-max-length (a count); its limits are x-max-length-bytes and x-max-age."]
            if "x-max-length'" in run.raised
            else ["A stream is always durable=True, never exclusive or auto-delete."]
            if "invalid property" in run.raised
            else []
        )
        return wrong("The broker refused your declare", f"It answered {run.raised}.", *advice)
    if run.queue is None:
        return wrong(
            "There is no queue", "Your function returned, but no queue of the name it was given exists."
        )
    arguments = run.queue.get("arguments") or {}
    shown = (
        f"The queue: type {run.queue.get('type')!r}, durable={run.queue.get('durable')}, "
        f"arguments {arguments}."
    )
    if run.queue.get("type") != "stream":
        return wrong(
            f"It is a {run.queue.get('type')} queue, not a stream",
            shown,
            'A stream is declared with arguments={"x-queue-type": "stream"}. (A classic queue with '
            "x-max-length-bytes drops messages one by one from its head; a stream removes whole "
            "segments of its log.)",
        )
    if run.error is not None:
        return wrong("Publishing to the stream failed", run.error, shown)
    published = RETENTION_MESSAGES * RETENTION_MESSAGE_BYTES
    first = run.kept[0].offset if run.kept else None
    kept = (
        f"After {RETENTION_MESSAGES} messages of {RETENTION_MESSAGE_BYTES} bytes ({published // 1000} kB), "
        f"it keeps {plural(len(run.kept), 'message')} ({run.kept_bytes // 1000} kB), from offset {first}."
    )
    limit = _argument(run.queue, "x-max-length-bytes")
    segment = _argument(run.queue, "x-stream-max-segment-size-bytes")
    if run.kept_bytes > RETENTION_BYTES * RETENTION_SLACK:
        if limit is None:
            why = "Nothing limits its size: x-max-length-bytes sets the limit" + (
                " (x-max-age limits by age, and these messages are seconds old)."
                if _argument(run.queue, "x-max-age") is not None
                else "."
            )
        elif segment is None or int(segment) >= int(limit):
            size = DEFAULT_SEGMENT_BYTES if segment is None else int(segment)
            why = (
                f"Its segments are {size:_} bytes{' (the default)' if segment is None else ''}: retention "
                "removes whole segments and never the one being written, so nothing goes before the log "
                "outgrows its first segment. Set x-stream-max-segment-size-bytes to a fraction of the limit."
            )
        else:
            why = f"Its x-max-length-bytes is {int(limit):_}: the limit should be {RETENTION_BYTES:_}."
        return wrong(f"It keeps more than {RETENTION_BYTES // 1000} kB", kept, shown, why)
    if run.kept_bytes < RETENTION_BYTES * RETENTION_FLOOR:
        return wrong(
            f"It keeps far less than {RETENTION_BYTES // 1000} kB",
            kept,
            shown,
            (
                f"Its x-max-length-bytes is {int(limit):_}: the limit should be about "
                f"{RETENTION_BYTES:_} bytes."
                if limit is not None and int(limit) < RETENTION_BYTES * RETENTION_FLOOR * 2
                else "The segments should be a fraction of the limit (a fifth, say): with "
                f"{int(segment):_}-byte segments the stream drops a large share of its log at once."
                if segment is not None
                else f"The limit should be about {RETENTION_BYTES:_} bytes."
            ),
        )
    return right(
        f"The stream keeps at most about {RETENTION_BYTES // 1000} kB, and removed the oldest segments",
        kept,
        shown,
        "The first offset moved: whole segments went, oldest first; the newest segment stays.",
    )
