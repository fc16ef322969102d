"""Declare arguments: which ones RabbitMQ compares on redeclare, which values it refuses,
and the exact wording of its complaints (measured on RabbitMQ 3.10.8 and 4.0.5)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import PRECONDITION_FAILED, ChannelError, Crash
from ._routing import value_class, wire_type
from ._text import display_text, utf8_text

if TYPE_CHECKING:
    from ._profile import VersionProfile


def resource(kind: str, name: str, vhost: str) -> str:
    """RabbitMQ's way of naming a resource in reply texts: `queue 'q' in vhost '/'`."""
    return f"{kind} '{name}' in vhost '{vhost}'"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    return f"'{utf8_text(value)}'"


def _typed(value: Any) -> str:
    """An argument shown with its wire type, as RabbitMQ does when one side is missing."""
    if value is None:
        return "none"
    return f"the value {_plain(value)} of type '{wire_type(value)}'"


def inequivalent(what: str, key: str, received: str, current: str) -> ChannelError:
    return ChannelError(
        PRECONDITION_FAILED,
        f"inequivalent arg '{key}' for {what}: received {received} but current is {current}",
    )


def assert_same_fields(what: str, fields: list[tuple[str, Any, Any]]) -> None:
    """Compare (name, current, requested) in RabbitMQ's order; the first difference is the error."""
    for key, current, received in fields:
        if current != received:
            raise inequivalent(what, key, _plain(received), _plain(current))


def assert_same_arguments(
    what: str,
    current: Mapping[str, Any],
    received: Mapping[str, Any],
    compared: tuple[str, ...],
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Only the arguments RabbitMQ knows are compared; unknown `x-` arguments never clash.
    Two values of one type that differ are shown bare; otherwise each is shown with its type."""
    defaults = defaults or {}
    for key in compared:
        have = current.get(key, defaults.get(key))
        want = received.get(key, defaults.get(key))
        if have is None and want is None:
            continue
        if have is not None and want is not None and value_class(have) == value_class(want):
            if have != want:
                raise inequivalent(what, key, _plain(want), _plain(have))
        elif have is None or want is None or value_class(have) != value_class(want):
            raise inequivalent(what, key, _typed(want), _typed(have))


#: queue arguments compared on redeclare (RabbitMQ 4.0's list for classic and quorum queues).
QUEUE_COMPARED_ARGUMENTS = (
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-queue-version",
    "x-queue-leader-locator",
    "x-quorum-initial-group-size",
)

#: a stream compares its own arguments, in its type's order (4.3 adds the filter size)
STREAM_COMPARED_ARGUMENTS = (
    "x-max-length-bytes",
    "x-queue-type",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
)
STREAM_COMPARED_ARGUMENTS_4_3 = (
    *STREAM_COMPARED_ARGUMENTS[:4],
    "x-stream-filter-size-bytes",
    *STREAM_COMPARED_ARGUMENTS[4:],
)

#: An absent argument that reads the same as this value when comparing (4.x, which records
#: the queue type it chose; the 3.10 profile uses `without_default_queue_type` instead).
QUEUE_ARGUMENT_DEFAULTS = {"x-queue-type": "classic"}


def without_default_queue_type(
    current: Mapping[str, Any], received: Mapping[str, Any]
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """3.10 keeps arguments as declared, yet an explicit classic type matches no type (measured:
    'classic' and none are equivalent; 'quorum' against none shows none, against 'classic'
    shows 'classic'). So drop the type from both sides when neither names another type."""
    plain_types = (None, "classic", b"classic")
    if current.get("x-queue-type") in plain_types and received.get("x-queue-type") in plain_types:
        return (
            {key: value for key, value in current.items() if key != "x-queue-type"},
            {key: value for key, value in received.items() if key != "x-queue-type"},
        )
    return current, received


EXCHANGE_COMPARED_ARGUMENTS = ("alternate-exchange",)

#: The queue types the simulator models.
QUEUE_TYPES = ("classic", "quorum", "stream")

Check = Callable[[Any, Mapping[str, Any]], str | None]


def _integer(*, zero: bool = True, most: int | None = None) -> Check:
    def check(value: Any, _arguments: Mapping[str, Any]) -> str | None:
        if value_class(value) != "int":
            return f'"expected integer, got {wire_type(value)}"'
        if value < 0:
            return f"{{value_negative,{value}}}"
        if value == 0 and not zero:
            return f"{{value_zero,{value}}}"
        if most is not None and value > most:
            return f"{{max_value_exceeded,{value}}}"
        return None

    return check


def _text_type(value: Any) -> str | None:
    """Text arguments must be AMQP long strings: a byte array or a number is refused."""
    return None if isinstance(value, str | bytes) else f"{{unacceptable_type,{wire_type(value)}}}"


def _overflow(value: Any, _arguments: Mapping[str, Any]) -> str | None:
    if (refused := _text_type(value)) is not None:
        return refused
    text = utf8_text(value)
    return None if text in ("drop-head", "reject-publish", "reject-publish-dlx") else "invalid_overflow"


def _queue_type(value: Any, _arguments: Mapping[str, Any]) -> str | None:
    if (refused := _text_type(value)) is not None:
        return refused
    text = utf8_text(value)
    return None if text in QUEUE_TYPES else f"\"unsupported queue type '{text}'\""


def _boolean(value: Any, _arguments: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, bool) else f"{{unacceptable_type,{wire_type(value)}}}"


def _dead_letter_key(value: Any, arguments: Mapping[str, Any]) -> str | None:
    if (refused := _text_type(value)) is not None:
        return refused
    return None if "x-dead-letter-exchange" in arguments else "routing_key_but_no_dlx_defined"


#: argument -> check returning RabbitMQ's reason term when the value is refused.
QUEUE_ARGUMENT_CHECKS: dict[str, Check] = {
    "x-expires": _integer(zero=False),
    "x-message-ttl": _integer(),
    "x-max-length": _integer(),
    "x-max-length-bytes": _integer(),
    "x-max-priority": _integer(most=255),
    "x-delivery-limit": _integer(),
    "x-overflow": _overflow,
    "x-queue-type": _queue_type,
    "x-dead-letter-routing-key": _dead_letter_key,
    "x-single-active-consumer": _boolean,
    "x-queue-mode": lambda value, _arguments: _text_type(value),
}

#: quorum queues refuse these declare properties, in the order RabbitMQ checks them.
QUORUM_REFUSED_PROPERTIES = (
    ("exclusive", "exclusive-owner"),
    ("non-durable", "non-durable"),
    ("auto_delete", "auto-delete"),
)
QUORUM_REFUSED_ARGUMENTS = ("x-max-priority",)


#: exchange names in arguments: RabbitMQ type-checks them first, and words the complaint differently.
QUEUE_EXCHANGE_ARGUMENTS = ("x-dead-letter-exchange",)
EXCHANGE_EXCHANGE_ARGUMENTS = ("alternate-exchange",)


def _check_exchange_names(what: str, arguments: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in arguments and not isinstance(value := arguments[key], str | bytes):
            refused = f"invalid type '{wire_type(value)}' for arg '{key}' in {what}"
            raise ChannelError(PRECONDITION_FAILED, refused)


def check_exchange_arguments(what: str, arguments: Mapping[str, Any]) -> None:
    _check_exchange_names(what, arguments, EXCHANGE_EXCHANGE_ARGUMENTS)


def check_exchange_names(what: str, arguments: Mapping[str, Any]) -> None:
    """A queue's dead-letter exchange must be named by a string, whatever the queue's type."""
    _check_exchange_names(what, arguments, QUEUE_EXCHANGE_ARGUMENTS)


def check_queue_arguments(what: str, arguments: Mapping[str, Any]) -> None:
    check_exchange_names(what, arguments)
    for key, check in QUEUE_ARGUMENT_CHECKS.items():
        if key in arguments and (reason := check(arguments[key], arguments)) is not None:
            raise ChannelError(PRECONDITION_FAILED, f"invalid arg '{key}' for {what}: {reason}")


def check_quorum_declare(
    what: str, *, exclusive: bool, durable: bool, auto_delete: bool, arguments: Mapping[str, Any]
) -> None:
    """Quorum queues are replicated logs: never exclusive, transient or auto-deleted."""
    flags = {"exclusive": exclusive, "non-durable": not durable, "auto_delete": auto_delete}
    for flag, name in QUORUM_REFUSED_PROPERTIES:
        if flags[flag]:
            raise ChannelError(PRECONDITION_FAILED, f"invalid property '{name}' for {what}")
    for key in QUORUM_REFUSED_ARGUMENTS:
        if key in arguments:
            raise ChannelError(
                PRECONDITION_FAILED, f"invalid arg '{key}' for {what} of queue type rabbit_quorum_queue"
            )


# --- streams ------------------------------------------------------------------------------------

#: `x-max-age` units (and an `x-stream-offset` interval's) in milliseconds
AGE_UNITS_MS: dict[str, int] = {
    "Y": 365 * 86_400_000,
    "M": 30 * 86_400_000,
    "D": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
}
_AGE = re.compile(r"([0-9]+)(.*)", re.DOTALL)


def max_age_ms(text: str) -> int | None:
    """An age as RabbitMQ writes one ("7D", "12h", "30s"): a positive whole number and one unit;
    None when it is not one."""
    found = _AGE.match(text)
    if found is None or int(found[1]) <= 0 or found[2] not in AGE_UNITS_MS:
        return None
    return int(found[1]) * AGE_UNITS_MS[found[2]]


def ages_in_ms(arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """`x-max-age` as 4.3 compares it on redeclare: in milliseconds ("1h" is 3600000)."""
    age = arguments.get("x-max-age")
    if not isinstance(age, str) or (ms := max_age_ms(age)) is None:
        return arguments
    return {**arguments, "x-max-age": ms}


def check_age_parses(text: str, profile: VersionProfile) -> None:
    """3.10 and 4.0 crash on an age that does not start with digits (541), where 4.3 refuses it."""
    if profile.stream_age_crashes and _AGE.match(text) is None:
        raise Crash()


def _max_age(value: Any, _arguments: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"{{unacceptable_type,{wire_type(value)}}}"
    return None if max_age_ms(value) is not None else "invalid_max_age"


#: what RabbitMQ checks of a stream's own arguments, in its order (`rabbit_amqqueue:declare_args`)
#: where a replicated queue's leader may be placed (`rabbit_queue_location`; the last three are
#: deprecated names RabbitMQ still takes)
LEADER_LOCATORS = ("client-local", "balanced", "random", "least-leaders", "min-masters")


def _leader_locator(value: Any, _arguments: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"{{unacceptable_type,{wire_type(value)}}}"
    return None if value in LEADER_LOCATORS else "invalid_queue_locator_arg"


STREAM_ARGUMENT_CHECKS: dict[str, Check] = {
    "x-max-length-bytes": _integer(),
    "x-max-age": _max_age,
    "x-stream-max-segment-size-bytes": _integer(),
    "x-stream-filter-size-bytes": _integer(),
    "x-initial-cluster-size": _integer(zero=False),
    "x-queue-leader-locator": _leader_locator,
}
#: Arguments another queue type knows and a stream does not: RabbitMQ refuses them by name (every
#: type's `queue_arguments` but the stream's, from each version's source)
STREAM_REFUSED_ARGUMENTS_4_0 = frozenset(
    (
        "x-expires",
        "x-message-ttl",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-dead-letter-strategy",
        "x-max-length",
        "x-max-priority",
        "x-max-in-memory-length",
        "x-max-in-memory-bytes",
        "x-overflow",
        "x-queue-mode",
        "x-queue-version",
        "x-queue-master-locator",
        "x-quorum-initial-group-size",
        "x-single-active-consumer",
        "x-delivery-limit",
    )
)
STREAM_REFUSED_ARGUMENTS_4_3 = STREAM_REFUSED_ARGUMENTS_4_0 | {
    "x-consumer-timeout",
    "x-consumer-disconnected-timeout",
    "x-delayed-retry-type",
    "x-delayed-retry-min",
    "x-delayed-retry-max",
}
#: and the same for consumers' arguments (`consumer_arguments`)
STREAM_REFUSED_CONSUMER_ARGUMENTS_3_10 = frozenset(("x-priority", "x-cancel-on-ha-failover"))
STREAM_REFUSED_CONSUMER_ARGUMENTS_4_0 = frozenset(("x-priority",))
STREAM_REFUSED_CONSUMER_ARGUMENTS_4_3 = frozenset(("x-priority", "x-consumer-timeout"))
STREAM_REFUSED_PROPERTIES = (
    ("auto_delete", "auto-delete"),
    ("exclusive", "exclusive-owner"),
    ("non-durable", "non-durable"),
)
#: the largest segment RabbitMQ allows (`?MAX_STREAM_MAX_SEGMENT_SIZE`)
MAX_STREAM_SEGMENT_BYTES = 3_000_000_000
#: the integer types RabbitMQ takes for `x-stream-filter-size-bytes` (not a signed 64-bit one)
_FILTER_SIZE_TYPES = ("short", "signedint", "unsignedint", "unsignedbyte", "unsignedshort", "byte")


def check_stream_declare(
    what: str,
    profile: VersionProfile,
    *,
    exclusive: bool,
    durable: bool,
    auto_delete: bool,
    arguments: Mapping[str, Any],
) -> None:
    """A stream's declare, in RabbitMQ's order: its own arguments' values, then any argument of
    another queue type (refused by name), then the properties a log cannot have, then the segment
    and filter sizes."""
    for key, check in STREAM_ARGUMENT_CHECKS.items():
        if key == "x-stream-filter-size-bytes" and not profile.stream_filter_size_is_argument:
            continue
        if key == "x-max-age" and isinstance(age := arguments.get(key), str):
            check_age_parses(age, profile)
        if key in arguments and (reason := check(arguments[key], arguments)) is not None:
            raise ChannelError(PRECONDITION_FAILED, f"invalid arg '{key}' for {what}: {reason}")
    for key in arguments:
        if key in profile.stream_refused_arguments:
            raise ChannelError(
                PRECONDITION_FAILED, f"invalid arg '{key}' for {what} of queue type rabbit_stream_queue"
            )
    flags = {"exclusive": exclusive, "non-durable": not durable, "auto_delete": auto_delete}
    for flag, name in STREAM_REFUSED_PROPERTIES:
        if flags[flag]:
            raise ChannelError(PRECONDITION_FAILED, f"invalid property '{name}' for {what}")
    segment = arguments.get("x-stream-max-segment-size-bytes")
    if isinstance(segment, int) and segment > MAX_STREAM_SEGMENT_BYTES:
        raise ChannelError(PRECONDITION_FAILED, "Exceeded max value for x-stream-max-segment-size-bytes")
    if profile.stream_filtering and "x-stream-filter-size-bytes" in arguments:
        size = arguments["x-stream-filter-size-bytes"]
        invalid = profile.stream_filter_size_text  # 4.0 checks no type (measured)
        if value_class(size) != "int":
            if profile.stream_filter_size_is_argument:
                raise ChannelError(PRECONDITION_FAILED, "Invalid type for x-stream-filter-size-bytes")
            raise ChannelError(PRECONDITION_FAILED, invalid)
        if wire_type(size) not in _FILTER_SIZE_TYPES and profile.stream_filter_size_is_argument:
            raise ChannelError(PRECONDITION_FAILED, "Invalid type for x-stream-filter-size-bytes")
        if not 16 <= size <= 255:
            raise ChannelError(PRECONDITION_FAILED, invalid)


#: the keywords `x-stream-offset` takes, as a string or (measured) as a byte array
OFFSET_KEYWORDS = ("first", "last", "next")


def readable_offset(value: Any) -> bool:
    """Whether RabbitMQ's stream reader can start from this `x-stream-offset` at all: a string, a
    whole number, a timestamp, or a keyword in a byte array; anything else (a boolean, a decimal,
    a void, a table, an array, any other byte array) crashes the consume (measured)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace") in OFFSET_KEYWORDS
    if isinstance(value, bool):
        return False
    return isinstance(value, str | int | datetime.datetime)


def check_stream_consumer_arguments(what: str, profile: VersionProfile, arguments: Mapping[str, Any]) -> None:
    """A stream consumer's arguments: an `x-stream-offset` RabbitMQ cannot read, then any
    argument meant for another queue type's consumers (refused by name)."""
    if "x-stream-offset" in arguments:
        offset = arguments["x-stream-offset"]
        if not readable_offset(offset):  # RabbitMQ's reader cannot start there (all versions)
            raise Crash()
        if isinstance(offset, str) and offset not in ("first", "last", "next") and max_age_ms(offset) is None:
            check_age_parses(offset, profile)
            binary = f'<<"{offset}">>' if offset else "<<>>"  # as Erlang prints a binary
            problem = f"{{invalid_stream_offset_arg,{{longstr,{binary}}}}}"
            raise ChannelError(PRECONDITION_FAILED, f"invalid arg 'x-stream-offset' for {what}: {problem}")
    if profile.stream_filtering and arguments.get("x-stream-filter") == []:
        raise Crash()  # 4.x's reader cannot start with an empty filter (measured)
    for key in arguments:
        if key in profile.stream_refused_consumer_arguments:
            raise ChannelError(
                PRECONDITION_FAILED, f"invalid arg '{key}' for {what} of queue type rabbit_stream_queue"
            )


_LEADING_INTEGER = re.compile(r"([+-]?[0-9]+)(.*)", re.DOTALL)


def expiration_problem(expiration: str | bytes) -> str | None:
    """Why RabbitMQ refuses a message's `expiration` property, in its words (measured on
    3.10.8 and 4.0.5): it must be a whole number of milliseconds, nothing after it, not negative."""
    text = display_text(expiration)
    found = _LEADING_INTEGER.fullmatch(text)
    if found is None:
        return "no_integer"
    number, leftover = int(found[1]), found[2]
    if leftover:
        return f'{{leftover_string,"{leftover}"}}'
    if number < 0:
        return f"{{value_negative,{number}}}"
    return None
