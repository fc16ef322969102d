"""Chapter 6, RPC: the checks of exercises 6.1 (a client with several calls in flight takes only
the replies it waits for) and 6.2 (which correlation ids let a client tell replies apart).

6.1 feeds replies to the learner's `on_response`, as pika would: a duplicate of an answered
call (its server died after replying and before acking), a late reply to a call given up, a
message without a correlation id, replies out of order. After each, the client's `responses`
is compared with what it should hold, and every difference is told as what it would do to the
client. No broker is needed: the replies are what the broker would deliver, made up exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pika
import pika.spec

from ._feedback import Both, Feedback, commented, exercise, right, say, wrong

__all__ = ["PENDING", "REPLIES", "SCHEMES", "check_correlation_ids", "check_on_response"]

CALLBACK_QUEUE = "amq.gen-JzTY20BRgKO-HjmUJj0wLg"


class _Channel:
    """What `on_response` gets as `ch`: records what it is asked to do. The client consumes its
    callback queue with auto_ack=True, so anything it sends back about a delivery is a mistake."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append(name)

        return record


@dataclass(frozen=True)
class _Reply:
    correlation_id: str | None
    body: bytes
    what: Both  # what this reply is, for the learner (a noun phrase)
    #: how `responses` should look afterwards (None: unchanged)
    fills: str | None = None


#: the calls in flight when the replies start arriving: c2 and c3 (c1 returned, c0 timed out)
PENDING = ("c2", "c3")

REPLIES = (
    _Reply(
        "c1",
        b"5",
        Both(
            "the duplicate reply to c1, a call that has returned (its server died after replying and "
            "before acking, so the request was redelivered and answered again)",
            "对 c1 的重复回复（c1 这次调用已经返回；它的服务器在回复之后、发送消息确认之前崩溃了，"
            "于是请求被重新投递，又得到了一次回答）",
        ),
    ),
    _Reply(
        "c3",
        b"21",
        Both(
            "the reply to c3 (replies need not come in the order of the calls)",
            "对 c3 的回复（回复不一定按调用的顺序到达）",
        ),
        fills="c3",
    ),
    _Reply(
        None, b"hello", Both("a message with no correlation_id at all", "一条根本没有 correlation_id 的消息")
    ),
    _Reply("c2", b"13", Both("the reply to c2", "对 c2 的回复"), fills="c2"),
    _Reply(
        "c3",
        b"21",
        Both(
            "the same reply to c3 once more (a duplicate, before call_many has collected c3)",
            "又一条对 c3 的相同回复（重复回复，此时 call_many 还没有取走 c3 的结果）",
        ),
    ),
    _Reply(
        "c0",
        b"2",
        Both(
            "the late reply to c0, a call that timed out and was given up (no server was running; one "
            "started later and answered it)",
            "对 c0 的迟到回复（c0 这次调用已经超时并被放弃：当时没有服务器在运行，后来启动的一个服务器"
            "回答了它）",
        ),
    ),
)


def _function(answer: Any) -> Callable[..., Any] | None:
    """The on_response to test: a function, a method of a class, or a bound method."""
    if isinstance(answer, type):
        answer = getattr(answer, "on_response", None)
    if inspect.ismethod(answer):
        answer = answer.__func__
    return answer if callable(answer) else None


def _same(stored: Any, body: bytes) -> bool:
    """A reply stored as the client received it, decoded, or already as a number."""
    if isinstance(stored, bytes | bytearray):
        return bytes(stored) == body
    if isinstance(stored, str):
        return stored == body.decode()
    if isinstance(stored, int) and not isinstance(stored, bool):
        return str(stored) == body.decode()
    return False


_SIGNATURE = "def on_response(self, ch, method, props, body): ..."
_CALL = 'course.EXERCISES["6.1"](on_response)'


def _shown(responses: dict[Any, Any]) -> str:
    return "{" + ", ".join(f"{key!r}: {value!r}" for key, value in responses.items()) + "}"


@exercise(
    "6.1",
    Both(
        "Make on_response take only the replies the client is waiting for",
        "让 on_response 只接收客户端正在等待的回复",
    ),
    solution=commented(
        """def on_response(self, ch, method, props, body):
    if props.correlation_id in self.responses:   # a call we are waiting for
        self.responses[props.correlation_id] = body
    # anything else is a duplicate or a late reply: ignore it (log it, if you like)

course.EXERCISES["6.1"](on_response)""",
        {
            "a call we are waiting for": "一个我们正在等待的调用",
            "anything else is a duplicate or a late reply: ignore it (log it, if you like)": (
                "其余的都是重复回复或迟到的回复：忽略即可（愿意的话，可以记一条日志）"
            ),
        },
    ),
    explanation=Both(
        "`responses` holds exactly the calls in flight, so it doubles as the list of correlation "
        "ids to accept. A duplicate of a call that returned, or the late reply to a call given "
        "up, finds no entry and is dropped; a reply without a correlation id too (`None` is not "
        "a key). Never raise in a pika callback: the exception would come out of "
        "`process_data_events` and end the call that was waiting.",
        "`responses` 里恰好是所有进行中的调用，所以它同时也是应当接受的 correlation id 清单。"
        "已经返回的调用收到的重复回复、已经放弃的调用收到的迟到回复，都在其中找不到条目，于是被丢弃；"
        "没有 correlation id 的回复也一样（`None` 不是其中的键）。绝不要在 pika 回调里抛出异常："
        "异常会从 `process_data_events` 里冒出来，让正在等待的那次调用失败。",
    ),
    hints=(
        Both(
            "Which correlation ids should be accepted? Exactly the keys of `self.responses`.",
            "应当接受哪些 correlation id？正好是 `self.responses` 的那些键。",
        ),
        Both(
            "Test with `in`, and do nothing otherwise: no exception, no ack (the client uses auto_ack).",
            "用 `in` 判断，不在其中就什么也不做：不抛异常，也不 ack（客户端用的是 auto_ack）。",
        ),
    ),
)
def check_on_response(on_response: Any = None) -> Feedback:
    """`on_response(self, ch, method, props, body)` for a client whose `self.responses` maps the
    correlation id of every call in flight to None, until its reply is stored there."""
    function = _function(on_response)
    if function is None:
        return wrong(
            say("Pass your on_response function", "把你的 on_response 函数传进来"),
            say(f"{_SIGNATURE}  then  {_CALL}", f"{_SIGNATURE}  然后  {_CALL}"),
        )
    client = SimpleNamespace(responses=dict.fromkeys(PENDING), callback_queue=CALLBACK_QUEUE)
    expected: dict[Any, Any] = dict.fromkeys(PENDING)
    channel = _Channel()
    problems: list[str] = []
    for tag, reply in enumerate(REPLIES, start=1):
        method = pika.spec.Basic.Deliver("ctag1.rpc-client", tag, False, "", CALLBACK_QUEUE)
        properties = pika.BasicProperties(correlation_id=reply.correlation_id)
        if reply.fills is not None:
            expected[reply.fills] = reply.body
        before = dict(client.responses) if isinstance(client.responses, dict) else None
        try:
            function(client, channel, method, properties, reply.body)
        except Exception as error:
            what, raised = str(reply.what), f"{type(error).__name__}: {error}"
            problems.append(
                say(
                    f"on {what}: raised {raised}. In pika, an exception in a consumer callback comes out "
                    "of process_data_events, so the call waiting for its answer fails instead; ignore what "
                    "you do not expect",
                    f"收到{what}时：抛出了 {raised}。在 pika 里，消费者回调抛出的异常会从 "
                    "process_data_events 里冒出来，结果正在等待答案的那次调用反而失败了；意料之外的回复，"
                    "忽略即可",
                )
            )
            client.responses = dict(expected)
            continue
        problems.extend(_differences(reply, before, client.responses, expected))
        client.responses = dict(expected)  # judge the next reply on its own
    acks = sorted(set(channel.calls))
    if acks:
        called = ", ch.".join(acks)
        problems.append(
            say(
                f"called ch.{called}: the client consumes its callback queue with auto_ack=True, so the "
                "broker knows no delivery tag to settle; an ack would close the channel with 406 "
                "PRECONDITION_FAILED (unknown delivery tag)",
                f"调用了 ch.{called}：客户端以 auto_ack=True 消费它的回调队列，broker 那边没有需要确认的"
                "投递标签；一次 ack 会让信道以 406 PRECONDITION_FAILED (unknown delivery tag) 关闭",
            )
        )
    if problems:
        count = "1 thing" if len(problems) == 1 else f"{len(problems)} things"
        return wrong(
            say(f"on_response gets {count} wrong", f"on_response 有 {len(problems)} 处错误"), *problems
        )
    return right(
        say(
            "on_response takes exactly the replies the client waits for",
            "on_response 只接收客户端正在等待的回复，一条不多，一条不少",
        ),
        say("kept the replies to c2 and c3, whichever came first", "保留了对 c2 和 c3 的回复，不论哪条先到"),
        say(
            "ignored the duplicate answer to c1 and the late answer to c0 (their calls are over), "
            "and the message with no correlation_id",
            "忽略了对 c1 的重复回答和对 c0 的迟到回答（这两次调用都已结束），以及那条没有 correlation_id "
            "的消息",
        ),
    )


def _differences(reply: _Reply, before: Any, after: Any, expected: dict[Any, Any]) -> Iterable[str]:
    what = str(reply.what)
    if not isinstance(after, dict):
        yield say(
            f"on {what}: self.responses became {after!r}; it must stay the dict of calls in flight",
            f"收到{what}时：self.responses 变成了 {after!r}；它必须始终是进行中调用的字典",
        )
        return
    for key in after:
        if key not in expected:
            yield say(
                f"on {what}: stored it under {key!r}, which no call is waiting for; nobody "
                "will ever collect it (every duplicate or late reply would leak one entry), and a "
                "later call would have to be sure never to reuse that id",
                f"收到{what}时：把它存到了 {key!r} 下，可没有哪个调用在等这个 id；谁也不会来取它"
                "（每条重复或迟到的回复都会泄漏一个条目），而且以后的调用必须确保永远不再用这个 id",
            )
    for key, wanted in expected.items():
        if key not in after:
            yield say(
                f"on {what}: removed {key!r} from responses; call_many checks "
                f"responses[{key!r}] until its reply is there, and pops it itself",
                f"收到{what}时：从 responses 里删掉了 {key!r}；call_many 会一直检查 responses[{key!r}]，"
                "直到回复到达，再由它自己把这一项 pop 掉",
            )
        elif wanted is None and after[key] is not None:
            yield say(
                f"on {what}: stored {after[key]!r} as the answer to {key!r}, which has not been "
                f"answered: call_many would return it as fib's result for {key!r}",
                f"收到{what}时：把 {after[key]!r} 当成了 {key!r} 的答案，可 {key!r} 还没有得到回答："
                f"call_many 会把它当作 {key!r} 的 fib 结果返回",
            )
        elif wanted is not None and (after[key] is None or not _same(after[key], wanted)):
            shown_before = _shown(before) if isinstance(before, dict) else "?"
            yield say(
                f"on {what}: responses[{key!r}] is {after[key]!r}, where the reply {wanted!r} "
                f"belongs (responses was {shown_before}); call_many would wait for it until its timeout",
                f"收到{what}时：responses[{key!r}] 是 {after[key]!r}，而这里本该是回复 {wanted!r}"
                f"（之前 responses 是 {shown_before}）；call_many 会一直等它，直到超时",
            )


# --- exercise 6.2: what makes a good correlation id -------------------------------------------

#: the schemes offered, and whether each lets a client tell its replies apart, with the reason
SCHEMES: dict[str, tuple[Both, bool, Both]] = {
    "a": (
        Both("str(n): the number the call asks for", "str(n)：这次调用所求的那个数"),
        False,
        Both(
            "two calls for the same n share an id: after a crash, the duplicate reply to an earlier "
            "fib(5) would be taken as the answer to a later fib(5). Harmless only because fib is "
            "idempotent; wrong for a call like 'balance of account 5', whose answer changes",
            "求同一个 n 的两次调用共用一个 id：发生崩溃之后，早先一次 fib(5) 的重复回复会被当作后来"
            "一次 fib(5) 的答案。只是因为 fib 是幂等的，才没有造成危害；换成“5 号账户的余额”这种答案会"
            "变化的调用，就错了",
        ),
    ),
    "b": (
        Both('a counter kept by the client: "1", "2", "3", ...', '客户端自己维护的计数器："1"、"2"、"3"……'),
        True,
        Both(
            "ids need only be unique among the calls whose replies come to the same callback queue, "
            "and that queue is exclusive to this client; a restarted client declares a new "
            "server-named queue, so restarting the counter is safe",
            "id 只需要在回复发往同一个回调队列的那些调用之间唯一，而这个队列由该客户端独占；客户端重启后"
            "会声明一个新的、由服务器命名的队列，所以计数器从头开始也是安全的",
        ),
    ),
    "c": (
        Both(
            "str(uuid.uuid4()) for every call, as the tutorial does",
            "每次调用都用 str(uuid.uuid4())，和教程的做法一样",
        ),
        True,
        Both(
            "unique everywhere, with no state to keep; it stays safe even if several clients ever "
            "shared one callback queue",
            "在任何地方都唯一，也不用保存任何状态；即使哪天几个客户端共用一个回调队列，它也依然安全",
        ),
    ),
    "d": (
        Both(
            "one uuid4, made in __init__ and sent with every call",
            "在 __init__ 里生成一个 uuid4，每次调用都带上它",
        ),
        False,
        Both(
            "every reply carries the id the client waits for, so a duplicate or late reply is taken "
            "as the answer to the current call: the very mistake correlation ids exist to prevent",
            "每条回复带的都是客户端正在等的那个 id，于是重复或迟到的回复会被当作当前调用的答案："
            "这恰恰是 correlation id 要防止的错误",
        ),
    ),
    "e": (
        Both("str(int(time.time())): the current second", "str(int(time.time()))：当前的秒数"),
        False,
        Both(
            "two calls in the same second share an id, and a reply to the first can answer the second",
            "同一秒内的两次调用共用一个 id，对第一次调用的回复可能被当作第二次调用的答案",
        ),
    ),
}


def _letters(answer: Any) -> set[str] | None:
    if isinstance(answer, str):
        answer = [letter for letter in answer if letter.isalpha()]
    if not isinstance(answer, list | tuple | set | frozenset):
        return None
    return {str(letter).strip().lower() for letter in answer}


@exercise(
    "6.2",
    Both(
        "Which correlation ids let a client match every reply to its call?",
        "哪些 correlation id 能让客户端把每条回复对应到它的调用？",
    ),
    solution="""answer = {"b", "c"}
course.EXERCISES["6.2"](answer)""",
    explanation=Both(
        "A correlation id must be unique among the calls whose replies share a callback queue, "
        "including calls that are over, since duplicates and late replies arrive after them. "
        "A per-client counter is enough because each client's callback queue is its own; a "
        "uuid4 per call is enough everywhere.",
        "correlation id 必须在回复共用同一个回调队列的所有调用之间唯一，已经结束的调用也算在内，"
        "因为重复回复和迟到回复会在调用结束之后才到。每个客户端各用一个计数器就够了，因为每个客户端的"
        "回调队列都归它独占；每次调用用一个 uuid4 则在任何情况下都够用。",
    ),
    hints=(
        Both(
            "Think of the duplicate reply to a finished call: which schemes could give it the id "
            "of a current one?",
            "想想已经结束的调用收到的重复回复：哪些方案会让它带上某个当前调用的 id？",
        ),
    ),
)
def check_correlation_ids(answer: Any = None) -> Feedback:
    """`answer`: the letters of every scheme that works (a set, a list, or a string like "bc")."""
    chosen = _letters(answer)
    if chosen is None:
        return wrong(
            say("Give the letters of the schemes that work", "请给出可行方案的字母"),
            say('for example {"a", "e"} or "ae"', '例如 {"a", "e"} 或 "ae"'),
        )
    if not chosen:
        return wrong(
            say("No scheme chosen yet", "还没有选择任何方案"),
            *(say(f"{letter}: {text}", f"{letter}：{text}") for letter, (text, _, _) in SCHEMES.items()),
        )
    unknown = sorted(chosen - SCHEMES.keys())
    if unknown:
        return wrong(
            say(f"There is no scheme {', '.join(unknown)}", f"没有方案 {'、'.join(unknown)}"),
            say(f"choose among {', '.join(SCHEMES)}", f"请从 {'、'.join(SCHEMES)} 中选择"),
        )
    good = {letter for letter, (_, works, _) in SCHEMES.items() if works}
    problems = [
        say(
            f"{letter} ({SCHEMES[letter][0]}) does not work: {SCHEMES[letter][2]}",
            f"{letter}（{SCHEMES[letter][0]}）不可行：{SCHEMES[letter][2]}",
        )
        for letter in sorted(chosen - good)
    ]
    problems += [
        say(
            f"{letter} ({SCHEMES[letter][0]}) works too: {SCHEMES[letter][2]}",
            f"{letter}（{SCHEMES[letter][0]}）其实也可行：{SCHEMES[letter][2]}",
        )
        for letter in sorted(good - chosen)
    ]
    if problems:
        return wrong(
            say(
                f"{len(problems)} of the {len(SCHEMES)} schemes judged wrongly",
                f"{len(SCHEMES)} 个方案中有 {len(problems)} 个判断错了",
            ),
            *problems,
        )
    return right(
        say(f"Right: {' and '.join(sorted(good))}", f"正确：{' 和 '.join(sorted(good))}"),
        *(
            say(f"{letter}: {SCHEMES[letter][2]}", f"{letter}：{SCHEMES[letter][2]}")
            for letter in sorted(good)
        ),
    )
