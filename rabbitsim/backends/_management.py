"""A real broker's topology, from the management HTTP API (the plugin RabbitMQ's web UI uses).

Counts in the API come from statistics the broker emits every `collect_statistics_interval`
(5 s by default; the brokers CI starts use 500 ms), so a snapshot can lag a real broker by
that much. The simulator's snapshots are exact. This is written down in the README."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rabbitsim.vocabulary import (
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    QueueInfo,
    Topology,
    plain,
)

#: RabbitMQ's default ports: AMQP 5672, management 15672
MANAGEMENT_PORT_OFFSET = 10000
TIMEOUT_SECONDS = 10.0


class ManagementError(RuntimeError):
    """The management API could not be reached or refused a request. `status` is the HTTP status
    (None when unreachable) and `reason` the `reason` of RabbitMQ's JSON error body, if any."""

    def __init__(self, message: str, status: int | None = None, reason: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ManagementClient:
    def __init__(self, url: str) -> None:
        """`url` is the API's root with credentials, e.g. `http://guest:guest@127.0.0.1:15672/`."""
        parts = urllib.parse.urlsplit(url)
        self.username = urllib.parse.unquote(parts.username or "guest")
        self.password = urllib.parse.unquote(parts.password or "guest")
        netloc = parts.hostname or "127.0.0.1"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        self.base = urllib.parse.urlunsplit((parts.scheme or "http", netloc, parts.path.rstrip("/"), "", ""))
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def __repr__(self) -> str:
        return f"ManagementClient({self.base!r})"

    def request(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}/api/{path}", data=data, method=method, headers={**self._headers, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise ManagementError(
                f"{method} {self.base}/api/{path}: HTTP {error.code} {error.reason}",
                error.code,
                _error_reason(error),
            ) from error
        except (urllib.error.URLError, OSError) as error:
            raise ManagementError(
                f"cannot reach the management API at {self.base} ({error}); is the "
                "rabbitmq_management plugin enabled (rabbitmq-plugins enable rabbitmq_management)?"
            ) from error
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def overview(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("overview")
        return result

    def set_tracing(self, vhost: str, enabled: bool) -> None:
        """Switch the firehose (`amq.rabbitmq.trace`) for one vhost, like `rabbitmqctl trace_on`."""
        self.request("PUT", f"vhosts/{urllib.parse.quote(vhost, safe='')}", {"tracing": enabled})

    def topology(self) -> Topology:
        # a channel or consumer whose connection is closing is listed with empty details: skip it
        channels = [_channel(item) for item in self.get("channels") if item.get("connection_details")]
        channel_names = {channel.name for channel in channels}  # consumers can be listed first
        return Topology.sorted(
            exchanges=[_exchange(item) for item in self.get("exchanges")],
            queues=[_queue(item) for item in self.get("queues")],
            bindings=[_binding(item) for item in self.get("bindings")],
            consumers=[
                _consumer(item)
                for item in self.get("consumers")
                if item.get("channel_details") and item["channel_details"]["name"] in channel_names
            ],
            channels=channels,
            connections=[_connection(item) for item in self.get("connections")],
        )


def _error_reason(error: urllib.error.HTTPError) -> Any:
    """The `reason` field of RabbitMQ's JSON error body, or None."""
    try:
        body = json.loads(error.read() or b"null")
    except (ValueError, OSError):
        return None
    return body.get("reason") if isinstance(body, dict) else None


def _exchange(item: dict[str, Any]) -> ExchangeInfo:
    return ExchangeInfo(
        vhost=item["vhost"],
        name=item["name"],
        type=item["type"],
        durable=item["durable"],
        auto_delete=item["auto_delete"],
        internal=item["internal"],
        arguments=plain(item.get("arguments") or {}),
    )


def _queue(item: dict[str, Any]) -> QueueInfo:
    """A stream's `first_offset` and `committed_offset` stay None: no version measured (3.10.8,
    4.0.5, 4.3.6) lists either in /api/queues. Its `messages_ready` is the log's span in
    offsets (RabbitMQ computes last offset + 1 - first offset, every `stream_tick_interval`,
    5 s), and offsets count records that are not messages too (with 1000-byte segments, 30
    messages took offsets 0-31 on 3.10.8 and 4.3.6, 0-32 on 4.0.5). Neither end can be told
    from the span alone, so none is guessed. 4.3 adds `first_timestamp` (ms), 4.x `segments`."""
    return QueueInfo(
        vhost=item["vhost"],
        name=item["name"],
        type=item.get("type", "classic"),
        durable=item["durable"],
        auto_delete=item["auto_delete"],
        exclusive=bool(item.get("exclusive", False)),
        messages_ready=item.get("messages_ready", 0),
        messages_unacknowledged=item.get("messages_unacknowledged", 0),
        consumers=item.get("consumers", 0),
        arguments=plain(item.get("arguments") or {}),
    )


def _binding(item: dict[str, Any]) -> BindingInfo:
    return BindingInfo(
        vhost=item["vhost"],
        source=item["source"],
        destination=item["destination"],
        destination_type=item["destination_type"],
        routing_key=item["routing_key"],
        arguments=plain(item.get("arguments") or {}),
    )


def _consumer(item: dict[str, Any]) -> ConsumerInfo:
    return ConsumerInfo(
        vhost=item["queue"]["vhost"],
        queue=item["queue"]["name"],
        consumer_tag=item["consumer_tag"],
        channel=item["channel_details"]["name"],
        ack_required=item["ack_required"],
        prefetch_count=item.get("prefetch_count", 0),
        exclusive=item["exclusive"],
        arguments=plain(item.get("arguments") or {}),
    )


def _channel(item: dict[str, Any]) -> ChannelInfo:
    return ChannelInfo(
        name=item["name"],
        connection=item["connection_details"]["name"],
        number=item["number"],
        prefetch_count=item.get("prefetch_count", 0),
        global_prefetch_count=item.get("global_prefetch_count", 0),
        messages_unacknowledged=item.get("messages_unacknowledged", 0),
        consumer_count=item.get("consumer_count", 0),
        confirm=item.get("confirm", False),
        transactional=item.get("transactional", False),
    )


def _connection(item: dict[str, Any]) -> ConnectionInfo:
    return ConnectionInfo(
        name=item["name"],
        vhost=item["vhost"],
        user=item["user"],
        channels=item.get("channels", 0),
        client_provided_name=item.get("user_provided_name"),
    )
