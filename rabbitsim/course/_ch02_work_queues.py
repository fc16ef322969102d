"""Chapter 2, work queues: the checks of exercises 2.1 (fix the worker that forgets to ack), 2.2
(make a task survive a restart) and 2.3 (choose the prefetch that makes dispatch fair).

Each runs the learner's answer on the notebook's broker and reads the broker's own view: the
queue's `messages_unacknowledged` as the management API (or `rabbitmqctl list_queues`) shows it,
which worker got which task, the queue's `durable` flag and the message's `delivery_mode`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import BackendUnavailable, BrokerHandle
from rabbitsim.vocabulary import QueueInfo, Topology

from ._client import (
    RecordingChannel,
    cleanup,
    connect,
    connected,
    describe,
    drain,
    find_queue,
    wait_for_topology,
)
from ._consumers import BackgroundConsumer
from ._feedback import Both, Feedback, commented, exercise, plural, right, say, wrong

__all__ = ["QUEUE", "fair_dispatch", "fix_the_forgotten_ack", "survive_a_restart", "write_the_worker"]

QUEUE = "task_queue"  # exercise 2.2: the learner's code names it
# Exercises 2.1 and 2.3 name no queue, so they use queues of their own and leave the chapter's
# task_queue alone.
QUEUE_2_1 = "exercise-2.1-tasks"
QUEUE_2_3 = "exercise-2.3-tasks"
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


def _publish_tasks(broker: BrokerHandle, queue: str, tasks: list[bytes]) -> None:
    with connect(broker, "new_task.py") as connection:
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        for task in tasks:
            channel.basic_publish(exchange="", routing_key=queue, body=task, properties=PERSISTENT)


# --- exercise 2.1 -----------------------------------------------------------------------------------

TASKS_2_1 = [b"task 1", b"task 2", b"task 3"]
REDELIVERY_LIMIT = 12  # a callback that requeues would otherwise get its tasks back for ever
CONSUME_SECONDS = 5.0


@dataclass
class _Worked:
    delivered: list[tuple[int, bytes, bool]] = field(default_factory=list)  # tag, body, redelivered
    acked: set[int] = field(default_factory=set)
    requeued: set[int] = field(default_factory=set)
    discarded: set[int] = field(default_factory=set)
    error: BaseException | None = None
    channel_closed: BaseException | None = None
    #: a channel of the notebook's that the callback used by name, which RabbitMQ closed meanwhile
    other_closed: tuple[str, BaseException | None] | None = None


def _outside_channels(callback: Callable[..., object]) -> dict[str, BlockingChannel]:
    """The open pika channels the callback reaches by name (the notebook's `channel`, a global or
    a closure) rather than through its `ch` argument."""
    code = getattr(callback, "__code__", None)
    if code is None:
        return {}
    reached = {name: getattr(callback, "__globals__", {}).get(name) for name in code.co_names}
    for name, cell in zip(code.co_freevars, getattr(callback, "__closure__", None) or (), strict=False):
        with contextlib.suppress(ValueError):  # a closure variable not assigned yet
            reached[name] = cell.cell_contents
    return {
        name: value for name, value in reached.items() if isinstance(value, BlockingChannel) and value.is_open
    }


def _closed_meanwhile(channels: dict[str, BlockingChannel]) -> tuple[str, BaseException | None] | None:
    """The first of `channels` that RabbitMQ closed (say, for an ack of a tag it never delivered
    there), with the broker's reason: read now, so the learner hears it from the check rather than
    as a pika traceback in a later cell."""
    for name, channel in channels.items():
        with contextlib.suppress(Exception):  # its connection may be gone too: then it is closed
            channel.connection.process_data_events(time_limit=0)
        if channel.is_closed:
            return name, getattr(channel, "_closing_reason", None)  # pika keeps the broker's Channel.Close
    return None


def _settle(worked: _Worked, call_name: str, arguments: dict[str, Any]) -> None:
    """Note which delivery tags a basic_ack / basic_nack / basic_reject call settles."""
    tag = int(arguments.get("delivery_tag", 0) or 0)
    outstanding = {t for t, _, _ in worked.delivered} - worked.acked - worked.requeued - worked.discarded
    tags = {t for t in outstanding if t <= tag or tag == 0} if arguments.get("multiple") else {tag}
    if call_name == "basic_ack":
        worked.acked |= tags
    elif arguments.get("requeue", True):
        worked.requeued |= tags
    else:
        worked.discarded |= tags


def _run_worker(broker: BrokerHandle, callback: Callable[..., object]) -> tuple[_Worked, Topology, int]:
    """Consume a task queue of its own with `callback` as worker.py does (manual acks), then read the
    broker's counts while the worker is still connected; returns them with how many tasks were
    ready again once the worker had gone."""
    worked = _Worked()
    outside = _outside_channels(callback)
    with connect(broker, "worker.py (exercise 2.1)") as connection:
        channel = connection.channel()

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            worked.delivered.append((method.delivery_tag, body, method.redelivered))
            recorder = RecordingChannel(ch)
            try:
                callback(recorder, method, properties, body)
            finally:
                for call in recorder.calls:
                    if call.method in ("basic_ack", "basic_nack", "basic_reject"):
                        _settle(worked, call.method, call.arguments)

        channel.basic_consume(queue=QUEUE_2_1, on_message_callback=on_message, auto_ack=False)
        deadline = time.monotonic() + CONSUME_SECONDS
        try:
            while time.monotonic() < deadline and len(worked.delivered) < REDELIVERY_LIMIT:
                connection.process_data_events(time_limit=0.05)
                done = {body for _, body, _ in worked.delivered}
                if done >= set(TASKS_2_1) and not worked.requeued:
                    break
            if channel.is_open:
                # a round trip: the broker has read every ack, and if one of them closed the
                # channel (406 unknown delivery tag), pika raises it here
                channel.basic_qos(prefetch_count=0)
        except pika.exceptions.ChannelClosedByBroker as error:
            worked.channel_closed = error
        except Exception as error:  # the learner's callback: report it, never raise it
            worked.error = error
        worked.other_closed = _closed_meanwhile(outside)
        settled = worked.requeued or worked.discarded or worked.error is not None
        if worked.channel_closed is None and channel.is_open and not settled:
            # what the broker must show once its statistics have caught up (real ones lag)
            unacked = len({t for t, _, _ in worked.delivered} - worked.acked)
            ready = len(TASKS_2_1) - len(worked.delivered)

            def caught_up(topology: Topology) -> bool:
                queue = find_queue(topology, QUEUE_2_1)
                return queue is not None and (queue.messages_ready, queue.messages_unacknowledged) == (
                    ready,
                    unacked,
                )

            topology = wait_for_topology(broker, caught_up, timeout=8)
        else:
            topology = broker.topology()
    with connect(broker, "exercise 2.1 (after)") as connection:
        ready_after = connection.channel().queue_declare(queue=QUEUE_2_1, passive=True).method.message_count
    return worked, topology, ready_after


def _tasks(bodies: list[bytes]) -> str:
    return say(", ", "、").join(body.decode(errors="replace") for body in bodies) or say("none", "无")


@exercise(
    "2.1",
    Both("Fix the worker that forgets to ack", "修好忘了确认的 worker"),
    solution=commented(
        """def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()}")
    time.sleep(body.count(b"."))
    print(" [x] Done")
    ch.basic_ack(delivery_tag=method.delivery_tag)   # the work is done: RabbitMQ may forget it""",
        {
            "the work is done: RabbitMQ may forget it": "活儿干完了：RabbitMQ 可以删掉这条消息了",
        },
    ),
    explanation=Both(
        "With manual acknowledgements (auto_ack=False, pika's default) RabbitMQ keeps every "
        "delivered message as 'unacked' until the worker says it is done. Ack once the work is "
        "finished, with the delivery tag of the message you were given.",
        "使用手动消息确认（auto_ack=False，pika 的默认值）时，RabbitMQ 会把每条已投递的消息"
        "记为 'unacked'，一直留着，直到 worker 说它处理完了。工作做完之后再确认，"
        "用的是你收到的那条消息的投递标签。",
    ),
    hints=(
        Both(
            "The callback gets the channel as `ch` and the delivery as `method`: what does "
            "method.delivery_tag identify?",
            "回调函数通过 `ch` 拿到信道，通过 `method` 拿到这次投递：method.delivery_tag 标识的是什么？",
        ),
        Both(
            "The study notes: ch.basic_ack(delivery_tag = method.delivery_tag) tells RabbitMQ the task "
            "is done.",
            "学习笔记里写着：ch.basic_ack(delivery_tag = method.delivery_tag) 告诉 RabbitMQ 任务已经完成。",
        ),
    ),
)
def fix_the_forgotten_ack(broker: BrokerHandle, callback: Callable[..., object]) -> Feedback:
    """Run `callback(ch, method, properties, body)` as worker.py's callback on three tasks, then
    read that queue's ready and unacked counts from the broker and explain them."""
    cleanup(broker, queues=[QUEUE_2_1])
    try:
        _publish_tasks(broker, QUEUE_2_1, TASKS_2_1)
        worked, topology, ready_after = _run_worker(broker, callback)
    finally:
        cleanup(broker, queues=[QUEUE_2_1])
    queue = find_queue(topology, QUEUE_2_1)
    ready, unacked = (queue.messages_ready, queue.messages_unacknowledged) if queue else (0, 0)
    counts = f"{QUEUE_2_1}  messages_ready={ready}  messages_unacknowledged={unacked}"
    if worked.other_closed is not None:
        name, closing = worked.other_closed
        reply = describe(closing) if closing is not None else None
        return wrong(
            say(
                f"Your callback used `{name}`, not `ch`, the channel that delivered the message",
                f"你的回调函数用的是 `{name}`，而不是投递这条消息的信道 `ch`",
            ),
            say(
                f"RabbitMQ closed `{name}`{f' with {reply}' if reply else ''}: a delivery tag means "
                "something only on the channel that delivered it, and the worker's own channel still "
                "holds every task unacked.",
                f"RabbitMQ 关闭了 `{name}`{f'（{reply}）' if reply else ''}：投递标签只在投递这条消息的"
                "信道上才有意义，而 worker 自己的信道仍然扣着所有未确认的任务。",
            ),
            say(
                "Ack with ch.basic_ack(delivery_tag=method.delivery_tag). To use "
                f"`{name}` again in this notebook, open a new one: {name} = connection.channel().",
                "请用 ch.basic_ack(delivery_tag=method.delivery_tag) 确认。要在这个 notebook 里继续使用 "
                f"`{name}`，先重新打开一个：{name} = connection.channel()。",
            ),
        )
    if worked.channel_closed is not None:
        text = describe(worked.channel_closed)
        reason = (
            say(
                "Delivery tags are numbers the broker gives each delivery on a channel (1, 2, 3 ...): "
                "ack exactly method.delivery_tag, once.",
                "投递标签是消息代理在一个信道上给每次投递编的号（1、2、3……）："
                "确认时只用 method.delivery_tag，而且只确认一次。",
            )
            if "delivery tag" in text
            else say("The channel can no longer ack anything.", "这个信道再也无法确认任何消息了。")
        )
        return wrong(
            say("RabbitMQ closed your worker's channel", "RabbitMQ 关闭了你的 worker 的信道"),
            say(f"It answered {text}.", f"它的回应是：{text}。"),
            reason,
            say(
                f"Every unacked task went back to the queue: {ready_after} ready again, to be done twice.",
                f"所有未确认的任务都回到了队列：{ready_after} 个重新变为就绪，每个都要再做一遍。",
            ),
        )
    if worked.error is not None:
        return wrong(
            say("Your callback raised an exception", "你的回调函数抛出了异常"),
            describe(worked.error),
            say(
                "In worker.py this would end start_consuming(); its unacked tasks would go back to the "
                "queue.",
                "在 worker.py 里，这会让 start_consuming() 结束；它未确认的任务会回到队列。",
            ),
        )
    if len(worked.delivered) >= REDELIVERY_LIMIT or worked.requeued:
        return wrong(
            say(
                "Your worker sends its tasks back instead of finishing them",
                "你的 worker 没有完成任务，而是把它们退了回去",
            ),
            say(
                f"It received {len(worked.delivered)} deliveries of {len(TASKS_2_1)} tasks: basic_nack or "
                "basic_reject with requeue=True puts a task back in the queue, and RabbitMQ hands it out "
                "again at once (redelivered=True), for ever.",
                f"{len(TASKS_2_1)} 个任务，它一共收到了 {len(worked.delivered)} 次投递：带 requeue=True 的 "
                "basic_nack 或 basic_reject 会把任务放回队列，RabbitMQ 又马上把它发出去"
                "（redelivered=True），没完没了。",
            ),
            say(
                "A worker that did the work acknowledges it: ch.basic_ack(delivery_tag=method.delivery_tag).",
                "worker 做完了工作，就要确认：ch.basic_ack(delivery_tag=method.delivery_tag)。",
            ),
        )
    if worked.discarded:
        thrown = [body for tag, body, _ in worked.delivered if tag in worked.discarded]
        return wrong(
            say("Your worker throws tasks away", "你的 worker 把任务扔掉了"),
            say(
                f"basic_reject / basic_nack with requeue=False discarded {_tasks(thrown)}: RabbitMQ deleted "
                "them (or dead-letters them, if the queue has a dead-letter exchange). Nobody did the work.",
                f"带 requeue=False 的 basic_reject / basic_nack 丢弃了 {_tasks(thrown)}：RabbitMQ 把它们"
                "删除了（如果队列设置了死信交换机，就把它们转为死信）。这些工作谁也没做。",
            ),
            say(
                "Acknowledge with ch.basic_ack(delivery_tag=method.delivery_tag) once the work is done.",
                "工作做完之后，用 ch.basic_ack(delivery_tag=method.delivery_tag) 确认。",
            ),
        )
    received = [body for _, body, _ in worked.delivered]
    if unacked or not worked.acked:
        never = [body for tag, body, _ in worked.delivered if tag not in worked.acked]
        return wrong(
            say(
                f"Your worker never acknowledged {len(never)} of its {plural(len(received), 'task')}: "
                f"messages_unacknowledged = {unacked}",
                f"你的 worker 收到 {plural(len(received), 'task', '个任务')}，"
                f"其中 {len(never)} 个一直没有确认：messages_unacknowledged = {unacked}",
            ),
            say(
                f"It received {_tasks(received)} and did the work, but RabbitMQ is still holding "
                f"{_tasks(never)} for it. rabbitmqctl list_queues name messages_ready "
                f"messages_unacknowledged would show: {counts}.",
                f"它收到了 {_tasks(received)}，活儿也干了，但 RabbitMQ 仍在替它扣着 {_tasks(never)}。"
                f"rabbitmqctl list_queues name messages_ready messages_unacknowledged 会显示：{counts}。",
            ),
            say(
                "An unacked message stays in RabbitMQ's memory until the worker's channel closes or the "
                "consumer timeout (30 minutes by default; on RabbitMQ 4.3 quorum queues only) takes it "
                "back: a long-running worker with this bug keeps the number growing (the study notes call "
                "this 'memory leak' fatal), and every task it held is done again.",
                "未确认的消息会一直留在 RabbitMQ 的内存里，直到 worker 的信道关闭，或者消费者超时"
                "（默认 30 分钟；在 RabbitMQ 4.3 上只对仲裁队列生效）把它收回：带着这个 bug 长期运行的 "
                "worker 会让这个数字越涨越高（学习笔记说这种“内存泄漏”是致命的），"
                "而它扣着的每个任务都会被再做一遍。",
            ),
            say(
                f"When the check closed the worker's connection, RabbitMQ put the unacked tasks back in "
                f"the queue ({ready_after} ready again), to be delivered again with redelivered=True: "
                "every task would be done twice.",
                f"检查程序关闭 worker 的连接后，RabbitMQ 把未确认的任务放回了队列（{ready_after} 个"
                "重新就绪），它们会带着 redelivered=True 被重新投递：每个任务都要做两遍。",
            ),
            say(
                "Add ch.basic_ack(delivery_tag=method.delivery_tag) as the callback's last line.",
                "在回调函数的最后一行加上 ch.basic_ack(delivery_tag=method.delivery_tag)。",
            ),
        )
    if ready or ready_after:
        return wrong(
            say(f"Some tasks were never delivered: {counts}", f"有些任务一直没有投递出去：{counts}"),
            say(f"Your worker received {_tasks(received)}.", f"你的 worker 收到了 {_tasks(received)}。"),
        )
    return right(
        say(
            f"Every task acknowledged: messages_unacknowledged = {unacked}",
            f"每个任务都已确认：messages_unacknowledged = {unacked}",
        ),
        say(
            f"Your worker received {_tasks(received)} and acked each once it was done: {counts}.",
            f"你的 worker 收到了 {_tasks(received)}，每个都在做完后确认了：{counts}。",
        ),
        say(
            "RabbitMQ deleted each task at its ack. Had the worker died before acking one, that one "
            "would have gone to another worker.",
            "RabbitMQ 每收到一个确认，就删除对应的任务。假如 worker 在确认某个任务之前挂了，"
            "这个任务就会转给另一个 worker。",
        ),
    )


# --- exercise 2.2 -----------------------------------------------------------------------------------

TASK_2_2 = b"resize photo.jpg"


@dataclass
class _Restarted:
    """What the learner's send_task did, what the broker held before the restart, and what came back."""

    channel: RecordingChannel
    error: BaseException | None = None
    queue: QueueInfo | None = None  # task_queue before the restart (its flags)
    held: int = 0  # messages in task_queue before the restart
    restarted: str | None = None  # None: restarted; else why it could not be
    back: bool = False  # task_queue exists after the restart
    bodies: list[str] = field(default_factory=list)  # what it held after the restart

    def delivery_modes(self) -> list[int | None]:
        """The delivery_mode of each message send_task published."""
        modes: list[int | None] = []
        for _, call in self.channel.of("basic_publish"):
            properties = call.get("properties")
            modes.append(getattr(properties, "delivery_mode", None))
        return modes


def _held(broker: BrokerHandle) -> int | None:
    """How many messages task_queue holds (None: there is no task_queue), from a fresh connection."""
    with connected(broker, "exercise 2.2 (check)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _send_and_restart(broker: BrokerHandle, send_task: Callable[[Any, bytes], object]) -> _Restarted:
    cleanup(broker, queues=[QUEUE])
    try:
        with connected(broker, "new_task.py (exercise 2.2)") as connection:
            run = _Restarted(RecordingChannel(connection.channel()))
            try:
                send_task(run.channel, TASK_2_2)
            except Exception as error:  # the learner's code: report it, never raise it
                run.error = error
        held = _held(broker)
        if held is None or held == 0:
            return run  # nothing reached task_queue: no restart needed to say so
        run.held = held
        # the queue's flags: a real broker's management API lists a new queue within moments
        topology = wait_for_topology(broker, lambda t: find_queue(t, QUEUE) is not None, timeout=5)
        run.queue = find_queue(topology, QUEUE)
        try:
            broker.restart()
        except BackendUnavailable as error:
            run.restarted = str(error)
            return run
        with connected(broker, "exercise 2.2 (after the restart)") as connection:
            channel = connection.channel()
            try:
                channel.queue_declare(QUEUE, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                return run  # 404: the queue did not come back
            run.back = True
            run.bodies = drain(channel, QUEUE)
        return run
    finally:
        cleanup(broker, queues=[QUEUE])


CAVEAT = Both(
    "'Persistent' is not yet 'on disk' at the moment basic_publish returns: had RabbitMQ crashed "
    "just then, before writing the message, it would be gone: publisher confirms (chapter 7) tell "
    "the producer when RabbitMQ has taken responsibility for it.",
    "basic_publish 返回的那一刻，“持久化”还不等于“已写入磁盘”：假如 RabbitMQ 恰好在这时、"
    "在写下这条消息之前崩溃，消息就没了。发布确认（第 7 章）会告诉生产者，"
    "RabbitMQ 什么时候接手了这条消息。",
)


def _reasons(run: _Restarted, modes: list[int | None]) -> list[str]:
    """Why the task did not come back, from the flags the restart depends on."""
    reasons: list[str] = []
    quorum = run.queue is not None and run.queue.type == "quorum"
    if run.queue is not None and not run.queue.durable:
        reasons.append(
            say(
                "task_queue was not durable: at the restart RabbitMQ forgot the queue, and with it every "
                "message inside, persistent or not. Declare it with durable=True (in every program "
                "that declares it: a second declare with another durable flag is refused with 406).",
                "task_queue 不是持久化的：重启时 RabbitMQ 忘掉了这个队列，连同里面的每条消息，"
                "不管消息是不是持久化的。声明时要加上 durable=True（每个声明它的程序都要这样写："
                "用不同的 durable 标志再声明一次，会被 406 拒绝）。",
            )
        )
    transient = [mode for mode in modes if mode != pika.DeliveryMode.Persistent.value]
    if transient and not quorum:
        mode = transient[0]
        durable = bool(run.queue and run.queue.durable)
        reasons.append(
            say(
                f"The message was transient (delivery_mode={mode}): it lived in memory only"
                + (", so the durable queue came back, but empty. " if durable else ". ")
                + "Publish it with "
                "properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent), which is 2.",
                f"这条消息是非持久化的（delivery_mode={mode}）：它只存在于内存里"
                + ("，所以持久化的队列回来了，却是空的。" if durable else "。")
                + "发布时要带上 properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)，"
                "也就是 2。",
            )
        )
    return reasons


@exercise(
    "2.2",
    Both("Make a task survive a broker restart", "让任务挺过消息代理的重启"),
    solution=commented(
        """def send_task(channel, message):
    channel.queue_declare(queue="task_queue", durable=True)           # the queue survives a restart
    channel.basic_publish(
        exchange="",
        routing_key="task_queue",
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),  # = 2
    )""",
        {
            "the queue survives a restart": "队列能挺过重启",
            "= 2": "= 2",
        },
    ),
    explanation=Both(
        "Two things, both needed: a durable queue (`durable=True`, declared so by every program "
        "that declares it) and persistent messages (`delivery_mode=2`). A durable queue with "
        "transient messages comes back empty; a persistent message in a transient queue is lost "
        "with its queue.",
        "两样缺一不可：持久化的队列（`durable=True`，每个声明它的程序都要这样声明）和持久化的消息"
        "（`delivery_mode=2`）。持久化的队列里装着非持久化的消息，重启后回来是空的；"
        "非持久化的队列里即使是持久化的消息，也会随队列一起丢失。",
    ),
    hints=(
        Both(
            "One flag belongs to queue_declare, the other to the message's properties.",
            "一个标志属于 queue_declare，另一个属于消息的 properties。",
        ),
        Both(
            "pika.BasicProperties(delivery_mode=...): the study notes say which number makes a message "
            "persistent.",
            "pika.BasicProperties(delivery_mode=...)：学习笔记里写了哪个数字能让消息持久化。",
        ),
    ),
)
def survive_a_restart(broker: BrokerHandle, send_task: Callable[[Any, bytes], object]) -> Feedback:
    """Run `send_task(channel, message)` on a broker without task_queue, restart the broker
    (`broker.restart()`, as `rabbitmqctl stop` and a start), and look for the task."""
    run = _send_and_restart(broker, send_task)
    raised = (
        [say(f"Your function raised {describe(run.error)}.", f"你的函数抛出了 {describe(run.error)}。")]
        if run.error is not None
        else []
    )
    modes = run.delivery_modes()
    if run.held == 0:
        where = [
            (call.get("routing_key"), call.get("exchange")) for _, call in run.channel.of("basic_publish")
        ]
        return wrong(
            say("The task never reached task_queue", "任务根本没有到达 task_queue"),
            say(
                "Nothing to survive a restart (the check did not restart the broker): declare task_queue "
                "and publish to it through the default exchange (exchange='', routing_key='task_queue').",
                "没有东西需要挺过重启（检查程序没有重启消息代理）：先声明 task_queue，"
                "再通过默认交换机发布到它（exchange=''，routing_key='task_queue'）。",
            ),
            *(
                say(
                    f"You published with routing_key={key!r} on exchange {exchange!r}.",
                    f"你发布时用的是交换机 {exchange!r}，routing_key={key!r}。",
                )
                for key, exchange in where
            ),
            *raised,
        )
    if run.restarted is not None:
        return _judged_without_restart(run, modes, raised)
    reasons = _reasons(run, modes)
    if not run.back or TASK_2_2.decode() not in run.bodies:
        seen = (
            say(
                "The check restarted RabbitMQ: task_queue did not come back (404 NOT_FOUND).",
                "检查程序重启了 RabbitMQ：task_queue 没有回来（404 NOT_FOUND）。",
            )
            if not run.back
            else say(
                "The check restarted RabbitMQ: task_queue came back, empty.",
                "检查程序重启了 RabbitMQ：task_queue 回来了，但是空的。",
            )
        )
        return wrong(
            say("The broker restarted and the task was gone", "消息代理重启之后，任务不见了"),
            seen,
            *reasons,
            *raised,
        )
    quorum = run.queue is not None and run.queue.type == "quorum"
    mode = modes[0] if modes else None
    kept = (
        say(
            "task_queue is a durable quorum queue: it keeps every message on disk, whatever its "
            "delivery_mode.",
            "task_queue 是持久化的仲裁队列：不管 delivery_mode 是多少，它都把每条消息存在磁盘上。",
        )
        if quorum
        else say(
            f"task_queue is durable and the message persistent (delivery_mode={mode}).",
            f"task_queue 是持久化的，消息也是持久化的（delivery_mode={mode}）。",
        )
    )
    return right(
        say("The task survived a broker restart", "任务挺过了消息代理的重启"),
        say(
            f"The check restarted RabbitMQ and found {TASK_2_2.decode()!r} in task_queue again.",
            f"检查程序重启了 RabbitMQ，又在 task_queue 里找到了 {TASK_2_2.decode()!r}。",
        ),
        kept,
        str(CAVEAT),
    )


def _judged_without_restart(run: _Restarted, modes: list[int | None], raised: list[str]) -> Feedback:
    """On a broker the check may not restart: judge by the two flags a restart depends on."""
    why = say(
        "This broker could not be restarted, so the check read the flags a restart depends on "
        f"({run.restarted})",
        f"这个消息代理无法重启，所以检查程序改为读取决定任务能否挺过重启的那两个标志（{run.restarted}）",
    )
    reasons = _reasons(run, modes)
    if reasons:
        return wrong(
            say("After a restart, this task would be gone", "消息代理一重启，这个任务就会丢失"),
            *reasons,
            *raised,
            why,
        )
    return right(
        say("This task would survive a broker restart", "这个任务能挺过消息代理的重启"), why, str(CAVEAT)
    )


# --- exercise 2.3 -----------------------------------------------------------------------------------

TASKS_2_3 = [f"task {n}".encode() for n in range(1, 9)]
SLOW_SECONDS = 0.15  # per task, on the slow worker; the fast one takes no time at all
PREFETCH_MAX = 65535  # basic.qos prefetch_count is a 16-bit number


@dataclass(frozen=True, slots=True)
class _Dispatch:
    slow: list[bytes]
    fast: list[bytes]
    seconds: float
    error: str | None = None


def _dispatch(broker: BrokerHandle, prefetch: int | None) -> _Dispatch:
    cleanup(broker, queues=[QUEUE_2_3])
    try:
        with connect(broker, "new_task.py (exercise 2.3)") as connection:
            channel = connection.channel()
            channel.queue_declare(queue=QUEUE_2_3, durable=True)
            slow = BackgroundConsumer(
                broker, QUEUE_2_3, name="slow worker", prefetch=prefetch, work_seconds=lambda _: SLOW_SECONDS
            )
            fast = BackgroundConsumer(broker, QUEUE_2_3, name="fast worker", prefetch=prefetch)
            try:
                started = time.monotonic()
                for task in TASKS_2_3:
                    channel.basic_publish(
                        exchange="", routing_key=QUEUE_2_3, body=task, properties=PERSISTENT
                    )
                deadline = started + 10
                while (
                    len(slow.received) + len(fast.received) < len(TASKS_2_3) and time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                seconds = time.monotonic() - started
            finally:
                slow.stop()
                fast.stop()
            error = slow.error or fast.error
            return _Dispatch(slow.bodies, fast.bodies, seconds, describe(error) if error else None)
    finally:
        cleanup(broker, queues=[QUEUE_2_3])


def _prefetch_problem(prefetch: Any) -> str | None:
    if prefetch is None:
        return None
    if isinstance(prefetch, bool) or not isinstance(prefetch, int):
        return say(
            f"prefetch must be a whole number (or None for no basic_qos at all), not {prefetch!r}.",
            f"prefetch 必须是整数（None 表示根本不调用 basic_qos），不能是 {prefetch!r}。",
        )
    if not 0 <= prefetch <= PREFETCH_MAX:
        return say(
            f"prefetch_count is an unsigned 16-bit number, 0 to {PREFETCH_MAX}: {prefetch} cannot be "
            "sent (pika refuses it before RabbitMQ sees it).",
            f"prefetch_count 是 16 位无符号整数，取值范围是 0 到 {PREFETCH_MAX}：{prefetch} 根本发不出去"
            "（还没到 RabbitMQ，pika 就先拒绝了）。",
        )
    return None


@exercise(
    "2.3",
    Both("Fair dispatch: let the fast worker take more", "公平分发：让快的 worker 多干一些"),
    solution=commented(
        """PREFETCH = 1   # each worker: channel.basic_qos(prefetch_count=1)
course.EXERCISES["2.3"](broker, prefetch=PREFETCH)""",
        {
            "each worker: channel.basic_qos(prefetch_count=1)": (
                "每个 worker 都调用 channel.basic_qos(prefetch_count=1)"
            ),
        },
    ),
    explanation=Both(
        "With `basic_qos(prefetch_count=1)` a worker holds at most one unacknowledged task: "
        "RabbitMQ sends it the next one only after its ack, so whoever is free takes the next "
        "task. Without a limit (or with 0, which means no limit) RabbitMQ deals the tasks out in "
        "turn the moment they arrive.",
        "设置 `basic_qos(prefetch_count=1)` 后，一个 worker 最多只持有一个未确认的任务："
        "RabbitMQ 要等它确认之后才发下一个，所以谁空闲，谁就接下一个任务。不设上限时"
        "（设为 0 也一样，0 表示不设上限），RabbitMQ 会在任务一到达时就轮流把它们分发出去。",
    ),
    hints=(
        Both(
            "How many unacknowledged tasks should a worker be allowed to hold at once?",
            "一个 worker 同时最多应该持有几个未确认的任务？",
        ),
        Both(
            "prefetch_count=0 does not mean 'none': it means 'no limit'.",
            "prefetch_count=0 的意思不是“一个都不要”，而是“不设上限”。",
        ),
    ),
)
def fair_dispatch(broker: BrokerHandle, prefetch: Any = None) -> Feedback:
    """Two workers consume a task queue of the check's own, each with
    `channel.basic_qos(prefetch_count=prefetch)` (None: no basic_qos): one takes 0.15 s a task,
    the other no time. Eight tasks arrive; the check counts who did what and explains."""
    problem = _prefetch_problem(prefetch)
    if problem is not None:
        return wrong(say("That prefetch cannot be set", "这个 prefetch 值设置不了"), problem)
    run = _dispatch(broker, prefetch)
    if run.error is not None:
        return wrong(say("A worker failed", "有一个 worker 出错了"), run.error)
    slow, fast = len(run.slow), len(run.fast)
    split = say(
        f"slow worker: {plural(slow, 'task')} ({_tasks(run.slow)}); fast worker: "
        f"{plural(fast, 'task')} ({_tasks(run.fast)}); all done after {run.seconds:.2f} s.",
        f"慢 worker：{plural(slow, 'task', '个任务')}（{_tasks(run.slow)}）；快 worker："
        f"{plural(fast, 'task', '个任务')}（{_tasks(run.fast)}）；全部做完用了 {run.seconds:.2f} 秒。",
    )
    busy = say(
        f"The slow worker was busy for {slow * SLOW_SECONDS:.2f} s",
        f"慢 worker 忙了 {slow * SLOW_SECONDS:.2f} 秒",
    )
    if slow + fast < len(TASKS_2_3):
        return wrong(say("Not every task was done in time", "有些任务没能按时做完"), split)
    if fast > slow:
        extra = (
            []
            if prefetch == 1
            else [
                say(
                    f"prefetch {prefetch} works here; 1 is the tutorial's choice: a busy worker then "
                    "never sits on a task another worker could start. A larger prefetch keeps a fast "
                    "worker supplied over a slow network, at the cost of tasks waiting behind a slow one.",
                    f"prefetch {prefetch} 在这里也行；教程选的是 1：这样，忙碌的 worker 绝不会扣着"
                    "别的 worker 本可以开始处理的任务。预取值大一些，能让快 worker 在慢速网络上"
                    "也不断有活干，代价是有些任务要排在慢 worker 后面等着。",
                )
            ]
        )
        return right(
            say(
                f"The fast worker did {fast} of the {len(TASKS_2_3)} tasks",
                f"{len(TASKS_2_3)} 个任务里，快 worker 做了 {fast} 个",
            ),
            split,
            say(
                f"With prefetch_count={prefetch}, RabbitMQ sends a worker its next task only when it "
                f"holds fewer than {prefetch} unacknowledged ones; the fast worker acks at once, so it "
                "keeps getting the next task while the slow one is still working.",
                f"设置 prefetch_count={prefetch} 后，只有当 worker 手里的未确认任务少于 {prefetch} 个时，"
                "RabbitMQ 才发给它下一个任务；快 worker 一收到就确认，所以慢 worker 还在干活时，"
                "它一直能拿到下一个任务。",
            ),
            *extra,
        )
    if prefetch in (None, 0):
        how = (
            say("no basic_qos at all", "根本不调用 basic_qos 时")
            if prefetch is None
            else say("prefetch_count=0, which means no limit", "prefetch_count=0（也就是不设上限）时")
        )
        return wrong(
            say(
                "That is round-robin: both workers got the same share",
                "这是轮询：两个 worker 分到的任务一样多",
            ),
            split,
            say(
                f"With {how}, RabbitMQ hands task n to worker n mod 2 the moment it arrives. It does not "
                "look at how many unacknowledged tasks a worker holds; it 'blindly dispatches every n-th "
                f"message to the n-th consumer'. {busy}; the fast one finished at once and sat idle.",
                f"{how}，第 n 个任务一到达，RabbitMQ 就把它交给第 n mod 2 个 worker。它不看 worker "
                "手里有多少未确认的任务，而是“盲目地把每第 n 条消息发给第 n 个消费者”。"
                f"{busy}；快 worker 一下子就做完了，然后一直闲着。",
            ),
            say(
                "Limit how many unacknowledged tasks each worker may hold.",
                "限制每个 worker 同时能持有的未确认任务数。",
            ),
        )
    return wrong(
        say(
            f"prefetch {prefetch} does not limit anything here: still round-robin",
            f"prefetch {prefetch} 在这里什么也没限制住：仍然是轮询",
        ),
        split,
        say(
            f"Each worker may hold {prefetch} unacknowledged tasks, so the eight tasks are dealt out in "
            f"turn before the slow worker acks any: {busy}. A smaller limit makes a busy worker wait.",
            f"每个 worker 可以持有 {prefetch} 个未确认的任务，所以慢 worker 还没确认任何一个，"
            f"八个任务就已经轮流分完了：{busy}。把上限调小，忙碌的 worker 就得先做完手头的任务，"
            "才能拿到新的。",
        ),
    )


# --- exercise 2.4 -----------------------------------------------------------------------------------

TASKS_2_4 = [b"First task.", b"Second task..", b"Third task.", b"Fourth task.."]
COPIES = 2  # worker.py runs in two terminals
SUBSCRIBE_SECONDS = 3.0  # for both copies to be consuming, as the broker counts them
WORK_SECONDS = 10.0  # for every task to be acknowledged
EARLY_ACK_SECONDS = 0.03  # a callback still working this long after its ack acked before the work
IDLE_SECONDS = 1.0  # no delivery, no ack and no callback running for this long: nothing more will come


@dataclass
class _Delivery:
    tag: int
    body: bytes
    started: float
    ended: float | None = None


@dataclass
class _Copy:
    """One running copy of the learner's worker(channel): what it asked of its channel, when."""

    number: int
    qos: list[tuple[int, bool]] = field(default_factory=list)  # (prefetch_count, global_qos)
    qos_before_consume: bool = False
    consumes: list[dict[str, Any]] = field(default_factory=list)  # basic_consume's arguments
    deliveries: list[_Delivery] = field(default_factory=list)
    acks: list[tuple[float, int, bool]] = field(default_factory=list)  # (when, tag, multiple)
    settled_otherwise: list[str] = field(default_factory=list)  # nack / reject calls
    error: BaseException | None = None
    returned: bool = False  # worker(channel) returned (start_consuming, if called, has ended)
    ended: bool = False

    def acked(self, tag: int) -> float | None:
        """When the ack that covers `tag` was sent, if one was."""
        for when, acked, multiple in self.acks:
            if acked == tag or (multiple and (acked == 0 or tag <= acked)):
                return when
        return None

    @property
    def bodies(self) -> list[bytes]:
        return [delivery.body for delivery in self.deliveries]


class _WorkerChannel:
    """The channel handed to the learner's `worker(channel)`: the real pika channel, noting its
    basic_qos, basic_consume and acks (with their times), and handing the learner's callback
    this same channel as `ch`, so that `ch.basic_ack(...)` is noted too."""

    def __init__(self, channel: Any, copy: _Copy) -> None:
        self._channel, self._copy = channel, copy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False) -> None:
        self._channel.basic_qos(
            prefetch_size=prefetch_size, prefetch_count=prefetch_count, global_qos=global_qos
        )
        self._copy.qos.append((prefetch_count, global_qos))
        self._copy.qos_before_consume = self._copy.qos_before_consume or not self._copy.consumes

    def basic_consume(
        self, queue: str, on_message_callback: Callable[..., object], auto_ack: bool = False, **more: Any
    ) -> str:
        copy = self._copy

        def on_message(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            delivery = _Delivery(method.delivery_tag, body, time.monotonic())
            copy.deliveries.append(delivery)
            try:
                on_message_callback(self, method, properties, body)
            finally:
                delivery.ended = time.monotonic()

        tag = self._channel.basic_consume(queue, on_message, auto_ack=auto_ack, **more)
        copy.consumes.append({"queue": queue, "auto_ack": auto_ack, **more})
        return str(tag)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        self._copy.acks.append((time.monotonic(), delivery_tag, multiple))
        self._channel.basic_ack(delivery_tag=delivery_tag, multiple=multiple)

    def basic_nack(self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True) -> None:
        self._copy.settled_otherwise.append(f"basic_nack(requeue={requeue})")
        self._channel.basic_nack(delivery_tag=delivery_tag, multiple=multiple, requeue=requeue)

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        self._copy.settled_otherwise.append(f"basic_reject(requeue={requeue})")
        self._channel.basic_reject(delivery_tag=delivery_tag, requeue=requeue)


class _RunningCopy:
    """A copy of worker.py on a thread of its own, with its own connection (a pika connection
    belongs to the thread that uses it). It runs the learner's `worker(channel)`; if that calls
    start_consuming(), `stop()` ends the loop from here through add_callback_threadsafe, the one
    thread-safe door pika has; if it returns, the thread keeps delivering until `stop()`."""

    def __init__(self, broker: BrokerHandle, worker: Callable[[Any], object], number: int) -> None:
        self.copy = _Copy(number)
        self._stop = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._thread = threading.Thread(target=self._run, args=(broker, worker), daemon=True)
        self._thread.start()

    def _run(self, broker: BrokerHandle, worker: Callable[[Any], object]) -> None:
        try:
            self._connection = connect(broker, f"worker.py (exercise 2.4, copy {self.copy.number})")
            self._channel = self._connection.channel()
            worker(_WorkerChannel(self._channel, self.copy))
            self.copy.returned = True
            while self.copy.consumes and not self._stop.is_set() and self._channel.is_open:
                self._connection.process_data_events(time_limit=0.02)
        except Exception as error:  # the learner's code: report it, never raise it
            self.copy.error = error
        finally:
            self.copy.ended = True
            if self._connection is not None and self._connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    self._connection.close()

    def stop(self) -> None:
        self._stop.set()
        connection, channel = self._connection, self._channel
        if connection is not None and channel is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.add_callback_threadsafe(channel.stop_consuming)
        self._thread.join(5)


def _consumers(broker: BrokerHandle) -> int | None:
    """How many consumers the broker counts on task_queue (None: there is no task_queue)."""
    with connected(broker, "exercise 2.4 (check)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.consumer_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _until(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class _Shift:
    """What two copies of the learner's worker did with the tasks, and what the broker said."""

    copies: list[_Copy]
    consumers: int | None = None
    publish_error: BaseException | None = None
    ready_after: int | None = None  # task_queue's ready messages once both copies had stopped

    def who(self) -> str:
        return say("; ", "；").join(
            say(f"copy {copy.number}: {_tasks(copy.bodies)}", f"副本 {copy.number}：{_tasks(copy.bodies)}")
            for copy in self.copies
        )


def _shift(broker: BrokerHandle, worker: Callable[[Any], object]) -> _Shift:
    cleanup(broker, queues=[QUEUE])
    running = [_RunningCopy(broker, worker, number) for number in range(1, COPIES + 1)]
    shift = _Shift([run.copy for run in running])
    try:
        subscribed = _until(
            lambda: all(c.consumes or c.returned or c.ended for c in shift.copies), SUBSCRIBE_SECONDS
        )
        if not subscribed or not all(c.consumes for c in shift.copies) or any(c.error for c in shift.copies):
            return shift
        if any(consume["auto_ack"] for c in shift.copies for consume in c.consumes):
            return shift  # judged as it is: no task needs to be lost to show it
        _until(lambda: _consumers(broker) == COPIES, SUBSCRIBE_SECONDS)  # the broker's own count
        shift.consumers = _consumers(broker)
        try:
            _publish_tasks(broker, QUEUE, TASKS_2_4)  # new_task.py: durable queue, persistent tasks
        except pika.exceptions.AMQPError as error:
            shift.publish_error = error
            return shift
        _until(lambda: _settled(shift), WORK_SECONDS)
    finally:
        for run in running:
            run.stop()
    shift.ready_after = _held_ready(broker)
    return shift


def _settled(shift: _Shift) -> bool:
    """Every task acknowledged, a copy gone, or nothing happening any more: no callback running
    and no delivery or ack for IDLE_SECONDS (a worker that never acks holds its one task)."""
    deliveries = [d for c in shift.copies for d in c.deliveries]
    if sum(1 for c in shift.copies for d in c.deliveries if c.acked(d.tag) is not None) >= len(TASKS_2_4):
        return True
    if any(c.error or c.ended for c in shift.copies):
        return True
    if not deliveries or any(d.ended is None for d in deliveries):
        return False
    last = max(
        [d.ended for d in deliveries if d.ended] + [when for c in shift.copies for when, _, _ in c.acks]
    )
    return time.monotonic() - last > IDLE_SECONDS


def _held_ready(broker: BrokerHandle) -> int | None:
    with connected(broker, "exercise 2.4 (after)") as connection:
        try:
            return int(connection.channel().queue_declare(QUEUE, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def _error_advice(error: BaseException) -> str:
    text = describe(error)
    if "NOT_FOUND" in text and "no queue" in text:
        return say(
            "basic_consume names a queue that does not exist yet: the worker may start before "
            "new_task.py ever ran, so it declares task_queue itself first, durable=True.",
            "basic_consume 指定的队列还不存在：worker 可能在 new_task.py 运行之前就启动了，"
            "所以它要先自己声明 task_queue，并带上 durable=True。",
        )
    if "inequivalent arg" in text or "not equivalent" in text:
        return say(
            "new_task.py declares task_queue with durable=True; every program that declares it "
            "must declare it the same way.",
            "new_task.py 声明 task_queue 时用的是 durable=True；每个声明它的程序都必须用同样的方式声明。",
        )
    if "unknown delivery tag" in text:
        return say(
            "Ack with the tag of the message you were given, once: "
            "ch.basic_ack(delivery_tag=method.delivery_tag).",
            "确认时用你收到的那条消息的投递标签，而且只确认一次："
            "ch.basic_ack(delivery_tag=method.delivery_tag)。",
        )
    return say(
        "In worker.py this would end the program; its unacknowledged tasks would go to the other copy.",
        "在 worker.py 里，这会让程序结束；它未确认的任务会转给另一个副本。",
    )


WORKER_SOLUTION = commented(
    """def worker(channel):
    channel.queue_declare(queue="task_queue", durable=True)

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()}")
        time.sleep(body.count(b".") * SECONDS_PER_DOT)
        print(" [x] Done")
        ch.basic_ack(delivery_tag=method.delivery_tag)     # only now: the work is done

    channel.basic_qos(prefetch_count=1)                    # fair dispatch, before consuming
    channel.basic_consume(queue="task_queue", on_message_callback=callback)
    channel.start_consuming()""",
    {
        "only now: the work is done": "到这时才确认：工作已经做完",
        "fair dispatch, before consuming": "公平分发，要在开始消费之前设置",
    },
)


@exercise(
    "2.4",
    Both("Write worker.py yourself", "自己写 worker.py"),
    solution=WORKER_SOLUTION,
    explanation=Both(
        "Declare the queue as new_task.py does (it may not exist yet), set basic_qos(prefetch_count=1) "
        "before basic_consume, subscribe the callback with manual acknowledgements (auto_ack left at "
        "False), and ack at the end of the callback, after the work. start_consuming() then loops; "
        "the check ends it from another thread with connection.add_callback_threadsafe.",
        "像 new_task.py 那样声明队列（它可能还不存在）；在 basic_consume 之前设置 "
        "basic_qos(prefetch_count=1)；用手动消息确认的方式订阅回调函数（auto_ack 保持 False）；"
        "在回调函数末尾、工作做完之后确认。之后 start_consuming() 会一直循环下去，"
        "检查程序在另一个线程里用 connection.add_callback_threadsafe 让它结束。",
    ),
    hints=(
        Both(
            "Four things: queue_declare, basic_qos, basic_consume(queue=..., on_message_callback=...), "
            "start_consuming(). And the callback's last line.",
            "四件事：queue_declare、basic_qos、basic_consume(queue=..., on_message_callback=...)、"
            "start_consuming()。还有回调函数的最后一行。",
        ),
        Both(
            "The callback gets the channel as `ch` and the delivery as `method`: "
            "ch.basic_ack(delivery_tag=method.delivery_tag).",
            "回调函数通过 `ch` 拿到信道，通过 `method` 拿到这次投递："
            "ch.basic_ack(delivery_tag=method.delivery_tag)。",
        ),
    ),
)
def write_the_worker(broker: BrokerHandle, worker: Callable[[Any], object]) -> Feedback:
    """Run two copies of `worker(channel)` (the body of worker.py) at once, each on a connection
    and thread of its own, on a broker without task_queue; when the broker counts both as
    consumers of task_queue, publish four tasks as new_task.py does, wait until they are
    acknowledged, stop both copies, and judge what each did and what the broker kept."""
    shift = _shift(broker, worker)
    try:
        return _judge_shift(shift)
    finally:
        cleanup(broker, queues=[QUEUE])


def _judge_shift(shift: _Shift) -> Feedback:
    for copy in shift.copies:
        if copy.error is not None:
            return wrong(
                say(
                    f"Copy {copy.number} of your worker stopped with an error",
                    f"你的 worker 的副本 {copy.number} 出错停止了",
                ),
                describe(copy.error),
                _error_advice(copy.error),
            )
    if not all(copy.consumes for copy in shift.copies):
        return wrong(
            say("Your worker never subscribed to task_queue", "你的 worker 根本没有订阅 task_queue"),
            say(
                "The function returned without calling channel.basic_consume: RabbitMQ counts no consumer "
                "on task_queue, so a task published now would wait there for ever.",
                "函数没调用 channel.basic_consume 就返回了：RabbitMQ 在 task_queue 上一个消费者也数不到，"
                "所以这时发布的任务会永远等在那里。",
            ),
            say(
                "Subscribe the callback: channel.basic_consume(queue='task_queue', "
                "on_message_callback=callback), then channel.start_consuming().",
                "订阅回调函数：channel.basic_consume(queue='task_queue', "
                "on_message_callback=callback)，然后调用 channel.start_consuming()。",
            ),
        )
    queues = {consume["queue"] for copy in shift.copies for consume in copy.consumes}
    if queues != {QUEUE}:
        names = say(", ", "、").join(sorted(map(repr, queues)))
        return wrong(
            say(
                f"Your worker consumes {names}, not 'task_queue'",
                f"你的 worker 消费的是 {names}，而不是 'task_queue'",
            ),
            say("new_task.py publishes to task_queue.", "new_task.py 发布到的是 task_queue。"),
        )
    if any(consume["auto_ack"] for copy in shift.copies for consume in copy.consumes):
        return wrong(
            say("Your worker consumes with auto_ack=True", "你的 worker 用 auto_ack=True 消费"),
            say(
                "RabbitMQ then counts a task as done the moment it sends it: a worker killed during the "
                "work loses its task, and every task already sent to it (section 2).",
                "这样一来，RabbitMQ 一发出任务就算它已经完成：worker 要是在工作中途被杀掉，"
                "它手上的任务就丢了，已经发给它的所有任务也都丢了（第 2 节）。",
            ),
            say(
                "Leave auto_ack out (False is pika's default) and ack each task after its work.",
                "去掉 auto_ack（pika 的默认值就是 False），每个任务做完之后再确认。",
            ),
        )
    if shift.publish_error is not None:
        return wrong(
            say("new_task.py could not publish to task_queue", "new_task.py 没能发布到 task_queue"),
            describe(shift.publish_error),
            _error_advice(shift.publish_error),
        )
    if shift.consumers != COPIES:
        return wrong(
            say(
                f"RabbitMQ counts {shift.consumers} consumers on task_queue, not {COPIES}",
                f"RabbitMQ 在 task_queue 上数到 {shift.consumers} 个消费者，而不是 {COPIES} 个",
            ),
            say("Each copy of worker.py should subscribe once.", "每个 worker.py 副本都应该只订阅一次。"),
        )
    delivered = [(copy, d) for copy in shift.copies for d in copy.deliveries]
    never = [d.body for copy, d in delivered if copy.acked(d.tag) is None]
    if never or any(copy.settled_otherwise for copy in shift.copies):
        nacks = sorted({call for copy in shift.copies for call in copy.settled_otherwise})
        called = say(", ", "、").join(nacks)
        return wrong(
            say(
                f"{plural(len(never), 'task')} never acknowledged: {_tasks(never)}",
                f"{plural(len(never), 'task', '个任务')}一直没有确认：{_tasks(never)}",
            )
            if never
            else say(
                "Your worker sends tasks back or throws them away",
                "你的 worker 把任务退了回去，或者扔掉了",
            ),
            _who_got_what(shift),
            *(
                [
                    say(
                        f"It called {called}: that returns or discards a task instead of finishing it.",
                        f"它调用了 {called}：这会把任务退回或丢弃，而不是把它做完。",
                    )
                ]
                if nacks
                else []
            ),
            say(
                f"When the check stopped both copies, RabbitMQ put their unacknowledged tasks back: "
                f"task_queue then held {shift.ready_after} ready tasks, to be delivered again.",
                f"检查程序停掉两个副本后，RabbitMQ 把它们未确认的任务放了回去：这时 task_queue 里"
                f"有 {shift.ready_after} 个就绪任务，等着重新投递。",
            ),
            say(
                "End the callback with ch.basic_ack(delivery_tag=method.delivery_tag).",
                "回调函数的最后要调用 ch.basic_ack(delivery_tag=method.delivery_tag)。",
            ),
        )
    if len(delivered) < len(TASKS_2_4):
        return wrong(
            say(
                f"Only {len(delivered)} of the {len(TASKS_2_4)} tasks reached your worker "
                f"in {WORK_SECONDS:.0f} s",
                f"{WORK_SECONDS:.0f} 秒内，{len(TASKS_2_4)} 个任务里只有 {len(delivered)} 个"
                "到达了你的 worker",
            ),
            say(
                f"Who got what: {shift.who()}. Is the work much slower than SECONDS_PER_DOT per dot?",
                f"谁拿到了哪些任务：{shift.who()}。工作是不是比每个点 SECONDS_PER_DOT 秒慢得多？",
            ),
        )
    early = [
        d.body
        for copy, d in delivered
        if (acked := copy.acked(d.tag)) is not None
        and d.ended is not None
        and d.started <= acked <= d.ended
        and d.ended - acked > max(EARLY_ACK_SECONDS, (d.ended - d.started) / 2)
    ]
    if early:
        return wrong(
            say(
                f"Your worker acknowledges before it works: {_tasks(early)}",
                f"你的 worker 还没干活就先确认了：{_tasks(early)}",
            ),
            say(
                "The ack came first and the work after it. Killed during the work, the worker would lose "
                "the task: RabbitMQ had already deleted it. Ack as the callback's last line.",
                "先确认，后干活。worker 要是在干活时被杀掉，这个任务就丢了：RabbitMQ 早已把它删除。"
                "把确认放在回调函数的最后一行。",
            ),
        )
    prefetch = [copy.qos[-1][0] if copy.qos and copy.qos_before_consume else None for copy in shift.copies]
    if any(count in (None, 0) for count in prefetch):
        return wrong(
            say(
                "Every task done and acknowledged, but dispatch is not fair yet",
                "每个任务都做完并确认了，但分发还不公平",
            ),
            _who_got_what(shift),
            say(
                "Without channel.basic_qos(prefetch_count=1) before basic_consume, RabbitMQ deals the "
                "tasks out in turn as they arrive, however busy a worker is (section 5). basic_qos called "
                "after basic_consume does not limit that consumer.",
                "如果没有在 basic_consume 之前调用 channel.basic_qos(prefetch_count=1)，"
                "RabbitMQ 会在任务到达时轮流分发，不管 worker 有多忙（第 5 节）。"
                "在 basic_consume 之后才调用 basic_qos，限制不了那个消费者。",
            ),
        )
    note = (
        []
        if set(prefetch) == {1}
        else [
            say(
                f"prefetch_count={prefetch[0]} works; the tutorial's 1 keeps a busy worker from "
                "sitting on a task another could start.",
                f"prefetch_count={prefetch[0]} 也行；教程用的 1 能让忙碌的 worker 不去扣着"
                "别的 worker 本可以开始处理的任务。",
            )
        ]
    )
    return right(
        say(
            "Both copies of your worker share the tasks, and lose none",
            "你的 worker 的两个副本分担了任务，一个也没丢",
        ),
        _who_got_what(shift),
        say(
            f"RabbitMQ counted {COPIES} consumers on task_queue; every task was acknowledged after its "
            f"work, and once both copies had stopped the queue held {shift.ready_after} ready messages.",
            f"RabbitMQ 在 task_queue 上数到 {COPIES} 个消费者；每个任务都在做完后才确认，"
            f"两个副本都停下之后，队列里还有 {shift.ready_after} 条就绪消息。",
        ),
        say(
            "Manual acks with prefetch_count=1: a copy killed during a task would hand it to the other.",
            "手动确认加上 prefetch_count=1：某个副本在处理任务时被杀掉，这个任务就会交给另一个副本。",
        ),
        *note,
    )


def _who_got_what(shift: _Shift) -> str:
    return say(f"Who got what: {shift.who()}.", f"谁拿到了哪些任务：{shift.who()}。")
