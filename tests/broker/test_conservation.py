"""Random sequences of publish / consume / get / ack / nack / reject / cancel / close, checking
after every step that no routed copy is ever lost or duplicated.

Every copy a queue receives (an ENQUEUE event) must at all times be in exactly one place:
ready in its queue, unacked on a channel, or gone by a documented rule (acked, delivered to a
no-ack consumer, rejected without requeue, purged, or dropped with its deleted queue).
"""

from __future__ import annotations

import contextlib
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rabbitsim.broker import (
    AMQPError,
    Broker,
    Channel,
    Connection,
    Consumer,
    Entry,
    EventKind,
    NodeKind,
    Queue,
    TraceEvent,
)
from tests.broker.conftest import drain_events, live_copies

QUEUES = ("q0", "q1")
ROUTES = (("fan", ""), ("", "q0"), ("", "q1"), ("direct", "k"), ("", "nowhere"))
CONNECTIONS = 2
CHANNELS = (1, 2)

#: Ways a copy leaves the broker for good, by the event that says so.
GONE_BY_DROP = {"rejected", "purged", "queue-deleted", "deleted-queue"}


class Conservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.broker = Broker()
        self.enqueued: Counter[tuple[str, int]] = Counter()
        self.gone: Counter[tuple[str, int]] = Counter()
        self.delivered: set[tuple[str, int]] = set()
        self.broker.tracing = True  # the books come from events
        self.connections: list[Connection] = [self.broker.connect() for _ in range(CONNECTIONS)]
        setup = self.connections[0].open_channel(9)
        setup.exchange_declare("fan", "fanout")
        setup.exchange_declare("direct", "direct")
        for queue in QUEUES:
            setup.queue_declare(queue)
            setup.queue_bind(queue, "fan")
        setup.queue_bind("q0", "direct", "k")
        setup.close()
        for connection in self.connections:
            for number in CHANNELS:
                self.watched(connection.open_channel(number))

    # --- helpers -------------------------------------------------------------------------------

    def account(self, event: TraceEvent) -> None:
        """Keep the books from the broker's own events, as they happen."""
        source = event.source
        if source is None or source.kind != NodeKind.QUEUE or event.message is None:
            return
        copy = (source.name, event.message)
        if event.kind == EventKind.ENQUEUE:
            self.enqueued[copy] += 1
        elif event.kind == EventKind.ACK or (
            event.kind == EventKind.DROP and event.detail.get("reason") in GONE_BY_DROP
        ):
            self.gone[copy] += 1
        elif event.kind == EventKind.DELIVER:
            self.delivered.add(copy)
            if event.detail.get("no_ack"):
                self.gone[copy] += 1

    @staticmethod
    def check_limits_at_delivery(channel: Channel, consumer: Consumer) -> None:
        """Prefetch limits bind when a message is handed out (lowering one later is legal).
        Checked inside the delivery itself: events come off the output road only after the
        whole call, when the channel may be gone (a connection's close redelivers to its other
        channels before it closes them)."""
        if consumer.no_ack:
            return  # nothing to ack, nothing counted against a limit
        assert not consumer.prefetch or consumer.unacked <= consumer.prefetch
        assert not channel.global_prefetch or channel.consumer_unacked <= channel.global_prefetch

    def watched(self, channel: Channel) -> Channel:
        """`channel`, its deliveries checked against the prefetch limits as they happen."""
        deliver = channel.deliver

        def checked(consumer: Consumer, queue: Queue, entry: Entry) -> None:
            deliver(consumer, queue, entry)
            self.check_limits_at_delivery(channel, consumer)

        channel.deliver = checked  # type: ignore[method-assign]
        return channel

    def channel(self, connection: int, number: int) -> Channel:
        """The channel, reopened (with its connection) if an earlier step closed it."""
        if not self.connections[connection].is_open:
            self.connections[connection] = self.broker.connect()
        conn = self.connections[connection]
        channel = conn.channels.get(number)
        if channel is None:
            channel = self.watched(conn.open_channel(number))
        return channel

    def attempt(self, action: object) -> None:
        # the core has already closed what an error closes; conservation must hold anyway
        with contextlib.suppress(AMQPError):
            action()  # type: ignore[operator]
        drain_events(self.broker, self.account)  # as a wire adapter drains the core after each call

    # --- rules ---------------------------------------------------------------------------------

    @rule(
        route=st.sampled_from(ROUTES),
        connection=st.integers(0, CONNECTIONS - 1),
        number=st.sampled_from(CHANNELS),
        mandatory=st.booleans(),
        count=st.integers(1, 4),
    )
    def publish(
        self, route: tuple[str, str], connection: int, number: int, mandatory: bool, count: int
    ) -> None:
        channel = self.channel(connection, number)
        for _ in range(count):
            self.attempt(lambda: channel.basic_publish(route[0], route[1], b"m", mandatory=mandatory))

    @rule(
        queue=st.sampled_from(QUEUES),
        connection=st.integers(0, CONNECTIONS - 1),
        number=st.sampled_from(CHANNELS),
        no_ack=st.booleans(),
        prefetch=st.integers(0, 3),
        global_qos=st.booleans(),
    )
    def consume(
        self, queue: str, connection: int, number: int, no_ack: bool, prefetch: int, global_qos: bool
    ) -> None:
        channel = self.channel(connection, number)
        self.attempt(lambda: channel.basic_qos(prefetch, global_qos=global_qos))
        channel = self.channel(connection, number)
        self.attempt(lambda: channel.basic_consume(queue, no_ack=no_ack))

    @rule(connection=st.integers(0, CONNECTIONS - 1), number=st.sampled_from(CHANNELS), data=st.data())
    def cancel(self, connection: int, number: int, data: st.DataObject) -> None:
        channel = self.channel(connection, number)
        if channel.consumers:
            tag = data.draw(st.sampled_from(sorted(channel.consumers)))
            self.attempt(lambda: channel.basic_cancel(tag))

    @rule(
        queue=st.sampled_from(QUEUES),
        connection=st.integers(0, CONNECTIONS - 1),
        number=st.sampled_from(CHANNELS),
        no_ack=st.booleans(),
    )
    def get(self, queue: str, connection: int, number: int, no_ack: bool) -> None:
        channel = self.channel(connection, number)
        self.attempt(lambda: channel.basic_get(queue, no_ack=no_ack))

    @rule(
        connection=st.integers(0, CONNECTIONS - 1),
        number=st.sampled_from(CHANNELS),
        how=st.sampled_from(["ack", "nack", "reject"]),
        requeue=st.booleans(),
        multiple=st.booleans(),
        data=st.data(),
    )
    def settle(
        self, connection: int, number: int, how: str, requeue: bool, multiple: bool, data: st.DataObject
    ) -> None:
        channel = self.channel(connection, number)
        tags = sorted(channel.unacked)
        tag = data.draw(st.sampled_from(tags)) if tags else data.draw(st.integers(0, 3))
        action = {
            "ack": lambda: channel.basic_ack(tag, multiple),
            "nack": lambda: channel.basic_nack(tag, multiple, requeue),
            "reject": lambda: channel.basic_reject(tag, requeue),
        }[how]
        self.attempt(action)

    @rule(
        connection=st.integers(0, CONNECTIONS - 1), number=st.sampled_from(CHANNELS), tag=st.integers(1, 50)
    )
    def settle_unknown_tag(self, connection: int, number: int, tag: int) -> None:
        """A wrong tag closes the channel with 406; what it held must come back."""
        channel = self.channel(connection, number)
        if tag not in channel.unacked:
            self.attempt(lambda: channel.basic_ack(tag))

    @rule(connection=st.integers(0, CONNECTIONS - 1), number=st.sampled_from(CHANNELS))
    def recover(self, connection: int, number: int) -> None:
        channel = self.channel(connection, number)
        self.attempt(lambda: channel.basic_recover(requeue=True))

    @rule(connection=st.integers(0, CONNECTIONS - 1), number=st.sampled_from(CHANNELS))
    def close_channel(self, connection: int, number: int) -> None:
        self.attempt(self.channel(connection, number).close)

    @rule(connection=st.integers(0, CONNECTIONS - 1))
    def close_connection(self, connection: int) -> None:
        self.channel(connection, 1)
        self.attempt(self.connections[connection].close)

    @rule(queue=st.sampled_from(QUEUES), connection=st.integers(0, CONNECTIONS - 1))
    def purge(self, queue: str, connection: int) -> None:
        channel = self.channel(connection, 1)
        self.attempt(lambda: channel.queue_purge(queue))

    @precondition(lambda self: "q1" in self.broker.vhosts["/"].queues)
    @rule(connection=st.integers(0, CONNECTIONS - 1))
    def delete_and_redeclare(self, connection: int) -> None:
        channel = self.channel(connection, 1)
        self.attempt(lambda: channel.queue_delete("q1"))
        channel = self.channel(connection, 1)
        self.attempt(lambda: channel.queue_declare("q1"))
        channel = self.channel(connection, 1)
        self.attempt(lambda: channel.queue_bind("q1", "fan"))

    # --- what must always hold -----------------------------------------------------------------

    def live_copies(self) -> Counter[tuple[str, int]]:
        return live_copies(self.broker)

    @invariant()
    def every_copy_is_in_exactly_one_place(self) -> None:
        live = self.live_copies()
        assert all(count == 1 for count in live.values()), f"duplicated: {live - Counter(set(live))}"
        assert live + self.gone == self.enqueued, (
            f"lost: {self.enqueued - live - self.gone}, extra: {live + self.gone - self.enqueued}"
        )

    @invariant()
    def counters_agree(self) -> None:
        unacked_by_queue: Counter[int] = Counter()
        for connection in self.broker.connections.values():
            for channel in connection.channels.values():
                by_consumer: Counter[str] = Counter()
                for _tag, _entry, queue, consumer in channel.unacked.values():
                    unacked_by_queue[id(queue)] += 1
                    if consumer is not None:
                        by_consumer[consumer.tag] += 1
                assert channel.consumer_unacked == sum(by_consumer.values())
                for consumer in channel.consumers.values():
                    assert consumer.unacked == by_consumer[consumer.tag]
        for queue in self.broker.vhosts["/"].queues.values():
            assert queue.unacked == unacked_by_queue[id(queue)]

    @invariant()
    def ready_messages_keep_their_order_and_flags(self) -> None:
        for queue in self.broker.vhosts["/"].queues.values():
            seqs = [entry.seq for entry in queue.ready]
            assert seqs == sorted(seqs), f"{queue.name} out of order: {seqs}"
            for entry in queue.ready:
                if (queue.name, entry.message.id) in self.delivered:
                    assert entry.redelivered, "a requeued copy must be marked redelivered"

    @invariant()
    def no_consumer_waits_while_it_could_take_a_message(self) -> None:
        for queue in self.broker.vhosts["/"].queues.values():
            if queue.ready:
                assert not any(consumer.has_room() for consumer in queue.consumers), queue


Conservation.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestConservation = Conservation.TestCase
