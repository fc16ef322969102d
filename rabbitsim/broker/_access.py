"""Who may do what: users with RabbitMQ's salted password hashes, per-vhost permissions
(configure / write / read regular expressions) and topic permissions, checked where RabbitMQ's
channel checks them, with its words.

A permission is a regular expression searched (not anchored) in a resource name, as Erlang's
`re:run` does; the empty expression allows nothing. The default exchange is checked under the
name `amq.default`. A connection compiles its user's permissions in its vhost once, when it
opens (RabbitMQ caches them per channel too): a change applies to connections opened after it."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ._arguments import resource
from ._errors import ACCESS_REFUSED, ChannelError

if TYPE_CHECKING:
    from ._broker import Broker

#: RabbitMQ's password hashing modules and the hash each applies to salt + password.
HASHING_ALGORITHMS: Final = {
    "rabbit_password_hashing_sha256": "sha256",
    "rabbit_password_hashing_sha512": "sha512",
    "rabbit_password_hashing_md5": "md5",
}
DEFAULT_HASHING: Final = "rabbit_password_hashing_sha256"
SALT_BYTES: Final = 4

#: how many granted checks a channel remembers (RabbitMQ's MAX_PERMISSION_CACHE_SIZE)
PERMISSION_CACHE: Final = 12


def hash_password(password: str, salt: bytes, algorithm: str = DEFAULT_HASHING) -> str:
    """base64(salt + H(salt + password)): what RabbitMQ stores and exports as `password_hash`."""
    digest = hashlib.new(HASHING_ALGORITHMS[algorithm], salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


@dataclass(slots=True)
class User:
    name: str
    password_hash: str  # "" for a user with no password (it cannot log in with one)
    hashing_algorithm: str = DEFAULT_HASHING
    tags: tuple[str, ...] = ()
    #: "max-connections", "max-channels" (RabbitMQ's user limits); absent or negative: none
    limits: dict[str, int] = field(default_factory=dict)

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            return False
        try:
            stored = base64.b64decode(self.password_hash, validate=True)
        except ValueError:
            return False
        algorithm = (
            self.hashing_algorithm if self.hashing_algorithm in HASHING_ALGORITHMS else DEFAULT_HASHING
        )
        return hash_password(password, stored[:SALT_BYTES], algorithm) == self.password_hash


@dataclass(frozen=True, slots=True)
class Permission:
    """A user's rights in one vhost, as three regular expressions over resource names."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True, slots=True)
class TopicPermission:
    """A user's rights on the routing keys of one topic exchange (write: publish, read: bind)."""

    exchange: str
    write: str
    read: str


def compile_permission(pattern: str) -> re.Pattern[str]:
    """A permission as the internal backend applies it: "" allows nothing (it reads "^$")."""
    return re.compile(pattern or "^$")


#: Python's complaint -> what Erlang's `re` says, as (PCRE, PCRE2) messages: RabbitMQ's error
#: texts quote them, 3.10 and 4.0 from PCRE, 4.3 (Erlang/OTP 28) from PCRE2. Others: Python's words.
PCRE_MESSAGES: Final = {
    "missing ), unterminated subpattern": ("missing )", "missing closing parenthesis"),
    "unterminated character set": (
        "missing terminating ] for character class",
        "missing terminating ] for character class",
    ),
    "nothing to repeat": ("nothing to repeat", "quantifier does not follow a repeatable item"),
    "unbalanced parenthesis": ("unmatched parentheses", "unmatched closing parenthesis"),
}


def regex_problem(pattern: str, *, pcre2: bool = True) -> tuple[str, int] | None:
    """Why `pattern` is not a valid regular expression, as Erlang's `re:compile` says it (the
    message and the offset it names), or None."""
    try:
        re.compile(pattern)
    except re.error as error:
        for python, words in PCRE_MESSAGES.items():
            if error.msg.startswith(python):
                # PCRE reads to the end before it finds a group or set unterminated
                unterminated = python.startswith(("missing", "unterminated"))
                return words[pcre2], len(pattern) if unterminated else (error.pos or 0)
        return error.msg, error.pos or 0
    return None


#: Which permission each kind of use needs.
CONFIGURE: Final = "configure"
WRITE: Final = "write"
READ: Final = "read"


class Access:
    """One channel's rights in its vhost. RabbitMQ reads the permissions afresh for each check and
    remembers, per channel, the last few it granted: a revoked right stays usable on a channel that
    already used it, while a new channel (or connection) sees a change at once (measured; see
    tests/conformance/ACCESS_FACTS.md). `everything` (".*" for all three and no topic permissions,
    as `guest` has) lets the hot paths skip the checks."""

    __slots__ = ("broker", "everything", "granted", "names_permission", "patterns", "topics", "user", "vhost")

    def __init__(self, broker: Broker, user: str, vhost: str) -> None:
        self.broker = broker
        self.user = user
        self.vhost = vhost
        self.names_permission = broker.profile.access_text_names_permission
        self.granted: deque[tuple[str, str, str]] = deque(maxlen=PERMISSION_CACHE)
        self.load()

    def load(self) -> None:
        """Read the user's permissions now: when the channel opens, and after every change
        (the broker calls it on every open channel, so the hot paths read a plain flag)."""
        broker, user, vhost = self.broker, self.user, self.vhost
        permission = broker.permissions.get((user, vhost))
        self.patterns: dict[str, re.Pattern[str]] = {}
        if permission is not None:
            self.patterns = {
                CONFIGURE: compile_permission(permission.configure),
                WRITE: compile_permission(permission.write),
                READ: compile_permission(permission.read),
            }
        self.topics: dict[str, TopicPermission] = {
            exchange: topic
            for (who, where, exchange), topic in broker.topic_permissions.items()
            if who == user and where == vhost
        }
        self.everything = (
            permission is not None
            and permission.configure == permission.write == permission.read == ".*"
            and not self.topics
        )

    def check(self, permission: str, kind: str, name: str) -> None:
        """403 unless the user may `permission` the `kind` ("queue", "exchange") called `name`.
        A grant is remembered even when everything is allowed, so that it outlives a revocation
        as in RabbitMQ (all but publishing on `_publishing`'s fast path, which checks nothing)."""
        key = (permission, kind, name)
        if key in self.granted:
            return
        if self.everything:
            self.granted.appendleft(key)
            return
        checked = "amq.default" if kind == "exchange" and name == "" else name
        pattern = self.patterns.get(permission)
        if pattern is None or pattern.search(checked) is None:
            raise ChannelError(
                ACCESS_REFUSED,
                f"{self._access(permission)} to {resource(kind, checked, self.vhost)} "
                f"refused for user '{self.user}'",
            )
        self.granted.appendleft(key)

    def check_any(self, kind: str, name: str) -> None:
        """4.3's passive declares: any of the three permissions will do; refused as configure."""
        if self.everything:
            return
        if not any(pattern.search(name) for pattern in self.patterns.values()):
            self.check(CONFIGURE, kind, name)

    def _access(self, permission: str) -> str:
        return f"{permission} access" if self.names_permission else "access"

    def check_topic(self, permission: str, exchange: str, routing_key: str) -> None:
        """Topic permissions: checked on topic exchanges only, and only when the user has some for
        this exchange; `{username}` and `{vhost}` in the pattern stand for the connection's."""
        if self.everything:
            return
        topic = self.topics.get(exchange)
        if topic is None:
            return
        pattern = getattr(topic, permission) or "^$"
        pattern = pattern.replace("{username}", self.user).replace("{vhost}", self.vhost)  # not escaped
        if re.search(pattern, routing_key) is None:
            raise ChannelError(
                ACCESS_REFUSED,
                f"{self._access(permission)} to topic '{routing_key}' in exchange '{exchange}' "
                f"in vhost '{self.vhost}' refused for user '{self.user}'",
            )
