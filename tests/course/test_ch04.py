"""Chapter 4, routing: the exercise checks accept the right answers and, for wrong ones, say
exactly which messages the answer would miss or wrongly get, and why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle

from .zh import in_chinese, is_chinese


@pytest.fixture
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


def leftovers(broker: BrokerHandle) -> list[str]:
    topology = broker.topology()
    return [e.name for e in topology.exchanges if e.name.startswith("exercise-")] + [
        q.name for q in topology.queues
    ]


# --- 4.1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [["warning", "error"], ("error", "warning"), ["error", "warning", "error"]])
def test_4_1_accepts_warning_and_error(broker: BrokerHandle, keys: list[str]) -> None:
    feedback = course.EXERCISES["4.1"](broker, keys)
    assert feedback, str(feedback)
    assert "'warning: disk 91% full', 'error: disk full'" in feedback.title
    assert not leftovers(broker)


def test_4_1_says_which_message_is_missed_and_which_wrongly_got(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.1"](broker, ["info", "error"])
    assert not feedback
    assert feedback.title.endswith("would miss 1 message and wrongly get 1")
    assert feedback.details == (
        "It would miss 'warning: disk 91% full' (routing key 'warning'): "
        "none of its binding keys is 'warning'.",
        "It would wrongly get 'info: Hello World!' (routing key 'info'), through binding key 'info'.",
    )
    assert not leftovers(broker)


def test_4_1_a_capitalised_key_matches_nothing_because_keys_are_exact(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.1"](broker, ["Error", "warning"])
    assert not feedback
    assert "miss 'error: disk full'" in str(feedback)
    assert "'Error' is not 'error'" in str(feedback)


def test_4_1_wildcards_are_literal_on_a_direct_exchange(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.1"](broker, ["#"])
    assert not feedback
    assert "would miss 2 messages" in feedback.title
    assert "wildcards only in a topic exchange" in str(feedback)


def test_4_1_one_string_is_one_key(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.1"](broker, "warning error")
    assert not feedback
    assert "that is one binding key" in str(feedback)
    assert "it is one key, not a list" in str(feedback)


def test_4_1_too_many_keys_let_info_through(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.1"](broker, ["info", "warning", "error"])
    assert not feedback
    assert feedback.title.endswith("would wrongly get 1")
    assert "'info: Hello World!'" in str(feedback)


def test_4_1_refuses_what_is_not_a_list_of_keys(broker: BrokerHandle) -> None:
    assert "not a list of binding keys" in course.EXERCISES["4.1"](broker, [1, 2]).title
    assert "not a list of binding keys" in course.EXERCISES["4.1"](broker, 7).title


# --- 4.2 ----------------------------------------------------------------------------------------


def test_4_2_accepts_the_brokers_counts(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 4, "pager": 2, "dropped": 1})
    assert feedback, str(feedback)
    assert "disk 2, screen 4, pager 2, dropped 1" in feedback.title
    assert not leftovers(broker)


def test_4_2_explains_each_wrong_count(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 5, "pager": 4, "dropped": 0})
    assert not feedback
    details = "\n".join(feedback.details)
    assert "screen: you said 5, but screen holds 4" in details
    assert "'debug' matches none of its keys" in details
    assert "pager: you said 4, but pager holds 2" in details
    assert "the second queue_bind with the same key changes nothing" in details
    assert "dropped: you said 0, but 1 ('debug: cache hit') reached no queue" in details
    assert "Right: disk 2." in details
    assert "disk: you said" not in details


def test_4_2_asks_for_missing_counts_and_names_unknown_queues(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["4.2"](broker, {"disk": 2, "printer": 1})
    assert not feedback
    assert "no queue called 'printer'" in str(feedback)
    assert "Add a count for 'screen', 'pager', 'dropped'" in str(feedback)


def test_4_2_wants_a_dict(broker: BrokerHandle) -> None:
    assert "as a dict" in course.EXERCISES["4.2"](broker, [2, 4, 2, 1]).title


def test_the_solutions_are_there_when_asked_for() -> None:
    assert '["warning", "error"]' in course.EXERCISES["4.1"].solution().code
    assert '"dropped": 1' in course.EXERCISES["4.2"].solution().code


# --- the Chinese edition -------------------------------------------------------------------------


def test_4_1_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        both_ways = course.EXERCISES["4.1"](broker, ["info", "error"])
        capitalised = course.EXERCISES["4.1"](broker, ["Error", "warning"])
        not_keys = course.EXERCISES["4.1"](broker, 7)
        accepted = course.EXERCISES["4.1"](broker, ["warning", "error"])
    assert not both_ways and is_chinese(str(both_ways)), str(both_ways)
    assert both_ways.title == "用绑定键 ['info', 'error']，磁盘订阅者会漏掉 1 条消息，并且错误地收到 1 条"
    assert both_ways.details == (
        "它会漏掉 'warning: disk 91% full'（路由键 'warning'）：它的绑定键里没有 'warning'。",
        "它会错误地收到 'info: Hello World!'（路由键 'info'），经由的是绑定键 'info'。",
    )
    assert not capitalised and is_chinese(str(capitalised)), str(capitalised)
    assert "所以 'Error' 和 'error' 不是同一个键" in str(capitalised)
    assert not not_keys and is_chinese(str(not_keys)), str(not_keys)
    assert not_keys.title == "这不是一个绑定键列表"
    assert accepted, str(accepted)
    assert accepted.title == (
        "用绑定键 ['warning', 'error']，磁盘订阅者收到的恰好是 'warning: disk 91% full'、'error: disk full'"
    )
    assert is_chinese(str(accepted)), str(accepted)
    assert not leftovers(broker)


def test_4_2_in_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        off = course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 5, "pager": 4, "dropped": 0})
        incomplete = course.EXERCISES["4.2"](broker, {"disk": 2, "printer": 1})
        accepted = course.EXERCISES["4.2"](broker, {"disk": 2, "screen": 4, "pager": 2, "dropped": 1})
    assert not off and is_chinese(str(off)), str(off)
    assert off.title == "还不太对：下面是消息代理对这五条消息的实际处理"
    details = "\n".join(off.details)
    assert "screen：你说的是 5，但 screen 里有 4 条" in details
    assert "'debug' 与它的任何一个键都不匹配" in details
    assert "用同一个键第二次调用 queue_bind 不会改变任何东西" in details
    assert "dropped：你说的是 0，但有 1 条（'debug: cache hit'）没有进入任何队列" in details
    assert "预测正确的：disk 2。" in details
    assert not incomplete and is_chinese(str(incomplete)), str(incomplete)
    assert "这道题里没有叫 'printer' 的队列" in str(incomplete)
    assert "请补上 'screen'、'pager'、'dropped' 的数量" in str(incomplete)
    assert accepted, str(accepted)
    assert accepted.title == "和消息代理的实际处理完全一致：disk 2、screen 4、pager 2、dropped 1"
    assert is_chinese(str(accepted)), str(accepted)
