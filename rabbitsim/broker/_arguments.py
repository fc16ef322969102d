"""Declare arguments: which ones RabbitMQ compares on redeclare, which values it refuses,
and the exact wording of its complaints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._errors import PRECONDITION_FAILED, ChannelError
from ._routing import value_class


def resource(kind: str, name: str, vhost: str) -> str:
    """RabbitMQ's way of naming a resource in reply texts: `queue 'q' in vhost '/'`."""
    return f"{kind} '{name}' in vhost '{vhost}'"


def _wire_type(value: Any) -> str:
    """The AMQP field type name a client library would have sent `value` as."""
    kind = value_class(value)
    if kind == "int":
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    return {"float": "double"}.get(kind, kind)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    return f"'{value}'"


def _shown_typed(value: Any) -> str:
    if value is None:
        return "none"
    return f"the value '{value}' of type '{_wire_type(value)}'"


def inequivalent(what: str, key: str, received: Any, current: Any, *, typed: bool = False) -> ChannelError:
    show = _shown_typed if typed else _shown
    return ChannelError(
        PRECONDITION_FAILED,
        f"inequivalent arg '{key}' for {what}: received {show(received)} but current is {show(current)}",
    )


def assert_same_fields(what: str, fields: list[tuple[str, Any, Any]]) -> None:
    """Compare (name, current, requested) in RabbitMQ's order; the first difference is the error."""
    for key, current, received in fields:
        if current != received:
            raise inequivalent(what, key, received, current)


def _same_value(left: Any, right: Any) -> bool:
    return value_class(left) == value_class(right) and left == right


def assert_same_arguments(
    what: str,
    current: Mapping[str, Any],
    received: Mapping[str, Any],
    compared: tuple[str, ...],
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Only the arguments RabbitMQ knows are compared; unknown `x-` arguments never clash."""
    defaults = defaults or {}
    for key in compared:
        have = current.get(key, defaults.get(key))
        want = received.get(key, defaults.get(key))
        if have is None and want is None:
            continue
        if have is None or want is None or not _same_value(have, want):
            raise inequivalent(what, key, want, have, typed=True)


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

#: An absent argument that reads the same as this value when comparing.
QUEUE_ARGUMENT_DEFAULTS = {"x-queue-type": "classic"}

EXCHANGE_COMPARED_ARGUMENTS = ("alternate-exchange",)


def _non_negative_int(value: Any) -> str | None:
    if value_class(value) != "int":
        return f"{{unacceptable_type,{_wire_type(value)}}}"
    return None if value >= 0 else f"{{value_negative,{value}}}"


def _positive_int(value: Any) -> str | None:
    problem = _non_negative_int(value)
    if problem is None and value == 0:
        return f"{{value_zero,{value}}}"
    return problem


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        text = value.decode() if isinstance(value, bytes) else value
        return None if text in choices else f"{{unsupported_value,{value}}}"

    return check


def _string(value: Any) -> str | None:
    return None if value_class(value) == "longstr" else f"{{unacceptable_type,{_wire_type(value)}}}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{{unacceptable_type,{_wire_type(value)}}}"


#: argument -> check returning RabbitMQ's reason term when the value is refused.
QUEUE_ARGUMENT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "x-expires": _positive_int,
    "x-message-ttl": _non_negative_int,
    "x-max-length": _non_negative_int,
    "x-max-length-bytes": _non_negative_int,
    "x-max-priority": _non_negative_int,
    "x-delivery-limit": _non_negative_int,
    "x-dead-letter-exchange": _string,
    "x-dead-letter-routing-key": _string,
    "x-overflow": _one_of("drop-head", "reject-publish", "reject-publish-dlx"),
    "x-single-active-consumer": _boolean,
}


def check_queue_arguments(what: str, arguments: Mapping[str, Any]) -> None:
    for key, check in QUEUE_ARGUMENT_CHECKS.items():
        if key in arguments and (reason := check(arguments[key])) is not None:
            raise ChannelError(PRECONDITION_FAILED, f"invalid arg '{key}' for {what}: {reason}")
