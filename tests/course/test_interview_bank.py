"""The interview question bank (chapter 11): complete questions, the study notes' five in their
own Chinese, loud refusal of bad data, quizzes that explain every choice, and every "prove it"
run on the simulator and on real RabbitMQ 3.10, 4.0 and 4.3, leaving nothing behind."""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rabbitsim.backends import BrokerHandle
from rabbitsim.backends._management import ManagementClient
from rabbitsim.course.interview._bank import (
    BANK,
    DIFFICULTIES,
    TOPICS,
    Question,
    load_bank,
    load_quizzes,
    prove,
    question,
)
from tests.real_brokers import broker_on

ROOT = Path(__file__).resolve().parents[2]

#: the five interview questions of the study notes (../shared/seeds/004_*.txt, lines 13-21), in
#: their own words, and the ids that answer them
NOTES_FIVE = {
    "rabbitmq-kafka-zeromq": "简述 RabbitMQ、Kafka、ZeroMQ的区别？",
    "no-loss-when-consumer-dies": "RabbitMQ如何在消费者获取任务后未处理完前就挂掉时，保证数据不丢失？",
    "persistence": "RabbitMQ如何对消息做持久化？",
    "message-order": "RabbitMQ如何控制消息被消费的顺序？",
    "exchange-types": "以下RabbitMQ的exchange type分别代表什么意思？如：fanout、direct、topic。",
}
PROVED = [item.id for item in BANK if item.prove]
BACKENDS = ("sim", "3.10", "4.0", "4.3")  # interview_api.md: every proof runs on all of them


# --- the bank's content ------------------------------------------------------------------------------


def test_the_bank_is_large_enough_and_covers_every_topic() -> None:
    assert len(BANK) >= 40
    assert len(PROVED) >= 15
    for topic in TOPICS:
        assert len([item for item in BANK if item.topic == topic]) >= 2, topic


@pytest.mark.parametrize("item", BANK, ids=lambda item: item.id)
def test_every_question_is_complete(item: Question) -> None:
    assert item.question.strip() and item.chinese.strip()
    words = len(item.answer.split())
    assert 120 <= words <= 220, f"{item.id}: a one-minute answer is 120-220 words, this one {words}"
    assert len(item.follow_ups) >= 2
    assert all(follow.question.strip() and follow.answer.strip() for follow in item.follow_ups)
    assert item.topic in TOPICS and item.difficulty in DIFFICULTIES
    assert item.chapter is not None and 1 <= item.chapter <= 11
    assert item.links and all(link.startswith("https://www.rabbitmq.com/") for link in item.links)


def test_the_notes_five_are_there_in_their_own_chinese() -> None:
    from_notes = {item.id: item.chinese for item in BANK if item.from_notes}
    assert from_notes == NOTES_FIVE
    seeds = sorted((ROOT.parent / "shared" / "seeds").glob("004_*.txt"))
    if seeds:  # beside the repository in the project's workspace: the words must be the notes' own
        notes = seeds[0].read_text("utf-8")
        for chinese in NOTES_FIVE.values():
            assert chinese in notes


def test_a_question_is_found_by_id_and_a_typo_gets_close_ids() -> None:
    assert question("message-order").from_notes
    with pytest.raises(KeyError, match="message-order"):
        question("message-ordr")


def test_a_question_shows_as_markdown_with_its_answer_and_follow_ups() -> None:
    item = question("consumer-timeout")
    shown = item._repr_markdown_()
    assert item.question in shown and item.follow_ups[1].question in shown
    assert "30 minutes" in shown and "chapter 7" in shown


def test_the_leftover_check_knows_each_proofs_names() -> None:
    exact, _ = names_in(question("vhosts-and-permissions").prove)
    assert {"interview.vh", "interview.user", "interview.app.jobs", "interview.billing"} <= exact
    assert names_in(question("topic-wildcards").prove)[1] == {"interview.topic."}


def test_prove_refuses_a_question_without_proof() -> None:
    unproved = next(item for item in BANK if not item.prove)
    with pytest.raises(ValueError, match="has no proof"):
        prove(unproved, broker=None)


# --- validation: bad data is refused, naming the question and the field -----------------------------

GOOD = """
[[question]]
id = "{id}"
topic = "{topic}"
difficulty = {difficulty}
chapter = 2
question = "Why ack?"
answer = "{answer}"
{extra}
[[question.follow_up]]
question = "q1"
answer = "a1"
{second}
"""
SECOND = '[[question.follow_up]]\nquestion = "q2"\nanswer = "a2"\n'


def bank_file(tmp_path: Path, *entries: dict[str, object]) -> Path:
    texts = []
    for entry in entries:
        fields: dict[str, object] = {
            "id": "why-ack",
            "topic": "delivery and acks",
            "difficulty": 1,
            "answer": "Because.",
            "extra": "",
            "second": SECOND,
        }
        fields.update(entry)
        texts.append(GOOD.format(**fields))
    path = tmp_path / "questions.toml"
    path.write_text("\n".join(texts), "utf-8")
    return path


def test_good_data_loads(tmp_path: Path) -> None:
    (item,) = load_bank(bank_file(tmp_path, {}))
    assert item.id == "why-ack" and len(item.follow_ups) == 2 and item.chapter == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"topic": "acks"}, r"'why-ack'.*'topic'"),
        ({"difficulty": 4}, r"'why-ack'.*'difficulty'"),
        ({"difficulty": '"2"'}, r"'why-ack'.*'difficulty'"),
        ({"answer": "  "}, r"'why-ack'.*'answer' is empty"),
        ({"second": ""}, r"'why-ack'.*'follow_up' has 1"),
        ({"extra": "colour = 3"}, r"'why-ack'.*unknown field.*colour"),
        ({"extra": 'prove = "print(("'}, r"'why-ack'.*'prove' is not valid Python"),
        ({"extra": "from_notes = true"}, r"'why-ack'.*'chinese' is empty"),
        ({"id": "Why Ack"}, r"'id' must be kebab-case"),
    ],
)
def test_bad_data_is_refused_by_id_and_field(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_bank(bank_file(tmp_path, entry))


def test_a_chapter_out_of_range_is_refused(tmp_path: Path) -> None:
    path = bank_file(tmp_path, {})
    path.write_text(path.read_text("utf-8").replace("chapter = 2", "chapter = 12"), "utf-8")
    with pytest.raises(ValueError, match=r"'why-ack'.*'chapter' is 12"):
        load_bank(path)


def test_an_id_used_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'why-ack'.*'id' is used twice"):
        load_bank(bank_file(tmp_path, {}, {"topic": "ordering"}))


# --- quizzes -----------------------------------------------------------------------------------------


def test_quizzes_explain_every_choice() -> None:
    quizzes = load_quizzes()
    assert len(quizzes) >= 30
    assert {quiz.topic for quiz in quizzes} == set(TOPICS)
    for quiz in quizzes:
        assert 3 <= len(quiz.choices) <= 4, quiz.question
        assert sum(choice.correct for choice in quiz.choices) >= 1, quiz.question
        assert all(choice.feedback.strip() and choice.text.strip() for choice in quiz.choices)
        assert len({choice.text for choice in quiz.choices}) == len(quiz.choices), quiz.question


QUIZ = """
[[quiz]]
topic = "ordering"
question = "Which?"
[[quiz.choice]]
text = "this"
correct = {correct}
feedback = "{feedback}"
[[quiz.choice]]
text = "that"
correct = false
feedback = "No."
"""


@pytest.mark.parametrize(
    ("correct", "feedback", "message"),
    [("false", "Yes.", "no correct choice"), ("true", "", r"choice 1: field 'feedback' is empty")],
)
def test_bad_quizzes_are_refused(tmp_path: Path, correct: str, feedback: str, message: str) -> None:
    path = tmp_path / "quizzes.toml"
    path.write_text(QUIZ.format(correct=correct, feedback=feedback), "utf-8")
    with pytest.raises(ValueError, match=message):
        load_quizzes(path)


# --- every proof runs, on the simulator and on real RabbitMQ 4.3 -------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    with broker_on(request.param) as handle:
        yield handle


def names_in(code: str) -> tuple[set[str], set[str]]:
    """The names a proof declares: literal "interview.x" ones, and prefixes of f-string ones
    ("interview.topic.{n}"), so the check looks only at the proof's own objects (other helpers'
    tests may use the same prefix on the same real broker at the same time)."""
    tokens = re.findall(r"interview\.[A-Za-z0-9_.-]*\{?", code)
    return {t for t in tokens if not t.endswith("{")}, {t[:-1] for t in tokens if t.endswith("{")}


def leftovers(broker: BrokerHandle, code: str) -> list[str]:
    """What a proof left on the broker of its own objects (the management API lists objects as
    soon as they exist, without waiting for statistics)."""
    assert broker.management_url is not None
    api = ManagementClient(broker.management_url)
    exact, prefixes = names_in(code)
    found = [
        f"{kind} {item['name']}"
        for kind in ("queues", "exchanges", "vhosts", "users")
        for item in api.get(kind)
    ]
    return [
        entry
        for entry in found
        if (name := entry.split(" ", 1)[1]) in exact or any(name.startswith(prefix) for prefix in prefixes)
    ]


@pytest.mark.parametrize("ident", PROVED)
def test_every_proof_runs_prints_and_cleans_up(broker: BrokerHandle, ident: str) -> None:
    output = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(output):
        prove(ident, broker)
    seconds = time.monotonic() - started
    shown, _, printed = output.getvalue().partition("# --- output ---\n")
    assert question(ident).prove in shown  # the learner sees the code first
    assert printed.strip(), f"{ident} printed nothing"
    assert "Traceback" not in printed
    assert leftovers(broker, question(ident).prove) == []
    if broker.backend == "sim":
        # measured on an idle machine: 0.01-1.3 s each (1.7 s for the restart of the simulator's
        # process in "persistence"); the bound leaves room for a machine shared by many test runs
        assert seconds < 8, f"{ident} took {seconds:.1f} s on the simulator"
