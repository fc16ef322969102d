"""Chapter 9's exercise checks, on the simulator and on real RabbitMQ 3.10 and 4.3: a consumer of
the last so many seconds (9.1), a consumer that resumes after its last processed offset (9.2),
and a stream whose retention keeps about 50 kB (9.3). Each check accepts its published solution
and the other right answers, explains the usual wrong ones in their own terms, and leaves no
stream behind. The real brokers are where the checks' expectations come from: a verdict that
differs between them and the simulator is a finding about the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim import course
from rabbitsim.backends import BrokerHandle, ManagementClient
from tests.real_brokers import broker_on

from .solutions import run_solution
from .zh import in_chinese, is_chinese

BACKENDS = ("sim", "3.10", "4.3")


@pytest.fixture(scope="module", params=BACKENDS)
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    with broker_on(request.param) as handle:
        yield handle


@pytest.fixture(autouse=True)
def leaves_nothing_behind(broker: BrokerHandle) -> Iterator[None]:
    yield
    assert broker.management_url is not None
    queues = ManagementClient(broker.management_url).get("queues")
    assert [q["name"] for q in queues if q["name"].startswith("exercise-9.")] == []


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- 9.1 -------------------------------------------------------------------------------------------


def consuming_from(offset: Callable[[int], Any] | None, *, qos: bool = True, auto_ack: bool = False) -> Any:
    """A learner's consume_recent that starts at offset(seconds) (None: no x-stream-offset)."""

    def consume_recent(channel: BlockingChannel, stream: str, seconds: int, on_message: Any) -> None:
        if qos:
            channel.basic_qos(prefetch_count=100)
        arguments = {} if offset is None else {"x-stream-offset": offset(seconds)}
        channel.basic_consume(stream, on_message, auto_ack=auto_ack, arguments=arguments)

    return consume_recent


def test_9_1_accepts_its_solution(broker: BrokerHandle) -> None:
    feedback = run_solution("9.1", broker=broker)
    assert feedback, text(feedback)
    assert "It read 'recent 1' (offset 3), 'recent 2' (offset 4); asked for 60 s, all 5 messages" in text(
        feedback
    )
    assert "x-stream-offset='1s' (seconds=1) and x-stream-offset='60s' (seconds=60)" in text(feedback)


def test_9_1_accepts_a_datetime(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](
        broker, consuming_from(lambda seconds: datetime.now(UTC) - timedelta(seconds=seconds))
    )
    assert feedback, text(feedback)


def test_9_1_a_local_time_without_a_zone_is_read_as_utc(broker: BrokerHandle) -> None:
    def beijing_now() -> datetime:  # what datetime.now() gives a learner in UTC+8: naive local time
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=8)

    feedback = course.EXERCISES["9.1"](
        broker, consuming_from(lambda seconds: beijing_now() - timedelta(seconds=seconds))
    )
    assert not feedback
    assert feedback.title == "Asked for the last 1 s, your consumer read nothing"
    assert "Use datetime.now(timezone.utc) - timedelta(seconds=seconds)" in text(feedback)


def test_9_1_the_notebooks_start_reads_the_whole_history(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: "first"))
    assert not feedback
    assert feedback.title == (
        "Asked for the last 1 s, your consumer read "
        "'earlier 1', 'earlier 2', 'earlier 3', 'recent 1', 'recent 2'"
    )
    assert "'first' starts at the beginning of the log" in text(feedback)


def test_9_1_without_an_offset_reads_nothing(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(None))
    assert not feedback
    assert feedback.title == "Asked for the last 1 s, your consumer read nothing"
    assert "starts at the end of the log" in text(feedback)


def test_9_1_last_is_a_chunk_not_a_time(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: "last"))
    assert not feedback
    assert feedback.title == "Asked for the last 1 s, your consumer read 'recent 2'"
    assert "'last' starts at the last chunk" in text(feedback)


def test_9_1_a_number_is_an_offset(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: seconds))
    assert not feedback
    assert "your consumer read 'earlier 2', 'earlier 3', 'recent 1', 'recent 2'" in feedback.title
    assert "A number is an offset, a position in the log (here 1)" in text(feedback)


def test_9_1_minutes_for_seconds(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: f"{seconds}m"))
    assert not feedback
    assert "is the unit right" in text(feedback)


def test_9_1_an_interval_without_its_unit_is_refused(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: str(seconds)))
    assert not feedback
    assert feedback.title == "The broker refused your consumer"
    assert "406 PRECONDITION_FAILED - invalid arg 'x-stream-offset'" in text(feedback)
    assert "an interval string with its unit" in text(feedback)


def test_9_1_a_stream_consumer_needs_a_prefetch(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: f"{seconds}s", qos=False))
    assert not feedback
    assert feedback.title == "The broker refused your consumer"
    assert "406 PRECONDITION_FAILED - consumer prefetch count is not set" in text(feedback)
    assert "basic_qos(prefetch_count=...)" in text(feedback)


def test_9_1_a_stream_consumer_acks_manually(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: f"{seconds}s", auto_ack=True))
    assert not feedback
    assert "540 NOT_IMPLEMENTED - automatic acknowledgement not supported" in text(feedback)
    assert "leave auto_ack=False" in text(feedback)


def test_9_1_a_python_error_is_reported_as_such(broker: BrokerHandle) -> None:
    def consume_recent(channel: BlockingChannel, stream: str, seconds: int, on_message: Any) -> None:
        channel.basic_qos(prefetch_count=100)
        channel.basic_consume(stream, on_message, arguments={"x-stream-offset": int("one minute")})

    feedback = course.EXERCISES["9.1"](broker, consume_recent)
    assert not feedback
    assert feedback.title == "Your function raised an error"
    assert "ValueError: invalid literal for int() with base 10: 'one minute'" in text(feedback)


def test_9_1_no_consumer_at_all(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.1"](broker, lambda channel, stream, seconds, on_message: None)
    assert not feedback
    assert feedback.title == "Your function started no consumer"


# --- 9.2 -------------------------------------------------------------------------------------------


def resuming_at(offset: Callable[[int], Any] | None) -> Any:
    def resume(channel: BlockingChannel, stream: str, last_done: int, on_message: Any) -> None:
        channel.basic_qos(prefetch_count=100)
        arguments = {} if offset is None else {"x-stream-offset": offset(last_done)}
        channel.basic_consume(stream, on_message, arguments=arguments)

    return resume


def test_9_2_accepts_its_solution(broker: BrokerHandle) -> None:
    feedback = run_solution("9.2", broker=broker)
    assert feedback, text(feedback)
    assert "last_done=4" in text(feedback)
    assert "It read 'event 6' (offset 5), 'event 7' (offset 6), 'event 8' (offset 7), 'event 9'" in text(
        feedback
    )


def test_9_2_the_notebooks_start_misses_what_came_while_it_was_down(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.2"](broker, resuming_at(None))
    assert not feedback
    assert feedback.title == "Your consumer missed 3 events"
    assert "It missed 'event 6', 'event 7', 'event 8': 'next'" in text(feedback)


def test_9_2_starting_at_last_done_repeats_it(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.2"](broker, resuming_at(lambda last_done: last_done))
    assert not feedback
    assert feedback.title == "Your consumer processed 1 event twice"
    assert "'event 5' (offset last_done) was already processed" in text(feedback)


def test_9_2_first_repeats_everything(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.2"](broker, resuming_at(lambda last_done: "first"))
    assert not feedback
    assert feedback.title == "Your consumer processed 5 events twice"


def test_9_2_last_skips_to_the_last_chunk(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.2"](broker, resuming_at(lambda last_done: "last"))
    assert not feedback
    assert feedback.title == "Your consumer missed 2 events"
    assert "'last' starts at the last chunk written" in text(feedback)


def test_9_2_one_too_far(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.2"](broker, resuming_at(lambda last_done: last_done + 2))
    assert not feedback
    assert feedback.title == "Your consumer missed 1 event"
    assert "it started at 'event 7', after 'event 6'" in text(feedback)


# --- 9.3 -------------------------------------------------------------------------------------------


def declaring(arguments: dict[str, Any], *, durable: bool = True) -> Callable[[BlockingChannel, str], None]:
    def declare_audit_log(channel: BlockingChannel, name: str) -> None:
        channel.queue_declare(name, durable=durable, arguments=arguments)

    return declare_audit_log


STREAM = {"x-queue-type": "stream"}


def test_9_3_accepts_its_solution(broker: BrokerHandle) -> None:
    feedback = run_solution("9.3", broker=broker)
    assert feedback, text(feedback)
    assert "After 150 messages of 1000 bytes (150 kB), it keeps" in text(feedback)
    assert "'x-stream-max-segment-size-bytes': 10000" in text(feedback)


@pytest.mark.parametrize("segment", [5_000, 25_000])
def test_9_3_accepts_other_segment_sizes(broker: BrokerHandle, segment: int) -> None:
    arguments = {**STREAM, "x-max-length-bytes": 50_000, "x-stream-max-segment-size-bytes": segment}
    feedback = course.EXERCISES["9.3"](broker, declaring(arguments))
    assert feedback, text(feedback)


def test_9_3_the_notebooks_start_keeps_everything(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.3"](broker, declaring({**STREAM, "x-max-length-bytes": 50_000}))
    assert not feedback
    assert feedback.title == "It keeps more than 50 kB"
    assert "it keeps 150 messages (150 kB), from offset 0" in text(feedback)
    assert "Its segments are 500_000_000 bytes (the default)" in text(feedback)


def test_9_3_no_limit_at_all(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.3"](broker, declaring(STREAM))
    assert not feedback
    assert "Nothing limits its size" in text(feedback)


def test_9_3_a_classic_queue_is_not_a_stream(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.3"](broker, declaring({"x-max-length-bytes": 50_000}))
    assert not feedback
    assert feedback.title == "It is a classic queue, not a stream"


def test_9_3_a_stream_has_no_message_count_limit(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.3"](broker, declaring({**STREAM, "x-max-length": 50}))
    assert not feedback
    assert feedback.title == "The broker refused your declare"
    assert "406 PRECONDITION_FAILED - invalid arg 'x-max-length'" in text(feedback)
    assert "A stream takes no x-max-length" in text(feedback)


def test_9_3_a_stream_is_durable(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["9.3"](broker, declaring(STREAM, durable=False))
    assert not feedback
    assert "406 PRECONDITION_FAILED - invalid property 'non-durable'" in text(feedback)


def test_9_3_a_limit_far_too_small(broker: BrokerHandle) -> None:
    arguments = {**STREAM, "x-max-length-bytes": 5_000, "x-stream-max-segment-size-bytes": 1_000}
    feedback = course.EXERCISES["9.3"](broker, declaring(arguments))
    assert not feedback
    assert feedback.title == "It keeps far less than 50 kB"
    assert "Its x-max-length-bytes is 5_000" in text(feedback)


# --- the Chinese edition (on the simulator only: the wording does not depend on the broker) -------

on_the_simulator = pytest.mark.parametrize("broker", ["sim"], indirect=True)


@on_the_simulator
def test_9_1_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: "first"))
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == (
            "请求最近 1 秒的消息时，你的消费者读到了 "
            "'earlier 1'、'earlier 2'、'earlier 3'、'recent 1'、'recent 2'"
        )
        assert "'first' 从日志的开头开始" in text(feedback)
        assert "你的消费者请求的起点：x-stream-offset='first'（seconds=1）。" in text(feedback)
        nothing = course.EXERCISES["9.1"](broker, consuming_from(None))
        assert nothing.title == "请求最近 1 秒的消息时，你的消费者什么也没读到"
        assert "未设置 x-stream-offset" in text(nothing) and is_chinese(text(nothing))
        refused = course.EXERCISES["9.1"](broker, consuming_from(lambda seconds: f"{seconds}s", qos=False))
        assert refused.title == "broker 拒绝了你的消费者" and is_chinese(text(refused))
        assert "406 PRECONDITION_FAILED - consumer prefetch count is not set" in text(refused)
        assert "流的消费者需要设置预取" in text(refused)
        accepted = run_solution("9.1", broker=broker)
        assert accepted and is_chinese(text(accepted))
        assert (
            "它读到了 'recent 1'（偏移量 3）、'recent 2'（偏移量 4）；请求 60 秒时，读到了全部 5 条消息。"
            in text(accepted)
        )


@on_the_simulator
def test_9_2_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["9.2"](broker, resuming_at(lambda last_done: last_done))
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "你的消费者把 1 个事件处理了两次"
        assert "'event 5'（偏移量 last_done）已经处理过了" in text(feedback)
        missed = course.EXERCISES["9.2"](broker, resuming_at(None))
        assert missed.title == "你的消费者漏掉了 3 个事件" and is_chinese(text(missed))
        assert "它漏掉了 'event 6'、'event 7'、'event 8'：'next'" in text(missed)
        accepted = run_solution("9.2", broker=broker)
        assert accepted and is_chinese(text(accepted)) and "last_done=4" in text(accepted)


@on_the_simulator
def test_9_3_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["9.3"](broker, declaring({**STREAM, "x-max-length-bytes": 50_000}))
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "它保留的超过了 50 kB"
        assert "它的段大小是 500_000_000 字节（默认值）" in text(feedback)
        classic = course.EXERCISES["9.3"](broker, declaring({"x-max-length-bytes": 50_000}))
        assert classic.title == "它是一个经典队列，不是流" and is_chinese(text(classic))
        accepted = run_solution("9.3", broker=broker)
        assert accepted and is_chinese(text(accepted))
        assert accepted.title == "流最多保留约 50 kB，并删除了最旧的段"
