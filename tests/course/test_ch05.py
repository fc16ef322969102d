"""Chapter 5 (topics): the word-by-word matching rules agree with the broker, and the checks of
exercises 5.1 and 5.2 say what is wrong, specifically, and accept the right answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pika
import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle
from rabbitsim.course._ch05_topics import (
    LOG_KEYS,
    TUTORIAL_KEYS,
    explain,
    match,
    matches,
    route_on_broker,
    tutorial_queues,
)

from .solutions import run_solution
from .zh import in_chinese, is_chinese


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


# --- the rules --------------------------------------------------------------------------------

BINDING_KEYS = [
    "#", "*", "", "a", "a.b", "a.*", "*.b", "a.#", "#.b", "a.#.b", "a.*.b", "#.a.#", "*.#", "#.*",
    "#.#", "a.#.#.b", "*.*", "a..b", "a.*.#", "log*", ".",
]  # fmt: skip
ROUTING_KEYS = ["", "a", "b", "a.b", "a.x.b", "a.x.y.b", "b.a", "a.b.c", "a..b", ".", "x.a.y", "log*", "ab"]


def test_the_rules_agree_with_the_broker(broker: BrokerHandle) -> None:
    reached = route_on_broker(broker, BINDING_KEYS, ROUTING_KEYS)
    for binding_key, routing_key in itertools.product(BINDING_KEYS, ROUTING_KEYS):
        assert matches(binding_key, routing_key) == (routing_key in reached[binding_key]), (
            binding_key,
            routing_key,
        )


def test_the_check_exchange_and_queues_are_gone_afterwards(broker: BrokerHandle) -> None:
    route_on_broker(broker, ["a.#"], ["a.b"])
    topology = broker.topology()
    assert not [e.name for e in topology.exchanges if e.name.startswith("exercise-")]
    assert not [q.name for q in topology.queues]


def test_the_tutorials_keys_go_where_the_tutorial_says() -> None:
    assert {key: tutorial_queues(key) for key in TUTORIAL_KEYS} == {
        "quick.orange.rabbit": ["Q1", "Q2"],
        "lazy.orange.elephant": ["Q1", "Q2"],
        "quick.orange.fox": ["Q1"],
        "lazy.brown.fox": ["Q2"],
        "lazy.pink.rabbit": ["Q2"],
        "quick.brown.fox": [],
        "orange": [],
        "quick.orange.new.rabbit": [],
        "lazy.orange.new.rabbit": ["Q2"],
    }


def test_a_match_says_which_words_each_wildcard_took() -> None:
    assert match("a.#.b", "a.b") == [("a", ["a"]), ("#", []), ("b", ["b"])]
    assert explain("lazy.#", "lazy.orange.new.rabbit") == (
        "'lazy.#' matches 'lazy.orange.new.rabbit': 'lazy', # = 'orange.new.rabbit'"
    )
    assert "# = no word" in explain("lazy.#", "lazy")
    assert "as a direct exchange" in explain("quick.orange.rabbit", "quick.orange.rabbit")


def test_a_miss_says_why() -> None:
    assert "exactly 3 words" in explain("*.orange.*", "orange")
    assert "'orange' has 1 word" in explain("*.orange.*", "orange")
    assert "word 1 is 'quick', where the binding wants 'lazy'" in explain("lazy.#", "quick.orange.fox")
    assert "the last word is 'c', where the binding wants 'b'" in explain("a.#.b", "a.x.c")
    assert "at least 2 words" in explain("a.#.b", "a")
    assert "not a wildcard but a literal word" in explain("log*", "log.warn")


# --- exercise 5.1 -----------------------------------------------------------------------------


def test_5_1_explains_each_wrong_prediction_with_the_rules() -> None:
    verdict = course.EXERCISES["5.1"](
        {
            "quick.orange.rabbit": ["Q1", "Q2"],
            "orange": ["Q1"],
            "lazy.pink.rabbit": ["Q2", "Q2"],
            "quick.orange.new.rabbit": ["Q2"],
            "lazy.orange.new.rabbit": [],
            "quick.brown.fox": ["Q3"],
        }
    )
    assert not verdict
    assert verdict.title == "5 of your 6 predictions are off"
    text = "\n".join(verdict.details)
    assert "orange: you said Q1. Q1 does not get it: '*.orange.*' does not match 'orange'" in text
    assert "Q2 gets one copy, not 2: a queue matched by several bindings ('*.*.rabbit', 'lazy.#')" in text
    assert "'*.*.rabbit' does not match 'quick.orange.new.rabbit'" in text
    assert "and 'quick.orange.new.rabbit' has 4 words" in text
    assert "lazy.orange.new.rabbit: you said no queue (dropped). Q2 does get it" in text
    assert "# = 'orange.new.rabbit'" in text
    assert "there is no Q3" in text
    assert "still to predict: lazy.orange.elephant, quick.orange.fox, lazy.brown.fox" in text


def test_5_1_starting_answer_asks_for_the_rest_without_giving_it_away() -> None:
    verdict = course.EXERCISES["5.1"]({"quick.orange.rabbit": ["Q1", "Q2"], "orange": None})
    assert not verdict
    assert verdict.title == "1 of 9 predicted, all right so far"
    assert "Q2" not in " ".join(verdict.details)


def test_5_1_accepts_the_solution_and_forgiving_spellings() -> None:
    assert run_solution("5.1")
    spelled = {key: [queue.lower() for queue in tutorial_queues(key)] for key in TUTORIAL_KEYS}
    spelled["quick.orange.fox"] = "Q1"  # type: ignore[assignment]
    assert course.EXERCISES["5.1"](spelled)


def test_5_1_never_raises_on_odd_answers() -> None:
    assert not course.EXERCISES["5.1"](["Q1"])
    assert not course.EXERCISES["5.1"]({})


# --- exercise 5.2 -----------------------------------------------------------------------------


def test_5_2_names_the_messages_a_wrong_binding_misses_and_wrongly_gets(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.2"](broker, ["kern.*", "cron.*"])
    assert not verdict
    assert verdict.title == "['kern.*', 'cron.*'] misses 2 and wrongly gets 1 of the 10 test messages"
    assert verdict.details[:3] == (
        "misses kern.disk.critical: 'kern.*': without #, it matches only keys of exactly 2 words "
        "(each * is exactly one word), and 'kern.disk.critical' has 3 words",
        "misses cron.backup.error: 'cron.*': without #, it matches only keys of exactly 2 words "
        "(each * is exactly one word), and 'cron.backup.error' has 3 words",
        "wrongly gets kern.info: 'kern.*' matches 'kern.info': 'kern', * = 'info'",
    )
    assert "# matches zero or more words" in verdict.details[3]


def test_5_2_explains_too_broad_and_literal_keys(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.2"](broker, ["*.critical", "cron*"])
    text = "\n".join(verdict.details)
    assert "wrongly gets auth.critical: '*.critical' matches 'auth.critical': * = 'auth', 'critical'" in text
    assert "'cron*' matches none of these keys" in text and "not for characters" in text
    assert "misses cron.info" in text and "misses kern.disk.critical" in text
    everything = course.EXERCISES["5.2"](broker, ["#"])
    assert "acts like a fanout exchange" in "\n".join(everything.details)
    assert "wrongly gets 5" in everything.title


def test_5_2_a_middle_hash_alone_is_not_enough(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.2"](broker, ["kern.#.critical"])
    assert not verdict
    assert "misses 3" in verdict.title
    assert "misses cron.info: no binding starts with 'cron' or a wildcard" in verdict.details


def test_5_2_accepts_every_key_set_that_routes_right(broker: BrokerHandle) -> None:
    assert run_solution("5.2", broker=broker)
    verdict = course.EXERCISES["5.2"](broker, ["kern.critical", "kern.*.critical", "cron.*", "cron.*.*"])
    assert verdict, verdict
    assert "'kern.critical' takes kern.critical" in verdict.details
    assert sum(LOG_KEYS.values()) == 5


@pytest.mark.parametrize(
    ("arguments", "title"),
    [
        ((["kern.#.critical"],), "Pass the broker first, then your binding keys"),
        (("broker", []), "No binding keys: a queue without bindings receives nothing"),
        (("broker", "kern.#.critical cron.#"), "'kern.#.critical cron.#' has a space in it"),
        (("broker", 42), "Give the binding keys as a list of strings"),
        (("broker", ["k" * 300]), f"'{'k' * 20}…' is 300 bytes long"),
    ],
)
def test_5_2_says_what_to_pass_instead_of_raising(
    broker: BrokerHandle, arguments: tuple[Any, ...], title: str
) -> None:
    given = tuple(broker if argument == "broker" else argument for argument in arguments)
    verdict = course.EXERCISES["5.2"](*given)
    assert not verdict
    assert verdict.title == title


# --- the headers exchange, as the chapter states it -----------------------------------------------

#: the chapter's bindings (x-match and headers) and, for each, the messages it says arrive
HEADERS_BINDINGS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "all": ({"x-match": "all", "format": "pdf", "type": "report"}, ["pdf report", "pdf report en"]),
    "any": (
        {"x-match": "any", "format": "pdf", "type": "report"},
        ["pdf report", "pdf report en", "pdf", "zip report"],
    ),
    "x ignored by any": ({"x-match": "any", "x-tenant": "acme"}, []),
    "any-with-x": ({"x-match": "any-with-x", "x-tenant": "acme"}, ["acme"]),
    "all of nothing": (
        {"x-match": "all", "x-tenant": "acme"},
        ["pdf report", "pdf report en", "pdf", "zip report", "acme", "none", "one", "'1'"],
    ),
    "typed value": ({"x-match": "all", "copies": 1}, ["one"]),
}
HEADERS_MESSAGES: dict[str, dict[str, Any] | None] = {
    "pdf report": {"format": "pdf", "type": "report"},
    "pdf report en": {"format": "pdf", "type": "report", "lang": "en"},
    "pdf": {"format": "pdf"},
    "zip report": {"format": "zip", "type": "report"},
    "acme": {"x-tenant": "acme"},
    "none": None,
    "one": {"copies": 1},
    "'1'": {"copies": "1"},
}


def test_the_headers_exchange_routes_as_chapter_5_says(broker: BrokerHandle) -> None:
    """Chapter 5's reading of its headers experiment (x- headers ignored by all and any, counted by
    any-with-x; all of nothing matches everything; values keep their types), run on the broker."""
    with pika.BlockingConnection(broker.parameters) as connection:
        channel = connection.channel()
        channel.exchange_declare("p2-headers", "headers")
        for name, (arguments, _) in HEADERS_BINDINGS.items():
            channel.queue_declare(name, exclusive=True)
            channel.queue_bind(name, "p2-headers", arguments=arguments)
        for body, headers in HEADERS_MESSAGES.items():
            channel.basic_publish("p2-headers", "", body, pika.BasicProperties(headers=headers))
        for name, (_, expected) in HEADERS_BINDINGS.items():
            got = []
            while (taken := channel.basic_get(name, auto_ack=True))[0] is not None:
                got.append(taken[2].decode())
            assert got == expected, name
        channel.exchange_delete("p2-headers")


# --- 5.3 ---------------------------------------------------------------------------------------


def test_5_3_explains_that_all_ignores_the_x_tenant_header(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.3"](broker, {"x-match": "all", "type": "invoice", "x-tenant": "acme"})
    assert not verdict
    assert verdict.title == "Your binding wrongly gets 2 of the 8 test messages"
    assert any("your 'x-tenant' is not compared at all ('all-with-x'" in line for line in verdict.details)
    assert "wrongly gets globex's invoice: its type is 'invoice'" in verdict.details


def test_5_3_explains_what_any_lets_through(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.3"](
        broker, {"x-match": "any-with-x", "type": "invoice", "x-tenant": "acme"}
    )
    assert not verdict
    assert "wrongly gets 5" in verdict.title
    assert "'any-with-x' takes a message as soon as one header matches" in verdict.details
    assert (
        "wrongly gets acme's Invoice (capital I): its type is 'Invoice', not 'invoice'; "
        "its x-tenant is 'acme'" in verdict.details
    )


def test_5_3_says_what_is_missing_from_a_binding_without_the_tenant(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.3"](broker, {"type": "invoice"})
    assert not verdict
    assert "no x-match: the broker takes it as 'all'" in verdict.details
    assert any("does not mention x-tenant" in line for line in verdict.details)


def test_5_3_misses_are_told_header_by_header(broker: BrokerHandle) -> None:
    verdict = course.EXERCISES["5.3"](
        broker, {"x-match": "all-with-x", "type": "invoice", "x-tenant": "acme", "lang": "en"}
    )
    assert not verdict
    assert verdict.title == "Your binding misses 2 of the 8 test messages"
    assert (
        "misses acme's invoice, in French: its type is 'invoice'; its x-tenant is 'acme'; "
        "its lang is 'fr', not 'en'" in verdict.details
    )


def test_5_3_accepts_its_solution(broker: BrokerHandle) -> None:
    verdict = run_solution("5.3", broker=broker)
    assert verdict, verdict
    assert verdict.title == "Your binding takes acme's 2 invoices and none of the other 6 messages"
    topology = broker.topology()  # the check's exchange and queue are gone
    assert not [exchange.name for exchange in topology.exchanges if exchange.name.startswith("exercise-")]
    assert topology.queues == ()


@pytest.mark.parametrize(
    ("arguments", "title"),
    [
        (({"x-match": "all"},), "Pass the broker first, then your binding's arguments"),
        (("broker", "x-match=all"), "Give the binding's arguments as a dict"),
        (("broker", {"x-match": "both", "type": "invoice"}), "The broker refused the binding"),
        (("broker", {"x-match": 1, "type": "invoice"}), "The broker refused the binding"),
    ],
)
def test_5_3_says_what_to_pass_instead_of_raising(
    broker: BrokerHandle, arguments: tuple[Any, ...], title: str
) -> None:
    given = tuple(broker if argument == "broker" else argument for argument in arguments)
    verdict = course.EXERCISES["5.3"](*given)
    assert not verdict
    assert verdict.title == title


# --- the Chinese edition -------------------------------------------------------------------------


def test_the_rules_explain_in_chinese() -> None:
    with in_chinese():
        took = explain("lazy.#", "lazy.orange.new.rabbit")
        short = explain("*.orange.*", "orange")
        last = explain("a.#.b", "a.x.c")
    assert took == "'lazy.#' 匹配 'lazy.orange.new.rabbit'：'lazy'，# = 'orange.new.rabbit'"
    assert short == (
        "'*.orange.*' 不匹配 'orange'：没有 # 时，它只匹配恰好 3 个词的键（每个 * 恰好是一个词），"
        "而 'orange' 有 1 个词"
    )
    assert last == "'a.#.b' 不匹配 'a.x.c'：最后一个词是 'c'，而绑定要求的是 'b'"
    assert explain("a.#.b", "a.x.c").startswith("'a.#.b' does not match 'a.x.c'")  # English again outside


def test_5_1_in_chinese() -> None:
    with in_chinese():
        off = course.EXERCISES["5.1"](
            {
                "quick.orange.rabbit": ["Q1", "Q2"],
                "orange": ["Q1"],
                "lazy.pink.rabbit": ["Q2", "Q2"],
                "lazy.orange.new.rabbit": [],
            }
        )
        started = course.EXERCISES["5.1"]({"quick.orange.rabbit": ["Q1", "Q2"], "orange": None})
        accepted = run_solution("5.1")
    assert not off and is_chinese(str(off)), str(off)
    assert off.title == "你的 4 个预测里，有 3 个不对"
    text = "\n".join(off.details)
    assert "orange：你说的是 Q1。Q1 收不到：'*.orange.*' 不匹配 'orange'" in text
    assert "Q2 只得到一份副本，而不是 2 份" in text
    assert "lazy.orange.new.rabbit：你说的是没有队列（被丢弃）。Q2 确实会收到" in text
    assert "还需要预测：lazy.orange.elephant、quick.orange.fox" in text
    assert not started and is_chinese(str(started)), str(started)
    assert started.title == "9 个里已经预测了 1 个，目前都对"
    assert accepted, str(accepted)
    assert accepted.title == "9 个预测全部正确"
    assert is_chinese(str(accepted)), str(accepted)


def test_5_2_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        off = course.EXERCISES["5.2"](broker, ["kern.*", "cron.*"])
        glued = course.EXERCISES["5.2"](broker, ["*.critical", "cron*"])
        spaced = course.EXERCISES["5.2"](broker, "kern.#.critical cron.#")
        accepted = run_solution("5.2", broker=broker)
    assert not off and is_chinese(str(off)), str(off)
    assert off.title == "10 条测试消息中，['kern.*', 'cron.*'] 漏掉了 2 条，并且错收了 1 条"
    assert off.details[0] == (
        "漏掉了 kern.disk.critical：'kern.*'：没有 # 时，它只匹配恰好 2 个词的键（每个 * 恰好是一个词），"
        "而 'kern.disk.critical' 有 3 个词"
    )
    assert "错收了 kern.info：'kern.*' 匹配 'kern.info'：'kern'，* = 'info'" in off.details
    assert not glued and is_chinese(str(glued)), str(glued)
    assert "'cron*' 不是通配符，而是一个普通的词" in str(glued)
    assert not spaced and is_chinese(str(spaced)), str(spaced)
    assert spaced.title == "'kern.#.critical cron.#' 里有空格"
    assert accepted, str(accepted)
    assert accepted.title == "['kern.#.critical', 'cron.#'] 按要求路由了全部 10 条测试消息"
    assert is_chinese(str(accepted)), str(accepted)


def test_5_3_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        ignored = course.EXERCISES["5.3"](broker, {"x-match": "all", "type": "invoice", "x-tenant": "acme"})
        refused = course.EXERCISES["5.3"](broker, {"x-match": "both", "type": "invoice"})
        accepted = run_solution("5.3", broker=broker)
    assert not ignored and is_chinese(str(ignored)), str(ignored)
    assert ignored.title == "8 条测试消息中，你的绑定错收了 2 条"
    assert "你的 'x-tenant' 根本没有参与比较（'all-with-x' 才会比较它）" in str(ignored)
    assert "错收了 globex 的发票：它的 type 是 'invoice'" in ignored.details
    assert "错收了不属于任何租户的发票：它的 type 是 'invoice'" in ignored.details
    assert not refused and is_chinese(str(refused)), str(refused)
    assert refused.title == "消息代理拒绝了这个绑定"
    assert "406 PRECONDITION_FAILED - Invalid x-match field value" in str(refused)  # RabbitMQ's own words
    assert accepted, str(accepted)
    assert accepted.title == "你的绑定收下了 acme 的 2 张发票，其余 6 条消息一条也没收"
    assert is_chinese(str(accepted)), str(accepted)
