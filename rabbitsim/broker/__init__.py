"""The broker core: RabbitMQ's behaviour as pure Python, with no sockets, threads or wall clock.

Everything else in rabbitsim stands on this: the wire adapter (`rabbitsim.amqp`) turns frames
into calls on a `Channel` and drains `Broker.take_output()`, the one ordered road on which the
core puts what it produces for others (replies, deliveries, returns, confirms, cancels, and
the trace events that `rabbitsim.trace` records and `rabbitsim.viz` draws).
"""

from rabbitsim.vocabulary import EventKind, Node, NodeKind, TraceEvent

from . import _durability as durability
from ._access import HASHING_ALGORITHMS, Permission, TopicPermission, User, hash_password, regex_problem
from ._alarms import MEMORY_CHECK_INTERVAL, Alarms, AlarmStatus, Blocked, Unblocked, parse_bytes
from ._broker import LOOPBACK_USERS, Broker
from ._channel import Channel
from ._connection import Connection
from ._consumer import Consumer
from ._consumer_timeout import DEFAULT_CONSUMER_TIMEOUT, DEFAULT_TICK_INTERVAL
from ._definitions import policy_definition, user_definition
from ._errors import (
    ACCESS_REFUSED,
    CHANNEL_ERROR,
    COMMAND_INVALID,
    CONNECTION_FORCED,
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
    AdminError,
    AMQPError,
    ChannelError,
    ConnectionError,
)
from ._exchange import Binding, Exchange
from ._firehose import NODE_NAME
from ._message import DeadLettered, Death, Entry, Long, Message, Properties, PropertiesLike
from ._output import (
    ChannelClosed,
    ConnectionClosed,
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
from ._policies import APPLY_TO, VALIDATORS, Policy, effective_definition
from ._profile import DEFAULT_PROFILE, PROFILES, VersionProfile
from ._queue import Queue
from ._routing import topic_words
from ._stream import OFFSET_HEADER, Stream
from ._text import display_text, relayed_text, utf8_text
from ._vhost import VHost

__all__ = [
    "ACCESS_REFUSED",
    "APPLY_TO",
    "CHANNEL_ERROR",
    "COMMAND_INVALID",
    "CONNECTION_FORCED",
    "DEFAULT_CONSUMER_TIMEOUT",
    "DEFAULT_PROFILE",
    "DEFAULT_TICK_INTERVAL",
    "FRAME_ERROR",
    "HASHING_ALGORITHMS",
    "INTERNAL_ERROR",
    "LOOPBACK_USERS",
    "MEMORY_CHECK_INTERVAL",
    "METHOD_IDS",
    "NODE_NAME",
    "NOT_ALLOWED",
    "NOT_FOUND",
    "NOT_IMPLEMENTED",
    "NO_ROUTE",
    "OFFSET_HEADER",
    "PRECONDITION_FAILED",
    "PROFILES",
    "REPLY_NAMES",
    "REPLY_SUCCESS",
    "RESOURCE_LOCKED",
    "SYNTAX_ERROR",
    "UNEXPECTED_FRAME",
    "VALIDATORS",
    "AMQPError",
    "AdminError",
    "AlarmStatus",
    "Alarms",
    "Binding",
    "Blocked",
    "Broker",
    "Channel",
    "ChannelClosed",
    "ChannelError",
    "Connection",
    "ConnectionClosed",
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
    "Permission",
    "Policy",
    "Properties",
    "PropertiesLike",
    "PublisherAck",
    "PublisherNack",
    "Queue",
    "Reply",
    "Return",
    "Stream",
    "TopicPermission",
    "TraceEvent",
    "Unblocked",
    "User",
    "VHost",
    "VersionProfile",
    "display_text",
    "durability",
    "effective_definition",
    "hash_password",
    "parse_bytes",
    "policy_definition",
    "regex_problem",
    "relayed_text",
    "topic_words",
    "user_definition",
    "utf8_text",
]
