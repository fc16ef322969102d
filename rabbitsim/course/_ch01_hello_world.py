"""Chapter 1, hello world: the checks of exercises 1.1 (get three messages to the receiver) and
1.2 (predict what redeclaring a queue does). Both run the learner's answer against the broker the
notebook uses, so they say what RabbitMQ itself did, on the simulator and on a real one alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika.exceptions

from rabbitsim.backends import BrokerHandle

from ._client import Call, RecordingChannel, as_bytes, cleanup, connect, describe
from ._feedback import Both, Feedback, commented, exercise, listed, right, say, wrong

__all__ = ["MESSAGES", "QUEUE", "REPLY_CODES", "all_three_arrive", "redeclare_puzzle"]

QUEUE = "hello"
MESSAGES = 3
RECEIVE_SECONDS = 5.0

# --- exercise 1.1 -----------------------------------------------------------------------------------


@dataclass
class _Sent:
    channel: RecordingChannel
    error: BaseException | None = None


def _run_sender(broker: BrokerHandle, send: Callable[[Any], object]) -> _Sent:
    with connect(broker, "send.py (exercise 1.1)") as connection:
        channel = connection.channel()
        sent = _Sent(RecordingChannel(channel))
        try:
            send(sent.channel)
            if channel.is_open:
                # A round trip: the broker has now read every publish, and if one of them closed
                # the channel (a missing exchange: 404), pika hears of it here, not later.
                channel.basic_qos(prefetch_count=0)
        except Exception as error:  # the learner's code: report it, never raise it
            sent.error = error
        return sent


def _receive(broker: BrokerHandle) -> tuple[list[bytes], BaseException | None]:
    """receive.py: declare 'hello' (both sides declare it), then consume what is there."""
    received: list[bytes] = []
    with connect(broker, "receive.py (exercise 1.1)") as connection:
        channel = connection.channel()
        try:
            waiting = channel.queue_declare(queue=QUEUE).method.message_count
        except pika.exceptions.ChannelClosedByBroker as error:
            return received, error

        def callback(_channel: Any, _method: Any, _properties: Any, body: bytes) -> None:
            received.append(body)

        channel.basic_consume(queue=QUEUE, on_message_callback=callback, auto_ack=True)
        deadline = time.monotonic() + RECEIVE_SECONDS
        while len(received) < waiting and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.05)
    return received, None


def _why_missing(index: int, call: Call, sent: _Sent) -> str:
    """Why the publish at position `index` of the sender's calls did not reach 'hello'."""
    body = as_bytes(call.get("body", b""))
    exchange, key = call.get("exchange", ""), call.get("routing_key", "")
    declared_at = [i for i, c in sent.channel.of("queue_declare") if c.get("queue") == QUEUE]
    if exchange != "":
        if sent.error is not None and f"no exchange '{exchange}'" in describe(sent.error):
            return say(
                f"{body!r} went to exchange {exchange!r}, which does not exist: RabbitMQ closed the "
                f"channel with 404 NOT_FOUND (pika only noticed at the next call). Hello world uses "
                f"the default exchange, exchange=''.",
                f"{body!r} 被发到了交换机 {exchange!r}，而这个交换机并不存在：RabbitMQ 以 404 NOT_FOUND "
                "关闭了信道（pika 到下一次调用时才发现）。Hello world 用的是默认交换机，exchange=''。",
            )
        return say(
            f"{body!r} went to exchange {exchange!r}: nothing there routes key {key!r} to 'hello'. "
            f"Hello world uses the default exchange, exchange='', which routes by queue name.",
            f"{body!r} 被发到了交换机 {exchange!r}：那里没有任何绑定把路由键 {key!r} 路由到 'hello'。"
            "Hello world 用的是默认交换机 exchange=''，它按队列名路由。",
        )
    if key != QUEUE:
        hint = ""
        if key.lower() == QUEUE.lower():
            hint = say(" Queue names are case-sensitive.", "队列名区分大小写。")
        elif key.strip() == QUEUE:
            hint = say(" Mind the spaces.", "注意空格。")
        return say(
            f"{body!r} had routing key {key!r}. The default exchange delivers to the queue whose "
            f"name is exactly the routing key; no queue is called {key!r}, so the message was "
            f"dropped without a word.{hint}",
            f"{body!r} 的路由键是 {key!r}。默认交换机只把消息投递给名字与路由键完全相同的队列；"
            f"没有哪个队列叫 {key!r}，所以这条消息被悄无声息地丢弃了。{hint}",
        )
    if not declared_at:
        return say(
            f"{body!r} was published before any queue 'hello' existed: your sender never declares "
            f"it (receive.py did, but only later). Unroutable messages are dropped silently. "
            f"That is why both programs declare the queue.",
            f"{body!r} 发布的时候，还没有任何名为 'hello' 的队列：你的发送方从来没有声明它"
            "（receive.py 声明了，但那是后来的事）。无法路由的消息会被悄悄丢弃。"
            "这正是收发两个程序都要声明这个队列的原因。",
        )
    if index < declared_at[0]:
        return say(
            f"{body!r} was published before your queue_declare(queue='hello'): at that moment the "
            f"queue did not exist, so the default exchange had nowhere to put it and dropped it "
            f"silently. Declare first, then publish.",
            f"{body!r} 是在你的 queue_declare(queue='hello') 之前发布的：那一刻队列还不存在，"
            "默认交换机无处可放，就把它悄悄丢弃了。先声明，再发布。",
        )
    if sent.error is not None:
        return say(
            f"{body!r} did not arrive: the channel had been closed by then.",
            f"{body!r} 没有到达：那时信道已经关闭了。",
        )
    return say(
        f"{body!r} did not arrive, and the check cannot tell why: compare it with the solution.",
        f"{body!r} 没有到达，检查程序也说不清原因：请和参考答案对照一下。",
    )


def _sender_error_note(sent: _Sent) -> list[str]:
    if sent.error is None:
        return []
    if isinstance(sent.error, pika.exceptions.ChannelClosedByBroker):
        return [
            say(
                f"RabbitMQ closed your sender's channel ({describe(sent.error)}); pika raised it at a "
                "later call of yours, and your function stopped there.",
                f"RabbitMQ 关闭了你的发送方的信道（{describe(sent.error)}）；pika 在你之后的某次调用中"
                "才抛出这个错误，你的函数就停在了那里。",
            )
        ]
    return [
        say(
            f"Your function raised {describe(sent.error)}; the check went on with what it had sent.",
            f"你的函数抛出了 {describe(sent.error)}；检查程序用它已经发出的消息接着检查。",
        )
    ]


@exercise(
    "1.1",
    Both("Make receive.py get all three messages", "让 receive.py 收到全部三条消息"),
    solution=commented(
        """def send(channel):
    channel.queue_declare(queue="hello")        # first: make sure the queue exists
    for body in [b"first", b"second", b"third"]:
        channel.basic_publish(exchange="", routing_key="hello", body=body)""",
        {
            "first: make sure the queue exists": "第一步：确保队列存在",
        },
    ),
    explanation=Both(
        "Declare the queue before publishing (declaring is idempotent, so it costs nothing if it "
        "exists), publish to the default exchange `''`, and use the queue's exact name as the "
        "routing key. A message the default exchange cannot route is dropped silently.",
        "先声明队列，再发布（声明是幂等的，队列已经存在时也没有任何代价）；发布到默认交换机 `''`；"
        "用队列的确切名字作为路由键。默认交换机路由不了的消息，会被悄悄丢弃。",
    ),
    hints=(
        Both(
            "Read the check's reasons one message at a time: each names what the broker did with it.",
            "检查给出的原因要一条一条地读：每一条都说明了消息代理把那条消息怎么样了。",
        ),
        Both(
            "Where does a message go when it is published to the default exchange before its queue exists?",
            "队列还不存在时就发布到默认交换机，消息会去哪里？",
        ),
    ),
)
def all_three_arrive(broker: BrokerHandle, send: Callable[[Any], object]) -> Feedback:
    """Run `send(channel)` as send.py on a broker without 'hello', then receive.py (which
    declares 'hello' and consumes it), and explain every message that did not arrive."""
    cleanup(broker, queues=[QUEUE])  # a fresh start, as on a new RabbitMQ
    try:
        sent = _run_sender(broker, send)
        received, receive_error = _receive(broker)
    finally:
        cleanup(broker, queues=[QUEUE])
    publishes = sent.channel.of("basic_publish")
    if receive_error is not None:
        declares = [c for _, c in sent.channel.of("queue_declare") if c.get("queue") == QUEUE]
        different = say(", ", "、").join(
            f"{name}={value!r}"
            for call in declares[:1]
            for name, value in call.arguments.items()
            if name not in ("queue", "callback") and value not in (False, None, {})
        ) or say("other properties", "其他属性")
        return wrong(
            say("receive.py could not even declare 'hello'", "receive.py 连 'hello' 都声明不了"),
            say(
                f"RabbitMQ answered its queue_declare(queue='hello') with {describe(receive_error)}.",
                f"对它的 queue_declare(queue='hello')，RabbitMQ 的回应是 {describe(receive_error)}。",
            ),
            say(
                f"Your sender declared 'hello' with {different}; receive.py declares "
                "a plain queue. Both sides must declare the queue with the same properties (exercise 1.2).",
                f"你的发送方声明 'hello' 时用了 {different}；receive.py 声明的是一个普通队列。"
                "收发双方必须用相同的属性声明这个队列（练习 1.2）。",
            ),
        )
    if not publishes:
        return wrong(
            say("Your function published nothing", "你的函数什么也没发布"),
            say(
                "Call channel.basic_publish(exchange='', routing_key='hello', body=...) three times.",
                "调用三次 channel.basic_publish(exchange='', routing_key='hello', body=...)。",
            ),
            *_sender_error_note(sent),
        )
    remaining = list(received)
    missing: list[tuple[int, Call]] = []
    for index, call in publishes:
        body = as_bytes(call.get("body", b""))
        if body in remaining:
            remaining.remove(body)
        else:
            missing.append((index, call))
    got = listed(received)
    if missing:
        return wrong(
            say(
                f"receive.py got {len(received)} of the {len(publishes)} messages you published ({got})",
                f"你发布了 {len(publishes)} 条消息，receive.py 收到了 {len(received)} 条（{got}）",
            ),
            *(_why_missing(index, call, sent) for index, call in missing),
            *_sender_error_note(sent),
        )
    if len(publishes) != MESSAGES:
        return wrong(
            say(
                f"Everything you published arrived, but that was {len(publishes)} message(s), not three",
                f"你发布的消息全都到了，但一共是 {len(publishes)} 条，而不是三条",
            ),
            say(
                f"receive.py got {got}. Publish exactly three.", f"receive.py 收到了 {got}。请正好发布三条。"
            ),
            *_sender_error_note(sent),
        )
    if sent.error is not None:  # the work was done, but whoever runs send.py sees it fail
        return wrong(
            say(
                f"All three arrived ({got}), but then your function raised {describe(sent.error)}",
                f"三条都到了（{got}），但随后你的函数抛出了 {describe(sent.error)}",
            ),
            say(
                "Whoever runs send.py sees it fail, and would send the three again. Find the line that "
                "raised (the error above names it) and fix it.",
                "运行 send.py 的人会看到它失败，很可能把这三条再发一遍。找到抛出错误的那一行"
                "（上面的错误信息指出了它），把它修好。",
            ),
        )
    return right(
        say(f"receive.py got all three: {got}", f"receive.py 三条全收到了：{got}"),
        say(
            "The queue existed before the first publish, and every routing key named it exactly.",
            "第一次发布之前，队列就已经存在，而且每个路由键都一字不差地写出了它的名字。",
        ),
        say(
            "Both programs declare 'hello', so it no longer matters which one starts first.",
            "两个程序都声明了 'hello'，所以谁先启动都无所谓了。",
        ),
    )


# --- exercise 1.2 -----------------------------------------------------------------------------------

#: what each reply code a learner might guess means, to explain a wrong guess
REPLY_CODES = {
    403: Both(
        "403 ACCESS_REFUSED is for things you may not do at all (such as declaring an 'amq.' name)",
        "403 ACCESS_REFUSED 表示这件事你根本无权去做（比如声明以 'amq.' 开头的名字）",
    ),
    404: Both(
        "404 NOT_FOUND is for naming something that does not exist (a passive declare, a missing exchange)",
        "404 NOT_FOUND 表示你指名的东西不存在（被动声明、不存在的交换机）",
    ),
    405: Both(
        "405 RESOURCE_LOCKED is for another connection's exclusive queue (or a changed exclusive flag)",
        "405 RESOURCE_LOCKED 表示队列是另一个连接的排他队列（或者 exclusive 标志变了）",
    ),
    406: Both(
        "406 PRECONDITION_FAILED is for a request that contradicts what exists",
        "406 PRECONDITION_FAILED 表示请求与已存在的东西相矛盾",
    ),
}


@dataclass(frozen=True, slots=True)
class _Outcome:
    same_again: str | int
    durable: str | int
    name: str
    text: str
    channel_open: bool


def _declare_twice(broker: BrokerHandle) -> _Outcome:
    cleanup(broker, queues=[QUEUE])
    try:
        with connect(broker, "exercise 1.2") as connection:
            channel = connection.channel()
            channel.queue_declare(queue=QUEUE)
            same_again: str | int = "ok"
            try:
                channel.queue_declare(queue=QUEUE)
            except pika.exceptions.ChannelClosedByBroker as error:
                same_again = error.reply_code
                channel = connection.channel()
            durable: str | int = "ok"
            text = ""
            try:
                channel.queue_declare(queue=QUEUE, durable=True)
            except pika.exceptions.ChannelClosedByBroker as error:
                durable, text = error.reply_code, error.reply_text
            return _Outcome(same_again, durable, text.split(" - ")[0], text, channel.is_open)
    finally:
        cleanup(broker, queues=[QUEUE])


def _as_answer(value: Any) -> str | int | None:
    """'ok', a reply code, or None when the prediction is not one of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "ok":
            return "ok"
        if value.strip().isdigit():
            return int(value.strip())
    return None


def _code_line(what: str, predicted: Any, actual: str | int, text: str) -> tuple[bool, str]:
    guess = _as_answer(predicted)
    said = (
        "ok" if actual == "ok" else say(f"{actual} ({text})", f"{actual}（{text}）") if text else str(actual)
    )
    if guess == actual:
        return True, say(f"{what}: {said}, as you predicted.", f"{what}：{said}，和你预测的一样。")
    if guess is None:
        return (
            False,
            say(
                f"{what}: your prediction {predicted!r} is neither 'ok' nor a reply code. RabbitMQ: {said}.",
                f"{what}：你的预测 {predicted!r} 既不是 'ok'，也不是回复码。RabbitMQ 的结果：{said}。",
            ),
        )
    if actual == "ok":
        return False, say(
            f"{what}: you predicted {guess}, but RabbitMQ said ok. A declare that matches the queue "
            "as it is changes nothing and succeeds: declaring is idempotent, which is why send.py and "
            "receive.py can both do it.",
            f"{what}：你预测的是 {guess}，但 RabbitMQ 的回答是 ok。与队列现状一致的声明什么也不改变，"
            "会直接成功：声明是幂等的，所以 send.py 和 receive.py 都可以声明它。",
        )
    if guess == "ok":
        return False, say(
            f"{what}: you predicted ok (what the blog quoted in the study notes claimed: the second "
            f"declare 'succeeds, but the properties are not changed'). RabbitMQ refuses instead: {said}.",
            f"{what}：你预测的是 ok（学习笔记引用的那篇博客就是这么说的：第二次声明“该操作虽然成功，"
            f"但是queue的属性并不会被修改”）。实际上 RabbitMQ 拒绝了：{said}。",
        )
    meaning = REPLY_CODES.get(
        int(guess), Both(f"{guess} is not what RabbitMQ uses here", f"RabbitMQ 在这里用的不是 {guess}")
    )
    return False, say(
        f"{what}: you predicted {guess}, but RabbitMQ said {said}. {meaning}.",
        f"{what}：你预测的是 {guess}，但 RabbitMQ 的回答是 {said}。{meaning}。",
    )


@exercise(
    "1.2",
    Both("Predict what declaring 'hello' again does", "预测再次声明 'hello' 会发生什么"),
    solution=commented(
        """course.EXERCISES["1.2"](
    broker,
    same_again="ok",              # an equivalent declare is idempotent
    durable=406,                  # a different durable flag contradicts the queue that exists
    name="PRECONDITION_FAILED",
    channel_open=False,           # a soft error closes the channel (not the connection)
)""",
        {
            "an equivalent declare is idempotent": "等价的声明是幂等的",
            "a different durable flag contradicts the queue that exists": (
                "不同的 durable 标志与已存在的队列相矛盾"
            ),
            "a soft error closes the channel (not the connection)": "软错误关闭的是信道（而不是连接）",
        },
    ),
    explanation=Both(
        "Declaring a queue that exists with the same properties is a no-op that succeeds. With a "
        "different `durable`, `exclusive`, `auto_delete` or `arguments`, RabbitMQ refuses with "
        "406 PRECONDITION_FAILED ('inequivalent arg ...') and closes the channel; the connection "
        "stays open, so open a new channel to go on.",
        "用相同的属性声明一个已存在的队列，什么也不会发生，直接成功。只要 `durable`、`exclusive`、"
        "`auto_delete` 或 `arguments` 有一项不同，RabbitMQ 就会以 406 PRECONDITION_FAILED"
        "（'inequivalent arg ...'）拒绝，并关闭信道；连接仍然打开，所以新开一个信道就能继续。",
    ),
    hints=(
        Both(
            "The study notes measured it: 'my test gave 406, PRECONDITION_FAILED'.",
            "学习笔记实测过：“在我的测试中……将报类似这种错 406, PRECONDITION_FAILED”。",
        ),
        Both(
            "Soft errors (4xx) close the channel; hard errors (5xx) close the whole connection.",
            "软错误（4xx）关闭信道；硬错误（5xx）关闭整个连接。",
        ),
    ),
)
def redeclare_puzzle(
    broker: BrokerHandle,
    *,
    same_again: Any = None,
    durable: Any = None,
    name: Any = None,
    channel_open: Any = None,
) -> Feedback:
    """After `queue_declare(queue='hello')`: what does declaring it again the same way do
    (`same_again`: 'ok' or a reply code), and declaring it with durable=True (`durable`), what is
    the error's `name`, and is the channel still open (`channel_open`)? The check declares it
    on `broker` and compares."""
    outcome = _declare_twice(broker)
    lines: list[tuple[bool, str]] = [
        _code_line(
            say("Declaring it again the same way", "用同样的方式再声明一次"),
            same_again,
            outcome.same_again,
            "",
        ),
        _code_line(
            say("Declaring it again with durable=True", "用 durable=True 再声明一次"),
            durable,
            outcome.durable,
            outcome.text,
        ),
    ]
    if not outcome.name:
        lines.append(
            (name in (None, ""), say("There was no error, so no name.", "没有出错，所以也没有错误名。"))
        )
    elif isinstance(name, str) and name.strip().upper() == outcome.name:
        lines.append(
            (True, say(f"The error's name: {outcome.name}, right.", f"错误名：{outcome.name}，对了。"))
        )
    else:
        lines.append(
            (
                False,
                say(
                    f"The error's name: you said {name!r}; RabbitMQ's reply text starts with "
                    f"{outcome.name!r}. Every reply text is 'NAME - explanation'.",
                    f"错误名：你说的是 {name!r}；RabbitMQ 的回复文本以 {outcome.name!r} 开头。"
                    "每条回复文本的格式都是“名称 - 说明”。",
                ),
            )
        )
    if not isinstance(channel_open, bool):
        lines.append(
            (
                False,
                say(
                    f"channel_open should be True or False, not {channel_open!r}.",
                    f"channel_open 应该是 True 或 False，而不是 {channel_open!r}。",
                ),
            )
        )
    elif channel_open == outcome.channel_open:
        lines.append(
            (
                True,
                say(
                    f"Channel still open afterwards: {outcome.channel_open}, right.",
                    f"之后信道是否仍然打开：{outcome.channel_open}，对了。",
                ),
            )
        )
    else:
        lines.append(
            (
                False,
                say(
                    f"Channel still open afterwards: you said {channel_open}, it is {outcome.channel_open}. "
                    + (
                        "A 4xx reply is a soft error: RabbitMQ closes the channel that asked (the "
                        "connection and its other channels live on). Open a new channel to go on."
                        if not outcome.channel_open
                        else "Nothing went wrong, so nothing was closed."
                    ),
                    f"之后信道是否仍然打开：你说的是 {channel_open}，实际是 {outcome.channel_open}。"
                    + (
                        "4xx 回复是软错误：RabbitMQ 关闭发出请求的那个信道（连接及其上的其他信道照常工作）。"
                        "新开一个信道就能继续。"
                        if not outcome.channel_open
                        else "什么都没出错，所以什么也没关闭。"
                    ),
                ),
            )
        )
    wrong_lines = [text for ok, text in lines if not ok]
    if wrong_lines:
        return wrong(
            say(
                f"{len(wrong_lines)} of your {len(lines)} predictions differ from what RabbitMQ did",
                f"你的 {len(lines)} 个预测里，有 {len(wrong_lines)} 个与 RabbitMQ 的实际结果不符",
            ),
            *wrong_lines,
            *(text for ok, text in lines if ok),
        )
    return right(
        say("All four predictions match what RabbitMQ did", "四个预测都与 RabbitMQ 的实际结果相符"),
        *(text for _, text in lines),
        say(
            "To change a queue's properties, delete it (channel.queue_delete('hello'), or "
            "rabbitmqctl delete_queue hello) and declare it anew, or use another name.",
            "要改变队列的属性，得先删除它（channel.queue_delete('hello')，或者 "
            "rabbitmqctl delete_queue hello），再重新声明；要么就换个名字。",
        ),
    )
