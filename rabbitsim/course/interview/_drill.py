"""Practice for an interview: a record of what the learner knew, kept on disk from one sitting
to the next; a drill that brings back first what was missed (Leitner boxes); and a timed mock
interview that ends with what to revise.

    record = Record()                          # interview-record.json in the notebook's folder
    drill = Drill(seed=1); q = drill.next("ordering"); drill.grade(q, "partly")
    drill.widget()                             # dropdowns, the question, reveal, self-grade
    mock = MockInterview(questions=5); mock.widget()   # a clock per question, a summary at the end

The record is a small JSON file, written whole to a temporary file and renamed over the old one,
so a kernel killed mid-write leaves the previous record, never half of one. Every call reads the
file again: a drill and a mock interview in the same notebook share it without overwriting each
other's grades.
"""

from __future__ import annotations

import html
import json
import os
import random
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from .._feedback import Both, plural, say
from ._bank import DIFFICULTIES, DIFFICULTY_NAMES, TOPIC_NAMES, Question, difficulty_name, topic_name
from ._bank import bank as bank_now

__all__ = [
    "GRADES",
    "INTERVALS",
    "RECORD_ENV",
    "Drill",
    "DrillSummary",
    "Grade",
    "MockAnswer",
    "MockInterview",
    "MockSummary",
    "Record",
    "TopicRow",
    "TopicStats",
]

Grade = Literal["right", "partly", "wrong"]
GRADES: tuple[Grade, ...] = get_args(Grade)
#: where a Record() with no path keeps itself, when set; else interview-record.json in the current folder
RECORD_ENV = "RABBITSIM_INTERVIEW_RECORD"
_DEFAULT_FILE = "interview-record.json"
_FORMAT = "rabbitsim-interview-record"
_DAY = 24 * 3600.0
#: Leitner boxes 1..5: how long a question rests there before it is due again. Box 1 (missed) is
#: due at once; each right answer moves a question up one box and lets it rest longer.
INTERVALS: dict[int, float] = {1: 0.0, 2: 1 * _DAY, 3: 3 * _DAY, 4: 7 * _DAY, 5: 14 * _DAY}
#: the urgency of a last grade: a question answered wrong comes back before one answered partly
_URGENCY: dict[str, int] = {"wrong": 0, "partly": 1, "right": 2}
#: what the buttons say, and the grade each gives (the browser test clicks these descriptions)
_GRADE_BUTTONS: tuple[tuple[Both, Grade], ...] = (
    (Both("I knew it", "答对了"), "right"),
    (Both("Partly", "部分答对"), "partly"),
    (Both("I missed it", "没答上"), "wrong"),
)
_SAID = {
    "right": Both("knew it", "答对了"),
    "partly": Both("partly knew it", "部分答对"),
    "wrong": Both("missed it", "没答上"),
}
#: the chapters' titles in the Chinese edition (the headings of notebooks/zh/), for "第 7 章（可靠性）"
_CHAPTER_TITLES_ZH = {
    0: "从这里开始",
    1: "Hello World",
    2: "工作队列",
    3: "发布/订阅",
    4: "路由",
    5: "主题",
    6: "RPC",
    7: "可靠性",
    8: "管理",
    9: "流",
    10: "容量实验",
    11: "面试准备",
}
_SCORE = {"right": 1.0, "partly": 0.5, "wrong": 0.0}


def _check_grade(grade: str) -> Grade:
    if grade not in GRADES:
        raise ValueError(
            say(
                f"grade must be one of {GRADES}, not {grade!r}", f"评分必须是 {GRADES} 之一，而不是 {grade!r}"
            )
        )
    return grade


def _topics_zh(topics: Iterable[str]) -> str:
    """The topics as a Chinese error lists them: the key to pass, and its Chinese name."""
    return "、".join(f"{topic!r}（{TOPIC_NAMES.get(topic, topic)}）" for topic in topics)


def _chapter(number: int | None) -> str:
    """A chapter as a learner finds it, "chapter 7 (Reliability)". The titles are read when asked:
    the chapter table imports this package's tasks, so it cannot be imported with this module."""
    if number is None:
        return ""
    from .._chapters import CHAPTERS

    titles = {chapter.number: chapter.title for chapter in CHAPTERS}
    if number not in titles:
        return say(f"chapter {number}", f"第 {number} 章")
    title_zh = _CHAPTER_TITLES_ZH.get(number)
    return say(
        f"chapter {number} ({titles[number]})",
        f"第 {number} 章（{title_zh}）" if title_zh else f"第 {number} 章",
    )


def _clock_text(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


# --- the record ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicStats:
    """One topic of a record: how many of its questions were seen, and how each was last graded."""

    topic: str
    seen: int = 0
    right: int = 0
    partly: int = 0
    wrong: int = 0
    attempts: int = 0  # every grading, repeats included

    @property
    def to_revise(self) -> int:
        return self.partly + self.wrong


class Record:
    """What the learner knew, question by question, in a JSON file that outlives the kernel.

    Each question sits in a Leitner box (1 to 5) with a time when it is due again: "wrong" or
    "partly" sends it to box 1, due at once; "right" moves it up a box and lets it rest longer
    (`INTERVALS`). The file holds the boxes and every grading (when, which grade, how long)."""

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        chosen = path if path is not None else os.environ.get(RECORD_ENV) or _DEFAULT_FILE
        self.path = Path(chosen).expanduser()
        self._clock = clock  # wall time: the record compares times from different sittings

    def __repr__(self) -> str:
        questions, missed = len(self), len(self.missed())
        return say(
            f"Record({str(self.path)!r}: {questions} questions, {missed} to revise)",
            f"Record({str(self.path)!r}：{questions} 道题，{missed} 道待复习)",
        )

    # reading and writing the file

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT or not isinstance(data.get("questions"), dict):
                raise ValueError(say("not an interview record", "不是面试记录"))
        except (ValueError, AttributeError) as error:
            raise ValueError(
                say(
                    f"{self.path} is not a readable interview record ({error}); "
                    "move it away, or call Record(path).reset() to start a new one",
                    f"{self.path} 不是一份能读取的面试记录（{error}）；"
                    "把它移走，或者调用 Record(path).reset() 重新开始",
                )
            ) from None
        return cast(dict[str, dict[str, Any]], data["questions"])

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": _FORMAT, "version": 1, "questions": entries}
        handle, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, ensure_ascii=False, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    # what the learner does

    def grade(self, question_id: str, grade: Grade, seconds: float | None = None) -> None:
        """Keep a self-grade, and save at once: a kernel that dies next loses nothing."""
        grade = _check_grade(grade)
        now = self._clock()
        entries = self._load()
        entry = entries.get(question_id, {"box": 1, "history": []})
        box = min(int(entry["box"]) + 1, max(INTERVALS)) if grade == "right" else 1
        entry.update(box=box, due=now + INTERVALS[box], last=grade, when=now)
        entry["history"].append({"when": now, "grade": grade, "seconds": seconds})
        entries[question_id] = entry
        self._save(entries)

    def reset(self) -> None:
        """Forget everything (the file is kept, empty, so the next sitting starts afresh)."""
        self._save({})

    # what the record says

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._load()

    def __iter__(self) -> Iterator[str]:
        """The ids of the questions graded at least once."""
        return iter(list(self._load()))

    def box(self, question_id: str) -> int | None:
        """The Leitner box of a question (1 = missed), or None if never graded."""
        entry = self._load().get(question_id)
        return int(entry["box"]) if entry else None

    def last(self, question_id: str) -> Grade | None:
        entry = self._load().get(question_id)
        return cast(Grade, entry["last"]) if entry else None

    def missed(self) -> list[str]:
        """Questions whose last grade was not "right": wrong before partly, the longest waiting first."""
        entries = self._load()
        missed = [ident for ident, entry in entries.items() if entry["last"] != "right"]
        return sorted(
            missed, key=lambda ident: (_URGENCY[entries[ident]["last"]], entries[ident]["when"], ident)
        )

    def due(self, now: float | None = None) -> list[str]:
        """Questions due again, most urgent first: lower boxes first (box 1 holds the missed ones),
        wrong before partly, then the longest overdue."""
        moment = self._clock() if now is None else now
        entries = self._load()
        due = [ident for ident, entry in entries.items() if entry["due"] <= moment]

        def urgency(ident: str) -> tuple[int, int, float, str]:
            entry = entries[ident]
            return (entry["box"], _URGENCY[entry["last"]], entry["due"], ident)

        return sorted(due, key=urgency)

    def stats(self, bank: Iterable[Question] | None = None) -> dict[str, TopicStats]:
        """Per topic (in the bank's order), how the questions seen were last graded. A question
        no longer in the bank is counted under "(not in the bank)"."""
        questions = list(bank_now() if bank is None else bank)
        topic_of = {item.id: item.topic for item in questions}
        order = list(dict.fromkeys(item.topic for item in questions))
        counts: dict[str, dict[str, int]] = {}
        for ident, entry in self._load().items():
            topic = topic_of.get(ident, "(not in the bank)")
            count = counts.setdefault(topic, dict.fromkeys(("seen", *GRADES, "attempts"), 0))
            count["seen"] += 1
            count[entry["last"]] += 1
            count["attempts"] += len(entry["history"])
        order += [topic for topic in counts if topic not in order]
        return {topic: TopicStats(topic, **counts[topic]) for topic in order if topic in counts}


def _as_record(record: Record | str | Path | None) -> Record:
    return record if isinstance(record, Record) else Record(record)


# --- what a drill and a mock interview show --------------------------------------------------------


def _level(question: Question) -> str:
    return difficulty_name(question.difficulty)


def _question_markdown(question: Question) -> str:
    where = f" · {_chapter(question.chapter)}" if question.chapter is not None else ""
    lines = [f"#### {question.question}", ""]
    if question.chinese and question.chinese != question.question:  # the Chinese edition asks it so
        lines += [f"*{question.chinese}*", ""]
    lines.append(f"<small>{topic_name(question.topic)} · {_level(question)}{where} · `{question.id}`</small>")
    return "\n".join(lines)


def _show(output: Any, *markdown: str) -> None:
    """Replace what an Output widget shows by markdown (JupyterLab renders it, code included).
    Setting `outputs` works from any thread and with no kernel at all (tests)."""
    output.outputs = tuple(
        {"output_type": "display_data", "data": {"text/markdown": text, "text/plain": text}, "metadata": {}}
        for text in markdown
    )


def _table_html(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A small table; the cells are HTML already (escaped by the caller where they hold text)."""
    cells = "".join(f"<th style='text-align:left;padding:2px 10px'>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 10px'>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _width(text: str) -> int:
    """How many columns a monospaced font gives `text`: two for a Chinese character."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(_width(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            str(cell) + " " * (width - _width(str(cell))) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [head, *rows]
    )


def _button(description: str, style: str = "") -> Any:
    """A button as wide as its words (the default width cuts "Start mock interview" short)."""
    import ipywidgets as widgets  # type: ignore[import-untyped]

    return widgets.Button(description=description, button_style=style, layout=widgets.Layout(width="auto"))


# --- the drill -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One line of a drill's summary: a topic, how much of it was drilled, what to reread."""

    topic: str
    questions: int  # in the bank
    seen: int
    right: int
    to_revise: int
    chapters: tuple[int, ...]  # the chapters teaching the questions to revise


@dataclass(frozen=True, slots=True)
class DrillSummary:
    """Where the learner stands, per topic: seen, right, to revise, and the chapter to reread."""

    rows: tuple[TopicRow, ...]
    record: Path

    def _cells(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (
                topic_name(row.topic),
                say(f"{row.seen} of {row.questions}", f"{row.seen} / {row.questions}"),
                str(row.right),
                str(row.to_revise),
                say(", ", "、").join(_chapter(number) for number in row.chapters)
                or ("-" if row.to_revise == 0 else ""),
            )
            for row in self.rows
        ]

    @staticmethod
    def _head() -> tuple[str, ...]:
        return tuple(
            say(en, zh)
            for en, zh in (
                ("topic", "主题"),
                ("seen", "已练"),
                ("right", "答对"),
                ("to revise", "待复习"),
                ("reread", "重读"),
            )
        )

    def __str__(self) -> str:
        if not self.rows:
            return say(
                f"Nothing drilled yet (record: {self.record}).", f"还没有刷过题（记录：{self.record}）。"
            )
        return say(f"Record: {self.record}\n", f"记录：{self.record}\n") + _text_table(
            self._head(), self._cells()
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        where = html.escape(str(self.record))
        if not self.rows:
            return say(
                f"<p>Nothing drilled yet (record: <code>{where}</code>).</p>",
                f"<p>还没有刷过题（记录：<code>{where}</code>）。</p>",
            )
        rows = [[html.escape(cell) for cell in cells] for cells in self._cells()]
        table = _table_html(self._head(), rows)
        label = say("Record: ", "记录：")
        return f"<div class='rabbitsim-drill-summary'>{table}<small>{label}{where}</small></div>"


class Drill:
    """Interview questions one at a time: what was missed comes back first, then questions never
    seen, then the rest at random (seeded, so a test or a class sees the same order)."""

    def __init__(
        self,
        bank: Sequence[Question] | None = None,
        record: Record | str | Path | None = None,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        bank = bank_now() if bank is None else bank  # the kernel's language: the Chinese edition's
        if not bank:
            raise ValueError(say("a drill needs at least one question", "刷题至少需要一道题"))
        self.bank = tuple(bank)
        self.record = _as_record(record)
        self.current: Question | None = None
        self._by_id = {item.id: item for item in self.bank}
        self._random = random.Random(seed)
        self._clock = clock
        self._shown_at = 0.0
        self._view: _DrillView | None = None  # the last widget made, for tests

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.topic for item in self.bank))

    def _pool(self, topic: str | None, difficulty: int | None) -> list[Question]:
        if topic is not None and topic not in self.topics:
            raise ValueError(
                say(
                    f"no topic {topic!r}; the topics are {list(self.topics)}",
                    f"没有主题 {topic!r}；可选的主题有：{_topics_zh(self.topics)}",
                )
            )
        if difficulty is not None and difficulty not in DIFFICULTIES:
            raise ValueError(
                say(
                    f"difficulty must be one of {dict(DIFFICULTIES)}, not {difficulty!r}",
                    f"难度必须是 {dict(DIFFICULTY_NAMES)} 之一，而不是 {difficulty!r}",
                )
            )
        pool = [
            item
            for item in self.bank
            if (topic is None or item.topic == topic)
            and (difficulty is None or item.difficulty == difficulty)
        ]
        if not pool:
            where = f"主题“{topic_name(topic)}”下" if topic is not None else "题库里"
            raise ValueError(
                say(
                    f"no {DIFFICULTIES[difficulty or 1]} question on {topic!r}: choose another level",
                    f"{where}没有{difficulty_name(difficulty or 1)}题：请换一个难度",
                )
            )
        return pool

    def next(self, topic: str | None = None, difficulty: int | None = None) -> Question:
        """The next question: the most urgent due one (missed first), else one never seen, else any.
        The question just shown is not asked again at once unless it is the only one left."""
        pool = self._pool(topic, difficulty)
        just_shown = self.current.id if self.current is not None and len(pool) > 1 else None
        in_pool = {item.id: item for item in pool if item.id != just_shown}
        chosen = next((in_pool[ident] for ident in self.record.due() if ident in in_pool), None)
        if chosen is None:
            graded = set(self.record)
            unseen = [item for item in in_pool.values() if item.id not in graded]
            chosen = self._random.choice(unseen or list(in_pool.values()) or pool)
        self.current, self._shown_at = chosen, self._clock()
        return chosen

    def _question(self, question: Question | str) -> Question:
        ident = question if isinstance(question, str) else question.id
        if ident not in self._by_id:
            raise KeyError(
                say(f"no question {ident!r} in this drill's bank", f"这次刷题的题库里没有题目 {ident!r}")
            )
        return self._by_id[ident]

    def grade(self, question: Question | str, grade: Grade) -> None:
        """Keep the learner's self-grade in the record (with the time since the question was shown)."""
        item = self._question(question)
        seconds = (
            self._clock() - self._shown_at
            if self.current is not None and item.id == self.current.id
            else None
        )
        self.record.grade(item.id, grade, seconds)

    def summary(self) -> DrillSummary:
        stats = self.record.stats(self.bank)
        missed = set(self.record.missed())
        rows = []
        for topic in self.topics:
            if topic not in stats:
                continue
            questions = [item for item in self.bank if item.topic == topic]
            chapters = sorted(
                {item.chapter for item in questions if item.id in missed and item.chapter is not None}
            )
            count = stats[topic]
            rows.append(
                TopicRow(topic, len(questions), count.seen, count.right, count.to_revise, tuple(chapters))
            )
        return DrillSummary(tuple(rows), self.record.path)

    def widget(self, topic: str | None = None, difficulty: int | None = None) -> Any:
        """The drill in a notebook: topic and level dropdowns, the question, "Reveal answer", the
        three self-grades, "Next question"; after a grade, what the record now holds."""
        self._view = _DrillView(self, topic, difficulty)
        return self._view.box


class _DrillView:
    """The drill's widgets and what their buttons do; the drill keeps the state."""

    def __init__(self, drill: Drill, topic: str | None, difficulty: int | None) -> None:
        import ipywidgets as widgets

        drill._pool(topic, difficulty)  # a wrong topic fails here, not in a button's callback
        self.drill = drill
        # a Dropdown reads the value None as "nothing chosen": "" and 0 stand for "any"
        self.topic = widgets.Dropdown(
            options=[
                (say("all topics", "全部主题"), ""),
                *((topic_name(name), name) for name in drill.topics),
            ],
            value=topic or "",
            description=say("Topic", "主题"),
        )
        self.level = widgets.Dropdown(
            options=[
                (say("any level", "任意难度"), 0),
                *((difficulty_name(level), level) for level in DIFFICULTIES),
            ],
            value=difficulty or 0,
            description=say("Level", "难度"),
        )
        self.question = widgets.Output()
        self.answer = widgets.Output()
        self.reveal = _button(say("Reveal answer", "显示答案"), "info")
        self.grades = [_button(str(text)) for text, _ in _GRADE_BUTTONS]
        self.next_button = _button(say("Next question", "下一题"), "primary")
        self.status = widgets.HTML()
        self.reveal.on_click(lambda _: self.on_reveal())
        for button, (_, grade) in zip(self.grades, _GRADE_BUTTONS, strict=True):
            button.on_click(lambda _, grade=grade: self.on_grade(grade))
        self.next_button.on_click(lambda _: self.on_next())
        self.topic.observe(lambda _: self.on_next(), names="value")
        self.level.observe(lambda _: self.on_next(), names="value")
        self.box = widgets.VBox(
            [
                widgets.HBox([self.topic, self.level]),
                self.question,
                widgets.HBox([self.reveal, *self.grades, self.next_button]),
                self.answer,
                self.status,
            ]
        )
        self.box.add_class("rabbitsim-drill")
        self.on_next()

    def on_next(self) -> None:
        try:
            item = self.drill.next(self.topic.value or None, self.level.value or None)
        except ValueError as error:  # no question at this level on this topic
            _show(self.question, html.escape(str(error)))
            self.answer.outputs = ()
            self._enable(reveal=False, grades=False)
            return
        _show(self.question, _question_markdown(item))
        self.answer.outputs = ()
        self.status.value = ""
        self._enable(reveal=True, grades=False)

    def on_reveal(self) -> None:
        if self.drill.current is None:
            return
        _show(self.answer, self.drill.current.answer_markdown())
        self._enable(reveal=False, grades=True)

    def on_grade(self, grade: Grade) -> None:
        item = self.drill.current
        if item is None:
            return
        self.drill.grade(item, grade)
        self._enable(reveal=False, grades=False)
        record = self.drill.record
        missed, seen = len(record.missed()), len(record)
        days = round(INTERVALS[record.box(item.id) or 1] / _DAY)
        when = (
            say("it comes back first", "这道题会优先再出")
            if grade != "right"
            else say(f"it comes back in {plural(days, 'day')}", f"这道题 {days} 天后再出")
        )
        said, path = _SAID[grade], html.escape(str(record.path))
        self.status.value = say(
            f"<b>You {said.en}</b>: {when}. The record (<code>{path}</code>) "
            f"now holds {seen} question{'s' if seen != 1 else ''}, {missed} to revise; "
            "missed questions come back first.",
            f"<b>你{said.zh}</b>：{when}。记录（<code>{path}</code>）里现在有 {seen} 道题，"
            f"其中 {missed} 道待复习；答错的题会优先再出。",
        )

    def _enable(self, *, reveal: bool, grades: bool) -> None:
        self.reveal.disabled = not reveal
        for button in self.grades:
            button.disabled = not grades


# --- the mock interview --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MockAnswer:
    """One question of a mock: how the learner graded themselves and how long they took."""

    question: Question
    grade: Grade
    seconds: float
    over_time: bool


@dataclass(frozen=True, slots=True)
class MockSummary:
    """The end of a mock interview: score, time per question, weak topics, chapters to revise."""

    answers: tuple[MockAnswer, ...]
    unanswered: tuple[Question, ...]
    seconds_per_question: float

    @property
    def score(self) -> float:
        """1 per "right", 0.5 per "partly"; out of every question asked, answered or not."""
        return sum(_SCORE[answer.grade] for answer in self.answers)

    @property
    def out_of(self) -> int:
        return len(self.answers) + len(self.unanswered)

    @property
    def total_seconds(self) -> float:
        return sum(answer.seconds for answer in self.answers)

    @property
    def over_time(self) -> tuple[str, ...]:
        return tuple(answer.question.id for answer in self.answers if answer.over_time)

    @property
    def weak_topics(self) -> tuple[str, ...]:
        """Topics of the questions not answered right (or not reached), weakest first."""
        lost: dict[str, float] = {}
        for answer in self.answers:
            if answer.grade != "right":
                lost[answer.question.topic] = lost.get(answer.question.topic, 0) + 1 - _SCORE[answer.grade]
        for item in self.unanswered:
            lost[item.topic] = lost.get(item.topic, 0) + 1
        return tuple(sorted(lost, key=lambda topic: -lost[topic]))

    @property
    def chapters(self) -> tuple[int, ...]:
        """The chapters teaching what was missed, in course order."""
        missed = [answer.question for answer in self.answers if answer.grade != "right"] + list(
            self.unanswered
        )
        return tuple(sorted({item.chapter for item in missed if item.chapter is not None}))

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        limit = _clock_text(self.seconds_per_question)
        rows = [
            (
                str(number),
                answer.question.question,
                str(_SAID[answer.grade]),
                f"{_clock_text(answer.seconds)} / {limit}",
                say("over time", "超时") if answer.over_time else "",
            )
            for number, answer in enumerate(self.answers, 1)
        ]
        start = len(self.answers) + 1
        rows += [
            (str(start + i), item.question, say("not answered", "未作答"), "", "")
            for i, item in enumerate(self.unanswered)
        ]
        return rows

    def _verdict(self) -> list[str]:
        total = _clock_text(self.total_seconds)
        lines = [
            say(
                f"Score: {self.score:g} / {self.out_of}, in {total}.",
                f"得分：{self.score:g} / {self.out_of}，用时 {total}。",
            )
        ]
        if self.over_time:
            lines.append(
                say(
                    f"Over time on {len(self.over_time)}: an interviewer cuts you off; say the claim first.",
                    f"{len(self.over_time)} 道题超时：面试官会打断你，要先说论点。",
                )
            )
        if self.weak_topics:
            lines.append(
                say(
                    "Weak topics: " + ", ".join(self.weak_topics) + ".",
                    "薄弱主题：" + "、".join(topic_name(topic) for topic in self.weak_topics) + "。",
                )
            )
        if self.chapters:
            chapters = [_chapter(number) for number in self.chapters]
            lines.append(
                say("Revise: " + ", ".join(chapters) + ".", "要复习的章节：" + "、".join(chapters) + "。")
            )
        elif self.answers and not self.unanswered:
            lines.append(
                say(
                    "Nothing to revise from this mock: try a harder level or another topic.",
                    "这次模拟面试没有要复习的内容：试试更高的难度，或者换个主题。",
                )
            )
        return lines

    @staticmethod
    def _head() -> tuple[str, ...]:
        return ("#", say("question", "题目"), say("you", "自评"), say("time", "用时"), "")

    def __str__(self) -> str:
        return "\n".join([*self._verdict(), _text_table(self._head(), self._rows())])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = [[html.escape(cell) for cell in row] for row in self._rows()]
        verdict = "".join(f"<p style='margin:2px 0'>{html.escape(line)}</p>" for line in self._verdict())
        table = _table_html(self._head(), rows)
        return f"<div class='rabbitsim-mock-summary'>{verdict}{table}</div>"


class MockInterview:
    """A timed mock interview: `questions` questions from several topics, easiest first, each with
    `minutes_per_question` to answer aloud; the learner reveals the model answer, grades
    themselves, and gets a summary at the end. Grades also go into the record."""

    def __init__(
        self,
        bank: Sequence[Question] | None = None,
        *,
        questions: int = 5,
        minutes_per_question: float = 2.0,
        topic: str | None = None,
        record: Record | str | Path | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        bank = bank_now() if bank is None else bank
        pool = [item for item in bank if topic is None or item.topic == topic]
        if not pool:
            topics = list(dict.fromkeys(q.topic for q in bank))
            raise ValueError(
                say(
                    f"no question on {topic!r}; the topics are {topics}",
                    f"没有关于 {topic!r} 的题；可选的主题有：{_topics_zh(topics)}",
                )
            )
        if questions < 1 or minutes_per_question <= 0:
            raise ValueError(
                say(
                    "a mock needs at least one question and some time for each",
                    "模拟面试至少要有一道题，而且每道题都要留出作答时间",
                )
            )
        self.record = _as_record(record)
        self.seconds_per_question = minutes_per_question * 60
        self._pool, self._count = pool, min(questions, len(pool))
        self._random = random.Random(seed)
        self._clock = clock
        self.questions: tuple[Question, ...] = self._choose()
        self.answers: list[MockAnswer] = []
        self.started = False
        self._shown_at = 0.0
        self._revealed_at: float | None = None
        self._view: _MockView | None = None  # the last widget made, for tests

    def _choose(self) -> tuple[Question, ...]:
        """One question per topic in turn (topics in random order), so a mock ranges widely; then
        easiest first, as interviews warm up."""
        by_topic: dict[str, list[Question]] = {}
        for item in self._pool:
            by_topic.setdefault(item.topic, []).append(item)
        for items in by_topic.values():
            self._random.shuffle(items)
        topics = list(by_topic)
        self._random.shuffle(topics)
        chosen: list[Question] = []
        while len(chosen) < self._count:
            for name in topics:
                if by_topic[name] and len(chosen) < self._count:
                    chosen.append(by_topic[name].pop())
        return tuple(sorted(chosen, key=lambda item: item.difficulty))

    @property
    def current(self) -> Question | None:
        """The question being asked, or None before the start and after the end."""
        if not self.started or self.finished:
            return None
        return self.questions[len(self.answers)]

    @property
    def finished(self) -> bool:
        return len(self.answers) == len(self.questions)

    def start(self) -> Question:
        """Begin (or begin again, with new questions once a mock is over) at the first question."""
        if self.finished or self.started:
            self.questions = self._choose()
        self.answers, self.started = [], True
        self._ask()
        return self.questions[0]

    def _ask(self) -> None:
        self._shown_at, self._revealed_at = self._clock(), None

    def elapsed(self) -> float:
        """Seconds on the current question so far (until the answer was revealed)."""
        end = self._revealed_at if self._revealed_at is not None else self._clock()
        return end - self._shown_at

    def reveal(self) -> Question:
        """The candidate has finished answering: the clock stops, the model answer may be read."""
        item = self.current
        if item is None:
            raise RuntimeError(
                say(
                    "the mock has not started, or is over: call start()",
                    "模拟面试还没开始，或者已经结束：请调用 start()",
                )
            )
        if self._revealed_at is None:
            self._revealed_at = self._clock()
        return item

    def grade(self, grade: Grade) -> None:
        """Self-grade the current question; its time is what the clock showed at the reveal."""
        self.answer(grade, self.elapsed())

    def answer(self, grade: Grade, seconds: float) -> None:
        """Grade the current question as answered in `seconds`, and move on (drives the mock
        without widgets; starts it if needed)."""
        grade = _check_grade(grade)
        if not self.started or self.finished:
            self.start()
        item = self.questions[len(self.answers)]
        self.answers.append(MockAnswer(item, grade, float(seconds), seconds > self.seconds_per_question))
        self.record.grade(item.id, grade, float(seconds))
        if not self.finished:
            self._ask()

    def summary(self) -> MockSummary:
        return MockSummary(
            tuple(self.answers),
            self.questions[len(self.answers) :] if self.started else self.questions,
            self.seconds_per_question,
        )

    def widget(self) -> Any:
        """The mock in a notebook: "Start mock interview", then per question a clock, "Reveal
        answer" and the three self-grades; the summary at the end."""
        self._view = _MockView(self)
        return self._view.box


class _Clock:
    """A label that counts a question's time once a second, in a daemon thread that stops by
    itself: at `stop()`, or once the time allowed is up (it then says so and ends). It never
    holds the kernel: a cell that made the widget returns at once, and nbclient never waits."""

    def __init__(self, label: Any, elapsed: Callable[[], float], limit: float) -> None:
        self._label, self._elapsed, self._limit = label, elapsed, limit
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rabbitsim-mock-clock", daemon=True)
        self._show()
        self.thread.start()

    def _show(self) -> bool:
        elapsed = self._elapsed()
        text = f"⏱ {_clock_text(elapsed)} / {_clock_text(self._limit)}"
        if elapsed >= self._limit:
            self._label.value = say(
                f"{text}: time is up (finish your sentence, then reveal)",
                f"{text}：时间到（说完这句话，然后显示答案）",
            )
            return False
        self._label.value = text
        return True

    def _run(self) -> None:
        while not self._stopped.wait(1.0):
            if not self._show():
                return

    def stop(self) -> None:
        self._stopped.set()


class _MockView:
    def __init__(self, mock: MockInterview) -> None:
        import ipywidgets as widgets

        self.mock = mock
        self.clock: _Clock | None = None
        minutes = mock.seconds_per_question / 60
        self.intro = widgets.HTML(
            say(
                f"A mock interview: {len(mock.questions)} questions, {minutes:g} "
                f"minute{'s' if minutes != 1 else ''} each. Answer aloud, as to an interviewer; reveal the "
                "model answer when you are done, then grade yourself.",
                f"模拟面试：共 {len(mock.questions)} 道题，每道题 {minutes:g} 分钟。"
                "像面对面试官一样大声作答；答完后显示参考答案，再给自己评分。",
            )
        )
        self.start_button = _button(say("Start mock interview", "开始模拟面试"), "primary")
        self.progress = widgets.HTML()
        self.time = widgets.Label()
        self.question = widgets.Output()
        self.answer = widgets.Output()
        self.reveal = _button(say("Reveal answer", "显示答案"), "info")
        self.grades = [_button(str(text)) for text, _ in _GRADE_BUTTONS]
        self.result = widgets.HTML()
        self.start_button.on_click(lambda _: self.on_start())
        self.reveal.on_click(lambda _: self.on_reveal())
        for button, (_, grade) in zip(self.grades, _GRADE_BUTTONS, strict=True):
            button.on_click(lambda _, grade=grade: self.on_grade(grade))
        self.box = widgets.VBox(
            [
                self.intro,
                widgets.HBox([self.start_button]),  # in a VBox alone, a button stretches to the full width
                widgets.HBox([self.progress, self.time]),
                self.question,
                widgets.HBox([self.reveal, *self.grades]),
                self.answer,
                self.result,
            ]
        )
        self.box.add_class("rabbitsim-mock")
        self._enable(start=True, reveal=False, grades=False)

    def on_start(self) -> None:
        self.mock.start()
        self.result.value = ""
        self._ask()

    def _ask(self) -> None:
        item = self.mock.current
        assert item is not None
        number = len(self.mock.answers) + 1
        total = len(self.mock.questions)
        self.progress.value = say(
            f"<b>Question {number} of {total}</b>&nbsp;&nbsp;",
            f"<b>第 {number} 题，共 {total} 题</b>&nbsp;&nbsp;",
        )
        _show(self.question, _question_markdown(item))
        self.answer.outputs = ()
        self._stop_clock()
        self.clock = _Clock(self.time, self.mock.elapsed, self.mock.seconds_per_question)
        self._enable(start=False, reveal=True, grades=False)

    def on_reveal(self) -> None:
        if self.mock.current is None:
            return
        item = self.mock.reveal()
        self._stop_clock()
        seconds = self.mock.elapsed()
        over = seconds > self.mock.seconds_per_question
        self.time.value = f"⏱ {_clock_text(seconds)} / {_clock_text(self.mock.seconds_per_question)}" + (
            say(": over time", "：超时") if over else ""
        )
        _show(self.answer, item.answer_markdown())
        self._enable(start=False, reveal=False, grades=True)

    def on_grade(self, grade: Grade) -> None:
        if self.mock.current is None:
            return
        self.mock.grade(grade)
        if self.mock.finished:
            self._stop_clock()
            self.question.outputs, self.answer.outputs = (), ()
            self.progress.value, self.time.value = (
                say("<b>The mock is over.</b>", "<b>模拟面试结束。</b>"),
                "",
            )
            self.result.value = self.mock.summary()._repr_html_()
            self._enable(start=True, reveal=False, grades=False)
        else:
            self._ask()

    def _stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.stop()
            self.clock = None

    def _enable(self, *, start: bool, reveal: bool, grades: bool) -> None:
        self.start_button.disabled = not start
        self.reveal.disabled = not reveal
        for button in self.grades:
            button.disabled = not grades
