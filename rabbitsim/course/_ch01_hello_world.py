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
from ._feedback import Feedback, exercise, listed, right, wrong

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
            return (
                f"{body!r} went to exchange {exchange!r}, which does not exist: RabbitMQ closed the "
                f"channel with 404 NOT_FOUND (pika only noticed at the next call). Hello world uses "
                f"the default exchange, exchange=''."
            )
        return (
            f"{body!r} went to exchange {exchange!r}: nothing there routes key {key!r} to 'hello'. "
            f"Hello world uses the default exchange, exchange='', which routes by queue name."
        )
    if key != QUEUE:
        hint = ""
        if key.lower() == QUEUE.lower():
            hint = " Queue names are case-sensitive."
        elif key.strip() == QUEUE:
            hint = " Mind the spaces."
        return (
            f"{body!r} had routing key {key!r}. The default exchange delivers to the queue whose "
            f"name is exactly the routing key; no queue is called {key!r}, so the message was "
            f"dropped without a word.{hint}"
        )
    if not declared_at:
        return (
            f"{body!r} was published before any queue 'hello' existed: your sender never declares "
            f"it (receive.py did, but only later). Unroutable messages are dropped silently. "
            f"That is why both programs declare the queue."
        )
    if index < declared_at[0]:
        return (
            f"{body!r} was published before your queue_declare(queue='hello'): at that moment the "
            f"queue did not exist, so the default exchange had nowhere to put it and dropped it "
            f"silently. Declare first, then publish."
        )
    if sent.error is not None:
        return f"{body!r} did not arrive: the channel had been closed by then."
    return f"{body!r} did not arrive, and the check cannot tell why: compare it with the solution."


def _sender_error_note(sent: _Sent) -> list[str]:
    if sent.error is None:
        return []
    if isinstance(sent.error, pika.exceptions.ChannelClosedByBroker):
        return [
            f"RabbitMQ closed your sender's channel ({describe(sent.error)}); pika raised it at a "
            "later call of yours, and your function stopped there."
        ]
    return [f"Your function raised {describe(sent.error)}; the check went on with what it had sent."]


@exercise(
    "1.1",
    "Make receive.py get all three messages",
    solution="""def send(channel):
    channel.queue_declare(queue="hello")        # first: make sure the queue exists
    for body in [b"first", b"second", b"third"]:
        channel.basic_publish(exchange="", routing_key="hello", body=body)""",
    explanation=(
        "Declare the queue before publishing (declaring is idempotent, so it costs nothing if it "
        "exists), publish to the default exchange `''`, and use the queue's exact name as the "
        "routing key. A message the default exchange cannot route is dropped silently."
    ),
    hints=(
        "Read the check's reasons one message at a time: each names what the broker did with it.",
        "Where does a message go when it is published to the default exchange before its queue exists?",
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
        different = ", ".join(
            f"{name}={value!r}"
            for call in declares[:1]
            for name, value in call.arguments.items()
            if name not in ("queue", "callback") and value not in (False, None, {})
        )
        return wrong(
            "receive.py could not even declare 'hello'",
            f"RabbitMQ answered its queue_declare(queue='hello') with {describe(receive_error)}.",
            f"Your sender declared 'hello' with {different or 'other properties'}; receive.py declares "
            "a plain queue. Both sides must declare the queue with the same properties (exercise 1.2).",
        )
    if not publishes:
        return wrong(
            "Your function published nothing",
            "Call channel.basic_publish(exchange='', routing_key='hello', body=...) three times.",
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
            f"receive.py got {len(received)} of the {len(publishes)} messages you published ({got})",
            *(_why_missing(index, call, sent) for index, call in missing),
            *_sender_error_note(sent),
        )
    if len(publishes) != MESSAGES:
        return wrong(
            f"Everything you published arrived, but that was {len(publishes)} message(s), not three",
            f"receive.py got {got}. Publish exactly three.",
            *_sender_error_note(sent),
        )
    if sent.error is not None:  # the work was done, but whoever runs send.py sees it fail
        return wrong(
            f"All three arrived ({got}), but then your function raised {describe(sent.error)}",
            "Whoever runs send.py sees it fail, and would send the three again. Find the line that "
            "raised (the error above names it) and fix it.",
        )
    return right(
        f"receive.py got all three: {got}",
        "The queue existed before the first publish, and every routing key named it exactly.",
        "Both programs declare 'hello', so it no longer matters which one starts first.",
    )


# --- exercise 1.2 -----------------------------------------------------------------------------------

#: what each reply code a learner might guess means, to explain a wrong guess
REPLY_CODES = {
    403: "403 ACCESS_REFUSED is for things you may not do at all (such as declaring an 'amq.' name)",
    404: "404 NOT_FOUND is for naming something that does not exist (a passive declare, a missing exchange)",
    405: "405 RESOURCE_LOCKED is for another connection's exclusive queue (or a changed exclusive flag)",
    406: "406 PRECONDITION_FAILED is for a request that contradicts what exists",
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
    said = "ok" if actual == "ok" else f"{actual} ({text})" if text else str(actual)
    if guess == actual:
        return True, f"{what}: {said}, as you predicted."
    if guess is None:
        return (
            False,
            f"{what}: your prediction {predicted!r} is neither 'ok' nor a reply code. RabbitMQ: {said}.",
        )
    if actual == "ok":
        return False, (
            f"{what}: you predicted {guess}, but RabbitMQ said ok. A declare that matches the queue "
            "as it is changes nothing and succeeds: declaring is idempotent, which is why send.py and "
            "receive.py can both do it."
        )
    if guess == "ok":
        return False, (
            f"{what}: you predicted ok (what the blog quoted in the study notes claimed: the second "
            f"declare 'succeeds, but the properties are not changed'). RabbitMQ refuses instead: {said}."
        )
    meaning = REPLY_CODES.get(int(guess), f"{guess} is not what RabbitMQ uses here")
    return False, f"{what}: you predicted {guess}, but RabbitMQ said {said}. {meaning}."


@exercise(
    "1.2",
    "Predict what declaring 'hello' again does",
    solution="""course.EXERCISES["1.2"](
    broker,
    same_again="ok",              # an equivalent declare is idempotent
    durable=406,                  # a different durable flag contradicts the queue that exists
    name="PRECONDITION_FAILED",
    channel_open=False,           # a soft error closes the channel (not the connection)
)""",
    explanation=(
        "Declaring a queue that exists with the same properties is a no-op that succeeds. With a "
        "different `durable`, `exclusive`, `auto_delete` or `arguments`, RabbitMQ refuses with "
        "406 PRECONDITION_FAILED ('inequivalent arg ...') and closes the channel; the connection "
        "stays open, so open a new channel to go on."
    ),
    hints=(
        "The study notes measured it: 'my test gave 406, PRECONDITION_FAILED'.",
        "Soft errors (4xx) close the channel; hard errors (5xx) close the whole connection.",
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
        _code_line("Declaring it again the same way", same_again, outcome.same_again, ""),
        _code_line("Declaring it again with durable=True", durable, outcome.durable, outcome.text),
    ]
    if not outcome.name:
        lines.append((name in (None, ""), "There was no error, so no name."))
    elif isinstance(name, str) and name.strip().upper() == outcome.name:
        lines.append((True, f"The error's name: {outcome.name}, right."))
    else:
        lines.append(
            (
                False,
                f"The error's name: you said {name!r}; RabbitMQ's reply text starts with "
                f"{outcome.name!r}. Every reply text is 'NAME - explanation'.",
            )
        )
    if not isinstance(channel_open, bool):
        lines.append((False, f"channel_open should be True or False, not {channel_open!r}."))
    elif channel_open == outcome.channel_open:
        lines.append((True, f"Channel still open afterwards: {outcome.channel_open}, right."))
    else:
        lines.append(
            (
                False,
                f"Channel still open afterwards: you said {channel_open}, it is {outcome.channel_open}. "
                + (
                    "A 4xx reply is a soft error: RabbitMQ closes the channel that asked (the "
                    "connection and its other channels live on). Open a new channel to go on."
                    if not outcome.channel_open
                    else "Nothing went wrong, so nothing was closed."
                ),
            )
        )
    wrong_lines = [text for ok, text in lines if not ok]
    if wrong_lines:
        return wrong(
            f"{len(wrong_lines)} of your {len(lines)} predictions differ from what RabbitMQ did",
            *wrong_lines,
            *(text for ok, text in lines if ok),
        )
    return right(
        "All four predictions match what RabbitMQ did",
        *(text for _, text in lines),
        "To change a queue's properties, delete it (channel.queue_delete('hello'), or "
        "rabbitmqctl delete_queue hello) and declare it anew, or use another name.",
    )
