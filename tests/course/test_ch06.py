"""Chapter 6 (RPC): the race the chapter shows happens on the simulator as it does on RabbitMQ
(a server that dies between its reply and its ack makes the request be answered twice), and
the checks of exercises 6.1 and 6.2 say what is wrong, specifically, and accept the right answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle

from .solutions import run_solution
from .zh import in_chinese, is_chinese


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def reply(channel: BlockingChannel, request: course.Received) -> None:
    """The tutorial's on_request, answering n with n * 2."""
    channel.basic_publish(
        "",
        request.properties.reply_to,
        str(int(request.body) * 2).encode(),
        pika.BasicProperties(correlation_id=request.properties.correlation_id),
    )


def test_a_server_dying_between_reply_and_ack_answers_the_request_twice(broker: BrokerHandle) -> None:
    client = pika.BlockingConnection(broker.parameters)
    channel = client.channel()
    channel.queue_declare("rpc_queue")
    callback = channel.queue_declare("", exclusive=True).method.queue
    replies: list[tuple[str, bytes]] = []
    channel.basic_consume(
        callback, lambda _ch, _m, props, body: replies.append((props.correlation_id, body)), auto_ack=True
    )
    crashy = course.BackgroundConsumer(
        broker, "rpc_queue", name="crashy", prefetch=1, ack=False, handler=reply
    )
    channel.basic_publish(
        "", "rpc_queue", b"5", pika.BasicProperties(reply_to=callback, correlation_id="call-1")
    )
    assert crashy.wait_for(1)
    crashy.stop()  # replied, never acked: the request goes back to rpc_queue
    with course.BackgroundConsumer(broker, "rpc_queue", name="server", prefetch=1, handler=reply) as server:
        assert server.wait_for(1)
        assert server.received[0].redelivered
        deadline = time.monotonic() + 5
        while len(replies) < 2 and time.monotonic() < deadline:
            client.process_data_events(time_limit=0.05)
    assert replies == [("call-1", b"10"), ("call-1", b"10")]
    client.close()


# --- exercise 6.1 -----------------------------------------------------------------------------


def stores_everything(self: Any, ch: Any, method: Any, props: Any, body: bytes) -> None:
    self.responses[props.correlation_id] = body


def raises_on_strangers(self: Any, ch: Any, method: Any, props: Any, body: bytes) -> None:
    if props.correlation_id not in self.responses:
        raise ValueError(f"unexpected reply {props.correlation_id}")
    self.responses[props.correlation_id] = body


def fills_the_first_empty(self: Any, ch: Any, method: Any, props: Any, body: bytes) -> None:
    for corr_id, value in self.responses.items():
        if value is None:
            self.responses[corr_id] = body
            return


def acks(self: Any, ch: Any, method: Any, props: Any, body: bytes) -> None:
    if props.correlation_id in self.responses:
        self.responses[props.correlation_id] = int(body)
    ch.basic_ack(delivery_tag=method.delivery_tag)


def test_6_1_the_starting_answer_stores_duplicates_late_replies_and_strangers() -> None:
    verdict = course.EXERCISES["6.1"](stores_everything)
    assert not verdict
    assert verdict.title == "on_response gets 3 things wrong"
    first, second, third = verdict.details
    assert first.startswith("on the duplicate reply to c1, a call that has returned (its server died")
    assert "stored it under 'c1', which no call is waiting for" in first
    assert "leak" in first
    assert second.startswith("on a message with no correlation_id at all: stored it under None")
    assert third.startswith("on the late reply to c0, a call that timed out") and "under 'c0'" in third


def test_6_1_raising_explains_what_pika_does_with_it() -> None:
    verdict = course.EXERCISES["6.1"](raises_on_strangers)
    assert len(verdict.details) == 3
    assert all("raised ValueError" in line for line in verdict.details)
    assert "comes out of process_data_events" in verdict.details[0]


def test_6_1_taking_replies_in_order_gives_wrong_answers_and_waits_forever() -> None:
    details = course.EXERCISES["6.1"](fills_the_first_empty).details
    assert any("stored b'5' as the answer to 'c2', which has not been answered" in line for line in details)
    assert any("responses['c3'] is None, where the reply b'21' belongs" in line for line in details)
    assert any("wait for it until its timeout" in line for line in details)


def test_6_1_acking_an_auto_ack_delivery_is_a_406() -> None:
    verdict = course.EXERCISES["6.1"](acks)
    assert verdict.details == (
        "called ch.basic_ack: the client consumes its callback queue with auto_ack=True, so the "
        "broker knows no delivery tag to settle; an ack would close the channel with 406 "
        "PRECONDITION_FAILED (unknown delivery tag)",
    )


def test_6_1_accepts_the_solution_as_a_function_or_a_method() -> None:
    assert run_solution("6.1")

    class Client:
        def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
            if props.correlation_id in self.responses:  # type: ignore[attr-defined]
                self.responses[props.correlation_id] = body.decode()  # type: ignore[attr-defined]

    assert course.EXERCISES["6.1"](Client)
    assert not course.EXERCISES["6.1"](None)
    assert course.EXERCISES["6.1"]("on_response").title == "Pass your on_response function"


# --- exercise 6.2 -----------------------------------------------------------------------------


def test_6_2_explains_each_wrong_choice() -> None:
    verdict = course.EXERCISES["6.2"]({"a", "c", "d"})
    assert not verdict
    assert verdict.title == "3 of the 5 schemes judged wrongly"
    a, d, b = verdict.details
    assert a.startswith("a (str(n): the number the call asks for) does not work: two calls for the same n")
    assert "idempotent" in a
    assert d.startswith("d (one uuid4, made in __init__") and "a duplicate or late reply is taken" in d
    assert b.startswith("b (a counter kept by the client") and "works too" in b and "exclusive" in b


def test_6_2_accepts_the_solution_in_any_spelling() -> None:
    assert run_solution("6.2")
    assert course.EXERCISES["6.2"]("b, c")
    assert course.EXERCISES["6.2"](["C", "B"])


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        (set(), "No scheme chosen yet"),
        ({"c", "z"}, "There is no scheme z"),
        (3, "Give the letters of the schemes that work"),
    ],
)
def test_6_2_says_what_to_give_instead_of_raising(answer: Any, title: str) -> None:
    verdict = course.EXERCISES["6.2"](answer)
    assert not verdict
    assert verdict.title == title


# --- the Chinese edition ----------------------------------------------------------------------


def test_6_1_speaks_chinese() -> None:
    with in_chinese():
        verdict = course.EXERCISES["6.1"](stores_everything)
        assert not verdict and is_chinese(str(verdict))
        assert verdict.title == "on_response 有 3 处错误"
        assert verdict.details[0].startswith("收到对 c1 的重复回复（")
        assert "可没有哪个调用在等这个 id" in verdict.details[0]
        acked = course.EXERCISES["6.1"](acks)
        assert is_chinese(str(acked)) and "406 PRECONDITION_FAILED" in acked.details[0]
        assert "客户端以 auto_ack=True 消费它的回调队列" in acked.details[0]
        assert course.EXERCISES["6.1"]("on_response").title == "把你的 on_response 函数传进来"
        accepted = run_solution("6.1")
        assert accepted and is_chinese(str(accepted))


def test_6_2_speaks_chinese() -> None:
    with in_chinese():
        verdict = course.EXERCISES["6.2"]({"a", "c", "d"})
        assert not verdict and is_chinese(str(verdict))
        assert verdict.title == "5 个方案中有 3 个判断错了"
        assert verdict.details[0].startswith("a（str(n)：这次调用所求的那个数）不可行：")
        assert "其实也可行" in verdict.details[2]
        assert course.EXERCISES["6.2"](set()).details[0] == "a：str(n)：这次调用所求的那个数"
        accepted = run_solution("6.2")
        assert accepted and accepted.title == "正确：b 和 c"
