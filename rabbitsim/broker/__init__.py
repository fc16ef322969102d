"""The broker core: RabbitMQ's behaviour as pure Python, with no sockets, threads or wall clock.

Everything else in rabbitsim stands on this: the wire adapter (`rabbitsim.amqp`) turns frames
into calls on a `Channel` and drains `Broker.take_output()`, the one ordered road on which the
core puts what it produces for others (replies, deliveries, returns, confirms, cancels, and
the trace events that `rabbitsim.trace` records and `rabbitsim.viz` draws).
"""

from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

from ._broker import Broker, User
from ._channel import Channel
from ._connection import Connection
from ._consumer import Consumer
from ._errors import (
    ACCESS_REFUSED,
    CHANNEL_ERROR,
    COMMAND_INVALID,
    FRAME_ERROR,
    INTERNAL_ERROR,
    METHOD_IDS,
    NO_ROUTE,
    NOT_ALLOWED,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    REPLY_NAMES,
    REPLY_SUCCESS,
    RESOURCE_LOCKED,
    SYNTAX_ERROR,
    UNEXPECTED_FRAME,
    AMQPError,
    ChannelError,
    ConnectionError,
)
from ._exchange import Binding, Exchange
from ._message import DeadLettered, Death, Entry, Long, Message, Properties, PropertiesLike
from ._output import (
    ConsumerCancelled,
    DeclareOk,
    Deliver,
    GetOk,
    Outbound,
    Output,
    PublisherAck,
    PublisherNack,
    Reply,
    Return,
)
from ._profile import DEFAULT_PROFILE, PROFILES, VersionProfile
from ._queue import Queue
from ._routing import topic_words
from ._text import display_text, relayed_text, utf8_text
from ._vhost import VHost

__all__ = [
    "ACCESS_REFUSED",
    "CHANNEL_ERROR",
    "COMMAND_INVALID",
    "DEFAULT_PROFILE",
    "FRAME_ERROR",
    "INTERNAL_ERROR",
    "METHOD_IDS",
    "NOT_ALLOWED",
    "NOT_FOUND",
    "NOT_IMPLEMENTED",
    "NO_ROUTE",
    "PRECONDITION_FAILED",
    "PROFILES",
    "REPLY_NAMES",
    "REPLY_SUCCESS",
    "RESOURCE_LOCKED",
    "SYNTAX_ERROR",
    "UNEXPECTED_FRAME",
    "AMQPError",
    "Binding",
    "Broker",
    "Channel",
    "ChannelError",
    "Connection",
    "ConnectionError",
    "Consumer",
    "ConsumerCancelled",
    "DeadLettered",
    "Death",
    "DeclareOk",
    "Deliver",
    "Entry",
    "EventKind",
    "Exchange",
    "GetOk",
    "Long",
    "Message",
    "Node",
    "NodeKind",
    "Outbound",
    "Output",
    "Properties",
    "PropertiesLike",
    "PublisherAck",
    "PublisherNack",
    "Queue",
    "Reply",
    "Return",
    "TraceEvent",
    "User",
    "VHost",
    "VersionProfile",
    "display_text",
    "relayed_text",
    "topic_words",
    "utf8_text",
]
