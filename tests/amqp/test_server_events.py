"""The server's event listeners: the core puts events on its output road only while someone
listens, and the server hands each to the listeners that were there when it happened."""

from __future__ import annotations

from rabbitsim.amqp import AMQPServer
from rabbitsim.broker import Broker, EventKind, TraceEvent


def test_unsubscribe_stops_events() -> None:
    broker = Broker()
    server = AMQPServer(broker)
    try:
        first: list[TraceEvent] = []
        second: list[TraceEvent] = []
        stop_first = server.call(lambda: server.subscribe(first.append))
        stop_second = server.call(lambda: server.subscribe(second.append))
        assert broker.tracing
        connection = server.call(broker.connect)
        server.call(stop_first)
        assert broker.tracing  # the other listener still wants events
        server.call(lambda: connection.open_channel(1))
        server.call(stop_second)
        assert not broker.tracing
        server.call(connection.close)
        server.call(stop_second)  # a second call is harmless
        assert [event.kind for event in first] == [EventKind.CONNECTION_OPENED]
        assert [event.kind for event in second] == [EventKind.CONNECTION_OPENED, EventKind.CHANNEL_OPENED]
    finally:
        server.close()
