"""The core's one output road, seen from the wire adapter: order on the wire follows from the
core, a `nowait` method gets no reply, and connections sharing a broker hear each other without
a server in between (sans-IO)."""

from __future__ import annotations

from typing import Any

from pamqp import body, commands, frame, header

from rabbitsim.amqp import AMQPConnection
from rabbitsim.broker import Broker

from .test_wire_errors import decode_all, handshake_bytes

PROPERTIES = commands.Basic.Properties()


def opened(broker: Broker) -> AMQPConnection:
    connection = AMQPConnection(broker)
    connection.receive(handshake_bytes() + frame.marshal(commands.Channel.Open(), 1))
    connection.data_to_send()
    return connection


def publishing(routing_key: str, payload: bytes) -> bytes:
    return b"".join(
        [
            frame.marshal(commands.Basic.Publish(routing_key=routing_key), 1),
            frame.marshal(header.ContentHeader(0, len(payload), PROPERTIES), 1),
            frame.marshal(body.ContentBody(payload), 1),
        ]
    )


def kinds(connection: AMQPConnection) -> list[type]:
    return [type(value) for _channel, value in decode_all(connection.data_to_send())]


def test_consume_ok_comes_before_the_deliveries_it_starts() -> None:
    connection = opened(Broker())
    connection.receive(
        frame.marshal(commands.Queue.Declare(queue="q"), 1) + publishing("q", b"a") + publishing("q", b"b")
    )
    connection.data_to_send()
    connection.receive(frame.marshal(commands.Basic.Consume(queue="q", consumer_tag="c"), 1))
    assert kinds(connection) == [
        commands.Basic.ConsumeOk,
        *[commands.Basic.Deliver, header.ContentHeader, body.ContentBody] * 2,
    ]


def test_nowait_methods_get_no_reply_and_the_rest_still_answer_in_order() -> None:
    connection = opened(Broker())
    connection.receive(
        frame.marshal(commands.Exchange.Declare(exchange="x", exchange_type="fanout", nowait=True), 1)
        + frame.marshal(commands.Queue.Declare(queue="q", nowait=True), 1)
        + frame.marshal(commands.Queue.Bind(queue="q", exchange="x", nowait=True), 1)
        + frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)
        + frame.marshal(commands.Basic.Consume(queue="q", consumer_tag="c", nowait=True), 1)
        + frame.marshal(commands.Confirm.Select(), 1)
    )
    assert kinds(connection) == [commands.Basic.QosOk, commands.Confirm.SelectOk]
    connection.receive(frame.marshal(commands.Basic.Publish(exchange="x"), 1))
    connection.receive(frame.marshal(header.ContentHeader(0, 1, PROPERTIES), 1))
    connection.receive(frame.marshal(body.ContentBody(b"m"), 1))
    assert kinds(connection) == [
        commands.Basic.Deliver,
        header.ContentHeader,
        body.ContentBody,
        commands.Basic.Ack,
    ]


def test_two_connections_on_one_broker_hear_each_other_without_a_server() -> None:
    broker = Broker()
    consumer, publisher = opened(broker), opened(broker)
    consumer.receive(
        frame.marshal(commands.Queue.Declare(queue="q"), 1)
        + frame.marshal(commands.Basic.Consume(queue="q", consumer_tag="c", no_ack=True), 1)
    )
    assert kinds(consumer) == [commands.Queue.DeclareOk, commands.Basic.ConsumeOk]
    publisher.receive(publishing("q", b"hello"))
    assert publisher.data_to_send() == b""
    delivered: list[Any] = [value for _channel, value in decode_all(consumer.data_to_send())]
    assert [type(value) for value in delivered] == [
        commands.Basic.Deliver,
        header.ContentHeader,
        body.ContentBody,
    ]
    assert delivered[0].consumer_tag == "c" and delivered[2].value == b"hello"


def test_a_closed_connection_is_told_nothing_more() -> None:
    """What the core had on its way to a connection when it closed is dropped with it."""
    broker = Broker()
    connection = broker.connect()
    channel = connection.open_channel(1)
    channel.queue_declare("q")
    channel.basic_consume("q", "c", no_ack=True)
    channel.basic_publish("", "q", b"m")
    connection.close()
    assert [item for item in broker.take_output() if item[0] is connection] == []
