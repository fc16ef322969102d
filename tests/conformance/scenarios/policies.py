"""Policies and operator policies: the keys a policy can set on queues and exchanges, which of a
policy and a queue argument wins, priority between policies, apply-to, validation, and what the
management API shows as a queue's policy. Every policy lives in a vhost the run created."""

from __future__ import annotations

import time
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import (
    WAIT,
    Confirms,
    Context,
    new_channel_step,
    pump,
    quoted,
    ready,
    scenario,
    step,
    wait_ready,
)

QUEUE_POLICY_FIELDS = ("policy", "operator_policy", "effective_policy_definition")


def setup(ctx: Context) -> tuple[str, pika.BlockingConnection, BlockingChannel]:
    """A vhost of this run and the administrator's connection and channel in it."""
    vhost = ctx.vhost()
    connection = ctx.connect(vhost=vhost)
    return vhost, connection, connection.channel()


def policy(ctx: Context, vhost: str, name: str, suffix: str, definition: dict[str, Any], **kw: Any) -> Any:
    """Set policy `name` on the one queue (or exchange) named `suffix`; the reply's status."""
    reply = ctx.policy(vhost, ctx.name(name), f"^{ctx.name(suffix)}$", definition, **kw)
    if reply["status"] >= 300:
        raise AssertionError(f"policy {name} {definition}: {reply}")
    return reply["status"]


def shown(ctx: Context, vhost: str, queue: str) -> dict[str, Any]:
    """What GET /api/queues/vhost/name shows of the policies of a queue that has one. RabbitMQ
    fills these fields from statistics the queue emits now and then, so poll until they come."""
    deadline = time.monotonic() + WAIT
    while True:
        body = ctx.http("GET", f"queues/{quoted(vhost)}/{quoted(queue)}")["body"]
        if body.get("policy") or body.get("operator_policy") or time.monotonic() >= deadline:
            return {key: body.get(key) for key in QUEUE_POLICY_FIELDS}
        time.sleep(0.1)


def expired(ctx: Context, vhost: str, queue: str, timeout: float = WAIT) -> str:
    """Poll the management API until the queue is gone: "gone", else "still there". (Not with
    passive declares: a declare counts as using the queue, which restarts its expiry.)"""
    deadline = time.monotonic() + timeout
    while True:
        status = ctx.http("GET", f"queues/{quoted(vhost)}/{quoted(queue)}")["status"]
        if status == 404:
            return "gone"
        if time.monotonic() >= deadline:
            return f"still there ({status})"
        time.sleep(0.1)


def publish_confirmed(
    connection: pika.BlockingConnection, channel: BlockingChannel, queue: str, n: int
) -> Any:
    """Publish m1..mn to `queue` with confirms: {seq: ack|nack}."""
    confirms = Confirms(connection, channel)
    for i in range(1, n + 1):
        confirms.publish("", queue, f"m{i}".encode())
    return confirms.wait()


def death(channel: BlockingChannel, queue: str) -> Any:
    """The first message of a dead-letter queue: body and its x-death reason and queue."""
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    if method is None:
        return None
    deaths = (properties.headers or {}).get("x-death") or [{}]
    return {"body": body, "reason": deaths[0].get("reason"), "queue": deaths[0].get("queue")}


def dead_letter_target(ctx: Context, channel: BlockingChannel, suffix: str) -> tuple[str, str]:
    """A fanout dead-letter exchange and the queue behind it."""
    exchange, queue = ctx.name(suffix + "-x"), ctx.name(suffix + "-q")
    channel.exchange_declare(exchange, "fanout")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange)
    return exchange, queue


# --- one key at a time --------------------------------------------------------------------------


@scenario
def policy_max_length_and_overflow(ctx: Context) -> Any:
    """A policy's max-length and overflow=reject-publish: the third publish is nacked; the
    management API names the policy and shows its definition as the effective one."""
    vhost, connection, channel = setup(ctx)
    status = policy(ctx, vhost, "p", "q", {"max-length": 2, "overflow": "reject-publish"})
    q = ctx.name("q")
    channel.queue_declare(q)
    confirms = publish_confirmed(connection, connection.channel(), q, 3)
    return {"status": status, "confirms": confirms, "ready": ready(channel, q), "shown": shown(ctx, vhost, q)}


@scenario
def policy_message_ttl_and_dead_letter_exchange(ctx: Context) -> Any:
    """message-ttl 0 and dead-letter-exchange from a policy: a message nobody takes at once
    expires into the dead-letter exchange, with x-death reason expired."""
    vhost, _connection, channel = setup(ctx)
    dlx, dead = dead_letter_target(ctx, channel, "dead")
    policy(ctx, vhost, "p", "q", {"message-ttl": 0, "dead-letter-exchange": dlx})
    q = ctx.name("q")
    channel.queue_declare(q)
    channel.confirm_delivery()
    channel.basic_publish("", q, b"short-lived")
    return {
        "dead": wait_ready(channel, dead, 1),
        "source": ready(channel, q),
        "message": death(channel, dead),
        "shown": shown(ctx, vhost, q),
    }


@scenario
def policy_expires_deletes_unused_queue(ctx: Context) -> Any:
    """expires from a policy deletes the unused queue it matches; an unmatched one stays."""
    vhost, connection, channel = setup(ctx)
    policy(ctx, vhost, "p", "q", {"expires": 100})
    q, other = ctx.name("q"), ctx.name("other")
    channel.queue_declare(q)
    channel.queue_declare(other)
    return {
        "matched": expired(ctx, vhost, q),
        "unmatched": new_channel_step(connection, lambda ch: ch.queue_declare(other, passive=True)),
    }


def get_within(channel: BlockingChannel, queue: str, timeout: float) -> bytes | None:
    """The body of a message basic.get finds within `timeout` (a quorum queue requeues
    asynchronously), or None."""
    deadline = time.monotonic() + timeout
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return bytes(body)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


@scenario
def passive_declare_renews_policy_expiry(ctx: Context) -> Any:
    """A passive declare counts as using a queue: polled with them more often than its policy's
    expires, the queue lives on; left alone, it expires."""
    vhost, _connection, channel = setup(ctx)
    policy(ctx, vhost, "p", "q", {"expires": 300})
    q = ctx.name("q")
    channel.queue_declare(q)
    polled = step(lambda: [channel.queue_declare(q, passive=True) and time.sleep(0.05) for _ in range(30)])
    return {"while-polled": polled, "left-alone": expired(ctx, vhost, q)}


def reject_until_gone(channel: BlockingChannel, queue: str, limit: int = 30) -> list[bool]:
    """basic.get and reject(requeue) until the queue is empty: the redelivered flags seen.
    (basic.reject: 4.3 no longer counts a nack(requeue) toward the delivery limit.)"""
    seen: list[bool] = []
    for _ in range(limit):
        method, _properties, _body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            break
        seen.append(bool(method.redelivered))
        channel.basic_reject(method.delivery_tag, requeue=True)
    return seen


@scenario
def policy_delivery_limit_quorum(ctx: Context) -> Any:
    """delivery-limit from a policy on a quorum queue: after that many returns the message is
    dead-lettered (reason delivery_limit) instead of requeued."""
    vhost, _connection, channel = setup(ctx)
    dlx, dead = dead_letter_target(ctx, channel, "dead")
    policy(ctx, vhost, "p", "q", {"delivery-limit": 2, "dead-letter-exchange": dlx})
    q = ctx.name("q")
    channel.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"poison")
    deliveries = reject_until_gone(channel, q)
    return {
        "deliveries": deliveries,
        "dead": wait_ready(channel, dead, 1),
        "message": death(channel, dead),
    }


def _default_limit(deliveries: int) -> dict[str, Any]:
    return {"deliveries": deliveries, "left": b"poison" if deliveries == 30 else None}


@scenario(expect={"3.10": _default_limit(30), "4.0": _default_limit(21), "4.3": _default_limit(21)})
def quorum_default_delivery_limit(ctx: Context) -> Any:
    """A quorum queue without a delivery limit: 3.10 requeues forever; 4.x applies a default limit
    of 20 and drops the message (no dead-letter exchange) on the 21st return."""
    _vhost, _connection, channel = setup(ctx)
    q = ctx.name("q")
    channel.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"poison")
    deliveries = reject_until_gone(channel, q)
    return {"deliveries": len(deliveries), "left": get_within(channel, q, 1.0)}


# --- who wins -----------------------------------------------------------------------------------


@scenario
def policy_and_queue_argument_together(ctx: Context) -> Any:
    """A policy and a queue argument for the same thing: for max-length and message-ttl the lower
    value applies whichever sets it; for overflow and dead-letter-exchange the argument wins."""
    vhost, connection, channel = setup(ctx)
    dlx_a, dead_a = dead_letter_target(ctx, channel, "dead-a")
    dlx_b, dead_b = dead_letter_target(ctx, channel, "dead-b")
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("len-arg-higher", {"x-max-length": 5}, {"max-length": 2}),
        ("len-arg-lower", {"x-max-length": 2}, {"max-length": 5}),
        ("ttl-arg-zero", {"x-message-ttl": 0}, {"message-ttl": 600000}),
        ("ttl-policy-zero", {"x-message-ttl": 600000}, {"message-ttl": 0}),
        ("overflow", {"x-max-length": 1, "x-overflow": "reject-publish"}, {"overflow": "drop-head"}),
        ("overflow-policy", {"x-max-length": 1, "x-overflow": "drop-head"}, {"overflow": "reject-publish"}),
        ("dlx", {"x-dead-letter-exchange": dlx_a}, {"dead-letter-exchange": dlx_b}),
    ]
    out: dict[str, Any] = {}
    for label, arguments, definition in cases:
        policy(ctx, vhost, "p-" + label, label, definition)
        q = ctx.name(label)
        channel.queue_declare(q, arguments=arguments)
        confirms = publish_confirmed(connection, connection.channel(), q, 6 if "len" in label else 2)
        out[label] = {"confirms": confirms, "ready": wait_ready(channel, q, 0, timeout=0.3)}
    q = ctx.name("dlx")
    method, _p, _b = channel.basic_get(q, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    pump([connection], lambda: ready(channel, dead_a) + ready(channel, dead_b) > 0)
    out["dlx"]["dead-a"], out["dlx"]["dead-b"] = ready(channel, dead_a), ready(channel, dead_b)
    out["shown"] = shown(ctx, vhost, ctx.name("len-arg-higher"))
    return out


def _quorum_together(policy_expires_wins: bool) -> dict[str, Any]:
    return {
        "limit-arg-lower": 2,
        "limit-policy-lower": 2,
        "dead": 2,
        "control": "gone",
        "expires-arg-short": "still there (200)" if policy_expires_wins else "gone",
        "expires-policy-short": "gone",
        "classic-expires-arg-short": "gone",
    }


@scenario(
    timeout=30.0,
    expect={"3.10": _quorum_together(True), "4.0": _quorum_together(False), "4.3": _quorum_together(False)},
)
def policy_and_argument_on_quorum_queue(ctx: Context) -> Any:
    """On a quorum queue: the lower delivery limit of argument and policy applies; for expires
    3.10 lets the policy win over the argument, 4.x take the lower."""
    vhost, _connection, channel = setup(ctx)
    dlx, dead = dead_letter_target(ctx, channel, "dead")
    quorum = {"x-queue-type": "quorum"}
    out: dict[str, Any] = {}
    channel.confirm_delivery()
    for label, argument, definition in (
        ("limit-arg-lower", 1, 3),
        ("limit-policy-lower", 3, 1),
    ):
        policy(ctx, vhost, "p-" + label, label, {"delivery-limit": definition, "dead-letter-exchange": dlx})
        q = ctx.name(label)
        channel.queue_declare(q, durable=True, arguments={**quorum, "x-delivery-limit": argument})
        channel.basic_publish("", q, label.encode())
        out[label] = len(reject_until_gone(channel, q))
    out["dead"] = wait_ready(channel, dead, 2)
    expiring = (
        ("expires-arg-only", 300, None, quorum),
        ("expires-arg-short", 300, 600000, quorum),
        ("expires-policy-short", 600000, 300, quorum),
        ("classic-expires-arg-short", 300, 600000, {}),
    )
    for label, argument, definition, kind in expiring:
        if definition is not None:
            policy(ctx, vhost, "p-" + label, label, {"expires": definition})
        channel.queue_declare(ctx.name(label), durable=True, arguments={**kind, "x-expires": argument})
    # a quorum queue's expiry is checked now and then (seconds): judge by the one that has only
    # the short argument, then look at the others a moment later
    control = ctx.name("expires-arg-only")
    out["control"] = expired(ctx, vhost, control, timeout=12.0)
    time.sleep(1.0)
    for label, *_rest in expiring[1:]:
        out[label] = expired(ctx, vhost, ctx.name(label), timeout=0.0)
    return out


@scenario
def operator_policy_and_policy(ctx: Context) -> Any:
    """An operator policy and a policy on one queue both apply; for max-length the lower value
    wins either way; the API shows both names and the merged effective definition."""
    vhost, connection, channel = setup(ctx)
    out: dict[str, Any] = {}
    for label, operator_len, policy_len in (("op-lower", 3, 5), ("op-higher", 5, 3)):
        policy(ctx, vhost, "p-" + label, label, {"max-length": policy_len, "message-ttl": 600000})
        policy(ctx, vhost, "o-" + label, label, {"max-length": operator_len}, operator=True)
        q = ctx.name(label)
        channel.queue_declare(q)
        publish_confirmed(connection, connection.channel(), q, 6)
        out[label] = {"ready": ready(channel, q), "shown": shown(ctx, vhost, q)}
    out["operator-policy-bad-key"] = ctx.policy(
        vhost, ctx.name("o-bad"), "^none$", {"dead-letter-exchange": "x"}, operator=True
    )
    return out


@scenario
def policy_priority(ctx: Context) -> Any:
    """Of two policies matching a queue only the one with the higher priority applies; their
    definitions are not merged."""
    vhost, connection, channel = setup(ctx)
    pattern = f"^{ctx.name('q')}"
    for name, definition, priority in (
        ("low", {"max-length": 1}, 1),
        ("high", {"overflow": "reject-publish"}, 2),
    ):
        ctx.policy(vhost, ctx.name(name), pattern, definition, priority=priority)
    q = ctx.name("q")
    channel.queue_declare(q)
    confirms = publish_confirmed(connection, connection.channel(), q, 3)
    return {"confirms": confirms, "ready": ready(channel, q), "shown": shown(ctx, vhost, q)}


@scenario
def policy_apply_to(ctx: Context) -> Any:
    """apply-to limits a policy to queues or exchanges: an exchanges-only policy leaves a queue of
    the same pattern alone; alternate-exchange from a policy reroutes an exchange's unroutable
    messages."""
    vhost, connection, channel = setup(ctx)
    ae, ae_queue = dead_letter_target(ctx, channel, "ae")
    pattern = f"^{ctx.name('thing')}"
    ctx.policy(vhost, ctx.name("for-exchanges"), pattern, {"alternate-exchange": ae}, apply_to="exchanges")
    ctx.policy(vhost, ctx.name("for-queues"), f"{pattern}-q$", {"max-length": 1}, apply_to="queues")
    ctx.policy(vhost, ctx.name("x-only-len"), f"{pattern}-plain$", {"max-length": 1}, apply_to="exchanges")
    x, q, plain = ctx.name("thing-x"), ctx.name("thing-q"), ctx.name("thing-plain")
    channel.exchange_declare(x, "direct")
    channel.queue_declare(q)
    channel.queue_declare(plain)
    publish_confirmed(connection, connection.channel(), q, 3)
    publish_confirmed(connection, connection.channel(), plain, 3)
    confirming = connection.channel()
    confirming.confirm_delivery()
    confirming.basic_publish(x, "nowhere", b"unroutable")
    exchange = ctx.http("GET", f"exchanges/{quoted(vhost)}/{quoted(x)}")["body"]
    return {
        "queue": {"ready": ready(channel, q), "shown": shown(ctx, vhost, q)},
        "plain": ready(channel, plain),
        "exchange-policy": exchange.get("policy"),
        "alternate": ready(channel, ae_queue),
    }


def _apply_to_types(accepted: bool) -> dict[str, Any]:
    if not accepted:
        return {
            kind: {
                "status": 400,
                "body": {
                    "error": "bad_request",
                    "reason": f"Validation failed\n\napply-to '{kind}' unrecognised; "
                    "should be 'queues', 'exchanges' or 'all'\n",
                },
            }
            for kind in ("classic_queues", "quorum_queues")
        }
    return {"classic_queues": 201, "quorum_queues": 201, "classic-ready": 1, "quorum-ready": 2}


@scenario(expect={"3.10": _apply_to_types(False), "4.0": _apply_to_types(True), "4.3": _apply_to_types(True)})
def policy_apply_to_queue_types(ctx: Context) -> Any:
    """apply-to classic_queues and quorum_queues (3.12 and later): each reaches only its type."""
    vhost, connection, channel = setup(ctx)
    out: dict[str, Any] = {}
    for apply_to in ("classic_queues", "quorum_queues"):
        pattern = f"^{ctx.name('q')}"
        definition = {"max-length": 1 if apply_to == "classic_queues" else 2}
        reply = ctx.policy(vhost, ctx.name(apply_to), pattern, definition, apply_to=apply_to)
        out[apply_to] = reply["status"] if reply["status"] < 300 else reply
    if all(isinstance(v, int) for v in out.values()):
        classic, quorum = ctx.name("q-classic"), ctx.name("q-quorum")
        channel.queue_declare(classic)
        channel.queue_declare(quorum, durable=True, arguments={"x-queue-type": "quorum"})
        publish_confirmed(connection, connection.channel(), classic, 3)
        publish_confirmed(connection, connection.channel(), quorum, 3)
        out["classic-ready"] = ready(channel, classic)
        out["quorum-ready"] = wait_ready(channel, quorum, 2, timeout=1.0)
    return out


# --- validation -----------------------------------------------------------------------------------


@scenario
def policy_validation(ctx: Context) -> Any:
    """What the management API answers to policies it refuses (status and body) and to ones it
    takes, and GET of a policy."""
    vhost = ctx.vhost()
    out: dict[str, Any] = {}
    for label, pattern, definition, extra in (
        ("unknown-key", ".*", {"no-such-key": 1}, {}),
        ("bad-value", ".*", {"max-length": "ten"}, {}),
        ("negative", ".*", {"max-length": -1}, {}),
        ("bad-overflow", ".*", {"overflow": "explode"}, {}),
        ("empty-definition", ".*", {}, {}),
        ("bad-pattern", "(", {"max-length": 1}, {}),
        ("bad-apply-to", ".*", {"max-length": 1}, {"apply_to": "nothing"}),
        ("good", f"^{ctx.name('none')}$", {"max-length": 1}, {"priority": 7}),
    ):
        out[label] = ctx.policy(vhost, ctx.name(label), pattern, definition, **extra)
    got = ctx.http("GET", f"policies/{quoted(vhost)}/{quoted(ctx.name('good'))}")
    out["get"] = got
    out["get-missing"] = ctx.http("GET", f"policies/{quoted(vhost)}/{quoted(ctx.name('missing'))}")
    out["missing-vhost"] = ctx.http(
        "PUT",
        f"policies/{quoted(ctx.name('no-vh'))}/p",
        {"pattern": ".*", "definition": {"max-length": 1}},
    )
    return out


def _mirroring(accepted: bool, escaped: bool = False) -> dict[str, Any]:
    if accepted:
        return {"ha-mode": {"status": 201, "body": None}, "ha-sync-mode": {"status": 201, "body": None}}
    lt, gt = ("&lt;&lt;", "&gt;&gt;") if escaped else ("<<", ">>")
    mode, sync = f'{{{lt}"ha-mode"{gt},{lt}"all"{gt}}}', f'{{{lt}"ha-sync-mode"{gt},{lt}"automatic"{gt}}}'

    def refused(settings: str) -> dict[str, Any]:
        reason = f"Validation failed\n\n[{settings}] are not recognised policy settings\n"
        return {"status": 400, "body": {"error": "bad_request", "reason": reason}}

    return {"ha-mode": refused(mode), "ha-sync-mode": refused(f"{mode},{sync}")}


#: 3.10 and 4.0 HTML-escape << and >> in the reason; 4.3 does not
@scenario(expect={"3.10": _mirroring(True), "4.0": _mirroring(False, escaped=True), "4.3": _mirroring(False)})
def policy_classic_mirroring_keys(ctx: Context) -> Any:
    """Classic queue mirroring (ha-mode) is a policy key up to 3.x; 4.x removed mirroring and
    refuses the keys."""
    vhost = ctx.vhost()
    return {
        "ha-mode": ctx.policy(vhost, ctx.name("ha"), f"^{ctx.name('none')}$", {"ha-mode": "all"}),
        "ha-sync-mode": ctx.policy(
            vhost,
            ctx.name("ha-sync"),
            f"^{ctx.name('none')}$",
            {"ha-mode": "all", "ha-sync-mode": "automatic"},
        ),
    }


@scenario
def policy_change_reaches_existing_queues(ctx: Context) -> Any:
    """A policy set after a queue exists applies to it (a lower max-length drops the oldest at
    once); cleared, it no longer applies; a changed definition applies anew."""
    vhost, connection, channel = setup(ctx)
    q = ctx.name("q")
    channel.queue_declare(q)
    publish_confirmed(connection, connection.channel(), q, 5)
    out: dict[str, Any] = {"before": ready(channel, q)}
    policy(ctx, vhost, "p", "q", {"max-length": 2})
    out["after-set"] = wait_ready(channel, q, 2)
    out["kept"] = [bytes(b) for b in peek_all(channel, q)]
    ctx.admin_ok("DELETE", f"policies/{quoted(vhost)}/{quoted(ctx.name('p'))}")
    publish_confirmed(connection, connection.channel(), q, 3)
    out["after-clear"] = wait_ready(channel, q, 5)
    policy(ctx, vhost, "p", "q", {"max-length": 4})
    out["after-change"] = wait_ready(channel, q, 4)
    return out


def peek_all(channel: BlockingChannel, queue: str) -> list[bytes]:
    """Every ready body, taken without ack and then requeued (the queue is left as it was,
    modulo redelivered flags)."""
    bodies: list[bytes] = []
    tags: list[int] = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            break
        bodies.append(body)
        tags.append(method.delivery_tag)
    if tags:
        channel.basic_nack(tags[-1], multiple=True, requeue=True)
    return bodies


POLICY_KEYS: dict[str, Any] = {
    "max-length-bytes": 1000,
    "queue-mode": "lazy",
    "queue-version": 2,
    "max-in-memory-length": 10,
    "consumer-timeout": 60000,
    "overflow": "reject-publish-dlx",
    "dead-letter-strategy": "at-least-once",
    "queue-master-locator": "min-masters",
    "queue-leader-locator": "balanced",
    "single-active-consumer": True,
    "max-priority": 5,
    "stream-max-segment-size-bytes": 1000000,
    "max-age": "1h",
    "delivery-limit": 5,
    "message-ttl": 1000,
}


@scenario
def policy_keys_accepted(ctx: Context) -> Any:
    """Which definition keys a policy takes, one at a time: 201, or the 400 reason."""
    vhost = ctx.vhost()
    out: dict[str, Any] = {}
    for key, value in POLICY_KEYS.items():
        reply = ctx.policy(vhost, ctx.name(key), f"^{ctx.name('none')}$", {key: value})
        out[key] = reply["status"] if reply["status"] < 300 else reply["body"]
    return out


@scenario
def operator_policy_keys_accepted(ctx: Context) -> Any:
    """Which keys an operator policy takes (a short list), one at a time."""
    vhost = ctx.vhost()
    out: dict[str, Any] = {}
    for key, value in POLICY_KEYS.items():
        reply = ctx.policy(vhost, ctx.name(key), f"^{ctx.name('none')}$", {key: value}, operator=True)
        out[key] = reply["status"] if reply["status"] < 300 else reply["body"]
    return out
