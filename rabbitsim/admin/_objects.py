"""What clients make and use: connections, channels, consumers, exchanges, queues and
bindings; publishing and getting messages through the API."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Iterator
from typing import Any

from rabbitsim.broker import Binding, Connection, Exchange, Properties, Queue, VHost
from rabbitsim.vocabulary import plain

from ._common import (
    NO_VHOST,
    exchange_name,
    find_vhost,
    flag,
    ordered,
    query_flag,
    require,
    scope,
    visible_connections,
)
from ._direct import direct_channel
from ._http import (
    GET,
    PUBLISH,
    Answer,
    ApiError,
    Call,
    bad_request,
    done,
    not_found,
    versioned,
)
from ._views import View, properties_key

# --- connections and channels --------------------------------------------------------------------


def connections(call: Call) -> list[dict[str, Any]]:
    return ordered((call.view.connection(c) for c in visible_connections(call)), "name")


def _connection(call: Call) -> Connection:
    name = call.args["name"]  # RabbitMQ's name for it (`Connection.network_name`)
    connection = next((c for c in call.broker.connections.values() if c.network_name == name), None)
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
    return ordered(call.view.channels(visible_connections(call)), "name")


def channel(call: Call) -> dict[str, Any]:
    name = call.args["name"]
    for found in visible_connections(call):
        for number in found.channels:
            if f"{found.network_name} ({number})" == name:
                return call.view.channel(found, number)
    raise not_found()


def consumers(call: Call) -> list[dict[str, Any]]:
    return [
        call.view.consumer(consumer)
        for vhost in scope(call)
        for queue in vhost.queues.values()
        for consumer in queue.consumers
    ]


# --- exchanges -------------------------------------------------------------------------------


def exchanges(call: Call) -> list[dict[str, Any]]:
    return ordered(
        (call.view.exchange(exchange) for vhost in scope(call) for exchange in vhost.exchanges.values()),
        "vhost",
        "name",
    )


def _exchange(call: Call) -> Exchange:
    exchange = find_vhost(call).exchanges.get(exchange_name(call.args["name"]))
    if exchange is None:
        raise not_found()
    return exchange


def exchange(call: Call) -> dict[str, Any]:
    return call.view.exchange(_exchange(call), detail=True)


def declare_exchange(call: Call) -> Answer:
    body = call.json()
    vhost_name, name = call.args["vhost"], exchange_name(call.args["name"])
    existed = name in call.broker.vhosts.get(vhost_name, NO_VHOST).exchanges
    with direct_channel(call.broker, vhost_name, call.user.name) as channel:
        channel.exchange_declare(
            name,
            str(body.get("type", "direct")),
            durable=flag(body.get("durable", False)),
            auto_delete=flag(body.get("auto_delete", False)),
            internal=flag(body.get("internal", False)),
            arguments=body.get("arguments") or {},
        )
    return done(not existed)


def delete_exchange(call: Call) -> Answer:
    found = _exchange(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        channel.exchange_delete(found.name, if_unused=query_flag(call, "if-unused"))
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
    require(body, "routing_key", "properties", "payload", "payload_encoding")
    vhost = find_vhost(call)
    found = vhost.exchanges.get(exchange_name(call.args["name"]))
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
    return ordered(
        (call.view.queue(queue) for vhost in scope(call) for queue in vhost.queues.values()), "vhost", "name"
    )


def _queue(call: Call) -> Queue:
    queue = find_vhost(call).queues.get(call.args["name"])
    if queue is None:
        raise not_found()
    return queue


def queue(call: Call) -> dict[str, Any]:
    return call.view.queue(_queue(call), detail=True)


def declare_queue(call: Call) -> Answer:
    body = call.json()
    vhost_name, name = call.args["vhost"], call.args["name"]
    existed = name in call.broker.vhosts.get(vhost_name, NO_VHOST).queues
    arguments = dict(body.get("arguments") or {})
    vhost = call.broker.vhosts.get(vhost_name)
    queue_type = getattr(vhost, "default_queue_type", None)
    if queue_type and "x-queue-type" not in arguments and not existed:
        arguments["x-queue-type"] = queue_type
    with direct_channel(call.broker, vhost_name, call.user.name) as channel:
        channel.queue_declare(
            name,
            durable=flag(body.get("durable", False)),
            auto_delete=flag(body.get("auto_delete", False)),
            arguments=arguments,
        )
    return done(not existed)


def delete_queue(call: Call) -> Answer:
    found = _queue(call)
    with direct_channel(call.broker, call.args["vhost"], call.user.name) as channel:
        channel.queue_delete(
            found.name, if_unused=query_flag(call, "if-unused"), if_empty=query_flag(call, "if-empty")
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
    require(body, "count", "ackmode", "encoding")
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
    """Set properties by RabbitMQ's names; none at all is `[]` (an empty Erlang list). An
    empty cluster_id is unset: what pamqp decodes for a stored message without one (and what
    the wire adapter does not send either)."""
    shown = {}
    for name in Properties.__dataclass_fields__:
        value = getattr(properties, name, None)
        if value is not None and not (name == "cluster_id" and value == ""):
            shown["type" if name == "message_type" else name] = plain(value)
    return shown or []


# --- bindings --------------------------------------------------------------------------------


def bindings(call: Call) -> list[dict[str, Any]]:
    return [binding for vhost in scope(call) for binding in call.view.bindings(vhost)]


def exchange_bindings(call: Call) -> list[dict[str, Any]]:
    """.../bindings/source: the bindings leaving the exchange; .../destination: those reaching it."""
    side = call.args["side"]
    if side not in ("source", "destination"):
        raise not_found()
    found = _exchange(call)
    return [
        item
        for item in call.view.bindings(find_vhost(call))
        if item[side] == found.name and (side == "source" or item["destination_type"] == "exchange")
    ]


def queue_bindings(call: Call) -> list[dict[str, Any]]:
    found = _queue(call)
    return [
        item
        for item in call.view.bindings(find_vhost(call))
        if item["destination"] == found.name and item["destination_type"] == "queue"
    ]


KINDS = {"q": "queue", "e": "exchange"}


def _ends(call: Call) -> tuple[VHost, str, str, str]:
    """(vhost, source, destination, destination kind) of a bindings path."""
    kind = KINDS.get(call.args["kind"])
    if kind is None:
        raise not_found()
    vhost = find_vhost(call)
    return vhost, exchange_name(call.args["source"]), call.args["destination"], kind


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
