"""Policies and operator policies: settings a vhost applies to the queues and exchanges whose
names match a pattern, instead of (or on top of) their declare arguments.

RabbitMQ's rules, read from its source (rabbit_policy, rabbit_policies, rabbit_amqqueue_process,
rabbit_quorum_queue) and measured on 3.10, 4.0 and 4.3:
- of the policies whose pattern matches a name (searched, not anchored) and whose `apply-to`
  covers the thing, the one with the highest priority applies, and so does one operator policy;
- the two merge key by key: numbers take the lower, `overflow` the operator's, and a negative
  (unlimited) `delivery-limit` loses to a limited one;
- the result meets the queue's own `x-` arguments key by key: for most numbers the lower wins,
  for the dead-letter keys and classic queues' `overflow` the argument wins, for quorum
  queues' `overflow` the policy wins (`RESOLVE`).
A policy change applies at once to every matching queue and exchange in the vhost."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._access import regex_problem
from ._errors import AdminError

if TYPE_CHECKING:
    from ._profile import VersionProfile

APPLY_TO: Final = ("all", "queues", "classic_queues", "quorum_queues", "streams", "exchanges")


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    vhost: str
    pattern: str
    definition: Mapping[str, Any]
    priority: int = 0
    apply_to: str = "all"

    def applies(self, name: str, queue_type: str | None) -> bool:
        """Whether this policy is for `name`: a queue of `queue_type`, or (None) an exchange."""
        if queue_type is None:
            covered = self.apply_to in ("all", "exchanges")
        else:
            covered = self.apply_to in ("all", "queues") or self.apply_to == QUEUE_TYPE_TARGETS.get(
                queue_type
            )
        return covered and re.search(self.pattern, name) is not None


QUEUE_TYPE_TARGETS: Final = {"classic": "classic_queues", "quorum": "quorum_queues", "stream": "streams"}


def matching(policies: Mapping[str, Policy], name: str, queue_type: str | None) -> Policy | None:
    """The policy that applies to `name`: the highest priority of those that match (among equals,
    the first by name)."""
    best: Policy | None = None
    for policy in sorted(policies.values(), key=lambda p: p.name):
        if policy.applies(name, queue_type) and (best is None or policy.priority > best.priority):
            best = policy
    return best


# --- validation -------------------------------------------------------------------------------


def erlang_term(value: Any) -> str:
    """A JSON value as Erlang's `~tp` prints the term RabbitMQ decoded it to."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'<<"{escaped}">>'
    if isinstance(value, tuple):
        return "{" + ",".join(erlang_term(item) for item in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "#{" + ",".join(f"{erlang_term(k)} => {erlang_term(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _integer(least: int | None = 0) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)
    )


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: value in choices


def _text(value: Any) -> bool:
    return isinstance(value, str)


_MAX_AGE = re.compile(r"[0-9]+(Y|M|D|h|m|s)")

#: key -> (valid?, what RabbitMQ calls a refused value): every version's policy validators. The
#: keys for streams, mirroring and placement are accepted as RabbitMQ accepts them, and do nothing
#: here. Which keys a version knows: `KEYS_*` below, named by the profiles.
VALIDATORS: Final[dict[str, tuple[Callable[[Any], bool], str]]] = {
    "alternate-exchange": (_text, "is not a valid alternate exchange name"),
    "consumer-timeout": (_integer(), "is not a valid consumer timeout"),
    "dead-letter-exchange": (_text, "is not a valid dead letter exchange name"),
    "dead-letter-routing-key": (_text, "is not a valid dead letter routing key"),
    "dead-letter-strategy": (_one_of("at-most-once", "at-least-once"), "is not a valid dead letter strategy"),
    "message-ttl": (_integer(), "is not a valid message TTL"),
    "expires": (_integer(1), "is not a valid queue expiry"),
    "max-length": (_integer(), "is not a valid maximum length"),
    "max-length-bytes": (_integer(), "is not a valid maximum length in bytes"),
    "max-in-memory-length": (_integer(), "is not a valid maximum memory in bytes"),
    "max-in-memory-bytes": (_integer(), "is not a valid maximum memory in bytes"),
    "queue-mode": (_one_of("default", "lazy"), "is not a valid queue-mode value"),
    "queue-version": (
        lambda value: value in (1, 2) and not isinstance(value, bool),
        "is not a valid queue-version value",
    ),
    "overflow": (
        _one_of("drop-head", "reject-publish", "reject-publish-dlx"),
        "is not a valid overflow value",
    ),
    "delivery-limit": (_integer(None), "is not a valid delivery limit"),
    "queue-leader-locator": (
        _one_of("client-local", "balanced", "random", "least-leaders"),
        "is not a valid queue leader locator value",
    ),
    "initial-cluster-size": (_integer(), "is not a valid cluster size"),
    "max-age": (
        lambda value: isinstance(value, str) and _MAX_AGE.fullmatch(value) is not None,
        "is not a valid max age",
    ),
    "stream-max-segment-size-bytes": (_integer(), "is not a valid segment size"),
    "stream-filter-size-bytes": (
        lambda value: isinstance(value, int) and 16 <= value <= 255,
        "is not a valid filter size. Valid range is 16-255",
    ),
    "consumer-disconnected-timeout": (_integer(), "is not a valid consumer disconnected timeout"),
    # classic queue mirroring and its placement (3.x only)
    "ha-mode": (_one_of("all", "exactly", "nodes"), "is not a valid ha-mode value"),
    "ha-params": (lambda value: True, ""),
    "ha-sync-mode": (_one_of("manual", "automatic"), "is not a valid ha-sync-mode value"),
    "ha-sync-batch-size": (_integer(1), "is not a valid ha-sync-batch-size value"),
    "ha-promote-on-shutdown": (
        _one_of("always", "when-synced"),
        "is not a valid ha-promote-on-shutdown value",
    ),
    "ha-promote-on-failure": (_one_of("always", "when-synced"), "is not a valid ha-promote-on-failure value"),
    "queue-master-locator": (
        _one_of("min-masters", "client-local", "random"),
        "is not a valid queue-master-locator value",
    ),
}
_SHARED: Final = (
    "alternate-exchange",
    "dead-letter-exchange",
    "dead-letter-routing-key",
    "dead-letter-strategy",
    "message-ttl",
    "expires",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "queue-mode",
    "queue-version",
    "overflow",
    "delivery-limit",
    "max-age",
    "stream-max-segment-size-bytes",
    "queue-leader-locator",
    "initial-cluster-size",
)
#: the policy keys each version knows (rabbit_policies, rabbit_mirror_queue_misc)
KEYS_3_10: Final = frozenset(
    (
        *_SHARED,
        "ha-mode",
        "ha-params",
        "ha-sync-mode",
        "ha-sync-batch-size",
        "ha-promote-on-shutdown",
        "ha-promote-on-failure",
        "queue-master-locator",
    )
)
KEYS_4_0: Final = frozenset(
    (*_SHARED, "consumer-timeout", "stream-filter-size-bytes", "queue-master-locator")
)
KEYS_4_3: Final = KEYS_4_0 | {"consumer-disconnected-timeout"}
#: what an operator policy may set
OPERATOR_KEYS_3_10: Final = frozenset(
    (
        "expires",
        "message-ttl",
        "max-length",
        "max-length-bytes",
        "max-in-memory-length",
        "max-in-memory-bytes",
        "delivery-limit",
    )
)
OPERATOR_KEYS_4_0: Final = OPERATOR_KEYS_3_10 | {"queue-version", "overflow", "queue-master-locator"}
#: keys a version knows only to refuse (4.3 denies the deprecated feature by default)
DEPRECATED_4_3: Final = frozenset({"queue-master-locator"})
#: what `apply-to` may say, and how a version says what it may say
APPLY_TO_3_10: Final = ("all", "queues", "exchanges")
APPLY_TO_4_0: Final = APPLY_TO
_APPLY_TO_CHOICES: Final = {
    APPLY_TO_3_10: "should be 'queues', 'exchanges' or 'all'",
    APPLY_TO_4_0: (
        "should be one of: 'queues', 'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'"
    ),
}


class PolicyRefused(AdminError):
    """A policy refused by validation; `definition`: for what its definition holds (rather than
    its pattern, priority or apply-to), which 3.10 reports differently in an import."""

    def __init__(self, reason: str, *, definition: bool = False) -> None:
        super().__init__(AdminError.BAD_REQUEST, f"Validation failed\n\n{reason}\n")
        self.definition = definition


def _bad(reason: str, *, definition: bool = False) -> PolicyRefused:
    return PolicyRefused(reason, definition=definition)


def _erlang_pair(message: str, offset: int, *, column: int) -> str:
    """`{"message",offset}` as `~tp` prints it at `column`: over 80 columns, the second element
    goes on its own line, under the first."""
    line = f'{{"{message}",{offset}}}'
    if column + len(line) <= ERLANG_LINE:
        return line
    return f'{{"{message}",\n{" " * (column + 1)}{offset}}}'


ERLANG_LINE: Final = 80


def check_policy(
    pattern: Any,
    definition: Any,
    priority: Any,
    apply_to: Any,
    *,
    profile: VersionProfile,
    operator: bool = False,
) -> None:
    """Refuse what RabbitMQ (the version of `profile`) refuses, in its words, before anything
    changes."""
    if not isinstance(priority, int | float) or isinstance(priority, bool):
        raise _bad(f"priority should be a number, actually was {erlang_term(priority)}")
    if not isinstance(pattern, str):
        raise _bad(f"pattern should be a binary but was {erlang_term(pattern)}")
    problem = regex_problem(pattern, pcre2=profile.pcre2)
    if problem is not None:
        prefix = "pattern should be regular expression but is invalid: "
        raise _bad(prefix + _erlang_pair(*problem, column=len(prefix)))
    if apply_to not in profile.policy_apply_to:
        raise _bad(f"apply-to '{apply_to}' unrecognised; {_APPLY_TO_CHOICES[profile.policy_apply_to]}")
    if not isinstance(definition, Mapping):
        raise _bad(f"definition must be a dictionary: {erlang_term(definition)}")
    if not definition:
        raise _bad("no policy provided", definition=True)
    allowed = profile.operator_policy_keys if operator else profile.policy_keys
    for key in definition:
        if key in allowed and key in profile.deprecated_policy_keys:
            raise _bad(f"use of deprecated {key} argument is not permitted", definition=True)
    for key, value in definition.items():
        if key in allowed:
            valid, complaint = VALIDATORS[key]
            if not valid(value):
                raise _bad(f"{erlang_term(value)} {complaint}", definition=True)
    unknown = [(key, value) for key, value in definition.items() if key not in allowed]
    if unknown:
        raise _bad(f"{erlang_term(unknown)} are not recognised policy settings", definition=True)


# --- what applies -------------------------------------------------------------------------------


def _lower(a: Any, b: Any) -> Any:
    return min(a, b)


def _delivery_limit(a: Any, b: Any) -> Any:
    """A negative delivery limit means none; merged with a real one, the real one wins."""
    return max(a, b) if a < 0 or b < 0 else min(a, b)


def _second(_a: Any, b: Any) -> Any:
    return b


def _first(a: Any, _b: Any) -> Any:
    return a


#: policy value, operator policy value -> the value that applies
OPERATOR_MERGE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "message-ttl": _lower,
    "max-length": _lower,
    "max-length-bytes": _lower,
    "max-in-memory-length": _lower,
    "max-in-memory-bytes": _lower,
    "expires": _lower,
    "delivery-limit": _delivery_limit,
    "queue-version": _second,
    "overflow": _second,
}


def effective_definition(policy: Policy | None, operator: Policy | None) -> dict[str, Any]:
    """What the management API shows as `effective_policy_definition`."""
    mine = dict(policy.definition) if policy else {}
    if operator is None:
        return mine
    for key, value in operator.definition.items():
        mine[key] = OPERATOR_MERGE.get(key, _second)(mine[key], value) if key in mine else value
    return mine


#: policy value, argument value -> the value that applies, per queue type (`_first`: the policy).
CLASSIC_RESOLVE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "expires": _lower,
    "dead-letter-exchange": _second,
    "dead-letter-routing-key": _second,
    "message-ttl": _lower,
    "max-length": _lower,
    "max-length-bytes": _lower,
    "overflow": _second,
}
QUORUM_RESOLVE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "max-length": _lower,
    "overflow": _first,
    "max-length-bytes": _lower,
    "delivery-limit": _delivery_limit,
    "expires": _lower,
    "message-ttl": _lower,
    "dead-letter-exchange": _second,
    "dead-letter-routing-key": _second,
}
#: a stream's retention and segment size: the policy wins (`rabbit_stream_queue:policy_precedence`)
STREAM_RESOLVE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "max-length-bytes": _first,
    "max-age": _first,
    "stream-max-segment-size-bytes": _first,
}
RESOLVE: Final = {"classic": CLASSIC_RESOLVE, "quorum": QUORUM_RESOLVE, "stream": STREAM_RESOLVE}
#: 3.10's quorum queues let a policy's `expires` win over the argument
QUORUM_POLICY_EXPIRES: Final = {**QUORUM_RESOLVE, "expires": _first}


def queue_settings(
    queue_type: str,
    arguments: Mapping[str, Any],
    definition: Mapping[str, Any],
    *,
    policy_expires: bool = False,
) -> dict[str, Any]:
    """The `x-` arguments a queue behaves by: its own, met by what its policies define."""
    if not definition:
        return dict(arguments)
    table = (
        QUORUM_POLICY_EXPIRES if queue_type == "quorum" and policy_expires else RESOLVE.get(queue_type, {})
    )
    settings = dict(arguments)
    for key, resolve in table.items():
        if key not in definition:
            continue
        name = "x-" + key
        settings[name] = resolve(definition[key], arguments[name]) if name in arguments else definition[key]
    return settings
