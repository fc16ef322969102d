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
from ._policies import check_policy
from ._queue import Queue
from ._routing import ROUTERS
from ._text import utf8_text

if TYPE_CHECKING:
    from ._administration import Administration as Broker

DEFAULT_VHOST_DESCRIPTION = "Default virtual host"


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
        policies.extend(
            {"vhost": vhost.name, "name": p.name, **_policy_value(p)} for p in vhost.policies.values()
        )
    return {
        "rabbit_version": broker.profile.rabbitmq_version,
        "rabbitmq_version": broker.profile.rabbitmq_version,
        "users": [
            {
                "name": user.name,
                "password_hash": user.password_hash,
                "hashing_algorithm": user.hashing_algorithm,
                "tags": list(user.tags),
                "limits": dict(user.limits),
            }
            for user in broker.users.values()
        ],
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


def _policy_value(policy: Any) -> dict[str, Any]:
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


def _check(doc: Any, broker: Broker) -> None:
    """Refuse a document RabbitMQ would refuse, before anything changes."""
    if not isinstance(doc, Mapping):
        raise AdminError(AdminError.BAD_REQUEST, "definitions must be a JSON object")
    vhosts = set(broker.vhosts) | {v["name"] for v in _items(doc, "vhosts") if "name" in v}
    users = set(broker.users) | {u["name"] for u in _items(doc, "users") if "name" in u}
    for user in _items(doc, "users"):
        _need(user, "name")
    for key in ("permissions", "topic_permissions"):
        for permission in _items(doc, key):
            _need(permission, "user", "vhost")
            if permission["user"] not in users:
                raise AdminError(AdminError.BAD_REQUEST, f"user '{permission['user']}' does not exist")
            if permission["vhost"] not in vhosts:
                raise AdminError(AdminError.BAD_REQUEST, f"vhost '{permission['vhost']}' does not exist")
    for policy in _items(doc, "policies"):
        _need(policy, "vhost", "name", "pattern", "definition")
        check_policy(
            policy["pattern"],
            policy["definition"],
            policy.get("priority", 0),
            policy.get("apply-to", "all"),
            profile=broker.profile,
        )
    for kind in ("queues", "exchanges", "bindings"):
        for item in _items(doc, kind):
            _need(item, "vhost")
            if item["vhost"] not in vhosts:
                raise AdminError(AdminError.BAD_REQUEST, f"vhost '{item['vhost']}' does not exist")
    for queue in _items(doc, "queues"):
        _need(queue, "name")
        existing = broker.vhosts.get(queue["vhost"])
        found = existing.queues.get(queue["name"]) if existing else None
        what = resource("queue", queue["name"], queue["vhost"])
        if found is not None and found.durable != queue.get("durable", True):
            raise AdminError(
                AdminError.BAD_REQUEST,
                f"inequivalent arg 'durable' for {what}: "
                f"received '{str(queue.get('durable', True)).lower()}' "
                f"but current is '{str(found.durable).lower()}'",
            )
        try:
            check_queue_arguments(what, queue.get("arguments") or {})
        except AMQPError as error:
            raise AdminError(AdminError.BAD_REQUEST, error.reply_text) from error
    for exchange in _items(doc, "exchanges"):
        _need(exchange, "name", "type")
        if exchange["type"] not in ROUTERS:
            raise AdminError(AdminError.BAD_REQUEST, f"unknown exchange type '{exchange['type']}'")
        try:
            check_exchange_arguments(
                resource("exchange", exchange["name"], exchange["vhost"]), exchange.get("arguments") or {}
            )
        except AMQPError as error:
            raise AdminError(AdminError.BAD_REQUEST, error.reply_text) from error


def import_definitions(broker: Broker, doc: Any) -> None:
    """Apply a definitions document: all of it, or (AdminError) none of it."""
    _check(doc, broker)
    apply_settings(broker, doc)
    for queue in _items(doc, "queues"):
        vhost = broker.vhosts[queue["vhost"]]
        if queue["name"] in vhost.queues or queue["name"].startswith("amq."):
            continue
        created = Queue(
            queue["name"],
            vhost,
            durable=bool(queue.get("durable", True)),
            owner=None,
            auto_delete=bool(queue.get("auto_delete", False)),
            arguments=dict(queue.get("arguments") or {}),
        )
        if created.type == "quorum":
            created.follow_quorum_rules(broker.profile)
        vhost.add_queue(created)
        broker.apply_queue_policy(created)
    for exchange in _items(doc, "exchanges"):
        vhost = broker.vhosts[exchange["vhost"]]
        if exchange["name"] in vhost.exchanges or exchange["name"].startswith("amq."):
            continue
        created_exchange = vhost.add_exchange(
            Exchange(
                exchange["name"],
                exchange["type"],
                vhost.name,
                durable=bool(exchange.get("durable", True)),
                auto_delete=bool(exchange.get("auto_delete", False)),
                internal=bool(exchange.get("internal", False)),
                arguments=dict(exchange.get("arguments") or {}),
            )
        )
        broker.apply_exchange_policy(created_exchange, vhost)
    for binding in _items(doc, "bindings"):
        vhost = broker.vhosts[binding["vhost"]]
        source = vhost.exchanges.get(binding.get("source", ""))
        is_queue = binding.get("destination_type", "queue") == "queue"
        destination = (vhost.queues if is_queue else vhost.exchanges).get(binding.get("destination", ""))
        if source is not None and source.name and destination is not None:
            vhost.add_binding(
                source, destination, binding.get("routing_key", ""), dict(binding.get("arguments") or {})
            )


def apply_settings(broker: Broker, doc: Mapping[str, Any]) -> None:
    """Users, vhosts, permissions, parameters and policies of a (checked) document."""
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
    for permission in _items(doc, "permissions"):
        broker.set_permissions(
            permission["user"],
            permission["vhost"],
            permission.get("configure", ""),
            permission.get("write", ""),
            permission.get("read", ""),
        )
    for topic in _items(doc, "topic_permissions"):
        broker.set_topic_permissions(
            topic["user"],
            topic["vhost"],
            topic.get("exchange", ""),
            topic.get("write", ""),
            topic.get("read", ""),
        )
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
    for policy in _items(doc, "policies"):
        broker.set_policy(
            policy["vhost"],
            policy["name"],
            policy["pattern"],
            policy["definition"],
            priority=policy.get("priority", 0),
            apply_to=policy.get("apply-to", "all"),
        )
