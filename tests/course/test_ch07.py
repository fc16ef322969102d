"""Chapter 7's exercise checks, on the simulator: the retry-with-delay built from dead-lettering
and TTL (7.1), the overflow that drops confirmed messages (7.2), and the publisher and worker
that must lose nothing when the check kills the broker mid-way (7.3)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle

from .solutions import run_solution
from .zh import in_chinese, is_chinese


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- 7.1 -------------------------------------------------------------------------------------------


def no_retry(channel: Any) -> None:  # the notebook's start: a work queue and nothing else
    channel.queue_declare(queue="jobs", durable=True)


def retry_without_ttl(channel: Any) -> None:
    dead_letter = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.retry"}
    channel.queue_declare("jobs", durable=True, arguments=dead_letter)
    channel.queue_declare("jobs.retry", durable=True)


def test_7_1_says_a_rejected_job_without_a_dead_letter_exchange_is_lost(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["7.1"](broker, no_retry)
    assert not feedback
    assert feedback.title == "The rejected job was lost"


def test_7_1_says_the_job_waits_for_ever_without_a_ttl(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["7.1"](broker, retry_without_ttl)
    assert not feedback
    assert feedback.title == "The job went to jobs.retry and stayed there"
    assert "x-message-ttl" in text(feedback)


def test_7_1_accepts_its_solution_and_reads_x_death(broker: BrokerHandle) -> None:
    feedback = run_solution("7.1", broker=broker)
    assert feedback, text(feedback)
    assert "rejected from jobs (count 1)" in text(feedback)
    assert "expired from jobs.retry (count 1)" in text(feedback)
    seconds = float(feedback.title.split()[-2])
    assert 0.9 <= seconds < 3


def test_7_1_refuses_a_retry_without_delay(broker: BrokerHandle) -> None:
    def immediate(channel: Any) -> None:
        channel.queue_declare(
            "jobs", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.retry"}
        )
        channel.queue_declare(
            "jobs.retry",
            arguments={"x-message-ttl": 0, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs"},
        )

    feedback = course.EXERCISES["7.1"](broker, immediate)
    assert not feedback
    assert "no delay" in feedback.title


# --- 7.2 -------------------------------------------------------------------------------------------


def test_7_2_drop_head_confirms_and_then_drops(broker: BrokerHandle) -> None:
    for overflow in (None, "drop-head"):
        feedback = course.EXERCISES["7.2"](broker, overflow)
        assert not feedback
        assert feedback.title == "RabbitMQ confirmed 2 messages and then dropped them"
        assert "in the queue afterwards: 'order 3', 'order 4', 'order 5'" in text(feedback)


def test_7_2_accepts_reject_publish(broker: BrokerHandle) -> None:
    for overflow in ("reject-publish", "reject-publish-dlx"):
        feedback = course.EXERCISES["7.2"](broker, overflow)
        assert feedback, text(feedback)
        assert "refused (basic.nack): 'order 4', 'order 5'" in text(feedback)
    assert broker.topology().queues == ()


def test_7_2_explains_an_unknown_overflow(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["7.2"](broker, "drop-tail")
    assert not feedback
    assert "406 PRECONDITION_FAILED" in text(feedback)


# --- 7.3 -------------------------------------------------------------------------------------------


def careless_publish(channel: Any, orders: list[str]) -> None:  # the notebook's start
    channel.queue_declare(queue="orders")
    for order in orders:
        channel.basic_publish(exchange="", routing_key="orders", body=order)


def careless_worker(channel: Any, do_work: Callable[[bytes], None]) -> None:
    channel.queue_declare(queue="orders")

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        do_work(body)

    channel.basic_consume(queue="orders", on_message_callback=callback, auto_ack=True)


def safe_publish(channel: Any, orders: list[str]) -> None:
    channel.queue_declare(queue="orders", durable=True)
    channel.confirm_delivery()
    for order in orders:
        channel.basic_publish("", "orders", order, pika.BasicProperties(delivery_mode=2))


def safe_worker(channel: Any, do_work: Callable[[bytes], None]) -> None:
    channel.queue_declare(queue="orders", durable=True)

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        do_work(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue="orders", on_message_callback=callback)


def test_7_3_the_careless_pair_loses_orders_and_says_why(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["7.3"](broker, careless_publish, careless_worker)
    assert not feedback
    assert " lost: " in feedback.title
    assert "orders is not durable" in text(feedback)
    assert "transient" in text(feedback)
    assert "auto_ack=True" in text(feedback)
    assert "the broker was killed" in text(feedback)


def test_7_3_auto_ack_alone_loses_what_the_worker_held(broker: BrokerHandle) -> None:
    def worker(channel: Any, do_work: Callable[[bytes], None]) -> None:
        channel.queue_declare(queue="orders", durable=True)
        channel.basic_consume("orders", lambda ch, m, p, body: do_work(body), auto_ack=True)

    feedback = course.EXERCISES["7.3"](broker, safe_publish, worker)
    assert not feedback
    assert "auto_ack=True" in text(feedback)
    assert "not durable" not in text(feedback)


def test_7_3_without_confirms_is_lucky_not_right(broker: BrokerHandle) -> None:
    def publish(channel: Any, orders: list[str]) -> None:
        channel.queue_declare(queue="orders", durable=True)
        for order in orders:
            channel.basic_publish("", "orders", order, pika.BasicProperties(delivery_mode=2))

    feedback = course.EXERCISES["7.3"](broker, publish, safe_worker)
    assert not feedback
    assert "confirm_delivery" in text(feedback)


def test_7_3_accepts_its_solution(broker: BrokerHandle) -> None:
    started = time.monotonic()
    feedback = run_solution("7.3", broker=broker, pika=pika)
    assert feedback, text(feedback)
    assert feedback.title == "Every confirmed order was worked on: 30 sent, 30 done"
    assert time.monotonic() - started < 20
    assert broker.topology().queues == ()


def test_chapter_7_solutions_and_hints_are_there(broker: BrokerHandle) -> None:
    for number in ("7.1", "7.2", "7.3"):
        exercise = course.EXERCISES[number]
        assert exercise.solution().code.strip()
        assert exercise.hint(1) and exercise.hint(2)
    assert run_solution("7.2", broker=broker)


# --- the Chinese edition ---------------------------------------------------------------------------


def test_7_1_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        lost = course.EXERCISES["7.1"](broker, no_retry)
        assert not lost and is_chinese(text(lost))
        assert lost.title == "被拒绝的任务丢了"
        assert "basic_reject(requeue=False) 会直接删除消息" in text(lost)
        waiting = course.EXERCISES["7.1"](broker, retry_without_ttl)
        assert waiting.title == "任务进了 jobs.retry，就一直待在那里" and is_chinese(text(waiting))
        feedback = run_solution("7.1", broker=broker)
        assert feedback and is_chinese(text(feedback))
        assert "在 jobs 中 rejected（count 1）" in text(feedback)
        assert feedback.title.startswith("任务在 ") and feedback.title.endswith(" 秒后回到了 jobs")


def test_7_2_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["7.2"](broker, None)
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "RabbitMQ 确认了 2 条消息，随后又把它们丢弃了"
        assert "之后队列里还有：'order 3'、'order 4'、'order 5'。" in text(feedback)
        assert "不设 x-overflow（默认即 drop-head）时" in text(feedback)
        refused = course.EXERCISES["7.2"](broker, "drop-tail")
        assert refused.title == "RabbitMQ 拒绝了 x-overflow='drop-tail'" and is_chinese(text(refused))
        accepted = run_solution("7.2", broker=broker)
        assert accepted and accepted.title == "已确认的消息一条也没丢：已满的队列拒绝了 2 条消息"


def test_7_3_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["7.3"](broker, careless_publish, careless_worker)
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title.startswith("丢了 ") and " 个订单：" in feedback.title
        assert "orders 不是持久化队列" in text(feedback)
        assert "worker 以 auto_ack=True 消费" in text(feedback)
        accepted = run_solution("7.3", broker=broker, pika=pika)
        assert accepted and accepted.title == "每个已确认的订单都处理了：发出 30 个，完成 30 个"
        assert is_chinese(text(accepted))
