"""Where RabbitMQ versions disagree, the simulator follows one named profile."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._arguments import (
    STREAM_COMPARED_ARGUMENTS,
    STREAM_COMPARED_ARGUMENTS_4_3,
    STREAM_REFUSED_ARGUMENTS_4_0,
    STREAM_REFUSED_ARGUMENTS_4_3,
    STREAM_REFUSED_CONSUMER_ARGUMENTS_3_10,
    STREAM_REFUSED_CONSUMER_ARGUMENTS_4_0,
    STREAM_REFUSED_CONSUMER_ARGUMENTS_4_3,
)
from ._errors import COMMAND_INVALID, PRECONDITION_FAILED, AMQPError, ChannelError, ConnectionError
from ._policies import (
    APPLY_TO_3_10,
    APPLY_TO_4_0,
    DEPRECATED_4_3,
    KEYS_3_10,
    KEYS_4_0,
    KEYS_4_3,
    OPERATOR_KEYS_3_10,
    OPERATOR_KEYS_4_0,
)


@dataclass(frozen=True, slots=True)
class VersionProfile:
    name: str
    #: the release the profile was measured on, which the simulator reports as its version
    rabbitmq_version: str
    #: How an unknown exchange type is refused: 3.x closes the connection (503),
    #: 4.x closes only the channel (406).
    unknown_exchange_type: tuple[type[AMQPError], int]
    #: 4.x records the queue type it chose as an `x-queue-type` argument, which the management
    #: API then shows; 3.x keeps the arguments as declared.
    records_queue_type: bool
    #: Quorum queues: the delivery limit when `x-delivery-limit` is not given (4.x: 20, 3.x: none),
    #: whether a returned message goes to the back (3.x) or back to its place (4.x), and whether
    #: `x-delivery-count` is sent from the first delivery (3.x: 0) or only once above 0 (4.x).
    quorum_default_delivery_limit: int | None
    quorum_requeue_to_back: bool
    quorum_count_from_first_delivery: bool
    #: 3.x refuses a delivery_mode other than 1 or 2 (406); 4.x relays any value.
    refuses_unknown_delivery_mode: bool
    #: Dead-lettering: 3.x continues the `x-death` list a message carries in its headers (even
    #: one a client wrote or republished) and adds only `x-first-death-*` headers; 4.x keeps the
    #: history inside the broker (a republished message starts afresh, client `x-death` headers
    #: are replaced) and adds `x-last-death-*` too.
    death_history_in_headers: bool
    #: The keys of a new `x-death` entry, in the order RabbitMQ writes them.
    x_death_keys: tuple[str, ...]
    #: `x-max-priority: 0` gives 3.x one level (plain FIFO), 4.x two (0, and 1 and above).
    least_max_priority: int
    #: 4.3 refuses a topic binding whose key has more than this many `#` words (406, on
    #: queue.bind and exchange.bind alike); earlier versions set no limit (None).
    topic_max_hash_words: int | None = None
    #: `basic.qos` with `global=true` limits the channel as a whole (3.x, 4.0); 4.3 denies the
    #: deprecated feature `global_qos` by default and applies such a limit per consumer instead.
    global_qos: bool = True
    #: The largest body basic.publish takes (`max_message_size`; 3.x 128 MiB, 4.x 16 MiB); one
    #: byte more is 406 "message size N is larger than configured max size M".
    max_message_size: int = 16 * 1024 * 1024
    #: 4.3 (its Khepri metadata store) keeps non-durable exchanges, and the bindings to and from
    #: them, across a restart; 3.10 and 4.0 lose them (docs/restarts.md).
    restart_keeps_transient_exchanges: bool = False
    #: 4.3's quorum queues count every return in `x-acquired-count`, and a basic.nack(requeue)
    #: only there: it no longer counts in `x-delivery-count`, nor toward the delivery limit.
    quorum_acquired_count: bool = False
    #: Consumer timeout: 3.10 and 4.0 close the channel of a delivery left unacked too long (on the
    #: channel's tick); 4.0 also reads a queue's `x-consumer-timeout` argument (the lower of it and
    #: a `consumer-timeout` policy wins), 3.10 ignores both. 4.3 closes no channel (classic queues:
    #: nothing seen; it refuses the argument with 406 'invalid arg'), and a quorum queue cancels
    #: the consumer (basic.cancel) and returns its messages, which the simulator does not do yet.
    queue_consumer_timeout: bool = False
    channel_consumer_timeout: bool = True
    #: 4.3 refuses `x-consumer-timeout` on a classic queue, in queue.declare and basic.consume
    #: arguments alike (406 "invalid arg ... of queue type rabbit_classic_queue").
    refuses_classic_consumer_timeout: bool = False
    #: Resource alarms (`_alarms`): the default memory high watermark, a fraction of the total
    #: memory (3.x 0.4, 4.x 0.6), and the default disk free limit in bytes (50 MB in each).
    vm_memory_high_watermark: float = 0.6
    disk_free_limit: int = 50_000_000
    #: Policies: 3.10's quorum queues let a policy's `expires` win over the queue's argument;
    #: 4.x take the lower of the two, as for classic queues (`_policies`, from RabbitMQ's source).
    quorum_policy_expires_wins: bool = False
    #: Access control (tests/conformance/ACCESS_FACTS.md): 4.x's 403 texts name the permission
    #: ("write access to ..."), 3.10's do not ("access to ..."); 4.3 checks passive declares (any
    #: permission will do, refused as configure) where earlier versions check nothing; 3.10 and
    #: 4.0 let `guest` in when the socket's own address is loopback, 4.3 when the peer's is.
    access_text_names_permission: bool = True
    #: Policies: the keys a policy and an operator policy may set, and what `apply-to` may say
    policy_keys: frozenset[str] = KEYS_4_0
    operator_policy_keys: frozenset[str] = OPERATOR_KEYS_4_0
    policy_apply_to: tuple[str, ...] = APPLY_TO_4_0
    deprecated_policy_keys: frozenset[str] = frozenset()
    #: how an import of definitions reports what it refuses (`_definitions`): "3.10", "4.0", "4.3"
    definitions_style: str = "4.0"
    #: the description the vhost "/" starts with (4.3 gives it none)
    default_vhost_description: str = "Default virtual host"
    #: regular-expression errors in PCRE2's words (4.3, Erlang/OTP 28) or PCRE's (`_access`)
    pcre2: bool = False
    passive_declare_checks_access: bool = False
    loopback_by_peer: bool = False
    #: how a user's channel limit is reported (4.0 names the node where the user belongs: a bug)
    channel_limit_text: str = (
        "number of channels opened for user '{user}' has reached the maximum allowed user limit of ({limit})"
    )

    #: Streams (`_stream`, tests/conformance/STREAM_FACTS.md): what a stream refuses by name
    #: (other queue types' arguments), the texts of the two consume refusals (3.10 quotes the
    #: resource, 4.x calls it a stream), the bytes RabbitMQ stores for a message beyond its
    #: exchange, routing key and body (4.x adds an AMQP 1.0 header section), whether a delivery
    #: gains `delivery_mode` 1 (4.x), and filtering (`x-stream-filter*`, 3.13 and later; 4.3 also
    #: validates `x-stream-filter-size-bytes` as an argument).
    stream_compared_arguments: tuple[str, ...] = STREAM_COMPARED_ARGUMENTS
    stream_refused_arguments: frozenset[str] = STREAM_REFUSED_ARGUMENTS_4_0
    stream_refused_consumer_arguments: frozenset[str] = STREAM_REFUSED_CONSUMER_ARGUMENTS_4_0
    stream_no_prefetch_text: str = "consumer prefetch count is not set for stream {}"
    stream_auto_ack_text: str = "automatic acknowledgement not supported by stream {}"
    stream_message_overhead: int = 53
    stream_sets_delivery_mode: bool = True
    #: 3.10 and 4.0 crash (541) on an `x-max-age` or interval that does not start with digits;
    #: 4.3 refuses it (406); 4.3 compares `x-max-age` on redeclare in milliseconds
    stream_age_crashes: bool = True
    stream_age_compared_in_ms: bool = False
    #: 4.0's text for a filter size out of range has two spaces (measured)
    stream_filter_size_text: str = "Invalid value for  x-stream-filter-size-bytes"
    #: 3.10 refuses basic.nack and basic.reject of a stream's deliveries (540) and crashes on
    #: basic.recover; 4.x take both as acks
    stream_refuses_nack: bool = False
    #: 3.10 silently drops what is dead-lettered into a stream; 4.x appends it
    stream_takes_dead_letters: bool = True
    stream_filtering: bool = True
    stream_filter_size_is_argument: bool = False


_V4_0 = VersionProfile(
    "4.0",
    "4.0.5",
    unknown_exchange_type=(ChannelError, PRECONDITION_FAILED),
    records_queue_type=True,
    quorum_default_delivery_limit=20,
    quorum_requeue_to_back=False,
    quorum_count_from_first_delivery=False,
    refuses_unknown_delivery_mode=False,
    death_history_in_headers=False,
    x_death_keys=("original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys"),
    least_max_priority=1,
    queue_consumer_timeout=True,
    channel_limit_text=(
        "number of channels opened for user '{node}' has reached the maximum allowed user limit of ({limit})"
    ),
)

PROFILES = {
    # 4.3 is 4.0 with what changed since (measured on 4.3.6)
    "4.3": dataclasses.replace(
        _V4_0,
        name="4.3",
        rabbitmq_version="4.3.6",
        queue_consumer_timeout=False,
        channel_consumer_timeout=False,
        refuses_classic_consumer_timeout=True,
        topic_max_hash_words=2,
        global_qos=False,
        restart_keeps_transient_exchanges=True,
        quorum_acquired_count=True,
        passive_declare_checks_access=True,
        pcre2=True,
        default_vhost_description="",
        definitions_style="4.3",
        policy_keys=KEYS_4_3,
        deprecated_policy_keys=DEPRECATED_4_3,
        loopback_by_peer=True,
        stream_refused_arguments=STREAM_REFUSED_ARGUMENTS_4_3,
        stream_compared_arguments=STREAM_COMPARED_ARGUMENTS_4_3,
        stream_refused_consumer_arguments=STREAM_REFUSED_CONSUMER_ARGUMENTS_4_3,
        stream_filter_size_is_argument=True,
        stream_age_crashes=False,
        stream_age_compared_in_ms=True,
        stream_filter_size_text="Invalid value for x-stream-filter-size-bytes",
        channel_limit_text=(
            "number of channels opened for user '{user}' has reached the maximum allowed user "
            "limit of {limit}"
        ),
    ),
    "4.0": _V4_0,
    "3.10": VersionProfile(
        "3.10",
        "3.10.8",
        unknown_exchange_type=(ConnectionError, COMMAND_INVALID),
        records_queue_type=False,
        quorum_default_delivery_limit=None,
        quorum_requeue_to_back=True,
        quorum_count_from_first_delivery=True,
        refuses_unknown_delivery_mode=True,
        death_history_in_headers=True,
        x_death_keys=("count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"),
        least_max_priority=0,
        max_message_size=128 * 1024 * 1024,
        vm_memory_high_watermark=0.4,
        quorum_policy_expires_wins=True,
        access_text_names_permission=False,
        definitions_style="3.10",
        policy_keys=KEYS_3_10,
        operator_policy_keys=OPERATOR_KEYS_3_10,
        policy_apply_to=APPLY_TO_3_10,
        stream_refused_consumer_arguments=STREAM_REFUSED_CONSUMER_ARGUMENTS_3_10,
        stream_no_prefetch_text="consumer prefetch count is not set for '{}'",
        stream_auto_ack_text="automatic acknowledgement not supported by stream queues {}",
        stream_filtering=False,
        stream_refuses_nack=True,
        stream_takes_dead_letters=False,
        stream_message_overhead=42,
        stream_sets_delivery_mode=False,
    ),
}

DEFAULT_PROFILE = PROFILES["4.3"]
