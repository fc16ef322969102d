"""Chapter 2's exercise checks, on the simulator: the forgotten ack (2.1), fair dispatch (2.3) and
durability (2.2, checked by restarting the broker) each refuse wrong answers with the broker's own
numbers and the reason, and accept right ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BackendUnavailable, BrokerHandle

from .zh import in_chinese, is_chinese


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- 2.1 -------------------------------------------------------------------------------------------


def forgetful(ch: Any, method: Any, properties: Any, body: bytes) -> None:  # the notebook's start
    time.sleep(body.count(b".") * 0.01)


def acking(ch: Any, method: Any, properties: Any, body: bytes) -> None:
    ch.basic_ack(delivery_tag=method.delivery_tag)


def test_2_1_shows_the_unacked_count_growing_and_the_redelivery(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.1"](broker, forgetful)
    assert not feedback
    assert feedback.title == "Your worker never acknowledged 3 of its 3 tasks: messages_unacknowledged = 3"
    assert "messages_ready=0  messages_unacknowledged=3" in text(feedback)
    assert "(3 ready again)" in text(feedback)
    assert "redelivered=True" in text(feedback)
    assert "ch.basic_ack(delivery_tag=method.delivery_tag)" in text(feedback)


def test_2_1_accepts_the_ack(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.1"](broker, acking)
    assert feedback, text(feedback)
    assert feedback.title == "Every task acknowledged: messages_unacknowledged = 0"
    assert broker.topology().queues == ()  # its queue is gone again


def test_2_1_accepts_one_multiple_ack_at_the_end(broker: BrokerHandle) -> None:
    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        if body == b"task 3":
            ch.basic_ack(delivery_tag=method.delivery_tag, multiple=True)

    assert course.EXERCISES["2.1"](broker, callback)


def test_2_1_names_the_one_task_left_unacked(broker: BrokerHandle) -> None:
    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        if body != b"task 2":
            ch.basic_ack(delivery_tag=method.delivery_tag)

    feedback = course.EXERCISES["2.1"](broker, callback)
    assert not feedback
    assert "never acknowledged 1 of its 3 tasks: messages_unacknowledged = 1" in feedback.title
    assert "still holding task 2 for it" in text(feedback)


def test_2_1_explains_an_unknown_delivery_tag(broker: BrokerHandle) -> None:
    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        ch.basic_ack(delivery_tag=1)

    feedback = course.EXERCISES["2.1"](broker, callback)
    assert not feedback
    assert feedback.title == "RabbitMQ closed your worker's channel"
    assert "406 PRECONDITION_FAILED - unknown delivery tag 1" in text(feedback)
    assert "ack exactly method.delivery_tag, once" in text(feedback)


def test_2_1_explains_requeueing_and_discarding(broker: BrokerHandle) -> None:
    def requeue(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        ch.basic_nack(delivery_tag=method.delivery_tag)

    def discard(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        ch.basic_reject(delivery_tag=method.delivery_tag, requeue=False)

    requeued = course.EXERCISES["2.1"](broker, requeue)
    assert not requeued
    assert requeued.title == "Your worker sends its tasks back instead of finishing them"
    discarded = course.EXERCISES["2.1"](broker, discard)
    assert not discarded
    assert discarded.title == "Your worker throws tasks away"
    assert "discarded task 1, task 2, task 3" in text(discarded)


def test_2_1_reports_a_raising_callback(broker: BrokerHandle) -> None:
    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        raise KeyError("boom")

    feedback = course.EXERCISES["2.1"](broker, callback)
    assert not feedback
    assert "KeyError: 'boom'" in text(feedback)


# --- 2.2 -------------------------------------------------------------------------------------------


def transient(channel: Any, message: bytes) -> None:  # the notebook's start
    channel.queue_declare(queue="task_queue")
    channel.basic_publish(exchange="", routing_key="task_queue", body=message)


def persistent(channel: Any, message: bytes) -> None:
    channel.queue_declare(queue="task_queue", durable=True)
    channel.basic_publish(
        exchange="",
        routing_key="task_queue",
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )


def test_2_2_restarts_the_broker_and_names_both_missing_flags(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.2"](broker, transient)
    assert not feedback
    assert feedback.title == "The broker restarted and the task was gone"
    seen, queue_line, message_line = feedback.details[:3]
    assert seen == "The check restarted RabbitMQ: task_queue did not come back (404 NOT_FOUND)."
    assert queue_line.startswith("task_queue was not durable")
    assert message_line.startswith("The message was transient (delivery_mode=None)")


def test_2_2_a_durable_queue_alone_comes_back_empty(broker: BrokerHandle) -> None:
    def send(channel: Any, message: bytes) -> None:
        channel.queue_declare(queue="task_queue", durable=True)
        channel.basic_publish(exchange="", routing_key="task_queue", body=message)

    feedback = course.EXERCISES["2.2"](broker, send)
    assert not feedback
    assert "task_queue came back, empty" in text(feedback)
    assert "the durable queue came back, but empty" in text(feedback)
    assert "not durable" not in text(feedback)


def test_2_2_accepts_a_durable_queue_and_a_persistent_message(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.2"](broker, persistent)
    assert feedback, text(feedback)
    assert feedback.title == "The task survived a broker restart"
    assert "found 'resize photo.jpg' in task_queue again" in text(feedback)
    assert "delivery_mode=2" in text(feedback)
    assert "publisher confirms" in text(feedback)
    assert broker.topology().queues == ()


def test_2_2_accepts_a_quorum_queue(broker: BrokerHandle) -> None:
    def send(channel: Any, message: bytes) -> None:
        channel.queue_declare(queue="task_queue", durable=True, arguments={"x-queue-type": "quorum"})
        channel.basic_publish(exchange="", routing_key="task_queue", body=message)

    feedback = course.EXERCISES["2.2"](broker, send)
    assert feedback, text(feedback)
    assert "quorum" in text(feedback)


def test_2_2_judges_by_the_flags_where_the_broker_cannot_restart(
    broker: BrokerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*, kill: bool = False) -> None:
        raise BackendUnavailable("cannot restart the RabbitMQ at amqp://elsewhere: not ours")

    monkeypatch.setattr(broker, "restart", refuse)
    wrong_answer = course.EXERCISES["2.2"](broker, transient)
    assert not wrong_answer
    assert wrong_answer.title == "After a restart, this task would be gone"
    assert "could not be restarted" in text(wrong_answer)
    right_answer = course.EXERCISES["2.2"](broker, persistent)
    assert right_answer, text(right_answer)
    assert right_answer.title == "This task would survive a broker restart"


def test_2_2_says_when_the_task_went_elsewhere(broker: BrokerHandle) -> None:
    def send(channel: Any, message: bytes) -> None:
        channel.queue_declare(queue="task_queue", durable=True)
        channel.basic_publish(exchange="", routing_key="tasks", body=message)

    feedback = course.EXERCISES["2.2"](broker, send)
    assert not feedback
    assert feedback.title == "The task never reached task_queue"
    assert "routing_key='tasks'" in text(feedback)


# --- 2.3 -------------------------------------------------------------------------------------------


def test_2_3_explains_round_robin_without_a_prefetch(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.3"](broker, prefetch=None)
    assert not feedback
    assert feedback.title == "That is round-robin: both workers got the same share"
    assert "slow worker: 4 tasks (task 1, task 3, task 5, task 7)" in text(feedback)
    assert "fast worker: 4 tasks (task 2, task 4, task 6, task 8)" in text(feedback)
    assert "blindly dispatches every n-th message" in text(feedback)


def test_2_3_says_that_zero_means_no_limit(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.3"](broker, prefetch=0)
    assert not feedback
    assert "prefetch_count=0, which means no limit" in text(feedback)


def test_2_3_says_a_large_prefetch_limits_nothing(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.3"](broker, prefetch=10)
    assert not feedback
    assert feedback.title == "prefetch 10 does not limit anything here: still round-robin"


def test_2_3_refuses_impossible_values_without_running(broker: BrokerHandle) -> None:
    for value, words in [(-1, "unsigned 16-bit"), (70000, "unsigned 16-bit"), ("1", "whole number")]:
        feedback = course.EXERCISES["2.3"](broker, prefetch=value)
        assert not feedback
        assert feedback.title == "That prefetch cannot be set"
        assert words in text(feedback)


def test_2_3_accepts_prefetch_one(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.3"](broker, prefetch=1)
    assert feedback, text(feedback)
    assert feedback.title.startswith("The fast worker did ")
    fast = int(feedback.title.split()[4])
    assert fast >= 6
    assert "prefetch_count=1" in text(feedback)


# --- 2.4 -------------------------------------------------------------------------------------------

SECONDS_PER_DOT = 0.01


def starting_worker(channel: Any) -> None:  # the notebook's start: no subscription at all
    channel.queue_declare(queue="task_queue", durable=True)

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        time.sleep(body.count(b".") * SECONDS_PER_DOT)


def tutorial_worker(channel: Any) -> None:
    channel.queue_declare(queue="task_queue", durable=True)

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        time.sleep(body.count(b".") * SECONDS_PER_DOT)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="task_queue", on_message_callback=callback)
    channel.start_consuming()


def worker_with(
    *, declare: dict[str, Any] | None = None, qos: bool = True, ack: str = "after", auto_ack: bool = False
) -> Any:
    """A worker that differs from the tutorial's in one way: how it declares, whether it sets
    basic_qos, and when it acks ("after" the work, "before" it, "never")."""

    def worker(channel: Any) -> None:
        if declare is not None:
            channel.queue_declare(queue="task_queue", **declare)

        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            if ack == "before":
                ch.basic_ack(delivery_tag=method.delivery_tag)
            time.sleep(0.1)
            if ack == "after":
                ch.basic_ack(delivery_tag=method.delivery_tag)

        if qos:
            channel.basic_qos(prefetch_count=1)
        channel.basic_consume(queue="task_queue", on_message_callback=callback, auto_ack=auto_ack)

    return worker


DURABLE = {"durable": True}


def test_2_4_the_starting_answer_never_subscribes_and_is_told_fast(broker: BrokerHandle) -> None:
    started = time.monotonic()
    feedback = course.EXERCISES["2.4"](broker, starting_worker)
    assert not feedback
    assert feedback.title == "Your worker never subscribed to task_queue"
    assert "channel.basic_consume(queue='task_queue', on_message_callback=callback)" in text(feedback)
    assert time.monotonic() - started < 2


def test_2_4_accepts_the_tutorials_worker_two_copies_sharing(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.4"](broker, tutorial_worker)
    assert feedback, text(feedback)
    assert "RabbitMQ counted 2 consumers on task_queue" in text(feedback)
    assert "the queue held 0 ready messages" in text(feedback)
    shares = feedback.details[0].removeprefix("Who got what: ").split("; ")
    assert len(shares) == 2 and all("task" in share for share in shares)
    assert "task_queue" not in [queue.name for queue in broker.topology().queues]  # nothing left behind


def test_2_4_a_worker_that_never_acks_has_its_tasks_requeued(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.4"](broker, worker_with(declare=DURABLE, ack="never"))
    assert not feedback
    assert feedback.title.startswith("2 tasks never acknowledged")  # prefetch 1: one each
    assert "task_queue then held 4 ready tasks" in text(feedback)


def test_2_4_an_ack_before_the_work_is_caught(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.4"](broker, worker_with(declare=DURABLE, ack="before"))
    assert not feedback
    assert feedback.title.startswith("Your worker acknowledges before it works")


def test_2_4_auto_ack_is_refused_without_losing_a_task(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.4"](broker, worker_with(declare=DURABLE, ack="none", auto_ack=True))
    assert not feedback
    assert feedback.title == "Your worker consumes with auto_ack=True"


def test_2_4_without_basic_qos_dispatch_is_not_fair(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["2.4"](broker, worker_with(declare=DURABLE, qos=False))
    assert not feedback
    assert feedback.title == "Every task done and acknowledged, but dispatch is not fair yet"


def test_2_4_the_broker_refusals_are_explained(broker: BrokerHandle) -> None:
    undeclared = course.EXERCISES["2.4"](broker, worker_with(declare=None))
    assert not undeclared
    assert "404 NOT_FOUND - no queue 'task_queue'" in text(undeclared)
    assert "declares task_queue itself first" in text(undeclared)
    plain = course.EXERCISES["2.4"](broker, worker_with(declare={}))
    assert not plain
    assert plain.title == "new_task.py could not publish to task_queue"
    assert "406 PRECONDITION_FAILED" in text(plain)


def test_2_4_a_raising_callback_is_reported(broker: BrokerHandle) -> None:
    def worker(channel: Any) -> None:
        channel.queue_declare(queue="task_queue", durable=True)

        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            raise ValueError("oops")

        channel.basic_consume(queue="task_queue", on_message_callback=callback)
        channel.start_consuming()

    feedback = course.EXERCISES["2.4"](broker, worker)
    assert not feedback
    assert "ValueError: oops" in text(feedback)


def test_chapter_2_solutions_and_hints_are_there() -> None:
    for number in ("2.1", "2.2", "2.3", "2.4"):
        exercise = course.EXERCISES[number]
        assert exercise.solution().code.strip()
        assert exercise.hint(1) and exercise.hint(2)


def test_chapter_2_solutions_pass_their_own_checks(broker: BrokerHandle) -> None:
    namespace: dict[str, Any] = {"course": course, "broker": broker, "pika": pika, "time": time}
    exec(course.EXERCISES["2.1"].solution().code, namespace)
    assert course.EXERCISES["2.1"](broker, namespace["callback"])
    exec(course.EXERCISES["2.2"].solution().code, namespace)
    assert course.EXERCISES["2.2"](broker, namespace["send_task"])
    first, call = course.EXERCISES["2.3"].solution().code.strip().splitlines()
    exec(first, namespace)
    assert eval(call, namespace)
    namespace["SECONDS_PER_DOT"] = SECONDS_PER_DOT
    exec(course.EXERCISES["2.4"].solution().code, namespace)
    assert course.EXERCISES["2.4"](broker, namespace["worker"])


def test_2_1_names_the_notebooks_channel_when_the_callback_acks_on_it(broker: BrokerHandle) -> None:
    """Issue 16: acking on the notebook's `channel` instead of `ch` closes the notebook's channel
    (406); the check says so and how to reopen it, instead of "never acknowledged" now and a pika
    traceback in the next cell."""
    channel = pika.BlockingConnection(broker.parameters).channel()  # the notebook's own

    def on_the_wrong_channel(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        channel.basic_ack(delivery_tag=method.delivery_tag)

    feedback = course.EXERCISES["2.1"](broker, on_the_wrong_channel)
    assert not feedback
    assert feedback.title == "Your callback used `channel`, not `ch`, the channel that delivered the message"
    assert (
        "RabbitMQ closed `channel` with 406 PRECONDITION_FAILED - unknown delivery tag" in feedback.details[0]
    )
    assert "channel = connection.channel()" in feedback.details[1]
    assert channel.is_closed
    channel.connection.close()
    assert course.EXERCISES["2.1"](broker, acking), "the check itself is unharmed"


# --- the Chinese edition ---------------------------------------------------------------------------


def test_2_1_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        forgot = course.EXERCISES["2.1"](broker, forgetful)
        closed = course.EXERCISES["2.1"](
            broker, lambda ch, method, properties, body: ch.basic_ack(delivery_tag=1)
        )
        accepted = course.EXERCISES["2.1"](broker, acking)
    assert not forgot and is_chinese(text(forgot)), text(forgot)
    assert forgot.title == "你的 worker 收到 3 个任务，其中 3 个一直没有确认：messages_unacknowledged = 3"
    assert "会带着 redelivered=True 被重新投递" in text(forgot)
    assert not closed and is_chinese(text(closed)), text(closed)
    assert "406 PRECONDITION_FAILED - unknown delivery tag 1" in text(closed)  # RabbitMQ's own words
    assert "确认时只用 method.delivery_tag，而且只确认一次" in text(closed)
    assert accepted, text(accepted)
    assert accepted.title == "每个任务都已确认：messages_unacknowledged = 0"
    assert is_chinese(text(accepted)), text(accepted)


def test_2_2_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        lost = course.EXERCISES["2.2"](broker, transient)
        kept = course.EXERCISES["2.2"](broker, persistent)
    assert not lost and is_chinese(text(lost)), text(lost)
    assert lost.title == "消息代理重启之后，任务不见了"
    assert "task_queue 没有回来（404 NOT_FOUND）" in text(lost)
    assert "这条消息是非持久化的（delivery_mode=None）" in text(lost)
    assert kept, text(kept)
    assert kept.title == "任务挺过了消息代理的重启"
    assert is_chinese(text(kept)), text(kept)
    assert "发布确认（第 7 章）" in text(kept)


def test_2_3_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        impossible = course.EXERCISES["2.3"](broker, prefetch=-1)
        unlimited = course.EXERCISES["2.3"](broker, prefetch=0)
        fair = course.EXERCISES["2.3"](broker, prefetch=1)
    assert not impossible and is_chinese(text(impossible)), text(impossible)
    assert "16 位无符号整数" in text(impossible)
    assert not unlimited and is_chinese(text(unlimited)), text(unlimited)
    assert unlimited.title == "这是轮询：两个 worker 分到的任务一样多"
    assert "慢 worker：4 个任务（task 1、task 3、task 5、task 7）" in text(unlimited)
    assert fair, text(fair)
    assert fair.title.startswith("8 个任务里，快 worker 做了 ")
    assert is_chinese(text(fair)), text(fair)


def test_2_4_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        idle = course.EXERCISES["2.4"](broker, starting_worker)
        unfair = course.EXERCISES["2.4"](broker, worker_with(declare=DURABLE, qos=False))
        undeclared = course.EXERCISES["2.4"](broker, worker_with(declare=None))
        shared = course.EXERCISES["2.4"](broker, tutorial_worker)
    assert not idle and is_chinese(text(idle)), text(idle)
    assert idle.title == "你的 worker 根本没有订阅 task_queue"
    assert not unfair and is_chinese(text(unfair)), text(unfair)
    assert unfair.title == "每个任务都做完并确认了，但分发还不公平"
    assert not undeclared and is_chinese(text(undeclared)), text(undeclared)
    assert "404 NOT_FOUND - no queue 'task_queue'" in text(undeclared)
    assert "所以它要先自己声明 task_queue" in text(undeclared)
    assert shared, text(shared)
    assert shared.title == "你的 worker 的两个副本分担了任务，一个也没丢"
    assert is_chinese(text(shared)), text(shared)
    assert "RabbitMQ 在 task_queue 上数到 2 个消费者" in text(shared)
