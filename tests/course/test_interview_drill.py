"""The interview drill (chapter 11): the record outlives the kernel (graded in one process, read in
another), missed questions come back first, spaced repetition orders what is due, the filters
hold, the widgets' buttons do what they say, the mock interview adds up, and the quizzes render
every choice's feedback. A small bank built here keeps the drill's tests independent of the
bank's content; the record and quiz tests also run on the real bank."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest

from rabbitsim.course import interview
from rabbitsim.course.interview import _drill, _quiz
from rabbitsim.course.interview._bank import TOPIC_NAMES, Choice, FollowUp, Question, QuizQuestion
from rabbitsim.course.interview._drill import INTERVALS, Drill, MockInterview, Record

from .zh import in_chinese, is_chinese

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600.0


def make(ident: str, topic: str, difficulty: int, chapter: int | None = 7) -> Question:
    return Question(
        id=ident,
        topic=topic,
        difficulty=difficulty,
        question=f"Question {ident}?",
        answer=f"The model answer to {ident}.",
        follow_ups=(FollowUp(f"First follow-up of {ident}?", "Yes."), FollowUp("And then?", "No.")),
        chapter=chapter,
    )


BANK = (
    make("order-1", "ordering", 1, 2),
    make("order-2", "ordering", 2, 2),
    make("order-3", "ordering", 3, 7),
    make("acks-1", "delivery and acks", 1, 2),
    make("acks-2", "delivery and acks", 2, 7),
    make("rpc-1", "rpc", 2, 6),
    make("rpc-2", "rpc", 3, 6),
    make("cmp-1", "comparisons", 1, None),
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_record_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever makes a Record() with no path writes in the test's folder, never the repository."""
    monkeypatch.setenv(_drill.RECORD_ENV, str(tmp_path / "default-record.json"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "record.json"


def find(widget: Any, description: str) -> Any:
    """The button (or any widget) with this description, searched through the widget tree."""
    found = list(_walk(widget, lambda w: getattr(w, "description", None) == description))
    assert len(found) == 1, f"{len(found)} widgets described {description!r}"
    return found[0]


def _walk(widget: Any, match: Any) -> Iterator[Any]:
    if match(widget):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child, match)


def shown(output: Any) -> str:
    """The markdown an Output widget holds."""
    return "\n".join(item["data"]["text/markdown"] for item in output.outputs)


def view_of(mock_: MockInterview) -> Any:
    """The widgets of the mock's last widget(), to look at its clock."""
    assert mock_._view is not None
    return mock_._view


def outputs(widget: Any) -> list[Any]:
    from ipywidgets import Output  # type: ignore[import-untyped]

    return list(_walk(widget, lambda w: isinstance(w, Output)))


# --- the record ----------------------------------------------------------------------------------


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_record_survives_a_new_process_and_the_missed_question_comes_back_first(tmp_path: Path) -> None:
    """A kernel grades three questions and exits; a new one (default Record(), found through the
    environment) reads them back, and its drill asks the missed question first."""
    env = {_drill.RECORD_ENV: str(tmp_path / "sitting.json")}
    first = run(
        """
        from rabbitsim.course import interview
        ids = [q.id for q in interview.BANK[:3]]
        record = interview.Record()
        record.grade(ids[0], "right", 20.0)
        record.grade(ids[1], "wrong", 95.0)
        record.grade(ids[2], "right", 30.0)
        print(ids[1])
        """,
        env,
    )
    missed = first.strip()
    second = run(
        """
        import json
        from rabbitsim.course import interview
        record = interview.Record()
        drill = interview.Drill(seed=7)
        print(json.dumps({"missed": record.missed(), "len": len(record), "next": drill.next().id,
                          "box": record.box(drill.current.id)}))
        """,
        env,
    )
    seen = json.loads(second)
    assert seen == {"missed": [missed], "len": 3, "next": missed, "box": 1}


def test_a_record_is_written_whole_or_not_at_all(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = Record(path)
    record.grade("order-1", "right")
    before = path.read_text()
    assert json.loads(before)["questions"]["order-1"]["box"] == 2

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("json.dump", broken)
    with pytest.raises(OSError, match="disk full"):
        record.grade("order-2", "wrong")
    assert path.read_text() == before  # the old record, intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]  # no temporary file left


def test_the_default_record_is_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_drill.RECORD_ENV)
    monkeypatch.chdir(tmp_path)
    Record().grade("order-1", "wrong")
    assert Record(tmp_path / "interview-record.json").missed() == ["order-1"]
    monkeypatch.setenv(_drill.RECORD_ENV, str(tmp_path / "elsewhere" / "mine.json"))
    assert Record().path == tmp_path / "elsewhere" / "mine.json" and Record().missed() == []


def test_a_broken_record_file_says_how_to_recover(path: Path) -> None:
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"reset\(\)"):
        Record(path).missed()
    Record(path).reset()
    assert Record(path).missed() == []


def test_leitner_boxes(path: Path) -> None:
    clock = Clock()
    record = Record(path, clock=clock)
    for expected in (2, 3, 4, 5, 5):  # "right" moves up one box, to 5 at most
        record.grade("order-1", "right")
        assert record.box("order-1") == expected
    stored = json.loads(path.read_text())["questions"]["order-1"]
    assert stored["due"] == clock.now + INTERVALS[5]
    record.grade("order-1", "partly")  # back to box 1, due at once
    assert (record.box("order-1"), record.last("order-1")) == (1, "partly")
    assert record.due() == ["order-1"]
    assert (
        len(stored["history"]) == 5
        and len(json.loads(path.read_text())["questions"]["order-1"]["history"]) == 6
    )
    with pytest.raises(ValueError, match="grade must be one of"):
        record.grade("order-1", "maybe")  # type: ignore[arg-type]


def test_spaced_repetition_order(path: Path) -> None:
    """Due first: box 1 (missed; wrong before partly, the longest waiting first), then the lower
    boxes whose rest is over, the longest overdue first."""
    clock = Clock()
    record = Record(path, clock=clock)
    record.grade("acks-1", "right")  # box 2, due in a day
    record.grade("rpc-1", "right")
    record.grade("rpc-1", "right")  # box 3, due in 3 days
    clock.now += 60
    record.grade("order-1", "partly")
    clock.now += 60
    record.grade("order-2", "wrong")
    clock.now += 60
    record.grade("order-3", "wrong")
    assert record.missed() == ["order-2", "order-3", "order-1"]
    assert record.due() == ["order-2", "order-3", "order-1"]
    assert record.due(clock.now + 1.5 * DAY) == ["order-2", "order-3", "order-1", "acks-1"]
    assert record.due(clock.now + 4 * DAY) == ["order-2", "order-3", "order-1", "acks-1", "rpc-1"]
    record.grade("order-2", "right")
    assert record.missed() == ["order-3", "order-1"]
    stats = record.stats(BANK)
    assert list(stats) == ["ordering", "delivery and acks", "rpc"]
    assert (stats["ordering"].seen, stats["ordering"].right, stats["ordering"].to_revise) == (3, 1, 2)
    assert stats["ordering"].attempts == 4 and stats["rpc"].attempts == 2


# --- the drill -----------------------------------------------------------------------------------


def test_missed_come_back_first_then_unseen_then_the_rest(path: Path) -> None:
    clock = Clock()
    drill = Drill(BANK, Record(path, clock=clock), seed=3, clock=clock)
    asked = [drill.next().id]
    drill.grade(asked[0], "wrong")
    # the missed one is due at once, but never asked twice in a row
    second = drill.next()
    assert second.id != asked[0]
    drill.grade(second, "right")
    assert drill.next().id == asked[0]
    drill.grade(asked[0], "right")
    seen = {asked[0], second.id}
    while len(seen) < len(BANK):  # then every unseen question, each once
        item = drill.next()
        assert item.id not in seen
        seen.add(item.id)
        drill.grade(item, "right")
    again = [drill.next().id for _ in range(20)]  # all rest in their boxes: any, never twice running
    assert all(a != b for a, b in itertools.pairwise(again))
    clock.now += 2 * DAY  # a day and more later: the box-2 questions are due again, first
    assert drill.next().id in {ident for ident in seen if drill.record.box(ident) == 2}


def test_seconds_are_kept_from_the_question_shown(path: Path) -> None:
    clock = Clock()
    drill = Drill(BANK, path, seed=1, clock=clock)
    item = drill.next()
    clock.now += 42
    drill.grade(item, "partly")
    other = next(q for q in BANK if q.id != item.id)
    drill.grade(other, "right")  # graded without being shown: no time
    history = json.loads(path.read_text())["questions"]
    assert history[item.id]["history"][0]["seconds"] == 42
    assert history[other.id]["history"][0]["seconds"] is None
    with pytest.raises(KeyError, match="no question 'nope'"):
        drill.grade("nope", "right")


def test_the_same_seed_asks_the_same_questions(tmp_path: Path) -> None:
    def sequence(name: str, seed: int) -> list[str]:
        drill = Drill(BANK, tmp_path / name, seed=seed)
        return [drill.next().id for _ in range(6)]

    assert sequence("a.json", 5) == sequence("b.json", 5)
    assert len({tuple(sequence(f"{seed}.json", seed)) for seed in range(6)}) > 1


def test_topic_and_difficulty_filters(path: Path) -> None:
    drill = Drill(BANK, path, seed=2)
    for _ in range(10):
        item = drill.next("ordering")
        assert item.topic == "ordering"
        drill.grade(item, "wrong")
    assert {drill.next(difficulty=2).difficulty for _ in range(10)} == {2}
    assert {drill.next("rpc", 3).id for _ in range(3)} == {"rpc-2"}
    with pytest.raises(ValueError, match="the topics are"):
        drill.next("kafka")
    with pytest.raises(ValueError, match="no senior question on 'comparisons'"):
        drill.next("comparisons", 3)
    with pytest.raises(ValueError, match="difficulty must be one of"):
        drill.next(difficulty=4)


def test_summary_per_topic_with_chapters(path: Path) -> None:
    drill = Drill(BANK, path, seed=1)
    assert "Nothing drilled yet" in str(drill.summary())
    drill.grade("order-1", "right")
    drill.grade("order-3", "wrong")
    drill.grade("rpc-1", "partly")
    drill.grade("cmp-1", "wrong")  # a question no chapter teaches
    summary = drill.summary()
    rows = {row.topic: row for row in summary.rows}
    assert list(rows) == ["ordering", "rpc", "comparisons"]
    assert (rows["ordering"].questions, rows["ordering"].seen, rows["ordering"].right) == (3, 2, 1)
    assert (rows["ordering"].to_revise, rows["ordering"].chapters) == (1, (7,))
    assert rows["rpc"].chapters == (6,) and rows["comparisons"].chapters == ()
    text = str(summary)
    assert "chapter 7 (Reliability)" in text and "chapter 6 (RPC)" in text and "2 of 3" in text
    page = summary._repr_html_()
    assert "<table>" in page and "chapter 6 (RPC)" in page and str(path) in page


def test_the_drill_widget_buttons_do_what_they_say(path: Path) -> None:
    drill = Drill(BANK, path, seed=4)
    box = drill.widget(topic="ordering")
    assert "rabbitsim-drill" in box._dom_classes
    question, answer = outputs(box)
    reveal, knew, partly, missed, next_button = (
        find(box, name) for name in ("Reveal answer", "I knew it", "Partly", "I missed it", "Next question")
    )
    first = drill.current
    assert first is not None and first.topic == "ordering"
    assert first.question in shown(question) and shown(answer) == ""
    assert knew.disabled and partly.disabled and missed.disabled and not reveal.disabled  # reveal first

    reveal.click()
    assert first.answer in shown(answer) and first.follow_ups[0].question in shown(answer)
    assert reveal.disabled and not knew.disabled
    missed.click()
    assert drill.record.last(first.id) == "wrong" and drill.record.box(first.id) == 1
    status = _status(box)
    assert "missed questions come back first" in status and "1 to revise" in status
    assert knew.disabled  # one grade per question

    next_button.click()
    second = drill.current
    assert second is not None and second.id != first.id and second.topic == "ordering"
    assert second.question in shown(question) and shown(answer) == "" and _status(box) == ""
    reveal.click()
    knew.click()
    assert drill.record.last(second.id) == "right" and drill.record.box(second.id) == 2
    assert "it comes back in 1 day." in _status(box)
    next_button.click()
    assert drill.current is not None and drill.current.id == first.id  # the missed one, back

    find(box, "Topic").value = "rpc"  # choosing a topic asks a question on it
    assert (
        drill.current is not None
        and drill.current.topic == "rpc"
        and drill.current.question in shown(question)
    )
    find(box, "Level").value = 3
    assert drill.current.id == "rpc-2"
    partly_before = drill.record.last("rpc-2")
    reveal.click()
    partly.click()
    assert (partly_before, drill.record.last("rpc-2")) == (None, "partly")
    find(box, "Topic").value = "comparisons"  # no senior question there: said, nothing to grade
    assert "no senior question" in shown(question) and reveal.disabled and knew.disabled


def _status(box: Any) -> str:
    from ipywidgets import HTML

    (status,) = _walk(box, lambda w: isinstance(w, HTML))
    return str(status.value)


# --- the mock interview --------------------------------------------------------------------------


def test_mock_interview_summary_figures(path: Path) -> None:
    mock_ = MockInterview(BANK, questions=4, minutes_per_question=1, record=path, seed=11)
    assert len({item.topic for item in mock_.questions}) == 4  # one per topic before any repeats
    difficulties = [item.difficulty for item in mock_.questions]
    assert difficulties == sorted(difficulties)  # easiest first
    first = mock_.questions
    mock_.answer("right", 30)
    mock_.answer("partly", 75)  # over the minute
    assert mock_.current == first[2]
    partial = mock_.summary()
    assert (partial.score, partial.out_of, [q.id for q in partial.unanswered]) == (
        1.5,
        4,
        [first[2].id, first[3].id],
    )
    mock_.answer("wrong", 20)
    mock_.answer("right", 10)
    assert mock_.finished and mock_.current is None
    summary = mock_.summary()
    assert (summary.score, summary.out_of, summary.total_seconds) == (2.5, 4, 135)
    assert summary.over_time == (first[1].id,)
    assert summary.weak_topics == (first[2].topic, first[1].topic)  # a wrong weighs more than a partly
    assert summary.chapters == tuple(sorted({q.chapter for q in first[1:3] if q.chapter is not None}))
    text = str(summary)
    assert "Score: 2.5 / 4, in 2:15." in text and "over time" in text and "1:15 / 1:00" in text
    assert "Weak topics: " + ", ".join(summary.weak_topics) in text
    assert "<table>" in summary._repr_html_()
    record = Record(path)
    assert [record.last(q.id) for q in first] == ["right", "partly", "wrong", "right"]
    with pytest.raises(ValueError, match="grade must be one of"):
        mock_.answer(cast(Any, "great"), 1)


def test_mock_interview_same_seed_same_questions_and_a_topic(path: Path) -> None:
    ids = [[q.id for q in MockInterview(BANK, questions=3, seed=5, record=path).questions] for _ in range(2)]
    assert ids[0] == ids[1]
    only = MockInterview(BANK, questions=9, topic="rpc", record=path)
    assert {q.id for q in only.questions} == {"rpc-1", "rpc-2"}  # no more than the topic holds
    with pytest.raises(ValueError, match="the topics are"):
        MockInterview(BANK, topic="kafka", record=path)


def test_mock_interview_widget_clock_reveal_grade_and_summary(path: Path) -> None:
    mock_ = MockInterview(BANK, questions=2, minutes_per_question=1, record=path, seed=3)
    box = mock_.widget()
    assert "rabbitsim-mock" in box._dom_classes
    start, reveal, knew, missed = (
        find(box, n) for n in ("Start mock interview", "Reveal answer", "I knew it", "I missed it")
    )
    assert not start.disabled and reveal.disabled and knew.disabled
    question, answer = outputs(box)
    start.click()
    view = view_of(mock_)
    clock = view.clock
    assert clock is not None and clock.thread.is_alive() and clock.thread.daemon
    assert view.time.value == "⏱ 0:00 / 1:00" and start.disabled
    assert mock_.questions[0].question in shown(question)
    reveal.click()
    clock.thread.join(timeout=3)
    assert not clock.thread.is_alive() and view.clock is None  # the clock stops at the reveal
    assert mock_.questions[0].answer in shown(answer)
    knew.click()
    assert mock_.answers[0].grade == "right" and view.clock is not None  # the next question, a new clock
    second_clock = view.clock
    reveal.click()
    missed.click()
    second_clock.thread.join(timeout=3)
    assert not second_clock.thread.is_alive() and view.clock is None and mock_.finished
    assert "Score: 1 / 2" in view.result.value and not start.disabled
    start.click()  # once more: a new mock
    assert mock_.answers == [] and view.clock is not None
    view.clock.stop()


def test_the_mock_clock_stops_by_itself_when_the_time_is_up(path: Path) -> None:
    mock_ = MockInterview(BANK, questions=1, minutes_per_question=1.5 / 60, record=path)
    box = mock_.widget()
    started = time.monotonic()
    find(box, "Start mock interview").click()
    clock = view_of(mock_).clock
    assert clock is not None
    clock.thread.join(timeout=15)  # generous: the machine may be busy; it ends by itself, or the test fails
    assert not clock.thread.is_alive() and 1.5 <= time.monotonic() - started < 15
    assert "time is up" in view_of(mock_).time.value
    find(box, "Reveal answer").click()
    find(box, "Partly").click()
    assert mock_.summary().over_time == (mock_.questions[0].id,)


# --- quizzes -------------------------------------------------------------------------------------


def test_quizzes_come_from_quizzes_toml_by_topic() -> None:
    from rabbitsim.course.interview._bank import TOPICS, load_quizzes

    every = load_quizzes()
    assert list(interview.QUIZZES) == [topic for topic in TOPICS if topic in interview.QUIZZES]
    assert sum(len(items) for items in interview.QUIZZES.values()) == len(every)
    for topic, items in interview.QUIZZES.items():
        assert all(item.topic == topic for item in items)


def test_quiz_renders_every_choice_with_its_feedback() -> None:
    """What jupyterquiz is given, and what it puts in the notebook: the quiz's div, and a script
    holding every question, every choice, which are right, and every choice's feedback."""
    for topic, items in interview.QUIZZES.items():
        shown_quiz = interview.quiz(topic, n=len(items))
        assert shown_quiz.questions == items
        data = shown_quiz.data()
        for item, entry in zip(items, data, strict=True):
            assert entry["question"] == _quiz._html(item.question)
            assert entry["type"] in {"multiple_choice", "many_choice"}
            assert [(a["answer"], a["correct"], a["feedback"]) for a in entry["answers"]] == [
                (_quiz._html(c.text), c.correct, _quiz._html(c.feedback)) for c in item.choices
            ]
    shown_quiz = interview.quiz(n=4, seed=1)
    displayed = _displayed(shown_quiz)
    assert [type(d).__name__ for d in displayed] == ["Javascript", "HTML", "Javascript"]
    guard, (page, script) = displayed[0].data, (d.data for d in displayed[1:])
    assert guard == _quiz._MATHJAX_SHIM and "MathJax.typeset = function" in guard
    assert "<div id=" in page and "Question.register('multiple_choice'" in script
    for item in shown_quiz.questions:
        assert json.dumps(_quiz._html(item.question)) in script
        for choice in item.choices:
            assert json.dumps(_quiz._html(choice.feedback)) in script


def _displayed(quiz: Any) -> list[Any]:
    """What a notebook would be sent, in order: our MathJax guard, then jupyterquiz's div and script."""
    display = mock.Mock()
    with (
        mock.patch("IPython.display.display", display),
        mock.patch("jupyterquiz.dynamic.display.display", display),
    ):
        quiz._ipython_display_()
    return [arg for call in display.call_args_list for arg in call.args]


def test_quiz_text_is_escaped_for_jupyterquiz() -> None:
    tricky = QuizQuestion(
        "ordering",
        "Does `basic_qos(prefetch_count=1)` cost $5 <per> message?",
        (Choice("Yes & no", False, "Nope: `x < y`."), Choice("No", True, "Right.")),
    )
    (entry,) = _quiz.Quiz((tricky,)).data()
    assert (
        entry["question"] == "Does <code>basic_qos(prefetch_count=1)</code> cost &#36;5 &lt;per&gt; message?"
    )
    assert entry["answers"][0] == {
        "answer": "Yes &amp; no",
        "correct": False,
        "feedback": "Nope: <code>x &lt; y</code>.",
    }
    assert "$" not in json.dumps(entry)  # jupyterquiz reads "$" as LaTeX
    assert "a) Yes & no" in str(_quiz.Quiz((tricky,)))


def test_quiz_draws_repeatably() -> None:
    assert interview.quiz(n=3, seed=4).questions == interview.quiz(n=3, seed=4).questions
    total = sum(len(items) for items in interview.QUIZZES.values())
    assert len(interview.quiz(n=3).questions) == min(3, total)
    assert len(interview.quiz(n=total + 5).questions) == total
    with pytest.raises(ValueError, match="topics with quizzes"):
        interview.quiz("kafka")
    with pytest.raises(ValueError, match="at least 1"):
        interview.quiz(n=0)


def test_the_package_face() -> None:
    assert set(interview.__all__) == {
        "BANK", "Question", "FollowUp", "TOPICS", "question", "prove", "load_bank",
        "Record", "Drill", "MockInterview", "QUIZZES", "quiz", "TASKS",
    }  # fmt: skip
    for name in interview.__all__:
        assert getattr(interview, name) is not None
    assert interview.Drill is Drill and interview.Record is Record


# --- the Chinese edition -------------------------------------------------------------------------

#: the small bank as the Chinese edition asks it (its own texts; the keys and chapters stay)
ZH_BANK = tuple(
    replace(
        item,
        question=f"{item.id} 这道题问的是什么？",
        answer=f"这是 {item.id} 的参考答案。",
        follow_ups=(FollowUp(f"{item.id} 的第一个追问是什么？", "是的。"), FollowUp("然后呢？", "不是。")),
    )
    for item in BANK
)


def test_the_drill_widgets_speak_chinese(path: Path) -> None:
    with in_chinese():
        drill = Drill(ZH_BANK, path, seed=4)
        box = drill.widget(topic="ordering")
        question, answer = outputs(box)
        reveal, knew, partly, missed, next_button = (
            find(box, name) for name in ("显示答案", "答对了", "部分答对", "没答上", "下一题")
        )
        topic, level = find(box, "主题"), find(box, "难度")
        assert topic.options[0] == ("全部主题", "") and ("消息顺序", "ordering") in topic.options
        assert ("投递与消息确认", "delivery and acks") in topic.options
        assert level.options == (("任意难度", 0), ("初级", 1), ("中级", 2), ("高级", 3))
        first = drill.current
        assert first is not None
        header = shown(question).splitlines()[-1]
        assert header.startswith("<small>消息顺序 · ") and f"第 {first.chapter} 章（" in header
        assert any(name in header for name in ("工作队列", "可靠性"))
        reveal.click()
        assert "高分回答" in shown(answer) and "面试官接着会问" in shown(answer)
        missed.click()
        status = _status(box)
        assert status.startswith("<b>你没答上</b>：这道题会优先再出。记录（<code>")
        assert "里现在有 1 道题，其中 1 道待复习；答错的题会优先再出。" in status
        next_button.click()
        reveal.click()
        knew.click()
        assert "<b>你答对了</b>：这道题 1 天后再出。" in _status(box)
        next_button.click()
        reveal.click()
        partly.click()
        assert _status(box).startswith("<b>你部分答对</b>：")
        topic.value = "comparisons"
        level.value = 3  # no senior question there: said in Chinese, nothing to grade
        assert "主题“横向比较”下没有高级题：请换一个难度" in shown(question) and reveal.disabled
        with pytest.raises(ValueError, match="可选的主题有：'ordering'（消息顺序）、"):
            drill.next("kafka")
        with pytest.raises(ValueError, match="难度必须是"):
            drill.next(difficulty=4)
    english = Drill(BANK, path, seed=4).widget()  # made outside: English again
    assert find(english, "Reveal answer") and find(english, "Topic").options[0] == ("all topics", "")


def test_a_question_asked_in_the_notes_own_words_is_not_shown_twice() -> None:
    notes = "如何确保即使消费者死亡，任务也不会丢失？"
    english = replace(make("notes-1", "delivery and acks", 1, 2), chinese=notes, from_notes=True)
    assert _drill._question_markdown(english).count(notes) == 1  # under the English question
    with in_chinese():
        markdown = _drill._question_markdown(replace(english, question=notes))
    assert markdown.count(notes) == 1 and "投递与消息确认 · 初级 · 第 2 章（工作队列）" in markdown


def test_the_drill_summary_speaks_chinese_and_keeps_its_columns(path: Path) -> None:
    drill = Drill(ZH_BANK, path, seed=1)
    with in_chinese():
        assert str(drill.summary()) == f"还没有刷过题（记录：{path}）。"
        drill.grade("order-1", "right")
        drill.grade("order-3", "wrong")
        drill.grade("rpc-1", "partly")
        text = str(drill.summary())
        page = drill.summary()._repr_html_()
    lines = text.splitlines()
    assert lines[0] == f"记录：{path}"
    assert lines[1].split() == ["主题", "已练", "答对", "待复习", "重读"]
    assert lines[2].startswith("消息顺序") and "2 / 3" in lines[2] and lines[2].endswith("第 7 章（可靠性）")
    assert lines[3].startswith("RPC") and lines[3].endswith("第 6 章（RPC）")
    # a Chinese character takes two columns: the columns still line up on a monospaced screen
    starts = {
        _drill._width(line[: line.index(cell)])
        for line, cell in zip(lines[1:4], ("已练", "2 / 3", "1 / 2"), strict=True)
    }
    assert len(starts) == 1, text
    assert "<th style='text-align:left;padding:2px 10px'>待复习</th>" in page and "<small>记录：" in page
    assert "chapter 7 (Reliability)" in str(drill.summary())  # outside: English again


def test_a_mock_interview_summary_speaks_chinese(path: Path) -> None:
    with in_chinese():
        mock_ = MockInterview(ZH_BANK, questions=4, minutes_per_question=1, record=path, seed=11)
        for grade, seconds in (("right", 30), ("partly", 75), ("wrong", 20), ("right", 10)):
            mock_.answer(cast(Any, grade), seconds)
        summary = mock_.summary()
        text, page = str(summary), summary._repr_html_()
        unfinished = MockInterview(ZH_BANK, questions=2, record=path, seed=2)
        unfinished.answer("right", 5)
        rest = str(unfinished.summary())
    assert is_chinese(text), text
    weak = "、".join(TOPIC_NAMES[topic] for topic in summary.weak_topics)
    assert text.startswith(
        "得分：2.5 / 4，用时 2:15。\n1 道题超时：面试官会打断你，要先说论点。\n"
        f"薄弱主题：{weak}。\n要复习的章节：第 "
    )
    assert "部分答对" in text and "没答上" in text and "1:15 / 1:00" in text and "超时" in text
    assert text.splitlines()[4].split() == ["#", "题目", "自评", "用时"]
    assert "<th style='text-align:left;padding:2px 10px'>自评</th>" in page and "得分：2.5 / 4" in page
    assert "未作答" in rest and rest.startswith("得分：1 / 2，用时 0:05。")
    assert str(summary).startswith("Score: 2.5 / 4, in 2:15.")  # outside: English again


def test_the_mock_interview_widget_speaks_chinese(path: Path) -> None:
    with in_chinese():
        mock_ = MockInterview(ZH_BANK, questions=2, minutes_per_question=1.5 / 60, record=path, seed=3)
        box = mock_.widget()
        view = view_of(mock_)
        assert view.intro.value.startswith("模拟面试：共 2 道题，每道题 0.025 分钟。") and is_chinese(
            view.intro.value
        )
        find(box, "开始模拟面试").click()
        assert view.progress.value == "<b>第 1 题，共 2 题</b>&nbsp;&nbsp;"
        clock = view.clock
        assert clock is not None
        clock.thread.join(timeout=15)  # it ends by itself once the time is up
        assert view.time.value.endswith("：时间到（说完这句话，然后显示答案）"), view.time.value
        find(box, "显示答案").click()
        assert view.time.value.endswith("：超时")
        find(box, "部分答对").click()
        assert view.progress.value == "<b>第 2 题，共 2 题</b>&nbsp;&nbsp;"
        find(box, "显示答案").click()
        find(box, "没答上").click()
        assert view.progress.value == "<b>模拟面试结束。</b>"
        assert "得分：0.5 / 2" in view.result.value and "薄弱主题：" in view.result.value


def test_errors_a_learner_reads_speak_chinese(path: Path) -> None:
    with in_chinese():
        with pytest.raises(ValueError, match="没有关于 'kafka' 的小测验；有小测验的主题是：") as quiz_error:
            interview.quiz("kafka")
        with pytest.raises(ValueError, match="n 至少为 1，而不是 0"):
            interview.quiz(n=0)
        with pytest.raises(ValueError, match="没有关于 'kafka' 的题；可选的主题有："):
            MockInterview(BANK, topic="kafka", record=path)
        with pytest.raises(RuntimeError, match=r"模拟面试还没开始，或者已经结束：请调用 start\(\)"):
            MockInterview(BANK, record=path).reveal()
        record = Record(path)
        with pytest.raises(ValueError, match="评分必须是"):
            record.grade("order-1", cast(Any, "maybe"))
        record.grade("order-1", "wrong")
        assert repr(record) == f"Record({str(path)!r}：1 道题，1 道待复习)"
        path.write_text("{not json")
        with pytest.raises(ValueError, match=r"不是一份能读取的面试记录.*Record\(path\)\.reset\(\)"):
            record.missed()
    assert "'ordering'（消息顺序）" in str(quiz_error.value)
    with pytest.raises(ValueError, match="is not a readable interview record"):
        record.missed()  # outside: English again
