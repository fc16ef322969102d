"""The broker as a whole: overview, whoami, definitions, the aliveness test, health checks
and the node."""

from __future__ import annotations

from typing import Any

from rabbitsim.broker import AdminError

from ._common import (
    admin_error,
    find_vhost,
    visible_connections,
    visible_vhosts,
)
from ._direct import direct_channel
from ._http import (
    Answer,
    ApiError,
    Call,
    bad_request,
    not_found,
)
from ._views import NODE

# --- overview ------------------------------------------------------------------------------


EXCHANGE_TYPES = (
    ("direct", "AMQP direct exchange, as per the AMQP specification"),
    ("fanout", "AMQP fanout exchange, as per the AMQP specification"),
    ("headers", "AMQP headers exchange, as per the AMQP specification"),
    ("topic", "AMQP topic exchange, as per the AMQP specification"),
)


def overview(call: Call) -> dict[str, Any]:
    view = call.view
    vhosts = visible_vhosts(call)
    queues = [queue for vhost in vhosts for queue in vhost.queues.values()]
    connections = visible_connections(call)
    ready = sum(queue.message_counts[0] for queue in queues)
    unacked = sum(queue.message_counts[1] for queue in queues)
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
    return result


def whoami(call: Call) -> dict[str, Any]:
    result: dict[str, Any] = {"name": call.user.name, "tags": list(call.user.tags)}
    if call.view.version.whoami_internal:
        result["is_internal_user"] = True
    return result


# --- definitions -----------------------------------------------------------------------------

#: the parts of the definitions that belong to one vhost
VHOST_PARTS = ("queues", "exchanges", "bindings", "policies", "parameters")


def _whole(call: Call, document: dict[str, Any]) -> dict[str, Any]:
    """The whole broker's definitions in the version's shape: what they say about themselves,
    each vhost's fields, the global parameters."""
    version, product = call.view.version, call.view.product_version
    header: dict[str, Any] = {
        "rabbit_version": product,
        "rabbitmq_version": product,
        "product_name": "RabbitMQ",
        "product_version": product,
    }
    if version.definitions_of_cluster:
        header.update(
            rabbitmq_definition_format="cluster",
            original_cluster_name=NODE,
            explanation=f"Definitions of cluster '{NODE}'",
        )
    vhosts = []
    for item in document.get("vhosts", []):
        vhost = call.broker.vhosts[item["name"]]
        shown = {**call.view.vhost(vhost), "limits": dict(vhost.limits)}
        vhosts.append({key: shown[key] for key in version.definitions_vhost_keys})
    parameters = {"cluster_tags": [], "internal_cluster_id": CLUSTER_ID}
    return {
        **header,
        **document,
        "vhosts": vhosts,
        "global_parameters": [
            {"name": name, "value": parameters[name]} for name in version.global_parameters
        ],
    }


#: the id a cluster gives itself at its first start; the simulator's is fixed, like its node name
CLUSTER_ID = "rabbitmq-cluster-id-rabbitsim"


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
        return _download(call, _whole(call, document))
    vhost = find_vhost(call)
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
        vhost = find_vhost(call)
        document = {
            part: [{**item, "vhost": vhost.name} for item in document.get(part, []) if isinstance(item, dict)]
            for part in VHOST_PARTS
        }
    try:
        call.broker.import_definitions(document, whole="vhost" not in call.args)
    except AdminError as error:
        raise admin_error(call, error) from None
    return Answer(204)


def aliveness(call: Call) -> dict[str, str]:
    """RabbitMQ declares `aliveness-test` in the vhost, publishes to it and gets the message
    back; before 4.3 the queue stays."""
    vhost = find_vhost(call)
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
