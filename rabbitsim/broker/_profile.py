"""Where RabbitMQ versions disagree, the simulator follows one named profile."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import COMMAND_INVALID, PRECONDITION_FAILED, AMQPError, ChannelError, ConnectionError


@dataclass(frozen=True, slots=True)
class VersionProfile:
    name: str
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


PROFILES = {
    "4.0": VersionProfile(
        "4.0",
        unknown_exchange_type=(ChannelError, PRECONDITION_FAILED),
        records_queue_type=True,
        quorum_default_delivery_limit=20,
        quorum_requeue_to_back=False,
        quorum_count_from_first_delivery=False,
        refuses_unknown_delivery_mode=False,
        death_history_in_headers=False,
        x_death_keys=("original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys"),
        least_max_priority=1,
    ),
    "3.10": VersionProfile(
        "3.10",
        unknown_exchange_type=(ConnectionError, COMMAND_INVALID),
        records_queue_type=False,
        quorum_default_delivery_limit=None,
        quorum_requeue_to_back=True,
        quorum_count_from_first_delivery=True,
        refuses_unknown_delivery_mode=True,
        death_history_in_headers=True,
        x_death_keys=("count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"),
        least_max_priority=0,
    ),
}

DEFAULT_PROFILE = PROFILES["4.0"]
