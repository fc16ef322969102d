"""Publisher confirms: sequence numbers, acks (multiple normalised to per-message outcomes),
returns before acks, and how confirm mode meets errors and transactions."""

from __future__ import annotations

from typing import Any

from tests.conformance.harness import Confirms, Context, msgs, new_channel_step, pump, ready, scenario, step


@scenario
def confirms_ack_every_publish(ctx: Context) -> Any:
    """Every publish on a confirm channel is acked, routed or not, numbered from 1."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    confirms = Confirms(connection, connection.channel())
    for body in msgs(5):
        confirms.publish("", queue, body)
    confirms.publish("", ctx.name("nowhere"), b"unroutable")
    confirms.publish("amq.fanout", "", b"no-bindings")
    return {"settled": confirms.wait(), "ready": ready(channel, queue)}


@scenario
def confirms_mandatory_return_precedes_ack(ctx: Context) -> Any:
    """An unroutable mandatory message is returned (312 NO_ROUTE) and then acked."""
    connection, _channel = ctx.channel()
    queue = ctx.queue()
    _channel.queue_declare(queue)
    confirms = Confirms(connection, connection.channel())
    confirms.publish("", queue, b"routed", mandatory=True)
    confirms.publish("", ctx.name("nowhere"), b"returned", mandatory=True)
    confirms.publish("", queue, b"routed-again", mandatory=True)
    return {"settled": confirms.wait(), "returns": confirms.returns}


@scenario
def confirms_blocking_channel_raises_unroutable(ctx: Context) -> Any:
    """pika's blocking confirm channel reports a returned mandatory message as UnroutableError
    (the return, then the ack), and plain publishes as accepted."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.confirm_delivery()
    return [
        step(lambda: channel.basic_publish("", queue, b"a")),
        step(lambda: channel.basic_publish("", ctx.name("nowhere"), b"b", mandatory=True)),
        step(lambda: channel.basic_publish("", ctx.name("nowhere"), b"c")),
        step(lambda: channel.basic_publish("", queue, b"d", mandatory=True)),
    ]


@scenario
def confirms_publish_to_missing_exchange_closes_channel(ctx: Context) -> Any:
    """On a confirm channel, publishing to a missing exchange closes the channel with 404; no nack."""
    connection = ctx.connect()
    confirms = Confirms(connection, connection.channel())
    confirms.publish("amq.fanout", "", b"ok")
    confirms.wait()
    confirms.publish(ctx.name("missing"), "", b"lost")
    closed = step(lambda: confirms.channel.exchange_declare("amq.direct", passive=True))
    return {"settled": confirms.settled, "close": closed, "channel-open": confirms.channel.is_open}


@scenario
def confirm_select_twice_and_sequence_per_channel(ctx: Context) -> Any:
    """confirm.select twice is fine; sequence numbers are per channel."""
    connection, _channel = ctx.channel()
    a = Confirms(connection, connection.channel())
    b = Confirms(connection, connection.channel())
    for body in (b"a1", b"a2", b"a3"):
        a.publish("amq.fanout", "", body)
    b.publish("amq.fanout", "", b"b1")
    again: list[str] = []
    a.channel._impl.confirm_delivery(lambda _f: None, callback=lambda f: again.append(f.method.NAME))
    pump([connection], lambda: bool(again))
    a.publish("amq.fanout", "", b"a4")
    return {"a": a.wait(), "b": b.wait(), "select-again": again}


@scenario
def confirm_and_tx_exclude_each_other(ctx: Context) -> Any:
    """A channel is in confirm mode or tx mode, not both (406 either way)."""
    connection, _channel = ctx.channel()
    return {
        "confirm-then-tx": new_channel_step(connection, lambda ch: (ch.confirm_delivery(), ch.tx_select())),
        "tx-then-confirm": new_channel_step(connection, lambda ch: (ch.tx_select(), ch.confirm_delivery())),
    }
