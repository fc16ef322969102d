"""What every part of a channel shares: its state, the `amqp_method` guard, failure, events,
and the small lookups (the last-declared-queue shortcut, reserved names) that methods of every
AMQP class use.

A channel is assembled in `_channel.py` from one part per AMQP idea (declaring, consuming,
acknowledging, publishing, confirm / transaction mode); each part is a `ChannelBase`, so it can
read the state the others keep without a second copy of it.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Concatenate, Final, NamedTuple, ParamSpec, TypeVar

from rabbitsim.vocabulary import EventKind, Node

from ._access import READ, Access
from ._errors import ACCESS_REFUSED, CHANNEL_ERROR, NOT_FOUND, AMQPError, ChannelError, ConnectionError
from ._output import ConsumerCancelled, Reply

if TYPE_CHECKING:
    from ._broker import Broker
    from ._connection import Connection
    from ._consumer import Consumer
    from ._exchange import Exchange
    from ._message import Entry, Message
    from ._queue import Queue
    from ._vhost import VHost

P = ParamSpec("P")
R = TypeVar("R")


#: One delivery awaiting ack: its tag, the copy, its queue, and the consumer (None for
#: basic.get). A plain tuple: one is made per message, and a NamedTuple costs ten times more.
Delivery = tuple[int, "Entry", "Queue", "Consumer | None"]


class Mode(Enum):
    """What a channel does with publishes and settlements besides the obvious: nothing
    (`PLAIN`), or confirm each publish (`CONFIRM`). A transactional channel's mode is its open
    `Transaction` instead, which holds the work until commit."""

    PLAIN = "plain"
    CONFIRM = "confirm"


# The members as plain names: reading `Mode.CONFIRM` costs ten times a global, and the publish
# and ack paths test the mode for every message.
PLAIN: Final = Mode.PLAIN
CONFIRM: Final = Mode.CONFIRM


class Settlement(NamedTuple):
    """An ack, nack or reject (`action`) of some deliveries, kept by a transaction until commit."""

    action: EventKind
    requeue: bool
    deliveries: list[Delivery]


class Transaction:
    """tx.select's unit of work: publishes and settlements that take effect at tx.commit (the
    publishes first, then the settlements, each in order), or never (tx.rollback, or the
    channel closing)."""

    __slots__ = ("publishes", "settlements")

    def __init__(self) -> None:
        self.publishes: list[tuple[Exchange, Message, bool]] = []  # (exchange, message, mandatory)
        self.settlements: list[Settlement] = []


def amqp_method(
    name: str, *, reply: bool = True
) -> Callable[[Callable[Concatenate[Any, P], R]], Callable[Concatenate[Any, P], R]]:
    """Mark a method as the AMQP method `name`. What fell due since the last method happens
    first; an error raised anywhere below names `name` and closes what it must before it reaches
    the caller; on success the method's value goes on the output road as its `Reply` (unless the
    method has none, or the client asked `nowait`), ahead of whatever the method set in motion."""

    def wrap(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
        @functools.wraps(method)
        def guarded(self: ChannelBase, *args: P.args, **kwargs: P.kwargs) -> R:
            if not self.is_open:
                raise ConnectionError(CHANNEL_ERROR, "expected 'channel.open'", name)
            if self.timers:
                self.broker.run_timers()
            output = self.broker.output
            mark = len(output)
            try:
                result = method(self, *args, **kwargs)
            except AMQPError as error:
                self.fail(error, name)
                raise
            if reply and not kwargs.get("nowait"):
                output.insert(mark, (self.connection, self.number, Reply(name, result)))
            return result

        return guarded  # type: ignore[return-value]

    return wrap


class ChannelBase:
    """The state a channel's parts share (set up by `Channel.__init__`), and their common helpers."""

    connection: Connection
    access: Access
    number: int
    broker: Broker
    vhost: VHost
    timers: list[tuple[float, int, Queue]]  # the broker's heap itself: tested before each method
    is_open: bool
    node: Node  # the channel as a receiver of basic.get, returns and confirms
    publisher: Node  # the channel as a publisher
    mode: Mode | Transaction
    next_delivery_tag: int
    unacked: dict[int, Delivery]  # by delivery tag, oldest first
    consumers: dict[str, Consumer]
    consumer_prefetch: int  # basic.qos global=false: applies to consumers made later
    global_prefetch: int  # basic.qos global=true: all consumers of the channel together
    consumer_unacked: int  # unacked deliveries to consumers that ack
    published: int  # publish sequence number in confirm mode
    last_queue: str  # for the empty-name shortcut in bind / consume / get ...
    reply_consumer: str | None  # the consumer tag of a direct reply-to consumer
    reply_key: str | None  # what `reply_to="amq.rabbitmq.reply-to"` becomes
    # consumer timeout (`_consumer_timeout`): when the channel opened, the broker's timeout (ms)
    # then, the next tick, (delivery tag, time) marks of deliveries awaiting ack, and the time
    # before which a delivery needs no new mark
    opened_at: float
    consumer_timeout: int | None
    tick_at: float | None
    ack_marks: deque[tuple[int, float]]
    mark_until: float

    if TYPE_CHECKING:  # what the parts call of each other

        def shut_down(self, error: AMQPError | None) -> None: ...
        def deliver(self, consumer: Consumer, queue: Queue, entry: Entry) -> None: ...
        def deliver_reply(self, message: Message) -> None: ...
        def forget_consumer(self, consumer: Consumer, *, notify: ConsumerCancelled | None = None) -> None: ...
        def dispatch_all(self) -> None: ...
        def restore_unacked(self, settlements: list[Settlement]) -> None: ...
        def settle_now(self, settlement: Settlement) -> None: ...
        def requeue(self, deliveries: list[Delivery], action: EventKind | None = None) -> None: ...
        def stop_replies(self) -> None: ...
        def route(
            self, exchange: Exchange, message: Message, mandatory: bool, expiring: bool = False
        ) -> bool: ...

    @property
    def confirming(self) -> bool:
        return self.mode is CONFIRM

    @property
    def transaction(self) -> Transaction | None:
        mode = self.mode
        return mode if isinstance(mode, Transaction) else None

    # --- failure -------------------------------------------------------------------------------

    def fail(self, error: AMQPError, method: str) -> None:
        """Close what `error` closes: this channel, or (hard errors) the whole connection."""
        error.blame(method)
        if isinstance(error, ConnectionError):
            self.connection.shut_down(error)
        else:
            self.shut_down(error)

    # --- helpers -------------------------------------------------------------------------------

    def _emit(
        self,
        kind: EventKind,
        source: Node | None = None,
        target: Node | None = None,
        *,
        message: int | None = None,
        routing_key: str | None = None,
        **detail: Any,
    ) -> None:
        if self.broker.tracing:
            self.broker.emit(kind, self.vhost.name, source, target, message, routing_key, **detail)

    def _delivered(
        self, source: Node, target: Node, message: Message, tag: int, redelivered: bool, **detail: Any
    ) -> None:
        """The DELIVER event of a delivery, a basic.get or a direct reply (callers test `tracing`)."""
        self.broker.emit(
            EventKind.DELIVER,
            self.vhost.name,
            source,
            target,
            message.id,
            message.routing_key,
            delivery_tag=tag,
            redelivered=redelivered,
            **detail,
        )

    def _queue_shortcut(self, queue: str, routing_key: str) -> tuple[str, str]:
        """An empty queue name means the channel's last declared queue (and so does an empty key)."""
        if queue:
            return queue, routing_key
        if not self.last_queue:
            raise ChannelError(NOT_FOUND, "no previously declared queue")
        return self.last_queue, routing_key or self.last_queue

    def _usable_queue(self, queue: str) -> Queue:
        """The queue a purge, consume or get reads: the user must be allowed to read it (checked
        before it is looked up, as RabbitMQ does), and it must not be another's exclusive queue."""
        name, _ = self._queue_shortcut(queue, "")
        self.access.check(READ, "queue", name)
        found = self.vhost.queue(name)
        found.check_access(self.connection)
        return found

    @staticmethod
    def _refuse_default_exchange(name: str) -> str:
        if name == "":
            raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
        return name

    @staticmethod
    def _refuse_reserved_name(kind: str, name: str) -> None:
        if name.startswith("amq."):
            raise ChannelError(ACCESS_REFUSED, f"{kind} name '{name}' contains reserved prefix 'amq.*'")
