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


PROFILES = {
    "4.0": VersionProfile(
        "4.0", unknown_exchange_type=(ChannelError, PRECONDITION_FAILED), records_queue_type=True
    ),
    "3.10": VersionProfile(
        "3.10", unknown_exchange_type=(ConnectionError, COMMAND_INVALID), records_queue_type=False
    ),
}

DEFAULT_PROFILE = PROFILES["4.0"]
