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
from ._feedback import Feedback, exercise, listed, right, wrong

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
    if code == pika.spec.PRECONDITION_FAILED:
        return (
            f"The broker answered {code} {text}. An exchange or queue that exists can be declared "
            f"again only with the same properties: '{exchange}' must be declared exactly as "
            "before (same type, same durable flag), or not at all."
        )
    if code == pika.spec.NOT_FOUND:
        return (
            f"The broker answered {code} {text}. queue_bind needs both ends to exist: declare the "
            f"exchange ('{exchange}') and the queue first, and bind to the queue name the "
            "declare returned."
        )
    if code == pika.spec.RESOURCE_LOCKED:
        return (
            f"The broker answered {code} {text}. An exclusive queue belongs to the connection that "
            "declared it; a second subscriber cannot declare or use a queue of the same name. Let "
            "the broker choose a fresh name for each: queue_declare(queue='', exclusive=True)."
        )
    if code == 403:
        return f"The broker answered {code} {text}. Names starting with 'amq.' are reserved for the broker."
    return f"The broker answered {code} {text}."


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
        where = "The first copy" if number == 1 else "With the first copy still running, the second"
        return wrong(f"{where} of your subscriber could not set up", broker_refusal(error, "logs"))
    except SubscriberSetupError as error:
        connection.close()
        return wrong("Your setup function cannot run as a subscriber", str(error))
    except Exception as error:
        connection.close()
        return wrong(f"Your setup function raised {type(error).__name__}: {error}")


def _bindings_of(broker: BrokerHandle, queue: str) -> list[str]:
    """The bindings that lead to `queue`, as `exchange (key)`, the default exchange left out."""
    return [
        f"'{binding.source}' (binding key {binding.routing_key!r})"
        for binding in broker.topology().bindings
        if binding.destination == queue and binding.destination_type == "queue" and binding.source
    ]


@exercise(
    "3.2",
    "Bind a temporary queue so that every running subscriber gets every log",
    solution="""def receive_logs(channel):
    channel.exchange_declare(exchange="logs", exchange_type="fanout")
    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue
    channel.queue_bind(exchange="logs", queue=queue_name)
    return queue_name

course.EXERCISES["3.2"](broker, receive_logs)""",
    explanation=(
        "`queue=''` lets the broker name a fresh queue for each subscriber (`amq.gen-…`), "
        "`exclusive=True` ties it to the subscriber's connection, so it disappears when the "
        "subscriber stops, and `queue_bind` tells the fanout exchange to copy every message into it."
    ),
    hints=(
        "Three calls: declare the exchange, declare a queue, bind the queue to the exchange.",
        "queue_declare(queue='', exclusive=True) returns a result whose .method.queue is the name.",
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
                "The exchange 'logs' exists, but not as a fanout exchange",
                f"The broker answered {error.reply_code} {error.reply_text}.",
                "Delete it (channel.exchange_delete('logs')) and run the check again.",
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
        return wrong(
            "Every subscriber got every log, but its queue outlives it",
            f"{_names(left)} {'are' if len(left) > 1 else 'is'} neither exclusive nor auto-delete, "
            f"so {'they stay' if len(left) > 1 else 'it stays'} when the subscriber stops (the check "
            f"deleted {'them' if len(left) > 1 else 'it'}).",
            "A queue that outlives its subscriber goes on collecting logs nobody will read, and "
            "fills the broker's memory. Declare it with exclusive=True: the broker deletes it when "
            "the connection that declared it closes.",
        )
    names = [copy.queue for copy in copies]
    details = [
        f"Both copies got all {len(LOGS)} logs, each in a queue of its own: {_names(names)}.",
        "When they stopped, both queues were deleted with their connections.",
    ]
    if not all(name.startswith("amq.gen-") for name in names):
        details.append("(The tutorial lets the broker choose the names with queue=''.)")
    return right("Every subscriber gets every log, in a temporary queue of its own", *details)


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
            f"Both subscribers consumed the same queue, '{first.queue}', so they shared the logs",
            f"Subscriber 1 got {listed(first.received)}; subscriber 2 got {listed(second.received)}.",
            "Two consumers on one queue take turns (round-robin, as the workers of chapter 2 do): "
            "each log reaches only one of them. For every subscriber to get every log, each needs a "
            "queue of its own: queue_declare(queue='', exclusive=True) makes a fresh one each time.",
        )
    for number, copy in enumerate(copies, 1):
        missed = [log for log in LOGS if log not in copy.received]
        if not missed:
            continue
        bound = _bindings_of(broker, copy.queue)
        if not bound:
            why = (
                f"Its queue '{copy.queue}' is not bound to any exchange (only to the default "
                "exchange, by its name, as every queue is), so 'logs' has nowhere to send the "
                "messages: with no binding, a fanout exchange drops them. Add "
                "channel.queue_bind(exchange='logs', queue=queue_name)."
            )
        elif not any(text.startswith("'logs' ") for text in bound):
            why = (
                f"Its queue '{copy.queue}' is bound to {', '.join(bound)}, but emit_log publishes "
                "to 'logs': bind to that exchange."
            )
        else:
            why = f"Its queue '{copy.queue}' is bound to {', '.join(bound)}."
        return wrong(
            f"Subscriber {number} missed {len(missed)} of the {len(LOGS)} logs",
            f"It never received {listed(missed)}.",
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
    return " and ".join(f"'{name}'" for name in names)


# --- 3.1: what happens to logs published before any queue is bound ------------------------------


EARLY, LATE = 3, 2


@exercise(
    "3.1",
    "Predict how many logs a subscriber receives when it starts after some were published",
    solution="course.EXERCISES['3.1'](broker, 2)",
    explanation=(
        "Only the 2 logs published after its queue was bound. When the first 3 were published, no "
        "queue was bound to the exchange, so they reached no queue and were dropped on the spot: "
        "an exchange routes, it never stores. (For logs that is fine: a subscriber wants the "
        "messages from now on, not the old ones.)"
    ),
    hints=("Where could a message wait, if no queue is bound yet? Exchanges do not store messages.",),
)
def check_early_logs(broker: BrokerHandle, prediction: Any) -> Feedback:
    """Play the scenario on the broker: 3 logs to a fanout exchange with no queue bound, then a
    subscriber binds its temporary queue, then 2 more logs. Compare with the prediction."""
    try:
        predicted = int(prediction)
    except (TypeError, ValueError):
        return wrong(f"Answer with a number of logs, not {prediction!r}")
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
    evidence = (
        f"Played on your broker just now: it received {listed(received)}. The first {EARLY} were "
        f"published while no queue was bound to the exchange; published with mandatory=True, the "
        f"broker returned {len(returned)} of them as 312 NO_ROUTE, which is its way of saying "
        "'dropped'."
    )
    why = (
        "An exchange routes each message the moment it arrives, to the queues bound at that moment, "
        "and keeps nothing. With no queue bound, the message is dropped (silently, unless you ask for "
        "mandatory=True or give the exchange an alternate exchange)."
    )
    if predicted == got:
        return right(f"Yes: {got} logs, only those published after the queue was bound", evidence, why)
    if predicted == EARLY + LATE:
        title = f"Not {predicted}: the first {EARLY} logs never reach the subscriber"
    elif predicted == EARLY:
        title = f"Not {predicted}: it is the first {EARLY} that are lost, and the later {LATE} that arrive"
    elif predicted == 0:
        title = f"Not 0: once its queue is bound, the subscriber gets the {LATE} later logs"
    else:
        title = f"Not {predicted}: the subscriber receives {got}"
    return wrong(title, evidence, why)
