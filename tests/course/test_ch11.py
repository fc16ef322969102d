"""Chapter 11's coding tasks, on the simulator and on a real RabbitMQ 4.3: a worker killed mid-task
(11.1), an RPC client fed duplicate and stale replies (11.2) and a consumer fed redelivered and
republished messages (11.3). Each task refuses the usual wrong answers, naming the messages they
lose or repeat and why, and accepts its published solution; each leaves no queue behind and runs
in well under 3 s on the simulator. What the real broker does is what the checks expect: a verdict
that differed between the two would be a finding about the simulator."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from rabbitsim import course
from rabbitsim.backends import BrokerHandle, ManagementClient
from rabbitsim.course import interview
from tests.real_brokers import broker_on

from .solutions import run_solution
from .zh import in_chinese, is_chinese

BACKENDS = ("sim", "4.3")
#: what one check may take on the simulator (issue 15: under 3 s each)
SIM_SECONDS = 3.0


@pytest.fixture(scope="module", params=BACKENDS)
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    with broker_on(request.param) as handle:
        yield handle


@pytest.fixture(autouse=True)
def leaves_nothing_behind(broker: BrokerHandle) -> Iterator[None]:
    yield
    assert broker.management_url is not None
    queues = ManagementClient(broker.management_url).get("queues")
    assert [q["name"] for q in queues if q["name"].startswith("interview.task.")] == []


def timed(check: Any, *args: Any) -> tuple[course.Feedback, float]:
    started = time.monotonic()
    feedback = check(*args)
    return feedback, time.monotonic() - started


def text(feedback: course.Feedback) -> str:
    return str(feedback)


def test_the_tasks_are_numbered_and_titled() -> None:
    assert [task.id for task in interview.TASKS] == ["11.1", "11.2", "11.3"]
    for task in interview.TASKS:
        assert task.title and len(task.hints) >= 2
        assert f'course.EXERCISES["{task.id}"](broker, ' in task.solution().code
        assert task.solution().explanation


def test_the_tasks_are_chapter_11s_exercises() -> None:
    assert [course.EXERCISES.get(task.id) for task in interview.TASKS] == list(interview.TASKS)


# --- 11.1: a worker killed mid-task --------------------------------------------------------------


def auto_acking(channel: Any, queue: str, work: Any) -> None:  # the notebook's starting answer
    channel.basic_qos(prefetch_count=1)

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        work(body)

    channel.basic_consume(queue=queue, on_message_callback=callback, auto_ack=True)


def acking_first(channel: Any, queue: str, work: Any) -> None:
    channel.basic_qos(prefetch_count=1)

    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        ch.basic_ack(delivery_tag=method.delivery_tag)
        work(body)

    channel.basic_consume(queue=queue, on_message_callback=callback)


def never_acking(channel: Any, queue: str, work: Any) -> None:
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=lambda ch, method, props, body: work(body))


def test_11_1_names_the_tasks_an_auto_ack_worker_loses(broker: BrokerHandle) -> None:
    feedback, seconds = timed(interview.TASKS[0], broker, auto_acking)
    assert not feedback
    assert feedback.title == "4 tasks lost when the worker was killed: task 3, task 4, task 5, task 6"
    assert "killed in the middle of task 3" in text(feedback)
    assert "auto_ack=True" in text(feedback)
    assert "task 4, task 5, task 6: already sent to the worker" in text(feedback)
    assert "basic_qos does not limit an auto_ack consumer" in text(feedback)
    if broker.backend == "sim":
        assert seconds < SIM_SECONDS


def test_11_1_says_an_ack_before_the_work_loses_the_task_in_hand(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[0](broker, acking_first)
    assert not feedback
    assert feedback.title == "1 task lost when the worker was killed: task 3"
    assert "task 3: your callback acknowledged it before doing the work" in text(feedback)


def test_11_1_says_a_worker_that_never_acks_does_tasks_twice(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[0](broker, never_acking)
    assert not feedback
    assert feedback.title == "Nothing lost, but task 1 done twice: your worker never acknowledges"
    assert "With prefetch_count=1 and no ack, worker 1 was never sent a second task" in text(feedback)


def test_11_1_says_a_requeueing_worker_sends_its_tasks_back(broker: BrokerHandle) -> None:
    def requeueing(channel: Any, queue: str, work: Any) -> None:
        channel.basic_consume(queue, lambda ch, method, props, body: ch.basic_nack(method.delivery_tag))

    feedback = interview.TASKS[0](broker, requeueing)
    assert not feedback
    assert feedback.title == "Your worker sends its tasks back instead of finishing them"


def test_11_1_accepts_the_published_solution(broker: BrokerHandle) -> None:
    started = time.monotonic()
    feedback = run_solution("11.1", broker=broker)
    assert feedback, text(feedback)
    assert feedback.title == "No task lost: every one of the 6 tasks was done"
    assert "killed in the middle of task 3" in text(feedback)
    assert "task 3 (redelivered), task 4, task 5, task 6" in text(feedback)
    if broker.backend == "sim":
        assert time.monotonic() - started < SIM_SECONDS


def test_11_1_accepts_start_consuming_without_a_prefetch_and_says_what_it_held(broker: BrokerHandle) -> None:
    def worker(channel: Any, queue: str, work: Any) -> None:
        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            work(body)
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(queue, callback)
        channel.start_consuming()  # as worker.py does; the check runs the loop

    feedback = interview.TASKS[0](broker, worker)
    assert feedback, text(feedback)
    assert "Worker 1 was holding task 4, task 5, task 6 without having started them" in text(feedback)


# --- 11.2: an RPC client fed duplicate and stale replies -----------------------------------------


class NaiveClient:
    """The notebook's starting answer: takes whatever reply comes."""

    def __init__(self, connection: Any, queue: str) -> None:
        self.connection, self.queue = connection, queue
        self.channel = connection.channel()
        self.callback_queue = self.channel.queue_declare(queue="", exclusive=True).method.queue
        self.channel.basic_consume(self.callback_queue, self.on_response, auto_ack=True)
        self.response: bytes | None = None
        self.corr_id: str | None = None

    def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        self.response = body

    def correlation_id(self) -> str:
        return str(uuid.uuid4())

    def call(self, n: int) -> int:
        self.response = None
        self.corr_id = self.correlation_id()
        properties = pika.BasicProperties(reply_to=self.callback_queue, correlation_id=self.corr_id)
        self.channel.basic_publish("", self.queue, str(n).encode(), properties)
        while self.response is None:
            self.connection.process_data_events(time_limit=0.1)
        return int(self.response)


class RaisingClient(NaiveClient):
    def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        if props.correlation_id != self.corr_id:
            raise ValueError("unexpected reply")
        self.response = body


class DeafClient(NaiveClient):
    def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        pass


class OneIdClient(NaiveClient):
    """Checks the id, but sends the same one with every call (scheme d of exercise 6.2)."""

    ONE = str(uuid.uuid4())

    def correlation_id(self) -> str:
        return self.ONE

    def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        if props.correlation_id == self.corr_id:
            self.response = body


def test_11_2_says_which_call_took_another_calls_reply(broker: BrokerHandle) -> None:
    feedback, seconds = timed(interview.TASKS[1], broker, NaiveClient)
    assert not feedback
    assert feedback.title.endswith("of 5 calls went wrong")
    assert "a duplicate or stale reply" in text(feedback)
    assert "The server also sent a duplicate reply to call 2, a stale reply to call 1" in text(feedback)
    if broker.backend == "sim":
        assert seconds < SIM_SECONDS


def test_11_2_says_raising_on_an_unexpected_reply_breaks_the_call(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[1](broker, RaisingClient)
    assert not feedback
    assert "call 3, fib(5): raised ValueError: unexpected reply." in text(feedback)
    assert "without raising" in text(feedback)


def test_11_2_stops_a_client_that_never_returns(broker: BrokerHandle) -> None:
    feedback, seconds = timed(interview.TASKS[1], broker, DeafClient)
    assert not feedback
    assert "call 1, fib(3): did not return within 1 s." in text(feedback)
    assert "made no more calls after call 1 hung" in text(feedback)
    assert seconds < SIM_SECONDS


def test_11_2_says_one_correlation_id_for_every_call_is_wrong(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[1](broker, OneIdClient)
    assert not feedback
    assert "Several calls used the same correlation_id" in text(feedback)


def test_11_2_accepts_the_published_solution(broker: BrokerHandle) -> None:
    started = time.monotonic()
    feedback = run_solution("11.2", broker=broker, pika=pika, uuid=uuid)
    assert feedback, text(feedback)
    assert feedback.title == "Each of the 5 calls returned its own answer"
    assert "fib of 3, 4, 5, 6, 7 = 2, 3, 5, 8, 13." in text(feedback)
    if broker.backend == "sim":
        assert time.monotonic() - started < SIM_SECONDS


def test_11_2_reports_a_client_that_cannot_be_made(broker: BrokerHandle) -> None:
    class Broken:
        def __init__(self, connection: Any, queue: str) -> None:
            raise RuntimeError("no")

    feedback = interview.TASKS[1](broker, Broken)
    assert not feedback
    assert feedback.title == "The client could not be made"
    assert "Broken(connection, queue) raised RuntimeError: no" in text(feedback)


# --- 11.3: an idempotent consumer -----------------------------------------------------------------


def charging_everything(channel: Any, queue: str, charge: Any, processed: set[Any]) -> None:
    def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        charge(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=callback)


def deduplicating_by(key: str, *, ack_duplicates: bool = True, own_memory: bool = False) -> Any:
    """A consumer that skips what it has seen, by message_id, body or the redelivered flag."""

    def consume(channel: Any, queue: str, charge: Any, processed: set[Any]) -> None:
        seen: set[Any] = set() if own_memory else processed
        channel.basic_qos(prefetch_count=10)

        def callback(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            if key == "redelivered":
                new = not method.redelivered
            else:
                mark = properties.message_id if key == "message_id" else body
                new = mark not in seen
                seen.add(mark)
            if new:
                charge(body)
            if new or ack_duplicates:
                ch.basic_ack(delivery_tag=method.delivery_tag)

        channel.basic_consume(queue=queue, on_message_callback=callback)

    return consume


def test_11_3_names_every_order_charged_twice_and_why(broker: BrokerHandle) -> None:
    feedback, seconds = timed(interview.TASKS[2], broker, charging_everything)
    assert not feedback
    assert feedback.title == "3 orders charged more than once"
    assert "order-2 x2, order-3 x2, order-4 x2" in text(feedback)
    assert "order-3 was charged 2 times: the publisher sent it twice in a row" in text(feedback)
    assert "order-4 was charged 2 times: the first consumer processed it and was killed" in text(feedback)
    assert "order-2 was charged 2 times: the publisher sent it again after the crash" in text(feedback)
    if broker.backend == "sim":
        assert seconds < SIM_SECONDS


def test_11_3_says_the_body_is_not_an_id(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[2](broker, deduplicating_by("body"))
    assert not feedback
    assert feedback.title == "1 order never charged"
    assert "order-4 was never charged: it has the same body as order-1" in text(feedback)


def test_11_3_says_redelivered_is_not_processed(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[2](broker, deduplicating_by("redelivered"))
    assert not feedback
    assert feedback.title == "2 orders charged more than once, 2 never"
    assert "order-5 was never charged: it came again with redelivered=True" in text(feedback)
    assert "order-3 was charged 2 times" in text(feedback)


def test_11_3_says_a_memory_of_its_own_dies_with_the_consumer(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[2](broker, deduplicating_by("message_id", own_memory=True))
    assert not feedback
    assert "order-4 x2" in text(feedback)
    assert "`processed` is still empty" in text(feedback)


def test_11_3_says_duplicates_must_be_acked_too(broker: BrokerHandle) -> None:
    feedback = interview.TASKS[2](broker, deduplicating_by("message_id", ack_duplicates=False))
    assert not feedback
    assert feedback.title == "Each order was charged once, but 3 messages stayed in the queue"


def test_11_3_accepts_the_published_solution(broker: BrokerHandle) -> None:
    started = time.monotonic()
    feedback = run_solution("11.3", broker=broker)
    assert feedback, text(feedback)
    assert feedback.title == "Each of the 6 orders was charged exactly once"
    if broker.backend == "sim":
        assert time.monotonic() - started < SIM_SECONDS


def test_11_3_accepts_another_right_answer(broker: BrokerHandle) -> None:
    assert interview.TASKS[2](broker, deduplicating_by("message_id"))


# --- the Chinese edition: the same checks, said in Chinese (on the simulator) ------------------------


#: what the checks say does not depend on the broker: the Chinese texts are checked once, on the simulator
on_the_simulator = pytest.mark.parametrize("broker", ["sim"], indirect=True)


def requeueing(channel: Any, queue: str, work: Any) -> None:
    channel.basic_consume(queue, lambda ch, method, props, body: ch.basic_nack(method.delivery_tag))


@pytest.mark.parametrize(
    ("worker", "title", "phrase"),
    [
        (
            auto_acking,
            "worker 被杀掉时丢了 4 个任务：task 3、task 4、task 5、task 6",
            "basic_qos 限制不了 auto_ack 消费者",
        ),
        (acking_first, "worker 被杀掉时丢了 1 个任务：task 3", "task 3：你的回调函数在干活之前就确认了它"),
        (
            never_acking,
            "没有丢任务，但 task 1 做了两次：你的 worker 从不确认",
            "在 prefetch_count=1 而又不确认的情况下，worker 1 根本收不到第二个任务",
        ),
        (
            requeueing,
            "你的 worker 把任务退了回去，而不是把它们做完",
            "requeue=True 的 basic_nack 或 basic_reject",
        ),
    ],
    ids=["auto-ack", "ack-first", "never-ack", "requeue"],
)
@on_the_simulator
def test_11_1_says_in_chinese_what_a_wrong_worker_loses(
    broker: BrokerHandle, worker: Any, title: str, phrase: str
) -> None:
    with in_chinese():
        feedback = interview.TASKS[0](broker, worker)
    assert not feedback
    assert feedback.title == title
    assert phrase in text(feedback) and is_chinese(text(feedback)), text(feedback)
    assert "worker 1（你的）" in text(feedback)


@pytest.mark.parametrize(
    ("client", "phrase"),
    [
        (NaiveClient, "的答案：一条重复或过期的回复。"),
        (RaisingClient, "第 3 次调用 fib(5)：抛出了 ValueError: unexpected reply。"),
        (DeafClient, "第 1 次调用 fib(3)：1 秒内没有返回。"),
        (OneIdClient, "多次调用用了同一个 correlation_id"),
    ],
    ids=["naive", "raising", "deaf", "one-id"],
)
@on_the_simulator
def test_11_2_says_in_chinese_which_call_went_wrong(broker: BrokerHandle, client: Any, phrase: str) -> None:
    with in_chinese():
        feedback = interview.TASKS[1](broker, client)
    assert not feedback
    assert re.fullmatch(r"5 次调用中有 \d 次出错", feedback.title), feedback.title
    assert phrase in text(feedback) and is_chinese(text(feedback)), text(feedback)
    assert "只接收 correlation_id 与当前调用相同的那条回复" in text(feedback)
    if client is NaiveClient:
        assert "服务器还发送了对第 2 次调用的重复回复、对第 1 次调用的过期回复" in text(feedback)
    if client is DeafClient:
        assert "第 1 次调用卡住之后，检查程序没有再发起调用（共 5 次）。" in text(feedback)


@on_the_simulator
def test_11_2_says_in_chinese_that_the_client_could_not_be_made(broker: BrokerHandle) -> None:

    class Broken:
        def __init__(self, connection: Any, queue: str) -> None:
            raise RuntimeError("no")

    with in_chinese():
        feedback = interview.TASKS[1](broker, Broken)
    assert not feedback
    assert feedback.title == "无法创建客户端"
    assert "Broken(connection, queue) 抛出了 RuntimeError: no" in text(feedback) and is_chinese(
        text(feedback)
    )


@pytest.mark.parametrize(
    ("consume", "title", "phrase"),
    [
        (
            charging_everything,
            "3 个订单被扣了不止一次款",
            "order-3 被扣了 2 次款：发布方连着发了两次（它没收到发布确认，于是重试）",
        ),
        (
            deduplicating_by("body"),
            "1 个订单一次也没扣款",
            "order-4 一次也没有扣款：它的消息体与 order-1 相同",
        ),
        (
            deduplicating_by("redelivered"),
            "2 个订单被扣了不止一次款，2 个一次也没扣",
            "redelivered=True 的意思是“以前投递过”，而不是“以前处理过”",
        ),
        (
            deduplicating_by("message_id", own_memory=True),
            "2 个订单被扣了不止一次款",
            "`processed` 还是空的",
        ),
        (
            deduplicating_by("message_id", ack_duplicates=False),
            "每个订单都只扣了一次款，但有 3 条消息留在了队列里",
            "重复的消息也必须确认",
        ),
    ],
    ids=["charge-all", "by-body", "by-redelivered", "own-memory", "no-ack-duplicates"],
)
@on_the_simulator
def test_11_3_says_in_chinese_which_order_was_charged_wrongly(
    broker: BrokerHandle, consume: Any, title: str, phrase: str
) -> None:
    with in_chinese():
        feedback = interview.TASKS[2](broker, consume)
    assert not feedback
    assert feedback.title == title
    assert phrase in text(feedback) and is_chinese(text(feedback)), text(feedback)
    assert "各订单的扣款次数：order-1 为 1 次、" in text(feedback)


@pytest.mark.parametrize(
    ("ident", "title"),
    [
        ("11.1", "没有丢任务：6 个任务全部完成"),
        ("11.2", "5 次调用都返回了各自的答案"),
        ("11.3", "6 个订单都恰好扣了一次款"),
    ],
)
@on_the_simulator
def test_the_tasks_accept_their_solutions_in_chinese(broker: BrokerHandle, ident: str, title: str) -> None:
    with in_chinese():
        feedback = run_solution(ident, broker=broker, pika=pika, uuid=uuid)
    assert feedback, text(feedback)
    assert feedback.title == title and is_chinese(text(feedback)), text(feedback)
