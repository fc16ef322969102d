"""Queues: declare and redeclare, arguments, server names, exclusive and auto-delete queues,
purge, delete, and the empty-name shortcut. Reply texts are RabbitMQ's, measured on 3.10.8 and 4.0.5."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from rabbitsim.broker import (
    AMQPError,
    Broker,
    Channel,
    ChannelError,
    Connection,
    ConsumerCancelled,
    DeclareOk,
    Deliver,
    EventKind,
    Queue,
    TraceEvent,
)
from rabbitsim.broker import ConnectionError as AMQPConnectionError
from tests.broker.conftest import deliveries

QUEUE_DECLARE = (50, 10)
QUEUE_BIND = (50, 20)
QUEUE_PURGE = (50, 30)
QUEUE_DELETE = (50, 40)
BASIC_CONSUME = (60, 20)
BASIC_GET = (60, 70)

LOCKED = (
    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q' in vhost '/'. "
    "It could be originally declared on another connection or the exclusive property value "
    "does not match that of the original declaration."
)


def raises(kind: type[AMQPError], call: Callable[..., Any], *args: Any, **kwargs: Any) -> AMQPError:
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    return caught.value


def failure(error: AMQPError) -> tuple[int, str, tuple[int, int]]:
    return error.reply_code, error.reply_text, (error.class_id, error.method_id)


def find(broker: Broker, name: str) -> Queue | None:
    return broker.vhosts["/"].queues.get(name)


def ready(broker: Broker, name: str) -> int:
    queue = find(broker, name)
    assert queue is not None, f"queue {name!r} is gone"
    return len(queue.ready)


def publish(channel: Channel, queue: str, *bodies: bytes) -> None:
    for body in bodies:
        channel.basic_publish("", queue, body)


def of_kind(events: list[TraceEvent], kind: EventKind) -> list[TraceEvent]:
    return [event for event in events if event.kind is kind]


# --- declare and redeclare ---------------------------------------------------------------------


def test_declare_creates_an_empty_queue_that_the_default_exchange_reaches(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    assert channel.queue_declare("q", durable=True) == DeclareOk("q", 0, 0)

    queue = find(broker, "q")
    assert queue is not None and queue.durable and not queue.exclusive and not queue.auto_delete
    [declared] = of_kind(events, EventKind.DECLARE)
    assert declared.source is not None and declared.source.name == "q"
    publish(channel, "q", b"m1")
    assert ready(broker, "q") == 1


def test_equivalent_redeclare_reports_ready_messages_and_consumers(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    channel.queue_declare("q")
    worker = connection.open_channel(2)
    worker.basic_qos(1)
    worker.basic_consume("q", "w")
    publish(channel, "q", b"m1", b"m2", b"m3")

    assert channel.queue_declare("q") == DeclareOk("q", 2, 1)  # the unacked one is not counted
    assert channel.queue_declare("q", passive=True) == DeclareOk("q", 2, 1)
    assert channel.is_open


@pytest.mark.parametrize(
    ("first", "second", "text"),
    [
        (
            {},
            {"durable": True},
            "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'",
        ),
        (
            {"durable": True},
            {},
            "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'",
        ),
        (
            {},
            {"auto_delete": True},
            "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': "
            "received 'true' but current is 'false'",
        ),
    ],
    ids=["durable-added", "durable-dropped", "auto_delete-added"],
)
def test_redeclare_with_different_flags_is_406(
    broker: Broker,
    connection: Connection,
    channel: Channel,
    first: dict[str, Any],
    second: dict[str, Any],
    text: str,
) -> None:
    channel.queue_declare("q", **first)

    error = raises(ChannelError, channel.queue_declare, "q", **second)

    assert failure(error) == (406, f"PRECONDITION_FAILED - {text}", QUEUE_DECLARE)
    assert not channel.is_open and connection.is_open
    queue = find(broker, "q")
    assert queue is not None and queue.durable == first.get("durable", False)


def test_unknown_arguments_are_not_compared(channel: Channel) -> None:
    channel.queue_declare("q", arguments={"x-foo": 1, "x-message-ttl": 1000})

    assert channel.queue_declare("q", arguments={"x-foo": "other", "x-message-ttl": 1000}).queue == "q"
    assert channel.queue_declare("q", arguments={"x-message-ttl": 1000, "x-bar": True}).queue == "q"
    assert channel.is_open


@pytest.mark.parametrize(
    ("first", "second", "complaint"),
    [
        pytest.param(
            {},
            {"x-max-length": 5},
            "'x-max-length' for queue 'q' in vhost '/': "
            "received the value '5' of type 'signedint' but current is none",
            id="added",
        ),
        pytest.param(
            {"x-message-ttl": 1000},
            {},
            "'x-message-ttl' for queue 'q' in vhost '/': "
            "received none but current is the value '1000' of type 'signedint'",
            id="omitted",
        ),
        pytest.param(
            # both present: RabbitMQ shows the bare values, without their types
            {"x-message-ttl": 1000},
            {"x-message-ttl": 2000},
            "'x-message-ttl' for queue 'q' in vhost '/': received '2000' but current is '1000'",
            id="changed",
        ),
    ],
)
def test_known_argument_added_omitted_or_changed_is_406(
    broker: Broker, channel: Channel, first: dict[str, Any], second: dict[str, Any], complaint: str
) -> None:
    channel.queue_declare("q", arguments=first)

    error = raises(ChannelError, channel.queue_declare, "q", arguments=second)

    assert failure(error) == (406, f"PRECONDITION_FAILED - inequivalent arg {complaint}", QUEUE_DECLARE)
    assert not channel.is_open
    queue = find(broker, "q")
    assert queue is not None and queue.arguments == first


def test_queue_type_classic_is_the_same_as_no_queue_type(connection: Connection) -> None:
    """A queue declared without a type is a classic one (4.0's wording; 3.10 says `current is none`)."""
    channel = connection.open_channel(1)
    channel.queue_declare("q1", durable=True)
    channel.queue_declare("q2", durable=True, arguments={"x-queue-type": "classic"})

    assert channel.queue_declare("q1", durable=True, arguments={"x-queue-type": "classic"}).queue == "q1"
    assert channel.queue_declare("q2", durable=True).queue == "q2"

    error = raises(
        ChannelError, channel.queue_declare, "q1", durable=True, arguments={"x-queue-type": "quorum"}
    )
    assert failure(error) == (
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q1' in vhost '/': "
        "received 'quorum' but current is 'classic'",
        QUEUE_DECLARE,
    )


INVALID_ARGUMENTS = [
    ("x-message-ttl", -1, "{value_negative,-1}"),
    ("x-expires", 0, "{value_zero,0}"),
    ("x-expires", -5, "{value_negative,-5}"),
    ("x-max-length", -1, "{value_negative,-1}"),
    ("x-max-length-bytes", -1, "{value_negative,-1}"),
    ("x-single-active-consumer", 1, "{unacceptable_type,signedint}"),
    ("x-message-ttl", "abc", '"expected integer, got longstr"'),
    ("x-overflow", "foo", "invalid_overflow"),
    ("x-max-priority", 256, "{max_value_exceeded,256}"),
    ("x-dead-letter-routing-key", "k", "routing_key_but_no_dlx_defined"),  # a key needs a DLX
]


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [pytest.param(*case, id=f"{case[0]}={case[1]}") for case in INVALID_ARGUMENTS],
)
def test_invalid_argument_values_are_406_and_create_nothing(
    broker: Broker, channel: Channel, key: str, value: object, reason: str
) -> None:
    error = raises(ChannelError, channel.queue_declare, "q", arguments={key: value})

    assert failure(error) == (
        406,
        f"PRECONDITION_FAILED - invalid arg '{key}' for queue 'q' in vhost '/': {reason}",
        QUEUE_DECLARE,
    )
    assert not channel.is_open
    assert find(broker, "q") is None


def test_passive_declare_of_a_missing_queue_is_404_and_creates_nothing(
    broker: Broker, connection: Connection, channel: Channel
) -> None:
    error = raises(ChannelError, channel.queue_declare, "q", passive=True)

    assert failure(error) == (404, "NOT_FOUND - no queue 'q' in vhost '/'", QUEUE_DECLARE)
    assert not channel.is_open and connection.is_open
    assert find(broker, "q") is None


def test_passive_declare_ignores_every_property(channel: Channel) -> None:
    channel.queue_declare("q", durable=True, arguments={"x-message-ttl": 1000})
    publish(channel, "q", b"m1")

    found = channel.queue_declare("q", passive=True, auto_delete=True, arguments={"x-max-length": 1})

    assert found == DeclareOk("q", 1, 0)
    assert channel.is_open


# --- names ---------------------------------------------------------------------------------------

SERVER_NAME = re.compile(r"amq\.gen-[A-Za-z0-9_-]{22}")


def test_server_named_queues_are_amq_gen_names(broker: Broker, channel: Channel) -> None:
    first = channel.queue_declare("", exclusive=True)
    second = channel.queue_declare("")

    assert SERVER_NAME.fullmatch(first.queue) and SERVER_NAME.fullmatch(second.queue)
    assert first.queue != second.queue
    assert first == DeclareOk(first.queue, 0, 0)
    assert find(broker, first.queue) is not None and find(broker, second.queue) is not None


def test_server_names_repeat_across_fresh_brokers() -> None:
    def names(broker: Broker) -> list[str]:
        channel = broker.connect().open_channel(1)
        return [channel.queue_declare("").queue for _ in range(3)]

    assert names(Broker()) == names(Broker())


def test_declaring_an_amq_name_is_403(broker: Broker, channel: Channel) -> None:
    error = raises(ChannelError, channel.queue_declare, "amq.foo")

    assert failure(error) == (
        403,
        "ACCESS_REFUSED - queue name 'amq.foo' contains reserved prefix 'amq.*'",
        QUEUE_DECLARE,
    )
    assert find(broker, "amq.foo") is None


def test_a_server_named_queue_can_be_found_passively_but_not_redeclared(connection: Connection) -> None:
    name = connection.open_channel(1).queue_declare("", exclusive=True).queue
    channel = connection.open_channel(2)

    assert channel.queue_declare(name, passive=True) == DeclareOk(name, 0, 0)
    error = raises(ChannelError, channel.queue_declare, name, exclusive=True)
    assert failure(error) == (
        403,
        f"ACCESS_REFUSED - queue name '{name}' contains reserved prefix 'amq.*'",
        QUEUE_DECLARE,
    )


# --- exclusive queues ----------------------------------------------------------------------------

FROM_ANOTHER_CONNECTION: dict[str, tuple[Callable[[Channel], object], tuple[int, int]]] = {
    "declare": (lambda ch: ch.queue_declare("q"), QUEUE_DECLARE),
    "declare-exclusive": (lambda ch: ch.queue_declare("q", exclusive=True), QUEUE_DECLARE),
    "declare-different": (lambda ch: ch.queue_declare("q", durable=True), QUEUE_DECLARE),
    "passive-declare": (lambda ch: ch.queue_declare("q", passive=True), QUEUE_DECLARE),
    "bind": (lambda ch: ch.queue_bind("q", "amq.direct", "k"), QUEUE_BIND),
    "consume": (lambda ch: ch.basic_consume("q", "c"), BASIC_CONSUME),
    "get": (lambda ch: ch.basic_get("q"), BASIC_GET),
    "purge": (lambda ch: ch.queue_purge("q"), QUEUE_PURGE),
    "delete": (lambda ch: ch.queue_delete("q"), QUEUE_DELETE),
    "delete-if-unused": (lambda ch: ch.queue_delete("q", if_unused=True), QUEUE_DELETE),
}


@pytest.mark.parametrize("operation", list(FROM_ANOTHER_CONNECTION))
def test_an_exclusive_queue_refuses_other_connections(
    broker: Broker, channel: Channel, operation: str
) -> None:
    """405 comes before any other check (the `declare-different` case would otherwise be 406)."""
    channel.queue_declare("q", exclusive=True)
    publish(channel, "q", b"m1")
    other = broker.connect()
    other_channel = other.open_channel(1)
    call, method = FROM_ANOTHER_CONNECTION[operation]

    error = raises(ChannelError, call, other_channel)

    assert failure(error) == (405, LOCKED, method)
    assert not other_channel.is_open and other.is_open
    queue = find(broker, "q")
    assert queue is not None and queue.owner is channel.connection and len(queue.ready) == 1
    assert not queue.incoming and not queue.consumers


def test_other_connections_may_publish_to_an_exclusive_queue(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q", exclusive=True)
    other_channel = broker.connect().open_channel(1)

    publish(other_channel, "q", b"from-elsewhere")

    assert other_channel.is_open
    got = channel.basic_get("q")
    assert got is not None and got.message.body == b"from-elsewhere"


def test_owner_redeclaring_without_exclusive_is_405(connection: Connection, channel: Channel) -> None:
    channel.queue_declare("q", exclusive=True)

    error = raises(ChannelError, channel.queue_declare, "q", exclusive=False)

    assert failure(error) == (405, LOCKED, QUEUE_DECLARE)
    assert not channel.is_open and connection.is_open


def test_exclusive_redeclare_of_a_shared_queue_is_405(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")

    error = raises(ChannelError, channel.queue_declare, "q", exclusive=True)

    assert failure(error) == (405, LOCKED, QUEUE_DECLARE)
    queue = find(broker, "q")
    assert queue is not None and not queue.exclusive


def test_the_owner_may_redeclare_its_exclusive_queue_on_any_channel(connection: Connection) -> None:
    connection.open_channel(1).queue_declare("q", exclusive=True)
    second = connection.open_channel(2)

    assert second.queue_declare("q", exclusive=True) == DeclareOk("q", 0, 0)
    assert second.queue_declare("q", passive=True) == DeclareOk("q", 0, 0)


def test_an_exclusive_durable_declare_makes_a_transient_queue(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.queue_declare("q", exclusive=True, durable=True)

    queue = find(broker, "q")
    assert queue is not None and not queue.durable
    assert of_kind(events, EventKind.DECLARE)[0].detail["durable"] is False
    # the same declare again is equivalent, and so is one without `durable`
    assert channel.queue_declare("q", exclusive=True, durable=True).queue == "q"
    assert channel.queue_declare("q", exclusive=True).queue == "q"


def test_an_exclusive_queue_outlives_its_channel_but_not_its_connection(
    broker: Broker, connection: Connection, events: list[TraceEvent]
) -> None:
    declaring = connection.open_channel(1)
    declaring.queue_declare("q", exclusive=True)
    declaring.close()
    assert find(broker, "q") is not None

    connection.close()

    assert find(broker, "q") is None
    [deleted] = of_kind(events, EventKind.DELETE)
    assert deleted.source is not None and deleted.source.name == "q"
    assert deleted.detail["reason"] == "exclusive-owner-closed"
    observer = broker.connect().open_channel(1)
    assert raises(ChannelError, observer.queue_declare, "q", passive=True).reply_code == 404


def test_a_connection_error_also_deletes_exclusive_queues(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q", exclusive=True)

    raises(AMQPConnectionError, channel.basic_qos, 0, prefetch_size=1)

    assert find(broker, "q") is None


# --- auto-delete queues --------------------------------------------------------------------------


@pytest.mark.parametrize("leave", ["cancel", "channel-close", "connection-close"])
def test_an_auto_delete_queue_goes_with_its_last_consumer(
    broker: Broker, connection: Connection, events: list[TraceEvent], leave: str
) -> None:
    channel = connection.open_channel(1)
    channel.queue_declare("q", auto_delete=True)
    channel.basic_consume("q", "a")
    consumer_channel = connection.open_channel(2)
    consumer_channel.basic_consume("q", "b")
    channel.basic_cancel("a")
    assert channel.queue_declare("q", passive=True) == DeclareOk("q", 0, 1)

    if leave == "cancel":
        consumer_channel.basic_cancel("b")
    elif leave == "channel-close":
        consumer_channel.close()
    else:
        connection.close()

    assert find(broker, "q") is None
    assert [event.detail["reason"] for event in of_kind(events, EventKind.DELETE)] == ["auto-delete"]


def test_an_auto_delete_queue_that_was_never_consumed_stays(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q", auto_delete=True)
    publish(channel, "q", b"m1", b"m2")

    got = channel.basic_get("q")
    assert got is not None
    channel.basic_ack(got.delivery_tag)
    channel.close()

    assert ready(broker, "q") == 1


# --- purge ---------------------------------------------------------------------------------------


def test_purge_returns_the_ready_count_and_leaves_unacked_messages(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.queue_declare("q")
    publish(channel, "q", b"m1", b"m2", b"m3")
    got = channel.basic_get("q")
    assert got is not None

    assert channel.queue_purge("q") == 2

    assert channel.queue_declare("q", passive=True) == DeclareOk("q", 0, 0)
    assert [event.detail["messages"] for event in of_kind(events, EventKind.PURGE)] == [2]
    channel.basic_reject(got.delivery_tag, requeue=True)  # the unacked one survived the purge
    again = channel.basic_get("q")
    assert again is not None and again.message.body == b"m1" and again.redelivered
    assert channel.queue_purge("q") == 0


# --- delete --------------------------------------------------------------------------------------


def test_delete_returns_the_ready_count(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    publish(channel, "q", b"m1", b"m2", b"m3")
    got = channel.basic_get("q")
    assert got is not None

    assert channel.queue_delete("q") == 2

    assert find(broker, "q") is None
    channel.basic_ack(got.delivery_tag)  # a delivery from a deleted queue can still be acked
    assert channel.is_open


def test_delete_if_unused_with_a_consumer_is_406(broker: Broker, connection: Connection) -> None:
    channel = connection.open_channel(1)
    channel.queue_declare("q")
    connection.open_channel(2).basic_consume("q", "c")

    error = raises(ChannelError, channel.queue_delete, "q", if_unused=True)

    assert failure(error) == (406, "PRECONDITION_FAILED - queue 'q' in vhost '/' in use", QUEUE_DELETE)
    assert not channel.is_open and connection.is_open
    assert find(broker, "q") is not None


def test_delete_if_empty_with_ready_messages_is_406(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    publish(channel, "q", b"m1")

    error = raises(ChannelError, channel.queue_delete, "q", if_empty=True)

    assert failure(error) == (406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty", QUEUE_DELETE)
    assert ready(broker, "q") == 1


def test_delete_if_empty_and_if_unused_succeed_on_an_unused_queue_with_only_unacked_messages(
    broker: Broker, channel: Channel
) -> None:
    channel.queue_declare("q")
    publish(channel, "q", b"m1")
    assert channel.basic_get("q") is not None

    assert channel.queue_delete("q", if_empty=True, if_unused=True) == 0
    assert find(broker, "q") is None


def test_delete_checks_if_empty_before_if_unused(connection: Connection) -> None:
    channel = connection.open_channel(1)
    channel.queue_declare("q")
    worker = connection.open_channel(2)
    worker.basic_qos(1)
    worker.basic_consume("q", "c")
    publish(channel, "q", b"m1", b"m2")  # one delivered, one ready: both conditions hold

    error = raises(ChannelError, channel.queue_delete, "q", if_unused=True, if_empty=True)

    assert error.reply_text == "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty"


def test_deleting_a_missing_queue_returns_zero(channel: Channel) -> None:
    assert channel.queue_delete("nowhere") == 0
    assert channel.queue_delete("nowhere", if_unused=True, if_empty=True) == 0
    assert channel.is_open


def test_deleting_a_consumed_queue_cancels_its_consumers(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.queue_declare("q")
    consumer_connection = broker.connect()
    consumer_channel = consumer_connection.open_channel(3)
    consumer_channel.basic_consume("q", "c")
    publish(channel, "q", b"m1")
    [(_, _, delivery)] = deliveries(broker)
    assert isinstance(delivery, Deliver)

    assert channel.queue_delete("q") == 0

    assert deliveries(broker) == [(consumer_connection.name, 3, ConsumerCancelled("c"))]
    assert consumer_channel.is_open and consumer_connection.is_open
    cancelled = of_kind(events, EventKind.CONSUMER_CANCELLED)
    assert [(event.target.name if event.target else None, event.detail) for event in cancelled] == [
        ("c", {"by_broker": True})
    ]
    consumer_channel.basic_ack(delivery.delivery_tag)  # still acknowledgeable
    consumer_channel.queue_declare("q2")
    assert consumer_channel.basic_consume("q2", "c") == "c"  # the tag is free again


def test_a_deleted_queue_takes_its_bindings_with_it(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_bind("q", "amq.direct", "k")
    channel.queue_bind("q", "amq.fanout")
    channel.queue_delete("q")

    channel.queue_declare("q")
    channel.basic_publish("amq.direct", "k", b"direct")
    channel.basic_publish("amq.fanout", "", b"fanout")

    assert ready(broker, "q") == 0
    exchanges = broker.vhosts["/"].exchanges
    assert not exchanges["amq.direct"].outgoing and not exchanges["amq.fanout"].outgoing


# --- the empty queue name: the channel's last declared queue -------------------------------------


def test_binding_the_empty_name_with_an_empty_key_binds_the_last_queue_by_its_name(
    broker: Broker, channel: Channel
) -> None:
    name = channel.queue_declare("").queue
    channel.queue_bind("", "amq.direct")

    channel.basic_publish("amq.direct", "", b"empty-key")
    channel.basic_publish("amq.direct", name, b"by-name")

    got = channel.basic_get(name)
    assert got is not None and got.message.body == b"by-name" and got.message_count == 0


def test_binding_the_empty_name_keeps_a_given_key(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_bind("", "amq.direct", "k")

    channel.basic_publish("amq.direct", "q", b"by-name")
    channel.basic_publish("amq.direct", "k", b"by-key")

    assert [entry.message.body for entry in broker.vhosts["/"].queues["q"].ready] == [b"by-key"]


def test_an_empty_key_with_a_named_queue_stays_empty(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_bind("q", "amq.direct")

    channel.basic_publish("amq.direct", "q", b"by-name")
    channel.basic_publish("amq.direct", "", b"empty-key")

    assert [entry.message.body for entry in broker.vhosts["/"].queues["q"].ready] == [b"empty-key"]


def test_get_consume_purge_and_delete_accept_the_empty_name(broker: Broker, connection: Connection) -> None:
    channel = connection.open_channel(1)
    channel.queue_declare("other")
    channel.queue_declare("q")
    publish(channel, "q", b"m1", b"m2", b"m3")

    got = channel.basic_get("")
    assert got is not None and got.routing_key == "q" and got.message_count == 2
    assert channel.queue_purge("") == 2
    publish(channel, "q", b"m4")
    assert channel.basic_consume("", "c") == "c"
    [(_, _, delivery)] = deliveries(broker)
    assert isinstance(delivery, Deliver) and delivery.routing_key == "q"
    assert channel.queue_delete("") == 0

    assert find(broker, "q") is None and find(broker, "other") is not None


def test_a_passive_declare_also_sets_the_last_queue(connection: Connection) -> None:
    connection.open_channel(1).queue_declare("q")
    channel = connection.open_channel(2)
    channel.basic_publish("", "q", b"m1")

    channel.queue_declare("q", passive=True)

    got = channel.basic_get("")
    assert got is not None and got.message.body == b"m1"


NO_DECLARED_QUEUE: dict[str, tuple[Callable[[Channel], object], tuple[int, int]]] = {
    "bind": (lambda ch: ch.queue_bind("", "amq.direct"), QUEUE_BIND),
    "consume": (lambda ch: ch.basic_consume(""), BASIC_CONSUME),
    "get": (lambda ch: ch.basic_get(""), BASIC_GET),
    "purge": (lambda ch: ch.queue_purge(""), QUEUE_PURGE),
    "delete": (lambda ch: ch.queue_delete(""), QUEUE_DELETE),
}


@pytest.mark.parametrize("operation", list(NO_DECLARED_QUEUE))
def test_the_empty_name_without_a_declared_queue_is_404(connection: Connection, operation: str) -> None:
    """The last declared queue is the channel's own: one declared on another channel does not count."""
    connection.open_channel(1).queue_declare("q")
    channel = connection.open_channel(2)
    call, method = NO_DECLARED_QUEUE[operation]

    error = raises(ChannelError, call, channel)

    assert failure(error) == (404, "NOT_FOUND - no previously declared queue", method)
    assert not channel.is_open and connection.is_open
