"""Consumer timeout with each broker's own settings (a scenario cannot change them; the runtime
settings are compared in tests/conformance/test_consumer_timeout.py): what the per-queue
`x-consumer-timeout` argument is worth in each version, and that RabbitMQ checks it only on the
channel's tick (once a minute), so a short timeout does not fire on time."""

from __future__ import annotations

from typing import Any

from tests.conformance.harness import Context, consume, pump, scenario, step, wait_ready


@scenario
def queue_consumer_timeout_waits_for_the_channel_tick(ctx: Context) -> Any:
    """A classic queue with `x-consumer-timeout: 1000`: 3.10 ignores the argument, 4.0 honours it
    but checks only on the channel's 60 s tick (the channel is still open 2.5 s on, the message
    unacked), 4.3 refuses it (406 'invalid arg ... rabbit_classic_queue')."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    declared = step(lambda: channel.queue_declare(queue, arguments={"x-consumer-timeout": 1000}))
    if declared != "ok":
        return {"declare": declared}
    channel.basic_publish("", queue, b"m1")
    inbox = consume(channel, queue)
    pump([connection], lambda: len(inbox) >= 1)
    pump([connection], lambda: not channel.is_open, timeout=2.5)
    return {"declare": declared, "delivered": len(inbox), "channel_open": channel.is_open}


@scenario
def consumer_argument_x_consumer_timeout(ctx: Context) -> Any:
    """`x-consumer-timeout` in basic.consume's arguments: 3.10 and 4.0 accept and ignore it (no
    close after 2.5 s, which a 1 s queue timeout would not give either: the tick), 4.3 refuses it
    on a classic queue with the queue's 'invalid arg' text."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.basic_publish("", queue, b"m1")
    inbox: list[Any] = []
    consumed = step(
        lambda: channel.basic_consume(
            queue, lambda *delivery: inbox.append(delivery), arguments={"x-consumer-timeout": 1000}
        )
    )
    if consumed != "ok":
        return {"consume": consumed, "ready": wait_ready(ctx.channel()[1], queue, 1)}
    pump([connection], lambda: len(inbox) >= 1)
    return {"consume": consumed, "delivered": len(inbox), "channel_open": channel.is_open}
