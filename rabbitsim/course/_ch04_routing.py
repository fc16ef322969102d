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
from ._feedback import Feedback, and_joined, exercise, listed, plural, right, wrong

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
            f"You gave one string, {answer!r}: that is one binding key. Give a list, one key per "
            "queue_bind call, e.g. ['a', 'b']."
        ]
    try:
        keys = list(answer)
    except TypeError:
        return [], [f"Give the binding keys as a list of strings, not {answer!r}."]
    bad = [key for key in keys if not isinstance(key, str)]
    if bad:
        return [], [f"Binding keys are strings; {bad!r} {'is' if len(bad) == 1 else 'are'} not."]
    return keys, []


def _why_key_matched_nothing(key: str, severities: list[str]) -> str:
    lowered = [s for s in severities if s.lower() == key.strip().lower()]
    if lowered and key != lowered[0]:
        return (
            f"Binding key {key!r} matched nothing: a direct exchange compares keys exactly, "
            f"character by character, so {key!r} is not {lowered[0]!r}."
        )
    if "*" in key or "#" in key:
        return (
            f"Binding key {key!r} matched nothing: '*' and '#' are wildcards only in a topic "
            "exchange (chapter 5). A direct exchange takes them literally."
        )
    if any(sep in key for sep in (" ", ",")) and any(s in key for s in severities):
        return (
            f"Binding key {key!r} matched nothing: it is one key, not a list. receive_logs_direct.py "
            "binds once per severity: queue_bind(..., routing_key=severity) in a loop."
        )
    return f"Binding key {key!r} matched nothing: no message is published with that routing key."


@exercise(
    "4.1",
    "Choose the binding keys so that the disk subscriber gets only warnings and errors",
    solution="""course.EXERCISES["4.1"](broker, ["warning", "error"])

# which is what receive_logs_direct.py does for `python receive_logs_direct.py warning error`:
for severity in ["warning", "error"]:
    channel.queue_bind(exchange="direct_logs", queue=queue_name, routing_key=severity)""",
    explanation=(
        "A direct exchange delivers a message to every queue bound with a binding key equal to "
        "the message's routing key. One binding per severity to keep: 'warning' and 'error'. "
        "No binding for 'info', so info messages never reach this queue."
    ),
    hints=(
        "One binding key per severity the disk should keep; a queue can have several bindings.",
        "Keys are compared exactly: 'error' is not 'Error', and '#' is not a wildcard here.",
    ),
)
def check_disk_keys(broker: BrokerHandle, binding_keys: Any) -> Feedback:
    """Bind a queue with `binding_keys` to a direct exchange on the broker, publish one log of
    each severity, and compare what the queue got with warning and error."""
    keys, remarks = _keys_of(binding_keys)
    if not keys and remarks:
        return wrong("That is not a list of binding keys", *remarks)
    try:
        routed = route_through(broker, {"disk": keys}, list(SEVERITY_LOGS), "4.1")
    except pika.exceptions.ChannelClosedByBroker as error:
        return wrong(
            f"The broker refused these binding keys: {error.reply_code} {error.reply_text}",
            "A binding key is a short string (at most 255 bytes), one per queue_bind call.",
        )
    missed = [m for m in routed if m.routing_key in DISK_WANTS and "disk" not in m.queues]
    extra = [m for m in routed if m.routing_key not in DISK_WANTS and "disk" in m.queues]
    severities = [key for key, _body in SEVERITY_LOGS]
    details = [*remarks]
    for message in missed:
        details.append(
            f"It would miss {message.body!r} (routing key {message.routing_key!r}): none of its "
            f"binding keys is {message.routing_key!r}."
        )
    for message in extra:
        details.append(
            f"It would wrongly get {message.body!r} (routing key {message.routing_key!r}), through "
            f"binding key {message.routing_key!r}."
        )
    unused = list(dict.fromkeys(key for key in keys if key not in severities))
    details.extend(_why_key_matched_nothing(key, severities) for key in unused)
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        details.append(
            f"Binding {listed(repeated)} more than once adds nothing: it is the same binding, "
            "and a message enters a queue once."
        )
    got = [m.body for m in routed if "disk" in m.queues]
    if not missed and not extra:
        return right(
            f"With binding keys {keys!r} the disk subscriber gets exactly {listed(got)}",
            *details,
            "Info messages reach no binding of this queue; the screen subscriber, bound with "
            "'info' too, still gets them.",
        )
    would = and_joined(
        f"miss {plural(len(missed), 'message')}" if missed else "",
        f"wrongly get {len(extra)}" if extra else "",
    )
    return wrong(f"With binding keys {keys!r} the disk subscriber would {would}", *details)


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
    text = f"it is bound with {listed(unique)}, so it takes every message whose routing key is one of those"
    if len(keys) > len(unique):
        text = (
            f"it is bound with {listed(keys)}: the second queue_bind with the same key changes "
            "nothing (a binding is exchange + queue + key, and that one exists already), and a "
            "message enters a queue at most once"
        )
    skipped = sorted({m.routing_key for m in routed if label not in m.queues})
    also = (
        f"; {listed(skipped)} {'matches' if len(skipped) == 1 else 'match'} none of its keys"
        if skipped
        else ""
    )
    return f"{label} holds {len(held)} ({listed([m.body for m in held])}): {text}{also}."


@exercise(
    "4.2",
    "Predict how many messages each queue holds when queues share and repeat binding keys",
    solution='course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 4, "pager": 2, "dropped": 1})',
    explanation=(
        "disk (bound with 'error') gets the two errors. screen (info, warning, error) gets "
        "everything but the debug message: 4. pager is bound with 'error' twice, but that is one "
        "binding, and each error enters it once: 2. Three queues bound with 'error' each get their "
        "own copy of every error, as with a fanout. 'debug' matches no binding anywhere, so it is "
        "dropped: 1."
    ),
    hints=(
        "Go message by message: which queues have a binding key equal to its routing key?",
        "Binding the same key twice is still one binding.",
    ),
)
def check_puzzle(broker: BrokerHandle, prediction: Any) -> Feedback:
    """Build the puzzle on the broker, publish its messages, count what each queue holds and
    what was dropped (returned as unroutable), and compare with the prediction."""
    if not isinstance(prediction, Mapping):
        return wrong(
            "Give your prediction as a dict",
            'e.g. {"disk": 0, "screen": 0, "pager": 0, "dropped": 0}: a count per queue, and one for '
            "the messages dropped.",
        )
    routed = route_through(broker, PUZZLE_BINDINGS, PUZZLE_MESSAGES, "4.2")
    actual = {label: sum(label in m.queues for m in routed) for label in PUZZLE_BINDINGS}
    dropped = [m for m in routed if not m.queues]
    actual[DROPPED] = len(dropped)
    unknown = [key for key in prediction if key not in actual]
    missing = [key for key in actual if key not in prediction]
    details: list[str] = []
    if unknown:
        details.append(f"There is no queue called {listed([str(k) for k in unknown])} in the puzzle.")
    if missing:
        details.append(f"Add a count for {listed(missing)}.")
    for label, keys in PUZZLE_BINDINGS.items():
        if label in prediction and prediction[label] != actual[label]:
            details.append(f"{label}: you said {prediction[label]!r}, but {_reason(label, keys, routed)}")
    if DROPPED in prediction and prediction[DROPPED] != actual[DROPPED]:
        details.append(
            f"dropped: you said {prediction[DROPPED]!r}, but {actual[DROPPED]} "
            f"({listed([m.body for m in dropped])}) reached no queue: no queue is bound with "
            f"{listed(sorted({m.routing_key for m in dropped}))}, and an exchange keeps nothing."
        )
    if details:
        right_ones = [k for k in actual if k in prediction and prediction[k] == actual[k]]
        if right_ones:
            details.append(f"Right: {', '.join(f'{k} {actual[k]}' for k in right_ones)}.")
        return wrong("Not quite: here is what the broker did with the five messages", *details)
    return right(
        "Exactly what the broker did: " + ", ".join(f"{k} {v}" for k, v in actual.items()),
        "Every queue bound with 'error' got its own copy of each error: one binding key on "
        "several queues broadcasts, like a fanout.",
        "pager's second 'error' binding added nothing: a message enters a queue at most once.",
        "'debug' matched no binding, so the exchange dropped it.",
    )
