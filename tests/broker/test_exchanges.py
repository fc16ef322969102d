"""Exchanges: the standard set, declare / redeclare / passive, delete, auto-delete,
bindings with missing ends, and publishing to missing or internal exchanges.

Reply texts were checked against RabbitMQ 3.10.8 (pika) unless a comment says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Connection,
    ConnectionError,
    EventKind,
    NodeKind,
    Return,
    TraceEvent,
)
from tests.broker.conftest import deliveries

DECLARE = (40, 10)
DELETE = (40, 20)
EXCHANGE_BIND = (40, 30)
EXCHANGE_UNBIND = (40, 40)
QUEUE_BIND = (50, 20)
QUEUE_UNBIND = (50, 50)
PUBLISH = (60, 40)

STANDARD = {
    "": "direct",
    "amq.direct": "direct",
    "amq.fanout": "fanout",
    "amq.topic": "topic",
    "amq.headers": "headers",
    "amq.match": "headers",
}


# --- helpers ---------------------------------------------------------------------------------


def assert_channel_error(
    caught: pytest.ExceptionInfo[ChannelError],
    channel: Channel,
    code: int,
    text: str,
    method: tuple[int, int],
) -> None:
    """The error is what RabbitMQ sends, only this channel closed, and a new channel on the
    same connection still routes messages."""
    error = caught.value
    assert type(error) is ChannelError
    assert (error.reply_code, error.reply_text, (error.class_id, error.method_id)) == (code, text, method)
    assert not channel.is_open
    connection = channel.connection
    assert connection.is_open
    other = connection.open_channel(max([channel.number, *connection.channels]) + 1)
    queue = other.queue_declare("").queue
    other.basic_publish("", queue, b"still works")
    got = other.basic_get(queue, no_ack=True)
    assert got is not None
    assert got.message.body == b"still works"


def exists(broker: Broker, name: str, vhost: str = "/") -> bool:
    """Ask as a client would: a passive declare on a fresh channel."""
    channel = broker.connect(vhost).open_channel(1)
    try:
        channel.exchange_declare(name, passive=True)
    except ChannelError as error:
        assert error.reply_code == 404
        return False
    return True


def routes_to(channel: Channel, exchange: str, key: str, queue: str) -> bool:
    channel.basic_publish(exchange, key, b"probe")
    got = channel.basic_get(queue, no_ack=True)
    return got is not None and got.message.body == b"probe"


def of_kind(events: list[TraceEvent], kind: EventKind) -> list[TraceEvent]:
    return [event for event in events if event.kind == kind]


# --- the standard exchanges ------------------------------------------------------------------


def test_every_vhost_has_the_standard_exchanges(broker: Broker) -> None:
    broker.add_vhost("other")
    broker.set_permissions("guest", "other", ".*", ".*", ".*")
    for vhost in ["/", "other"]:
        exchanges = broker.vhosts[vhost].exchanges
        assert {name: x.type for name, x in exchanges.items()} == {**STANDARD, "amq.rabbitmq.trace": "topic"}
        assert exchanges["amq.rabbitmq.trace"].internal
        for name in STANDARD:
            if name:
                assert exists(broker, name, vhost)


@pytest.mark.parametrize("name", [name for name in STANDARD if name])
def test_standard_exchange_redeclared_as_itself_is_fine(channel: Channel, name: str) -> None:
    """They are durable, so only a durable redeclare is equivalent."""
    channel.exchange_declare(name, STANDARD[name], durable=True)
    assert channel.is_open


def test_standard_exchange_redeclared_non_durable_is_refused(channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("amq.direct", "direct")
    assert_channel_error(
        caught,
        channel,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost '/': "
        "received 'false' but current is 'true'",
        DECLARE,
    )


def test_standard_exchange_redeclared_with_another_type_is_refused(channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("amq.direct", "fanout", durable=True)
    assert_channel_error(
        caught,
        channel,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' in vhost '/': "
        "received 'fanout' but current is 'direct'",
        DECLARE,
    )


def test_new_amq_name_is_reserved(broker: Broker, channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("amq.foo", "direct")
    assert_channel_error(
        caught,
        channel,
        403,
        "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'",
        DECLARE,
    )
    assert not exists(broker, "amq.foo")


# --- declare ---------------------------------------------------------------------------------


def test_declare_creates_an_exchange(broker: Broker, channel: Channel, events: list[TraceEvent]) -> None:
    assert not exists(broker, "logs")
    channel.exchange_declare("logs", "fanout")
    assert exists(broker, "logs")
    channel.queue_declare("q")
    channel.queue_bind("q", "logs", "ignored")
    assert routes_to(channel, "logs", "any-key", "q")
    declared = [e for e in of_kind(events, EventKind.DECLARE) if e.source and e.source.name == "logs"]
    assert [(e.source.kind, e.detail["type"]) for e in declared if e.source] == [
        (NodeKind.EXCHANGE, "fanout")
    ]


def test_equivalent_redeclare_is_fine_and_keeps_bindings(channel: Channel) -> None:
    options: dict[str, Any] = {
        "durable": True,
        "auto_delete": True,
        "internal": False,
        "arguments": {"alternate-exchange": "ae", "x-custom": 1},
    }
    channel.exchange_declare("x", "topic", **options)
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "a.*")
    channel.exchange_declare("x", "topic", **options)
    # only alternate-exchange is compared: other arguments may differ
    channel.exchange_declare("x", "topic", **{**options, "arguments": {"alternate-exchange": "ae"}})
    assert routes_to(channel, "x", "a.b", "q")


@pytest.mark.parametrize(
    ("first", "second", "arg", "received", "current"),
    [
        ({"exchange_type": "direct"}, {"exchange_type": "fanout"}, "type", "'fanout'", "'direct'"),
        ({"durable": False}, {"durable": True}, "durable", "'true'", "'false'"),
        ({"auto_delete": True}, {"auto_delete": False}, "auto_delete", "'false'", "'true'"),
        ({"internal": False}, {"internal": True}, "internal", "'true'", "'false'"),
    ],
    ids=["type", "durable", "auto_delete", "internal"],
)
def test_inequivalent_redeclare_is_refused(
    broker: Broker,
    channel: Channel,
    first: dict[str, Any],
    second: dict[str, Any],
    arg: str,
    received: str,
    current: str,
) -> None:
    base: dict[str, Any] = {"exchange_type": "direct", "durable": False, "auto_delete": False}
    channel.exchange_declare("x", **{**base, **first})
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("x", **{**base, **second})
    assert_channel_error(
        caught,
        channel,
        406,
        f"PRECONDITION_FAILED - inequivalent arg '{arg}' for exchange 'x' in vhost '/': "
        f"received {received} but current is {current}",
        DECLARE,
    )
    checker = broker.connect().open_channel(1)
    checker.exchange_declare("x", **{**base, **first})  # the exchange is unchanged
    assert routes_to(checker, "x", "k", "q")


@pytest.mark.parametrize(
    ("first", "second", "received", "current"),
    [
        ("a1", "a2", "'a2'", "'a1'"),
        ("a1", None, "none", "the value 'a1' of type 'longstr'"),
        (None, "a1", "the value 'a1' of type 'longstr'", "none"),
    ],
    ids=["changed", "omitted", "added"],
)
def test_redeclare_with_another_alternate_exchange_is_refused(
    channel: Channel, first: str | None, second: str | None, received: str, current: str
) -> None:
    def arguments(alternate: str | None) -> dict[str, Any]:
        return {} if alternate is None else {"alternate-exchange": alternate}

    channel.exchange_declare("x", "direct", arguments=arguments(first))
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("x", "direct", arguments=arguments(second))
    assert_channel_error(
        caught,
        channel,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '/': "
        f"received {received} but current is {current}",
        DECLARE,
    )


def test_passive_declare_of_missing_exchange_is_not_found(broker: Broker, channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("x", "direct", passive=True)
    assert_channel_error(caught, channel, 404, "NOT_FOUND - no exchange 'x' in vhost '/'", DECLARE)
    assert "x" not in broker.vhosts["/"].exchanges  # passive never creates


def test_passive_declare_ignores_type_and_flags(channel: Channel) -> None:
    channel.exchange_declare("x", "direct")
    channel.exchange_declare(
        "x", "fanout", passive=True, durable=True, auto_delete=True, internal=True, arguments={"a": 1}
    )
    channel.exchange_declare("x", "no-such-type", passive=True)
    channel.exchange_declare("amq.direct", "topic", passive=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    assert routes_to(channel, "x", "k", "q")  # still a direct, non-internal exchange
    assert not routes_to(channel, "x", "other", "q")


def test_unknown_exchange_type_closes_the_channel_on_4_0(broker: Broker, channel: Channel) -> None:
    """RabbitMQ 4.x (rabbit_exchange:check_type): precondition_failed, a channel error."""
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("x", "no-such-type")
    assert_channel_error(
        caught, channel, 406, "PRECONDITION_FAILED - unknown exchange type 'no-such-type'", DECLARE
    )
    assert not exists(broker, "x")


def test_unknown_exchange_type_closes_the_connection_on_3_10() -> None:
    broker = Broker(profile="3.10")
    connection = broker.connect()
    channel = connection.open_channel(1)
    bystander = connection.open_channel(2)
    with pytest.raises(ConnectionError) as caught:
        channel.exchange_declare("x", "no-such-type")
    error = caught.value
    assert (error.reply_code, error.reply_text, (error.class_id, error.method_id)) == (
        503,
        "COMMAND_INVALID - unknown exchange type 'no-such-type'",
        DECLARE,
    )
    assert not connection.is_open
    assert not channel.is_open
    assert not bystander.is_open
    assert connection.close_reason is error
    assert not exists(broker, "x")


# --- the default exchange --------------------------------------------------------------------


DEFAULT_EXCHANGE_OPERATIONS: dict[str, tuple[Callable[[Channel], object], tuple[int, int]]] = {
    "declare": (lambda ch: ch.exchange_declare("", "direct", durable=True), DECLARE),
    "passive declare": (lambda ch: ch.exchange_declare("", passive=True), DECLARE),
    "delete": (lambda ch: ch.exchange_delete(""), DELETE),
    "queue.bind": (lambda ch: ch.queue_bind("q", "", "q"), QUEUE_BIND),
    "queue.unbind": (lambda ch: ch.queue_unbind("q", "", "q"), QUEUE_UNBIND),
    "exchange.bind from it": (lambda ch: ch.exchange_bind("amq.fanout", "", "k"), EXCHANGE_BIND),
    "exchange.bind to it": (lambda ch: ch.exchange_bind("", "amq.fanout", "k"), EXCHANGE_BIND),
    "exchange.unbind": (lambda ch: ch.exchange_unbind("amq.fanout", "", "k"), EXCHANGE_UNBIND),
}


@pytest.mark.parametrize("operation", list(DEFAULT_EXCHANGE_OPERATIONS))
def test_default_exchange_cannot_be_touched(broker: Broker, channel: Channel, operation: str) -> None:
    action, method = DEFAULT_EXCHANGE_OPERATIONS[operation]
    channel.queue_declare("q")
    with pytest.raises(ChannelError) as caught:
        action(channel)
    assert_channel_error(
        caught, channel, 403, "ACCESS_REFUSED - operation not permitted on the default exchange", method
    )
    checker = broker.connect().open_channel(1)
    assert routes_to(checker, "", "q", "q")  # still there, still routing by queue name


# --- delete ----------------------------------------------------------------------------------


def test_standard_exchange_cannot_be_deleted(broker: Broker, channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_delete("amq.direct")
    assert_channel_error(
        caught,
        channel,
        403,
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
        DELETE,
    )
    assert exists(broker, "amq.direct")


def test_delete_removes_the_exchange(broker: Broker, channel: Channel, events: list[TraceEvent]) -> None:
    channel.exchange_declare("x", "fanout")
    channel.exchange_delete("x")
    assert not exists(broker, "x")
    deleted = [e for e in of_kind(events, EventKind.DELETE) if e.source and e.source.name == "x"]
    assert [(e.source.kind, e.detail["reason"]) for e in deleted if e.source] == [
        (NodeKind.EXCHANGE, "deleted")
    ]


def test_deleting_a_missing_exchange_is_not_an_error(channel: Channel) -> None:
    channel.exchange_delete("never-declared")
    channel.exchange_delete("never-declared", if_unused=True)
    assert channel.is_open


def test_delete_if_unused_refuses_an_exchange_with_bindings(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("x", "direct")
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    with pytest.raises(ChannelError) as caught:
        channel.exchange_delete("x", if_unused=True)
    assert_channel_error(
        caught, channel, 406, "PRECONDITION_FAILED - exchange 'x' in vhost '/' in use", DELETE
    )
    checker = broker.connect().open_channel(1)
    assert routes_to(checker, "x", "k", "q")  # not deleted, binding kept


def test_delete_if_unused_counts_exchange_bindings_from_it(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("src", "fanout")
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "src")
    with pytest.raises(ChannelError) as caught:
        channel.exchange_delete("src", if_unused=True)
    assert_channel_error(
        caught, channel, 406, "PRECONDITION_FAILED - exchange 'src' in vhost '/' in use", DELETE
    )


def test_delete_if_unused_ignores_bindings_to_it(broker: Broker, channel: Channel) -> None:
    """Measured: only bindings where the exchange is the source make it 'in use'."""
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "amq.fanout")
    channel.exchange_declare("unbound", "fanout")
    channel.exchange_delete("dst", if_unused=True)
    channel.exchange_delete("unbound", if_unused=True)
    assert not exists(broker, "dst")
    assert not exists(broker, "unbound")


def test_delete_removes_bindings_from_the_exchange(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("x", "direct")
    channel.queue_declare("q")
    channel.queue_bind("q", "x", "k")
    channel.exchange_delete("x")
    channel.exchange_declare("x", "direct")  # a new exchange of the same name has no bindings
    channel.basic_publish("x", "k", b"m", mandatory=True)
    [(_, _, item)] = deliveries(broker)
    assert isinstance(item, Return)
    assert (item.reply_code, item.exchange, item.routing_key) == (312, "x", "k")
    assert channel.basic_get("q", no_ack=True) is None


def test_delete_removes_bindings_to_the_exchange(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("x", "fanout")
    channel.exchange_bind("x", "amq.fanout")
    channel.queue_declare("q")
    channel.queue_bind("q", "x")
    channel.exchange_delete("x")
    channel.basic_publish("amq.fanout", "", b"m", mandatory=True)
    [(_, _, item)] = deliveries(broker)
    assert isinstance(item, Return)
    assert (item.reply_code, item.exchange) == (312, "amq.fanout")
    channel.exchange_declare("x", "fanout")  # the binding does not come back with the name
    channel.queue_bind("q", "x")
    channel.basic_publish("amq.fanout", "", b"m2")
    assert channel.basic_get("q", no_ack=True) is None


# --- auto-delete -----------------------------------------------------------------------------


def test_auto_delete_exchange_never_bound_stays(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("ad", "fanout", auto_delete=True)
    channel.exchange_declare("ad", "fanout", auto_delete=True)
    assert exists(broker, "ad")


def test_auto_delete_exchange_goes_with_its_last_binding(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.exchange_declare("ad", "direct", auto_delete=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "ad", "one")
    channel.queue_bind("q", "ad", "two")
    channel.queue_unbind("q", "ad", "one")
    assert exists(broker, "ad")
    channel.queue_unbind("q", "ad", "two")
    assert not exists(broker, "ad")
    deleted = [e for e in of_kind(events, EventKind.DELETE) if e.source and e.source.name == "ad"]
    assert [e.detail["reason"] for e in deleted] == ["auto-delete"]


def test_auto_delete_exchange_goes_when_its_bound_queue_is_deleted(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("ad", "fanout", auto_delete=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "ad")
    channel.queue_delete("q")
    assert not exists(broker, "ad")


def test_auto_delete_exchange_goes_when_its_exclusive_queue_owner_leaves(broker: Broker) -> None:
    owner = broker.connect()
    channel = owner.open_channel(1)
    channel.exchange_declare("ad", "fanout", auto_delete=True)
    queue = channel.queue_declare("", exclusive=True).queue
    channel.queue_bind(queue, "ad")
    owner.close()
    assert not exists(broker, "ad")


def test_auto_delete_exchange_goes_when_its_destination_exchange_is_deleted(
    broker: Broker, channel: Channel
) -> None:
    channel.exchange_declare("src", "fanout", auto_delete=True)
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "src")
    channel.exchange_delete("dst")
    assert not exists(broker, "src")


def test_auto_delete_ignores_bindings_where_it_is_the_destination(broker: Broker, channel: Channel) -> None:
    """Measured: only bindings from the exchange count."""
    channel.exchange_declare("ad", "fanout", auto_delete=True)
    channel.exchange_bind("ad", "amq.fanout")
    channel.exchange_unbind("ad", "amq.fanout")
    assert exists(broker, "ad")
    channel.exchange_declare("src", "fanout")
    channel.exchange_bind("ad", "src")
    channel.exchange_delete("src")
    assert exists(broker, "ad")


# --- publishing ------------------------------------------------------------------------------


def test_publish_to_missing_exchange_closes_the_channel(broker: Broker, channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.basic_publish("nope", "k", b"m")
    assert_channel_error(caught, channel, 404, "NOT_FOUND - no exchange 'nope' in vhost '/'", PUBLISH)
    assert deliveries(broker) == []


def test_publish_to_internal_exchange_is_refused(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("ix", "fanout", internal=True)
    channel.exchange_declare("front", "direct")
    channel.exchange_bind("ix", "front", "k")
    channel.queue_declare("q")
    channel.queue_bind("q", "ix")
    assert routes_to(channel, "front", "k", "q")  # routing into it through a binding works
    with pytest.raises(ChannelError) as caught:
        channel.basic_publish("ix", "k", b"direct hit")
    assert_channel_error(
        caught,
        channel,
        403,
        "ACCESS_REFUSED - cannot publish to internal exchange 'ix' in vhost '/'",
        PUBLISH,
    )
    checker = broker.connect().open_channel(1)
    assert checker.basic_get("q", no_ack=True) is None


# --- bindings with missing ends ----------------------------------------------------------------


BIND_MISSING: dict[str, tuple[Callable[[Channel], object], str, tuple[int, int]]] = {
    "queue.bind, both missing": (
        lambda ch: ch.queue_bind("missing-q", "missing-x", "k"),
        "NOT_FOUND - no exchange 'missing-x' in vhost '/'",
        QUEUE_BIND,
    ),
    "queue.bind, queue missing": (
        lambda ch: ch.queue_bind("missing-q", "amq.direct", "k"),
        "NOT_FOUND - no queue 'missing-q' in vhost '/'",
        QUEUE_BIND,
    ),
    "queue.bind, exchange missing": (
        lambda ch: ch.queue_bind("q", "missing-x", "k"),
        "NOT_FOUND - no exchange 'missing-x' in vhost '/'",
        QUEUE_BIND,
    ),
    "exchange.bind, both missing": (
        lambda ch: ch.exchange_bind("missing-dst", "missing-src", "k"),
        "NOT_FOUND - no exchange 'missing-src' in vhost '/'",
        EXCHANGE_BIND,
    ),
    "exchange.bind, destination missing": (
        lambda ch: ch.exchange_bind("missing-dst", "amq.direct", "k"),
        "NOT_FOUND - no exchange 'missing-dst' in vhost '/'",
        EXCHANGE_BIND,
    ),
    "exchange.bind, source missing": (
        lambda ch: ch.exchange_bind("amq.fanout", "missing-src", "k"),
        "NOT_FOUND - no exchange 'missing-src' in vhost '/'",
        EXCHANGE_BIND,
    ),
}


@pytest.mark.parametrize("case", list(BIND_MISSING))
def test_binding_with_a_missing_end_is_not_found(channel: Channel, case: str) -> None:
    action, text, method = BIND_MISSING[case]
    channel.queue_declare("q")
    with pytest.raises(ChannelError) as caught:
        action(channel)
    assert_channel_error(caught, channel, 404, text, method)


def test_unbinding_what_is_not_there_is_not_an_error(channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_bind("q", "amq.direct", "kept")
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "amq.topic", "kept.*")
    channel.queue_bind("q", "dst")

    channel.queue_unbind("missing-q", "missing-x", "k")
    channel.queue_unbind("q", "missing-x", "kept")
    channel.queue_unbind("missing-q", "amq.direct", "kept")
    channel.queue_unbind("q", "amq.direct", "never-bound")
    channel.queue_unbind("q", "amq.direct", "kept", {"x-other": "arguments"})
    channel.exchange_unbind("missing-dst", "missing-src", "k")
    channel.exchange_unbind("dst", "amq.topic", "never.bound")
    channel.exchange_unbind("dst", "amq.direct", "kept.*")

    assert channel.is_open
    assert routes_to(channel, "amq.direct", "kept", "q")
    assert routes_to(channel, "amq.topic", "kept.x", "q")


def test_channel_error_leaves_other_connections_alone(broker: Broker, connection: Connection) -> None:
    """A channel error on one connection leaves another connection's channels alone."""
    other = broker.connect().open_channel(1)
    channel = connection.open_channel(1)
    with pytest.raises(ChannelError):
        channel.basic_publish("nope", "k", b"m")
    assert other.is_open
    other.queue_declare("q")
    assert routes_to(other, "", "q", "q")
