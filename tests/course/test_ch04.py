"""Chapter 4, routing: the exercise checks accept the right answers and, for wrong ones, say
exactly which messages the answer would miss or wrongly get, and why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle


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
