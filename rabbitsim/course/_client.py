"""The client side that the course's helpers and checks share. A check never guesses: it runs
the learner's code on the notebook's broker (the simulator or a real RabbitMQ) and reads back
what that broker did. These are the moves every check makes to find out: a named connection,
a channel that notes what the learner asked of it, publishing that waits until the broker has
routed, reading a queue back, waiting for a real broker's lagging statistics, and cleaning up."""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim._language import say
from rabbitsim.backends import BrokerHandle
from rabbitsim.vocabulary import QueueInfo, Topology

__all__ = [
    "Call",
    "MissingOnBroker",
    "RecordingChannel",
    "as_bytes",
    "cleanup",
    "connect",
    "connected",
    "delete_queues",
    "describe",
    "drain",
    "explaining",
    "find_queue",
    "private_name",
    "publish_confirmed",
    "queue_exists",
    "route",
    "shows",
    "startup_reason",
    "wait_for_topology",
    "wait_until_gone",
]

#: How long a check waits at most for an exclusive queue to go after its connection closed.
GONE_SECONDS = 3.0


# --- connections ----------------------------------------------------------------------------------


def connect(broker: BrokerHandle | str, name: str) -> pika.BlockingConnection:
    """A connection to `broker` (a handle, or its URL in a worker process), named as the
    management UI and the pictures will show it."""
    parameters = pika.URLParameters(broker if isinstance(broker, str) else broker.url)
    parameters.client_properties = {"connection_name": name}
    return pika.BlockingConnection(parameters)


@contextlib.contextmanager
def connected(broker: BrokerHandle, name: str) -> Iterator[pika.BlockingConnection]:
    """`connect` for a `with` block whose close may fail quietly: the broker may have closed
    the connection already, and the verdict matters more than the goodbye."""
    connection = connect(broker, name)
    try:
        yield connection
    finally:
        if connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()


def private_name(what: str) -> str:
    """A name no learner's code uses, so a check never disturbs the notebook's own topology."""
    return f"exercise-{what}-{uuid.uuid4().hex[:8]}"


def describe(error: BaseException) -> str:
    """An exception as a learner should read it: the broker's reply code and text when it has them."""
    if isinstance(error, pika.exceptions.ChannelClosedByBroker | pika.exceptions.ConnectionClosedByBroker):
        return f"{error.reply_code} {error.reply_text}"
    return f"{type(error).__name__}: {error}"


def _not_in_time() -> str:
    return say("it did not start in time", "它没能及时启动")


def _broker_answered(reply: str) -> str:
    return say(f"the broker answered {reply}", f"broker 的答复是 {reply}")


def _could_not_connect(where: str) -> str:
    return say(
        f"it could not connect to {where} (is the broker closed? start it again in the first cell)",
        f"它连不上 {where}（broker 是不是已经关闭了？请在第一个单元格里重新启动它）",
    )


def startup_reason(error: BaseException | None, url: str) -> str:
    """Why a consumer or worker could not start, as one clause: the broker's reply when it
    gave one, else what went wrong on the way to it."""
    if error is None:
        return _not_in_time()
    if isinstance(error, pika.exceptions.ChannelClosedByBroker | pika.exceptions.ConnectionClosedByBroker):
        return _broker_answered(f"{error.reply_code} {error.reply_text}")
    if isinstance(error, pika.exceptions.AMQPConnectionError):
        return _could_not_connect(url.rsplit("@", 1)[-1])
    return describe(error)


def hint(reason: str) -> str:
    """What a learner most likely skipped, from the broker's reply (a sentence that follows the
    reason: with its leading space in English)."""
    if "NOT_FOUND - no queue" in reason or "NOT_FOUND - no exchange" in reason:
        return say(
            " Declare it first (or run the cell above that does).",
            "请先声明它（或者运行上面声明它的那个单元格）。",
        )
    if "RESOURCE_LOCKED" in reason or "ACCESS_REFUSED" in reason:
        return say(
            " Another consumer holds it: stop it first (course.stop_all() stops what the chapter started).",
            "另一个消费者占用着它：请先停掉那个消费者（course.stop_all() 会停止本章启动的所有消费者"
            "和 worker）。",
        )
    return ""


def explaining(depth: int = 2) -> bool:
    """Whether a wait that timed out should print why: yes when the learner's code called it
    (a notebook cell, a test), no when one of the course's checks did, which explains in its
    verdict instead. `depth` counts frames from the caller of this function."""
    frame = sys._getframe(depth)
    return not str(frame.f_globals.get("__name__", "")).startswith("rabbitsim.")


def shows(broker: BrokerHandle, queues: Iterable[str] = ()) -> str:
    """What the broker shows, in a sentence: the given queues (or every queue of "/") with their
    ready, unacked and consumer counts, and the missing ones named as missing."""
    try:
        topology = broker.topology()
    except Exception as error:  # a closed broker, or a management API that does not answer
        answer = str(error) or type(error).__name__
        if "first cell" in answer:  # a closed handle says what to do itself
            return say(f"The broker does not answer: {answer}.", f"broker 没有响应：{answer}。")
        return say(
            f"The broker does not answer ({answer}): was it closed? Start it again in the first cell.",
            f"broker 没有响应（{answer}）：它是不是已经关闭了？请在第一个单元格里重新启动它。",
        )
    wanted = [name for name in queues if name]
    listed = [queue for queue in topology.queues if queue.vhost == "/"]
    found = {queue.name: queue for queue in listed}
    parts = []
    for name in wanted or sorted(found)[:6]:
        queue = found.get(name)
        if queue is None:
            parts.append(say(f"no queue {name!r}", f"没有队列 {name!r}"))
        else:
            consumers = f"{queue.consumers} consumer" + ("" if queue.consumers == 1 else "s")
            ready, unacked = queue.messages_ready, queue.messages_unacknowledged
            parts.append(
                say(
                    f"{name}: {ready} ready, {unacked} unacked, {consumers}",
                    f"{name}：{ready} 条就绪，{unacked} 条未确认，{queue.consumers} 个消费者",
                )
            )
    if not wanted and len(found) > 6:
        parts.append(say(f"and {len(found) - 6} more queues", f"另有 {len(found) - 6} 个队列"))
    if broker.backend == "sim":
        lag = ""
    else:
        lag = say(" (a real broker's counts lag a few seconds)", "（真实 broker 的计数会滞后几秒）")
    return say(
        f"The broker shows {'; '.join(parts) or 'no queue at all'}{lag}.",
        f"broker 显示：{'；'.join(parts) or '一个队列也没有'}{lag}。",
    )


def as_bytes(body: Any) -> bytes:
    """A body as it travels: pika encodes text as UTF-8."""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return str(body).encode()


# --- watching what the learner's code asks of a channel -----------------------------------------

#: the channel methods a check wants to hear about
WATCHED = frozenset(
    {
        "basic_ack",
        "basic_nack",
        "basic_publish",
        "basic_reject",
        "close",
        "exchange_declare",
        "queue_bind",
        "queue_declare",
        "queue_delete",
    }
)


@dataclass(frozen=True, slots=True)
class Call:
    """One watched method call, its arguments by name (defaults filled in)."""

    method: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.arguments.get(name, default)


class RecordingChannel:
    """A pika channel that notes the declares, publishes and acks made through it, and
    otherwise behaves exactly as the channel it wraps: so a check can explain *why* a message
    went missing, not only that it did."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._channel, name)
        if name not in WATCHED or not callable(attribute):
            return attribute
        signature = inspect.signature(attribute)

        def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
            except TypeError:  # pika will say what is wrong with the call, in its own words
                arguments = {}
            self.calls.append(Call(name, arguments))
            return attribute(*args, **kwargs)

        return watched

    def of(self, method: str) -> list[tuple[int, Call]]:
        """The calls of one method, with their positions among all calls."""
        return [(index, call) for index, call in enumerate(self.calls) if call.method == method]

    def __repr__(self) -> str:
        return f"<RecordingChannel of {self._channel!r}: {len(self.calls)} calls>"


# --- asking the broker where messages go --------------------------------------------------------


def publish_confirmed(channel: BlockingChannel, exchange: str, routing_key: str, body: str) -> bool:
    """Publish with `mandatory` on a confirming channel: when this returns, the broker has
    routed the message. True if some queue took it, False if the broker returned it (312)."""
    try:
        channel.basic_publish(exchange, routing_key, body.encode(), mandatory=True)
    except pika.exceptions.UnroutableError:
        return False
    return True


def drain(channel: BlockingChannel, queue: str) -> list[str]:
    """Every message ready in `queue`, taken with basic.get (and acked)."""
    bodies: list[str] = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body.decode(errors="replace"))


def route(
    broker: BrokerHandle,
    exchange_type: str,
    bindings: Mapping[str, Iterable[str]],
    messages: Iterable[tuple[str, str]],
    what: str,
) -> dict[str, list[str]]:
    """Where `messages` (routing key, body) go, asked of the broker itself, so a check judges
    by the very routing the learner is learning: an exchange of `exchange_type` of the check's
    own, one exclusive queue per label in `bindings` bound with its keys (in order, repeats
    included), the messages published with confirms so each has been routed before the queues
    are read. Returns the bodies each label's queue received, in order.

    The exchange is auto-delete as well as deleted at the end: should the broker close the
    channel halfway, the exclusive queues go with the connection and take the exchange along."""
    exchange = private_name(what)
    with connected(broker, f"exercise {what}") as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type, auto_delete=True)
        try:
            queues: dict[str, str] = {}
            for label, keys in bindings.items():
                queues[label] = channel.queue_declare("", exclusive=True).method.queue
                for key in keys:
                    channel.queue_bind(queues[label], exchange, key)
            channel.confirm_delivery()
            for key, body in messages:
                publish_confirmed(channel, exchange, key, body)
            return {label: drain(channel, queue) for label, queue in queues.items()}
        finally:
            if channel.is_open:
                channel.exchange_delete(exchange)


# --- what exists, and waiting for it --------------------------------------------------------------


def find_queue(topology: Topology, name: str) -> QueueInfo | None:
    """Queue `name` of vhost "/", or None while a real broker's management API does not list it yet."""
    return next((queue for queue in topology.queues if queue.vhost == "/" and queue.name == name), None)


class MissingOnBroker(LookupError):
    """What a cell needs is not on the broker (a queue it looks up was never declared, or went
    with a restart): raised with what was waited for and what to run, rather than the lookup's
    bare KeyError a line later."""


def wait_for_topology(
    broker: BrokerHandle,
    condition: Callable[[Topology], bool],
    timeout: float = 15.0,
    *,
    explain: bool | None = None,
) -> Topology:
    """The first snapshot for which `condition` holds; after `timeout`, the last one taken
    (so the notebook still shows what the broker says, and the check after it explains). The
    simulator's snapshots are exact at once; a real broker's management API lags by its
    statistics interval (seconds), hence the waiting. A condition that looks up a queue the
    API does not list yet (KeyError) means "not yet"; still missing at the end, it raises
    `MissingOnBroker`, which says what to run. When it gives up otherwise it prints why
    (`explain`; by default only when the learner's code called it, not a check)."""
    if explain is None:
        explain = explaining()
    deadline = time.monotonic() + timeout
    missing: KeyError | None = None
    while True:
        topology = broker.topology()
        try:
            holds = condition(topology)
            missing = None
        except KeyError as error:
            holds, missing = False, error
        if holds:
            return topology
        if time.monotonic() >= deadline:
            if missing is not None:  # what the code after this wait reads is not there at all
                raise MissingOnBroker(_topology_timeout(broker, condition, timeout, missing)) from missing
            if explain:
                print(_topology_timeout(broker, condition, timeout, missing))
            return topology
        time.sleep(0.2)


#: what a topology lookup that failed says (rabbitsim.vocabulary: "no queue 'hello' in vhost '/'")
_NOT_IN_TOPOLOGY = re.compile(r"no (queue|exchange) '(.*)' in vhost '(.*)'", re.DOTALL)
_KINDS_ZH = {"queue": "队列", "exchange": "交换机"}


def _missing_zh(looked_up: str) -> str:
    """A failed lookup's KeyError text, as a Chinese clause (its names as they are)."""
    found = _NOT_IN_TOPOLOGY.fullmatch(looked_up)
    if found is None:
        return f"broker 上找不到 {looked_up}"
    kind, name, vhost = found.groups()
    return f"broker 的虚拟主机 '{vhost}' 里没有{_KINDS_ZH[kind]} '{name}'"


def _topology_timeout(
    broker: BrokerHandle, condition: Callable[[Topology], bool], timeout: float, missing: KeyError | None
) -> str:
    source = _source(condition)
    wanted = f"`{source}`" if source else say("the condition", "条件")
    said = say(
        f"wait_for_topology waited {timeout:g} s, and {wanted} never held.",
        f"wait_for_topology 等了 {timeout:g} 秒，{wanted} 始终不成立。",
    )
    if missing is not None:
        looked_up = str(missing.args[0]) if missing.args else "something"
        return say(
            f"{said} The broker has {looked_up}: did you run the cells above that declare it?",
            f"{said}{_missing_zh(looked_up) if missing.args else 'broker 上缺了点什么'}："
            "上面声明它的单元格你运行了吗？",
        )
    shown = shows(broker)
    return say(
        f"{said} {shown} Likely cause: a cell above was skipped, or run twice (did you run the "
        "cells above, in order?).",
        f"{said}{shown}可能的原因：上面有单元格被跳过了，或者运行了两次（上面的单元格你是按顺序运行的吗？）。",
    )


def _source(function: Callable[..., Any]) -> str:
    """The lambda as the learner wrote it (up to the comma or bracket that ends it), for a message."""
    try:
        line = " ".join(inspect.getsource(function).split())
    except (OSError, TypeError):
        return ""
    start = line.find("lambda")
    if start < 0:
        return getattr(function, "__name__", "")
    depth, quote, body = 0, "", line.find(":", start)
    for index in range(max(body, start), len(line)):
        char = line[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif depth == 0 and char in ")]},":
            return line[start:index].strip()[:160]
        elif char in ")]}":
            depth -= 1
    return line[start:].strip()[:160]


def queue_exists(broker: BrokerHandle, queue: str) -> bool:
    """A passive declare from a fresh connection: 404 means gone; 405 means it exists (and is
    another connection's exclusive queue)."""
    with connected(broker, "exercise check") as connection:
        try:
            connection.channel().queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            return bool(error.reply_code == pika.spec.RESOURCE_LOCKED)
    return True


def wait_until_gone(broker: BrokerHandle, queue: str, timeout: float = GONE_SECONDS) -> bool:
    """True once `queue` no longer exists (a real broker deletes an exclusive queue just after
    the connection's close completes, not before)."""
    deadline = time.monotonic() + timeout
    while queue_exists(broker, queue):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# --- leaving the broker as it was -----------------------------------------------------------------


def delete_queues(broker: BrokerHandle, queues: Iterable[str]) -> None:
    """Delete what a check made, whether or not it is still there. An exclusive queue whose
    connection is still closing answers 405, and goes by itself."""
    with connected(broker, "exercise cleanup") as connection:
        for queue in queues:
            with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                connection.channel().queue_delete(queue)


def cleanup(broker: BrokerHandle, *, queues: Iterable[str] = (), exchanges: Iterable[str] = ()) -> list[str]:
    """Leave the broker as the chapter found it: delete the named queues and exchanges that
    exist, and return what was deleted. On the simulator a new `rabbitsim.start()` is empty
    anyway; on a real broker, queues and exchanges would otherwise pile up between runs.
    Missing ones are skipped (a 404 closes only the throwaway channel that asked)."""
    deleted: list[str] = []
    with connect(broker, "cleanup") as connection:
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                channel = connection.channel()
                try:
                    if kind == "queue":
                        channel.queue_declare(name, passive=True)
                        channel.queue_delete(name)
                    else:
                        channel.exchange_declare(name, passive=True)
                        channel.exchange_delete(name)
                except pika.exceptions.ChannelClosedByBroker:
                    continue  # not there (404), or another connection's exclusive queue (405)
                deleted.append(f"{kind} {name}")
                channel.close()
    return deleted
