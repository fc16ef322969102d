"""Chapter 3, publish/subscribe: the chapter's exercise checks.

    first = course.Subscriber(broker, receive_logs, name="first")   # the chapter's subscriber
    course.EXERCISES["3.1"](broker, 5)                              # a prediction, checked on the broker
    course.EXERCISES["3.2"](broker, receive_logs)                   # does every copy get every log?

3.2 runs the learner's `receive_logs(channel)` (declare, bind, return the queue's name) as two
subscribers at once, each on a connection of its own: the tutorial's queue is exclusive, and an
exclusive queue belongs to the connection that declared it (any other gets 405 RESOURCE_LOCKED).

The checks never guess: they run the learner's code on the broker in use (the simulator or a
real RabbitMQ), publish with confirms so every message has been routed before they look, and
explain what the broker did."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions

from rabbitsim.backends import BrokerHandle

from ._client import (
    connect,
    connected,
    delete_queues,
    drain,
    find_queue,
    private_name,
    publish_confirmed,
    wait_until_gone,
)
from ._consumers import SubscriberSetupError, run_setup
from ._feedback import Both, Feedback, exercise, listed, right, say, wrong

__all__ = ["LOGS", "check_early_logs", "check_every_log"]

#: What emit_log.py sends in this chapter: one log of each severity.
LOGS = ("info: Hello World!", "warning: disk 91% full", "error: disk full")

#: How long a check waits at most for deliveries (it stops as soon as its sentinels arrive).
DELIVERY_SECONDS = 5.0
#: The last message a check sends each queue: once it arrives, everything before it has.
SENTINEL = "(the check's last message)"

Setup = Callable[..., Any]


def broker_refusal(error: pika.exceptions.ChannelClosedByBroker, exchange: str) -> str:
    """What a channel error raised by the learner's setup means, in the chapter's words."""
    code, text = error.reply_code, error.reply_text.rstrip(".")
    answered = say(f"The broker answered {code} {text}.", f"消息代理的回应是 {code} {text}。")
    if code == pika.spec.PRECONDITION_FAILED:
        return answered + say(
            " An exchange or queue that exists can be declared "
            f"again only with the same properties: '{exchange}' must be declared exactly as "
            "before (same type, same durable flag), or not at all.",
            f"已存在的交换机或队列，只能用相同的属性再次声明：'{exchange}' 必须和之前声明得一模一样"
            "（同样的类型、同样的 durable 标志），要么就干脆不声明。",
        )
    if code == pika.spec.NOT_FOUND:
        return answered + say(
            " queue_bind needs both ends to exist: declare the "
            f"exchange ('{exchange}') and the queue first, and bind to the queue name the "
            "declare returned.",
            f"queue_bind 要求两端都已存在：先声明交换机（'{exchange}'）和队列，"
            "再绑定到声明时返回的那个队列名。",
        )
    if code == pika.spec.RESOURCE_LOCKED:
        return answered + say(
            " An exclusive queue belongs to the connection that "
            "declared it; a second subscriber cannot declare or use a queue of the same name. Let "
            "the broker choose a fresh name for each: queue_declare(queue='', exclusive=True).",
            "排他队列只属于声明它的那个连接；第二个订阅者无法声明或使用同名的队列。"
            "让消息代理为每个订阅者挑一个新名字：queue_declare(queue='', exclusive=True)。",
        )
    if code == 403:
        return answered + say(
            " Names starting with 'amq.' are reserved for the broker.",
            "以 'amq.' 开头的名字是留给消息代理自己用的。",
        )
    return answered


# --- 3.2: a temporary queue per subscriber, bound to 'logs' ---------------------------------------


@dataclass
class _Copy:
    """One running copy of the learner's subscriber, as the check sees it."""

    connection: pika.BlockingConnection
    queue: str
    received: list[str] = field(default_factory=list)


def _start_copy(broker: BrokerHandle, setup: Setup, number: int) -> _Copy | Feedback:
    connection = connect(broker, f"exercise 3.2: subscriber {number}")
    try:
        channel = connection.channel()
        queue = run_setup(setup, channel)
        copy = _Copy(connection, queue)
        channel.basic_consume(
            queue,
            lambda _ch, _m, _p, body: copy.received.append(body.decode(errors="replace")),
            auto_ack=True,
        )
        return copy
    except pika.exceptions.ChannelClosedByBroker as error:
        connection.close()
        title = (
            say(
                "The first copy of your subscriber could not set up",
                "你的订阅者的第一个副本没能完成设置",
            )
            if number == 1
            else say(
                "With the first copy still running, the second of your subscriber could not set up",
                "第一个副本还在运行时，你的订阅者的第二个副本没能完成设置",
            )
        )
        return wrong(title, broker_refusal(error, "logs"))
    except SubscriberSetupError as error:
        connection.close()
        return wrong(
            say("Your setup function cannot run as a subscriber", "你的设置函数无法作为订阅者运行"),
            str(error),
        )
    except Exception as error:
        connection.close()
        described = f"{type(error).__name__}: {error}"
        return wrong(say(f"Your setup function raised {described}", f"你的设置函数抛出了 {described}"))


def _bindings_of(broker: BrokerHandle, queue: str) -> list[tuple[str, str]]:
    """The bindings that lead to `queue`, as (exchange, binding key), the default exchange left out."""
    return [
        (binding.source, binding.routing_key)
        for binding in broker.topology().bindings
        if binding.destination == queue and binding.destination_type == "queue" and binding.source
    ]


def _bound_to(bindings: list[tuple[str, str]]) -> str:
    """The bindings as a sentence names them: `'logs' (binding key '')`, comma-separated."""
    return say(", ", "、").join(
        say(f"'{exchange}' (binding key {key!r})", f"'{exchange}'（绑定键 {key!r}）")
        for exchange, key in bindings
    )


@exercise(
    "3.2",
    Both(
        "Bind a temporary queue so that every running subscriber gets every log",
        "绑定一个临时队列，让每个正在运行的订阅者都收到每条日志",
    ),
    solution="""def receive_logs(channel):
    channel.exchange_declare(exchange="logs", exchange_type="fanout")
    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue
    channel.queue_bind(exchange="logs", queue=queue_name)
    return queue_name

course.EXERCISES["3.2"](broker, receive_logs)""",
    explanation=Both(
        "`queue=''` lets the broker name a fresh queue for each subscriber (`amq.gen-…`), "
        "`exclusive=True` ties it to the subscriber's connection, so it disappears when the "
        "subscriber stops, and `queue_bind` tells the fanout exchange to copy every message into it.",
        "`queue=''` 让消息代理为每个订阅者新建一个队列，并替它起名（`amq.gen-…`）；"
        "`exclusive=True` 让队列从属于订阅者的连接，订阅者一停止，队列就随之消失；"
        "`queue_bind` 则让扇出交换机把每条消息都复制一份放进这个队列。",
    ),
    hints=(
        Both(
            "Three calls: declare the exchange, declare a queue, bind the queue to the exchange.",
            "三个调用：声明交换机，声明队列，把队列绑定到交换机。",
        ),
        Both(
            "queue_declare(queue='', exclusive=True) returns a result whose .method.queue is the name.",
            "queue_declare(queue='', exclusive=True) 返回一个结果，它的 .method.queue 就是队列名。",
        ),
    ),
)
def check_every_log(broker: BrokerHandle, setup: Setup) -> Feedback:
    """Run two copies of `setup` at once (as two terminals running receive_logs.py would),
    publish the chapter's three logs to 'logs', and see what each copy got; then stop them and
    see whether their queues went with them."""
    with connected(broker, "exercise 3.2: emit_log") as publisher:
        channel = publisher.channel()
        try:
            channel.exchange_declare(exchange="logs", exchange_type="fanout")
        except pika.exceptions.ChannelClosedByBroker as error:
            return wrong(
                say(
                    "The exchange 'logs' exists, but not as a fanout exchange",
                    "交换机 'logs' 已经存在，但不是扇出交换机",
                ),
                say(
                    f"The broker answered {error.reply_code} {error.reply_text}.",
                    f"消息代理的回应是 {error.reply_code} {error.reply_text}。",
                ),
                say(
                    "Delete it (channel.exchange_delete('logs')) and run the check again.",
                    "删除它（channel.exchange_delete('logs')），再运行一次检查。",
                ),
            )
        copies: list[_Copy] = []
        try:
            for number in (1, 2):
                started = _start_copy(broker, setup, number)
                if isinstance(started, Feedback):
                    return started
                copies.append(started)
            channel = publisher.channel()
            channel.confirm_delivery()
            for log in LOGS:
                publish_confirmed(channel, "logs", "", log)
            for copy in copies:  # through the default exchange, straight into each queue
                publish_confirmed(channel, "", copy.queue, SENTINEL)
            _collect(copies)
            problems = _what_went_wrong(broker, copies, shared=copies[0].queue == copies[1].queue)
            lasting = [] if problems is not None else _lasting(broker, copies)
        finally:
            for copy in copies:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    copy.connection.close()
    if problems is not None or lasting:
        _remove_leftovers(broker, copies)
    if problems is not None:
        return problems
    left = lasting or [copy.queue for copy in copies if not wait_until_gone(broker, copy.queue)]
    if left:
        many = len(left) > 1
        return wrong(
            say(
                "Every subscriber got every log, but its queue outlives it",
                "每个订阅者都收到了每条日志，但订阅者停止后，它的队列还在",
            ),
            say(
                f"{_names(left)} {'are' if many else 'is'} neither exclusive nor auto-delete, "
                f"so {'they stay' if many else 'it stays'} when the subscriber stops (the check "
                f"deleted {'them' if many else 'it'}).",
                f"{_names(left)} 既不是排他队列，也没有设为自动删除（auto-delete），所以订阅者停止后，"
                f"{'它们' if many else '它'}还留在那里（检查程序已经把{'它们' if many else '它'}删除了）。",
            ),
            say(
                "A queue that outlives its subscriber goes on collecting logs nobody will read, and "
                "fills the broker's memory. Declare it with exclusive=True: the broker deletes it when "
                "the connection that declared it closes.",
                "订阅者走了，队列却还在，它会继续收集没人会读的日志，把消息代理的内存越占越满。"
                "声明时加上 exclusive=True：声明它的连接一关闭，消息代理就会删除它。",
            ),
        )
    names = [copy.queue for copy in copies]
    details = [
        say(
            f"Both copies got all {len(LOGS)} logs, each in a queue of its own: {_names(names)}.",
            f"两个副本都收到了全部 {len(LOGS)} 条日志，各自用的是自己的队列：{_names(names)}。",
        ),
        say(
            "When they stopped, both queues were deleted with their connections.",
            "它们停止时，两个队列都随各自的连接一起被删除了。",
        ),
    ]
    if not all(name.startswith("amq.gen-") for name in names):
        details.append(
            say(
                "(The tutorial lets the broker choose the names with queue=''.)",
                "（教程用 queue='' 让消息代理来挑选队列名。）",
            )
        )
    return right(
        say(
            "Every subscriber gets every log, in a temporary queue of its own",
            "每个订阅者都在自己的临时队列里收到了每条日志",
        ),
        *details,
    )


def _collect(copies: list[_Copy]) -> None:
    """Let the copies consume until every sentinel has arrived: a queue is first in, first out,
    so by then every log routed to their queues has arrived too. No guessing how long to wait."""
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        if sum(copy.received.count(SENTINEL) for copy in copies) >= len(copies):
            break
        for copy in copies:
            copy.connection.process_data_events(time_limit=0.005)
    for copy in copies:
        copy.received[:] = [body for body in copy.received if body != SENTINEL]


def _what_went_wrong(broker: BrokerHandle, copies: list[_Copy], shared: bool) -> Feedback | None:
    if shared and any(copy.received for copy in copies):
        first, second = copies
        return wrong(
            say(
                f"Both subscribers consumed the same queue, '{first.queue}', so they shared the logs",
                f"两个订阅者消费的是同一个队列 '{first.queue}'，所以它们分摊了这些日志",
            ),
            say(
                f"Subscriber 1 got {listed(first.received)}; subscriber 2 got {listed(second.received)}.",
                f"订阅者 1 收到了 {listed(first.received)}；订阅者 2 收到了 {listed(second.received)}。",
            ),
            say(
                "Two consumers on one queue take turns (round-robin, as the workers of chapter 2 do): "
                "each log reaches only one of them. For every subscriber to get every log, each needs a "
                "queue of its own: queue_declare(queue='', exclusive=True) makes a fresh one each time.",
                "同一个队列上的两个消费者会轮流接收（轮询，和第 2 章的 worker 一样）：每条日志只会到达"
                "其中一个。要让每个订阅者都收到每条日志，每个订阅者都需要一个自己的队列："
                "queue_declare(queue='', exclusive=True) 每次都会新建一个。",
            ),
        )
    for number, copy in enumerate(copies, 1):
        missed = [log for log in LOGS if log not in copy.received]
        if not missed:
            continue
        bound = _bindings_of(broker, copy.queue)
        if not bound:
            why = say(
                f"Its queue '{copy.queue}' is not bound to any exchange (only to the default "
                "exchange, by its name, as every queue is), so 'logs' has nowhere to send the "
                "messages: with no binding, a fanout exchange drops them. Add "
                "channel.queue_bind(exchange='logs', queue=queue_name).",
                f"它的队列 '{copy.queue}' 没有绑定到任何交换机（只是按名字绑定在默认交换机上，"
                "每个队列都是这样），所以 'logs' 无处投递这些消息：没有绑定时，扇出交换机会把消息丢弃。"
                "加上 channel.queue_bind(exchange='logs', queue=queue_name)。",
            )
        elif not any(exchange == "logs" for exchange, _key in bound):
            why = say(
                f"Its queue '{copy.queue}' is bound to {_bound_to(bound)}, but emit_log publishes "
                "to 'logs': bind to that exchange.",
                f"它的队列 '{copy.queue}' 绑定到了 {_bound_to(bound)}，但 emit_log 发布到的是 'logs'："
                "请绑定到这个交换机。",
            )
        else:
            why = say(
                f"Its queue '{copy.queue}' is bound to {_bound_to(bound)}.",
                f"它的队列 '{copy.queue}' 绑定到了 {_bound_to(bound)}。",
            )
        return wrong(
            say(
                f"Subscriber {number} missed {len(missed)} of the {len(LOGS)} logs",
                f"{len(LOGS)} 条日志中，订阅者 {number} 漏掉了 {len(missed)} 条",
            ),
            say(f"It never received {listed(missed)}.", f"它始终没有收到 {listed(missed)}。"),
            why,
        )
    return None


def _lasting(broker: BrokerHandle, copies: list[_Copy]) -> list[str]:
    """The copies' queues that would stay after their subscriber stops: neither exclusive nor
    auto-delete (properties the management API shows at once, unlike counts)."""
    topology = broker.topology()
    return [
        copy.queue
        for copy in copies
        if (queue := find_queue(topology, copy.queue)) is not None
        and not (queue.exclusive or queue.auto_delete)
    ]


def _remove_leftovers(broker: BrokerHandle, copies: list[_Copy]) -> None:
    """Delete the queues a wrong answer may leave behind (named or lasting ones): the check made
    them, so it removes them. An exclusive one still closing answers 405, and goes by itself."""
    delete_queues(broker, list(dict.fromkeys(copy.queue for copy in copies)))


def _names(names: list[str]) -> str:
    return say(" and ", " 和 ").join(f"'{name}'" for name in names)


# --- 3.1: what happens to logs published before any queue is bound ------------------------------


EARLY, LATE = 3, 2


@exercise(
    "3.1",
    Both(
        "Predict how many logs a subscriber receives when it starts after some were published",
        "有些日志发布之后订阅者才启动：预测它会收到几条日志",
    ),
    solution="course.EXERCISES['3.1'](broker, 2)",
    explanation=Both(
        "Only the 2 logs published after its queue was bound. When the first 3 were published, no "
        "queue was bound to the exchange, so they reached no queue and were dropped on the spot: "
        "an exchange routes, it never stores. (For logs that is fine: a subscriber wants the "
        "messages from now on, not the old ones.)",
        "只有它的队列绑定之后发布的那 2 条。前 3 条发布时，还没有任何队列绑定到交换机，"
        "所以它们哪个队列也没进，当场就被丢弃了：交换机只管路由，从不存储。"
        "（对日志来说这没问题：订阅者要的是从现在起的消息，而不是旧消息。）",
    ),
    hints=(
        Both(
            "Where could a message wait, if no queue is bound yet? Exchanges do not store messages.",
            "如果还没有任何队列绑定，消息能在哪里等着？交换机是不存储消息的。",
        ),
    ),
)
def check_early_logs(broker: BrokerHandle, prediction: Any) -> Feedback:
    """Play the scenario on the broker: 3 logs to a fanout exchange with no queue bound, then a
    subscriber binds its temporary queue, then 2 more logs. Compare with the prediction."""
    try:
        predicted = int(prediction)
    except (TypeError, ValueError):
        return wrong(
            say(
                f"Answer with a number of logs, not {prediction!r}",
                f"请用日志的条数来回答，而不是 {prediction!r}",
            )
        )
    exchange = private_name("3.1-logs")
    with connected(broker, "exercise 3.1") as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, "fanout")
        try:
            channel.confirm_delivery()
            returned = [
                n
                for n in range(1, EARLY + 1)
                if not publish_confirmed(channel, exchange, "", f"log {n} (before the subscriber)")
            ]
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, exchange)
            for n in range(EARLY + 1, EARLY + LATE + 1):
                publish_confirmed(channel, exchange, "", f"log {n} (after it bound its queue)")
            received = drain(channel, queue)
        finally:
            channel.exchange_delete(exchange)
    got = len(received)
    evidence = say(
        f"Played on your broker just now: it received {listed(received)}. The first {EARLY} were "
        f"published while no queue was bound to the exchange; published with mandatory=True, the "
        f"broker returned {len(returned)} of them as 312 NO_ROUTE, which is its way of saying "
        "'dropped'.",
        f"刚刚在你的消息代理上实际演示了一遍：它收到了 {listed(received)}。前 {EARLY} 条发布时，"
        f"还没有任何队列绑定到交换机；这些消息发布时带着 mandatory=True，消息代理把其中 "
        f"{len(returned)} 条以 312 NO_ROUTE 退了回来，这就是它在说“已丢弃”。",
    )
    why = say(
        "An exchange routes each message the moment it arrives, to the queues bound at that moment, "
        "and keeps nothing. With no queue bound, the message is dropped (silently, unless you ask for "
        "mandatory=True or give the exchange an alternate exchange).",
        "交换机在每条消息到达的那一刻，就把它路由到当时已经绑定的队列，自己什么也不保留。"
        "没有绑定任何队列时，消息就被丢弃（而且不声不响，除非你发布时带上 mandatory=True，"
        "或者给交换机设置一个备用交换机）。",
    )
    if predicted == got:
        return right(
            say(
                f"Yes: {got} logs, only those published after the queue was bound",
                f"没错：{got} 条，只有队列绑定之后发布的那些",
            ),
            evidence,
            why,
        )
    if predicted == EARLY + LATE:
        title = say(
            f"Not {predicted}: the first {EARLY} logs never reach the subscriber",
            f"不是 {predicted}：前 {EARLY} 条日志根本到不了订阅者",
        )
    elif predicted == EARLY:
        title = say(
            f"Not {predicted}: it is the first {EARLY} that are lost, and the later {LATE} that arrive",
            f"不是 {predicted}：丢掉的是前 {EARLY} 条，到达的是后 {LATE} 条",
        )
    elif predicted == 0:
        title = say(
            f"Not 0: once its queue is bound, the subscriber gets the {LATE} later logs",
            f"不是 0：队列一绑定，订阅者就能收到后面的 {LATE} 条日志",
        )
    else:
        title = say(
            f"Not {predicted}: the subscriber receives {got}", f"不是 {predicted}：订阅者收到的是 {got} 条"
        )
    return wrong(title, evidence, why)
