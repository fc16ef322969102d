"""The endpoints of RabbitMQ's management API, over the core: what each path answers, and
with which status and body when the input is wrong (measured on 3.10.8, 4.0.5 and 4.3.6).

Reads render the core's state through `View`; writes go through a direct channel (as
RabbitMQ's plugin does, so every check and text is the channel's) or through the core's
administration calls. A write either applies completely or answers an error having changed
nothing: everything is validated before the first change."""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from rabbitsim.broker import AdminError, Binding, Connection, Exchange, Properties, Queue, VHost

from ._direct import direct_channel
from ._http import (
    ADMINISTRATOR,
    GET,
    MANAGEMENT,
    MONITORING,
    POLICYMAKER,
    PUBLISH,
    Answer,
    ApiError,
    Call,
    Route,
    bad_request,
    done,
    not_authorised,
    not_found,
    route,
    versioned,
)
from ._views import DEFAULT_EXCHANGE_PATH, NODE, View, properties_key

# --- helpers -------------------------------------------------------------------------------


def _vhost(call: Call, name: str | None = None) -> VHost:
    """The vhost a path names, if the caller may see it (RabbitMQ answers 404 either way)."""
    name = call.args["vhost"] if name is None else name
    vhost = call.broker.vhosts.get(name)
    if vhost is None:
        raise not_found()
    if not (call.has(ADMINISTRATOR) or (call.user.name, name) in call.broker.permissions):
        raise versioned(call.view.version.vhost_refused)
    return vhost


def _visible_vhosts(call: Call) -> list[VHost]:
    """The vhosts whose objects a listing shows: all for an administrator, else those the
    caller has permissions in."""
    vhosts = call.broker.vhosts.values()
    if call.has(ADMINISTRATOR):
        return list(vhosts)
    return [vhost for vhost in vhosts if (call.user.name, vhost.name) in call.broker.permissions]


def _scope(call: Call) -> list[VHost]:
    """The vhost named in the path, or every visible one."""
    return [_vhost(call)] if "vhost" in call.args else _visible_vhosts(call)


def _exchange_name(name: str) -> str:
    return "" if name == DEFAULT_EXCHANGE_PATH else name


def _sorted(items: Iterable[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: tuple(str(item.get(key, "")) for key in keys))


def _escape(call: Call, reason: str) -> str:
    """3.10 and 4.0 answer validation texts HTML-escaped."""
    return html.escape(reason, quote=False) if call.view.version.escapes_validation else reason


def _admin_error(call: Call, error: AdminError, *, escaped: bool = False) -> ApiError:
    """The core's refusal as the API's answer; `escaped`: a policy's validation text, which
    3.10 and 4.0 HTML-escape."""
    if error.kind == AdminError.NOT_FOUND:
        return not_found()
    reason = error.reason
    return bad_request(_escape(call, reason) if escaped and isinstance(reason, str) else reason)


def _require(body: dict[str, Any], *keys: str) -> None:
    """RabbitMQ names every missing key at once, as an Erlang list."""
    missing = [key for key in keys if key not in body]
    if missing:
        raise bad_request("[" + ",".join(f"{{key_missing,{key}}}" for key in missing) + "]")


def _tags(value: Any) -> tuple[str, ...]:
    """Tags as RabbitMQ takes them: a comma-separated string or a list."""
    if isinstance(value, list):
        return tuple(str(tag).strip() for tag in value if str(tag).strip())
    if isinstance(value, str):
        return tuple(tag.strip() for tag in value.split(",") if tag.strip())
    return ()


def _flag(value: Any) -> bool:
    return value is True or value == "true"


def _query_flag(call: Call, name: str) -> bool:
    return call.query.get(name) == "true"


# --- overview ------------------------------------------------------------------------------


EXCHANGE_TYPES = (
    ("direct", "AMQP direct exchange, as per the AMQP specification"),
    ("fanout", "AMQP fanout exchange, as per the AMQP specification"),
    ("headers", "AMQP headers exchange, as per the AMQP specification"),
    ("topic", "AMQP topic exchange, as per the AMQP specification"),
)


def overview(call: Call) -> dict[str, Any]:
    view = call.view
    vhosts = _visible_vhosts(call)
    queues = [queue for vhost in vhosts for queue in vhost.queues.values()]
    connections = _visible_connections(call)
    ready = sum(len(queue.ready) for queue in queues)
    unacked = sum(queue.unacked for queue in queues)
    version = view.product_version
    result: dict[str, Any] = {
        "churn_rates": {
            f"{what}{suffix}": ({"rate": 0.0} if suffix else 0)
            for what in (
                "channel_closed",
                "channel_created",
                "connection_closed",
                "connection_created",
                "queue_created",
                "queue_declared",
                "queue_deleted",
            )
            for suffix in ("", "_details")
        },
        "cluster_name": NODE,
        "cluster_tags": {},
        "contexts": [
            {
                "cowboy_opts": "[{sendfile,false}]",
                "description": "RabbitMQ Management",
                "ip": call.host,
                "node": NODE,
                "path": "/",
                "port": str(call.port),
                "ssl_opts": [],
            }
        ],
        "crypto_lib_version": "",
        "default_queue_type": "classic",
        "disable_stats": False,
        "enable_queue_totals": False,
        "erlang_full_version": "rabbitsim (Python)",
        "erlang_version": "rabbitsim",
        "exchange_types": [
            {"description": description, "enabled": True, "name": name}
            for name, description in EXCHANGE_TYPES
        ],
        "is_op_policy_updating_enabled": True,
        "listeners": [
            {
                "ip_address": call.host,
                "node": NODE,
                "port": port,
                "protocol": protocol,
                "socket_opts": {},
                "tls": False,
            }
            for protocol, port in (("amqp", call.amqp_port), ("http", call.port))
            if port
        ],
        "management_version": version,
        "message_stats": {},
        "node": NODE,
        "node_tags": {},
        "object_totals": {
            "channels": sum(len(connection.channels) for connection in connections),
            "connections": len(connections),
            "consumers": sum(len(queue.consumers) for queue in queues),
            "exchanges": sum(len(vhost.exchanges) for vhost in vhosts),
            "queues": len(queues),
        },
        "product_name": "RabbitMQ",
        "product_version": version,
        "queue_totals": {
            "messages": ready + unacked,
            "messages_details": {"rate": 0.0},
            "messages_ready": ready,
            "messages_ready_details": {"rate": 0.0},
            "messages_unacknowledged": unacked,
            "messages_unacknowledged_details": {"rate": 0.0},
        },
        "rabbitmq_version": version,
        "rates_mode": "basic",
        "require_definition_json_extension": False,
        "sample_retention_policies": {
            "basic": [600, 3600],
            "detailed": [600],
            "global": [600, 3600, 28800, 86400],
        },
        "statistics_db_event_queue": 0,
    }
    if view.version.support_status is not None:
        result["release_series_support_status"] = view.version.support_status
    for key in view.version.overview_without:
        result.pop(key, None)
    if view.version.name == "3.10":
        for context in result["contexts"]:
            context.pop("ip", None)
        for listener in result["listeners"]:
            listener.pop("tls", None)
    elif view.version.name == "4.0":
        for listener in result["listeners"]:
            listener.pop("tls", None)
    return _columns(call, result)


def _columns(call: Call, result: dict[str, Any]) -> dict[str, Any]:
    """`?columns=a,b` keeps only those fields, as RabbitMQ does."""
    columns = call.query.get("columns")
    if not columns:
        return result
    wanted = [column for column in columns.split(",") if column]
    return {key: result[key] for key in wanted if key in result}


def whoami(call: Call) -> dict[str, Any]:
    result: dict[str, Any] = {"name": call.user.name, "tags": list(call.user.tags)}
    if call.view.version.whoami_internal:
        result["is_internal_user"] = True
    return result


# --- connections and channels --------------------------------------------------------------------


def _visible_connections(call: Call) -> list[Connection]:
    connections = list(call.broker.connections.values())
    if not call.sees_all_connections():
        connections = [connection for connection in connections if connection.user == call.user.name]
    if "vhost" in call.args:
        vhost = _vhost(call)
        connections = [connection for connection in connections if connection.vhost is vhost]
    return connections


def connections(call: Call) -> list[dict[str, Any]]:
    return _sorted((call.view.connection(c) for c in _visible_connections(call)), "name")


def _connection(call: Call) -> Connection:
    connection = call.broker.connections.get(call.args["name"])
    if connection is None or (not call.sees_all_connections() and connection.user != call.user.name):
        raise not_found()
    return connection


def connection(call: Call) -> dict[str, Any]:
    return call.view.connection(_connection(call), detail=True)


def close_connection(call: Call) -> Answer:
    """DELETE: the client gets connection.close 320 with the X-Reason header's text."""
    found = _connection(call)
    reason = call.headers.get("X-Reason") or "Closed via management plugin"
    call.broker.close_connection(found.name, reason)
    return Answer(204)


def connection_channels(call: Call) -> list[dict[str, Any]]:
    return call.view.channels([_connection(call)])


def channels(call: Call) -> list[dict[str, Any]]:
    return _sorted(call.view.channels(_visible_connections(call)), "name")


def channel(call: Call) -> dict[str, Any]:
    name = call.args["name"]
    for found in _visible_connections(call):
        for number in found.channels:
            if f"{found.name} ({number})" == name:
                return call.view.channel(found, number)
    raise not_found()


def consumers(call: Call) -> list[dict[str, Any]]:
    return [
        call.view.consumer(consumer)
        for vhost in _scope(call)
        for queue in vhost.queues.values()
        for consumer in queue.consumers
    ]


# --- exchanges -------------------------------------------------------------------------------


def exchanges(call: Call) -> list[dict[str, Any]]:
    return _sorted(
        (call.view.exchange(exchange) for vhost in _scope(call) for exchange in vhost.exchanges.values()),
        "vhost",
        "name",
    )


def _exchange(call: Call) -> Exchange:
    exchange = _vhost(call).exchanges.get(_exchange_name(call.args["name"]))
    if exchange is None:
        raise not_found()
    return exchange


def exchange(call: Call) -> dict[str, Any]:
    return call.view.exchange(_exchange(call), detail=True)


def declare_exchange(call: Call) -> Answer:
    body = call.json()
    vhost_name, name = call.args["vhost"], _exchange_name(call.args["name"])
    existed = name in call.broker.vhosts.get(vhost_name, _NO_VHOST).exchanges
    with direct_channel(call.broker, vhost_name, call.user.name) as channel:
        channel.exchange_declare(
            name,
            str(body.get("type", "direct")),
            durable=_flag(body.get("durable", False)),
            auto_delete=_flag(body.get("auto_delete", False)),
            internal=_flag(body.get("internal", False)),
            arguments=body.get("arguments") or {},
        )
    return done(not existed)


def delete_exchange(call: Call) -> Answer:
    found = _exchange(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        channel.exchange_delete(found.name, if_unused=_query_flag(call, "if-unused"))
    return Answer(204)


def _properties(value: Any) -> Properties:
    """A publish's `properties` object as AMQP properties (`type` is `message_type`)."""
    if not isinstance(value, dict):
        raise bad_request("properties must be an object")
    fields = {("message_type" if key == "type" else key): item for key, item in value.items()}
    known = set(Properties.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise bad_request(f"unknown properties: {', '.join(unknown)}")
    return Properties(**fields)


def publish(call: Call) -> dict[str, bool]:
    """POST .../publish: `{"routed": bool}`, mandatory as RabbitMQ's plugin publishes."""
    body = call.json()
    _require(body, "routing_key", "properties", "payload", "payload_encoding")
    vhost = _vhost(call)
    found = vhost.exchanges.get(_exchange_name(call.args["name"]))
    if found is None:
        raise versioned(call.view.version.publish_missing_exchange, name=call.args["name"], vhost=vhost.name)
    payload, encoding = body["payload"], body["payload_encoding"]
    if encoding == "string":
        data = str(payload).encode()
    elif encoding == "base64":
        try:
            data = base64.b64decode(str(payload), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("not_base64") from None
    else:
        raise bad_request(f"unsupported payload_encoding: {encoding}")
    properties = _properties(body["properties"])
    with direct_channel(call.broker, call.args["vhost"], call.user.name, style=PUBLISH) as channel:
        mark = len(call.broker.output)
        channel.basic_publish(found.name, str(body["routing_key"]), data, properties, mandatory=True)
        returned = any(
            item[0] is channel.connection and type(item[2]).__name__ == "Return"
            for item in call.broker.output[mark:]
        )
    return {"routed": not returned}


# --- queues ----------------------------------------------------------------------------------


def queues(call: Call) -> list[dict[str, Any]]:
    return _sorted(
        (call.view.queue(queue) for vhost in _scope(call) for queue in vhost.queues.values()), "vhost", "name"
    )


def _queue(call: Call) -> Queue:
    queue = _vhost(call).queues.get(call.args["name"])
    if queue is None:
        raise not_found()
    return queue


def queue(call: Call) -> dict[str, Any]:
    return call.view.queue(_queue(call), detail=True)


class _Missing:
    exchanges: dict[str, Exchange] = {}  # noqa: RUF012 - never written: a vhost that is not there
    queues: dict[str, Queue] = {}  # noqa: RUF012


_NO_VHOST: Any = _Missing()


def declare_queue(call: Call) -> Answer:
    body = call.json()
    vhost_name, name = call.args["vhost"], call.args["name"]
    existed = name in call.broker.vhosts.get(vhost_name, _NO_VHOST).queues
    arguments = dict(body.get("arguments") or {})
    vhost = call.broker.vhosts.get(vhost_name)
    queue_type = getattr(vhost, "default_queue_type", None)
    if queue_type and "x-queue-type" not in arguments and not existed:
        arguments["x-queue-type"] = queue_type
    with direct_channel(call.broker, vhost_name, call.user.name) as channel:
        channel.queue_declare(
            name,
            durable=_flag(body.get("durable", False)),
            auto_delete=_flag(body.get("auto_delete", False)),
            arguments=arguments,
        )
    return done(not existed)


def delete_queue(call: Call) -> Answer:
    found = _queue(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        channel.queue_delete(
            found.name, if_unused=_query_flag(call, "if-unused"), if_empty=_query_flag(call, "if-empty")
        )
    return Answer(204)


def purge_queue(call: Call) -> Answer:
    found = _queue(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        channel.queue_purge(found.name)
    return Answer(204)


ACK_MODES = ("ack_requeue_true", "ack_requeue_false", "reject_requeue_true", "reject_requeue_false")


def get_messages(call: Call) -> list[dict[str, Any]]:
    """POST .../get: take up to `count` messages; requeue them (channel closed) unless the
    mode acks or rejects them for good."""
    body = call.json()
    _require(body, "count", "ackmode", "encoding")
    vhost = call.broker.vhosts.get(call.args["vhost"])
    if vhost is None:
        raise ApiError(404, "not_found", "vhost_not_found")
    found = vhost.queues.get(call.args["name"])
    if found is None:
        raise versioned(call.view.version.get_missing_queue, name=call.args["name"], vhost=vhost.name)
    mode, encoding = body["ackmode"], body["encoding"]
    if mode not in ACK_MODES:
        raise bad_request(f"Unknown ackmode: {mode}")
    if encoding not in ("auto", "base64"):
        raise bad_request(f"Unsupported encoding: {encoding}")
    try:
        count = int(body["count"])
    except (TypeError, ValueError):
        raise bad_request("count must be an integer") from None
    truncate = body.get("truncate")
    results = []
    with direct_channel(call.broker, vhost.name, call.user.name, style=GET) as channel:
        for _ in range(max(0, count)):
            got = channel.basic_get(found.name, no_ack=mode == "ack_requeue_false")
            if got is None:
                break
            if mode == "reject_requeue_false":
                channel.basic_reject(got.delivery_tag, requeue=False)
            results.append(_got(got.message, got.redelivered, got.message_count, encoding, truncate))
    return results


def _got(message: Any, redelivered: bool, message_count: int, encoding: str, truncate: Any) -> dict[str, Any]:
    body: bytes = message.body
    size = len(body)
    if isinstance(truncate, int) and truncate >= 0:
        body = body[:truncate]
    payload: str
    if encoding == "auto":
        try:
            payload, kind = body.decode("utf-8"), "string"
        except UnicodeDecodeError:
            payload, kind = base64.b64encode(body).decode(), "base64"
    else:
        payload, kind = base64.b64encode(body).decode(), "base64"
    return {
        "payload_bytes": size,
        "redelivered": redelivered,
        "exchange": message.exchange,
        "routing_key": message.routing_key,
        "message_count": message_count,
        "properties": _shown_properties(message.properties),
        "payload": payload,
        "payload_encoding": kind,
    }


def _shown_properties(properties: Any) -> Any:
    """Set properties by RabbitMQ's names; none at all is `[]` (an empty Erlang list)."""
    from rabbitsim.vocabulary import plain

    shown = {}
    for name in Properties.__dataclass_fields__:
        value = getattr(properties, name, None)
        if value is not None:
            shown["type" if name == "message_type" else name] = plain(value)
    return shown or []


# --- bindings --------------------------------------------------------------------------------


def bindings(call: Call) -> list[dict[str, Any]]:
    return [binding for vhost in _scope(call) for binding in call.view.bindings(vhost)]


def exchange_bindings(call: Call) -> list[dict[str, Any]]:
    found = _exchange(call)
    side = "source" if call.args["side"] == "source" else "destination"
    if call.args["side"] not in ("source", "destination"):
        raise not_found()
    vhost = _vhost(call)
    return [
        item
        for item in call.view.bindings(vhost)
        if item[side] == found.name and (side == "source" or item["destination_type"] == "exchange")
    ]


def queue_bindings(call: Call) -> list[dict[str, Any]]:
    found = _queue(call)
    return [
        item
        for item in call.view.bindings(_vhost(call))
        if item["destination"] == found.name and item["destination_type"] == "queue"
    ]


KINDS = {"q": "queue", "e": "exchange"}


def _ends(call: Call) -> tuple[VHost, str, str, str]:
    """(vhost, source, destination, destination kind) of a bindings path."""
    kind = KINDS.get(call.args["kind"])
    if kind is None:
        raise not_found()
    vhost = _vhost(call)
    return vhost, _exchange_name(call.args["source"]), call.args["destination"], kind


def _between(vhost: VHost, source: str, destination: str, kind: str) -> Iterator[Binding]:
    exchange = vhost.exchanges.get(source)
    if exchange is None:
        return
    for binding in exchange.outgoing.values():
        if binding.destination.name == destination and (
            isinstance(binding.destination, Exchange) == (kind == "exchange")
        ):
            yield binding


def bindings_between(call: Call) -> list[dict[str, Any]]:
    vhost, source, destination, kind = _ends(call)
    if source not in vhost.exchanges or (
        destination not in (vhost.queues if kind == "queue" else vhost.exchanges)
    ):
        raise not_found()
    return [
        item
        for item in call.view.bindings(vhost)
        if (
            item["source"] == source
            and item["destination"] == destination
            and item["destination_type"] == kind
        )
    ]


def bind(call: Call) -> Answer:
    body = call.json()
    vhost, source, destination, kind = _ends(call)
    routing_key = str(body.get("routing_key", ""))
    arguments = body.get("arguments") or {}
    with direct_channel(call.broker, vhost.name, call.user.name) as channel:
        if kind == "queue":
            channel.queue_bind(destination, source, routing_key, arguments)
        else:
            channel.exchange_bind(destination, source, routing_key, arguments)
    location = urllib.parse.quote(properties_key(routing_key, arguments), safe="~")
    return Answer(201, headers={"Location": f"{call.args['kind']}/{location}"})


def _binding(call: Call) -> Binding:
    vhost, source, destination, kind = _ends(call)
    for binding in _between(vhost, source, destination, kind):
        if properties_key(binding.routing_key, binding.arguments) == call.args["props"]:
            return binding
    if (
        source == ""
        and kind == "queue"
        and destination in vhost.queues
        and call.args["props"] == (properties_key(destination, {}))
    ):
        raise ApiError(401, "not_authorised", "Access refused.")
    raise not_found()


def binding(call: Call) -> dict[str, Any]:
    found = _binding(call)
    return View.binding(
        call.args["vhost"],
        found.source.name,
        found.destination.name,
        KINDS[call.args["kind"]],
        found.routing_key,
        found.arguments,
    )


def unbind(call: Call) -> Answer:
    found = _binding(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        if isinstance(found.destination, Exchange):
            channel.exchange_unbind(
                found.destination.name, found.source.name, found.routing_key, found.arguments
            )
        else:
            channel.queue_unbind(
                found.destination.name, found.source.name, found.routing_key, found.arguments
            )
    return Answer(204)


# --- vhosts ----------------------------------------------------------------------------------


def vhosts(call: Call) -> list[dict[str, Any]]:
    shown = [
        vhost
        for vhost in call.broker.vhosts.values()
        if call.has(MONITORING) or (call.user.name, vhost.name) in call.broker.permissions
    ]
    return _sorted((call.view.vhost(vhost) for vhost in shown), "name")


def vhost(call: Call) -> dict[str, Any]:
    found = call.broker.vhosts.get(call.args["vhost"])
    if found is None:
        raise not_found()
    if not call.sees_vhost(found.name) and not call.has(ADMINISTRATOR):
        raise not_authorised("User not authorised to access object")
    return call.view.vhost(found)


def put_vhost(call: Call) -> Answer:
    """Create or update; the creator gets full permissions on a new vhost, as in RabbitMQ."""
    body = call.json()
    name = call.args["vhost"]
    broker = call.broker
    created = name not in broker.vhosts
    tracing = body.get("tracing")
    try:
        broker.update_vhost(
            name,
            description=str(body["description"]) if "description" in body else None,
            tags=_tags(body["tags"]) if "tags" in body else None,
            default_queue_type=str(body["default_queue_type"]) if body.get("default_queue_type") else None,
            tracing=None if tracing is None else _flag(tracing),
        )
        if created:
            broker.set_permissions(call.user.name, name, ".*", ".*", ".*")
    except AdminError as error:
        raise _admin_error(call, error) from None
    return done(created)


def delete_vhost(call: Call) -> Answer:
    try:
        call.broker.delete_vhost(call.args["vhost"])
    except AdminError as error:
        raise _admin_error(call, error) from None
    return Answer(204)


# --- users -------------------------------------------------------------------------------------


def _user_view(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "password_hash": user.password_hash,
        "hashing_algorithm": user.hashing_algorithm,
        "tags": list(user.tags),
        "limits": dict(user.limits),
    }


def users(call: Call) -> list[dict[str, Any]]:
    return _sorted((_user_view(user) for user in call.broker.users.values()), "name")


def users_without_permissions(call: Call) -> list[dict[str, Any]]:
    holders = {user for user, _vhost in call.broker.permissions}
    return _sorted(
        (_user_view(user) for user in call.broker.users.values() if user.name not in holders), "name"
    )


def _user(call: Call) -> Any:
    found = call.broker.users.get(call.args["user"])
    if found is None:
        raise not_found()
    return found


def user(call: Call) -> dict[str, Any]:
    return _user_view(_user(call))


def put_user(call: Call) -> Answer:
    body = call.json()
    name = call.args["user"]
    password_hash = body.get("password_hash")
    if password_hash is not None:
        try:
            base64.b64decode(str(password_hash), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(["not_base64", password_hash]) from None
    existing = call.broker.users.get(name)
    password = body.get("password")
    algorithm = body.get("hashing_algorithm")
    # neither: the user (new or replaced) has no password it could log in with; before 4.3 a
    # random one (measured: a PUT of tags alone ends the old password's logins too)
    if password is None and password_hash is None and not call.view.version.passwordless_hash_empty:
        password = secrets.token_urlsafe(24)
    try:
        call.broker.add_user(
            name,
            None if password is None else str(password),
            tags=_tags(body.get("tags", "")),
            password_hash=password_hash,
            hashing_algorithm=algorithm,
        )
    except AdminError as error:
        raise _admin_error(call, error) from None
    return done(existing is None)


def delete_user(call: Call) -> Answer:
    _user(call)
    try:
        call.broker.delete_user(call.args["user"])
    except AdminError as error:
        raise _admin_error(call, error) from None
    return Answer(204)


# --- permissions -----------------------------------------------------------------------------


def _permission_view(user: str, vhost: str, permission: Any) -> dict[str, Any]:
    return {
        "user": user,
        "vhost": vhost,
        "configure": permission.configure,
        "write": permission.write,
        "read": permission.read,
    }


def permissions(call: Call) -> list[dict[str, Any]]:
    items = [_permission_view(u, v, p) for (u, v), p in call.broker.permissions.items()]
    if "user" in call.args:
        _user(call)
        items = [item for item in items if item["user"] == call.args["user"]]
    if "vhost" in call.args:
        _vhost(call)
        items = [item for item in items if item["vhost"] == call.args["vhost"]]
    return _sorted(items, "vhost", "user")


def permission(call: Call) -> dict[str, Any]:
    key = (call.args["user"], call.args["vhost"])
    found = call.broker.permissions.get(key)
    if found is None:
        raise not_found()
    return _permission_view(*key, found)


def _check_regex(call: Call, pattern: str) -> None:
    """An invalid pattern: RabbitMQ's answer is the Erlang term `{invalid_regexp, Pattern,
    {Message, Offset}}`, strings as lists of code points."""
    try:
        re.compile(pattern)
    except re.error as error:
        message = error.msg
        if message.startswith("missing ), unterminated subpattern"):
            message = call.view.version.missing_paren
        raise bad_request(
            ["invalid_regexp", [ord(c) for c in pattern], [[ord(c) for c in message], len(pattern)]]
        ) from None


def put_permission(call: Call) -> Answer:
    body = call.json()
    _require(body, "configure", "write", "read")
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    for key in ("configure", "write", "read"):
        _check_regex(call, str(body[key]))
    if user_name not in call.broker.users or vhost_name not in call.broker.vhosts:
        raise bad_request("vhost_or_user_not_found")
    created = (user_name, vhost_name) not in call.broker.permissions
    try:
        call.broker.set_permissions(
            user_name, vhost_name, str(body["configure"]), str(body["write"]), str(body["read"])
        )
    except AdminError as error:
        raise _admin_error(call, error) from None
    return done(created)


def delete_permission(call: Call) -> Answer:
    key = (call.args["user"], call.args["vhost"])
    if key not in call.broker.permissions:
        raise not_found()
    call.broker.clear_permissions(*key)
    return Answer(204)


def _topic_view(key: tuple[str, str, str], permission: Any) -> dict[str, Any]:  # (user, vhost, exchange)
    user, vhost, exchange = key
    return {
        "user": user,
        "vhost": vhost,
        "exchange": exchange,
        "write": permission.write,
        "read": permission.read,
    }


def topic_permissions(call: Call) -> list[dict[str, Any]]:
    items = [_topic_view(key, p) for key, p in call.broker.topic_permissions.items()]
    if "user" in call.args:
        _user(call)
        items = [item for item in items if item["user"] == call.args["user"]]
    if "vhost" in call.args:
        _vhost(call)
        items = [item for item in items if item["vhost"] == call.args["vhost"]]
    return _sorted(items, "vhost", "user", "exchange")


def topic_permission(call: Call) -> list[dict[str, Any]]:
    items = [
        _topic_view(key, p)
        for key, p in call.broker.topic_permissions.items()
        if key[0] == call.args["user"] and key[1] == call.args["vhost"]
    ]
    if not items:
        raise not_found()
    return _sorted(items, "exchange")


def put_topic_permission(call: Call) -> Answer:
    body = call.json()
    _require(body, "exchange", "write", "read")
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    for key in ("write", "read"):
        _check_regex(call, str(body[key]))
    if user_name not in call.broker.users or vhost_name not in call.broker.vhosts:
        raise bad_request("vhost_or_user_not_found")
    created = (user_name, vhost_name, str(body["exchange"])) not in call.broker.topic_permissions
    try:
        call.broker.set_topic_permissions(
            user_name, vhost_name, str(body["exchange"]), str(body["write"]), str(body["read"])
        )
    except AdminError as error:
        raise _admin_error(call, error) from None
    return done(created)


def delete_topic_permission(call: Call) -> Answer:
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    if not any(key[:2] == (user_name, vhost_name) for key in call.broker.topic_permissions):
        raise not_found()
    call.broker.clear_topic_permissions(user_name, vhost_name)
    return Answer(204)


# --- policies --------------------------------------------------------------------------------


def _policy_view(policy: Any) -> dict[str, Any]:
    return {
        "vhost": policy.vhost,
        "name": policy.name,
        "pattern": policy.pattern,
        "apply-to": policy.apply_to,
        "definition": dict(policy.definition),
        "priority": policy.priority,
    }


def _policy_table(vhost: VHost, operator: bool) -> dict[str, Any]:
    table: dict[str, Any] = vhost.operator_policies if operator else vhost.policies
    return table


def _policies(call: Call, operator: bool) -> list[dict[str, Any]]:
    return _sorted(
        (
            _policy_view(policy)
            for vhost in _scope(call)
            for policy in _policy_table(vhost, operator).values()
        ),
        "vhost",
        "name",
    )


def policies(call: Call) -> list[dict[str, Any]]:
    return _policies(call, operator=False)


def operator_policies(call: Call) -> list[dict[str, Any]]:
    return _policies(call, operator=True)


def _policy(call: Call, operator: bool) -> dict[str, Any]:
    found = _policy_table(_vhost(call), operator).get(call.args["name"])
    if found is None:
        raise not_found()
    return _policy_view(found)


def policy(call: Call) -> dict[str, Any]:
    return _policy(call, operator=False)


def operator_policy(call: Call) -> dict[str, Any]:
    return _policy(call, operator=True)


def _put_policy(call: Call, operator: bool) -> Answer:
    body = call.json()
    vhost = call.broker.vhosts.get(call.args["vhost"])
    if vhost is None:
        raise ApiError(404, "not_found", "vhost_not_found")
    if not (call.has(ADMINISTRATOR) or (call.user.name, vhost.name) in call.broker.permissions):
        raise not_authorised("User not authorised to access object")
    _require(body, "pattern", "definition")
    created = call.args["name"] not in _policy_table(vhost, operator)
    priority = body.get("priority", 0)
    try:
        call.broker.set_policy(
            vhost.name,
            call.args["name"],
            str(body["pattern"]),
            body["definition"] if isinstance(body["definition"], dict) else {},
            priority=int(priority)
            if isinstance(priority, int | str) and str(priority).lstrip("-").isdigit()
            else 0,
            apply_to=str(body.get("apply-to", "all")),
            operator=operator,
        )
    except AdminError as error:
        raise _admin_error(call, error, escaped=True) from None
    return done(created)


def put_policy(call: Call) -> Answer:
    return _put_policy(call, operator=False)


def put_operator_policy(call: Call) -> Answer:
    return _put_policy(call, operator=True)


def _delete_policy(call: Call, operator: bool) -> Answer:
    vhost = _vhost(call)
    if call.args["name"] not in _policy_table(vhost, operator):
        raise not_found()
    call.broker.clear_policy(vhost.name, call.args["name"], operator=operator)
    return Answer(204)


def delete_policy(call: Call) -> Answer:
    return _delete_policy(call, operator=False)


def delete_operator_policy(call: Call) -> Answer:
    return _delete_policy(call, operator=True)


# --- limits ----------------------------------------------------------------------------------

VHOST_LIMITS = ("max-connections", "max-queues")
USER_LIMITS = ("max-connections", "max-channels")


def vhost_limits(call: Call) -> list[dict[str, Any]]:
    return [{"vhost": vhost.name, "value": dict(vhost.limits)} for vhost in _scope(call) if vhost.limits]


def _limit_value(call: Call, name: str, known: tuple[str, ...]) -> int:
    body = call.json()
    _require(body, "value")
    value = body["value"]
    if name not in known:
        raise bad_request(f'Validation failed\n\nUnrecognised terms [{{<<"{name}">>,{value}}}] in limits\n')
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"Validation failed\n\n{name} is not an integer\n")
    return value


def put_vhost_limit(call: Call) -> Answer:
    vhost = _vhost(call)
    value = _limit_value(call, call.args["name"], VHOST_LIMITS)
    call.broker.set_vhost_limits(vhost.name, {**vhost.limits, call.args["name"]: value})
    return Answer(204)


def delete_vhost_limit(call: Call) -> Answer:
    vhost = _vhost(call)
    call.broker.clear_vhost_limits(vhost.name, call.args["name"])
    return Answer(204)


def user_limits(call: Call) -> list[dict[str, Any]]:
    users = [_user(call)] if "user" in call.args else list(call.broker.users.values())
    return [{"user": user.name, "value": dict(user.limits)} for user in users if user.limits]


def put_user_limit(call: Call) -> Answer:
    found = _user(call)
    value = _limit_value(call, call.args["name"], USER_LIMITS)
    call.broker.set_user_limits(found.name, {**found.limits, call.args["name"]: value})
    return Answer(204)


def delete_user_limit(call: Call) -> Answer:
    found = _user(call)
    call.broker.clear_user_limits(found.name, call.args["name"])
    return Answer(204)


# --- definitions -----------------------------------------------------------------------------

#: the parts of the definitions that belong to one vhost
VHOST_PARTS = ("queues", "exchanges", "bindings", "policies", "parameters")


def _shaped(call: Call, document: dict[str, Any]) -> dict[str, Any]:
    """The version's shape of queues and exchanges: 4.3 gives queues their `type` and
    exchanges no `internal`."""
    version = call.view.version
    for item in document.get("queues", []):
        if version.definitions_queue_type:
            arguments = item.get("arguments") or {}
            item.setdefault("type", arguments.get("x-queue-type", "classic"))
        else:
            item.pop("type", None)
    for item in document.get("exchanges", []):
        if version.definitions_exchange_internal:
            item.setdefault("internal", False)
        else:
            item.pop("internal", None)
    return document


def definitions(call: Call) -> Answer:
    document: dict[str, Any] = _shaped(call, call.broker.definitions())
    if "vhost" not in call.args:
        return _download(call, document)
    vhost = _vhost(call)
    version = call.view.version
    single: dict[str, Any] = {"rabbit_version": document.get("rabbit_version", call.view.product_version)}
    for part in VHOST_PARTS:
        # 3.10 still names the vhost in each policy and parameter; nothing else names it
        keeps_vhost = part in ("policies", "parameters") and not version.vhost_definitions_metadata
        single[part] = [
            {key: value for key, value in item.items() if key != "vhost" or keeps_vhost}
            for item in document.get(part, [])
            if item.get("vhost") == vhost.name
        ]
    if version.vhost_definitions_metadata:
        shown = call.view.vhost(vhost)
        single.update(
            {
                "description": shown["description"],
                "explanation": f"Definitions of virtual host '{vhost.name}'",
                "limits": dict(vhost.limits),
                "metadata": shown["metadata"],
                "original_vhost_name": vhost.name,
                "product_name": "RabbitMQ",
                "product_version": call.view.product_version,
                "rabbitmq_definition_format": "single_virtual_host",
                "rabbitmq_version": call.view.product_version,
            }
        )
        if not version.definitions_queue_type:
            single["default_queue_type"] = shown["default_queue_type"]
    return _download(call, single)


def _download(call: Call, document: dict[str, Any]) -> Answer:
    answer = Answer(200, document)
    if "download" in call.query:
        answer.headers["Content-Disposition"] = f'attachment; filename="{call.query["download"]}"'
    return answer


def import_definitions(call: Call) -> Answer:
    """POST definitions: JSON only (415 otherwise, as RabbitMQ's content negotiation answers)."""
    if "json" not in call.headers.get("Content-Type", ""):
        return Answer(415)
    try:
        document = call.json()
    except ApiError:
        raise bad_request("failed_to_parse_json") from None
    if "vhost" in call.args:
        vhost = _vhost(call)
        document = {
            part: [{**item, "vhost": vhost.name} for item in document.get(part, []) if isinstance(item, dict)]
            for part in VHOST_PARTS
        }
    try:
        call.broker.import_definitions(document)
    except AdminError as error:
        raise _admin_error(call, error) from None
    return Answer(204)


def aliveness(call: Call) -> dict[str, str]:
    """RabbitMQ declares `aliveness-test` in the vhost, publishes to it and gets the message
    back; before 4.3 the queue stays."""
    vhost = _vhost(call)
    with direct_channel(call.broker, vhost.name, call.user.name) as channel:
        channel.queue_declare("aliveness-test", durable=False)
        channel.basic_publish("", "aliveness-test", b"test_message")
        got = channel.basic_get("aliveness-test", no_ack=True)
        if not call.view.version.aliveness_keeps_queue:
            channel.queue_delete("aliveness-test")
    if got is None or got.message.body != b"test_message":
        raise ApiError(503, "failed", "aliveness-test message did not come back")
    return {"status": "ok"}


# --- health checks and the node --------------------------------------------------------------

#: the resource names RabbitMQ's alarms are shown under (`rabbit_alarm:format_as_map`)
ALARM_RESOURCES = {"disk": "disk space", "memory": "memory"}
HEALTH_FAILURE = 503


def _health_failure(reason: str, **details: Any) -> Answer:
    return Answer(HEALTH_FAILURE, {"status": "failed", "reason": reason, **details})


def _alarms(call: Call, where: str) -> Answer:
    active = call.broker.alarms.active
    if not active:
        return Answer(200, {"status": "ok"})
    alarms = [{"resource": ALARM_RESOURCES.get(name, name), "node": NODE} for name in active]
    return _health_failure(f"There are alarms in effect {where}", alarms=alarms)


def health_alarms(call: Call) -> Answer:
    return _alarms(call, "in the cluster")


def health_local_alarms(call: Call) -> Answer:
    return _alarms(call, "on the node")


def health_ok(call: Call) -> dict[str, str]:
    """Checks that a one-node simulator always passes (its vhosts run, it serves clients)."""
    return {"status": "ok"}


def health_ready(call: Call) -> dict[str, str]:
    if not call.view.version.ready_to_serve_check:
        raise not_found()
    return health_ok(call)


def health_quorum_critical(call: Call) -> dict[str, str]:
    return {"reason": "single node cluster", "status": "ok"}


def _listeners(call: Call) -> list[tuple[str, int]]:
    return [(protocol, port) for protocol, port in (("amqp", call.amqp_port), ("http", call.port)) if port]


def health_port(call: Call) -> Answer:
    try:
        port = int(call.args["port"])
    except ValueError:
        raise bad_request(f"invalid port {call.args['port']}") from None
    ports = [number for _protocol, number in _listeners(call)]
    if port in ports:
        return Answer(200, {"status": "ok", "port": port})
    return _health_failure("No active listener", ports=ports, missing=port)


def health_protocol(call: Call) -> Answer:
    protocols = [protocol for protocol, _port in _listeners(call)]
    if call.args["protocol"] in protocols:
        return Answer(200, {"status": "ok", "protocols": protocols})
    return _health_failure("No active listener", protocols=protocols, missing=[call.args["protocol"]])


def cluster_name(call: Call) -> dict[str, str]:
    return {"name": NODE}


def extensions(call: Call) -> list[Any]:
    return []


def nodes(call: Call) -> list[dict[str, Any]]:
    """The one node, with what the simulator knows of it: alarms, memory and disk as measured
    (RabbitMQ's many Erlang VM statistics are not modelled)."""
    status = call.broker.alarms.status()
    return [
        {
            "name": NODE,
            "type": "disc",
            "running": True,
            "being_drained": False,
            "partitions": [],
            "rates_mode": "basic",
            "rabbitmq_version": call.view.product_version,
            "mem_alarm": "memory" in status.alarms,
            "disk_free_alarm": "disk" in status.alarms,
            "mem_used": status.memory_used,
            "mem_limit": status.memory_limit,
            "disk_free": status.disk_free,
            "disk_free_limit": status.disk_free_limit,
            "exchange_types": overview(call).get("exchange_types", []),
        }
    ]


# --- the routes ----------------------------------------------------------------------------------

M, P, MO, A = MANAGEMENT, POLICYMAKER, MONITORING, ADMINISTRATOR

ROUTES: tuple[Route, ...] = (
    route("overview", get=(overview, M)),
    route("whoami", get=(whoami, M)),
    route("connections", get=(connections, M)),
    route("connections/{name}", get=(connection, M), delete=(close_connection, M)),
    route("connections/{name}/channels", get=(connection_channels, M)),
    route("vhosts/{vhost}/connections", get=(connections, M)),
    route("channels", get=(channels, M)),
    route("channels/{name}", get=(channel, M)),
    route("vhosts/{vhost}/channels", get=(channels, M)),
    route("consumers", get=(consumers, M)),
    route("consumers/{vhost}", get=(consumers, M)),
    route("exchanges", get=(exchanges, M)),
    route("exchanges/{vhost}", get=(exchanges, M)),
    route(
        "exchanges/{vhost}/{name}", get=(exchange, M), put=(declare_exchange, M), delete=(delete_exchange, M)
    ),
    route("exchanges/{vhost}/{name}/publish", post=(publish, M)),
    route("exchanges/{vhost}/{name}/bindings/{side}", get=(exchange_bindings, M)),
    route("queues", get=(queues, M)),
    route("queues/{vhost}", get=(queues, M)),
    route("queues/{vhost}/{name}", get=(queue, M), put=(declare_queue, M), delete=(delete_queue, M)),
    route("queues/{vhost}/{name}/bindings", get=(queue_bindings, M)),
    route("queues/{vhost}/{name}/contents", delete=(purge_queue, M)),
    route("queues/{vhost}/{name}/get", post=(get_messages, M)),
    route("bindings", get=(bindings, M)),
    route("bindings/{vhost}", get=(bindings, M)),
    route("bindings/{vhost}/e/{source}/{kind}/{destination}", get=(bindings_between, M), post=(bind, M)),
    route("bindings/{vhost}/e/{source}/{kind}/{destination}/{props}", get=(binding, M), delete=(unbind, M)),
    route("vhosts", get=(vhosts, M)),
    route("vhosts/{vhost}", get=(vhost, M), put=(put_vhost, A), delete=(delete_vhost, A)),
    route("vhosts/{vhost}/permissions", get=(permissions, A)),
    route("vhosts/{vhost}/topic-permissions", get=(topic_permissions, A)),
    route("users", get=(users, A)),
    route("users/without-permissions", get=(users_without_permissions, A)),
    route("users/{user}", get=(user, A), put=(put_user, A), delete=(delete_user, A)),
    route("users/{user}/permissions", get=(permissions, A)),
    route("users/{user}/topic-permissions", get=(topic_permissions, A)),
    route("permissions", get=(permissions, A)),
    route(
        "permissions/{vhost}/{user}",
        get=(permission, A),
        put=(put_permission, A),
        delete=(delete_permission, A),
    ),
    route("topic-permissions", get=(topic_permissions, A)),
    route(
        "topic-permissions/{vhost}/{user}",
        get=(topic_permission, A),
        put=(put_topic_permission, A),
        delete=(delete_topic_permission, A),
    ),
    route("policies", get=(policies, M)),
    route("policies/{vhost}", get=(policies, M)),
    route("policies/{vhost}/{name}", get=(policy, M), put=(put_policy, P), delete=(delete_policy, P)),
    route("operator-policies", get=(operator_policies, A)),
    route("operator-policies/{vhost}", get=(operator_policies, A)),
    route(
        "operator-policies/{vhost}/{name}",
        get=(operator_policy, A),
        put=(put_operator_policy, A),
        delete=(delete_operator_policy, A),
    ),
    route("vhost-limits", get=(vhost_limits, M)),
    route("vhost-limits/{vhost}", get=(vhost_limits, M)),
    route("vhost-limits/{vhost}/{name}", put=(put_vhost_limit, A), delete=(delete_vhost_limit, A)),
    route("user-limits", get=(user_limits, A)),
    route("user-limits/{user}", get=(user_limits, A)),
    route("user-limits/{user}/{name}", put=(put_user_limit, A), delete=(delete_user_limit, A)),
    route("definitions", get=(definitions, A), post=(import_definitions, A)),
    route("definitions/{vhost}", get=(definitions, A), post=(import_definitions, A)),
    route("aliveness-test/{vhost}", get=(aliveness, M)),
    route("cluster-name", get=(cluster_name, M)),
    route("extensions", get=(extensions, M)),
    route("nodes", get=(nodes, MO)),
    route("health/checks/alarms", get=(health_alarms, M)),
    route("health/checks/local-alarms", get=(health_local_alarms, M)),
    route("health/checks/virtual-hosts", get=(health_ok, M)),
    route("health/checks/ready-to-serve-clients", get=(health_ready, M)),
    route("health/checks/node-is-quorum-critical", get=(health_quorum_critical, M)),
    route("health/checks/port-listener/{port}", get=(health_port, M)),
    route("health/checks/protocol-listener/{protocol}", get=(health_protocol, M)),
)
