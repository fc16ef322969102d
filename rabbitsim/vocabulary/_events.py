"""The one event vocabulary: every observable step in the broker, as a value.

The core emits these; a broker handle's event source delivers them (a real broker's firehose
turned into the same kinds), `rabbitsim.trace` records them and `rabbitsim.viz` draws them. An
event names the nodes a message moves between, so a picture can put a token on the right edge
without knowing the broker. Plain values, so they can cross a process boundary as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What happened; a string, so events read and serialise as the words the log shows."""

    # message flow
    PUBLISH = "publish"  # a producer handed a message to an exchange
    ROUTE = "route"  # an exchange passed a message on to a queue or exchange
    # a message or copy left the broker unconsumed (detail: reason: unroutable, rejected, purged,
    # queue-deleted or deleted-queue, expired, maxlen, delivery-limit, dead-letter-cycle;
    # reject-publish for a copy a full queue refused, which never entered it; or retention: a
    # stream's retention removed the segment holding it, detail: offset)
    DROP = "drop"
    # a copy became ready in a queue (a stream: appended to its log, detail: offset)
    ENQUEUE = "enqueue"
    # a queue handed a copy to a consumer or to basic.get (from a stream, detail: offset, the
    # `x-stream-offset` the delivery carries)
    DELIVER = "deliver"
    ACK = "ack"
    NACK = "nack"
    REJECT = "reject"
    REQUEUE = "requeue"  # a delivered copy went back to its queue, redelivered=true
    RETURN = "return"  # basic.return to the publisher (mandatory, no route)
    CONFIRM = "confirm"  # publisher confirm ack / nack (detail: ack, sequence)
    DEAD_LETTER = "dead-letter"  # a copy left its queue for the dead-letter exchange (detail: reason)
    EXPIRE = "expire"  # a copy's TTL ran out at the head; a DEAD_LETTER or a DROP follows
    # topology
    DECLARE = "declare"
    DELETE = "delete"
    BIND = "bind"
    UNBIND = "unbind"
    PURGE = "purge"
    CONSUMER_ADDED = "consumer-added"  # on a stream, detail: offset, the first it will read
    CONSUMER_CANCELLED = "consumer-cancelled"
    CONNECTION_OPENED = "connection-opened"
    CONNECTION_CLOSED = "connection-closed"
    CHANNEL_OPENED = "channel-opened"
    CHANNEL_CLOSED = "channel-closed"


class NodeKind(StrEnum):
    """What kind of place a message was at, so a picture knows how to draw it."""

    PUBLISHER = "publisher"  # a channel that publishes
    EXCHANGE = "exchange"
    QUEUE = "queue"
    CONSUMER = "consumer"
    CHANNEL = "channel"  # a channel as a receiver of basic.get, returns and confirms
    CONNECTION = "connection"


@dataclass(frozen=True, slots=True)
class Node:
    """A place a message can be. Consumers and channels are named by their connection too,
    because consumer tags and channel numbers are only unique inside one connection."""

    kind: NodeKind
    name: str
    connection: str = ""
    channel: int = 0

    def __str__(self) -> str:
        where = f"{self.connection}#{self.channel}:" if self.connection else ""
        return f"{self.kind}:{where}{self.name}"


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One step. `message` is the broker-wide message id (one per publish, shared by its copies)."""

    seq: int
    time: float
    kind: EventKind
    vhost: str
    source: Node | None = None
    target: Node | None = None
    message: int | None = None
    routing_key: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
