"""The firehose in the core: `trace_on` copies publishes and deliveries to `amq.rabbitmq.trace`
with the headers RabbitMQ gives them (tests/trace/FIREHOSE_FACTS.md; key order measured on 4.3.6)."""

from __future__ import annotations

from rabbitsim.broker import Broker, Channel, Properties


def traced(broker: Broker, channel: Channel) -> list[tuple[str, dict[str, object], bytes]]:
    copies = []
    while (got := channel.basic_get("trace", no_ack=True)) is not None:
        headers = dict(got.message.properties.headers or {})
        copies.append((got.routing_key, headers, got.message.body))
    return copies


def setup(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("trace")
    channel.queue_bind("trace", "amq.rabbitmq.trace", "#")
    channel.queue_declare("q1")


def test_no_copies_while_tracing_is_off(broker: Broker, channel: Channel) -> None:
    setup(broker, channel)
    channel.basic_publish("", "q1", b"hi")
    assert traced(broker, channel) == []


def test_publish_and_deliver_copies(broker: Broker, channel: Channel) -> None:
    setup(broker, channel)
    broker.update_vhost("/", tracing=True)
    channel.basic_publish(
        "", "q1", b"hi", Properties(content_type="text/plain", delivery_mode=2, headers={"a": 1})
    )
    channel.basic_get("q1", no_ack=True)
    publish, deliver = traced(broker, channel)  # the trace queue's own deliveries are not traced
    assert publish[0] == "publish." and deliver[0] == "deliver.q1"
    assert publish[2] == deliver[2] == b"hi"
    assert list(publish[1]) == sorted(publish[1])
    assert publish[1] == {
        "channel": 1,
        "connection": channel.connection.name,  # no socket here: the core's name
        "exchange_name": "",
        "node": "rabbit@localhost",
        "properties": {"delivery_mode": 2, "headers": {"a": 1}, "content_type": "text/plain"},
        "routed_queues": ["q1"],
        "routing_keys": ["q1"],
        "user": "guest",
        "vhost": "/",
    }
    assert deliver[1]["redelivered"] == 0 and "routed_queues" not in deliver[1]
    assert list(deliver[1]["properties"]) == ["delivery_mode", "headers", "content_type"]  # type: ignore[call-overload]


def test_the_default_exchange_names_the_key_even_without_a_queue(broker: Broker, channel: Channel) -> None:
    setup(broker, channel)
    broker.update_vhost("/", tracing=True)
    channel.basic_publish("", "nowhere", b"x")
    channel.exchange_declare("logs", "fanout")
    channel.basic_publish("logs", "", b"y")
    (first, _h1, _b1), (second, headers, _b2) = traced(broker, channel)
    assert (first, second) == ("publish.", "publish.logs")
    assert headers["routed_queues"] == []


def test_redelivered_is_an_integer(broker: Broker, channel: Channel) -> None:
    setup(broker, channel)
    broker.update_vhost("/", tracing=True)
    channel.basic_publish("", "q1", b"again")
    got = channel.basic_get("q1")
    assert got is not None
    channel.basic_nack(got.delivery_tag, requeue=True)
    channel.basic_get("q1", no_ack=True)
    deliveries = [
        headers["redelivered"] for key, headers, _ in traced(broker, channel) if key == "deliver.q1"
    ]
    assert deliveries == [0, 1]
