"""Routing: direct, fanout and topic exchanges, the default exchange, exchange-to-exchange
bindings and alternate exchanges. Publishes use confirms, so every queue has settled before it is
read with basic.get."""

from __future__ import annotations

from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import (
    Context,
    bodies,
    fence,
    fenced,
    new_channel_step,
    publish_step,
    scenario,
    step,
)


def routing_table(ctx: Context, kind: str, patterns: list[str], keys: list[str]) -> dict[str, Any]:
    """One queue per binding pattern on a fresh exchange of `kind`; one message per key (the body
    is the key). For each key, the patterns whose queue got it."""
    _connection, channel = ctx.channel()
    exchange = ctx.exchange("x")
    channel.exchange_declare(exchange, kind)
    queues = {}
    for i, pattern in enumerate(patterns):
        queues[pattern] = ctx.queue(f"q{i}")
        channel.queue_declare(queues[pattern])
        channel.queue_bind(queues[pattern], exchange, pattern)
    channel.confirm_delivery()
    for key in keys:
        channel.basic_publish(exchange, key, key.encode())
    got = {pattern: bodies(channel, queue) for pattern, queue in queues.items()}
    return {key: [p for p in patterns if key.encode() in got[p]] for key in keys} | {
        "copies": {p: len(got[p]) for p in patterns}
    }


# --- direct and fanout ------------------------------------------------------------------------


@scenario
def direct_routes_by_exact_key(ctx: Context) -> Any:
    """Direct: the key must equal the binding key exactly (case and empty key included)."""
    return routing_table(ctx, "direct", ["a", "b", "", "A", "a.b"], ["a", "b", "", "A", "a.b", "c", "a.*"])


@scenario
def direct_queue_bound_twice_gets_one_copy(ctx: Context) -> Any:
    """A queue bound by several keys, or by one key twice, gets one copy per matching message."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    for key in ("k1", "k2", "k1"):
        channel.queue_bind(queue, exchange, key)
    channel.confirm_delivery()
    for key in ("k1", "k2", "k3"):
        channel.basic_publish(exchange, key, key.encode())
    return bodies(channel, queue)


@scenario
def fanout_ignores_routing_key(ctx: Context) -> Any:
    """Fanout: every bound queue gets every message, whatever the binding or routing key."""
    return routing_table(ctx, "fanout", ["", "a", "#"], ["", "a", "zzz", "a.b.c"])


@scenario
def builtin_exchanges_route(ctx: Context) -> Any:
    """amq.direct, amq.fanout, amq.topic, amq.headers and amq.match exist and route by their type."""
    _connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.queue_bind(queue, "amq.direct", "k")
    channel.queue_bind(queue, "amq.fanout")
    channel.queue_bind(queue, "amq.topic", "k.#")
    channel.queue_bind(queue, "amq.headers", arguments={"h": "1"})
    channel.queue_bind(queue, "amq.match", arguments={"x-match": "any", "m": "1"})
    channel.confirm_delivery()
    sends: list[tuple[str, str, bytes, dict[str, Any] | None]] = [
        ("amq.direct", "k", b"direct", None),
        ("amq.direct", "other", b"direct-miss", None),
        ("amq.fanout", "whatever", b"fanout", None),
        ("amq.topic", "k.x.y", b"topic", None),
        ("amq.topic", "kk", b"topic-miss", None),
        ("amq.headers", "", b"headers", {"h": "1"}),
        ("amq.headers", "", b"headers-miss", {"h": "2"}),
        ("amq.match", "", b"match", {"m": "1"}),
    ]
    for exchange, key, body, headers in sends:
        properties = pika.BasicProperties(headers=headers) if headers else None
        channel.basic_publish(exchange, key, body, properties)
    return bodies(channel, queue)  # deleting the queue removes its bindings to the amq.* exchanges


# --- topic ------------------------------------------------------------------------------------


@scenario
def topic_star_matches_exactly_one_word(ctx: Context) -> Any:
    """`*` is exactly one word: never zero, and an empty word between dots counts as a word."""
    return routing_table(
        ctx, "topic", ["*", "a.*", "*.b", "*.*"], ["", "a", "a.b", "a.b.c", ".", "a.", ".b", "b.a"]
    )


@scenario
def topic_hash_matches_zero_or_more_words(ctx: Context) -> Any:
    """`#` matches zero or more words; `#` alone matches everything, the empty key included."""
    return routing_table(
        ctx, "topic", ["#", "a.#", "#.b", "#.#"], ["", "a", "b", "a.b", "a.x.b", "x.a", ".", "a.b.c"]
    )


@scenario
def topic_hash_between_words(ctx: Context) -> Any:
    """`a.#.b` matches `a.b` (zero words between), `a..b`, and any depth, but not `ab` or `a.b.c`."""
    return routing_table(
        ctx,
        "topic",
        ["a.#.b"],
        ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.b.c", "ab", "a", "b", "x.a.b", "a.b."],
    )


@scenario
def topic_multiple_hashes(ctx: Context) -> Any:
    """Several `#` in one pattern still match as few words as possible, zero included."""
    return routing_table(
        ctx,
        "topic",
        ["#.a.#", "#.#.#", "a.#.#.b", "#.a.#.b.#"],
        ["", "a", "a.b", "x.a.y.b.z", "b.a", "x", "a.x.b", "a.a"],
    )


@scenario
def topic_binding_key_hash_limit(ctx: Context) -> Any:
    """4.3 refuses a topic binding key with more than two `#` words (406, on queue.bind and
    exchange.bind alike; `a#` is a plain word); earlier versions take any number, and other
    exchange types never count them."""
    connection, channel = ctx.channel()
    topic, direct, target, queue = ctx.exchange(), ctx.exchange("direct"), ctx.exchange("target"), ctx.queue()
    channel.exchange_declare(topic, "topic")
    channel.exchange_declare(direct, "direct")
    channel.exchange_declare(target, "fanout")
    channel.queue_declare(queue)
    return {
        key: new_channel_step(connection, lambda ch, key=key: ch.queue_bind(queue, topic, key))
        for key in ("#.a.#", "a#.#.#", "#.#.#", "a.#.b.#.c.#.d")
    } | {
        "exchange-bind #.*.#.#": new_channel_step(
            connection, lambda ch: ch.exchange_bind(target, topic, "#.*.#.#")
        ),
        "direct #.#.#": new_channel_step(connection, lambda ch: ch.queue_bind(queue, direct, "#.#.#")),
    }


@scenario
def topic_empty_words(ctx: Context) -> Any:
    """Empty words (`a..b`, `.`, `a.`) are words: literal, matched by `*` and by `#`."""
    return routing_table(
        ctx,
        "topic",
        ["a..b", "a.*.b", "a.#", "*.*.*", "#.b", ".", "*.*", "a."],
        ["a..b", "a.b", "a...b", "..", ".", "a.", "", ".b"],
    )


@scenario
def topic_empty_binding_key(ctx: Context) -> Any:
    """The binding key `""` matches only the empty routing key."""
    return routing_table(ctx, "topic", ["", "*", "#"], ["", "a", ".", "#", "*"])


@scenario
def topic_wildcards_inside_words_are_literal(ctx: Context) -> Any:
    """`*` and `#` are wildcards only as whole words; inside a word they are ordinary characters."""
    return routing_table(
        ctx,
        "topic",
        ["a*.b", "a#", "*a", "a.b*", "#a"],
        ["a*.b", "ab.b", "a#", "ax", "xa", "*a", "a.b*", "a.bc", "#a", "a"],
    )


@scenario
def topic_star_and_hash_combined(ctx: Context) -> Any:
    """`*.#` needs at least one word, as do `#.*` and `#.*.#`; `*.#.*` needs two."""
    return routing_table(ctx, "topic", ["*.#", "#.*", "*.#.*", "#.*.#"], ["", "a", "a.b", "a.b.c", "."])


@scenario
def topic_one_copy_per_queue(ctx: Context) -> Any:
    """A queue matched by several of its bindings gets one copy; matching is case-sensitive."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "topic")
    channel.queue_declare(queue)
    for pattern in ("a.*", "*.b", "#", "a.b", "a.#.b"):
        channel.queue_bind(queue, exchange, pattern)
    channel.confirm_delivery()
    for key in ("a.b", "A.B", "x"):
        channel.basic_publish(exchange, key, key.encode())
    return bodies(channel, queue)


@scenario
def topic_long_keys(ctx: Context) -> Any:
    """Deep keys and a 255-byte key route like short ones."""
    long_key = ".".join(["w"] * 127) + ".z"  # 255 bytes
    return routing_table(
        ctx,
        "topic",
        ["a.#.j", "#.j", "*.*.*.*.*.*.*.*.*.*", "#.z", "w.*.#"],
        ["a.b.c.d.e.f.g.h.i.j", long_key, "w.z"],
    )


@scenario
def topic_unbind_one_pattern(ctx: Context) -> Any:
    """Unbinding one pattern leaves the queue's other bindings routing."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "topic")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "a.*")
    channel.queue_bind(queue, exchange, "#.b")
    channel.queue_unbind(queue, exchange, "a.*")
    channel.queue_unbind(queue, exchange, "never.bound")
    channel.confirm_delivery()
    for key in ("a.x", "x.b", "a.b"):
        channel.basic_publish(exchange, key, key.encode())
    return bodies(channel, queue)


# --- the default exchange ---------------------------------------------------------------------


@scenario
def default_exchange_routes_by_queue_name(ctx: Context) -> Any:
    """The default exchange delivers to the queue named by the key; other keys are dropped."""
    _connection, channel = ctx.channel()
    queue, other = ctx.queue("a"), ctx.queue("b")
    channel.queue_declare(queue)
    channel.queue_declare(other)
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"to-a")
    channel.basic_publish("", other, b"to-b")
    channel.basic_publish("", ctx.name("missing"), b"nowhere")
    channel.basic_publish("", queue.upper(), b"wrong-case")
    return {"a": bodies(channel, queue), "b": bodies(channel, other)}


@scenario
def default_exchange_refuses_bind_and_unbind(ctx: Context) -> Any:
    """The default exchange cannot be bound to, unbound from, or used as an e2e source."""
    connection, channel = ctx.channel()
    queue = ctx.queue()
    channel.queue_declare(queue)
    results = {}
    for label, op in {
        "bind": lambda ch: ch.queue_bind(queue, "", queue),
        "bind-no-key": lambda ch: ch.queue_bind(queue, ""),
        "unbind": lambda ch: ch.queue_unbind(queue, "", queue),
        "e2e-source": lambda ch: ch.exchange_bind("amq.fanout", ""),
        "e2e-destination": lambda ch: ch.exchange_bind("", "amq.fanout"),
    }.items():
        ch = connection.channel()
        results[label] = step(lambda ch=ch, op=op: op(ch))
        if ch.is_open:
            ch.close()
    return results


@scenario
def default_exchange_cannot_be_declared_or_deleted(ctx: Context) -> Any:
    """Declaring (even passively) or deleting `""` is 403; `amq.default` is not a name for it,
    so publishing to it (or to any missing `amq.*` exchange) is 404."""
    connection, _channel = ctx.channel()
    results = {}
    for label, op in {
        "declare": lambda ch: ch.exchange_declare("", "direct"),
        "declare-passive": lambda ch: ch.exchange_declare("", passive=True),
        "delete": lambda ch: ch.exchange_delete(""),
        "declare-amq.default-passive": lambda ch: ch.exchange_declare("amq.default", passive=True),
        "publish-amq.default": lambda ch: fenced(ch, lambda: ch.basic_publish("amq.default", "x", b"m"))(),
        "publish-amq.missing": lambda ch: fenced(ch, lambda: ch.basic_publish("amq.missing", "x", b"m"))(),
    }.items():
        ch = connection.channel()
        results[label] = step(lambda ch=ch, op=op: op(ch))
        if ch.is_open:
            ch.close()
    return results


# --- exchange to exchange ---------------------------------------------------------------------


def declare_all(channel: BlockingChannel, exchanges: dict[str, str]) -> None:
    for name, kind in exchanges.items():
        channel.exchange_declare(name, kind)


@scenario
def e2e_binding_chain(ctx: Context) -> Any:
    """direct → fanout → topic: the routing key is kept along the chain, each hop filters."""
    _connection, channel = ctx.channel()
    x1, x2, x3 = ctx.exchange("d"), ctx.exchange("f"), ctx.exchange("t")
    declare_all(channel, {x1: "direct", x2: "fanout", x3: "topic"})
    channel.exchange_bind(x2, x1, "k.a")
    channel.exchange_bind(x2, x1, "k.b")
    channel.exchange_bind(x3, x2)
    qf, qt = ctx.queue("f"), ctx.queue("t")
    channel.queue_declare(qf)
    channel.queue_declare(qt)
    channel.queue_bind(qf, x2)
    channel.queue_bind(qt, x3, "*.a")
    channel.confirm_delivery()
    for key in ("k.a", "k.b", "k.c"):
        channel.basic_publish(x1, key, key.encode())
    return {"fanout-queue": bodies(channel, qf), "topic-queue": bodies(channel, qt)}


@scenario
def e2e_two_paths_one_copy(ctx: Context) -> Any:
    """A queue reachable over two paths (direct and through another exchange) gets one copy."""
    _connection, channel = ctx.channel()
    x1, x2 = ctx.exchange("a"), ctx.exchange("b")
    declare_all(channel, {x1: "fanout", x2: "fanout"})
    channel.exchange_bind(x2, x1)
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.queue_bind(queue, x1)
    channel.queue_bind(queue, x2)
    channel.confirm_delivery()
    channel.basic_publish(x1, "", b"via-a")
    channel.basic_publish(x2, "", b"via-b")
    return bodies(channel, queue)


@scenario
def e2e_cycle_one_copy(ctx: Context) -> Any:
    """Exchanges bound in a cycle neither loop nor duplicate: each queue gets one copy."""
    _connection, channel = ctx.channel()
    x1, x2, x3 = ctx.exchange("a"), ctx.exchange("b"), ctx.exchange("c")
    declare_all(channel, {x1: "fanout", x2: "fanout", x3: "topic"})
    channel.exchange_bind(x2, x1)
    channel.exchange_bind(x3, x2)
    channel.exchange_bind(x1, x3, "#")
    q1, q3 = ctx.queue("1"), ctx.queue("3")
    channel.queue_declare(q1)
    channel.queue_declare(q3)
    channel.queue_bind(q1, x1)
    channel.queue_bind(q3, x3, "#")
    channel.confirm_delivery()
    channel.basic_publish(x2, "k", b"from-b")
    return {"q1": bodies(channel, q1), "q3": bodies(channel, q3)}


@scenario
def e2e_unbind_and_self_binding(ctx: Context) -> Any:
    """exchange.unbind stops an e2e route; an exchange bound to itself delivers once."""
    _connection, channel = ctx.channel()
    x1, x2 = ctx.exchange("a"), ctx.exchange("b")
    declare_all(channel, {x1: "direct", x2: "fanout"})
    channel.exchange_bind(x2, x1, "k")
    channel.exchange_bind(x1, x1, "k")
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.queue_bind(queue, x2)
    channel.queue_bind(queue, x1, "k")
    channel.confirm_delivery()
    channel.basic_publish(x1, "k", b"bound")
    channel.exchange_unbind(x2, x1, "k")
    channel.queue_unbind(queue, x1, "k")
    channel.basic_publish(x1, "k", b"unbound")
    return bodies(channel, queue)


@scenario
def e2e_topic_into_headers(ctx: Context) -> Any:
    """A topic exchange feeding a headers exchange: both filters apply."""
    _connection, channel = ctx.channel()
    xt, xh = ctx.exchange("t"), ctx.exchange("h")
    declare_all(channel, {xt: "topic", xh: "headers"})
    channel.exchange_bind(xh, xt, "log.#")
    queue = ctx.queue()
    channel.queue_declare(queue)
    channel.queue_bind(queue, xh, arguments={"x-match": "all", "level": "error"})
    channel.confirm_delivery()
    for key, level in (("log.app", "error"), ("log.app", "info"), ("audit", "error")):
        channel.basic_publish(
            xt, key, f"{key}/{level}".encode(), pika.BasicProperties(headers={"level": level})
        )
    return bodies(channel, queue)


# --- alternate exchanges ----------------------------------------------------------------------


@scenario
def alternate_exchange_gets_unroutable(ctx: Context) -> Any:
    """Messages the exchange cannot route go to its alternate exchange; routed ones do not."""
    _connection, channel = ctx.channel()
    exchange, alternate = ctx.exchange("x"), ctx.exchange("ae")
    channel.exchange_declare(alternate, "fanout")
    channel.exchange_declare(exchange, "direct", arguments={"alternate-exchange": alternate})
    routed, spill = ctx.queue("routed"), ctx.queue("spill")
    channel.queue_declare(routed)
    channel.queue_declare(spill)
    channel.queue_bind(routed, exchange, "known")
    channel.queue_bind(spill, alternate)
    channel.confirm_delivery()
    for key in ("known", "unknown", "other"):
        channel.basic_publish(exchange, key, key.encode())
    return {"routed": bodies(channel, routed), "alternate": bodies(channel, spill)}


@scenario
def alternate_exchange_saves_mandatory_message(ctx: Context) -> Any:
    """A mandatory message routed by the alternate exchange is not returned."""
    connection, channel = ctx.channel()
    exchange, alternate = ctx.exchange("x"), ctx.exchange("ae")
    channel.exchange_declare(alternate, "fanout")
    channel.exchange_declare(exchange, "direct", arguments={"alternate-exchange": alternate})
    spill = ctx.queue("spill")
    channel.queue_declare(spill)
    channel.queue_bind(spill, alternate)
    returned: list[bytes] = []
    channel.add_on_return_callback(lambda _ch, _m, _p, body: returned.append(body))
    channel.basic_publish(exchange, "unknown", b"saved", mandatory=True)
    fence(channel)
    connection.process_data_events(time_limit=0)
    return {"returned": returned, "alternate": bodies(channel, spill)}


@scenario
def alternate_exchange_missing_means_return(ctx: Context) -> Any:
    """An alternate exchange that does not exist routes nothing: mandatory messages come back 312."""
    _connection, channel = ctx.channel()
    exchange = ctx.exchange("x")
    channel.exchange_declare(exchange, "direct", arguments={"alternate-exchange": ctx.name("nope")})
    channel.confirm_delivery()
    return {
        "mandatory": step(lambda: channel.basic_publish(exchange, "k", b"lost", mandatory=True)),
        "plain": step(lambda: channel.basic_publish(exchange, "k", b"dropped")),
    }


@scenario
def alternate_exchange_chain(ctx: Context) -> Any:
    """An alternate exchange with its own alternate: the message walks the chain until routed."""
    _connection, channel = ctx.channel()
    x, ae1, ae2 = ctx.exchange("x"), ctx.exchange("ae1"), ctx.exchange("ae2")
    channel.exchange_declare(ae2, "fanout")
    channel.exchange_declare(ae1, "direct", arguments={"alternate-exchange": ae2})
    channel.exchange_declare(x, "direct", arguments={"alternate-exchange": ae1})
    q1, q2 = ctx.queue("1"), ctx.queue("2")
    channel.queue_declare(q1)
    channel.queue_declare(q2)
    channel.queue_bind(q1, ae1, "k1")
    channel.queue_bind(q2, ae2)
    channel.confirm_delivery()
    for key in ("k1", "k2"):
        channel.basic_publish(x, key, key.encode())
    return {"ae1": bodies(channel, q1), "ae2": bodies(channel, q2)}


# --- mandatory --------------------------------------------------------------------------------


@scenario
def mandatory_unroutable_is_returned(ctx: Context) -> Any:
    """Without confirms, an unroutable mandatory message comes back as basic.return 312 NO_ROUTE
    with its body, exchange, key and properties; a routable or non-mandatory one does not."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "ok")
    returned: list[Any] = []

    def on_return(_ch: Any, method: Any, properties: Any, body: bytes) -> None:
        returned.append(
            {
                "code": method.reply_code,
                "text": method.reply_text,
                "exchange": method.exchange,
                "key": method.routing_key,
                "body": body,
                "headers": properties.headers,
                "correlation_id": properties.correlation_id,
            }
        )

    channel.add_on_return_callback(on_return)
    properties = pika.BasicProperties(headers={"h": 1}, correlation_id="c1")
    channel.basic_publish(exchange, "nope", b"unroutable", properties, mandatory=True)
    channel.basic_publish(exchange, "nope", b"dropped")
    channel.basic_publish(exchange, "ok", b"routed", mandatory=True)
    channel.basic_publish("", ctx.name("missing"), b"default-unroutable", mandatory=True)
    fence(channel)
    connection.process_data_events(time_limit=0)
    return {"returned": returned, "queue": bodies(channel, queue)}


@scenario
def publish_after_queue_deleted_is_dropped(ctx: Context) -> Any:
    """Deleting a queue removes its bindings; declaring it again does not bring them back."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "fanout")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange)
    channel.queue_delete(queue)
    channel.queue_declare(queue)
    channel.confirm_delivery()
    result = step(lambda: channel.basic_publish(exchange, "", b"m", mandatory=True))
    return {"publish": result, "queue": bodies(channel, queue)}


@scenario
def publish_step_to_missing_exchange(ctx: Context) -> Any:
    """Publishing to a missing exchange closes the channel with 404 (seen at the next sync call)."""
    _connection, channel = ctx.channel()
    return publish_step(channel, ctx.name("missing"), "k")


@scenario
def bindings_identified_by_arguments_on_direct(ctx: Context) -> Any:
    """Binding arguments are part of a binding's identity, even on a direct exchange: unbinding
    without them leaves the binding in place."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange(), ctx.queue()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "k", arguments={"x-tag": "a"})
    channel.queue_bind(queue, exchange, "k", arguments={"x-tag": "b"})
    channel.confirm_delivery()
    channel.basic_publish(exchange, "k", b"two-bindings")
    channel.queue_unbind(queue, exchange, "k")
    channel.basic_publish(exchange, "k", b"after-unbind-without-args")
    channel.queue_unbind(queue, exchange, "k", arguments={"x-tag": "a"})
    channel.queue_unbind(queue, exchange, "k", arguments={"x-tag": "b"})
    channel.basic_publish(exchange, "k", b"after-unbind-with-args")
    return bodies(channel, queue)


@scenario
def deleting_an_exchange_removes_its_bindings(ctx: Context) -> Any:
    """Deleting an exchange removes bindings where it is source or destination; declaring it
    again does not restore them."""
    _connection, channel = ctx.channel()
    front, middle, queue = ctx.exchange("front"), ctx.exchange("middle"), ctx.queue()
    channel.exchange_declare(front, "fanout")
    channel.exchange_declare(middle, "fanout")
    channel.exchange_bind(middle, front)
    channel.queue_declare(queue)
    channel.queue_bind(queue, middle)
    channel.confirm_delivery()
    channel.basic_publish(front, "", b"before")
    channel.exchange_delete(middle)
    channel.exchange_declare(middle, "fanout")
    channel.basic_publish(front, "", b"after-front")
    channel.basic_publish(middle, "", b"after-middle")
    return bodies(channel, queue)


@scenario
def mandatory_through_exchange_chain(ctx: Context) -> Any:
    """A mandatory message routed to an exchange that reaches no queue is returned; one that
    reaches a queue through the chain is not."""
    _connection, channel = ctx.channel()
    front, back, queue = ctx.exchange("front"), ctx.exchange("back"), ctx.queue()
    channel.exchange_declare(front, "direct")
    channel.exchange_declare(back, "direct")
    channel.exchange_bind(back, front, "a")
    channel.exchange_bind(back, front, "b")
    channel.queue_declare(queue)
    channel.queue_bind(queue, back, "a")
    channel.confirm_delivery()
    return {
        "reaches-queue": step(lambda: channel.basic_publish(front, "a", b"a", mandatory=True)),
        "stops-at-exchange": step(lambda: channel.basic_publish(front, "b", b"b", mandatory=True)),
        "queue": bodies(channel, queue),
    }


@scenario
def alternate_exchange_deleted(ctx: Context) -> Any:
    """When the alternate exchange is deleted, unroutable messages are dropped or returned."""
    _connection, channel = ctx.channel()
    exchange, alternate = ctx.exchange("x"), ctx.exchange("ae")
    channel.exchange_declare(alternate, "fanout")
    channel.exchange_declare(exchange, "direct", arguments={"alternate-exchange": alternate})
    channel.exchange_delete(alternate)
    channel.confirm_delivery()
    return step(lambda: channel.basic_publish(exchange, "k", b"m", mandatory=True))
