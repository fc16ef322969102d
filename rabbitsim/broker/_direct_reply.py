"""Direct reply-to (`amq.rabbitmq.reply-to`): RPC replies that skip queues altogether.

A client consumes from the pseudo-queue `amq.rabbitmq.reply-to` (no_ack only) and publishes
requests with `reply_to="amq.rabbitmq.reply-to"`; the broker rewrites that to a key naming
the consuming channel, and a reply published to the default exchange with that key goes
straight to the channel's reply consumer. Behaviour measured on RabbitMQ 3.10.8 and 4.0.5:

- the reply is delivered with the channel's next delivery tag, which is not used up, and is
  never acked (it is not in any queue);
- a mandatory reply is returned (312 NO_ROUTE) even when delivered: the key is not a queue;
- only the default exchange reaches a reply consumer; a key whose channel is gone drops the reply.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._channel_base import ChannelBase

from rabbitsim.vocabulary import REPLY_KEY_PREFIX

NEEDS_ACK = "reply consumer cannot acknowledge"
ALREADY_SET = "reply consumer already set"
NO_CONSUMER = "fast reply consumer does not exist"


class ReplyRegistry:
    """The broker's live reply keys, each naming the channel whose reply consumer receives."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelBase] = {}
        self._issued = 0

    def register(self, channel: ChannelBase) -> str:
        """A new key for `channel`; deterministic (a counter), opaque like RabbitMQ's."""
        self._issued += 1
        digest = hashlib.blake2b(b"reply-to" + self._issued.to_bytes(8, "big"), digest_size=16).digest()
        key = REPLY_KEY_PREFIX + base64.b64encode(digest).decode()
        self.channels[key] = channel
        return key

    def forget(self, key: str) -> None:
        self.channels.pop(key, None)
