"""The JSON RabbitMQ's management API shows for each thing in the core, field for field.

What a real node measures about itself (memory, reductions, garbage collection, RAM versus
disk) has no counterpart here: those fields are present, with the values of an idle node, so
that tools reading them do not break. Rates are RabbitMQ's "change per second" of a count,
sampled by `Rates`; `message_stats` are left out, as the core keeps no per-queue counters."""

from __future__ import annotations

import datetime
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rabbitsim.broker import (
    NODE_NAME,
    Broker,
    Connection,
    Consumer,
    Exchange,
    Queue,
    Stream,
    VHost,
    effective_definition,
)
from rabbitsim.vocabulary import plain

from ._versions import ApiVersion

if TYPE_CHECKING:
    from ._rates import Rates

#: The simulator's node, as a one-node cluster names itself (the core's name for it).
NODE = NODE_NAME
#: What a real node reports of an Erlang process that has nothing to say.
IDLE_GC = {
    "fullsweep_after": 65535,
    "max_heap_size": 0,
    "min_bin_vheap_size": 46422,
    "min_heap_size": 233,
    "minor_gcs": 0,
}
#: the default exchange's name in paths and in the UI
DEFAULT_EXCHANGE_PATH = "amq.default"


def rate(value: float = 0.0) -> dict[str, float]:
    return {"rate": value}


def iso_time(seconds: float) -> str:
    """RabbitMQ's timestamps in the API: `2026-12-02T05:31:15.294+00:00`."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def properties_key(routing_key: str, arguments: Mapping[str, Any]) -> str:
    """How a binding is named in a path: its key, URL-quoted, or `~` and a hash of the arguments."""
    if not arguments:
        return urllib.parse.quote_plus(routing_key, safe="") if routing_key else "~"
    digest = _hash_arguments(arguments)
    return f"{urllib.parse.quote_plus(routing_key, safe='')}~{digest}"


def _hash_arguments(arguments: Mapping[str, Any]) -> str:
    """A short stable name for a binding's arguments (RabbitMQ's is an Erlang term hash, which
    cannot be recomputed outside Erlang; ours is stable within the simulator)."""
    import hashlib
    import json

    text = json.dumps(plain(arguments), sort_keys=True, default=str).encode()
    return hashlib.blake2b(text, digest_size=5).hexdigest().upper()[:6]


class View:
    """Everything one request renders, with what must be counted across the core once
    (unacknowledged bytes sit in channels, not in queues)."""

    def __init__(self, broker: Broker, version: ApiVersion, rates: Rates | None = None) -> None:
        self.broker = broker
        self.version = version
        self.rates = rates
        self._unacked: dict[Queue, list[int]] | None = None

    @property
    def product_version(self) -> str:
        return self.broker.profile.rabbitmq_version

    def _rate(self, key: tuple[str, ...]) -> dict[str, float]:
        return rate(self.rates.rate(key) if self.rates is not None else 0.0)

    # --- queues ----------------------------------------------------------------------------

    def unacked_bytes(self, queue: Queue) -> tuple[int, int]:
        """(bytes, persistent copies) of `queue`'s messages delivered and awaiting ack."""
        if self._unacked is None:
            found: dict[Queue, list[int]] = defaultdict(lambda: [0, 0])
            for connection in self.broker.connections.values():
                for channel in connection.channels.values():
                    for _tag, entry, owner, _consumer in channel.unacked.values():
                        counts = found[owner]
                        counts[0] += len(entry.message.body)
                        counts[1] += entry.message.properties.delivery_mode == 2
            self._unacked = found
        found_counts = self._unacked.get(queue)
        return (found_counts[0], found_counts[1]) if found_counts else (0, 0)

    def queue(self, queue: Queue, *, detail: bool = False) -> dict[str, Any]:
        version = self.version
        ready, unacked = queue.message_counts
        ready_bytes = sum(len(entry.message.body) for entry in queue.ready)
        unacked_bytes, unacked_persistent = self.unacked_bytes(queue)
        persistent = 0
        persistent_bytes = 0
        if queue.durable:
            for entry in queue.ready:
                if entry.message.properties.delivery_mode == 2:
                    persistent += 1
                    persistent_bytes += len(entry.message.body)
            persistent += unacked_persistent
        arguments = plain(queue.arguments)
        if self.broker.profile.records_queue_type:
            arguments = {**arguments, "x-queue-type": queue.type}
        consumers = len(queue.consumers)
        key = ("queue", queue.vhost_name, queue.name)
        policy, operator_policy = queue.policy, queue.operator_policy
        item: dict[str, Any] = {
            "arguments": arguments,
            "auto_delete": queue.auto_delete,
            "consumer_capacity": 1.0 if consumers else 0,
            "consumer_utilisation": 1.0 if consumers else 0,
            "consumers": consumers,
            "durable": queue.durable,
            "effective_policy_definition": plain(effective_definition(policy, operator_policy)),
            "exclusive": queue.exclusive,
            "memory": 7000 + ready_bytes + unacked_bytes,
            "message_bytes": ready_bytes + unacked_bytes,
            "message_bytes_persistent": persistent_bytes,
            "message_bytes_ram": ready_bytes + unacked_bytes,
            "message_bytes_ready": ready_bytes,
            "message_bytes_unacknowledged": unacked_bytes,
            "messages": ready + unacked,
            "messages_details": self._rate((*key, "messages")),
            "messages_persistent": persistent,
            "messages_ram": ready + unacked,
            "messages_ready": ready,
            "messages_ready_details": self._rate((*key, "messages_ready")),
            "messages_ready_ram": ready,
            "messages_unacknowledged": unacked,
            "messages_unacknowledged_details": self._rate((*key, "messages_unacknowledged")),
            "messages_unacknowledged_ram": unacked,
            "name": queue.name,
            "node": NODE,
            "reductions": 0,
            "reductions_details": rate(),
            "state": "running",
            "type": queue.type,
            "vhost": queue.vhost_name,
        }
        if detail and queue.owner is not None:
            item["owner_pid_details"] = self.connection_details(queue.owner)
        if version.queue_internal:
            item["internal"] = False
            item["internal_owner"] = False
        if version.queue_storage_version and queue.type == "classic":
            item["storage_version"] = 2 if version.name != "3.10" else 1
        if version.queue_paged_out:
            item["messages_paged_out"] = 0
            item["message_bytes_paged_out"] = 0
        if policy is not None:
            item["policy"] = policy.name
        if operator_policy is not None:
            item["operator_policy"] = operator_policy.name
        if detail or version.queue_list_full:
            item.setdefault("policy", None)
            item.setdefault("operator_policy", None)
            exclusive_consumer = next((c for c in queue.consumers if c.exclusive), None)
            active = queue.consumers[0] if queue.single_active and queue.consumers else None
            item["exclusive_consumer_tag"] = exclusive_consumer.tag if exclusive_consumer else None
            item["single_active_consumer_tag"] = active.tag if active else None
            item["garbage_collection"] = dict(IDLE_GC)
            item["head_message_timestamp"] = _head_timestamp(queue)
            item["idle_since"] = iso_time(self._wall())
        if version.name == "3.10" and (detail or version.queue_list_full):
            item["recoverable_slaves"] = None
        if detail:
            item["consumer_details"] = [self.consumer(consumer) for consumer in queue.consumers]
            item["deliveries"] = []
            item["incoming"] = []
        if queue.type == "quorum":
            self._quorum(queue, item)
        elif isinstance(queue, Stream):
            self._stream(queue, item)
        return item

    def _stream(self, queue: Stream, item: dict[str, Any]) -> None:
        """A stream's fields (measured on 3.10.8 and 4.3.6): its membership and readers instead of
        the byte and RAM counts of the other types; the rest per version."""
        for key in (*CLASSIC_ONLY, *STREAM_WITHOUT):
            item.pop(key, None)
        item.update(members=[NODE], online=[NODE], readers={NODE: len(queue.consumers)})
        for key in self.version.stream_fields:
            item[key] = STREAM[key](queue)

    def _quorum(self, queue: Queue, item: dict[str, Any]) -> None:
        """A quorum queue's fields: its (one-node) Raft membership and counts instead of what
        only classic queues have; the rest per version (`ApiVersion.quorum_fields`)."""
        for key in CLASSIC_ONLY:
            item.pop(key, None)
        item.update(
            leader=NODE,
            members=[NODE],
            online=[NODE],
            open_files={NODE: 0},
            messages_dlx=0,
            message_bytes_dlx=0,
        )
        for key in self.version.quorum_fields:
            item[key] = QUORUM[key](queue)
        if "single_active_consumer_ctag" in item:
            item.pop("single_active_consumer_tag", None)

    # --- exchanges and bindings -------------------------------------------------------------

    def exchange(self, exchange: Exchange, *, detail: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {
            "arguments": plain(exchange.arguments),
            "auto_delete": exchange.auto_delete,
            "durable": exchange.durable,
            "internal": exchange.internal,
            "name": exchange.name,
            "type": exchange.type,
            "user_who_performed_action": "rmq-internal" if _is_standard(exchange) else "guest",
            "vhost": exchange.vhost_name,
        }
        if exchange.policy is not None:
            item["policy"] = exchange.policy.name
        if detail:
            item["incoming"] = []
            item["outgoing"] = []
        return item

    def bindings(self, vhost: VHost) -> list[dict[str, Any]]:
        """Every binding of a vhost, in RabbitMQ's order: the default exchange's implicit ones
        first, then by source, destination, destination kind, key."""
        implicit = [
            self.binding(vhost.name, "", queue.name, "queue", queue.name, {})
            for queue in vhost.queues.values()
        ]
        explicit = [
            self.binding(
                vhost.name,
                binding.source.name,
                binding.destination.name,
                "exchange" if isinstance(binding.destination, Exchange) else "queue",
                binding.routing_key,
                binding.arguments,
            )
            for exchange in vhost.exchanges.values()
            for binding in exchange.outgoing.values()
        ]
        explicit.sort(key=lambda b: (b["source"], b["destination"], b["destination_type"], b["routing_key"]))
        implicit.sort(key=lambda b: b["destination"])
        return implicit + explicit

    @staticmethod
    def binding(
        vhost: str, source: str, destination: str, kind: str, routing_key: str, arguments: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "arguments": plain(arguments),
            "destination": destination,
            "destination_type": kind,
            "properties_key": properties_key(routing_key, arguments),
            "routing_key": routing_key,
            "source": source,
            "vhost": vhost,
        }

    # --- connections, channels, consumers -------------------------------------------------------

    @staticmethod
    def connection_details(connection: Connection) -> dict[str, Any]:
        return {
            "name": connection.network_name,
            "peer_host": connection.peer_host,
            "peer_port": connection.peer_port,
        }

    def connection(self, connection: Connection, *, detail: bool = False) -> dict[str, Any]:
        version = self.version
        no_tls = "" if detail else None  # RabbitMQ: "" for one connection, null in lists
        properties = plain(connection.client_properties)
        item: dict[str, Any] = {
            "auth_mechanism": "PLAIN",
            "channel_max": connection.channel_max,
            "channels": len(connection.channels),
            "client_properties": properties,
            "connected_at": connection.connected_at,
            "frame_max": connection.frame_max,
            "garbage_collection": dict(IDLE_GC),
            "host": connection.host,
            "name": connection.network_name,
            "node": NODE,
            "peer_cert_issuer": no_tls,
            "peer_cert_subject": no_tls,
            "peer_cert_validity": no_tls,
            "peer_host": connection.peer_host,
            "peer_port": connection.peer_port,
            "port": connection.port,
            "protocol": "AMQP 0-9-1",
            "recv_cnt": 0,
            "recv_oct": 0,
            "recv_oct_details": rate(),
            "reductions": 0,
            "reductions_details": rate(),
            "send_cnt": 0,
            "send_oct": 0,
            "send_oct_details": rate(),
            "send_pend": 0,
            "ssl": False,
            "ssl_cipher": no_tls,
            "ssl_hash": no_tls,
            "ssl_key_exchange": no_tls,
            "ssl_protocol": no_tls,
            "state": "running" if connection.is_open else "closing",
            "timeout": connection.heartbeat,
            "type": "network",
            "user": connection.user,
            "user_provided_name": properties.get("connection_name"),
            "user_who_performed_action": connection.user,
            "vhost": connection.vhost.name,
        }
        if item["user_provided_name"] is None:
            del item["user_provided_name"]
        if version.peer_cert_serial:
            item["peer_cert_serial_number"] = no_tls
        return item

    def channels(self, connections: Iterable[Connection]) -> list[dict[str, Any]]:
        return [
            self.channel(connection, number)
            for connection in connections
            for number in sorted(connection.channels)
        ]

    def channel(self, connection: Connection, number: int) -> dict[str, Any]:
        channel = connection.channels[number]
        version = self.version
        transaction = channel.transaction
        item: dict[str, Any] = {
            "acks_uncommitted": len(transaction.settlements) if transaction else 0,
            "confirm": channel.confirming,
            "connection_details": self.connection_details(connection),
            "consumer_count": len(channel.consumers) + (channel.reply_consumer is not None),
            "garbage_collection": dict(IDLE_GC),
            "idle_since": iso_time(self._wall()),
            "messages_unacknowledged": len(channel.unacked),
            "messages_uncommitted": len(transaction.publishes) if transaction else 0,
            "messages_unconfirmed": 0,
            "name": f"{connection.network_name} ({number})",
            "node": NODE,
            "number": number,
            "pending_raft_commands": 0,
            "prefetch_count": channel.consumer_prefetch,
            "reductions": 0,
            "reductions_details": rate(),
            "state": "running",
            "transactional": transaction is not None,
            "user": connection.user,
            "user_who_performed_action": connection.user,
            "vhost": connection.vhost.name,
        }
        if version.channel_global_prefetch:
            item["global_prefetch_count"] = channel.global_prefetch
        if version.channel_cached_segments:
            item["cached_segments"] = 0
        return item

    def consumer(self, consumer: Consumer) -> dict[str, Any]:
        channel = consumer.channel
        connection = channel.connection
        item: dict[str, Any] = {
            "ack_required": not consumer.no_ack,
            "active": True,
            "activity_status": "up",
            "arguments": plain(consumer.arguments),
            "channel_details": {
                "connection_name": connection.network_name,
                "name": f"{connection.network_name} ({channel.number})",
                "node": NODE,
                "number": channel.number,
                "peer_host": connection.peer_host,
                "peer_port": connection.peer_port,
                "user": connection.user,
            },
            "consumer_tag": consumer.tag,
            "exclusive": consumer.exclusive,
            "prefetch_count": consumer.prefetch,
            "queue": {"name": consumer.queue.name, "vhost": consumer.queue.vhost_name},
        }
        queue = consumer.queue
        if queue.single_active and queue.consumers and queue.consumers[0] is not consumer:
            item["active"] = False
            item["activity_status"] = "waiting"
        if queue.is_stream and not self.version.stream_consumers_active:
            item["active"] = False  # 3.10 and 4.0 call a stream's consumers inactive (measured)
        if self.version.consumer_timeout_field:
            timeout = self.broker.consumer_timeout
            item["consumer_timeout"] = timeout if timeout is not None else "undefined"
        return item

    # --- vhosts -------------------------------------------------------------------------------

    def vhost(self, vhost: VHost) -> dict[str, Any]:
        version = self.version
        ready = sum(queue.message_counts[0] for queue in vhost.queues.values())
        unacked = sum(queue.message_counts[1] for queue in vhost.queues.values())
        description, tags, queue_type = vhost.description, list(vhost.tags), vhost.default_queue_type
        metadata: dict[str, Any] = {"description": description, "tags": tags}
        shown_type = queue_type or version.vhost_default_queue_type or "classic"
        if version.vhost_default_queue_type is None or queue_type is not None:
            metadata["default_queue_type"] = shown_type
        key = ("vhost", vhost.name)
        item: dict[str, Any] = {
            "cluster_state": {NODE: "running"},
            "default_queue_type": shown_type,
            "description": description,
            "messages": ready + unacked,
            "messages_details": self._rate((*key, "messages")),
            "messages_ready": ready,
            "messages_ready_details": self._rate((*key, "messages_ready")),
            "messages_unacknowledged": unacked,
            "messages_unacknowledged_details": self._rate((*key, "messages_unacknowledged")),
            "metadata": dict(sorted(metadata.items())),
            "name": vhost.name,
            "recv_oct": 0,
            "recv_oct_details": rate(),
            "send_oct": 0,
            "send_oct_details": rate(),
            "tags": tags,
            "tracing": vhost.tracing,
        }
        if version.vhost_protection:
            item["protected_from_deletion"] = False
        return item

    def _wall(self) -> float:
        clock = self.broker.wall_clock or self.broker.clock
        return clock()


#: what classic queues show and quorum queues do not (measured on 3.10, 4.0, 4.3)
CLASSIC_ONLY = (
    "exclusive_consumer_tag",
    "head_message_timestamp",
    "idle_since",
    "messages_paged_out",
    "message_bytes_paged_out",
    "messages_ready_ram",
    "messages_unacknowledged_ram",
    "storage_version",
    "recoverable_slaves",
)

#: quorum queue fields that differ between versions, by name
QUORUM: dict[str, Callable[[Queue], Any]] = {
    # 3.10 names its single active consumer so in quorum queues, and has no `_tag`
    "single_active_consumer_ctag": lambda queue: (
        queue.consumers[0].tag if queue.single_active and queue.consumers else None
    ),
    "delivery_limit": lambda queue: queue.delivery_limit if queue.delivery_limit is not None else "unlimited",
    # 4.0's two priorities: 5 and above are high
    "messages_ready_high": lambda queue: sum(
        1 for e in queue.ready if (e.message.properties.priority or 0) > 4
    ),
    "messages_ready_normal": lambda queue: sum(
        1 for e in queue.ready if (e.message.properties.priority or 0) <= 4
    ),
    "messages_ready_returned": lambda queue: sum(1 for e in queue.ready if e.redelivered),
    "publishers": lambda queue: 0,
    "delayed_retry": lambda queue: "disabled",
    "messages_active_priorities": lambda queue: len(
        {e.message.properties.priority or 0 for e in queue.ready}
    ),
    "messages_by_priority": lambda queue: {},
    "messages_delayed": lambda queue: 0,
}


#: what classic and quorum queues show and streams do not
STREAM_WITHOUT = (
    "consumer_capacity",
    "consumer_utilisation",
    "message_bytes",
    "message_bytes_persistent",
    "message_bytes_ram",
    "message_bytes_ready",
    "message_bytes_unacknowledged",
    "messages_persistent",
    "messages_ram",
    "single_active_consumer_tag",
)

#: stream fields that differ between versions, by name
STREAM: dict[str, Callable[[Stream], Any]] = {
    "leader": lambda stream: NODE,
    "segments": lambda stream: len(stream.ready.segments),
    # 0 until a retention run moved the start (measured on 4.3.6)
    "first_timestamp": lambda stream: (
        stream.ready.records[0].timestamp if stream.ready.first and stream.ready.records else 0
    ),
}


def _is_standard(exchange: Exchange) -> bool:
    return exchange.name == "" or exchange.name.startswith("amq.")


def _head_timestamp(queue: Queue) -> int | None:
    if not queue.ready:
        return None
    head = next(iter(queue.ready))
    stamp = getattr(head.message.properties, "timestamp", None)
    if isinstance(stamp, datetime.datetime):
        return int(stamp.timestamp())
    return stamp if isinstance(stamp, int) else None
