"""Errors through pika: the exact reply codes and texts RabbitMQ sends (tests/broker/RABBITMQ_FACTS.md),
what closes only the channel and what closes the connection, and that the server survives every one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic

from rabbitsim.backends import EmbeddedBroker

from .conftest import assert_broker_alive, connect, parameters, wait_until

LOCKED = (
    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{}' in vhost '/'. It could be "
    "originally declared on another connection or the exclusive property value does not match that of "
    "the original declaration."
)
LOGIN_REFUSED = (
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile."
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def connection(broker: EmbeddedBroker) -> Iterator[pika.BlockingConnection]:
    opened = connect(broker)
    yield opened
    if opened.is_open:
        opened.close()


@pytest.fixture
def channel(connection: pika.BlockingConnection) -> BlockingChannel:
    return connection.channel()


def assert_channel_closed(
    caught: pytest.ExceptionInfo[pika.exceptions.ChannelClosedByBroker], code: int, text: str
) -> None:
    assert (caught.value.reply_code, caught.value.reply_text) == (code, text)


# --- soft errors: the channel closes, the connection lives on ----------------------------------------


def test_redeclare_with_different_durable_is_406_and_connection_survives(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    name = unique("q")
    channel.queue_declare(name, durable=False)
    channel.basic_publish("", name, b"kept")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare(name, durable=True)
    assert_channel_closed(
        caught,
        406,
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{name}' in vhost '/': "
        "received 'true' but current is 'false'",
    )
    assert channel.is_closed
    assert connection.is_open
    again = connection.channel()
    ok = again.queue_declare(name, durable=False)
    assert ok.method.message_count == 1  # the queue itself was untouched

    exchange = unique("x")
    again.exchange_declare(exchange, "direct")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        again.exchange_declare(exchange, "direct", durable=True)
    assert_channel_closed(
        caught,
        406,
        f"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '{exchange}' in vhost '/': "
        "received 'true' but current is 'false'",
    )
    assert connection.is_open
    connection.channel().exchange_declare(exchange, "direct", passive=True)


def test_passive_declare_of_missing_queue_and_exchange_is_404(
    connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare("no-such-queue", passive=True)
    assert_channel_closed(caught, 404, "NOT_FOUND - no queue 'no-such-queue' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        connection.channel().exchange_declare("no-such-exchange", "fanout", passive=True)
    assert_channel_closed(caught, 404, "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        connection.channel().queue_declare("no-such-queue", passive=True)  # passive never creates
    assert connection.is_open


def test_publish_to_missing_exchange_is_404_on_next_sync_call(
    connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    channel.basic_publish("no-such-exchange", "key", b"lost")  # no error yet: publish is async
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare("", exclusive=True)
    assert_channel_closed(caught, 404, "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'")

    confirming = connection.channel()
    confirming.confirm_delivery()  # with confirms on, the publish itself fails
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        confirming.basic_publish("no-such-exchange", "key", b"lost")
    assert_channel_closed(caught, 404, "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'")
    assert connection.is_open
    connection.channel().queue_declare("", exclusive=True)


def test_amq_prefix_is_403(connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare("amq.foo")
    assert_channel_closed(
        caught, 403, "ACCESS_REFUSED - queue name 'amq.foo' contains reserved prefix 'amq.*'"
    )
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        connection.channel().exchange_declare("amq.foo", "direct")
    assert_channel_closed(
        caught, 403, "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'"
    )
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        connection.channel().exchange_delete("amq.direct")
    assert caught.value.reply_code == 403
    assert connection.is_open
    connection.channel().exchange_declare("amq.direct", "direct", durable=True)  # still there


def test_exclusive_queue_from_another_connection_is_405(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    name = unique("mine")
    channel.queue_declare(name, exclusive=True)
    other = connect(broker)
    try:
        attempts = {
            "declare": lambda ch: ch.queue_declare(name, exclusive=True),
            "passive declare": lambda ch: ch.queue_declare(name, passive=True),
            "consume": lambda ch: ch.basic_consume(name, lambda *args: None),
            "get": lambda ch: ch.basic_get(name),
            "delete": lambda ch: ch.queue_delete(name),
        }
        for label, attempt in attempts.items():
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
                attempt(other.channel())
            assert (caught.value.reply_code, caught.value.reply_text) == (405, LOCKED.format(name)), label
        other.channel().basic_publish("", name, b"publishing is allowed")
        assert other.is_open
    finally:
        other.close()
    assert channel.queue_declare(name, passive=True).method.message_count == 1


def test_unknown_delivery_tag_is_406(connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
    channel.basic_ack(99)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare("", exclusive=True)
    assert_channel_closed(caught, 406, "PRECONDITION_FAILED - unknown delivery tag 99")

    twice = connection.channel()
    name = twice.queue_declare("", exclusive=True).method.queue
    twice.basic_publish("", name, b"once")
    method, _properties, _body = twice.basic_get(name)
    twice.basic_ack(method.delivery_tag)
    twice.basic_ack(method.delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        twice.queue_declare(name, passive=True)
    assert_channel_closed(caught, 406, f"PRECONDITION_FAILED - unknown delivery tag {method.delivery_tag}")
    assert connection.is_open


def test_queue_deleted_under_a_consumer_sends_basic_cancel(
    connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    name = unique("doomed")
    channel.queue_declare(name)
    cancels: list[Basic.Cancel] = []
    channel.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    tag = channel.basic_consume(name, lambda *args: None, consumer_tag="victim")
    assert tag == "victim"
    assert channel.consumer_tags == ["victim"]

    connection.channel().queue_delete(name)
    assert wait_until(lambda: bool(cancels), 5, pump=connection), "no Basic.Cancel from the broker"
    assert len(cancels) == 1
    assert cancels[0].consumer_tag == "victim"
    assert channel.consumer_tags == []
    assert channel.is_open
    assert channel.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")


def test_queue_deleted_under_a_select_connection_consumer(broker: EmbeddedBroker) -> None:
    name = unique("doomed")
    events: list[str] = []
    channels: list[object] = []

    def on_open(connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel: pika.channel.Channel) -> None:
        channels.append(channel)
        channel.add_on_cancel_callback(on_cancel)
        channel.queue_declare(name, callback=lambda _frame: consume(channel))

    def consume(channel: pika.channel.Channel) -> None:
        channel.basic_consume(
            name, lambda *args: None, consumer_tag="victim", callback=lambda _frame: delete(channel)
        )

    def delete(channel: pika.channel.Channel) -> None:
        events.append("consuming")
        channel.connection.channel(
            on_open_callback=lambda other: other.queue_delete(
                name, callback=lambda _f: events.append("deleted")
            )
        )

    def on_cancel(frame: pika.frame.Method) -> None:
        events.append(f"cancelled {frame.method.consumer_tag}")
        channel = channels[0]
        assert isinstance(channel, pika.channel.Channel)
        # the channel is still open: a synchronous call on it succeeds
        channel.queue_declare("", exclusive=True, callback=lambda _f: after(channel))

    def after(channel: pika.channel.Channel) -> None:
        events.append(f"channel open {channel.is_open}")
        channel.connection.close()

    def on_closed(connection: pika.SelectConnection, reason: BaseException) -> None:
        events.append(type(reason).__name__)
        connection.ioloop.stop()

    connection = pika.SelectConnection(
        parameters(broker),
        on_open_callback=on_open,
        on_open_error_callback=on_closed,
        on_close_callback=on_closed,
    )
    connection.ioloop.call_later(5, connection.ioloop.stop)
    connection.ioloop.start()
    assert sorted(events[1:3]) == ["cancelled victim", "deleted"]
    assert events[0] == "consuming"
    assert events[3:] == ["channel open True", "ConnectionClosedByClient"]


# --- hard errors: the connection closes; a new one must still work ----------------------------------


def test_duplicate_consumer_tag_is_530_connection_close(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    name = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_consume(name, lambda *args: None, consumer_tag="ctag1")
    # pika refuses a duplicate tag locally, so send the raw method
    channel._impl._send_method(Basic.Consume(queue=name, consumer_tag="ctag1"))
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as caught:
        connection.process_data_events(time_limit=2)
        channel.queue_declare(name, passive=True)
    assert (caught.value.reply_code, caught.value.reply_text) == (
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 'ctag1'",
    )
    assert connection.is_closed
    assert_broker_alive(broker)
    # the exclusive queue went with its connection
    check = connect(broker)
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as missing:
            check.channel().queue_declare(name, passive=True)
        assert missing.value.reply_code == 404
    finally:
        check.close()


def test_prefetch_size_is_540_connection_close(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as caught:
        channel.basic_qos(prefetch_size=10)
    assert (caught.value.reply_code, caught.value.reply_text) == (
        540,
        "NOT_IMPLEMENTED - prefetch_size!=0 (10)",
    )
    assert connection.is_closed
    assert_broker_alive(broker)


def test_recover_without_requeue_is_540_connection_close(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as caught:
        channel.basic_recover(requeue=False)
    assert (caught.value.reply_code, caught.value.reply_text) == (540, "NOT_IMPLEMENTED - requeue=false")
    assert_broker_alive(broker)


def test_unacked_messages_return_when_the_connection_is_closed_by_an_error(
    broker: EmbeddedBroker, connection: pika.BlockingConnection, channel: BlockingChannel
) -> None:
    name = unique("survivor")
    channel.queue_declare(name)
    channel.basic_publish("", name, b"unacked")
    method, _properties, _body = channel.basic_get(name)
    assert method is not None
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
        channel.basic_qos(prefetch_size=1)
    check = connect(broker)
    try:
        method, _properties, body = check.channel().basic_get(name, auto_ack=True)
        assert (body, method.redelivered) == (b"unacked", True)
    finally:
        check.close()


def test_wrong_password_is_refused_with_403(broker: EmbeddedBroker) -> None:
    """pika advertises authentication_failure_close, so the broker says why: Connection.Close 403,
    which pika reports as ProbableAuthenticationError carrying the broker's reply."""
    for user, password in (("guest", "not-the-password"), ("nobody", "guest")):
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as caught:
            connect(broker, credentials=pika.PlainCredentials(user, password))
        assert caught.value.args == (f"ConnectionClosedByBroker: (403) '{LOGIN_REFUSED}'",)
    assert_broker_alive(broker)


def test_unknown_vhost_is_530(broker: EmbeddedBroker) -> None:
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as caught:
        connect(broker, virtual_host="nope")
    assert caught.value.args == ("ConnectionClosedByBroker: (530) 'NOT_ALLOWED - vhost nope not found'",)
    assert_broker_alive(broker)
