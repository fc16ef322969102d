"""Chapter 4, routing: the exercise checks. Each routes the tutorial's severities through a
direct exchange on the broker in use, with the learner's bindings, and explains the outcome
message by message.

    course.EXERCISES["4.1"](broker, ["warning", "error"])     # the disk subscriber's binding keys
    course.EXERCISES["4.2"](broker, {"disk": 2, ...})         # a prediction about many bindings

The checks declare exchanges of their own (`exercise-4.x-…`) and exclusive queues, and delete
them before returning, so they neither see nor disturb the notebook's 'direct_logs'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pika.exceptions

from rabbitsim.backends import BrokerHandle

from ._client import route
from ._feedback import Both, Feedback, and_joined, commented, exercise, listed, plural, right, say, wrong

__all__ = [
    "DISK_WANTS",
    "PUZZLE_BINDINGS",
    "PUZZLE_MESSAGES",
    "SEVERITY_LOGS",
    "check_disk_keys",
    "check_puzzle",
]

#: What emit_log_direct.py sends in this chapter: (routing key = severity, body).
SEVERITY_LOGS = (
    ("info", "info: Hello World!"),
    ("warning", "warning: disk 91% full"),
    ("error", "error: disk full"),
)
#: The severities the disk subscriber should keep.
DISK_WANTS = ("warning", "error")


@dataclass(frozen=True)
class Routed:
    """A message the check published, and the queues (by label) that received it."""

    routing_key: str
    body: str
    queues: tuple[str, ...]


def route_through(
    broker: BrokerHandle, bindings: Mapping[str, list[str]], messages: list[tuple[str, str]], what: str
) -> list[Routed]:
    """On the broker: a direct exchange of the check's own, one exclusive queue per label bound
    with its keys (in order, repeats included), then `messages` published with confirms. Returns
    where each message went, read back from the queues."""
    held = route(broker, "direct", bindings, messages, what)
    return [
        Routed(key, body, tuple(label for label in bindings if body in held[label])) for key, body in messages
    ]


# --- 4.1: the disk subscriber's binding keys ---------------------------------------------------


def _keys_of(answer: Any) -> tuple[list[str], list[str]]:
    """The binding keys in an answer, and remarks about its form (a string is one key)."""
    if isinstance(answer, str):
        return [answer], [
            say(
                f"You gave one string, {answer!r}: that is one binding key. Give a list, one key per "
                "queue_bind call, e.g. ['a', 'b'].",
                f"你给的是一个字符串 {answer!r}：那只是一个绑定键。请给出一个列表，"
                "每次 queue_bind 调用对应其中一个键，例如 ['a', 'b']。",
            )
        ]
    try:
        keys = list(answer)
    except TypeError:
        return [], [
            say(
                f"Give the binding keys as a list of strings, not {answer!r}.",
                f"请用字符串列表给出绑定键，而不是 {answer!r}。",
            )
        ]
    bad = [key for key in keys if not isinstance(key, str)]
    if bad:
        return [], [
            say(
                f"Binding keys are strings; {bad!r} {'is' if len(bad) == 1 else 'are'} not.",
                f"绑定键是字符串；{bad!r} 不是。",
            )
        ]
    return keys, []


def _why_key_matched_nothing(key: str, severities: list[str]) -> str:
    lowered = [s for s in severities if s.lower() == key.strip().lower()]
    if lowered and key != lowered[0]:
        return say(
            f"Binding key {key!r} matched nothing: a direct exchange compares keys exactly, "
            f"character by character, so {key!r} is not {lowered[0]!r}.",
            f"绑定键 {key!r} 什么也没匹配上：直连交换机逐个字符地精确比较键，"
            f"所以 {key!r} 和 {lowered[0]!r} 不是同一个键。",
        )
    if "*" in key or "#" in key:
        return say(
            f"Binding key {key!r} matched nothing: '*' and '#' are wildcards only in a topic "
            "exchange (chapter 5). A direct exchange takes them literally.",
            f"绑定键 {key!r} 什么也没匹配上：'*' 和 '#' 只有在主题交换机（第 5 章）里才是通配符，"
            "直连交换机只把它们当作普通字符。",
        )
    if any(sep in key for sep in (" ", ",")) and any(s in key for s in severities):
        return say(
            f"Binding key {key!r} matched nothing: it is one key, not a list. receive_logs_direct.py "
            "binds once per severity: queue_bind(..., routing_key=severity) in a loop.",
            f"绑定键 {key!r} 什么也没匹配上：它是一个键，而不是一个列表。receive_logs_direct.py "
            "为每个严重级别各绑定一次：在循环里调用 queue_bind(..., routing_key=severity)。",
        )
    return say(
        f"Binding key {key!r} matched nothing: no message is published with that routing key.",
        f"绑定键 {key!r} 什么也没匹配上：没有哪条消息是用这个路由键发布的。",
    )


@exercise(
    "4.1",
    Both(
        "Choose the binding keys so that the disk subscriber gets only warnings and errors",
        "选好绑定键，让磁盘订阅者只收到警告和错误",
    ),
    solution=commented(
        """course.EXERCISES["4.1"](broker, ["warning", "error"])

# which is what receive_logs_direct.py does for `python receive_logs_direct.py warning error`:
for severity in ["warning", "error"]:
    channel.queue_bind(exchange="direct_logs", queue=queue_name, routing_key=severity)""",
        {
            "which is what receive_logs_direct.py does for `python receive_logs_direct.py warning error`:": (
                "运行 `python receive_logs_direct.py warning error` 时，"
                "receive_logs_direct.py 做的正是这件事："
            ),
        },
    ),
    explanation=Both(
        "A direct exchange delivers a message to every queue bound with a binding key equal to "
        "the message's routing key. One binding per severity to keep: 'warning' and 'error'. "
        "No binding for 'info', so info messages never reach this queue.",
        "直连交换机把消息投递给每一个绑定键与消息路由键相同的队列。要保留的严重级别各绑定一次："
        "'warning' 和 'error'。不为 'info' 建绑定，info 消息就永远到不了这个队列。",
    ),
    hints=(
        Both(
            "One binding key per severity the disk should keep; a queue can have several bindings.",
            "磁盘要保留的每个严重级别各用一个绑定键；一个队列可以有多个绑定。",
        ),
        Both(
            "Keys are compared exactly: 'error' is not 'Error', and '#' is not a wildcard here.",
            "键是精确比较的：'error' 不是 'Error'，'#' 在这里也不是通配符。",
        ),
    ),
)
def check_disk_keys(broker: BrokerHandle, binding_keys: Any) -> Feedback:
    """Bind a queue with `binding_keys` to a direct exchange on the broker, publish one log of
    each severity, and compare what the queue got with warning and error."""
    keys, remarks = _keys_of(binding_keys)
    if not keys and remarks:
        return wrong(say("That is not a list of binding keys", "这不是一个绑定键列表"), *remarks)
    try:
        routed = route_through(broker, {"disk": keys}, list(SEVERITY_LOGS), "4.1")
    except pika.exceptions.ChannelClosedByBroker as error:
        return wrong(
            say(
                f"The broker refused these binding keys: {error.reply_code} {error.reply_text}",
                f"消息代理拒绝了这些绑定键：{error.reply_code} {error.reply_text}",
            ),
            say(
                "A binding key is a short string (at most 255 bytes), one per queue_bind call.",
                "绑定键是一个短字符串（最多 255 字节），每次 queue_bind 调用用一个。",
            ),
        )
    missed = [m for m in routed if m.routing_key in DISK_WANTS and "disk" not in m.queues]
    extra = [m for m in routed if m.routing_key not in DISK_WANTS and "disk" in m.queues]
    severities = [key for key, _body in SEVERITY_LOGS]
    details = [*remarks]
    for message in missed:
        body, key = message.body, message.routing_key
        details.append(
            say(
                f"It would miss {body!r} (routing key {key!r}): none of its binding keys is {key!r}.",
                f"它会漏掉 {body!r}（路由键 {key!r}）：它的绑定键里没有 {key!r}。",
            )
        )
    for message in extra:
        body, key = message.body, message.routing_key
        details.append(
            say(
                f"It would wrongly get {body!r} (routing key {key!r}), through binding key {key!r}.",
                f"它会错误地收到 {body!r}（路由键 {key!r}），经由的是绑定键 {key!r}。",
            )
        )
    unused = list(dict.fromkeys(key for key in keys if key not in severities))
    details.extend(_why_key_matched_nothing(key, severities) for key in unused)
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        details.append(
            say(
                f"Binding {listed(repeated)} more than once adds nothing: it is the same binding, "
                "and a message enters a queue once.",
                f"把 {listed(repeated)} 绑定不止一次，什么作用也没有：那是同一个绑定，"
                "而且同一条消息只会进入同一个队列一次。",
            )
        )
    got = [m.body for m in routed if "disk" in m.queues]
    if not missed and not extra:
        return right(
            say(
                f"With binding keys {keys!r} the disk subscriber gets exactly {listed(got)}",
                f"用绑定键 {keys!r}，磁盘订阅者收到的恰好是 {listed(got)}",
            ),
            *details,
            say(
                "Info messages reach no binding of this queue; the screen subscriber, bound with "
                "'info' too, still gets them.",
                "info 消息匹配不到这个队列的任何绑定；屏幕订阅者还绑定了 'info'，所以照样能收到它们。",
            ),
        )
    would = and_joined(
        say(f"miss {plural(len(missed), 'message')}", f"漏掉 {plural(len(missed), 'message', '条消息')}")
        if missed
        else "",
        say(f"wrongly get {len(extra)}", f"错误地收到 {len(extra)} 条") if extra else "",
    )
    return wrong(
        say(
            f"With binding keys {keys!r} the disk subscriber would {would}",
            f"用绑定键 {keys!r}，磁盘订阅者会{would}",
        ),
        *details,
    )


# --- 4.2: many bindings ------------------------------------------------------------------------

#: The puzzle's queues and their binding keys, in the order they are bound.
PUZZLE_BINDINGS: dict[str, list[str]] = {
    "disk": ["error"],
    "screen": ["info", "warning", "error"],
    "pager": ["error", "error"],
}
#: What emit_log_direct.py publishes in the puzzle, in order.
PUZZLE_MESSAGES = [
    ("info", "info: user logged in"),
    ("warning", "warning: disk 91% full"),
    ("error", "error: disk full"),
    ("debug", "debug: cache hit"),
    ("error", "error: cannot write log"),
]
DROPPED = "dropped"


def _reason(label: str, keys: list[str], routed: list[Routed]) -> str:
    held = [m for m in routed if label in m.queues]
    unique = list(dict.fromkeys(keys))
    text = say(
        f"it is bound with {listed(unique)}, so it takes every message whose routing key is one of those",
        f"它绑定了 {listed(unique)}，所以路由键是其中任何一个的消息，它都会接收",
    )
    if len(keys) > len(unique):
        text = say(
            f"it is bound with {listed(keys)}: the second queue_bind with the same key changes "
            "nothing (a binding is exchange + queue + key, and that one exists already), and a "
            "message enters a queue at most once",
            f"它绑定了 {listed(keys)}：用同一个键第二次调用 queue_bind 不会改变任何东西"
            "（绑定由交换机 + 队列 + 键组成，而这个绑定已经存在），而且同一条消息最多进入同一个队列一次",
        )
    skipped = sorted({m.routing_key for m in routed if label not in m.queues})
    also = (
        say(
            f"; {listed(skipped)} {'matches' if len(skipped) == 1 else 'match'} none of its keys",
            f"；{listed(skipped)} 与它的任何一个键都不匹配",
        )
        if skipped
        else ""
    )
    bodies = listed([m.body for m in held])
    return say(
        f"{label} holds {len(held)} ({bodies}): {text}{also}.",
        f"{label} 里有 {len(held)} 条（{bodies}）：{text}{also}。",
    )


@exercise(
    "4.2",
    Both(
        "Predict how many messages each queue holds when queues share and repeat binding keys",
        "几个队列共用绑定键、还有重复的绑定键：预测每个队列里有几条消息",
    ),
    solution='course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 4, "pager": 2, "dropped": 1})',
    explanation=Both(
        "disk (bound with 'error') gets the two errors. screen (info, warning, error) gets "
        "everything but the debug message: 4. pager is bound with 'error' twice, but that is one "
        "binding, and each error enters it once: 2. Three queues bound with 'error' each get their "
        "own copy of every error, as with a fanout. 'debug' matches no binding anywhere, so it is "
        "dropped: 1.",
        "disk（绑定了 'error'）收到两条错误。screen（info、warning、error）收到除 debug 消息以外的"
        "所有消息：4 条。pager 用 'error' 绑定了两次，但那只是一个绑定，每条错误只进入它一次：2 条。"
        "绑定了 'error' 的三个队列，每条错误各得一份副本，和扇出交换机一样。'debug' 在哪里都"
        "匹配不到绑定，所以被丢弃：1 条。",
    ),
    hints=(
        Both(
            "Go message by message: which queues have a binding key equal to its routing key?",
            "一条消息一条消息地看：哪些队列有与它的路由键相同的绑定键？",
        ),
        Both("Binding the same key twice is still one binding.", "同一个键绑定两次，仍然只是一个绑定。"),
    ),
)
def check_puzzle(broker: BrokerHandle, prediction: Any) -> Feedback:
    """Build the puzzle on the broker, publish its messages, count what each queue holds and
    what was dropped (returned as unroutable), and compare with the prediction."""
    if not isinstance(prediction, Mapping):
        return wrong(
            say("Give your prediction as a dict", "请用一个 dict 给出你的预测"),
            say(
                'e.g. {"disk": 0, "screen": 0, "pager": 0, "dropped": 0}: a count per queue, and one for '
                "the messages dropped.",
                '例如 {"disk": 0, "screen": 0, "pager": 0, "dropped": 0}：每个队列一个数，'
                "被丢弃的消息也有一个数。",
            ),
        )
    routed = route_through(broker, PUZZLE_BINDINGS, PUZZLE_MESSAGES, "4.2")
    actual = {label: sum(label in m.queues for m in routed) for label in PUZZLE_BINDINGS}
    dropped = [m for m in routed if not m.queues]
    actual[DROPPED] = len(dropped)
    unknown = [key for key in prediction if key not in actual]
    missing = [key for key in actual if key not in prediction]
    details: list[str] = []
    if unknown:
        names = listed([str(k) for k in unknown])
        details.append(
            say(f"There is no queue called {names} in the puzzle.", f"这道题里没有叫 {names} 的队列。")
        )
    if missing:
        details.append(say(f"Add a count for {listed(missing)}.", f"请补上 {listed(missing)} 的数量。"))
    for label, keys in PUZZLE_BINDINGS.items():
        if label in prediction and prediction[label] != actual[label]:
            reason = _reason(label, keys, routed)
            details.append(
                say(
                    f"{label}: you said {prediction[label]!r}, but {reason}",
                    f"{label}：你说的是 {prediction[label]!r}，但 {reason}",
                )
            )
    if DROPPED in prediction and prediction[DROPPED] != actual[DROPPED]:
        bodies, unbound = listed([m.body for m in dropped]), listed(sorted({m.routing_key for m in dropped}))
        details.append(
            say(
                f"dropped: you said {prediction[DROPPED]!r}, but {actual[DROPPED]} "
                f"({bodies}) reached no queue: no queue is bound with "
                f"{unbound}, and an exchange keeps nothing.",
                f"dropped：你说的是 {prediction[DROPPED]!r}，但有 {actual[DROPPED]} 条（{bodies}）"
                f"没有进入任何队列：没有哪个队列绑定了 {unbound}，而交换机什么也不保留。",
            )
        )
    if details:
        right_ones = [k for k in actual if k in prediction and prediction[k] == actual[k]]
        if right_ones:
            counts = say(", ", "、").join(f"{k} {actual[k]}" for k in right_ones)
            details.append(say(f"Right: {counts}.", f"预测正确的：{counts}。"))
        return wrong(
            say(
                "Not quite: here is what the broker did with the five messages",
                "还不太对：下面是消息代理对这五条消息的实际处理",
            ),
            *details,
        )
    counts = say(", ", "、").join(f"{k} {v}" for k, v in actual.items())
    return right(
        say(f"Exactly what the broker did: {counts}", f"和消息代理的实际处理完全一致：{counts}"),
        say(
            "Every queue bound with 'error' got its own copy of each error: one binding key on "
            "several queues broadcasts, like a fanout.",
            "每个绑定了 'error' 的队列都得到了每条错误的一份副本：同一个绑定键用在多个队列上，"
            "就能像扇出交换机那样广播。",
        ),
        say(
            "pager's second 'error' binding added nothing: a message enters a queue at most once.",
            "pager 的第二个 'error' 绑定没有起任何作用：同一条消息最多进入同一个队列一次。",
        ),
        say(
            "'debug' matched no binding, so the exchange dropped it.",
            "'debug' 匹配不到任何绑定，所以交换机把它丢弃了。",
        ),
    )
