"""Chapter 7, reliability: the checks of exercises 7.1 (build a retry-with-delay out of
dead-lettering and TTL), 7.2 (choose the overflow behaviour that never drops a confirmed message) and 7.3
(no message lost: a publisher and a worker that survive a broker crash).

Each runs the learner's answer on the notebook's broker and judges by what the broker did:
which publishes it confirmed and which it refused, when a rejected message came back and what
its `x-death` header says, and, for 7.3, what is left after the check kills the broker
(`broker.restart(kill=True)`) in the middle of the work."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions

from rabbitsim.backends import BackendUnavailable, BrokerHandle

from ._client import Call, RecordingChannel, cleanup, connected, describe, private_name
from ._feedback import Both, Feedback, commented, exercise, listed, plural, right, say, wrong

__all__ = [
    "JOBS",
    "ORDERS",
    "RETRY",
    "check_no_message_lost",
    "check_overflow",
    "check_retry",
]


# --- exercise 7.1 -----------------------------------------------------------------------------------

JOBS = "jobs"
RETRY = "jobs.retry"
RETURN_WAIT_SECONDS = 4.0
TOO_SOON_SECONDS = 0.2


@dataclass
class _Retried:
    error: BaseException | None = None
    declared: bool = False
    back_after: float | None = None
    x_death: list[dict[str, Any]] = field(default_factory=list)
    waiting_in_retry: int | None = None  # messages in jobs.retry when it never came back
    setup_calls: list[Any] = field(default_factory=list)


def _count(channel: Any, queue: str) -> int | None:
    try:
        return int(channel.queue_declare(queue, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker:
        return None


def _dropped(connection: Any, setup_calls: list[Any]) -> bool:
    """Whether the rejected job is certainly gone: the learner declared `jobs` without a
    dead-letter exchange, so RabbitMQ dropped it, and it is in neither queue. (A dead-letter
    policy set elsewhere would leave it in a queue, or bring it back within the wait.)"""
    declares = [call for call in setup_calls if call.method == "queue_declare" and call.get("queue") == JOBS]
    if not declares or any("x-dead-letter-exchange" in (call.get("arguments") or {}) for call in declares):
        return False
    return _count(connection.channel(), JOBS) == 0 and not _count(connection.channel(), RETRY)


def _retry(broker: BrokerHandle, declare_retry: Callable[[Any], object]) -> _Retried:
    run = _Retried()
    cleanup(broker, queues=[JOBS, RETRY])
    try:
        with connected(broker, "exercise 7.1 (setup)") as connection:
            recorder = RecordingChannel(connection.channel())
            try:
                declare_retry(recorder)
            except Exception as error:  # the learner's code: report it, never raise it
                run.error = error
            run.setup_calls = recorder.calls
        with connected(broker, "exercise 7.1 (worker)") as connection:
            if _count(connection.channel(), JOBS) is None:
                return run
            run.declared = True
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish("", JOBS, b"charge card", pika.BasicProperties(delivery_mode=2))
            method, _properties, _body = channel.basic_get(JOBS, auto_ack=False)
            if method is None:
                return run
            channel.basic_reject(method.delivery_tag, requeue=False)  # "failed: try again later"
            rejected = time.monotonic()
            while time.monotonic() - rejected < RETURN_WAIT_SECONDS:
                method, properties, _body = channel.basic_get(JOBS, auto_ack=True)
                if method is not None:
                    run.back_after = time.monotonic() - rejected
                    run.x_death = list((properties.headers or {}).get("x-death", []))
                    return run
                if time.monotonic() - rejected > TOO_SOON_SECONDS and _dropped(connection, run.setup_calls):
                    break  # nothing can bring it back: no need to wait the whole time
                time.sleep(0.05)
            run.waiting_in_retry = _count(connection.channel(), RETRY)
        return run
    finally:
        cleanup(broker, queues=[JOBS, RETRY])


@exercise(
    "7.1",
    Both(
        "Retry with a delay: dead-letter into a waiting queue and back",
        "延迟重试：作为死信进入等待队列，再回来",
    ),
    solution=commented(
        """def declare_retry(channel):
    channel.queue_declare(
        queue="jobs",
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.retry"},
    )
    channel.queue_declare(
        queue="jobs.retry",
        durable=True,
        arguments={
            "x-message-ttl": 1000,                     # wait one second...
            "x-dead-letter-exchange": "",              # ...then dead-letter it
            "x-dead-letter-routing-key": "jobs",       # back to the work queue
        },
    )


course.EXERCISES["7.1"](broker, declare_retry)""",
        {
            "wait one second...": "等一秒……",
            "...then dead-letter it": "……然后让它成为死信",
            "back to the work queue": "回到工作队列",
        },
    ),
    explanation=Both(
        "A rejected message (requeue=False) is dead-lettered to `jobs.retry`, where nobody consumes: "
        "it waits there until its TTL expires, and is dead-lettered again, back to `jobs`. The "
        'default exchange "" with a dead-letter routing key sends it to the queue of that name. '
        "Each trip adds to the count in its `x-death` header, so a worker can give up after N tries.",
        "被拒绝（requeue=False）的消息成为死信，转到没有人消费的 `jobs.retry`：它在那里一直等到 TTL "
        '到期，再次成为死信，回到 `jobs`。默认交换机 "" 加上死信路由键，会把消息送到与路由键同名的'
        "队列。每走一趟，`x-death` 头里的计数就加一，所以 worker 可以在尝试 N 次之后放弃。",
    ),
    hints=(
        Both(
            'Two queues, each dead-lettering into the other through the default exchange ("").',
            '两个队列，各自通过默认交换机（""）把死信转给对方。',
        ),
        Both(
            "The waiting queue needs x-message-ttl; nobody consumes from it.",
            "等待队列需要设置 x-message-ttl；没有人消费它。",
        ),
    ),
)
def check_retry(broker: BrokerHandle, declare_retry: Callable[[Any], object]) -> Feedback:
    """Run `declare_retry(channel)` on a broker without `jobs` and `jobs.retry`, publish a job to
    `jobs`, reject it as a worker that failed would (requeue=False), and wait for it to come back."""
    run = _retry(broker, declare_retry)
    raised = (
        [say(f"Your function raised {describe(run.error)}.", f"你的函数抛出了 {describe(run.error)}。")]
        if run.error is not None
        else []
    )
    if not run.declared:
        return wrong(
            say("There is no queue 'jobs'", "没有队列 'jobs'"),
            say(
                "declare_retry must declare the work queue 'jobs'.", "declare_retry 必须声明工作队列 'jobs'。"
            ),
            *raised,
        )
    if run.back_after is None:
        if run.waiting_in_retry:
            return wrong(
                say("The job went to jobs.retry and stayed there", "任务进了 jobs.retry，就一直待在那里"),
                say(
                    f"{RETURN_WAIT_SECONDS:.0f} s after the reject it was still waiting in {RETRY}: "
                    "a message leaves a queue nobody consumes only when its TTL expires, and only goes "
                    "somewhere if that queue has a dead-letter exchange.",
                    f"拒绝之后过了 {RETURN_WAIT_SECONDS:.0f} 秒，它仍在 {RETRY} 里等待：在一个没有人消费的"
                    "队列里，消息只有在 TTL 到期时才会离开，而且只有这个队列设置了死信交换机，"
                    "它才有地方可去。",
                ),
                say(
                    'Give jobs.retry x-message-ttl (milliseconds) and x-dead-letter-exchange "" with '
                    "x-dead-letter-routing-key 'jobs'.",
                    '给 jobs.retry 设置 x-message-ttl（毫秒），再设置 x-dead-letter-exchange "" 和 '
                    "x-dead-letter-routing-key 'jobs'。",
                ),
                *raised,
            )
        return wrong(
            say("The rejected job was lost", "被拒绝的任务丢了"),
            say(
                "basic_reject(requeue=False) on a queue without x-dead-letter-exchange simply deletes the "
                "message. (Or it was dead-lettered to a place that is not jobs.retry: the default exchange "
                "\"\" routes by queue name, so x-dead-letter-routing-key must be 'jobs.retry'.)",
                "在没有设置 x-dead-letter-exchange 的队列上，basic_reject(requeue=False) 会直接删除消息。"
                '（也可能它作为死信去了别处，而不是 jobs.retry：默认交换机 "" 按队列名路由，所以 '
                "x-dead-letter-routing-key 必须是 'jobs.retry'。）",
            ),
            say(
                "Nothing came back to jobs, and jobs.retry "
                + ("does not exist." if run.waiting_in_retry is None else "is empty."),
                "没有任何消息回到 jobs，而 jobs.retry "
                + ("不存在。" if run.waiting_in_retry is None else "是空的。"),
            ),
            *raised,
        )
    deaths = say(", ", "；").join(
        say(
            f"{death.get('reason')} from {death.get('queue')} (count {death.get('count')})",
            f"在 {death.get('queue')} 中 {death.get('reason')}（count {death.get('count')}）",
        )
        for death in run.x_death
    )
    if run.back_after < TOO_SOON_SECONDS:
        return wrong(
            say(
                f"The job came back after {run.back_after:.2f} s: no delay",
                f"任务在 {run.back_after:.2f} 秒后就回来了：没有延迟",
            ),
            say(f"x-death: {deaths or 'none'}.", f"x-death：{deaths or '无'}。"),
            say(
                "A retry that comes back at once makes a failing job spin, as fast as the broker can go: "
                "let it wait in jobs.retry (x-message-ttl) first.",
                "立刻回来的重试会让一个失败的任务以 broker 所能达到的最快速度空转：先让它在 jobs.retry 里"
                "等一等（x-message-ttl）。",
            ),
        )
    return right(
        say(
            f"The job came back to jobs after {run.back_after:.2f} s",
            f"任务在 {run.back_after:.2f} 秒后回到了 jobs",
        ),
        say(f"Its x-death header tells its story: {deaths}.", f"它的 x-death 头记下了它的经历：{deaths}。"),
        say(
            "A worker reads the count for 'rejected' from jobs and gives up (parks the message in a "
            "queue for people to look at) after a few tries, instead of retrying for ever.",
            "worker 读取来自 jobs 的 'rejected' 计数，尝试几次之后就放弃（把消息停放到一个供人查看的队列"
            "里），而不是无休止地重试下去。",
        ),
        say(
            "One queue's TTL means one delay for every retry. For growing delays (1 s, 10 s, 1 min), "
            "use one waiting queue per delay.",
            "一个队列只有一个 TTL，也就是说每次重试的延迟都一样。想要逐步加长的延迟（1 秒、10 秒、1 分钟），"
            "就为每种延迟各用一个等待队列。",
        ),
    )


# --- exercise 7.2 -----------------------------------------------------------------------------------

MAX_LENGTH_7_2 = 3
BODIES_7_2 = [f"order {n}" for n in range(1, 6)]


@dataclass
class _Overflowed:
    confirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # nacked by the broker
    kept: list[str] = field(default_factory=list)  # in the queue afterwards
    declare_error: str | None = None


def _overflow(broker: BrokerHandle, overflow: Any) -> _Overflowed:
    queue = private_name("7.2")
    run = _Overflowed()
    with connected(broker, "exercise 7.2") as connection:
        channel = connection.channel()
        arguments: dict[str, Any] = {"x-max-length": MAX_LENGTH_7_2}
        if overflow is not None:
            arguments["x-overflow"] = overflow
        try:
            channel.queue_declare(queue, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as error:
            run.declare_error = describe(error)
            return run
        try:
            channel.confirm_delivery()
            for body in BODIES_7_2:
                try:
                    channel.basic_publish("", queue, body.encode())
                except pika.exceptions.NackError:
                    run.refused.append(body)
                else:
                    run.confirmed.append(body)
            while True:
                method, _properties, got = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                run.kept.append(got.decode())
        finally:
            if channel.is_open:
                channel.queue_delete(queue)
    return run


@exercise(
    "7.2",
    Both(
        "Choose the overflow that never drops a confirmed message",
        "选一种绝不丢弃已确认消息的溢出方式",
    ),
    solution="""OVERFLOW = "reject-publish"
course.EXERCISES["7.2"](broker, OVERFLOW)""",
    explanation=Both(
        "With `x-overflow: drop-head` (the default) a full queue accepts the new message, confirms "
        "it, and throws away its oldest one: a message the publisher was told is safe. With "
        "`reject-publish` the queue refuses the new message instead, and the publisher hears so "
        "(basic.nack), so it can slow down or try again later. `reject-publish-dlx` also "
        "dead-letters what it refuses.",
        "使用 `x-overflow: drop-head`（默认值）时，已满的队列会接收新消息、确认它，然后扔掉最旧的一条："
        "而那条消息，生产者早已被告知是安全的。使用 `reject-publish` 时，队列改为拒绝新消息，生产者也会"
        "得到通知（basic.nack），于是它可以放慢速度，或者稍后重试。`reject-publish-dlx` 还会把拒绝的"
        "消息转为死信。",
    ),
    hints=(
        Both(
            "Three values exist: drop-head, reject-publish and reject-publish-dlx.",
            "可选的值有三个：'drop-head'、'reject-publish' 和 'reject-publish-dlx'。",
        ),
        Both(
            "A publisher can react to a nack; it never hears about a message dropped from the head.",
            "生产者可以对 nack 作出反应；而从队头丢弃的消息，它永远不会知道。",
        ),
    ),
)
def check_overflow(broker: BrokerHandle, overflow: Any = None) -> Feedback:
    """Publish five messages with confirms into a queue of `x-max-length` 3 and `x-overflow`
    `overflow` (None: not set, RabbitMQ's default drop-head), then compare what the broker
    confirmed with what the queue still holds."""
    run = _overflow(broker, overflow)
    if run.declare_error is not None:
        return wrong(
            say(f"RabbitMQ refused x-overflow={overflow!r}", f"RabbitMQ 拒绝了 x-overflow={overflow!r}"),
            say(
                f"queue_declare answered {run.declare_error}.",
                f"queue_declare 得到的答复是 {run.declare_error}。",
            ),
            say(
                "x-overflow is one of the strings 'drop-head', 'reject-publish' or 'reject-publish-dlx'.",
                "x-overflow 只能是字符串 'drop-head'、'reject-publish' 或 'reject-publish-dlx' 之一。",
            ),
        )
    lost = [body for body in run.confirmed if body not in run.kept]
    summary = say(
        f"confirmed (basic.ack): {listed(run.confirmed)}; refused (basic.nack): {listed(run.refused)}; "
        f"in the queue afterwards: {listed(run.kept)}.",
        f"已确认（basic.ack）：{listed(run.confirmed)}；被拒绝（basic.nack）：{listed(run.refused)}；"
        f"之后队列里还有：{listed(run.kept)}。",
    )
    if lost:
        return wrong(
            say(
                f"RabbitMQ confirmed {plural(len(lost), 'message')} and then dropped "
                f"{'it' if len(lost) == 1 else 'them'}",
                f"RabbitMQ 确认了 {len(lost)} 条消息，随后又把{'它' if len(lost) == 1 else '它们'}丢弃了",
            ),
            summary,
            say(
                f"With {'no x-overflow (the default, drop-head)' if overflow is None else f'{overflow!r}'} "
                f"a full queue makes room by dropping its oldest message: {listed(lost)} were confirmed "
                "to the publisher, which therefore forgot them, and are gone all the same.",
                ("不设 x-overflow（默认即 drop-head）" if overflow is None else f"使用 {overflow!r} ")
                + f"时，已满的队列靠丢弃最旧的消息腾出空间：{listed(lost)} 已经向生产者确认过，生产者因此"
                "不再保留它们，可它们还是没了。",
            ),
            say(
                "Choose the overflow behaviour that refuses the newcomer instead, so that the publisher "
                "hears about it.",
                "请改用拒绝新来消息的溢出方式，让生产者知道这件事。",
            ),
        )
    return right(
        say(
            f"Nothing confirmed was lost: the full queue refused {plural(len(run.refused), 'message')}",
            f"已确认的消息一条也没丢：已满的队列拒绝了 {len(run.refused)} 条消息",
        ),
        summary,
        say(
            "The publisher got basic.nack for each refused message (pika raises NackError), so it still "
            "holds them and can wait and publish them again: the queue is full, nothing was silently lost."
            + (
                " reject-publish-dlx would also have dead-lettered them, had the queue a dead-letter "
                "exchange."
                if overflow == "reject-publish-dlx"
                else ""
            ),
            "每条被拒绝的消息，生产者都收到了 basic.nack（pika 会抛出 NackError），所以它仍然持有这些消息，"
            "可以等一等再重新发布：队列满了，但没有任何消息悄无声息地丢失。"
            + (
                "如果队列设置了死信交换机，reject-publish-dlx 还会把它们转为死信。"
                if overflow == "reject-publish-dlx"
                else ""
            ),
        ),
    )


# --- exercise 7.3 -----------------------------------------------------------------------------------

ORDERS = "orders"
ORDERS_7_3 = [f"order {n}" for n in range(1, 31)]
WORK_SECONDS_7_3 = 0.01
CRASH_AFTER = 8  # orders worked on before the worker dies (in the next) and the broker is killed
SETTLE_SECONDS = 1.0  # no delivery for this long after the restart: the queue is drained


@dataclass
class _Crashed:
    sent: list[str] = field(default_factory=list)  # basic_publish returned without an exception
    refused: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # do_work calls, in order (repeats included)
    publisher: _Watched | None = None
    worker: _Watched | None = None
    error: str | None = None
    crashed: str | None = None  # None: the broker was killed; else why it could not be
    left: int | None = None  # messages still in the queue at the end (None: no such queue)


class _Watched(RecordingChannel):
    """A RecordingChannel that also notes what reliability depends on: confirm mode, the
    consumer's auto_ack and its prefetch."""

    ALSO = frozenset({"confirm_delivery", "basic_consume", "basic_qos"})

    def __getattr__(self, name: str) -> Any:
        if name not in self.ALSO:
            return super().__getattr__(name)
        attribute = getattr(self._channel, name)
        signature = inspect.signature(attribute)

        def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
            except TypeError:
                arguments = {}
            self.calls.append(Call(name, arguments))
            return attribute(*args, **kwargs)

        return watched


class _Publisher:
    """The channel the learner's publish() gets: it notes which messages basic_publish
    accepted (returned) and which it refused (NackError, UnroutableError)."""

    def __init__(self, channel: Any, run: _Crashed) -> None:
        self.recorder = _Watched(channel)
        self.run = run

    def basic_publish(self, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body", args[2] if len(args) > 2 else b"")
        text = body.decode(errors="replace") if isinstance(body, bytes | bytearray) else str(body)
        try:
            result = self.recorder.basic_publish(*args, **kwargs)
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError):
            self.run.refused.append(text)
            raise
        self.run.sent.append(text)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


class _WorkerDied(BaseException):
    """Raised inside do_work to kill the worker mid-task; a BaseException, so that a callback's
    `except Exception` does not stop it, as it would not stop a power cut."""


def _work(
    broker: BrokerHandle,
    start_worker: Callable[[Any, Callable[[bytes], None]], object],
    run: _Crashed,
    *,
    die_at: int | None = None,
    until: Callable[[], bool] = lambda: False,
    timeout: float = 5.0,
    then: Callable[[], None] = lambda: None,
) -> None:
    """Run the learner's worker on a connection of its own until `until()` or `timeout`, or until
    it dies in the middle of order number `die_at`; then `then()`, with the worker's connection
    still open (the check kills the broker there)."""

    def do_work(body: bytes) -> None:
        if die_at is not None and len(run.done) >= die_at:
            raise _WorkerDied
        time.sleep(WORK_SECONDS_7_3)
        run.done.append(body.decode(errors="replace") if isinstance(body, bytes | bytearray) else str(body))

    with connected(broker, "worker (exercise 7.3)") as connection:
        run.worker = _Watched(connection.channel())
        try:
            start_worker(run.worker, do_work)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until():
                connection.process_data_events(time_limit=0.02)
        except _WorkerDied:
            pass
        finally:
            then()


def _crash(
    broker: BrokerHandle,
    publish: Callable[[Any, list[str]], object],
    start_worker: Callable[[Any, Callable[[bytes], None]], object],
) -> _Crashed:
    run = _Crashed()
    cleanup(broker, queues=[ORDERS])
    try:
        with connected(broker, "publisher (exercise 7.3)") as connection:
            publisher = _Publisher(connection.channel(), run)
            run.publisher = publisher.recorder
            try:
                publish(publisher, list(ORDERS_7_3))
            except Exception as error:  # the learner's code: report it, never raise it
                run.error = say(f"publish raised {describe(error)}", f"publish 抛出了 {describe(error)}")

        def kill() -> None:
            try:
                broker.restart(kill=True)
            except BackendUnavailable as error:
                run.crashed = str(error)

        # the worker dies in the middle of an order, and the broker with it
        try:
            _work(broker, start_worker, run, die_at=CRASH_AFTER, then=kill)
        except pika.exceptions.AMQPError:
            pass  # its connection died with the broker
        except Exception as error:  # the learner's code
            run.error = say(
                f"start_worker raised {describe(error)}", f"start_worker 抛出了 {describe(error)}"
            )
        # a new worker, after the crash, until the queue has been quiet for a while
        quiet = {"count": -1, "since": time.monotonic()}

        def drained() -> bool:
            if len(run.done) != quiet["count"]:
                quiet["count"], quiet["since"] = len(run.done), time.monotonic()
            return time.monotonic() - quiet["since"] > SETTLE_SECONDS

        try:
            _work(broker, start_worker, run, until=drained, timeout=10)
        except pika.exceptions.ChannelClosedByBroker as error:
            run.error = say(
                f"after the crash, the worker's channel was closed: {describe(error)}",
                f"崩溃之后，worker 的信道被关闭了：{describe(error)}",
            )
        except Exception as error:  # the learner's code
            run.error = say(
                f"after the crash, start_worker raised {describe(error)}",
                f"崩溃之后，start_worker 抛出了 {describe(error)}",
            )
        with connected(broker, "exercise 7.3 (check)") as connection:
            run.left = _count(connection.channel(), ORDERS)
        return run
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError):
            cleanup(broker, queues=[ORDERS])


def _why_lost(run: _Crashed) -> list[str]:
    """The learner's code, read for the reasons a message can be lost."""
    reasons: list[str] = []
    publisher, worker = run.publisher, run.worker
    calls = [*(publisher.calls if publisher else []), *(worker.calls if worker else [])]
    declares = [call for call in calls if call.method == "queue_declare"]
    quorum = any((call.get("arguments") or {}).get("x-queue-type") == "quorum" for call in declares)
    if declares and not any(call.get("durable") for call in declares) and not quorum:
        reasons.append(
            say(
                "orders is not durable: the crash took the queue, and everything in it.",
                "orders 不是持久化队列：崩溃带走了这个队列，连同里面的一切。",
            )
        )
    publishes = [call for _, call in (publisher.of("basic_publish") if publisher else [])]
    modes = {getattr(call.get("properties"), "delivery_mode", None) for call in publishes}
    if publishes and modes != {pika.DeliveryMode.Persistent.value} and not quorum:
        reasons.append(
            say(
                "The messages are transient (no delivery_mode=2): a durable queue comes back from a crash "
                "without them.",
                "这些消息不是持久化的（没有 delivery_mode=2）：持久化队列在崩溃后会恢复，但里面不会有它们。",
            )
        )
    consumes = [call for _, call in (worker.of("basic_consume") if worker else [])]
    if any(call.get("auto_ack") for call in consumes):
        reasons.append(
            say(
                "The worker consumes with auto_ack=True: RabbitMQ forgot each order as it sent it, so the "
                "orders the worker had received but not yet worked on died with the worker.",
                "worker 以 auto_ack=True 消费：RabbitMQ 每发出一个订单就把它忘了，所以 worker 已经收到、"
                "还没来得及处理的订单，随 worker 一起消失了。",
            )
        )
    return reasons


_SOLUTION_7_3 = """def publish(channel, orders):
    channel.queue_declare(queue="orders", durable=True)
    channel.confirm_delivery()                      # basic_publish now waits for RabbitMQ's ack
    for order in orders:
        channel.basic_publish(
            exchange="",
            routing_key="orders",
            body=order,
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )                                           # raises NackError if RabbitMQ refused it


def start_worker(channel, do_work):
    channel.queue_declare(queue="orders", durable=True)
    channel.basic_qos(prefetch_count=10)

    def callback(ch, method, properties, body):
        do_work(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)   # only after the work is done

    channel.basic_consume(queue="orders", on_message_callback=callback)


course.EXERCISES["7.3"](broker, publish, start_worker)"""


@exercise(
    "7.3",
    Both(
        "No message lost: a publisher and a worker that survive a crash",
        "一条消息也不丢：能挺过崩溃的生产者和 worker",
    ),
    solution=commented(
        _SOLUTION_7_3,
        {
            "basic_publish now waits for RabbitMQ's ack": "现在 basic_publish 会等待 RabbitMQ 的确认",
            "raises NackError if RabbitMQ refused it": "如果 RabbitMQ 拒绝了它，会抛出 NackError",
            "only after the work is done": "工作完成之后才确认",
        },
    ),
    explanation=Both(
        "Four things, each closing one gap: a durable queue and persistent messages (the broker "
        "keeps them across a crash), publisher confirms (the publisher knows when the broker has "
        "them), and manual acks after the work (the broker keeps each order until it is done). "
        "The price is 'at least once': an order done just before the crash, whose ack was lost, "
        "comes back; do_work should be safe to repeat.",
        "四样东西，各堵住一个漏洞：持久化的队列和持久化的消息（broker 在崩溃之后仍保有它们），发布确认"
        "（生产者知道 broker 什么时候收到了消息），以及工作完成之后再手动确认（broker 会一直保留每个订单，"
        "直到它处理完）。代价是“至少一次”：崩溃前刚刚处理完、确认却丢失了的订单会再回来；do_work 应当"
        "可以安全地重复执行。",
    ),
    hints=(
        Both(
            "Section 1 says what survives a crash; section 2 says how a publisher knows the broker "
            "has a message.",
            "第 1 节讲了什么能挺过崩溃；第 2 节讲了生产者怎样得知 broker 已经收到消息。",
        ),
        Both(
            "The worker must not tell RabbitMQ an order is done (auto_ack) before do_work has run.",
            "在 do_work 运行之前，worker 不能告诉 RabbitMQ 订单已经处理完（auto_ack）。",
        ),
    ),
)
def check_no_message_lost(
    broker: BrokerHandle,
    publish: Callable[[Any, list[str]], object],
    start_worker: Callable[[Any, Callable[[bytes], None]], object],
) -> Feedback:
    """Run `publish(channel, orders)` with thirty orders, then `start_worker(channel, do_work)`;
    after the worker has done a few, kill the broker (`restart(kill=True)`), start the worker
    again, and count: every order publish() sent without an error must have been worked on."""
    run = _crash(broker, publish, start_worker)
    done = set(run.done)
    lost = [order for order in run.sent if order not in done]
    twice = sorted({order for order in run.done if run.done.count(order) > 1}, key=ORDERS_7_3.index)
    counts = say(
        f"publish() sent {len(run.sent)} of {len(ORDERS_7_3)} orders"
        + (f" ({len(run.refused)} refused by RabbitMQ)" if run.refused else "")
        + f"; do_work ran for {len(done)} different orders ({len(run.done)} calls).",
        f"publish() 发出了 {len(ORDERS_7_3)} 个订单中的 {len(run.sent)} 个"
        + (f"（{len(run.refused)} 个被 RabbitMQ 拒绝）" if run.refused else "")
        + f"；do_work 处理了 {len(done)} 个不同的订单（共调用 {len(run.done)} 次）。",
    )
    crash = (
        say(
            f"The check crashed everything after {CRASH_AFTER} orders: your worker died in the middle of "
            "the next one and the broker was killed (SIGKILL); then the check started your worker again.",
            f"处理完 {CRASH_AFTER} 个订单之后，检查让一切都崩溃了：你的 worker 在处理下一个订单时死掉，"
            "broker 也被杀掉（SIGKILL）；然后检查重新启动了你的 worker。",
        )
        if run.crashed is None
        else say(
            f"The broker could not be killed here, so this run proves less: {run.crashed}",
            f"这里无法杀掉 broker，所以这次运行能证明的东西要少一些：{run.crashed}",
        )
    )
    problems = [run.error] if run.error else []
    confirms = bool(run.publisher and run.publisher.of("confirm_delivery"))
    if not run.sent:
        return wrong(say("publish() sent nothing", "publish() 什么也没有发出"), counts, *problems)
    if lost:
        more = say(" ...", " ……") if len(lost) > 5 else ""
        return wrong(
            say(
                f"{plural(len(lost), 'order')} lost: {listed(lost[:5])}{more}",
                f"丢了 {len(lost)} 个订单：{listed(lost[:5])}{more}",
            ),
            counts,
            crash,
            *_why_lost(run),
            *problems,
        )
    if problems:
        return wrong(
            say("Every order was worked on, but something failed", "每个订单都处理了，但有地方出了错"),
            counts,
            *problems,
        )
    if not confirms:
        return wrong(
            say(
                "Nothing was lost this time, but publish() does not know that",
                "这次什么也没丢，但 publish() 并不知道这一点",
            ),
            counts,
            crash,
            say(
                "Without channel.confirm_delivery(), basic_publish returns as soon as the message is on "
                "its way: the broker may not have it yet, let alone on disk. A crash a moment later can "
                "lose it, and the publisher, which has moved on, never hears.",
                "没有 channel.confirm_delivery() 时，消息一发出去，basic_publish 就返回了：broker 可能还没"
                "收到它，更别说写到磁盘上了。片刻之后的一次崩溃就可能让它丢失，而早已继续往下执行的生产者"
                "永远不会知道。",
            ),
        )
    return right(
        say(
            f"Every confirmed order was worked on: {len(run.sent)} sent, {len(done)} done",
            f"每个已确认的订单都处理了：发出 {len(run.sent)} 个，完成 {len(done)} 个",
        ),
        counts,
        crash,
        (
            say(
                f"{plural(len(twice), 'order')} ({listed(twice)}) {'was' if len(twice) == 1 else 'were'} "
                "worked on twice: done before the crash, their acks lost with it. That is 'at least once'; "
                "make do_work idempotent (or remember what was done).",
                f"有 {len(twice)} 个订单（{listed(twice)}）处理了两次：崩溃前已经处理完，确认却随崩溃"
                "丢失了。这就是“至少一次”；请让 do_work 保持幂等（或者记下已经做过的事）。",
            )
            if twice
            else say(
                "No order was done twice this time; after a crash some can be (their acks lost with "
                "it), so do_work should be safe to repeat.",
                "这次没有订单处理两次；但崩溃之后，有些订单可能会处理两次（它们的确认随崩溃丢失），所以 "
                "do_work 应当可以安全地重复执行。",
            )
        ),
    )
