"""Chapter 3, publish/subscribe: the subscriber helper, and the exercise checks, which must
accept the right answers and say specifically what is wrong with the wrong ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle
from rabbitsim.course import Subscriber

from .zh import in_chinese, is_chinese


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def receive_logs(channel: Any) -> str:
    """The tutorial's answer."""
    channel.exchange_declare(exchange="logs", exchange_type="fanout")
    queue_name: str = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(exchange="logs", queue=queue_name)
    return queue_name


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- the subscriber ------------------------------------------------------------------------------


def test_a_subscriber_gets_every_log_and_its_exclusive_queue_goes_with_it(broker: BrokerHandle) -> None:
    channel = pika.BlockingConnection(broker.parameters).channel()
    channel.exchange_declare(exchange="logs", exchange_type="fanout")
    first = Subscriber(broker, receive_logs, name="first")
    second = Subscriber(broker, receive_logs, name="second")
    assert first.queue.startswith("amq.gen-") and first.queue != second.queue
    for n in range(3):
        channel.basic_publish("logs", "", f"log {n}".encode())
    assert first.wait_for(3) and second.wait_for(3)
    assert first.texts == second.texts == ["log 0", "log 1", "log 2"]
    first.stop()
    names = {queue.name for queue in broker.topology().queues}
    assert first.queue not in names and second.queue in names
    second.stop()


def test_a_subscriber_passes_its_arguments_to_the_setup(broker: BrokerHandle) -> None:
    def bind(channel: Any, *keys: str) -> str:
        channel.exchange_declare(exchange="direct_logs", exchange_type="direct")
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        for key in keys:
            channel.queue_bind(exchange="direct_logs", queue=queue, routing_key=key)
        return queue

    with Subscriber(broker, bind, "warning", "error") as subscriber:
        keys = {b.routing_key for b in broker.topology().bindings_from("direct_logs")}
        assert keys == {"warning", "error"}
        assert subscriber.queue


def test_a_subscriber_whose_setup_goes_wrong_says_why(broker: BrokerHandle) -> None:
    with pytest.raises(RuntimeError, match="must return the queue's name"):
        Subscriber(broker, lambda channel: None)
    with pytest.raises(RuntimeError, match=r"leave channel\.start_consuming"):
        Subscriber(broker, lambda channel: channel.start_consuming())
    with pytest.raises(RuntimeError, match="NOT_FOUND - no exchange 'nowhere'"):
        Subscriber(broker, lambda channel: channel.queue_bind("q", "nowhere"))


# --- 3.2 ----------------------------------------------------------------------------------------


def test_3_2_accepts_the_tutorials_temporary_queue(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["3.2"](broker, receive_logs)
    assert feedback, text(feedback)
    assert "Both copies got all 3 logs" in text(feedback)
    assert not [q for q in broker.topology().queues if q.name.startswith("amq.gen-")]


def test_3_2_a_queue_without_binding_misses_every_log_and_says_to_bind(broker: BrokerHandle) -> None:
    def unbound(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        return queue

    feedback = course.EXERCISES["3.2"](broker, unbound)
    assert not feedback
    assert "missed 3 of the 3 logs" in feedback.title
    assert "'info: Hello World!'" in text(feedback)
    assert "not bound to any exchange" in text(feedback)
    assert "queue_bind(exchange='logs'" in text(feedback)


def test_3_2_a_shared_named_queue_is_explained_as_round_robin(broker: BrokerHandle) -> None:
    def named(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        channel.queue_declare(queue="logs_queue")
        channel.queue_bind(exchange="logs", queue="logs_queue")
        return "logs_queue"

    feedback = course.EXERCISES["3.2"](broker, named)
    assert not feedback
    assert "same queue, 'logs_queue'" in feedback.title
    assert "round-robin" in text(feedback)
    assert "logs_queue" not in {q.name for q in broker.topology().queues}  # the check cleaned up


def test_3_2_a_named_exclusive_queue_locks_out_the_second_subscriber(broker: BrokerHandle) -> None:
    def named_exclusive(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        channel.queue_declare(queue="my_logs", exclusive=True)
        channel.queue_bind(exchange="logs", queue="my_logs")
        return "my_logs"

    feedback = course.EXERCISES["3.2"](broker, named_exclusive)
    assert not feedback
    assert "405 RESOURCE_LOCKED" in text(feedback)
    assert "queue_declare(queue='', exclusive=True)" in text(feedback)


def test_3_2_a_queue_that_outlives_its_subscriber_is_refused(broker: BrokerHandle) -> None:
    def lasting(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        queue: str = channel.queue_declare(queue="").method.queue
        channel.queue_bind(exchange="logs", queue=queue)
        return queue

    feedback = course.EXERCISES["3.2"](broker, lasting)
    assert not feedback
    assert "outlives it" in feedback.title
    assert "exclusive=True" in text(feedback)
    assert not [q for q in broker.topology().queues if q.name.startswith("amq.gen-")]


def test_3_2_binding_to_the_wrong_exchange_names_it(broker: BrokerHandle) -> None:
    def elsewhere(channel: Any) -> str:
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(exchange="amq.fanout", queue=queue)
        return queue

    feedback = course.EXERCISES["3.2"](broker, elsewhere)
    assert not feedback
    assert "bound to 'amq.fanout'" in text(feedback)
    assert "publishes to 'logs'" in text(feedback)


def test_3_2_broker_refusals_are_explained(broker: BrokerHandle) -> None:
    def direct(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="direct")
        return "never"

    def misspelt(channel: Any) -> str:
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(exchange="log", queue=queue)
        return queue

    redeclared = course.EXERCISES["3.2"](broker, direct)
    assert not redeclared
    assert "406 PRECONDITION_FAILED" in text(redeclared) and "same type" in text(redeclared)
    missing = course.EXERCISES["3.2"](broker, misspelt)
    assert not missing
    assert "404 NOT_FOUND - no exchange 'log'" in text(missing)


def test_3_2_setup_functions_that_cannot_work_are_explained(broker: BrokerHandle) -> None:
    def no_name(channel: Any) -> None:
        receive_logs(channel)

    def consumes(channel: Any) -> str:
        queue = receive_logs(channel)
        channel.basic_consume(queue, print)
        return queue

    def broken(channel: Any) -> str:
        raise ValueError("oops")

    assert "must return the queue's name" in text(course.EXERCISES["3.2"](broker, no_name))
    assert "leave channel.basic_consume() out" in text(course.EXERCISES["3.2"](broker, consumes))
    assert "raised ValueError: oops" in text(course.EXERCISES["3.2"](broker, broken))


# --- 3.1 ----------------------------------------------------------------------------------------


def test_3_1_accepts_two(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["3.1"](broker, 2)
    assert feedback, text(feedback)
    assert "'log 4 (after it bound its queue)', 'log 5 (after it bound its queue)'" in text(feedback)


@pytest.mark.parametrize(
    ("prediction", "says"),
    [
        (5, "the first 3 logs never reach the subscriber"),
        (3, "it is the first 3 that are lost"),
        (0, "once its queue is bound, the subscriber gets the 2 later logs"),
        (4, "the subscriber receives 2"),
    ],
)
def test_3_1_explains_that_the_early_logs_were_dropped(
    broker: BrokerHandle, prediction: int, says: str
) -> None:
    feedback = course.EXERCISES["3.1"](broker, prediction)
    assert not feedback
    assert says in feedback.title
    assert "returned 3 of them as 312 NO_ROUTE" in text(feedback)
    assert "keeps nothing" in text(feedback)
    assert not [e for e in broker.topology().exchanges if e.name.startswith("exercise-")]


def test_3_1_wants_a_number(broker: BrokerHandle) -> None:
    assert "Answer with a number" in course.EXERCISES["3.1"](broker, "two").title


def test_the_solutions_are_there_when_asked_for() -> None:
    assert "exclusive=True" in course.EXERCISES["3.2"].solution().code
    assert "2" in course.EXERCISES["3.1"].solution().code
    assert course.EXERCISES["3.2"].hint(2)


# --- the Chinese edition -------------------------------------------------------------------------


def test_3_1_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        everything = course.EXERCISES["3.1"](broker, 5)
        not_a_number = course.EXERCISES["3.1"](broker, "two")
        accepted = course.EXERCISES["3.1"](broker, 2)
    assert not everything and is_chinese(text(everything)), text(everything)
    assert everything.title == "不是 5：前 3 条日志根本到不了订阅者"
    assert "消息代理把其中 3 条以 312 NO_ROUTE 退了回来" in text(everything)
    assert not not_a_number and is_chinese(text(not_a_number)), text(not_a_number)
    assert not_a_number.title == "请用日志的条数来回答，而不是 'two'"
    assert accepted, text(accepted)
    assert accepted.title == "没错：2 条，只有队列绑定之后发布的那些"
    assert is_chinese(text(accepted)), text(accepted)


def test_3_2_in_chinese(broker: BrokerHandle) -> None:
    def unbound(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        return queue

    def elsewhere(channel: Any) -> str:
        queue: str = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(exchange="amq.fanout", queue=queue)
        return queue

    def named_exclusive(channel: Any) -> str:
        channel.exchange_declare(exchange="logs", exchange_type="fanout")
        channel.queue_declare(queue="my_logs", exclusive=True)
        channel.queue_bind(exchange="logs", queue="my_logs")
        return "my_logs"

    with in_chinese():
        missed = course.EXERCISES["3.2"](broker, unbound)
        misbound = course.EXERCISES["3.2"](broker, elsewhere)
        locked = course.EXERCISES["3.2"](broker, named_exclusive)
        accepted = course.EXERCISES["3.2"](broker, receive_logs)
    assert not missed and is_chinese(text(missed)), text(missed)
    assert missed.title == "3 条日志中，订阅者 1 漏掉了 3 条"
    assert "'info: Hello World!'、'warning: disk 91% full'、'error: disk full'" in text(missed)
    assert "没有绑定到任何交换机" in text(missed)
    assert not misbound and is_chinese(text(misbound)), text(misbound)
    assert "绑定到了 'amq.fanout'（绑定键 'amq.gen-" in text(misbound)
    assert "但 emit_log 发布到的是 'logs'：请绑定到这个交换机" in text(misbound)
    assert not locked and is_chinese(text(locked)), text(locked)
    assert locked.title == "第一个副本还在运行时，你的订阅者的第二个副本没能完成设置"
    assert "405 RESOURCE_LOCKED" in text(locked) and "排他队列只属于声明它的那个连接" in text(locked)
    assert accepted, text(accepted)
    assert accepted.title == "每个订阅者都在自己的临时队列里收到了每条日志"
    assert is_chinese(text(accepted)), text(accepted)
