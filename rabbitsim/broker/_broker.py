"""The broker: vhosts, users, connections, and the things shared by all of them
(message ids, generated names, the clock, timers, and the one output road)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import EventKind, Node, TraceEvent

from ._access import Permission, TopicPermission, User
from ._administration import Administration
from ._alarms import Alarms
from ._connection import Connection
from ._consumer_timeout import DEFAULT_CONSUMER_TIMEOUT, DEFAULT_TICK_INTERVAL, ChannelTicks
from ._direct_reply import ReplyRegistry
from ._durability import Intent
from ._errors import ACCESS_REFUSED, CONNECTION_FORCED, NOT_ALLOWED, ConnectionError
from ._message import Message, PropertiesLike
from ._output import Output
from ._profile import DEFAULT_PROFILE, PROFILES, VersionProfile
from ._vhost import VHost

if TYPE_CHECKING:
    from ._queue import Queue

Clock = Callable[[], float]
#: RabbitMQ's default `loopback_users`: who may log in over loopback only
LOOPBACK_USERS = ("guest",)


def _no_time() -> float:
    return 0.0


class Broker(Administration):
    """The sans-IO core. Pass a clock (seconds as float) when time matters; the default
    stands still, which keeps tests deterministic. `wall_clock` (seconds since the epoch)
    dates dead letters (`x-death` times); without one they are dated by `clock`.

    Time-based work (message expiry, unused-queue expiry) waits in `timers`; it runs, in
    order, when a client's next method arrives or when the host calls `run_due` (the server
    does at `next_due`), so the outcome is as if every timer fired on time."""

    def __init__(
        self,
        *,
        clock: Clock = _no_time,
        profile: str | VersionProfile = DEFAULT_PROFILE,
        wall_clock: Clock | None = None,
        consumer_timeout: int | None = DEFAULT_CONSUMER_TIMEOUT,
        channel_tick_interval: int = DEFAULT_TICK_INTERVAL,
    ) -> None:
        self.clock = clock
        #: RabbitMQ's `consumer_timeout` and `channel_tick_interval` (ms; None: no timeout). Set
        #: them at any time, as `application:set_env` does: a channel takes the timeout when it
        #: opens, the interval at each tick (`_consumer_timeout`).
        self.consumer_timeout = consumer_timeout
        self.channel_tick_interval = channel_tick_interval
        self.channel_ticks = ChannelTicks()
        self.wall_clock = wall_clock
        self.timers: list[tuple[float, int, Queue]] = []  # a heap: (due, sequence, queue)
        self._timer_seq = 0
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.vhosts: dict[str, VHost] = {}
        self.users: dict[str, User] = {}
        self.permissions: dict[tuple[str, str], Permission] = {}
        self.topic_permissions: dict[tuple[str, str, str], TopicPermission] = {}
        self._salts = 0
        self.connections: dict[str, Connection] = {}
        self.output: list[Output] = []  # the road: see `take_output`
        self.tracing = False  # set by whoever drains the road and wants events on it
        self.keeping = False  # set by a store before it loads: then what a restart keeps goes on the road
        self._message_ids = 0
        self._connection_ids = 0
        self._names = 0
        self.reply_keys = ReplyRegistry()
        self.alarms = Alarms(self)  # memory and disk: see `_alarms`
        self._event_seq = 0
        # what a fresh RabbitMQ has: the vhost "/" and the user guest, who may do anything in it
        self.add_vhost("/").description = self.profile.default_vhost_description
        self.add_user("guest", "guest", tags=("administrator",))
        self.set_permissions("guest", "/", ".*", ".*", ".*")

    # --- administration (the rest is `_administration`'s) --------------------------------------

    def add_vhost(self, name: str) -> VHost:
        """The vhost `name`, created if new (`rabbitmqctl add_vhost`)."""
        vhost = self.vhosts.get(name)
        if vhost is None:
            vhost = self.vhosts[name] = VHost(name, self)
            self._settings_changed()
        return vhost

    def authenticate(
        self, username: str, password: str, *, from_loopback: bool = True, to_loopback: bool = True
    ) -> User:
        """Check a login as RabbitMQ does; `guest` (the one user RabbitMQ's default
        `loopback_users` names) is refused from anywhere but loopback: from a peer on loopback
        (4.3), or (3.10, 4.0) over a socket whose own address is loopback. The client is told no
        more than for a wrong password."""
        user = self.users.get(username)
        loopback = from_loopback if self.profile.loopback_by_peer else to_loopback
        if user is None or not user.check_password(password) or (username in LOOPBACK_USERS and not loopback):
            raise ConnectionError(
                ACCESS_REFUSED,
                "Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
            )
        return user

    # --- connections ---------------------------------------------------------------------------

    def connect(self, vhost: str = "/", user: str = "guest", *, name: str | None = None) -> Connection:
        """An opened connection (after connection.open). Authentication is `authenticate`'s job."""
        found = self.vhosts.get(vhost)
        if found is None:
            raise ConnectionError(NOT_ALLOWED, f"vhost {vhost} not found", "connection.open")
        self.check_connection_limits(found, user)
        self._connection_ids += 1
        connection = Connection(self, found, user, name or f"connection-{self._connection_ids}")
        self.connections[connection.name] = connection
        if self.tracing:
            self.emit(EventKind.CONNECTION_OPENED, vhost, connection.node, user=user)
        return connection

    def keep(self, intent: Intent) -> None:
        """Put what a store must write or forget on the road (`_durability`)."""
        self.output.append((None, 0, intent))

    def shutdown(self) -> ConnectionError:
        """What every open connection is told when the broker stops cleanly (`rabbitmqctl stop`)."""
        return ConnectionError(CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'")

    def take_output(self) -> list[Output]:
        """Everything the calls since the last take produced, in order (see `_output`)."""
        output, self.output = self.output, []
        return output

    # --- shared counters -------------------------------------------------------------------------

    def new_message(
        self, exchange: str, routing_key: str, properties: PropertiesLike, body: bytes
    ) -> Message:
        self._message_ids += 1
        return Message(self._message_ids, exchange, routing_key, properties, body)

    def generate_name(self, prefix: str) -> str:
        """`amq.gen-` / `amq.ctag-` + 22 url-safe characters, as RabbitMQ makes them; derived
        from a counter so that runs repeat."""
        self._names += 1
        digest = hashlib.blake2b(self._names.to_bytes(8, "big"), digest_size=16).digest()
        return f"{prefix}-{base64.urlsafe_b64encode(digest).decode()[:22]}"

    # --- time ---------------------------------------------------------------------------------

    def wall_time(self) -> datetime.datetime:
        """Now, to the second, as AMQP timestamps carry it."""
        seconds = (self.wall_clock or self.clock)()
        return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)

    def schedule(self, when: float, queue: Queue) -> None:
        """Wake `queue` at `when`. A queue keeps only its earliest wake-up (`timer_at`);
        later entries left in the heap are skipped when they come up."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (when, self._timer_seq, queue))
        queue.timer_at = when

    def next_due(self) -> float | None:
        """When `run_due` next has something to do (on `clock`), or None."""
        timers = self.timers
        due = None
        while timers:
            when, _seq, queue = timers[0]
            if queue.timer_at == when and not queue.deleted:
                due = when
                break
            heapq.heappop(timers)  # superseded, or the queue is gone
        tick = self.channel_ticks.next_due() if self.channel_ticks.heap else None
        return tick if tick is not None and (due is None or tick < due) else due

    def run_due(self) -> None:
        """Everything whose time has come: expired messages leave their queues' heads,
        unused queues with `x-expires` are deleted, channels tick (consumer timeout)."""
        self.run_timers()
        if self.channel_ticks.heap:
            self.channel_ticks.run_due(self.clock())

    def run_timers(self) -> None:
        """The queues' timers that have come due: what a method runs first (`amqp_method`), so
        that it sees the queues as they are now. Channels' ticks wait for the host's `run_due`:
        a tick may close a channel, which must not happen under a method running on it."""
        timers = self.timers
        if not timers:
            return
        now = self.clock()
        while timers and timers[0][0] <= now:
            when, _seq, queue = heapq.heappop(timers)
            if queue.timer_at == when and not queue.deleted:
                queue.timer_at = None
                queue.wake(now)

    # --- tracing -------------------------------------------------------------------------------

    def emit(
        self,
        kind: EventKind,
        vhost: str,
        source: Node | None = None,
        target: Node | None = None,
        message: int | None = None,
        routing_key: str | None = None,
        **detail: Any,
    ) -> None:
        """Put an event on the road. Callers test `tracing` first, so that events cost nothing
        while nobody records."""
        self._event_seq += 1
        event = TraceEvent(
            self._event_seq, self.clock(), kind, vhost, source, target, message, routing_key, detail
        )
        self.output.append((None, 0, event))
