"""The headers exchange: x-match all / any / all-with-x / any-with-x, typed value comparison,
void binding values, and how bindings with arguments are identified."""

from __future__ import annotations

import decimal
from typing import Any

import pika

from tests.conformance.harness import Context, bodies, new_channel_step, scenario

Headers = dict[str, Any] | None


def headers_table(ctx: Context, bindings: dict[str, dict[str, Any]], messages: dict[str, Headers]) -> Any:
    """One queue per binding on a fresh headers exchange; one message per label (None: no headers
    property at all). For each message, the bindings whose queue got it."""
    _connection, channel = ctx.channel()
    exchange = ctx.exchange("h")
    channel.exchange_declare(exchange, "headers")
    queues = {}
    for i, (label, arguments) in enumerate(bindings.items()):
        queues[label] = ctx.queue(f"q{i}")
        channel.queue_declare(queues[label])
        channel.queue_bind(queues[label], exchange, arguments=arguments)
    channel.confirm_delivery()
    for label, headers in messages.items():
        channel.basic_publish(exchange, "", label.encode(), pika.BasicProperties(headers=headers))
    got = {label: bodies(channel, queue) for label, queue in queues.items()}
    return {m: [b for b in bindings if m.encode() in got[b]] for m in messages}


MESSAGES: dict[str, Headers] = {
    "both": {"a": 1, "b": "two"},
    "both-and-more": {"a": 1, "b": "two", "c": 3},
    "only-a": {"a": 1},
    "a-and-wrong-b": {"a": 1, "b": "2"},
    "wrong-a": {"a": 2},
    "empty-table": {},
    "no-headers": None,
}


@scenario
def headers_all_is_the_default(ctx: Context) -> Any:
    """Without x-match a binding needs all its headers, like x-match=all; extra headers are fine."""
    return headers_table(
        ctx,
        {"all": {"x-match": "all", "a": 1, "b": "two"}, "default": {"a": 1, "b": "two"}},
        MESSAGES,
    )


@scenario
def headers_any_needs_one(ctx: Context) -> Any:
    """x-match=any needs one of the binding's headers with an equal value."""
    return headers_table(ctx, {"any": {"x-match": "any", "a": 1, "b": "two"}}, MESSAGES)


@scenario
def headers_x_keys_ignored_by_all_and_any(ctx: Context) -> Any:
    """all and any ignore binding headers starting with x-; an any binding with only x- keys
    matches nothing."""
    return headers_table(
        ctx,
        {
            "all": {"x-match": "all", "x-k": "v", "a": 1},
            "any": {"x-match": "any", "x-k": "v"},
            "any-mixed": {"x-match": "any", "x-k": "v", "a": 1},
        },
        {"a": {"a": 1}, "x": {"x-k": "v"}, "x-and-a": {"x-k": "v", "a": 1}, "other-x": {"x-k": "w", "a": 2}},
    )


@scenario
def headers_with_x_variants(ctx: Context) -> Any:
    """all-with-x and any-with-x compare x- headers too."""
    return headers_table(
        ctx,
        {
            "all-with-x": {"x-match": "all-with-x", "x-k": "v", "a": 1},
            "any-with-x": {"x-match": "any-with-x", "x-k": "v", "a": 1},
            "any-with-x-only": {"x-match": "any-with-x", "x-k": "v"},
        },
        {"a": {"a": 1}, "x": {"x-k": "v"}, "x-and-a": {"x-k": "v", "a": 1}, "other-x": {"x-k": "w", "a": 2}},
    )


@scenario
def headers_values_compare_with_types(ctx: Context) -> Any:
    """Values match by value and type class: int 1 matches 1 of any integer width, never '1',
    true or decimal 1. (pika cannot send floats in tables.)"""
    return headers_table(
        ctx,
        {"int": {"k": 1}, "str": {"k": "1"}, "bool": {"k": True}, "long": {"k": 2**40}},
        {
            "int": {"k": 1},
            "str": {"k": "1"},
            "bool": {"k": True},
            "decimal": {"k": decimal.Decimal(1)},
            "long": {"k": 2**40},
            "long-1": {"k": 2**40 + 1},
            "missing": {"j": 1},
        },
    )


@scenario
def headers_void_value_matches_presence(ctx: Context) -> Any:
    """A binding header without a value (void) matches any message that has the header."""
    return headers_table(
        ctx,
        {"void": {"k": None}, "void-any": {"x-match": "any", "k": None, "j": "x"}},
        {"int": {"k": 1}, "str": {"k": "x"}, "void": {"k": None}, "j": {"j": "x"}, "none": {}},
    )


@scenario
def headers_empty_bindings(ctx: Context) -> Any:
    """An empty all binding matches every message (headers or not); an empty any binding none."""
    return headers_table(
        ctx,
        {"empty": {}, "empty-all": {"x-match": "all"}, "empty-any": {"x-match": "any"}},
        {"no-headers": None, "empty-table": {}, "a": {"a": 1}},
    )


@scenario
def headers_names_are_case_sensitive(ctx: Context) -> Any:
    """Header names and string values are compared exactly."""
    return headers_table(
        ctx,
        {"lower": {"key": "value"}},
        {"exact": {"key": "value"}, "upper-name": {"KEY": "value"}, "upper-value": {"key": "VALUE"}},
    )


@scenario
def headers_table_and_array_values(ctx: Context) -> Any:
    """Table and array values compare as whole values, order included."""
    return headers_table(
        ctx,
        {"table": {"t": {"n": 1, "s": "x"}}, "array": {"l": [1, "a"]}},
        {
            "same-table": {"t": {"n": 1, "s": "x"}},
            "same-table-reordered": {"t": {"s": "x", "n": 1}},
            "other-table": {"t": {"n": 2, "s": "x"}},
            "same-array": {"l": [1, "a"]},
            "reversed-array": {"l": ["a", 1]},
        },
    )


@scenario
def headers_routing_key_is_ignored(ctx: Context) -> Any:
    """The routing key plays no part in headers routing, at bind or publish time."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange("h"), ctx.queue()
    channel.exchange_declare(exchange, "headers")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "bind-key", arguments={"a": 1})
    channel.confirm_delivery()
    for key in ("", "bind-key", "other"):
        channel.basic_publish(
            exchange, key, key.encode() or b"<empty>", pika.BasicProperties(headers={"a": 1})
        )
    channel.basic_publish(exchange, "bind-key", b"no-header")
    return bodies(channel, queue)


@scenario
def headers_bindings_identified_by_arguments(ctx: Context) -> Any:
    """Two bindings differing only in arguments are two bindings; unbind removes only the one
    whose arguments match, and the queue still gets one copy per message."""
    _connection, channel = ctx.channel()
    exchange, queue = ctx.exchange("h"), ctx.queue()
    channel.exchange_declare(exchange, "headers")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, arguments={"a": 1})
    channel.queue_bind(queue, exchange, arguments={"x-match": "any", "a": 1, "b": 2})
    channel.confirm_delivery()
    channel.basic_publish(exchange, "", b"both-bindings", pika.BasicProperties(headers={"a": 1}))
    channel.queue_unbind(queue, exchange, arguments={"a": 1})
    channel.queue_unbind(queue, exchange, arguments={"c": 3})
    channel.basic_publish(exchange, "", b"a-after-unbind", pika.BasicProperties(headers={"a": 1}))
    channel.basic_publish(exchange, "", b"b-after-unbind", pika.BasicProperties(headers={"b": 2}))
    return bodies(channel, queue)


@scenario
def headers_bad_x_match_is_406(ctx: Context) -> Any:
    """A bad x-match value or type is refused at bind time (queue or exchange binding)."""
    connection, channel = ctx.channel()
    exchange, queue = ctx.exchange("h"), ctx.queue()
    channel.exchange_declare(exchange, "headers")
    channel.queue_declare(queue)
    return {
        "queue-bind-foo": new_channel_step(
            connection, lambda ch: ch.queue_bind(queue, exchange, arguments={"x-match": "foo"})
        ),
        "queue-bind-int": new_channel_step(
            connection, lambda ch: ch.queue_bind(queue, exchange, arguments={"x-match": 1})
        ),
        "exchange-bind-foo": new_channel_step(
            connection, lambda ch: ch.exchange_bind("amq.fanout", exchange, arguments={"x-match": "foo"})
        ),
    }
