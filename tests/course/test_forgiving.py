"""The course's helpers forgive a messy learner (issue 16): a handler that raises is reported
and its consumer goes on; a named consumer or worker started again replaces the old one and
`stop_all` stops what the chapter started; worker processes ignore the notebook's interrupt
and end with it; startup failures and waits that time out say why, in a sentence."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
from collections.abc import Iterator

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle
from rabbitsim.course import _consumers
from rabbitsim.course._consumers import BackgroundConsumer, Received, Subscriber, stop_all
from rabbitsim.course._processes import WorkerProcess

from .zh import in_chinese, is_chinese, speaking


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle
    stop_all(quiet=True)


def channel_of(broker: BrokerHandle) -> pika.adapters.blocking_connection.BlockingChannel:
    return pika.BlockingConnection(broker.parameters).channel()


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def on_request(ch: pika.adapters.blocking_connection.BlockingChannel, request: Received) -> None:
    """Chapter 6's server handler, as the lesson writes it: int() of a bad argument raises."""
    n = int(request.body)
    ch.basic_publish(
        exchange="",
        routing_key=request.properties.reply_to,
        properties=pika.BasicProperties(correlation_id=request.properties.correlation_id),
        body=str(fib(n)),
    )


class Client:
    """Chapter 6's RPC client, with a deadline."""

    def __init__(self, broker: BrokerHandle) -> None:
        self.connection = pika.BlockingConnection(broker.parameters)
        self.channel = self.connection.channel()
        self.callback_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.replies: dict[str, bytes] = {}
        self.channel.basic_consume(self.callback_queue, self.on_response, auto_ack=True)

    def on_response(
        self, _ch: object, _method: object, properties: pika.BasicProperties, body: bytes
    ) -> None:
        self.replies[properties.correlation_id] = body

    def call(self, argument: str, timeout: float = 2.0) -> bytes | None:
        corr_id = uuid.uuid4().hex
        self.channel.basic_publish(
            "",
            "rpc_queue",
            argument.encode(),
            pika.BasicProperties(reply_to=self.callback_queue, correlation_id=corr_id),
        )
        deadline = time.monotonic() + timeout
        while corr_id not in self.replies and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.05)
        return self.replies.get(corr_id)


# --- 1. a handler that raises ----------------------------------------------------------------------


def test_an_rpc_server_whose_handler_raises_reports_it_and_keeps_serving(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chapter 6: call('abc') used to kill the server, and its requeued request killed every new
    server, so every later call timed out."""
    channel_of(broker).queue_declare("rpc_queue")
    server = BackgroundConsumer(broker, "rpc_queue", name="rpc server", prefetch=1, handler=on_request)
    client = Client(broker)
    try:
        assert client.call("abc", timeout=1.0) is None  # no answer to a bad request
        assert client.call("10") == b"55"  # ... but the server is alive and answers the next one
        assert server.running
        assert [failure.received.body for failure in server.failures] == [b"abc"]
        lines = [line for line in capsys.readouterr().err.splitlines() if "abc" in line]
        assert len(lines) == 1
        assert "rpc server" in lines[0] and "ValueError" in lines[0] and "not requeued" in lines[0]
        queue = broker.topology().queue("rpc_queue")
        assert (queue.messages_ready, queue.messages_unacknowledged) == (0, 0)  # nothing poisoned left
        server.stop()
        again = BackgroundConsumer(broker, "rpc_queue", name="rpc server", prefetch=1, handler=on_request)
        assert client.call("7") == b"13"
        assert again.failures == []
    finally:
        client.connection.close()


@pytest.mark.parametrize(("on_error", "dead_lettered"), [("reject", 1), ("ack", 0)])
def test_the_lesson_chooses_whether_a_failed_message_is_rejected_or_acked(
    broker: BrokerHandle, on_error: str, dead_lettered: int
) -> None:
    """Rejected (without requeue) it goes to the queue's dead-letter exchange; acked, it is gone."""
    channel = channel_of(broker)
    channel.queue_declare("dead")
    channel.queue_declare(
        "work", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
    )

    def fail(_channel: object, received: Received) -> None:
        raise ValueError(f"cannot handle {received.text}")

    with BackgroundConsumer(broker, "work", handler=fail, on_error=on_error) as consumer:  # type: ignore[arg-type]
        channel.basic_publish("", "work", b"poison")
        assert consumer.wait_for(1)
        assert consumer.running
    topology = broker.topology()
    assert topology.queue("work").messages == 0
    assert topology.queue("dead").messages_ready == dead_lettered


def test_an_unknown_error_policy_is_refused_at_once(broker: BrokerHandle) -> None:
    with pytest.raises(ValueError, match="on_error"):
        BackgroundConsumer(broker, "work", on_error="requeue")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("en", "double acker stopped: 406 PRECONDITION_FAILED"),
        ("zh", "double acker 已停止：406 PRECONDITION_FAILED"),
    ],
)
def test_a_consumer_whose_channel_dies_says_so(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str], code: str, said: str
) -> None:
    """A handler that acks a second time gets its channel closed (406): nothing can go on."""
    channel = channel_of(broker)
    channel.queue_declare("q")

    def ack_twice(ch: pika.adapters.blocking_connection.BlockingChannel, received: Received) -> None:
        ch.basic_ack(received.delivery_tag)

    with speaking(code):
        consumer = BackgroundConsumer(broker, "q", name="double acker", handler=ack_twice)
        channel.basic_publish("", "q", b"once")
        deadline = time.monotonic() + 5
        while consumer.running and time.monotonic() < deadline:
            time.sleep(0.02)
    assert not consumer.running
    assert said in capsys.readouterr().err


# --- 2. started again, and stop_all --------------------------------------------------------------


def test_a_named_consumer_started_again_replaces_the_old_one(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("task_queue")
    first = BackgroundConsumer(broker, "task_queue", name="worker-1")
    second = BackgroundConsumer(broker, "task_queue", name="worker-1")  # the cell, run again
    assert not first.running and second.running
    assert "worker-1" in capsys.readouterr().out
    assert broker.topology().queue("task_queue").consumers == 1
    # unnamed consumers, and the same name on another queue, run side by side
    a, b = BackgroundConsumer(broker, "task_queue"), BackgroundConsumer(broker, "task_queue")
    channel.queue_declare("other")
    elsewhere = BackgroundConsumer(broker, "other", name="worker-1")
    assert a.running and b.running and second.running and elsewhere.running
    assert broker.topology().queue("task_queue").consumers == 3


def test_a_named_subscriber_started_again_replaces_the_old_one(broker: BrokerHandle) -> None:
    def receive_logs(channel: pika.adapters.blocking_connection.BlockingChannel) -> str:
        channel.exchange_declare("logs", "fanout")
        queue = str(channel.queue_declare("", exclusive=True).method.queue)
        channel.queue_bind(queue, "logs")
        return queue

    first = Subscriber(broker, receive_logs, name="to_disk")
    second = Subscriber(broker, receive_logs, name="to_disk")
    assert not first.running and second.running
    deadline = time.monotonic() + 3
    while len(broker.topology().bindings_from("logs")) != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(broker.topology().bindings_from("logs")) == 1  # the old queue went with its connection


def test_a_named_worker_process_started_again_replaces_the_old_one(broker: BrokerHandle) -> None:
    channel_of(broker).queue_declare("task_queue")
    first = WorkerProcess(broker, "task_queue", name="worker-A")
    try:
        second = WorkerProcess(broker, "task_queue", name="worker-A")
        assert not first.alive and second.alive
    finally:
        first.stop()
    second.stop()


def test_stop_all_stops_what_the_chapter_started_and_says_what(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("task_queue")
    consumer = BackgroundConsumer(broker, "task_queue", name="reader")
    subscriber = Subscriber(
        broker, lambda c: str(c.queue_declare("", exclusive=True).method.queue), name="sub"
    )
    worker = WorkerProcess(broker, "task_queue", name="worker-A")
    stopped = BackgroundConsumer(broker, "task_queue", name="gone")
    stopped.stop()
    capsys.readouterr()
    stop_all()
    said = capsys.readouterr().out
    assert said.startswith("stop_all stopped 3: consumer 'reader' on 'task_queue', subscriber 'sub', ")
    assert "worker process 'worker-A'" in said and "gone" not in said
    assert not consumer.running and not subscriber.running and not worker.alive
    stop_all()
    assert capsys.readouterr().out == "stop_all: nothing was running.\n"


def test_stop_all_for_one_broker_leaves_the_others(broker: BrokerHandle) -> None:
    channel_of(broker).queue_declare("q")
    with rabbitsim.start("sim") as other:
        channel_of(other).queue_declare("q")
        mine = BackgroundConsumer(broker, "q", name="same name")
        theirs = BackgroundConsumer(other, "q", name="same name")  # another broker: no replacement
        assert mine.running and theirs.running
        stop_all(other, quiet=True)
        assert mine.running and not theirs.running
    again = BackgroundConsumer(broker, "q", name="again")
    stop_all(other, quiet=True)  # a closed handle: still only what was started on it
    assert mine.running and again.running
    stop_all(broker, quiet=True)
    assert not mine.running and not again.running


def test_an_interrupted_start_leaves_no_consumer_running(broker: BrokerHandle) -> None:
    """Ctrl-C while the cell waits for the consumer to start stops the consumer's thread too."""
    channel_of(broker).queue_declare("q")

    def slow(channel: pika.adapters.blocking_connection.BlockingChannel) -> str:
        time.sleep(1.0)
        return "q"

    threading.Timer(0.2, _thread.interrupt_main).start()  # the notebook's interrupt
    with pytest.raises(KeyboardInterrupt):
        BackgroundConsumer(broker, "q", name="slow start", setup=slow)
    assert not _consumers._started
    assert not [thread for thread in threading.enumerate() if thread.name == "rabbitsim-slow start"]
    assert broker.topology().queue("q").consumers == 0


# --- 3. workers and the notebook's interrupt -----------------------------------------------------

KERNEL = textwrap.dedent(
    """
    import signal, sys, time, types
    from rabbitsim.course._processes import WorkerProcess

    interrupted = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))  # a kernel survives Ctrl-C
    broker = types.SimpleNamespace(url=sys.argv[1])
    worker = WorkerProcess(broker, "task_queue", name="worker-A", seconds_per_dot=0.01)
    print("worker", worker.process.pid, flush=True)
    sys.stdin.readline()  # the test interrupts us now
    deadline = time.monotonic() + 5
    while not interrupted and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    print("interrupted", bool(interrupted), "alive", worker.alive, flush=True)
    sys.stdin.readline()  # the test published a task
    print("worked", worker.wait_for_line("done task.", timeout=5), flush=True)
    worker.kill()
    print("killed", worker.process.returncode, flush=True)
    """
)


def kernel(broker: BrokerHandle) -> subprocess.Popen[str]:
    """A process that plays the notebook's kernel, in a process group of its own, as Jupyter starts one."""
    return subprocess.Popen(
        [sys.executable, "-c", KERNEL, broker.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_worker_process_survives_the_notebooks_interrupt_and_still_dies_by_sigkill(
    broker: BrokerHandle,
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("task_queue")
    fake = kernel(broker)
    try:
        assert fake.stdin is not None and fake.stdout is not None
        assert fake.stdout.readline().startswith("worker ")
        os.killpg(fake.pid, signal.SIGINT)  # what "Interrupt the kernel" does
        fake.stdin.write("\n")
        fake.stdin.flush()
        assert fake.stdout.readline().split() == ["interrupted", "True", "alive", "True"]
        channel.basic_publish("", "task_queue", b"task.")
        fake.stdin.write("\n")
        fake.stdin.flush()
        assert fake.stdout.readline().split() == ["worked", "True"]
        assert fake.stdout.readline().split() == ["killed", str(-signal.SIGKILL)]
    finally:
        fake.kill()
        fake.wait(10)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_process_ends_when_its_notebook_dies(broker: BrokerHandle) -> None:
    """In a session of its own the worker escapes the kernel's group kill on restart: it
    watches its stdin, a pipe from the kernel, and leaves when the kernel is gone."""
    channel_of(broker).queue_declare("task_queue")
    fake = kernel(broker)
    assert fake.stdout is not None
    pid = int(fake.stdout.readline().split()[1])
    try:
        fake.kill()  # SIGKILL: the kernel cannot clean up
        fake.wait(10)
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


# --- 4. startup failures in one sentence ----------------------------------------------------------


def test_a_worker_that_cannot_start_says_why_in_one_sentence(broker: BrokerHandle) -> None:
    with pytest.raises(RuntimeError) as caught:
        WorkerProcess(broker, "task_queue", name="worker-A")
    message = str(caught.value)
    assert "404 NOT_FOUND - no queue 'task_queue'" in message
    assert "Traceback" not in message and "\n" not in message and len(message) < 300
    assert "worker-A" in message and "declare it first" in message.lower()


def test_a_worker_whose_broker_does_not_answer_says_so() -> None:
    nobody = types.SimpleNamespace(url="amqp://guest:guest@127.0.0.1:1/")  # nothing listens on port 1
    with pytest.raises(RuntimeError) as caught:
        WorkerProcess(nobody, "task_queue", name="worker-A")  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(
        "worker-A could not start: it could not connect to 127.0.0.1:1/ (is the broker closed?"
    )
    assert "Traceback" not in message and len(message) < 300


def test_a_subscriber_that_cannot_start_says_why_in_one_sentence(broker: BrokerHandle) -> None:
    with pytest.raises(RuntimeError) as caught:
        Subscriber(broker, lambda channel: channel.queue_bind("q", "nowhere"), name="disk")
    message = str(caught.value)
    assert "404 NOT_FOUND - no exchange 'nowhere'" in message
    assert "ChannelClosedByBroker" not in message and "\n" not in message


def test_a_consumer_on_a_missing_queue_names_the_cell_to_run(broker: BrokerHandle) -> None:
    with pytest.raises(RuntimeError) as caught:
        BackgroundConsumer(broker, "hello", name="receive.py")
    message = str(caught.value)
    assert message.startswith("receive.py could not start consuming 'hello': the broker answered 404")
    assert "ChannelClosedByBroker" not in message


# --- 5. waits that time out say why ---------------------------------------------------------------


def test_a_consumers_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("task_queue")
    with BackgroundConsumer(broker, "task_queue", name="worker-1") as consumer:
        channel.basic_publish("", "task_queue", b"one")
        assert consumer.wait_for(1)
        assert capsys.readouterr().out == ""  # a wait that succeeds says nothing
        assert not consumer.wait_for(3, timeout=0.3)
    said = capsys.readouterr().out
    assert "worker-1" in said and "3 messages" in said and "has 1" in said
    assert "task_queue: 0 ready, 0 unacked, 1 consumer" in said
    assert "cells above" in said


def test_a_wait_on_a_stopped_consumer_says_it_stopped(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("q")
    consumer = BackgroundConsumer(broker, "q", name="reader")
    consumer.stop()
    assert not consumer.wait_for(1, timeout=0.2)
    assert "reader has stopped" in capsys.readouterr().out


def test_a_worker_process_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    with WorkerProcess(broker, "task_queue", name="worker-A") as worker:
        assert not worker.wait_for_line("received Resize the photo..........", timeout=0.3)
    said = capsys.readouterr().out
    assert "worker-A" in said and "received Resize the photo.........." in said
    assert "task_queue: 0 ready" in said and "cells above" in said


def test_a_topology_wait_for_a_missing_queue_raises_what_to_run(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a KeyError from the lookup in the cell's next line: the wait itself says what is missing."""
    with pytest.raises(course.MissingOnBroker) as missing:
        course.wait_for_topology(broker, lambda t: t.queue("task_queue").messages == 1, timeout=0.3)
    said = str(missing.value)
    assert "no queue 'task_queue'" in said and "cells above" in said
    assert 't.queue("task_queue").messages == 1' in said  # the condition, as written
    assert isinstance(missing.value, LookupError) and "\n" not in said
    assert capsys.readouterr().out == ""  # said once, in the error


def test_a_topology_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    topology = course.wait_for_topology(broker, lambda t: t.queue("task_queue").messages == 1, timeout=0.3)
    assert topology.queue("task_queue").messages == 0  # the last snapshot, for the cell to show
    said = capsys.readouterr().out
    assert "never held" in said and "task_queue: 0 ready" in said and "cells above" in said


def test_the_courses_own_checks_wait_quietly(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """A check that waits in vain explains in its verdict, not with an extra line."""
    check = {"__name__": "rabbitsim.course._ch99_example", "course": course, "broker": broker}
    exec("course.wait_for_topology(broker, lambda t: t.queues == (), timeout=0.2)", check)
    assert capsys.readouterr().out == ""
    assert _consumers.explaining(depth=1) is True  # called from a test, as from a notebook


# --- 6. the same sentences in the Chinese edition ---------------------------------------------------


def test_in_chinese_a_handler_that_raises_is_reported(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("work")

    def fail(_channel: object, received: Received) -> None:
        raise ValueError(f"cannot handle {received.text}")

    with in_chinese(), BackgroundConsumer(broker, "work", name="rpc server", handler=fail) as consumer:
        channel.basic_publish("", "work", b"poison")
        assert consumer.wait_for(1)
    line = capsys.readouterr().err.strip()
    assert line.startswith(
        "rpc server：处理消息 b'poison' 时，handler 抛出了 ValueError: cannot handle poison"
    )
    assert line.endswith("已拒绝这条消息（不重新入队）。") and is_chinese(line)


def test_in_chinese_an_unknown_error_policy_is_refused(broker: BrokerHandle) -> None:
    with in_chinese(), pytest.raises(ValueError, match="请选择 'reject'（不重新入队）或 'ack'"):
        BackgroundConsumer(broker, "work", on_error="requeue")  # type: ignore[arg-type]


def test_in_chinese_a_consumer_started_again_says_it_replaced_the_old_one(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    with in_chinese():
        BackgroundConsumer(broker, "task_queue", name="worker-1")
        BackgroundConsumer(broker, "task_queue", name="worker-1")
    said = capsys.readouterr().out.strip()
    assert said == "worker-1：再次启动，所以先停止了之前启动的那个：队列 'task_queue' 上的消费者 'worker-1'。"


def test_in_chinese_stop_all_says_what_it_stopped(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    BackgroundConsumer(broker, "task_queue", name="reader")
    Subscriber(broker, lambda c: str(c.queue_declare("", exclusive=True).method.queue), name="sub")
    capsys.readouterr()
    with in_chinese():
        stop_all()
        stop_all()
    said = capsys.readouterr().out
    assert said == (
        "stop_all 停止了 2 个：队列 'task_queue' 上的消费者 'reader'、订阅者 'sub'。\n"
        "stop_all：没有正在运行的东西。\n"
    )


def test_in_chinese_a_worker_that_cannot_start_says_why(broker: BrokerHandle) -> None:
    """The worker process says why it cannot start in the kernel's language (it is given --language)."""
    with in_chinese(), pytest.raises(RuntimeError) as caught:
        WorkerProcess(broker, "task_queue", name="worker-A")
    message = str(caught.value)
    assert message.startswith("worker-A 无法启动：broker 的答复是 404 NOT_FOUND - no queue 'task_queue'")
    assert message.endswith("。请先声明它（或者运行上面声明它的那个单元格）。") and "\n" not in message


def test_in_chinese_a_worker_whose_broker_does_not_answer_says_so() -> None:
    nobody = types.SimpleNamespace(url="amqp://guest:guest@127.0.0.1:1/")
    with in_chinese(), pytest.raises(RuntimeError) as caught:
        WorkerProcess(nobody, "task_queue", name="worker-A")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "worker-A 无法启动：它连不上 127.0.0.1:1/（broker 是不是已经关闭了？请在第一个单元格里重新启动它）。"
    )


def test_in_chinese_a_subscriber_that_cannot_start_says_why(broker: BrokerHandle) -> None:
    with in_chinese():
        with pytest.raises(RuntimeError) as missing:
            Subscriber(broker, lambda channel: channel.queue_bind("q", "nowhere"), name="disk")
        with pytest.raises(RuntimeError) as consuming:
            Subscriber(broker, lambda channel: channel.basic_consume("q", print), name="disk")
    assert str(missing.value).startswith(
        "disk 无法设置它的队列：broker 的答复是 404 NOT_FOUND - no exchange 'nowhere'"
    )
    assert str(consuming.value).startswith(
        "disk 无法设置它的队列：setup 函数里不要调用 channel.basic_consume()"
    )


def test_in_chinese_a_consumer_on_a_missing_queue_names_the_cell_to_run(broker: BrokerHandle) -> None:
    with in_chinese(), pytest.raises(RuntimeError) as caught:
        BackgroundConsumer(broker, "hello", name="receive.py")
    message = str(caught.value)
    assert message.startswith(
        "receive.py 无法开始消费 'hello'：broker 的答复是 404 NOT_FOUND - no queue 'hello'"
    )
    assert message.endswith("。请先声明它（或者运行上面声明它的那个单元格）。")


def test_in_chinese_a_consumers_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = channel_of(broker)
    channel.queue_declare("task_queue")
    with in_chinese():
        with BackgroundConsumer(broker, "task_queue", name="worker-1") as consumer:
            channel.basic_publish("", "task_queue", b"one")
            assert consumer.wait_for(1)
            assert not consumer.wait_for(3, timeout=0.3)
        said = capsys.readouterr().out
        assert not consumer.wait_for(5, timeout=0.1)
    assert said.startswith("worker-1 等 3 条消息等了 0.3 秒，目前只收到 1 条。")
    assert "broker 显示：task_queue：0 条就绪，0 条未确认，1 个消费者。" in said
    assert "可能的原因：没有更多消息发布到这个队列：上面发布消息的单元格你运行了吗？" in said
    assert is_chinese(said)
    assert "worker-1 已经停止；请重新运行启动它的单元格。" in capsys.readouterr().out


def test_in_chinese_a_worker_process_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    with in_chinese(), WorkerProcess(broker, "task_queue", name="worker-A") as worker:
        assert not worker.wait_for_line("received Resize the photo..........", timeout=0.3)
    said = capsys.readouterr().out
    assert said.startswith("worker-A 没有在 0.3 秒内打印出 'received Resize the photo..........'")
    assert "；它最后打印的一行是 'ready'。broker 显示：task_queue：0 条就绪" in said


def test_in_chinese_a_topology_wait_for_a_missing_queue_raises_what_to_run(broker: BrokerHandle) -> None:
    with in_chinese(), pytest.raises(course.MissingOnBroker) as missing:
        course.wait_for_topology(broker, lambda t: t.queue("task_queue").messages == 1, timeout=0.3)
    said = str(missing.value)
    assert said.startswith(
        'wait_for_topology 等了 0.3 秒，`lambda t: t.queue("task_queue").messages == 1` 始终不成立。'
    )
    assert said.endswith("broker 的虚拟主机 '/' 里没有队列 'task_queue'：上面声明它的单元格你运行了吗？")


def test_in_chinese_a_topology_wait_that_times_out_explains(
    broker: BrokerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    channel_of(broker).queue_declare("task_queue")
    with in_chinese():
        course.wait_for_topology(broker, lambda t: t.queue("task_queue").messages == 1, timeout=0.3)
    said = capsys.readouterr().out
    assert "始终不成立。broker 显示：task_queue：0 条就绪，0 条未确认，0 个消费者。可能的原因：" in said
    assert is_chinese(said)
