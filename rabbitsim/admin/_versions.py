"""Where RabbitMQ's management API differs between the versions the simulator imitates: which
fields a reply carries and a few texts. Measured on 3.10.8, 4.0.5 and 4.3.6 (same state, same
requests); the broker's profile name picks the row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiVersion:
    name: str
    #: the reason of the 401 for a wrong user name or password
    login_failed: str
    #: whoami says `is_internal_user`
    whoami_internal: bool
    #: a vhost shows `protected_from_deletion`
    vhost_protection: bool
    #: a vhost without a default queue type shows this (3.10: "undefined", not in its metadata)
    vhost_default_queue_type: str | None
    #: a consumer shows `consumer_timeout` (ms)
    consumer_timeout_field: bool
    #: queues show `internal` and `internal_owner`
    queue_internal: bool
    #: classic queues show `storage_version`
    queue_storage_version: bool
    #: queues show `messages_paged_out` and `message_bytes_paged_out`
    queue_paged_out: bool
    #: the queue list carries the detail fields too (3.10), and unset policies as null
    queue_list_full: bool
    #: connections show `peer_cert_serial_number`
    peer_cert_serial: bool
    #: channels show `global_prefetch_count` (3.10) / `cached_segments` (4.3)
    channel_global_prefetch: bool
    channel_cached_segments: bool
    #: one vhost's definitions carry its metadata (4.x), parameters and policies name no vhost
    vhost_definitions_metadata: bool
    #: definitions: queues carry `type` (4.3); exchanges carry `internal` (before 4.3)
    definitions_queue_type: bool
    definitions_exchange_internal: bool
    #: a user made without a password shows an empty hash (4.3) rather than a random one
    passwordless_hash_empty: bool
    #: policy validation texts come HTML-escaped (`&lt;&lt;`) before 4.3
    escapes_validation: bool
    #: overview fields this version does not have
    overview_without: frozenset[str] = frozenset()
    #: the overview's `release_series_support_status` (3.10 only)
    support_status: str | None = None
    #: (status, error, reason) answers: a vhost-scoped path the user has no permissions in;
    #: a publish to a missing exchange; a get from a missing queue ({name}, {vhost} filled in)
    vhost_refused: tuple[int, str, str] = (404, "not_found", "Not Found")
    publish_missing_exchange: tuple[int, str, str] = (404, "not_found", "exchange_not_found")
    get_missing_queue: tuple[int, str, str] = (404, "not_found", "queue_not_found")
    #: a policy PUT in a vhost the user has no permissions in
    policy_vhost_refused: tuple[int, str, str] = (
        401,
        "not_authorised",
        "User not authorised to access object",
    )
    #: the aliveness test leaves its queue `aliveness-test` behind (before 4.3)
    aliveness_keeps_queue: bool = True
    #: /api/health/checks/ready-to-serve-clients exists (4.3)
    ready_to_serve_check: bool = False
    #: what a quorum queue shows beyond the fields every queue type shares (`_views.QUORUM`)
    quorum_fields: tuple[str, ...] = ()
    #: what a stream shows beyond the fields every type shares (`_views.STREAM`)
    stream_fields: tuple[str, ...] = ()
    stream_consumers_active: bool = False
    #: the whole broker's definitions: 4.x say they are a cluster's (`rabbitmq_definition_format`,
    #: `original_cluster_name`, `explanation`); which fields a vhost has there; which global
    #: parameters are listed
    definitions_of_cluster: bool = True
    definitions_vhost_keys: tuple[str, ...] = ("limits", "metadata", "name")
    global_parameters: tuple[str, ...] = ("cluster_tags",)


API_VERSIONS: dict[str, ApiVersion] = {
    version.name: version
    for version in (
        ApiVersion(
            name="3.10",
            login_failed="Login failed",
            whoami_internal=False,
            vhost_protection=False,
            vhost_default_queue_type="undefined",
            consumer_timeout_field=False,
            queue_internal=False,
            queue_storage_version=False,
            queue_paged_out=True,
            queue_list_full=True,
            peer_cert_serial=False,
            channel_global_prefetch=True,
            channel_cached_segments=False,
            vhost_definitions_metadata=False,
            definitions_queue_type=False,
            definitions_exchange_internal=True,
            passwordless_hash_empty=False,
            escapes_validation=True,
            support_status="supported",
            vhost_refused=(401, "not_authorised", "User not authorised to access virtual host"),
            publish_missing_exchange=(
                400,
                "bad_request",
                "404 NOT_FOUND - no exchange '{name}' in vhost '{vhost}'",
            ),
            get_missing_queue=(404, "not_found", "NOT_FOUND - no queue '{name}' in vhost '{vhost}'"),
            quorum_fields=("single_active_consumer_ctag",),
            definitions_of_cluster=False,
            definitions_vhost_keys=("name",),
            global_parameters=("internal_cluster_id",),
            overview_without=frozenset(
                {
                    "cluster_tags",
                    "crypto_lib_version",
                    "default_queue_type",
                    "is_op_policy_updating_enabled",
                    "node_tags",
                    "require_definition_json_extension",
                }
            ),
        ),
        ApiVersion(
            name="4.0",
            login_failed="Not_Authorized",
            whoami_internal=True,
            vhost_protection=False,
            vhost_default_queue_type=None,
            consumer_timeout_field=True,
            queue_internal=False,
            queue_storage_version=True,
            queue_paged_out=True,
            queue_list_full=False,
            peer_cert_serial=False,
            channel_global_prefetch=False,
            channel_cached_segments=False,
            vhost_definitions_metadata=True,
            definitions_queue_type=False,
            definitions_exchange_internal=True,
            passwordless_hash_empty=False,
            escapes_validation=True,
            overview_without=frozenset({"crypto_lib_version", "require_definition_json_extension"}),
            vhost_refused=(401, "not_authorised", "User not authorised to access virtual host"),
            definitions_vhost_keys=("name", "description", "metadata", "tags", "default_queue_type"),
            global_parameters=("cluster_tags", "internal_cluster_id"),
            quorum_fields=(
                "delivery_limit",
                "messages_ready_high",
                "messages_ready_normal",
                "messages_ready_returned",
                "publishers",
            ),
            stream_fields=("leader", "segments"),
        ),
        ApiVersion(
            name="4.3",
            login_failed="Not_Authorized",
            whoami_internal=True,
            vhost_protection=True,
            vhost_default_queue_type=None,
            consumer_timeout_field=True,
            queue_internal=True,
            queue_storage_version=True,
            queue_paged_out=False,
            queue_list_full=False,
            peer_cert_serial=True,
            channel_global_prefetch=False,
            channel_cached_segments=True,
            vhost_definitions_metadata=True,
            definitions_queue_type=True,
            definitions_exchange_internal=False,
            passwordless_hash_empty=True,
            aliveness_keeps_queue=False,
            ready_to_serve_check=True,
            policy_vhost_refused=(404, "not_found", "Not Found"),
            quorum_fields=(
                "delayed_retry",
                "delivery_limit",
                "messages_active_priorities",
                "messages_by_priority",
                "messages_delayed",
                "messages_ready_returned",
                "publishers",
            ),
            stream_fields=("first_timestamp", "leader", "segments"),
            stream_consumers_active=True,
            escapes_validation=False,
        ),
    )
}
