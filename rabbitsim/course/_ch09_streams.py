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
from ._feedback import Both, Feedback, commented, exercise, listed, plural, right, say, wrong

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
        return say(f"{self.body!r} (offset {self.offset})", f"{self.body!r}（偏移量 {self.offset}）")


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
        return say(
            "A stream consumer needs a prefetch: channel.basic_qos(prefetch_count=...) before basic_consume.",
            "流的消费者需要设置预取：在 basic_consume 之前调用 channel.basic_qos(prefetch_count=...)。",
        )
    if "automatic acknowledgement" in raised:
        return say(
            "A stream consumer must acknowledge manually: leave auto_ack=False (acks remove nothing).",
            "流的消费者必须手动确认：保持 auto_ack=False（确认并不会删除任何消息）。",
        )
    if "invalid arg 'x-stream-offset'" in raised or "INTERNAL_ERROR" in raised:  # 3.10 and 4.0: 541 for some
        return say(
            "x-stream-offset takes 'first', 'last', 'next', an offset (int), a timestamp (datetime) or an "
            "interval string with its unit: '30s', '5m', '1h', '7D'.",
            "x-stream-offset 可以取 'first'、'last'、'next'、一个偏移量（int）、一个时间戳（datetime），"
            "或者带单位的时间间隔字符串：'30s'、'5m'、'1h'、'7D'。",
        )
    return say("See the broker's reply above.", "请看上面 broker 的答复。")


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
        if self.offset == NO_CONSUMER:
            return say(NO_CONSUMER, "没有消费者")
        if self.offset == NO_OFFSET:
            return say(NO_OFFSET, "未设置 x-stream-offset")
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
        return wrong(say("Your function raised an error", "你的函数抛出了错误"), run.raised)
    if run.raised is not None:
        return wrong(
            say("The broker refused your consumer", "broker 拒绝了你的消费者"),
            say(f"It answered {run.raised}.", f"它的答复是 {run.raised}。"),
            _refusal_advice(run.raised),
        )
    if run.offset == NO_CONSUMER:
        return wrong(
            say("Your function started no consumer", "你的函数没有启动任何消费者"),
            say(
                "Call channel.basic_consume(stream, on_message, ...).",
                "请调用 channel.basic_consume(stream, on_message, ...)。",
            ),
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
        return say(
            "A consumer without x-stream-offset (or with 'next') starts at the end of the log: it gets "
            "only messages published after it starts, and the check published none.",
            "没有 x-stream-offset（或者用 'next'）的消费者从日志末尾开始：它只会收到自己启动之后发布的"
            "消息，而检查在那之后没有再发布任何消息。",
        )
    if offset == "first":
        return say(
            "'first' starts at the beginning of the log, however old.",
            "'first' 从日志的开头开始，不管那有多久远。",
        )
    if offset == "last":
        return say(
            "'last' starts at the last chunk (the last batch the broker wrote), not at a time.",
            "'last' 从最后一个块（broker 最后写入的那一批消息）开始，而不是从某个时间开始。",
        )
    if isinstance(offset, int) and not isinstance(offset, bool):
        return say(
            f"A number is an offset, a position in the log (here {offset}), not a number of seconds: use "
            "an interval string such as f'{seconds}s', or a datetime.",
            f"数字是偏移量，也就是日志中的位置（这里是 {offset}），而不是秒数：请用 f'{{seconds}}s' 这样的"
            "时间间隔字符串，或者一个 datetime。",
        )
    if isinstance(offset, datetime.datetime) and offset.tzinfo is None:
        return say(
            "pika sends a datetime without a time zone as if it were UTC: with a local time the start is "
            "hours off. Use datetime.now(timezone.utc) - timedelta(seconds=seconds).",
            "pika 会把不带时区的 datetime 当作 UTC 时间发送：用本地时间的话，起点会差上几个小时。请用 "
            "datetime.now(timezone.utc) - timedelta(seconds=seconds)。",
        )
    if not got:
        return say(
            f"It started reading after the recent messages: the start must be {WINDOW_SECONDS} s before now.",
            f"它是从最近那批消息之后才开始读的：起点必须是现在之前 {WINDOW_SECONDS} 秒。",
        )
    if any(body in EARLIER for body in got):
        return say(
            f"It also read messages published {GAP_SECONDS:.1f} s before the recent ones, more than "
            f"{WINDOW_SECONDS} s ago: is the unit right ('s' for seconds, 'm' for minutes)?",
            f"它还读到了比最近那批早 {GAP_SECONDS:.1f} 秒发布的消息，它们的发布时间距今已超过 "
            f"{WINDOW_SECONDS} 秒：单位对吗（'s' 是秒，'m' 是分钟）？",
        )
    return say(
        f"It missed recent messages: the start must be {WINDOW_SECONDS} s before now.",
        f"它漏掉了最近的消息：起点必须是现在之前 {WINDOW_SECONDS} 秒。",
    )


@exercise(
    "9.1",
    Both("Read only what arrived in the last minute", "只读取最近一分钟内到达的消息"),
    solution=commented(
        """def consume_recent(channel, stream, seconds, on_message):
    channel.basic_qos(prefetch_count=100)      # a stream consumer needs a prefetch...
    channel.basic_consume(                     # ...and manual acks (on_message acks)
        stream, on_message, arguments={"x-stream-offset": f"{seconds}s"}
    )


course.EXERCISES["9.1"](broker, consume_recent)""",
        {
            "a stream consumer needs a prefetch...": "流的消费者需要设置预取……",
            "...and manual acks (on_message acks)": "……还要手动确认（on_message 会确认）",
        },
    ),
    explanation=Both(
        "x-stream-offset takes an interval as a string with its unit ('60s', '1m', '2h', '7D'): the "
        "broker subtracts it from its own clock and starts at the first chunk written since. A "
        "datetime works too (datetime.now(timezone.utc) - timedelta(seconds=seconds)), sent as an AMQP "
        "timestamp in whole seconds. A plain number would be an offset, a position in the log.",
        "x-stream-offset 接受带单位的时间间隔字符串（'60s'、'1m'、'2h'、'7D'）：broker 用自己的时钟减去"
        "这段时间，从那以后写入的第一个块开始读。datetime 也可以"
        "（datetime.now(timezone.utc) - timedelta(seconds=seconds)），它以精确到整秒的 AMQP 时间戳发送。"
        "单纯的数字则是偏移量，也就是日志中的位置。",
    ),
    hints=(
        Both(
            "Which x-stream-offset values are about time rather than position? Section 3 used two.",
            "x-stream-offset 的哪些取值表示时间，而不是位置？第 3 节用到了两种。",
        ),
        Both(
            "An interval is a string with a unit: '30s' is thirty seconds.",
            "时间间隔是带单位的字符串：'30s' 就是三十秒。",
        ),
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
    asked = say(
        f"Your consumer asked for {short.asked} (seconds={WINDOW_SECONDS})"
        + (f" and {minute.asked} (seconds=60)." if minute.offset != NO_CONSUMER else "."),
        f"你的消费者请求的起点：{short.asked}（seconds={WINDOW_SECONDS}）"
        + (f"和 {minute.asked}（seconds=60）。" if minute.offset != NO_CONSUMER else "。"),
    )
    story = say(
        f"The check published {listed(EARLIER)}, waited {GAP_SECONDS:.1f} s, published {listed(RECENT)}, "
        f"and then asked for the last {WINDOW_SECONDS} s.",
        f"检查先发布了 {listed(EARLIER)}，等了 {GAP_SECONDS:.1f} 秒，又发布了 {listed(RECENT)}，然后请求"
        f"最近 {WINDOW_SECONDS} 秒的消息。",
    )
    if short.bodies != RECENT:
        return wrong(
            say(
                f"Asked for the last {WINDOW_SECONDS} s, your consumer read "
                + (listed(short.bodies) if short.bodies else "nothing"),
                f"请求最近 {WINDOW_SECONDS} 秒的消息时，你的消费者"
                + (f"读到了 {listed(short.bodies)}" if short.bodies else "什么也没读到"),
            ),
            story,
            asked,
            _why_recent_is_wrong(short),
        )
    if minute.bodies != EARLIER + RECENT:
        return wrong(
            say(
                f"Asked for the last 60 s, your consumer read {listed(minute.bodies)}",
                "请求最近 60 秒的消息时，你的消费者"
                + (f"读到了 {listed(minute.bodies)}" if minute.bodies else "什么也没读到"),
            ),
            say(
                "Every message the check published is less than a minute old, so all five should arrive.",
                "检查发布的每条消息都还不到一分钟，所以五条都应该收到。",
            ),
            asked,
            say("Does your function use its `seconds` argument?", "你的函数用到它的 `seconds` 参数了吗？"),
        )
    return right(
        say(
            "Your consumer reads exactly what arrived in the window",
            "你的消费者读到的恰好是时间窗口内到达的消息",
        ),
        story,
        say(
            f"It read {', '.join(str(item) for item in short.got)}; asked for 60 s, all "
            f"{plural(len(minute.got), 'message')}.",
            f"它读到了 {'、'.join(str(item) for item in short.got)}；请求 60 秒时，读到了全部 "
            f"{len(minute.got)} 条消息。",
        ),
        asked,
    )


# --- exercise 9.2 -----------------------------------------------------------------------------------

EVENTS = [f"event {number}" for number in range(1, 9)]
PROCESSED = 5  # the consumer had processed events 1..PROCESSED when it crashed
LATER = ["event 9", "event 10"]  # published while the resumed consumer runs


@exercise(
    "9.2",
    Both("Resume after the last processed offset", "从最后处理的偏移量之后继续"),
    solution="""def resume(channel, stream, last_done, on_message):
    channel.basic_qos(prefetch_count=100)
    channel.basic_consume(
        stream, on_message, arguments={"x-stream-offset": last_done + 1}
    )


course.EXERCISES["9.2"](broker, resume)""",
    explanation=Both(
        "The broker does not remember how far a consumer of a stream got: the consumer keeps its "
        "own offset (Kafka's consumers commit theirs). It saved the offset of the last event it "
        "finished, so it starts at the next one: last_done + 1. Starting at last_done would do that "
        "event twice; 'next' would skip what was published while it was down; 'first' would redo "
        "everything.",
        "broker 不会记住流的消费者读到了哪里：偏移量由消费者自己保存（Kafka 的消费者会提交自己的偏移量）。"
        "它保存的是最后处理完的那个事件的偏移量，所以要从下一个开始：last_done + 1。从 last_done 开始，"
        "那个事件会处理两次；'next' 会跳过它停机期间发布的消息；'first' 则会把一切重做一遍。",
    ),
    hints=(
        Both(
            "x-stream-offset also takes a number: the offset to start at.",
            "x-stream-offset 也接受一个数字：开始读取的偏移量。",
        ),
        Both("last_done was already processed.", "last_done 已经处理过了。"),
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
    story = say(
        f"The stream held {EVENTS[0]!r} to {EVENTS[-1]!r} at offsets {offsets[EVENTS[0]]} to "
        f"{offsets[EVENTS[-1]]}; the consumer had processed up to {EVENTS[PROCESSED - 1]!r}, so "
        f"last_done={last_done}. After your consumer started, the check published {listed(LATER)}.",
        f"流里有 {EVENTS[0]!r} 到 {EVENTS[-1]!r}，偏移量从 {offsets[EVENTS[0]]} 到 {offsets[EVENTS[-1]]}；"
        f"消费者已经处理到 {EVENTS[PROCESSED - 1]!r}，所以 last_done={last_done}。你的消费者启动之后，"
        f"检查又发布了 {listed(LATER)}。",
    )
    asked = say(f"Your consumer asked for {consumed.asked}.", f"你的消费者请求的起点：{consumed.asked}。")
    if got == expected:
        return right(
            say(
                "Every remaining event arrived exactly once, in order, and the consumer keeps following "
                "the log",
                "剩下的每个事件都按顺序恰好到达一次，而且消费者会继续跟着日志往下读",
            ),
            story,
            asked,
            say(
                f"It read {', '.join(str(item) for item in consumed.got)}.",
                f"它读到了 {'、'.join(str(item) for item in consumed.got)}。",
            ),
        )
    again = [body for body in got if body in EVENTS[:PROCESSED]]
    missed = [body for body in expected if body not in got]
    details = [
        story,
        asked,
        say(f"It read {listed(got)}.", f"它读到了 {listed(got)}。" if got else "它什么也没读到。"),
    ]
    if again == [EVENTS[PROCESSED - 1]]:
        details.append(
            say(
                f"{again[0]!r} (offset last_done) was already processed: start at the offset after it, "
                "last_done + 1.",
                f"{again[0]!r}（偏移量 last_done）已经处理过了：应当从它后面的偏移量开始，即 last_done + 1。",
            )
        )
    elif again:
        details.append(
            say(
                f"It processed {plural(len(again), 'event')} again: {listed(again)}. Start after last_done, "
                "not at the beginning.",
                f"它把 {len(again)} 个事件又处理了一遍：{listed(again)}。应当从 last_done 之后开始，而不是"
                "从头开始。",
            )
        )
    if missed:
        first = got[0] if got else None
        if first is None:
            why = say("nothing arrived at all.", "什么也没有收到。")
        elif first == LATER[0]:
            why = say(
                "'next' (also what a consumer without x-stream-offset gets) starts at the end of the log, "
                "skipping what was published while the consumer was down.",
                "'next'（不设 x-stream-offset 的消费者得到的也是它）从日志末尾开始，跳过了消费者停机期间"
                "发布的消息。",
            )
        elif first == EVENTS[-1]:
            why = say(
                "'last' starts at the last chunk written, not after the offset you processed.",
                "'last' 从最后写入的那个块开始，而不是从你处理过的偏移量之后开始。",
            )
        else:
            why = say(
                f"it started at {first!r}, after {missed[0]!r}: start at last_done + 1.",
                f"它从 {first!r} 开始，越过了 {missed[0]!r}：应当从 last_done + 1 开始。",
            )
        details.append(say(f"It missed {listed(missed)}: {why}", f"它漏掉了 {listed(missed)}：{why}"))
    if not again and not missed:
        details.append(
            say(
                "Each remaining event should arrive once, in the log's order.",
                "剩下的每个事件都应当按日志的顺序到达一次。",
            )
        )
    title = (
        say("Your consumer read the wrong events", "你的消费者读错了事件")
        if (again and missed) or not (again or missed)
        else say(
            f"Your consumer processed {plural(len(again), 'event')} twice",
            f"你的消费者把 {len(again)} 个事件处理了两次",
        )
        if again
        else say(
            f"Your consumer missed {plural(len(missed), 'event')}",
            f"你的消费者漏掉了 {len(missed)} 个事件",
        )
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


#: the queue types a learner may declare instead of a stream, as the Chinese sentence names them
_KINDS_ZH = {"classic": "经典队列", "quorum": "仲裁队列"}


def _argument(queue: dict[str, Any], key: str) -> Any:
    return (queue.get("arguments") or {}).get(key)


@exercise(
    "9.3",
    Both(
        f"A stream that keeps at most about {RETENTION_BYTES // 1000} kB",
        f"最多保留约 {RETENTION_BYTES // 1000} kB 的流",
    ),
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
    explanation=Both(
        "x-max-length-bytes is the limit, but retention removes whole segment files, and never the "
        "one being written. With the default segment size (500 MB) a 50 kB stream is one segment, "
        "so nothing would ever go: the segments must be a fraction of the limit. With 10 kB segments "
        "the stream keeps between 40 and 50 kB (plus what the segment being written holds).",
        "x-max-length-bytes 是上限，但保留策略删除的是整个段文件，而且从不删除正在写入的那个段。使用默认的"
        "段大小（500 MB）时，一个 50 kB 的流只有一个段，所以什么也不会被删除：段的大小必须只是上限的几分"
        "之一。段为 10 kB 时，流会保留 40 到 50 kB（再加上正在写入的那个段里的内容）。",
    ),
    hints=(
        Both(
            "Section 4: which two arguments did the retention experiment use?",
            "第 4 节：保留实验用了哪两个参数？",
        ),
        Both(
            "x-stream-max-segment-size-bytes: a segment is removed only whole, and the newest never.",
            "x-stream-max-segment-size-bytes：段只会被整个删除，而最新的段永远不会被删除。",
        ),
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
            [
                say(
                    "A stream takes no x-max-length (a count); its limits are x-max-length-bytes and "
                    "x-max-age.",
                    "流不接受 x-max-length（按条数限制）；它的限制是 x-max-length-bytes 和 x-max-age。",
                )
            ]
            if "x-max-length'" in run.raised
            else [
                say(
                    "A stream is always durable=True, never exclusive or auto-delete.",
                    "流总是 durable=True，从来不是 exclusive 或 auto-delete 的。",
                )
            ]
            if "invalid property" in run.raised
            else []
        )
        return wrong(
            say("The broker refused your declare", "broker 拒绝了你的声明"),
            say(f"It answered {run.raised}.", f"它的答复是 {run.raised}。"),
            *advice,
        )
    if run.queue is None:
        return wrong(
            say("There is no queue", "没有队列"),
            say(
                "Your function returned, but no queue of the name it was given exists.",
                "你的函数返回了，但并不存在以传给它的名字命名的队列。",
            ),
        )
    arguments = run.queue.get("arguments") or {}
    kind = run.queue.get("type")
    shown = say(
        f"The queue: type {kind!r}, durable={run.queue.get('durable')}, arguments {arguments}.",
        f"该队列：类型 {kind!r}，durable={run.queue.get('durable')}，参数 {arguments}。",
    )
    if kind != "stream":
        return wrong(
            say(
                f"It is a {kind} queue, not a stream",
                f"它是一个{_KINDS_ZH.get(str(kind), f' {kind} 队列')}，不是流",
            ),
            shown,
            say(
                'A stream is declared with arguments={"x-queue-type": "stream"}. (A classic queue with '
                "x-max-length-bytes drops messages one by one from its head; a stream removes whole "
                "segments of its log.)",
                '声明流要用 arguments={"x-queue-type": "stream"}。（设置了 x-max-length-bytes 的经典队列'
                "会从队头一条一条地丢弃消息；流删除的则是日志里的整个段。）",
            ),
        )
    if run.error is not None:
        return wrong(say("Publishing to the stream failed", "向流发布消息失败了"), run.error, shown)
    published = RETENTION_MESSAGES * RETENTION_MESSAGE_BYTES
    first = run.kept[0].offset if run.kept else None
    kept = say(
        f"After {RETENTION_MESSAGES} messages of {RETENTION_MESSAGE_BYTES} bytes ({published // 1000} kB), "
        f"it keeps {plural(len(run.kept), 'message')} ({run.kept_bytes // 1000} kB), from offset {first}.",
        f"发布 {RETENTION_MESSAGES} 条 {RETENTION_MESSAGE_BYTES} 字节的消息"
        f"（共 {published // 1000} kB）之后，它保留了 {len(run.kept)} 条消息"
        f"（{run.kept_bytes // 1000} kB），从偏移量 {first} 开始。",
    )
    limit = _argument(run.queue, "x-max-length-bytes")
    segment = _argument(run.queue, "x-stream-max-segment-size-bytes")
    if run.kept_bytes > RETENTION_BYTES * RETENTION_SLACK:
        if limit is None:
            by_age = _argument(run.queue, "x-max-age") is not None
            why = say(
                "Nothing limits its size: x-max-length-bytes sets the limit"
                + (" (x-max-age limits by age, and these messages are seconds old)." if by_age else "."),
                "没有任何东西限制它的大小：上限由 x-max-length-bytes 设置"
                + ("（x-max-age 按时间限制，而这些消息才几秒钟）。" if by_age else "。"),
            )
        elif segment is None or int(segment) >= int(limit):
            size = DEFAULT_SEGMENT_BYTES if segment is None else int(segment)
            why = say(
                f"Its segments are {size:_} bytes{' (the default)' if segment is None else ''}: retention "
                "removes whole segments and never the one being written, so nothing goes before the log "
                "outgrows its first segment. Set x-stream-max-segment-size-bytes to a fraction of the limit.",
                f"它的段大小是 {size:_} 字节{'（默认值）' if segment is None else ''}："
                "保留策略删除的是整个段，而且从不删除正在写入的段，所以在日志超出第一个段之前，"
                "什么也不会被删除。请把 "
                "x-stream-max-segment-size-bytes 设为上限的几分之一。",
            )
        else:
            why = say(
                f"Its x-max-length-bytes is {int(limit):_}: the limit should be {RETENTION_BYTES:_}.",
                f"它的 x-max-length-bytes 是 {int(limit):_}：上限应当是 {RETENTION_BYTES:_}。",
            )
        return wrong(
            say(
                f"It keeps more than {RETENTION_BYTES // 1000} kB",
                f"它保留的超过了 {RETENTION_BYTES // 1000} kB",
            ),
            kept,
            shown,
            why,
        )
    if run.kept_bytes < RETENTION_BYTES * RETENTION_FLOOR:
        return wrong(
            say(
                f"It keeps far less than {RETENTION_BYTES // 1000} kB",
                f"它保留的远远少于 {RETENTION_BYTES // 1000} kB",
            ),
            kept,
            shown,
            (
                say(
                    f"Its x-max-length-bytes is {int(limit):_}: the limit should be about "
                    f"{RETENTION_BYTES:_} bytes.",
                    f"它的 x-max-length-bytes 是 {int(limit):_}：上限应当在 {RETENTION_BYTES:_} 字节左右。",
                )
                if limit is not None and int(limit) < RETENTION_BYTES * RETENTION_FLOOR * 2
                else say(
                    "The segments should be a fraction of the limit (a fifth, say): with "
                    f"{int(segment):_}-byte segments the stream drops a large share of its log at once.",
                    "段的大小应当是上限的几分之一（比如五分之一）：段为 "
                    f"{int(segment):_} 字节时，流一次就会丢掉日志的一大部分。",
                )
                if segment is not None
                else say(
                    f"The limit should be about {RETENTION_BYTES:_} bytes.",
                    f"上限应当在 {RETENTION_BYTES:_} 字节左右。",
                )
            ),
        )
    return right(
        say(
            f"The stream keeps at most about {RETENTION_BYTES // 1000} kB, and removed the oldest segments",
            f"流最多保留约 {RETENTION_BYTES // 1000} kB，并删除了最旧的段",
        ),
        kept,
        shown,
        say(
            "The first offset moved: whole segments went, oldest first; the newest segment stays.",
            "第一个偏移量往后移了：整段整段地删除，最旧的先删；最新的段保留下来。",
        ),
    )
