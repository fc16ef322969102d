"""Random sequences of publish / consume (every offset form) / ack / nack / reject / recover /
cancel / close on two streams, one with small segments and a byte limit, checking after every
step what a log promises:

- nothing disappears from a stream except by retention, and retention takes only the oldest
  messages (the log always holds every message appended since the last one retention removed);
- each consumer's offsets only move forward, one by one, except past what retention removed;
- every consumer sees the log in the same order: offset N is the same message for everyone.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rabbitsim.broker import AMQPError, Broker, Channel, Deliver, EventKind, Properties, Stream, TraceEvent
from tests.broker.conftest import FakeClock

#: the stream with retention: segments of about three messages, at most about seven kept
RECORD = 48 + 4 + Broker().profile.stream_message_overhead + len("short") + 4 + 44
STREAMS: dict[str, dict[str, object]] = {
    "log": {"x-queue-type": "stream"},
    "short": {
        "x-queue-type": "stream",
        "x-stream-max-segment-size-bytes": 3 * RECORD,
        "x-max-length-bytes": 7 * RECORD,
    },
}
OFFSETS = st.one_of(
    st.sampled_from(["first", "last", "next", "5s", "1m"]), st.integers(min_value=-2, max_value=40)
)


class StreamConservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.broker = Broker(clock=self.clock)
        self.broker.tracing = True
        self.appended: dict[str, dict[int, int]] = {name: {} for name in STREAMS}  # offset -> message id
        self.dropped: dict[str, int] = dict.fromkeys(STREAMS, 0)  # how many retention removed
        # (channel number, tag) -> stream, the offsets it was sent, and where it should have started
        self.reads: dict[tuple[int, str], tuple[str, list[int]]] = {}
        self.connection = self.broker.connect()
        setup = self.connection.open_channel(9)
        for name, arguments in STREAMS.items():
            setup.queue_declare(name, durable=True, arguments=arguments)
        setup.close()
        self.channels: dict[int, Channel] = {}
        self.tags = 0
        self.drain()

    # --- the books, from the output road ---------------------------------------------------

    def drain(self) -> None:
        for connection, number, item in self.broker.take_output():
            if connection is None:
                self.note(item)  # type: ignore[arg-type]
            elif isinstance(item, Deliver):
                stream, offsets = self.reads[(number, item.consumer_tag)]
                offset = item.message.properties.headers["x-stream-offset"]  # type: ignore[index]
                if offsets:  # only retention may have taken what lies between two reads
                    assert offset > offsets[-1], f"a consumer of {stream} went back or read twice"
                    skipped = [o for o in self.appended[stream] if offsets[-1] < o < offset]
                    oldest = self.oldest(stream)
                    assert all(o < oldest for o in skipped), (
                        f"a consumer of {stream} skipped from {offsets[-1]} to {offset}"
                    )
                offsets.append(offset)
                assert self.appended[stream][offset] == item.message.id, "offset N is one message for all"

    def note(self, event: TraceEvent) -> None:
        if event.source is None or event.source.name not in STREAMS:
            return
        stream = event.source.name
        appended = self.appended[stream]
        if event.kind is EventKind.ENQUEUE:
            offset = event.detail["offset"]
            assert not appended or offset > max(appended), "offsets are given in order"
            assert event.message is not None
            appended[offset] = event.message
        elif event.kind is EventKind.DROP:
            assert event.detail["reason"] == "retention", f"a stream lost a message: {event}"
            assert event.detail["offset"] == self.oldest(stream), "retention takes the oldest first"
            self.dropped[stream] += 1

    def oldest(self, stream: str) -> int:
        """The offset of the oldest message retention has not removed (or past the last)."""
        offsets = list(self.appended[stream])
        return offsets[self.dropped[stream]] if self.dropped[stream] < len(offsets) else 1 << 62

    def channel(self, number: int) -> Channel | None:
        found = self.channels.get(number)
        if found is None or not found.is_open:
            if not self.connection.is_open:
                return None
            with contextlib.suppress(AMQPError):
                found = self.channels[number] = self.connection.open_channel(number)
        return found

    def call(self, action: object, *args: object, **kwargs: object) -> None:
        with contextlib.suppress(AMQPError):
            action(*args, **kwargs)  # type: ignore[operator]
        self.drain()

    # --- rules -------------------------------------------------------------------------------

    @rule(stream=st.sampled_from(list(STREAMS)), count=st.integers(1, 4), seconds=st.integers(0, 40))
    def publish(self, stream: str, count: int, seconds: int) -> None:
        self.clock.now += seconds
        channel = self.channel(1)
        if channel is not None:
            for _ in range(count):
                self.call(channel.basic_publish, "", stream, b"body", Properties(delivery_mode=1))

    @rule(
        number=st.sampled_from([2, 3]),
        stream=st.sampled_from(list(STREAMS)),
        offset=OFFSETS,
        prefetch=st.integers(1, 3),
    )
    def consume(self, number: int, stream: str, offset: object, prefetch: int) -> None:
        channel = self.channel(number)
        if channel is None:
            return
        self.tags += 1
        tag = f"c{self.tags}"
        self.reads[(number, tag)] = (stream, [])
        self.call(channel.basic_qos, prefetch)
        self.call(channel.basic_consume, stream, tag, arguments={"x-stream-offset": offset})

    @rule(number=st.sampled_from([2, 3]), how=st.sampled_from(["ack", "all", "nack", "reject", "recover"]))
    def settle(self, number: int, how: str) -> None:
        channel = self.channel(number)
        if channel is None or not channel.unacked:
            return
        tag = next(iter(channel.unacked))
        actions = {
            "ack": lambda: channel.basic_ack(tag),
            "all": lambda: channel.basic_ack(0, multiple=True),
            "nack": lambda: channel.basic_nack(tag, requeue=True),
            "reject": lambda: channel.basic_reject(tag, requeue=False),
            "recover": lambda: channel.basic_recover(True),
        }
        self.call(actions[how])

    @rule(number=st.sampled_from([2, 3]))
    def cancel_one(self, number: int) -> None:
        channel = self.channel(number)
        if channel is not None and channel.consumers:
            self.call(channel.basic_cancel, next(iter(channel.consumers)))

    @precondition(lambda self: bool(self.channels))
    @rule(number=st.sampled_from([2, 3]))
    def close_channel(self, number: int) -> None:
        channel = self.channels.get(number)
        if channel is not None and channel.is_open:
            self.call(channel.close)

    # --- what must hold after every step --------------------------------------------------------

    @invariant()
    def the_log_holds_everything_appended_since_retention(self) -> None:
        for name in STREAMS:
            stream = self.broker.vhosts["/"].queues[name]
            assert isinstance(stream, Stream)
            offsets = [entry.seq for entry in stream.ready]
            expected = list(self.appended[name])[self.dropped[name] :]
            assert offsets == expected, "only retention removes, and only from the start"
            assert [e.message.id for e in stream.ready] == [self.appended[name][o] for o in expected]

    @invariant()
    def unlimited_stream_keeps_everything(self) -> None:
        assert self.dropped["log"] == 0


StreamConservation.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStreamConservation = StreamConservation.TestCase
