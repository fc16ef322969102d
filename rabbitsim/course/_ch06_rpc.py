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

from ._feedback import Feedback, exercise, right, wrong

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
    what: str  # what this reply is, for the learner
    #: how `responses` should look afterwards (None: unchanged)
    fills: str | None = None


#: the calls in flight when the replies start arriving: c2 and c3 (c1 returned, c0 timed out)
PENDING = ("c2", "c3")

REPLIES = (
    _Reply(
        "c1",
        b"5",
        "the duplicate reply to c1, a call that has returned (its server died after replying and "
        "before acking, so the request was redelivered and answered again)",
    ),
    _Reply("c3", b"21", "the reply to c3 (replies need not come in the order of the calls)", fills="c3"),
    _Reply(None, b"hello", "a message with no correlation_id at all"),
    _Reply("c2", b"13", "the reply to c2", fills="c2"),
    _Reply("c3", b"21", "the same reply to c3 once more (a duplicate, before call_many has collected c3)"),
    _Reply(
        "c0",
        b"2",
        "the late reply to c0, a call that timed out and was given up (no server was running; one "
        "started later and answered it)",
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


def _shown(responses: dict[Any, Any]) -> str:
    return "{" + ", ".join(f"{key!r}: {value!r}" for key, value in responses.items()) + "}"


@exercise(
    "6.1",
    "Make on_response take only the replies the client is waiting for",
    solution="""def on_response(self, ch, method, props, body):
    if props.correlation_id in self.responses:   # a call we are waiting for
        self.responses[props.correlation_id] = body
    # anything else is a duplicate or a late reply: ignore it (log it, if you like)

course.EXERCISES["6.1"](on_response)""",
    explanation=(
        "`responses` holds exactly the calls in flight, so it doubles as the list of correlation "
        "ids to accept. A duplicate of a call that returned, or the late reply to a call given "
        "up, finds no entry and is dropped; a reply without a correlation id too (`None` is not "
        "a key). Never raise in a pika callback: the exception would come out of "
        "`process_data_events` and end the call that was waiting."
    ),
    hints=(
        "Which correlation ids should be accepted? Exactly the keys of `self.responses`.",
        "Test with `in`, and do nothing otherwise: no exception, no ack (the client uses auto_ack).",
    ),
)
def check_on_response(on_response: Any = None) -> Feedback:
    """`on_response(self, ch, method, props, body)` for a client whose `self.responses` maps the
    correlation id of every call in flight to None, until its reply is stored there."""
    function = _function(on_response)
    if function is None:
        return wrong(
            "Pass your on_response function",
            'def on_response(self, ch, method, props, body): ...  then  course.EXERCISES["6.1"](on_response)',
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
            problems.append(
                f"on {reply.what}: raised {type(error).__name__}: {error}. In pika, an exception in "
                "a consumer callback comes out of process_data_events, so the call waiting for its "
                "answer fails instead; ignore what you do not expect"
            )
            client.responses = dict(expected)
            continue
        problems.extend(_differences(reply, before, client.responses, expected))
        client.responses = dict(expected)  # judge the next reply on its own
    acks = sorted(set(channel.calls))
    if acks:
        problems.append(
            f"called ch.{', ch.'.join(acks)}: the client consumes its callback queue with "
            "auto_ack=True, so the broker knows no delivery tag to settle; an ack would close the "
            "channel with 406 PRECONDITION_FAILED (unknown delivery tag)"
        )
    if problems:
        count = "1 thing" if len(problems) == 1 else f"{len(problems)} things"
        return wrong(f"on_response gets {count} wrong", *problems)
    return right(
        "on_response takes exactly the replies the client waits for",
        "kept the replies to c2 and c3, whichever came first",
        "ignored the duplicate answer to c1 and the late answer to c0 (their calls are over), "
        "and the message with no correlation_id",
    )


def _differences(reply: _Reply, before: Any, after: Any, expected: dict[Any, Any]) -> Iterable[str]:
    if not isinstance(after, dict):
        yield f"on {reply.what}: self.responses became {after!r}; it must stay the dict of calls in flight"
        return
    for key in after:
        if key not in expected:
            yield (
                f"on {reply.what}: stored it under {key!r}, which no call is waiting for; nobody "
                "will ever collect it (every duplicate or late reply would leak one entry), and a "
                "later call would have to be sure never to reuse that id"
            )
    for key, wanted in expected.items():
        if key not in after:
            yield (
                f"on {reply.what}: removed {key!r} from responses; call_many checks "
                f"responses[{key!r}] until its reply is there, and pops it itself"
            )
        elif wanted is None and after[key] is not None:
            yield (
                f"on {reply.what}: stored {after[key]!r} as the answer to {key!r}, which has not been "
                f"answered: call_many would return it as fib's result for {key!r}"
            )
        elif wanted is not None and (after[key] is None or not _same(after[key], wanted)):
            shown_before = _shown(before) if isinstance(before, dict) else "?"
            yield (
                f"on {reply.what}: responses[{key!r}] is {after[key]!r}, where the reply {wanted!r} "
                f"belongs (responses was {shown_before}); call_many would wait for it until its timeout"
            )


# --- exercise 6.2: what makes a good correlation id -------------------------------------------

#: the schemes offered, and whether each lets a client tell its replies apart, with the reason
SCHEMES: dict[str, tuple[str, bool, str]] = {
    "a": (
        "str(n): the number the call asks for",
        False,
        "two calls for the same n share an id: after a crash, the duplicate reply to an earlier "
        "fib(5) would be taken as the answer to a later fib(5). Harmless only because fib is "
        "idempotent; wrong for a call like 'balance of account 5', whose answer changes",
    ),
    "b": (
        'a counter kept by the client: "1", "2", "3", ...',
        True,
        "ids need only be unique among the calls whose replies come to the same callback queue, "
        "and that queue is exclusive to this client; a restarted client declares a new "
        "server-named queue, so restarting the counter is safe",
    ),
    "c": (
        "str(uuid.uuid4()) for every call, as the tutorial does",
        True,
        "unique everywhere, with no state to keep; it stays safe even if several clients ever "
        "shared one callback queue",
    ),
    "d": (
        "one uuid4, made in __init__ and sent with every call",
        False,
        "every reply carries the id the client waits for, so a duplicate or late reply is taken "
        "as the answer to the current call: the very mistake correlation ids exist to prevent",
    ),
    "e": (
        "str(int(time.time())): the current second",
        False,
        "two calls in the same second share an id, and a reply to the first can answer the second",
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
    "Which correlation ids let a client match every reply to its call?",
    solution="""answer = {"b", "c"}
course.EXERCISES["6.2"](answer)""",
    explanation=(
        "A correlation id must be unique among the calls whose replies share a callback queue, "
        "including calls that are over, since duplicates and late replies arrive after them. "
        "A per-client counter is enough because each client's callback queue is its own; a "
        "uuid4 per call is enough everywhere."
    ),
    hints=(
        "Think of the duplicate reply to a finished call: which schemes could give it the id "
        "of a current one?",
    ),
)
def check_correlation_ids(answer: Any = None) -> Feedback:
    """`answer`: the letters of every scheme that works (a set, a list, or a string like "bc")."""
    chosen = _letters(answer)
    if chosen is None:
        return wrong("Give the letters of the schemes that work", 'for example {"a", "e"} or "ae"')
    if not chosen:
        return wrong(
            "No scheme chosen yet",
            *(f"{letter}: {text}" for letter, (text, _, _) in SCHEMES.items()),
        )
    unknown = sorted(chosen - SCHEMES.keys())
    if unknown:
        return wrong(f"There is no scheme {', '.join(unknown)}", f"choose among {', '.join(SCHEMES)}")
    good = {letter for letter, (_, works, _) in SCHEMES.items() if works}
    problems = [
        f"{letter} ({SCHEMES[letter][0]}) does not work: {SCHEMES[letter][2]}"
        for letter in sorted(chosen - good)
    ]
    problems += [
        f"{letter} ({SCHEMES[letter][0]}) works too: {SCHEMES[letter][2]}" for letter in sorted(good - chosen)
    ]
    if problems:
        return wrong(f"{len(problems)} of the {len(SCHEMES)} schemes judged wrongly", *problems)
    return right(
        f"Right: {' and '.join(sorted(good))}",
        *(f"{letter}: {SCHEMES[letter][2]}" for letter in sorted(good)),
    )
