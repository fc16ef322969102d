"""Consumer timeout: a delivery left unacknowledged too long closes its channel, as RabbitMQ's
`consumer_timeout` does in 3.10 and 4.0 (measured on 3.10.8 and 4.0.5, and what 4.3.6 does
instead: tests/broker/CONSUMER_TIMEOUT.md; the 4.3 profile closes no channel).

RabbitMQ does not time each delivery. Every channel has a tick (`channel_tick_interval`, 60 s by
default), first armed when the channel opens and again after each tick; a tick looks at the
channel's *oldest* unacked delivery only (consumer deliveries and basic.get alike; no-ack ones are
never pending) and closes the channel with 406 when it was delivered more than the timeout ago.
So a 1 s timeout fires at the first tick after 1 s: up to a minute late. Closing the channel
requeues all its unacked messages, in order, redelivered; the connection stays open.

The timeout is the broker's `consumer_timeout` as it was when the channel opened (changing it later
affects only channels opened afterwards) or, where the version has it, the queue's
`x-consumer-timeout` argument or a `consumer-timeout` policy (the lower of the two). An idle
channel with nothing unacked hibernates and stops its tick; its next activity arms it again a
whole interval later.

Cost: the ticks live in a heap of their own, which the per-method guard never looks at, and a
delivery that needs an ack reads the clock and, at most once per `resolution`, records
`(delivery tag, time)`; no timer per message.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import PRECONDITION_FAILED, ChannelError
from ._output import ChannelClosed

if TYPE_CHECKING:
    from ._broker import Broker
    from ._channel_base import ChannelBase
    from ._profile import VersionProfile
    from ._queue import Queue

#: RabbitMQ's defaults (`rabbit` application environment), the same in 3.10.8, 4.0.5 and 4.3.6.
DEFAULT_CONSUMER_TIMEOUT = 1_800_000  # ms: 30 minutes
DEFAULT_TICK_INTERVAL = 60_000  # ms
#: A channel idle this long with nothing unacked has hibernated (gen_server2's first backoff):
#: its first tick is then an interval after it wakes, not on the grid counted from its opening.
HIBERNATE_AFTER = 1.0  # s
#: Deliveries closer together than this share one recorded time (a fraction of the tick).
MARKS_PER_TICK = 1000

ARGUMENT = "x-consumer-timeout"


def timed_out_text(channel: int, timeout: int) -> str:
    return (
        f"delivery acknowledgement on channel {channel} timed out. Timeout value used: {timeout} ms. "
        "This timeout value can be configured, see consumers doc guide to learn more"
    )


class ChannelTicks:
    """Every channel's next tick, in a heap of (due, sequence, channel). A channel keeps only its
    earliest (`tick_at`); entries it no longer holds, or of closed channels, are skipped."""

    __slots__ = ("heap", "seq")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, ChannelBase]] = []
        self.seq = 0

    def arm(self, channel: ChannelBase, when: float) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, channel))
        channel.tick_at = when

    def next_due(self) -> float | None:
        heap = self.heap
        while heap:
            when, _seq, channel = heap[0]
            if channel.tick_at == when and channel.is_open:
                return when
            heapq.heappop(heap)
        return None

    def run_due(self, now: float) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            when, _seq, channel = heapq.heappop(heap)
            if channel.tick_at == when and channel.is_open:
                channel.tick_at = None
                tick(channel, now)


def interval(broker: Broker) -> float:
    """The tick interval in seconds; read at every arming, as RabbitMQ reads its setting."""
    return broker.channel_tick_interval / 1000


def opened(channel: ChannelBase) -> None:
    """A new channel: it takes the broker's timeout as it is now, and starts unticked."""
    channel.opened_at = channel.broker.clock()
    channel.consumer_timeout = channel.broker.consumer_timeout
    channel.tick_at = None
    channel.ack_marks = deque()
    # a version that closes no channel for it never records a delivery, so never ticks
    channel.mark_until = 0.0 if channel.broker.profile.channel_consumer_timeout else math.inf


def note_delivery(channel: ChannelBase, tag: int, now: float) -> None:
    """Record when delivery `tag` (which needs an ack) went out, and arm the tick if it is not.
    Called only when `now` has passed `channel.mark_until`, so rarely within a burst."""
    broker = channel.broker
    period = interval(broker)
    channel.ack_marks.append((tag, now))
    channel.mark_until = now + period / MARKS_PER_TICK
    if channel.tick_at is None:
        since_open = now - channel.opened_at
        if since_open < HIBERNATE_AFTER:  # the tick armed at channel.open is still running
            when = channel.opened_at + period * max(1, -(-since_open // period))
        else:  # woken from hibernation: the tick starts again now
            when = now + period
        broker.channel_ticks.arm(channel, when)


def delivered_at(channel: ChannelBase, tag: int) -> float:
    """When delivery `tag` went out (to within a mark's resolution, never later than it did);
    marks of deliveries older than `tag` are dropped on the way, as they are settled."""
    marks = channel.ack_marks
    while len(marks) > 1 and marks[1][0] <= tag:
        marks.popleft()
    return marks[0][1] if marks else channel.broker.clock()


def check_consumer_timeout_argument(
    profile: VersionProfile, what: str, arguments: Mapping[str, Any], queue_type: object
) -> None:
    """4.3 refuses `x-consumer-timeout` for a classic queue (measured: declare and consume)."""
    classic = queue_type in (None, "classic", b"classic")
    if profile.refuses_classic_consumer_timeout and ARGUMENT in arguments and classic:
        refused = f"invalid arg '{ARGUMENT}' for {what} of queue type rabbit_classic_queue"
        raise ChannelError(PRECONDITION_FAILED, refused)


def timeout_for(channel: ChannelBase, queue: Queue) -> int | None:
    """The timeout (ms) for a delivery from `queue`: where the version reads one, the lower of its
    `x-consumer-timeout` and a policy's `consumer-timeout`; else the broker-wide value the channel
    took when it opened (None: no timeout)."""
    if channel.broker.profile.queue_consumer_timeout:
        value = queue.arguments.get(ARGUMENT)
        found = [value] if type(value) is int and value >= 0 else []
        if (
            queue.policy is not None
            and type(policy := queue.policy.definition.get("consumer-timeout")) is int
        ):
            found.append(policy)
        if found:
            return min(found)
    return channel.consumer_timeout


def tick(channel: ChannelBase, now: float) -> None:
    """RabbitMQ's channel tick: close the channel if its oldest unacked delivery has waited longer
    than its timeout; otherwise tick again an interval later, or (nothing unacked) hibernate."""
    unacked = channel.unacked
    if not unacked:
        channel.ack_marks.clear()
        channel.mark_until = 0.0  # the next delivery is recorded and arms the tick
        return
    tag, _entry, queue, _consumer = next(iter(unacked.values()))
    timeout = timeout_for(channel, queue)
    if timeout is not None and delivered_at(channel, tag) < now - timeout / 1000:
        error = ChannelError(PRECONDITION_FAILED, timed_out_text(channel.number, timeout))
        channel.broker.output.append((channel.connection, channel.number, ChannelClosed(error)))
        channel.shut_down(error)
        return
    channel.broker.channel_ticks.arm(channel, now + interval(channel.broker))
