"""Definitions: RabbitMQ's JSON of a broker's users, vhosts, permissions, parameters, policies,
queues, exchanges and bindings (`rabbitmqctl export_definitions`, GET /api/definitions), and
importing one back.

An import is checked whole before anything changes (RabbitMQ applies a good file in this order:
users, vhosts, permissions, topic permissions, parameters, policies, queues, exchanges,
bindings); a bad file changes nothing. What exists already and is equivalent is left alone; a
queue or exchange that exists with other properties is refused, as a declare would be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._arguments import check_exchange_arguments, check_queue_arguments, resource
from ._errors import AdminError, AMQPError
from ._exchange import Exchange
from ._policies import PolicyRefused
from ._queue import Queue
from ._routing import ROUTERS
from ._text import utf8_text

if TYPE_CHECKING:
    from ._access import User
    from ._administration import Administration as Broker
    from ._policies import Policy


def _plain(value: Any) -> Any:
    """Argument tables as JSON: text for bytes, lists and tables all the way down."""
    if isinstance(value, bytes | bytearray):
        return utf8_text(bytes(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def export_settings(broker: Broker) -> dict[str, Any]:
    """Everything but the queues, exchanges and bindings: what a restart keeps of administration."""
    parameters: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    for vhost in broker.vhosts.values():
        if vhost.limits:
            parameters.append(
                {
                    "vhost": vhost.name,
                    "component": "vhost-limits",
                    "name": "limits",
                    "value": dict(vhost.limits),
                }
            )
        for policy in vhost.operator_policies.values():
            parameters.append(
                {
                    "vhost": vhost.name,
                    "component": "operator_policy",
                    "name": policy.name,
                    "value": _policy_value(policy),
                }
            )
        policies.extend(policy_definition(p) for p in vhost.policies.values())
    return {
        "rabbit_version": broker.profile.rabbitmq_version,
        "rabbitmq_version": broker.profile.rabbitmq_version,
        "users": [user_definition(user) for user in broker.users.values()],
        "vhosts": [
            {
                "name": vhost.name,
                "description": vhost.description,
                "tags": list(vhost.tags),
                "default_queue_type": vhost.default_queue_type or "classic",
                "metadata": {
                    "description": vhost.description,
                    "tags": list(vhost.tags),
                    "default_queue_type": vhost.default_queue_type or "classic",
                },
            }
            for vhost in broker.vhosts.values()
        ],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": p.configure, "write": p.write, "read": p.read}
            for (user, vhost), p in broker.permissions.items()
        ],
        "topic_permissions": [
            {"user": user, "vhost": vhost, "exchange": exchange, "write": t.write, "read": t.read}
            for (user, vhost, exchange), t in broker.topic_permissions.items()
        ],
        "parameters": parameters,
        "global_parameters": [],
        "policies": policies,
    }


def user_definition(user: User) -> dict[str, Any]:
    """A user as definitions (and the management API) show it."""
    return {
        "name": user.name,
        "password_hash": user.password_hash,
        "hashing_algorithm": user.hashing_algorithm,
        "tags": list(user.tags),
        "limits": dict(user.limits),
    }


def policy_definition(policy: Policy) -> dict[str, Any]:
    """A policy as definitions (and the management API) show it."""
    return {"vhost": policy.vhost, "name": policy.name, **_policy_value(policy)}


def _policy_value(policy: Policy) -> dict[str, Any]:
    """What an operator policy's parameter value holds (a policy: this, with vhost and name)."""
    return {
        "pattern": policy.pattern,
        "apply-to": policy.apply_to,
        "definition": dict(policy.definition),
        "priority": policy.priority,
    }


def export_definitions(broker: Broker) -> dict[str, Any]:
    """The whole of it, as GET /api/definitions gives it: exclusive queues, the default and
    `amq.*` exchanges, internal exchanges and implicit bindings are left out, as RabbitMQ does."""
    settings = export_settings(broker)
    queues, exchanges, bindings = [], [], []
    for vhost in broker.vhosts.values():
        for queue in vhost.queues.values():
            if queue.owner is None:
                queues.append(
                    {
                        "name": queue.name,
                        "vhost": vhost.name,
                        "durable": queue.durable,
                        "auto_delete": queue.auto_delete,
                        "arguments": _plain(_recorded_arguments(broker, queue)),
                    }
                )
        for exchange in vhost.exchanges.values():
            if not exchange.name or exchange.name.startswith("amq.") or exchange.internal:
                continue
            exchanges.append(
                {
                    "name": exchange.name,
                    "vhost": vhost.name,
                    "type": exchange.type,
                    "durable": exchange.durable,
                    "auto_delete": exchange.auto_delete,
                    "internal": exchange.internal,
                    "arguments": _plain(exchange.arguments),
                }
            )
            for binding in exchange.outgoing.values():
                destination = binding.destination
                bindings.append(
                    {
                        "source": exchange.name,
                        "vhost": vhost.name,
                        "destination": destination.name,
                        "destination_type": "exchange" if isinstance(destination, Exchange) else "queue",
                        "routing_key": binding.routing_key,
                        "arguments": _plain(binding.arguments),
                    }
                )
    return {**settings, "queues": queues, "exchanges": exchanges, "bindings": bindings}


def _recorded_arguments(broker: Broker, queue: Queue) -> dict[str, Any]:
    if broker.profile.records_queue_type and "x-queue-type" not in queue.arguments:
        return {"x-queue-type": queue.type, **queue.arguments}
    return dict(queue.arguments)


# --- import ---------------------------------------------------------------------------------------


def _items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise AdminError(AdminError.BAD_REQUEST, f"'{key}' must be a list of objects")
    return items


def _need(item: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in item:
            raise AdminError(AdminError.BAD_REQUEST, f"missing key '{key}' in {dict(item)}")


def _rights(item: Mapping[str, Any], *keys: str) -> tuple[str, str, str]:
    """A permission's or topic permission's strings; an absent one is "" (nothing allowed)."""
    first, second, third = (item.get(key, "") for key in keys)
    return first, second, third


def _check(doc: Any) -> None:
    """The document's shape: an object whose parts are lists of objects with their keys. (What
    RabbitMQ does with a malformed part differs by part; the simulator refuses it first.)"""
    if not isinstance(doc, Mapping):
        raise AdminError(AdminError.BAD_REQUEST, "definitions must be a JSON object")
    needs = {
        "users": ("name",),
        "vhosts": ("name",),
        "permissions": ("user", "vhost"),
        "topic_permissions": ("user", "vhost"),
        "parameters": ("vhost", "component", "name"),
        "policies": ("vhost", "name", "pattern", "definition"),
        "queues": ("vhost", "name"),
        "exchanges": ("vhost", "name", "type"),
        "bindings": ("vhost",),
    }
    for part, keys in needs.items():
        for item in _items(doc, part):
            _need(item, *keys)


# --- how each version reports what it refuses while importing ----------------------------------


def _erlang_binary(text: str) -> str:
    """A binary as Erlang's `~p` shows it: `<<"...">>` with quotes, backslashes and newlines escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'<<"{escaped}">>'


def _escaped(text: str) -> str:
    """What RabbitMQ's management plugin does to a policy's validation text before 4.3."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def erlang_string(text: str) -> list[int]:
    """An Erlang string, as the management API's JSON shows it: a list of character codes."""
    return [ord(character) for character in text]


def _no_such_user(style: str, user: str) -> AdminError:
    if style == "3.10":
        return AdminError(AdminError.BAD_REQUEST, f"no such user {user}", term=["no_such_user", user])
    return AdminError(AdminError.BAD_REQUEST, f'{{no_such_user,<<"{user}">>}}')


def _no_such_vhost(style: str, vhost: str) -> AdminError:
    if style == "3.10":
        return AdminError(AdminError.BAD_REQUEST, f"no such vhost {vhost}", term=["no_such_vhost", vhost])
    return AdminError(AdminError.BAD_REQUEST, f'{{no_such_vhost,<<"{vhost}">>}}')


def _unknown_exchange_type(style: str, kind: str, *, whole: bool) -> AdminError:
    """3.10 reports it as an Erlang term importing a whole broker's definitions, as text
    importing one vhost's; 4.x as text either way."""
    text = f"unknown exchange type '{kind}'"
    if style != "3.10":
        return AdminError(AdminError.BAD_REQUEST, f"precondition_failed: {text}")
    term = ["amqp_error", "command_invalid", erlang_string(text), "none"] if whole else None
    return AdminError(AdminError.BAD_REQUEST, f"command_invalid: {text}", term=term)


def _missing_source(vhost: str, exchange: str) -> AdminError:
    return AdminError(
        AdminError.BAD_REQUEST,
        f'{{resources_missing,\n    [{{not_found,{{resource,<<"{vhost}">>,exchange,<<"{exchange}">>}}}}]}}',
    )


def _policy_refused(style: str, error: AdminError, vhost: str, name: str) -> AdminError:
    """A policy's validation text, naming the policy as each version does: 4.3 as text, 4.0 as
    an Erlang binary, 3.10 as text for what the definition holds and as a binary otherwise."""
    if style == "4.3":
        return AdminError(error.kind, f'{error.reason} (vhost: "{vhost}" key: "{name}")')
    text = f"{_escaped(error.reason)} ({vhost}/{name})"
    plain = style == "3.10" and isinstance(error, PolicyRefused) and error.definition
    return AdminError(error.kind, text if plain else _erlang_binary(text))


def import_definitions(broker: Broker, doc: Any, *, whole: bool = True) -> None:
    """Apply a definitions document as RabbitMQ does: part by part in its order (users, vhosts,
    permissions, topic permissions, exchanges, policies, parameters, queues, bindings), stopping
    at the first refusal (AdminError, in the version's words); what came before it stays, as
    in RabbitMQ. A queue or exchange that exists already is left as it is. `whole`: the whole
    broker's definitions (POST /api/definitions), not one vhost's."""
    _check(doc)
    style = broker.profile.definitions_style
    _import_users_and_vhosts(broker, doc)
    for permission in _items(doc, "permissions"):
        _known(broker, style, permission)
        broker.set_permissions(
            permission["user"], permission["vhost"], *_rights(permission, "configure", "write", "read")
        )
    for topic in _items(doc, "topic_permissions"):
        _known(broker, style, topic)
        broker.set_topic_permissions(
            topic["user"], topic["vhost"], *_rights(topic, "exchange", "write", "read")
        )
    for exchange in _items(doc, "exchanges"):
        _import_exchange(broker, exchange, style, whole=whole)
    for policy in _items(doc, "policies"):
        if policy["vhost"] not in broker.vhosts:
            raise _no_such_vhost(style, policy["vhost"])
        try:
            _set_policy(broker, policy)
        except AdminError as error:
            raise _policy_refused(style, error, policy["vhost"], policy["name"]) from None
    _import_parameters(broker, doc)
    for queue in _items(doc, "queues"):
        _import_queue(broker, queue, style)
    for binding in _items(doc, "bindings"):
        vhost = broker.vhosts.get(binding["vhost"])
        if vhost is None:
            raise _no_such_vhost(style, binding["vhost"])
        source = vhost.exchanges.get(binding.get("source", ""))
        is_queue = binding.get("destination_type", "queue") == "queue"
        destination = (vhost.queues if is_queue else vhost.exchanges).get(binding.get("destination", ""))
        if source is None or not source.name or destination is None:
            if style == "3.10":
                continue  # 3.10 skips a binding whose ends are missing
            raise (
                _missing_source(vhost.name, binding.get("source", ""))
                if source is None
                else AdminError(AdminError.BAD_REQUEST, "resources_missing")
            )
        vhost.add_binding(
            source, destination, binding.get("routing_key", ""), dict(binding.get("arguments") or {})
        )


def _known(broker: Broker, style: str, permission: Mapping[str, Any]) -> None:
    """A permission's user and vhost must exist by now."""
    if permission["user"] not in broker.users:
        raise _no_such_user(style, permission["user"])
    if permission["vhost"] not in broker.vhosts:
        raise _no_such_vhost(style, permission["vhost"])


def _import_exchange(broker: Broker, exchange: Mapping[str, Any], style: str, *, whole: bool) -> None:
    vhost = broker.vhosts.get(exchange["vhost"])
    if vhost is None:
        raise _no_such_vhost(style, exchange["vhost"])
    if exchange["type"] not in ROUTERS:
        raise _unknown_exchange_type(style, exchange["type"], whole=whole)
    if exchange["name"] in vhost.exchanges or exchange["name"].startswith("amq."):
        return
    arguments = dict(exchange.get("arguments") or {})
    try:
        check_exchange_arguments(resource("exchange", exchange["name"], vhost.name), arguments)
    except AMQPError as error:
        raise AdminError(AdminError.BAD_REQUEST, error.reply_text) from error
    vhost.add_exchange(
        Exchange(
            exchange["name"],
            exchange["type"],
            vhost.name,
            durable=bool(exchange.get("durable", True)),
            auto_delete=bool(exchange.get("auto_delete", False)),
            internal=bool(exchange.get("internal", False)),
            arguments=arguments,
        )
    )


def _import_queue(broker: Broker, queue: Mapping[str, Any], style: str) -> None:
    vhost = broker.vhosts.get(queue["vhost"])
    if vhost is None:
        raise _no_such_vhost(style, queue["vhost"])
    if queue["name"] in vhost.queues or queue["name"].startswith("amq."):
        return  # left as it is, even with other properties (measured)
    arguments = dict(queue.get("arguments") or {})
    try:
        check_queue_arguments(resource("queue", queue["name"], vhost.name), arguments)
    except AMQPError as error:
        raise AdminError(AdminError.BAD_REQUEST, error.reply_text) from error
    created = Queue(
        queue["name"],
        vhost,
        durable=bool(queue.get("durable", True)),
        owner=None,
        auto_delete=bool(queue.get("auto_delete", False)),
        arguments=arguments,
    )
    if created.type == "quorum":
        created.follow_quorum_rules(broker.profile)
    vhost.add_queue(created)


def _import_users_and_vhosts(broker: Broker, doc: Mapping[str, Any]) -> None:
    for user in _items(doc, "users"):
        tags = user.get("tags", [])
        if isinstance(tags, str):  # 3.x wrote "administrator,monitoring"
            tags = [tag for tag in tags.split(",") if tag]
        found = broker.add_user(
            user["name"],
            None,
            tags=tags,
            password_hash=user.get("password_hash") or "",
            hashing_algorithm=user.get("hashing_algorithm"),
        )
        found.limits = dict(user.get("limits") or {})
    for vhost in _items(doc, "vhosts"):
        metadata = vhost.get("metadata") or {}
        broker.update_vhost(
            vhost["name"],
            description=vhost.get("description", metadata.get("description")),
            tags=vhost.get("tags", metadata.get("tags")),
            default_queue_type=vhost.get("default_queue_type", metadata.get("default_queue_type")),
        )
        if isinstance(vhost.get("limits"), Mapping) and vhost["limits"]:
            broker.set_vhost_limits(vhost["name"], vhost["limits"])


def _import_parameters(broker: Broker, doc: Mapping[str, Any]) -> None:
    for parameter in _items(doc, "parameters"):
        component, value = parameter.get("component"), parameter.get("value") or {}
        if component == "vhost-limits":
            broker.set_vhost_limits(parameter["vhost"], value)
        elif component == "operator_policy":
            broker.set_policy(
                parameter["vhost"],
                parameter["name"],
                value.get("pattern"),
                value.get("definition"),
                priority=value.get("priority", 0),
                apply_to=value.get("apply-to", "all"),
                operator=True,
            )


def apply_settings(broker: Broker, doc: Mapping[str, Any]) -> None:
    """Users, vhosts, permissions, parameters and policies a store kept (`export_settings`)."""
    _import_users_and_vhosts(broker, doc)
    for permission in _items(doc, "permissions"):
        broker.set_permissions(
            permission["user"], permission["vhost"], *_rights(permission, "configure", "write", "read")
        )
    for topic in _items(doc, "topic_permissions"):
        broker.set_topic_permissions(
            topic["user"],
            topic["vhost"],
            topic.get("exchange", ""),
            topic.get("write", ""),
            topic.get("read", ""),
        )
    _import_parameters(broker, doc)
    for policy in _items(doc, "policies"):
        _set_policy(broker, policy)


def _set_policy(broker: Broker, policy: Mapping[str, Any]) -> None:
    """A policy of a definitions document (an absent priority is 0, an absent apply-to "all")."""
    broker.set_policy(
        policy["vhost"],
        policy["name"],
        policy["pattern"],
        policy["definition"],
        priority=policy.get("priority", 0),
        apply_to=policy.get("apply-to", "all"),
    )
