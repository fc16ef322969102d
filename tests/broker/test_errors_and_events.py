"""AMQP errors (which class, what text, which method to blame, what they close) and trace events."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pamqp import commands

from rabbitsim.broker import (
    AMQPError,
    Broker,
    Channel,
    ChannelError,
    Connection,
    ConnectionError,
    ConsumerCancelled,
    EventKind,
    Node,
    NodeKind,
    Properties,
    TraceEvent,
)
from tests.broker.conftest import FakeClock, deliveries


def ids(command: type) -> tuple[int, int]:
    """(class id, method id) of a pamqp command, from its frame index."""
    index: int = command.index  # type: ignore[attr-defined]
    return index >> 16, index & 0xFFFF


def drain(broker: Broker, queue: str = "q") -> list[tuple[str, bool]]:
    reader = broker.connect().open_channel(1)
    found = []
    while (got := reader.basic_get(queue, no_ack=True)) is not None:
        found.append((got.message.body.decode(), got.redelivered))
    return found


# --- which error, what text, which method ------------------------------------------------------


def _unknown_ack(channel: Channel) -> None:
    channel.basic_ack(99)


def _redeclare_durable(channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_declare("q", durable=True)


def _redeclare_type(channel: Channel) -> None:
    channel.exchange_declare("x", "direct")
    channel.exchange_declare("x", "fanout")


def _tx_on_confirm(channel: Channel) -> None:
    channel.confirm_select()
    channel.tx_select()


def _confirm_on_tx(channel: Channel) -> None:
    channel.tx_select()
    channel.confirm_select()


SOFT_ERRORS = [
    pytest.param(
        lambda channel: channel.queue_declare("missing", passive=True),
        commands.Queue.Declare,
        404,
        "NOT_FOUND - no queue 'missing' in vhost '/'",
        id="queue.declare-passive",
    ),
    pytest.param(
        _redeclare_durable,
        commands.Queue.Declare,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': "
        "received 'true' but current is 'false'",
        id="queue.declare-inequivalent",
    ),
    pytest.param(
        _redeclare_type,
        commands.Exchange.Declare,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': "
        "received 'fanout' but current is 'direct'",
        id="exchange.declare-inequivalent",
    ),
    pytest.param(
        lambda channel: channel.basic_publish("missing", "k", b""),
        commands.Basic.Publish,
        404,
        "NOT_FOUND - no exchange 'missing' in vhost '/'",
        id="basic.publish-missing-exchange",
    ),
    pytest.param(
        lambda channel: channel.basic_publish("", "k", b"", Properties(user_id="bob")),
        commands.Basic.Publish,
        406,
        "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'",
        id="basic.publish-user-id",
    ),
    pytest.param(
        _unknown_ack,
        commands.Basic.Ack,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 99",
        id="basic.ack",
    ),
    pytest.param(
        lambda channel: channel.basic_nack(5),
        commands.Basic.Nack,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 5",
        id="basic.nack",
    ),
    pytest.param(
        lambda channel: channel.basic_reject(5),
        commands.Basic.Reject,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 5",
        id="basic.reject",
    ),
    pytest.param(
        lambda channel: channel.basic_get("missing"),
        commands.Basic.Get,
        404,
        "NOT_FOUND - no queue 'missing' in vhost '/'",
        id="basic.get",
    ),
    pytest.param(
        lambda channel: channel.basic_consume("missing"),
        commands.Basic.Consume,
        404,
        "NOT_FOUND - no queue 'missing' in vhost '/'",
        id="basic.consume",
    ),
    pytest.param(
        lambda channel: channel.queue_bind("missing", "amq.direct", "k"),
        commands.Queue.Bind,
        404,
        "NOT_FOUND - no queue 'missing' in vhost '/'",
        id="queue.bind",
    ),
    pytest.param(
        lambda channel: channel.exchange_delete("amq.direct"),
        commands.Exchange.Delete,
        403,
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
        id="exchange.delete",
    ),
    pytest.param(
        lambda channel: channel.tx_commit(),
        commands.Tx.Commit,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
        id="tx.commit",
    ),
    pytest.param(
        _tx_on_confirm,
        commands.Tx.Select,
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
        id="tx.select",
    ),
    pytest.param(
        _confirm_on_tx,
        commands.Confirm.Select,
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
        id="confirm.select",
    ),
]


@pytest.mark.parametrize(("trigger", "command", "code", "text"), SOFT_ERRORS)
def test_soft_errors_close_only_the_channel(
    broker: Broker,
    connection: Connection,
    channel: Channel,
    trigger: Callable[[Channel], object],
    command: type,
    code: int,
    text: str,
) -> None:
    other = connection.open_channel(2)
    with pytest.raises(AMQPError) as caught:
        trigger(channel)
    error = caught.value
    assert type(error) is ChannelError
    assert error.closes == "channel"
    assert (error.reply_code, error.reply_text, str(error)) == (code, text, text)
    assert (error.class_id, error.method_id) == ids(command)
    assert not channel.is_open
    assert connection.is_open
    assert connection.channels == {2: other}
    other.queue_declare("still-works")  # the connection goes on


HARD_ERRORS = [
    pytest.param(
        lambda channel: channel.basic_publish("", "q", b"", immediate=True),
        commands.Basic.Publish,
        540,
        "NOT_IMPLEMENTED - immediate=true",
        id="basic.publish-immediate",
    ),
    pytest.param(
        lambda channel: channel.channel_flow(False),
        commands.Channel.Flow,
        540,
        "NOT_IMPLEMENTED - active=false",
        id="channel.flow",
    ),
    pytest.param(
        lambda channel: channel.basic_recover(requeue=False),
        commands.Basic.Recover,
        540,
        "NOT_IMPLEMENTED - requeue=false",
        id="basic.recover",
    ),
    pytest.param(
        lambda channel: channel.basic_qos(1, prefetch_size=4096),
        commands.Basic.Qos,
        540,
        "NOT_IMPLEMENTED - prefetch_size!=0 (4096)",
        id="basic.qos",
    ),
    pytest.param(
        lambda channel: channel.connection.open_channel(channel.number),
        commands.Channel.Open,
        504,
        "CHANNEL_ERROR - second 'channel.open' seen",
        id="channel.open-twice",
    ),
]


@pytest.mark.parametrize(("trigger", "command", "code", "text"), HARD_ERRORS)
def test_hard_errors_close_the_connection(
    broker: Broker,
    connection: Connection,
    channel: Channel,
    trigger: Callable[[Channel], object],
    command: type,
    code: int,
    text: str,
) -> None:
    bystander = broker.connect()
    channel.queue_declare("q")
    with pytest.raises(AMQPError) as caught:
        trigger(channel)
    error = caught.value
    assert type(error) is ConnectionError
    assert error.closes == "connection"
    assert (error.reply_code, error.reply_text) == (code, text)
    assert (error.class_id, error.method_id) == ids(command)
    assert not connection.is_open
    assert not channel.is_open
    assert connection.close_reason is error
    assert connection.name not in broker.connections
    assert bystander.is_open
    assert drain(broker) == []  # the immediate message was not published either


def test_reply_text_is_cut_to_255_bytes(channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.queue_declare("é" * 120, passive=True)  # 240 bytes of name, cut inside a character
    text = caught.value.reply_text
    assert text.startswith("NOT_FOUND - no queue 'éé")
    assert 250 <= len(text.encode()) <= 255


def test_connection_error_closes_every_channel_requeues_and_deletes_exclusive_queues(
    broker: Broker, events: list[TraceEvent]
) -> None:
    owner = broker.connect()
    first, second = owner.open_channel(1), owner.open_channel(2)
    first.queue_declare("q")
    first.queue_declare("mine", exclusive=True)
    for body in (b"m1", b"m2", b"m3"):
        first.basic_publish("", "q", body)
    assert first.basic_get("q") is not None
    second.basic_consume("q", "c")  # takes m2 and m3
    with pytest.raises(ConnectionError) as caught:
        second.channel_flow(False)
    assert not owner.is_open
    assert owner.channels == {}
    assert not first.is_open
    assert "mine" not in broker.vhosts["/"].queues
    assert drain(broker) == [("m1", True), ("m2", True), ("m3", True)]
    closed = [
        event for event in events if event.kind is EventKind.CONNECTION_CLOSED and event.source == owner.node
    ]
    assert [(event.detail["reply_code"], event.detail["reply_text"]) for event in closed] == [
        (540, caught.value.reply_text)
    ]
    with pytest.raises(ConnectionError):
        owner.open_channel(3)


def test_method_on_an_unopened_channel_is_504(broker: Broker, connection: Connection) -> None:
    with pytest.raises(ConnectionError) as caught:
        connection.channel(5)
    assert caught.value.reply_code == 504
    assert not connection.is_open
    assert connection.name not in broker.connections


def test_method_on_an_unopened_channel_has_rabbitmqs_text(connection: Connection) -> None:
    """Measured on RabbitMQ 3.10 (queue.declare on channel 5): the text names no channel."""
    with pytest.raises(ConnectionError) as caught:
        connection.channel(5)
    assert caught.value.reply_text == "CHANNEL_ERROR - expected 'channel.open'"


def test_connecting_to_a_missing_vhost_is_530(broker: Broker) -> None:
    with pytest.raises(ConnectionError) as caught:
        broker.connect("nope")
    error = caught.value
    assert (error.reply_code, error.reply_text) == (530, "NOT_ALLOWED - vhost nope not found")
    assert (error.class_id, error.method_id) == ids(commands.Connection.Open)
    assert broker.connections == {}
    broker.add_vhost("nope")
    with pytest.raises(ConnectionError) as caught:
        broker.connect("nope")  # a new vhost: nobody may use it yet
    assert caught.value.reply_text == "NOT_ALLOWED - access to vhost 'nope' refused for user 'guest'"
    broker.set_permissions("guest", "nope", ".*", ".*", ".*")
    assert broker.connect("nope").vhost.name == "nope"


@pytest.mark.parametrize(("username", "password"), [("guest", "wrong"), ("nobody", "guest")])
def test_login_failure_is_403(broker: Broker, username: str, password: str) -> None:
    with pytest.raises(ConnectionError) as caught:
        broker.authenticate(username, password)
    assert caught.value.reply_code == 403
    assert caught.value.reply_text == (
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
        "For details see the broker logfile."
    )
    assert broker.authenticate("guest", "guest").name == "guest"


def test_matching_user_id_is_accepted(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"signed", Properties(user_id="guest"))
    assert drain(broker) == [("signed", False)]


def test_flow_on_is_accepted(channel: Channel) -> None:
    assert channel.channel_flow(True) is True
    assert channel.is_open


# --- events ------------------------------------------------------------------------------------


def test_message_flow_events_in_order(
    broker: Broker, clock: FakeClock, events: list[TraceEvent], connection: Connection, channel: Channel
) -> None:
    channel.exchange_declare("x", "direct")
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    channel.basic_consume("q", "c")
    events.clear()
    clock.now = 5.0
    channel.basic_publish("x", "k", b"hello")
    [(_, _, delivered)] = deliveries(broker)
    clock.now = 7.5
    channel.basic_ack(delivered.delivery_tag)

    name = connection.name
    publisher = Node(NodeKind.PUBLISHER, f"{name}#1", name, 1)
    exchange, queue = Node(NodeKind.EXCHANGE, "x"), Node(NodeKind.QUEUE, "q")
    consumer = Node(NodeKind.CONSUMER, "c", name, 1)
    assert [(event.kind, event.source, event.target, event.time) for event in events] == [
        (EventKind.PUBLISH, publisher, exchange, 5.0),
        (EventKind.ROUTE, exchange, queue, 5.0),
        (EventKind.ENQUEUE, queue, None, 5.0),
        (EventKind.DELIVER, queue, consumer, 5.0),
        (EventKind.ACK, queue, consumer, 7.5),
    ]
    assert {event.message for event in events} == {delivered.message.id}
    assert {event.vhost for event in events} == {"/"}
    assert events[0].routing_key == "k"
    seqs = [event.seq for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_fanout_copies_share_one_message_id(
    broker: Broker, events: list[TraceEvent], channel: Channel
) -> None:
    channel.exchange_declare("fan", "fanout")
    for name in ("a", "b", "c"):
        channel.queue_declare(name)
        channel.queue_bind(name, "fan")
    events.clear()
    channel.basic_publish("fan", "", b"one")
    channel.basic_publish("fan", "", b"two")
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    for half in (first, second):
        assert [event.kind for event in half] == [EventKind.PUBLISH] + [EventKind.ROUTE] * 3 + [
            EventKind.ENQUEUE
        ] * 3
        assert len({event.message for event in half}) == 1
        routed = {event.target for event in half if event.kind is EventKind.ROUTE}
        assert routed == {Node(NodeKind.QUEUE, name) for name in "abc"}
    assert first[0].message != second[0].message
    assert [got.message.id for got in (channel.basic_get("a"), channel.basic_get("b"))] == [
        first[0].message
    ] * 2


def test_topology_and_lifecycle_events(broker: Broker, events: list[TraceEvent]) -> None:
    connection = broker.connect(name="app")
    channel = connection.open_channel(1)
    channel.exchange_declare("x", "direct")
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    channel.basic_consume("q", "c")
    channel.basic_cancel("c")
    channel.queue_unbind("q", "x", "k")
    channel.queue_delete("q")
    channel.exchange_delete("x")
    channel.close()
    connection.close()

    app, chan = Node(NodeKind.CONNECTION, "app", "app"), Node(NodeKind.CHANNEL, "app#1", "app", 1)
    exchange, queue = Node(NodeKind.EXCHANGE, "x"), Node(NodeKind.QUEUE, "q")
    consumer = Node(NodeKind.CONSUMER, "c", "app", 1)
    assert [(event.kind, event.source, event.target) for event in events] == [
        (EventKind.CONNECTION_OPENED, app, None),
        (EventKind.CHANNEL_OPENED, chan, None),
        (EventKind.DECLARE, exchange, None),
        (EventKind.DECLARE, queue, None),
        (EventKind.BIND, exchange, queue),
        (EventKind.CONSUMER_ADDED, queue, consumer),
        (EventKind.CONSUMER_CANCELLED, queue, consumer),
        (EventKind.UNBIND, exchange, queue),
        (EventKind.DELETE, queue, None),
        (EventKind.DELETE, exchange, None),
        (EventKind.CHANNEL_CLOSED, chan, None),
        (EventKind.CONNECTION_CLOSED, app, None),
    ]
    assert events[4].routing_key == events[7].routing_key == "k"
    assert events[2].detail["type"] == "direct"
    assert events[-2].detail["reply_code"] == events[-1].detail["reply_code"] == 200


def test_queue_deleted_under_a_consumer_cancels_it(
    broker: Broker, events: list[TraceEvent], connection: Connection, channel: Channel
) -> None:
    channel.queue_declare("q")
    channel.basic_consume("q", "c")
    broker.connect().open_channel(1).queue_delete("q")
    assert deliveries(broker) == [(connection.name, 1, ConsumerCancelled("c"))]
    cancelled = [event for event in events if event.kind is EventKind.CONSUMER_CANCELLED]
    assert [(event.target, event.detail["by_broker"]) for event in cancelled] == [
        (Node(NodeKind.CONSUMER, "c", connection.name, 1), True)
    ]
    assert channel.is_open


def test_no_events_are_built_while_nobody_listens(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    monkeypatch.setattr(broker, "emit", lambda *args, **kwargs: built.append(args))
    assert not broker.tracing
    connection = broker.connect()
    channel = connection.open_channel(1)
    channel.exchange_declare("fan", "fanout")
    channel.queue_declare("q")
    channel.queue_bind("q", "fan")
    channel.basic_consume("q", "c")
    channel.confirm_select()
    for _ in range(3):
        channel.basic_publish("fan", "", b"x")
    channel.basic_publish("", "nowhere", b"x", mandatory=True)
    channel.basic_ack(1)
    channel.basic_nack(2, requeue=False)
    channel.basic_reject(3)
    channel.queue_unbind("q", "fan")
    connection.close()
    assert built == []
