"""Administration: what `rabbitmqctl` and the management API change, as operations on the
core. Users, vhosts, permissions, topic permissions, policies, limits, closing connections, and
definitions (RabbitMQ's JSON of all of it) for export and import.

Each operation checks everything first and raises `AdminError` (nothing changed) or applies
all of it. What a restart keeps goes on the road as one `KeepSettings` intent after a change."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._access import (
    DEFAULT_HASHING,
    HASHING_ALGORITHMS,
    SALT_BYTES,
    Permission,
    TopicPermission,
    User,
    hash_password,
    regex_problem,
)
from ._definitions import (
    apply_settings,
    erlang_string,
    export_definitions,
    export_settings,
    import_definitions,
)
from ._durability import KeepSettings
from ._errors import (
    CONNECTION_FORCED,
    NOT_ALLOWED,
    PRECONDITION_FAILED,
    AdminError,
    ChannelError,
    ConnectionError,
)
from ._firehose import NODE_NAME
from ._output import ConnectionClosed
from ._policies import Policy, check_policy, effective_definition, matching

if TYPE_CHECKING:
    from ._durability import Intent
    from ._exchange import Exchange
    from ._profile import VersionProfile
    from ._queue import Queue
    from ._vhost import VHost

VHOST_LIMITS: Final = ("max-connections", "max-queues")
USER_LIMITS: Final = ("max-connections", "max-channels")
#: the tag a user is given by `rabbitmqctl add_user` (none) and the ones the management UI knows
KNOWN_TAGS: Final = ("administrator", "monitoring", "policymaker", "management", "impersonator")


def _over(limit: int | None, count: int) -> bool:
    """RabbitMQ's limits: absent or negative is none; otherwise `count` may not reach it."""
    return limit is not None and limit >= 0 and count >= limit


def _not_found(reason: str = "Not Found") -> AdminError:
    return AdminError(AdminError.NOT_FOUND, reason)


class Administration:
    """The administrative half of `Broker` (a mixin: the state lives on the broker)."""

    vhosts: dict[str, VHost]
    users: dict[str, User]
    connections: dict[str, Any]
    permissions: dict[tuple[str, str], Permission]
    topic_permissions: dict[tuple[str, str, str], TopicPermission]
    keeping: bool
    profile: VersionProfile
    _salts: int

    if TYPE_CHECKING:  # the broker's own

        def add_vhost(self, name: str) -> VHost: ...
        def keep(self, intent: Intent) -> None: ...

    # --- users ---------------------------------------------------------------------------------

    def _salt(self, name: str) -> bytes:
        """4 bytes of salt, derived from a counter so runs repeat (RabbitMQ's are random)."""
        self._salts += 1
        return hashlib.blake2b(f"{self._salts}:{name}".encode(), digest_size=SALT_BYTES).digest()

    def add_user(
        self,
        name: str,
        password: str | None,
        *,
        tags: Iterable[str] = (),
        password_hash: str | None = None,
        hashing_algorithm: str | None = None,
    ) -> User:
        """Create or replace a user: with a password (hashed here), a ready `password_hash`
        (definitions, the API), or neither (no password: it cannot log in with one)."""
        algorithm = hashing_algorithm or DEFAULT_HASHING
        if algorithm not in HASHING_ALGORITHMS:
            raise AdminError(AdminError.BAD_REQUEST, f"unknown hashing algorithm {algorithm}")
        if password_hash is None:
            password_hash = "" if password is None else hash_password(password, self._salt(name), algorithm)
        else:
            try:
                base64.b64decode(password_hash, validate=True)
            except ValueError as error:
                raise AdminError(AdminError.BAD_REQUEST, "password_hash is not valid base64") from error
        old = self.users.get(name)
        user = User(
            name,
            password_hash,
            algorithm,
            tuple(tags),
            dict(old.limits) if old else {},
        )
        self.users[name] = user
        self._settings_changed()
        return user

    def user(self, name: str) -> User:
        found = self.users.get(name)
        if found is None:
            raise _not_found()
        return found

    def delete_user(self, name: str) -> None:
        """As RabbitMQ: the user's permissions go, and so do its open connections."""
        self.user(name)
        del self.users[name]
        for key in [key for key in self.permissions if key[0] == name]:
            del self.permissions[key]
        for topic_key in [key for key in self.topic_permissions if key[0] == name]:
            del self.topic_permissions[topic_key]
        self._close_where(lambda c: c.user == name, f"user '{name}' is deleted")
        self._settings_changed()

    def change_password(self, name: str, password: str) -> None:
        user = self.user(name)
        user.password_hash = hash_password(password, self._salt(name), user.hashing_algorithm)
        self._settings_changed()

    def clear_password(self, name: str) -> None:
        self.user(name).password_hash = ""
        self._settings_changed()

    def set_user_tags(self, name: str, tags: Iterable[str]) -> None:
        self.user(name).tags = tuple(tags)
        self._settings_changed()

    def set_user_limits(self, name: str, limits: Mapping[str, Any]) -> None:
        user = self.user(name)
        user.limits = {**user.limits, **_checked_limits(limits, USER_LIMITS)}
        self._settings_changed()

    def clear_user_limits(self, name: str, limit: str | None = None) -> None:
        user = self.user(name)
        if limit is None or limit == "all":
            user.limits.clear()
        else:
            user.limits.pop(limit, None)
        self._settings_changed()

    # --- vhosts --------------------------------------------------------------------------------

    def vhost(self, name: str) -> VHost:
        found = self.vhosts.get(name)
        if found is None:
            raise _not_found()
        return found

    def update_vhost(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        default_queue_type: str | None = None,
        tracing: bool | None = None,
    ) -> VHost:
        """Create a vhost (as `add_vhost`) or change what describes it."""
        vhost = self.add_vhost(name)
        if description is not None:
            vhost.description = description
        if tags is not None:
            vhost.tags = tuple(tags)
        if default_queue_type is not None:
            vhost.default_queue_type = default_queue_type
        if tracing is not None:
            vhost.tracing = tracing
        self._settings_changed()
        return vhost

    def delete_vhost(self, name: str) -> None:
        """Everything in it goes: its connections are closed (320, "vhost 'v' is deleted"), its
        queues (with their messages) and exchanges deleted, its permissions and policies dropped."""
        vhost = self.vhost(name)
        self._close_where(lambda c: c.vhost is vhost, f"vhost '{name}' is deleted")
        for queue in list(vhost.queues.values()):
            vhost.delete_queue(queue, reason="vhost-deleted")
        for exchange in list(vhost.exchanges.values()):
            if exchange.name and vhost.exchanges.get(exchange.name) is exchange:
                vhost.delete_exchange(exchange, reason="vhost-deleted")
        del self.vhosts[name]
        for key in [key for key in self.permissions if key[1] == name]:
            del self.permissions[key]
        for topic_key in [key for key in self.topic_permissions if key[1] == name]:
            del self.topic_permissions[topic_key]
        self._settings_changed()

    def set_vhost_limits(self, name: str, limits: Mapping[str, Any]) -> None:
        vhost = self.vhost(name)
        vhost.limits = {**vhost.limits, **_checked_limits(limits, VHOST_LIMITS)}
        self._settings_changed()

    def clear_vhost_limits(self, name: str, limit: str | None = None) -> None:
        vhost = self.vhost(name)
        if limit is None or limit == "all":
            vhost.limits.clear()
        else:
            vhost.limits.pop(limit, None)
        self._settings_changed()

    # --- permissions ---------------------------------------------------------------------------

    def set_permissions(self, user: str, vhost: str, configure: str, write: str, read: str) -> Permission:
        """Connections opened from now on use them (an open one keeps what it had)."""
        self.user(user)
        self.vhost(vhost)
        for pattern in (configure, write, read):
            _check_regex(pattern, pcre2=self.profile.pcre2)
        permission = self.permissions[(user, vhost)] = Permission(configure, write, read)
        self._settings_changed()
        return permission

    def clear_permissions(self, user: str, vhost: str) -> None:
        self.user(user)
        self.vhost(vhost)
        self.permissions.pop((user, vhost), None)
        self._settings_changed()

    def set_topic_permissions(
        self, user: str, vhost: str, exchange: str, write: str, read: str
    ) -> TopicPermission:
        self.user(user)
        self.vhost(vhost)
        for pattern in (write, read):
            _check_regex(pattern, pcre2=self.profile.pcre2)
        topic = self.topic_permissions[(user, vhost, exchange)] = TopicPermission(exchange, write, read)
        self._settings_changed()
        return topic

    def clear_topic_permissions(self, user: str, vhost: str, exchange: str | None = None) -> None:
        self.user(user)
        self.vhost(vhost)
        for key in [k for k in self.topic_permissions if k[:2] == (user, vhost) and exchange in (None, k[2])]:
            del self.topic_permissions[key]
        self._settings_changed()

    # --- limits, checked by the channel and at connection.open ---------------------------------

    def check_connection_limits(self, vhost: VHost, user: str) -> None:
        """connection.open's checks, in RabbitMQ's order: the vhost's limit, the user's, then
        whether the user may use the vhost at all."""
        open_connections = list(self.connections.values())
        limit = vhost.limits.get("max-connections")
        if _over(limit, sum(1 for c in open_connections if c.vhost is vhost)):
            raise ConnectionError(
                NOT_ALLOWED,
                f"access to vhost '{vhost.name}' refused for user '{user}': "
                f"connection limit ({limit}) is reached",
                "connection.open",
            )
        found = self.users.get(user)
        user_limit = found.limits.get("max-connections") if found else None
        if _over(user_limit, sum(1 for c in open_connections if c.user == user)):
            raise ConnectionError(
                NOT_ALLOWED,
                f"connection refused for user '{user}': user connection limit ({user_limit}) is reached",
                "connection.open",
            )
        if (user, vhost.name) not in self.permissions:
            raise ConnectionError(
                NOT_ALLOWED, f"access to vhost '{vhost.name}' refused for user '{user}'", "connection.open"
            )

    def check_channel_limit(self, user: str) -> None:
        found = self.users.get(user)
        if found is None or not found.limits:
            return
        limit = found.limits.get("max-channels")
        count = sum(len(c.channels) for c in self.connections.values() if c.user == user)
        if _over(limit, count):
            text = self.profile.channel_limit_text.format(user=user, node=NODE_NAME, limit=limit)
            raise ConnectionError(NOT_ALLOWED, text, "channel.open")

    @staticmethod
    def check_queue_limit(vhost: VHost, name: str) -> None:
        limit = vhost.limits.get("max-queues")
        if _over(limit, len(vhost.queues)):
            raise ChannelError(
                PRECONDITION_FAILED,
                f"cannot declare queue '{name}': queue limit in vhost '{vhost.name}' ({limit}) is reached",
            )

    # --- connections ---------------------------------------------------------------------------

    def close_connection(self, name: str, explanation: str = "Closed via management plugin") -> None:
        """`rabbitmqctl close_connection` / DELETE /api/connections/name: 320 with the reason."""
        if name not in self.connections:
            raise _not_found()
        self._close_where(lambda c: c.name == name, explanation)

    def _close_where(self, chosen: Any, explanation: str) -> None:
        error = ConnectionError(CONNECTION_FORCED, explanation)
        for connection in [c for c in self.connections.values() if chosen(c)]:
            connection.shut_down(error)
            connection.send(0, ConnectionClosed(error))

    # --- policies ------------------------------------------------------------------------------

    def set_policy(
        self,
        vhost: str,
        name: str,
        pattern: Any,
        definition: Any,
        *,
        priority: Any = 0,
        apply_to: Any = "all",
        operator: bool = False,
    ) -> Policy:
        """Add or replace a policy (or an operator policy); it applies at once."""
        found = self.vhost(vhost)
        check_policy(pattern, definition, priority, apply_to, operator=operator, profile=self.profile)
        policy = Policy(name, vhost, pattern, dict(definition), int(priority), apply_to)
        (found.operator_policies if operator else found.policies)[name] = policy
        self.apply_policies(found)
        self._settings_changed()
        return policy

    def clear_policy(self, vhost: str, name: str, *, operator: bool = False) -> None:
        found = self.vhost(vhost)
        policies = found.operator_policies if operator else found.policies
        if name not in policies:
            raise _not_found()
        del policies[name]
        self.apply_policies(found)
        self._settings_changed()

    def apply_policies(self, vhost: VHost) -> None:
        """Give every queue and exchange of `vhost` the policies that match it now."""
        for queue in vhost.queues.values():
            self.apply_queue_policy(queue)
        for exchange in vhost.exchanges.values():
            self.apply_exchange_policy(exchange, vhost)

    @staticmethod
    def apply_queue_policy(queue: Queue) -> None:
        vhost = queue.vhost
        policy = matching(vhost.policies, queue.name, queue.type) if vhost.policies else None
        operator = (
            matching(vhost.operator_policies, queue.name, queue.type) if vhost.operator_policies else None
        )
        if policy is queue.policy and operator is queue.operator_policy:
            return
        queue.policy, queue.operator_policy = policy, operator
        queue.apply_policy(effective_definition(policy, operator))

    @staticmethod
    def apply_exchange_policy(exchange: Exchange, vhost: VHost) -> None:
        exchange.policy = matching(vhost.policies, exchange.name, None) if vhost.policies else None
        exchange.operator_policy = (
            matching(vhost.operator_policies, exchange.name, None) if vhost.operator_policies else None
        )

    # --- what a restart keeps ------------------------------------------------------------------

    def _settings_changed(self) -> None:
        """After any administrative change: open channels re-read their permissions, a store
        keeps it."""
        for connection in self.connections.values():
            for channel in connection.channels.values():
                channel.access.load()
        if self.keeping:
            self.keep(KeepSettings(self.settings()))

    def settings(self) -> dict[str, Any]:
        """Users, vhosts, permissions, policies and limits, in RabbitMQ's definitions format
        (the part of it that is not queues, exchanges and bindings)."""
        return export_settings(self)

    def restore_settings(self, settings: Mapping[str, Any]) -> None:
        """What a store kept (`settings`), back after a restart: it replaces the defaults."""
        self.users.clear()
        self.permissions.clear()
        apply_settings(self, settings)

    def definitions(self) -> dict[str, Any]:
        """GET /api/definitions, `rabbitmqctl export_definitions`."""
        return export_definitions(self)

    def import_definitions(self, doc: Any, *, whole: bool = True) -> None:
        """POST /api/definitions[/vhost], `rabbitmqctl import_definitions` (`_definitions`)."""
        import_definitions(self, doc, whole=whole)


def _check_regex(pattern: Any, *, pcre2: bool) -> None:
    """A permission's regular expression; refused as RabbitMQ's management API reports it (an
    Erlang term of character codes: `["invalid_regexp", "(", ["missing )", 1]]`)."""
    if not isinstance(pattern, str):
        raise AdminError(AdminError.BAD_REQUEST, f"{pattern!r} is not a string")
    problem = regex_problem(pattern, pcre2=pcre2)
    if problem is not None:
        message, offset = problem
        raise AdminError(
            AdminError.BAD_REQUEST,
            f"invalid regular expression '{pattern}': {message} at {offset}",
            term=["invalid_regexp", erlang_string(pattern), [erlang_string(message), offset]],
        )


def _checked_limits(limits: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, int]:
    for key, value in limits.items():
        if key not in known:
            raise AdminError(
                AdminError.BAD_REQUEST,
                f'Validation failed\n\nUnrecognised terms [{{<<"{key}">>,{value}}}] in limits\n',
            )
        if not isinstance(value, int) or isinstance(value, bool):
            raise AdminError(
                AdminError.BAD_REQUEST,
                f"Validation failed\n\n{key} should be a number, actually was {value!r}\n",
            )
    return dict(limits)
