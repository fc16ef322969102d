"""A consumer: one basic.consume subscription, and whether its prefetch leaves it room."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import Node, NodeKind

if TYPE_CHECKING:
    from ._channel_base import ChannelBase
    from ._queue import Queue


class Consumer:
    """A basic.consume subscription: one channel reading one queue."""

    __slots__ = (
        "arguments",
        "channel",
        "exclusive",
        "no_ack",
        "node",
        "prefetch",
        "priority",
        "queue",
        "tag",
        "unacked",
    )

    def __init__(
        self,
        tag: str,
        channel: ChannelBase,
        queue: Queue,
        *,
        no_ack: bool,
        exclusive: bool,
        prefetch: int,
        arguments: Mapping[str, Any],
    ) -> None:
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.arguments = dict(arguments)
        priority = arguments.get("x-priority", 0)
        self.priority = priority if isinstance(priority, int) and not isinstance(priority, bool) else 0
        self.unacked = 0
        self.node = Node(NodeKind.CONSUMER, tag, channel.connection.name, channel.number)

    def has_room(self) -> bool:
        """Can this consumer take one more message, under its own and its channel's prefetch?"""
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        channel = self.channel
        return not channel.global_prefetch or channel.consumer_unacked < channel.global_prefetch
