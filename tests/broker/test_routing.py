"""Routing: which queues a published message reaches, through every exchange type,
exchange-to-exchange bindings and alternate exchanges.

Facts marked "measured" were checked against RabbitMQ 3.10.8 with pika / aiormq.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabbitsim.broker import (
    Broker,
    Channel,
    ChannelError,
    Connection,
    Deliver,
    EventKind,
    NodeKind,
    Properties,
    Return,
    TraceEvent,
)
from tests.broker.conftest import deliveries

# --- helpers ---------------------------------------------------------------------------------


def bodies(channel: Channel, queue: str) -> list[bytes]:
    """Take every ready message from `queue` (basic.get, no ack), oldest first."""
    taken = []
    while (got := channel.basic_get(queue, no_ack=True)) is not None:
        taken.append(got.message.body)
    return taken


def received(channel: Channel, queues: list[str]) -> dict[str, list[str]]:
    return {queue: [body.decode() for body in bodies(channel, queue)] for queue in queues}


def route(
    channel: Channel,
    exchange_type: str,
    bindings: list[tuple[str, str]],
    keys: list[str],
) -> dict[str, list[str]]:
    """Bind (queue, binding key) pairs to a fresh exchange of `exchange_type`, publish each key
    once (the body is the key) and say which keys each queue received, in order."""
    channel.exchange_declare("x", exchange_type)
    queues = list(dict.fromkeys(queue for queue, _ in bindings))
    for queue in queues:
        channel.queue_declare(queue)
    for queue, key in bindings:
        channel.queue_bind(queue, "x", key)
    for key in keys:
        channel.basic_publish("x", key, key.encode())
    return received(channel, queues)


def route_headers(
    channel: Channel,
    bindings: dict[str, dict[str, Any]],
    messages: dict[str, dict[str, Any] | None],
) -> dict[str, list[str]]:
    """Bind each queue with its arguments to a headers exchange, publish each message
    (the body is its name) and say which messages each queue received."""
    channel.exchange_declare("h", "headers")
    for queue, arguments in bindings.items():
        channel.queue_declare(queue)
        channel.queue_bind(queue, "h", "", arguments)
    for name, headers in messages.items():
        channel.basic_publish("h", "ignored", name.encode(), Properties(headers=headers))
    return received(channel, list(bindings))


def of_kind(events: list[TraceEvent], kind: EventKind) -> list[TraceEvent]:
    return [event for event in events if event.kind == kind]


# --- default exchange ------------------------------------------------------------------------


def test_default_exchange_routes_by_queue_name(channel: Channel) -> None:
    channel.queue_declare("orders")
    channel.queue_declare("invoices")
    channel.queue_bind("invoices", "amq.direct", "billing")  # other bindings do not hide the name
    channel.basic_publish("", "orders", b"o1")
    channel.basic_publish("", "invoices", b"i1")
    channel.basic_publish("", "billing", b"not a queue name")
    assert received(channel, ["orders", "invoices"]) == {"orders": ["o1"], "invoices": ["i1"]}


def test_default_exchange_drops_message_for_missing_queue(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.basic_publish("", "no-such-queue", b"lost")
    drops = of_kind(events, EventKind.DROP)
    assert [(e.source.name if e.source else None, e.detail["reason"]) for e in drops] == [("", "unroutable")]
    assert deliveries(broker) == []
    assert channel.is_open


def test_default_exchange_forgets_deleted_queue(broker: Broker, channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_delete("q")
    channel.basic_publish("", "q", b"late", mandatory=True)
    [(_, number, item)] = deliveries(broker)
    assert number == 1
    assert isinstance(item, Return)
    assert (item.reply_code, item.reply_text, item.exchange, item.routing_key) == (312, "NO_ROUTE", "", "q")


# --- direct ----------------------------------------------------------------------------------


def test_direct_matches_the_whole_key_exactly(channel: Channel) -> None:
    got = route(
        channel,
        "direct",
        [("q", "info"), ("dotted", "a.b"), ("star", "a.*")],
        ["info", "Info", "info.x", "a.b", "a.c", "a.*", ""],
    )
    assert got == {"q": ["info"], "dotted": ["a.b"], "star": ["a.*"]}


def test_direct_several_queues_with_the_same_key(channel: Channel) -> None:
    got = route(channel, "direct", [("q1", "k"), ("q2", "k"), ("q3", "other")], ["k"])
    assert got == {"q1": ["k"], "q2": ["k"], "q3": []}


def test_direct_one_queue_bound_with_two_keys(channel: Channel) -> None:
    got = route(channel, "direct", [("q", "error"), ("q", "warning")], ["error", "warning", "info"])
    assert got == {"q": ["error", "warning"]}


def test_direct_binding_twice_is_one_binding(channel: Channel) -> None:
    """Binding the same (queue, key) again is a no-op: one copy, and one unbind removes it."""
    got = route(channel, "direct", [("q", "k"), ("q", "k")], ["k"])
    assert got == {"q": ["k"]}
    channel.queue_unbind("q", "x", "k")
    channel.basic_publish("x", "k", b"after unbind")
    assert bodies(channel, "q") == []


# --- fanout ----------------------------------------------------------------------------------


def test_fanout_ignores_the_key(channel: Channel) -> None:
    got = route(channel, "fanout", [("q1", "x"), ("q2", "")], ["whatever", "", "x"])
    assert got == {"q1": ["whatever", "", "x"], "q2": ["whatever", "", "x"]}


def test_fanout_queue_bound_twice_gets_one_copy_until_both_bindings_go(channel: Channel) -> None:
    got = route(channel, "fanout", [("q", "one"), ("q", "two")], ["m1"])
    assert got == {"q": ["m1"]}
    channel.queue_unbind("q", "x", "one")
    channel.basic_publish("x", "", b"m2")
    assert bodies(channel, "q") == [b"m2"]
    channel.queue_unbind("q", "x", "two")
    channel.basic_publish("x", "", b"m3")
    assert bodies(channel, "q") == []


# --- topic -----------------------------------------------------------------------------------


def test_topic_star_is_exactly_one_word(channel: Channel) -> None:
    got = route(channel, "topic", [("q", "a.*")], ["a", "a.b", "a.b.c", "b.a", "a."])
    assert got == {"q": ["a.b", "a."]}


def test_topic_hash_is_zero_or_more_words(channel: Channel) -> None:
    got = route(channel, "topic", [("q", "a.#")], ["a", "a.b", "a.b.c", "b.a", "ab"])
    assert got == {"q": ["a", "a.b", "a.b.c"]}


def test_topic_hash_between_words_may_be_empty(channel: Channel) -> None:
    got = route(channel, "topic", [("q", "a.#.b")], ["a.b", "a..b", "a.x.y.b", "a", "b", "ab", "a.b.c"])
    assert got == {"q": ["a.b", "a..b", "a.x.y.b"]}


def test_topic_empty_key_has_zero_words(channel: Channel) -> None:
    got = route(
        channel,
        "topic",
        [("hash", "#"), ("hash-hash", "#.#"), ("empty", ""), ("star", "*"), ("a", "a")],
        [""],
    )
    assert got == {"hash": [""], "hash-hash": [""], "empty": [""], "star": [], "a": []}


def test_topic_single_dot_is_two_empty_words(channel: Channel) -> None:
    got = route(
        channel,
        "topic",
        [("star-star", "*.*"), ("dot", "."), ("star", "*"), ("empty", ""), ("three", "*.*.*")],
        ["."],
    )
    assert got == {"star-star": ["."], "dot": ["."], "star": [], "empty": [], "three": []}


def test_topic_trailing_dot_ends_with_an_empty_word(channel: Channel) -> None:
    got = route(channel, "topic", [("a-star", "a.*"), ("a", "a"), ("a-dot", "a.")], ["a."])
    assert got == {"a-star": ["a."], "a": [], "a-dot": ["a."]}


def test_topic_double_dot_has_an_empty_middle_word(channel: Channel) -> None:
    bindings = [
        ("a-star-b", "a.*.b"),
        ("a-hash-b", "a.#.b"),
        ("hash-b", "#.b"),
        ("three-stars", "*.*.*"),
        ("two-stars", "*.*"),
        ("a-b", "a.b"),
    ]
    got = route(channel, "topic", bindings, ["a..b"])
    assert got == {
        "a-star-b": ["a..b"],
        "a-hash-b": ["a..b"],
        "hash-b": ["a..b"],
        "three-stars": ["a..b"],
        "two-stars": [],
        "a-b": [],
    }


def test_topic_wildcards_inside_a_word_are_literal(channel: Channel) -> None:
    got = route(channel, "topic", [("a-star", "a*"), ("a-hash", "a#")], ["ab", "a", "a*", "a#", "a.b"])
    assert got == {"a-star": ["a*"], "a-hash": ["a#"]}


#: Keys published to one topic binding each, and what RabbitMQ 3.10.8 delivered (measured).
MEASURED_KEYS = ["", ".", "..", "a", "a.", ".a", "a.b", "a..b", "a.x.b", "a.x.y.b", "ab", "a*", "a#", "b"]
MEASURED_KEYS += ["a.b.b", "a.b.c", "x.a.y", "a.a.b"]
EVERY_KEY = MEASURED_KEYS
NON_EMPTY = MEASURED_KEYS[1:]
MEASURED_TOPIC = {
    "": [""],
    "#": EVERY_KEY,
    "#.#": EVERY_KEY,
    "*": ["a", "ab", "a*", "a#", "b"],
    "*.*": [".", "a.", ".a", "a.b"],
    "*.*.*": ["..", "a..b", "a.x.b", "a.b.b", "a.b.c", "x.a.y", "a.a.b"],
    "a.*": ["a.", "a.b"],
    "a.#": ["a", "a.", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.b.c", "a.a.b"],
    "a.#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.a.b"],
    "a.*.b": ["a..b", "a.x.b", "a.b.b", "a.a.b"],
    "#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b", "b", "a.b.b", "a.a.b"],
    "a.b": ["a.b"],
    "a..b": ["a..b"],
    ".": ["."],
    "a.": ["a."],
    ".a": [".a"],
    "a*": ["a*"],
    "a#": ["a#"],
    "*.#": NON_EMPTY,
    "#.*": NON_EMPTY,
    "#.a.#": ["a", "a.", ".a", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.b.c", "x.a.y", "a.a.b"],
    "a.#.#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.a.b"],
    "#.#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b", "b", "a.b.b", "a.a.b"],
    "*.#.*": [".", "..", "a.", ".a", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.b.c", "x.a.y", "a.a.b"],
    "a.*.#": ["a.", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.b.c", "a.a.b"],
    "#.*.b": ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a.a.b"],
    "a": ["a"],
    "..": [".."],
    "*.": [".", "a."],
    ".*": [".", ".a"],
}


@pytest.mark.parametrize("pattern", list(MEASURED_TOPIC))
def test_topic_matches_what_rabbitmq_delivered(channel: Channel, pattern: str) -> None:
    got = route(channel, "topic", [("q", pattern)], MEASURED_KEYS)
    assert got == {"q": MEASURED_TOPIC[pattern]}


def test_topic_queue_matched_by_several_bindings_gets_one_copy(channel: Channel) -> None:
    got = route(
        channel,
        "topic",
        [("q", "a.*"), ("q", "#"), ("q", "a.b"), ("q", "*.b"), ("other", "#.b")],
        ["a.b"],
    )
    assert got == {"q": ["a.b"], "other": ["a.b"]}


def test_topic_unbind_removes_only_that_binding(channel: Channel) -> None:
    route(channel, "topic", [("q1", "a.*"), ("q1", "a.*.c"), ("q1", "#.c"), ("q2", "a.*")], [])
    channel.queue_unbind("q1", "x", "a.*")
    for key in ["a.x", "a.x.c", "y.c"]:
        channel.basic_publish("x", key, key.encode())
    assert received(channel, ["q1", "q2"]) == {"q1": ["a.x.c", "y.c"], "q2": ["a.x"]}

    channel.queue_unbind("q1", "x", "a.*.c")  # '#.c' still matches a.x.c
    channel.queue_unbind("q1", "x", "never.bound")
    for key in ["a.x", "a.x.c", "a.x.d"]:
        channel.basic_publish("x", key, key.encode())
    assert received(channel, ["q1", "q2"]) == {"q1": ["a.x.c"], "q2": ["a.x"]}


# --- topic: the trie against a reference matcher ---------------------------------------------


def reference_regex(pattern: str) -> re.Pattern[str]:
    """A topic binding as a regex over a key in which every word is written as "." + word,
    so that '' (no words), '.' (two empty words) and 'a.' stay distinct."""
    parts = []
    for word in pattern.split(".") if pattern else []:
        if word == "*":
            parts.append(r"\.[^.]*")
        elif word == "#":
            parts.append(r"(?:\.[^.]*)*")
        else:
            parts.append(r"\." + re.escape(word))
    return re.compile("".join(parts))


def reference_key(key: str) -> str:
    return "".join("." + word for word in key.split(".")) if key else ""


def reference_match(pattern: str, key: str) -> bool:
    return reference_regex(pattern).fullmatch(reference_key(key)) is not None


def test_reference_matcher_agrees_with_measurements() -> None:
    for pattern, expected in MEASURED_TOPIC.items():
        assert [key for key in MEASURED_KEYS if reference_match(pattern, key)] == expected, pattern


KEY_WORDS = ["", "a", "b", "a*"]
keys = st.lists(st.sampled_from(KEY_WORDS), max_size=5).map(".".join)
patterns = st.lists(st.sampled_from([*KEY_WORDS, "*", "#"]), max_size=5).map(".".join)
QUEUES = ["q0", "q1", "q2"]


def topic_channel() -> Channel:
    # profile 4.0: the router is tested with any number of `#`, which 4.3 refuses above two
    channel = Broker(profile="4.0").connect().open_channel(1)
    channel.exchange_declare("t", "topic")
    for queue in QUEUES:
        channel.queue_declare(queue)
    return channel


@settings(max_examples=200, deadline=None)
@given(bound=st.lists(patterns, min_size=1, max_size=8), published=st.lists(keys, min_size=1, max_size=5))
def test_topic_trie_agrees_with_reference(bound: list[str], published: list[str]) -> None:
    channel = topic_channel()
    for index, pattern in enumerate(bound):
        channel.queue_bind(QUEUES[index % 3], "t", pattern)
    for key in published:
        channel.basic_publish("t", key, key.encode())
    for index, queue in enumerate(QUEUES):
        mine = bound[index::3]
        expected = [key for key in published if any(reference_match(p, key) for p in mine)]
        assert [body.decode() for body in bodies(channel, queue)] == expected


@settings(max_examples=200, deadline=None)
@given(
    bound=st.lists(st.tuples(st.sampled_from(QUEUES), patterns, st.booleans()), min_size=1, max_size=10),
    published=st.lists(keys, min_size=1, max_size=5),
)
def test_topic_trie_after_unbinds_agrees_with_reference(
    bound: list[tuple[str, str, bool]], published: list[str]
) -> None:
    channel = topic_channel()
    for queue, pattern, _ in bound:
        channel.queue_bind(queue, "t", pattern)
    for queue, pattern, unbind in bound:
        if unbind:
            channel.queue_unbind(queue, "t", pattern)
    left = {(queue, pattern) for queue, pattern, _ in bound} - {(q, p) for q, p, gone in bound if gone}
    for key in published:
        channel.basic_publish("t", key, key.encode())
    for queue in QUEUES:
        expected = [key for key in published if any(reference_match(p, key) for q, p in left if q == queue)]
        assert [body.decode() for body in bodies(channel, queue)] == expected


def test_topic_routing_with_ten_thousand_bindings(channel: Channel) -> None:
    channel.exchange_declare("big", "topic")
    queues = [f"q{n}" for n in range(100)]
    for queue in queues:
        channel.queue_declare(queue)
    shapes = ["s{}.*", "s{}.#", "#.e{}", "*.m{}.*"]
    bound = [(queues[n % 100], shapes[n % 4].format(n)) for n in range(10_000)]
    for queue, pattern in bound:
        channel.queue_bind(queue, "big", pattern)
    published = ["s0.x", "s1", "s1.a.b", "x.e2", "x.m3.y", "s4.e2", "s9997.m9999.e9998", "nothing.here", ""]

    def deliver_all() -> dict[str, list[str]]:
        for key in published:
            channel.basic_publish("big", key, key.encode())
        return {queue: keys for queue, keys in received(channel, queues).items() if keys}

    far = "s9997.m9999.e9998"  # s9997.# (q97), #.e9998 (q98), *.m9999.* (q99)
    assert deliver_all() == {
        "q0": ["s0.x"],
        "q1": ["s1", "s1.a.b"],
        "q2": ["x.e2", "s4.e2"],
        "q3": ["x.m3.y"],
        "q4": ["s4.e2"],
        "q97": [far],
        "q98": [far],
        "q99": [far],
    }
    for queue, pattern in bound[::2]:  # every even n: the s{n}.* and #.e{n} bindings
        channel.queue_unbind(queue, "big", pattern)
    assert deliver_all() == {"q1": ["s1", "s1.a.b"], "q3": ["x.m3.y"], "q97": [far], "q99": [far]}


# --- headers ---------------------------------------------------------------------------------


def test_headers_all_is_the_default_and_any_needs_one_match(channel: Channel) -> None:
    got = route_headers(
        channel,
        {
            "all": {"a": 1, "b": 2},
            "explicit-all": {"x-match": "all", "a": 1, "b": 2},
            "any": {"x-match": "any", "a": 1, "b": 2},
        },
        {
            "a1": {"a": 1},
            "a1b2": {"a": 1, "b": 2, "c": 3},
            "a1b3": {"a": 1, "b": 3},
            "b2": {"b": 2},
            "none": None,
        },
    )
    assert got == {"all": ["a1b2"], "explicit-all": ["a1b2"], "any": ["a1", "a1b2", "a1b3", "b2"]}


def test_headers_all_and_any_ignore_x_arguments(channel: Channel) -> None:
    got = route_headers(
        channel,
        {
            "all": {"a": 1, "x-foo": 5},
            "all-x-only": {"x-foo": 5},
            "any": {"x-match": "any", "a": 9, "x-foo": 5},
            "any-x-only": {"x-match": "any", "x-foo": 5},
        },
        {"a1": {"a": 1}, "a9": {"a": 9}, "foo5": {"x-foo": 5}, "none": None},
    )
    assert got == {
        "all": ["a1"],
        "all-x-only": ["a1", "a9", "foo5", "none"],
        "any": ["a9"],
        "any-x-only": [],
    }


def test_headers_with_x_modes_compare_x_arguments(channel: Channel) -> None:
    got = route_headers(
        channel,
        {
            "all-with-x": {"x-match": "all-with-x", "x-foo": 1, "a": 1},
            "any-with-x": {"x-match": "any-with-x", "x-foo": 1, "a": 9},
        },
        {
            "foo1": {"x-foo": 1},
            "foo1-a1": {"x-foo": 1, "a": 1},
            "a1": {"a": 1},
            "a9": {"a": 9},
            "foo2": {"x-foo": 2},
        },
    )
    assert got == {"all-with-x": ["foo1-a1"], "any-with-x": ["foo1", "foo1-a1", "a9"]}


def test_headers_void_argument_matches_on_presence(channel: Channel) -> None:
    got = route_headers(
        channel,
        {"all": {"v": None}, "any": {"x-match": "any", "v": None, "w": "exact"}},
        {
            "int": {"v": 7},
            "str": {"v": "anything"},
            "bool": {"v": False},
            "void": {"v": None},
            "other-key": {"u": 7},
            "w-only": {"w": "exact"},
            "none": None,
        },
    )
    assert got == {"all": ["int", "str", "bool", "void"], "any": ["int", "str", "bool", "void", "w-only"]}


def test_headers_empty_all_matches_everything_empty_any_nothing(channel: Channel) -> None:
    got = route_headers(
        channel,
        {"empty-all": {}, "empty-any": {"x-match": "any"}},
        {"some": {"a": 1}, "empty": {}, "none": None},
    )
    assert got == {"empty-all": ["some", "empty", "none"], "empty-any": []}


@pytest.mark.parametrize(
    ("bound", "sent"),
    [
        (1, "1"),
        (1, True),
        (True, 1),
        (1, Decimal(1)),
        (Decimal(1), 1),
        ("1", True),
        ("1", Decimal(1)),
        (Decimal(1), Decimal("1.0")),  # measured: same number, different scale
        ({"k": 1}, {"k": True}),  # measured: nested values keep their types
        ([1, "a"], [True, "a"]),  # measured
        ({"k": 1}, {"k": 1.0}),
    ],
    ids=repr,
)
def test_headers_values_of_different_types_do_not_match(channel: Channel, bound: Any, sent: Any) -> None:
    got = route_headers(channel, {"q": {"v": bound}}, {"typed": {"v": sent}, "same": {"v": bound}})
    assert got == {"q": ["same"]}


@pytest.mark.parametrize(
    ("bound", "sent"),
    [
        (1, 1),
        (2**40, 2**40),  # a long-width integer
        (-5, -5),
        ("1", "1"),
        (True, True),
        (Decimal("1.5"), Decimal("1.5")),
        ({"k": [1, "two", {"n": True}]}, {"k": [1, "two", {"n": True}]}),
        (1, 1.0),  # measured: RabbitMQ compares numbers with Erlang's ==
        (2**40, float(2**40)),  # measured
    ],
    ids=repr,
)
def test_headers_equal_values_match(channel: Channel, bound: Any, sent: Any) -> None:
    got = route_headers(channel, {"q": {"v": bound}}, {"equal": {"v": sent}, "different": {"v": "zzz"}})
    assert got == {"q": ["equal"]}


def test_headers_queue_matched_by_two_bindings_gets_one_copy(channel: Channel) -> None:
    route_headers(channel, {"q": {"x-match": "any", "a": 1}}, {})
    channel.queue_bind("q", "h", "", {"x-match": "any", "b": 1})
    channel.basic_publish("h", "", b"both", Properties(headers={"a": 1, "b": 1}))
    assert bodies(channel, "q") == [b"both"]


def test_headers_unbind_removes_only_that_binding(channel: Channel) -> None:
    route_headers(channel, {"q": {"a": 1}}, {})
    channel.queue_bind("q", "h", "", {"b": 2})
    channel.queue_unbind("q", "h", "", {"a": 1})
    for name, headers in {"a1": {"a": 1}, "b2": {"b": 2}}.items():
        channel.basic_publish("h", "", name.encode(), Properties(headers=headers))
    assert bodies(channel, "q") == [b"b2"]


@pytest.mark.parametrize(
    ("x_match", "text"),
    [
        (
            "some",
            'PRECONDITION_FAILED - Invalid x-match field value <<"some">>; '
            "expected all, any, all-with-x, or any-with-x",
        ),
        (1, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 1); expected longstr"),
    ],
)
def test_headers_bad_x_match_is_refused_at_bind(
    broker: Broker, channel: Channel, x_match: Any, text: str
) -> None:
    channel.exchange_declare("h", "headers")
    channel.queue_declare("q")
    with pytest.raises(ChannelError) as caught:
        channel.queue_bind("q", "h", "", {"x-match": x_match, "a": 1})
    error = caught.value
    assert (error.reply_code, error.reply_text) == (406, text)
    assert (error.class_id, error.method_id) == (50, 20)
    assert not channel.is_open
    assert channel.connection.is_open
    other = channel.connection.open_channel(2)
    other.basic_publish("h", "", b"m", Properties(headers={"a": 1}), mandatory=True)
    [(_, number, item)] = deliveries(broker)  # the binding was not made
    assert number == 2
    assert isinstance(item, Return)
    assert item.reply_code == 312


def test_x_match_is_not_checked_on_other_exchange_types(channel: Channel) -> None:
    channel.queue_declare("q")
    channel.queue_bind("q", "amq.direct", "k", {"x-match": "some"})
    channel.basic_publish("amq.direct", "k", b"m")
    assert bodies(channel, "q") == [b"m"]


# --- exchange-to-exchange bindings -------------------------------------------------------------


def test_exchange_binding_routes_with_the_source_type(channel: Channel, events: list[TraceEvent]) -> None:
    channel.exchange_declare("src", "topic")
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "src", "a.*")
    channel.queue_declare("q")
    channel.queue_bind("q", "dst")
    channel.basic_publish("src", "a.b", b"in")
    channel.basic_publish("src", "b.a", b"out")
    got = channel.basic_get("q", no_ack=True)
    assert got is not None
    assert (got.exchange, got.routing_key, got.message.body) == ("src", "a.b", b"in")
    assert channel.basic_get("q", no_ack=True) is None
    routes = [(e.source.name, e.target.kind, e.target.name) for e in of_kind(events, EventKind.ROUTE)]
    assert routes == [("src", NodeKind.EXCHANGE, "dst"), ("dst", NodeKind.QUEUE, "q")]


def test_exchange_chain(channel: Channel) -> None:
    for name, kind in [("e1", "direct"), ("e2", "topic"), ("e3", "headers")]:
        channel.exchange_declare(name, kind)
    channel.exchange_bind("e2", "e1", "k.x")
    channel.exchange_bind("e3", "e2", "*.x")
    channel.queue_declare("q")
    channel.queue_bind("q", "e3", "", {"colour": "red"})
    channel.basic_publish("e1", "k.x", b"red", Properties(headers={"colour": "red"}))
    channel.basic_publish("e1", "k.x", b"blue", Properties(headers={"colour": "blue"}))
    channel.basic_publish("e1", "k.y", b"red-other-key", Properties(headers={"colour": "red"}))
    assert bodies(channel, "q") == [b"red"]


def test_exchange_cycle_and_diamond_give_one_copy_per_queue(channel: Channel) -> None:
    for name in ["a", "b", "c"]:
        channel.exchange_declare(name, "fanout")
    channel.exchange_bind("b", "a")
    channel.exchange_bind("a", "b")  # cycle a <-> b
    channel.exchange_bind("c", "a")
    channel.exchange_bind("c", "b")  # diamond a -> {b, c}, b -> c
    for queue in ["qa", "qb", "qc"]:
        channel.queue_declare(queue)
        channel.queue_bind(queue, queue[1])
    channel.queue_bind("qc", "a")  # also straight from the start
    channel.basic_publish("a", "", b"m1")
    channel.basic_publish("b", "", b"m2")
    assert received(channel, ["qa", "qb", "qc"]) == {
        "qa": ["m1", "m2"],
        "qb": ["m1", "m2"],
        "qc": ["m1", "m2"],
    }


def test_exchange_unbind_stops_the_path(channel: Channel) -> None:
    channel.exchange_declare("src", "direct")
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "src", "k")
    channel.queue_declare("q")
    channel.queue_bind("q", "dst")
    channel.exchange_unbind("dst", "src", "k")
    channel.basic_publish("src", "k", b"m")
    assert bodies(channel, "q") == []


# --- alternate exchanges -----------------------------------------------------------------------


def declare_with_alternate(channel: Channel, alternate: str = "ae") -> None:
    """'main' (direct, key 'k' -> queue 'main-q') with alternate exchange `alternate`;
    'ae' is a fanout to queue 'ae-q'."""
    channel.exchange_declare("ae", "fanout")
    channel.queue_declare("ae-q")
    channel.queue_bind("ae-q", "ae")
    channel.exchange_declare("main", "direct", arguments={"alternate-exchange": alternate})
    channel.queue_declare("main-q")
    channel.queue_bind("main-q", "main", "k")


def test_alternate_exchange_takes_what_the_bindings_do_not(
    channel: Channel, events: list[TraceEvent]
) -> None:
    declare_with_alternate(channel)
    channel.basic_publish("main", "k", b"matched")
    channel.basic_publish("main", "other", b"unmatched")
    assert received(channel, ["main-q", "ae-q"]) == {"main-q": ["matched"], "ae-q": ["unmatched"]}
    alternate_routes = [e for e in of_kind(events, EventKind.ROUTE) if e.detail.get("alternate")]
    assert [(e.source.name, e.target.name, e.routing_key) for e in alternate_routes] == [
        ("main", "ae", "other")
    ]
    assert of_kind(events, EventKind.DROP) == []


def test_mandatory_message_saved_by_alternate_exchange_is_not_returned(
    broker: Broker, channel: Channel
) -> None:
    declare_with_alternate(channel)
    channel.basic_publish("main", "other", b"saved", mandatory=True)
    assert deliveries(broker) == []
    assert bodies(channel, "ae-q") == [b"saved"]


def test_missing_alternate_exchange_means_no_route(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    declare_with_alternate(channel, alternate="no-such-exchange")
    channel.basic_publish("main", "other", b"returned", mandatory=True)
    channel.basic_publish("main", "other", b"dropped")
    [(_, number, item)] = deliveries(broker)
    assert number == 1
    assert isinstance(item, Return)
    assert (item.reply_code, item.reply_text, item.exchange, item.routing_key) == (
        312,
        "NO_ROUTE",
        "main",
        "other",
    )
    assert item.message.body == b"returned"
    assert [e.detail["reason"] for e in of_kind(events, EventKind.DROP)] == ["unroutable"]
    assert bodies(channel, "ae-q") == []


def test_alternate_exchange_unused_when_bindings_lead_to_an_exchange(channel: Channel) -> None:
    """Measured: the alternate is for an exchange that matched no binding at all; a match
    into an exchange that routes nowhere still counts as a match."""
    declare_with_alternate(channel)
    channel.exchange_declare("dead-end", "direct")
    channel.exchange_bind("dead-end", "main", "to-dead-end")
    channel.basic_publish("main", "to-dead-end", b"lost")
    channel.basic_publish("main", "nowhere", b"saved")
    assert bodies(channel, "ae-q") == [b"saved"]


def test_alternate_exchanges_chain_and_may_be_internal(channel: Channel) -> None:
    """Measured: an alternate exchange's own alternate is followed; internal ones work."""
    channel.exchange_declare("last", "fanout", internal=True)
    channel.queue_declare("q")
    channel.queue_bind("q", "last")
    channel.exchange_declare("second", "direct", arguments={"alternate-exchange": "last"})
    channel.exchange_declare("first", "direct", arguments={"alternate-exchange": "second"})
    channel.basic_publish("first", "k", b"chained")
    assert bodies(channel, "q") == [b"chained"]


def test_alternate_exchange_loop_gives_one_copy(channel: Channel) -> None:
    channel.exchange_declare("a", "direct", arguments={"alternate-exchange": "b"})
    channel.exchange_declare("b", "direct", arguments={"alternate-exchange": "a"})
    channel.queue_declare("q")
    channel.queue_bind("q", "b", "k")
    channel.basic_publish("a", "k", b"via-b")
    channel.basic_publish("a", "nowhere", b"lost")
    assert bodies(channel, "q") == [b"via-b"]


# --- unroutable ------------------------------------------------------------------------------


def test_unroutable_message_is_dropped_silently(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.basic_publish("amq.direct", "nobody", b"m")
    [publish] = of_kind(events, EventKind.PUBLISH)
    [drop] = of_kind(events, EventKind.DROP)
    assert drop.message == publish.message
    assert drop.source is not None
    assert (drop.source.kind, drop.source.name, drop.detail["reason"]) == (
        NodeKind.EXCHANGE,
        "amq.direct",
        "unroutable",
    )
    assert of_kind(events, EventKind.RETURN) == []
    assert deliveries(broker) == []
    assert channel.is_open


def test_mandatory_unroutable_message_is_returned(
    broker: Broker, connection: Connection, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.basic_publish("amq.topic", "no.one", b"back", Properties(message_id="m-1"), mandatory=True)
    [(name, number, item)] = deliveries(broker)
    assert (name, number) == (connection.name, 1)
    assert item == Return(312, "NO_ROUTE", "amq.topic", "no.one", item.message)
    assert (item.message.body, item.message.properties.message_id) == (b"back", "m-1")
    [returned] = of_kind(events, EventKind.RETURN)
    assert (returned.message, returned.detail["reply_code"]) == (item.message.id, 312)
    assert of_kind(events, EventKind.DROP) == []
    assert channel.is_open


# --- message content survives routing ----------------------------------------------------------


def test_properties_and_headers_are_delivered_intact(broker: Broker, channel: Channel) -> None:
    headers = {
        "nested": {"table": {"deep": [1, "two", {"three": True}]}, "n": -7},
        "list": [1, 2.5, "x", [None, b"raw"]],
        "when": Decimal("3.14"),
        "x-trace": "keep me",
    }
    properties = Properties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=2,
        priority=3,
        correlation_id="c-1",
        reply_to="replies",
        message_id="m-1",
        timestamp=1_700_000_000,
        message_type="order.created",
        app_id="shop",
    )
    channel.exchange_declare("t", "topic")
    channel.exchange_declare("f", "fanout")
    channel.exchange_bind("f", "t", "order.*")
    for queue in ["polled", "consumed"]:
        channel.queue_declare(queue)
        channel.queue_bind(queue, "f")
    tag = channel.basic_consume("consumed", no_ack=True)
    body = b'{"id": 1}'
    channel.basic_publish("t", "order.created", body, properties)

    got = channel.basic_get("polled", no_ack=True)
    assert got is not None
    [(_, _, delivered)] = deliveries(broker)
    assert isinstance(delivered, Deliver)
    assert delivered.consumer_tag == tag
    for message in (got.message, delivered.message):
        assert message.body == body
        assert message.properties == properties
        assert message.properties.headers == {
            "nested": {"table": {"deep": [1, "two", {"three": True}]}, "n": -7},
            "list": [1, 2.5, "x", [None, b"raw"]],
            "when": Decimal("3.14"),
            "x-trace": "keep me",
        }
        assert (message.exchange, message.routing_key) == ("t", "order.created")
