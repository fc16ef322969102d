"""What a broker keeps when it stops and starts again: cleanly (`rabbitmqctl stop`, `docker
stop`) and by SIGKILL (a crash). Each scenario builds one of everything, restarts the broker
once, and reports what came back: which exchanges, queues and bindings, which messages, in
which order, with which flags and headers. The real brokers are restarted through their CI
scripts (`.ci/brokers/*.sh restart | kill`), the simulator through its handle."""

from __future__ import annotations

import time
from typing import Any

import pika
import pika.exceptions as px

from tests.conformance.harness import Context, props, scenario, step

PERSISTENT = pika.BasicProperties(delivery_mode=2, headers={"kind": "persistent", "n": {"nested": [1, "a"]}})
TRANSIENT = pika.BasicProperties(delivery_mode=1, headers={"kind": "transient"})
#: How long a real broker may take to serve again after it started (quorum queues elect a leader).
RECOVERY = 30.0


#: What RabbitMQ writes lazily is lost by a kill -9 that comes at once: a queue declared less than
#: about a second before, confirmed messages and all (docs/restarts.md), and acks (an acked message
#: comes back, at-least-once); the simulator commits both before it answers. The crash scenario
#: waits this long before the kill, so that it compares what RabbitMQ promises.
SETTLE = 2.0


def _build(ctx: Context, kill: bool) -> dict[str, str]:
    """One of each thing a restart may keep or lose, with messages in several states."""
    connection, channel = ctx.channel()
    names = {
        "durable_exchange": ctx.exchange("dx"),
        "transient_exchange": ctx.exchange("tx"),
        "durable_target_exchange": ctx.exchange("dx2"),
        "classic": ctx.queue("classic"),
        "quorum": ctx.queue("quorum"),
        "with_arguments": ctx.queue("args"),
        "auto_delete": ctx.queue("autodel"),
    }
    channel.exchange_declare(names["durable_exchange"], "direct", durable=True)
    channel.exchange_declare(names["transient_exchange"], "fanout", durable=False)
    channel.exchange_declare(names["durable_target_exchange"], "fanout", durable=True)
    channel.queue_declare(names["classic"], durable=True)
    channel.queue_declare(names["quorum"], durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare(
        names["with_arguments"],
        durable=True,
        arguments={"x-max-length": 100, "x-dead-letter-exchange": "dlx"},
    )
    channel.queue_declare(names["auto_delete"], durable=True, auto_delete=True)
    channel.queue_bind(names["classic"], names["durable_exchange"], "k")
    channel.queue_bind(names["classic"], names["transient_exchange"])
    channel.exchange_bind(names["durable_target_exchange"], names["durable_exchange"], "e2e")
    channel.queue_bind(names["with_arguments"], names["durable_target_exchange"])
    channel.confirm_delivery()
    for n in range(1, 6):  # classic: persistent and transient, alternately
        channel.basic_publish(
            names["durable_exchange"], "k", f"c{n}".encode(), PERSISTENT if n % 2 else TRANSIENT
        )
    channel.basic_publish(names["durable_exchange"], "k", b"c6", PERSISTENT)
    for n, properties in enumerate([TRANSIENT, PERSISTENT, PERSISTENT], start=1):
        channel.basic_publish("", names["quorum"], f"q{n}".encode(), properties)
    channel.basic_publish(names["durable_exchange"], "e2e", b"a1", PERSISTENT)
    channel.basic_publish("", names["auto_delete"], b"d1", PERSISTENT)
    # the classic queue's c1 delivered and acked, c3 delivered and left unacked; q1 unacked
    holder = ctx.connect().channel()
    first = holder.basic_get(names["classic"], auto_ack=False)[0]
    assert first is not None
    holder.basic_ack(first.delivery_tag)
    holder.basic_get(names["classic"], auto_ack=False)  # c2 (transient), unacked
    holder.basic_get(names["classic"], auto_ack=False)  # c3, unacked
    holder.basic_get(names["quorum"], auto_ack=False)  # q1, unacked
    holder.basic_qos(prefetch_count=0)  # a round trip: every get has been answered
    del connection
    if kill:
        time.sleep(SETTLE)
    return names


def _passive(ctx: Context, kind: str, name: str) -> Any:
    """Whether `name` exists after the restart (and its ready count), retried while a real broker
    is still recovering its queues."""
    deadline = time.monotonic() + RECOVERY
    while True:
        channel = ctx.connect().channel()
        try:
            if kind == "exchange":
                channel.exchange_declare(name, passive=True)
                return "exists"
            return channel.queue_declare(name, passive=True).method.message_count
        except px.ChannelClosedByBroker as refusal:
            if refusal.reply_code == 404 or time.monotonic() > deadline:
                return ("channel-closed", refusal.reply_code)
            time.sleep(0.5)


def _contents(ctx: Context, queue: str) -> list[dict[str, Any]]:
    """Every ready message. Right after a crash a real quorum queue may still be recovering:
    its basic.get then fails with 541 "Cannot get a message ... timeout" (nothing taken), so
    that is retried on a new connection."""
    channel = ctx.connect().channel()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + RECOVERY
    for _ in range(20):
        try:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
        except px.ConnectionClosedByBroker as refusal:
            if refusal.reply_code != 541 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            channel = ctx.connect().channel()
            continue
        if method is None:
            break
        seen = props(properties)
        out.append({"body": body, "redelivered": method.redelivered, **seen})
    return out


def _survivors(ctx: Context, kill: bool) -> dict[str, Any]:
    names = _build(ctx, kill)
    ctx.restart(kill=kill)
    ctx.connections.clear()  # they went with the broker
    outcome: dict[str, Any] = {}
    for key in ("durable_exchange", "transient_exchange", "durable_target_exchange"):
        outcome[key] = _passive(ctx, "exchange", names[key])
    for key in ("classic", "quorum", "with_arguments", "auto_delete"):
        outcome[key] = _passive(ctx, "queue", names[key])
    channel = ctx.connect().channel()
    channel.confirm_delivery()
    outcome["bindings kept"] = {
        "durable exchange -> queue": step(
            lambda: channel.basic_publish(names["durable_exchange"], "k", b"after", mandatory=True)
        ),
        "durable exchange -> exchange -> queue": step(
            lambda: channel.basic_publish(names["durable_exchange"], "e2e", b"after-e2e", mandatory=True)
        ),
    }
    for key in ("classic", "quorum", "with_arguments", "auto_delete"):
        if isinstance(outcome[key], int):
            outcome[f"{key} messages"] = _contents(ctx, names[key])
    return outcome


@scenario(timeout=120)
def what_a_clean_restart_keeps(ctx: Context) -> Any:
    """After a clean stop and start: durable exchanges, queues and bindings, persistent messages
    of classic queues and all of a quorum queue's, unacked ones back in their places, flagged
    redelivered; transient exchanges and messages gone."""
    return _survivors(ctx, kill=False)


@scenario(timeout=120)
def what_a_crash_keeps(ctx: Context) -> Any:
    """After SIGKILL and a start: every confirmed persistent message is back, as after a clean
    restart."""
    return _survivors(ctx, kill=True)
