"""What the endpoints share: the vhosts a caller may see, names in paths, RabbitMQ's ways of
reporting missing keys and refusals."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from rabbitsim.broker import AdminError, Connection, Exchange, Queue, VHost

from ._http import (
    ADMINISTRATOR,
    ApiError,
    Call,
    bad_request,
    not_found,
    versioned,
)
from ._views import DEFAULT_EXCHANGE_PATH

# --- helpers -------------------------------------------------------------------------------


def find_vhost(call: Call, name: str | None = None) -> VHost:
    """The vhost a path names, if the caller may see it (RabbitMQ answers 404 either way)."""
    name = call.args["vhost"] if name is None else name
    vhost = call.broker.vhosts.get(name)
    if vhost is None:
        raise not_found()
    if not (call.has(ADMINISTRATOR) or (call.user.name, name) in call.broker.permissions):
        raise versioned(call.view.version.vhost_refused)
    return vhost


def visible_vhosts(call: Call) -> list[VHost]:
    """The vhosts whose objects a listing shows: all for an administrator, else those the
    caller has permissions in."""
    vhosts = call.broker.vhosts.values()
    if call.has(ADMINISTRATOR):
        return list(vhosts)
    return [vhost for vhost in vhosts if (call.user.name, vhost.name) in call.broker.permissions]


def scope(call: Call) -> list[VHost]:
    """The vhost named in the path, or every visible one."""
    return [find_vhost(call)] if "vhost" in call.args else visible_vhosts(call)


def exchange_name(name: str) -> str:
    return "" if name == DEFAULT_EXCHANGE_PATH else name


def ordered(items: Iterable[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: tuple(str(item.get(key, "")) for key in keys))


def escape_validation(call: Call, reason: str) -> str:
    """3.10 and 4.0 answer validation texts HTML-escaped."""
    return html.escape(reason, quote=False) if call.view.version.escapes_validation else reason


def admin_error(call: Call, error: AdminError, *, escaped: bool = False) -> ApiError:
    """The core's refusal as the API's answer; `escaped`: a policy's validation text, which
    3.10 and 4.0 HTML-escape."""
    if error.kind == AdminError.NOT_FOUND:
        return not_found()
    reason: Any = error.reason if error.term is None else error.term  # RabbitMQ's Erlang term, if any
    return bad_request(escape_validation(call, reason) if escaped and isinstance(reason, str) else reason)


def require(body: dict[str, Any], *keys: str) -> None:
    """RabbitMQ names every missing key at once, as an Erlang list."""
    missing = [key for key in keys if key not in body]
    if missing:
        raise bad_request("[" + ",".join(f"{{key_missing,{key}}}" for key in missing) + "]")


def parse_tags(value: Any) -> tuple[str, ...]:
    """Tags as RabbitMQ takes them: a comma-separated string or a list."""
    if isinstance(value, list):
        return tuple(str(tag).strip() for tag in value if str(tag).strip())
    if isinstance(value, str):
        return tuple(tag.strip() for tag in value.split(",") if tag.strip())
    return ()


def flag(value: Any) -> bool:
    return value is True or value == "true"


def query_flag(call: Call, name: str) -> bool:
    return call.query.get(name) == "true"


def visible_connections(call: Call) -> list[Connection]:
    connections = list(call.broker.connections.values())
    if not call.sees_all_connections():
        connections = [connection for connection in connections if connection.user == call.user.name]
    if "vhost" in call.args:
        vhost = find_vhost(call)
        connections = [connection for connection in connections if connection.vhost is vhost]
    return connections


class _Missing:
    exchanges: dict[str, Exchange] = {}  # noqa: RUF012 - never written: a vhost that is not there
    queues: dict[str, Queue] = {}  # noqa: RUF012


NO_VHOST: Any = _Missing()
