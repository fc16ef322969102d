"""The interview question bank, kept as data (`questions.toml`, `quizzes.toml`) so that a teacher
can read, correct or extend it without touching code, and checked when it loads so that a
mistake in the data fails loudly, naming the question and the field, instead of showing a
learner a question with no answer.

    from rabbitsim.course.interview._bank import BANK, question, prove, load_quizzes
    q = question("message-order")          # a Question; in a notebook it shows as markdown
    prove(q, broker)                       # prints the proof's code, then runs it on the broker
"""

from __future__ import annotations

import difflib
import re
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BANK",
    "DIFFICULTIES",
    "TOPICS",
    "Choice",
    "FollowUp",
    "Question",
    "QuizQuestion",
    "load_bank",
    "load_quizzes",
    "prove",
    "question",
]

#: the topics, in the order a drill lists them (roughly the course's order)
TOPICS: tuple[str, ...] = (
    "basics",
    "exchanges and routing",
    "delivery and acks",
    "ordering",
    "duplicates and idempotency",
    "reliability",
    "dead letters and ttl",
    "queue types",
    "flow control",
    "administration and security",
    "rpc",
    "clients and channels",
    "operations and monitoring",
    "clustering",
    "comparisons",
)
DIFFICULTIES: dict[int, str] = {1: "junior", 2: "mid", 3: "senior"}
CHAPTERS = range(1, 12)  # 1 hello world ... 11 interview
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A question an interviewer asks next, and the short answer that closes it."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Question:
    """One interview question with the answer a strong candidate gives in about a minute.
    `id` is stable: a learner's record of what they knew is keyed on it."""

    id: str
    topic: str
    difficulty: int
    question: str
    answer: str
    follow_ups: tuple[FollowUp, ...]
    chapter: int | None = None
    chinese: str = ""
    from_notes: bool = False
    prove: str = ""
    links: tuple[str, ...] = ()

    def _repr_markdown_(self) -> str:
        level = DIFFICULTIES.get(self.difficulty, str(self.difficulty))
        where = f", chapter {self.chapter}" if self.chapter is not None else ""
        lines = [f"**{self.question}**", ""]
        if self.chinese:
            lines += [f"*{self.chinese}*", ""]
        lines += [f"<small>{self.topic} · {level}{where} · `{self.id}`</small>", "", self.answer_markdown()]
        return "\n".join(lines)

    def answer_markdown(self) -> str:
        """What is revealed: the model answer, the follow-ups with theirs, links, and the proof."""
        lines = ["**A strong answer**", "", self.answer.strip(), "", "**What the interviewer asks next**", ""]
        lines += [f"- *{follow.question}*  \n  {follow.answer.strip()}" for follow in self.follow_ups]
        if self.links:
            lines += ["", "Read more: " + ", ".join(f"<{link}>" for link in self.links)]
        if self.prove:
            lines += ["", f'Prove it on the broker: `interview.prove("{self.id}", broker)`']
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"{self.question}\n\n{self.answer.strip()}"


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a quiz question, and why it is right or wrong (shown once picked)."""

    text: str
    correct: bool
    feedback: str


@dataclass(frozen=True, slots=True)
class QuizQuestion:
    """A multiple-choice question; at least one choice is correct, and every choice explains itself."""

    topic: str
    question: str
    choices: tuple[Choice, ...]


# --- loading and checking ------------------------------------------------------------------------


def _read(path: Path | None, default: str) -> dict[str, Any]:
    if path is None:
        text = (
            resources.files(__package__ or "rabbitsim.course.interview").joinpath(default).read_text("utf-8")
        )
    else:
        text = Path(path).read_text("utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path or default}: not valid TOML: {error}") from error


def _text(entry: Mapping[str, Any], field: str, where: str, *, required: bool = True) -> str:
    value = entry.get(field, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {field!r} must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"{where}: field {field!r} is empty")
    return value


_QUESTION_FIELDS = {
    "id",
    "topic",
    "difficulty",
    "question",
    "answer",
    "follow_up",
    "chapter",
    "chinese",
    "from_notes",
    "prove",
    "links",
}


def _question(entry: Mapping[str, Any], number: int) -> Question:
    ident = entry.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise ValueError(f"question #{number}: field 'id' must be kebab-case text, not {ident!r}")
    where = f"question {ident!r}"
    unknown = sorted(set(entry) - _QUESTION_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(_QUESTION_FIELDS)}")
    topic = _text(entry, "topic", where)
    if topic not in TOPICS:
        close = difflib.get_close_matches(topic, TOPICS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: field 'topic' is {topic!r}, not one of TOPICS{hint}")
    difficulty = entry.get("difficulty")
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) or difficulty not in DIFFICULTIES:
        raise ValueError(f"{where}: field 'difficulty' is {difficulty!r}, not one of {sorted(DIFFICULTIES)}")
    chapter = entry.get("chapter")
    if chapter is not None and (not isinstance(chapter, int) or chapter not in CHAPTERS):
        raise ValueError(f"{where}: field 'chapter' is {chapter!r}, not a chapter 1 to 11")
    raw_follow_ups = entry.get("follow_up", [])
    if not isinstance(raw_follow_ups, list) or len(raw_follow_ups) < 2:
        count = len(raw_follow_ups) if isinstance(raw_follow_ups, list) else 0
        raise ValueError(f"{where}: field 'follow_up' has {count} follow-up(s); at least 2 are needed")
    follow_ups = tuple(
        FollowUp(
            _text(item, "question", f"{where} follow-up {index}"),
            _text(item, "answer", f"{where} follow-up {index}"),
        )
        for index, item in enumerate(raw_follow_ups, 1)
    )
    links = entry.get("links", [])
    if not isinstance(links, list) or not all(
        isinstance(link, str) and link.startswith("https://") for link in links
    ):
        raise ValueError(f"{where}: field 'links' must be a list of https:// addresses")
    from_notes = entry.get("from_notes", False)
    if not isinstance(from_notes, bool):
        raise ValueError(f"{where}: field 'from_notes' must be true or false")
    chinese = _text(entry, "chinese", where, required=from_notes)
    prove_code = _text(entry, "prove", where, required=False)
    if prove_code:
        try:
            compile(prove_code, f"<prove {ident}>", "exec")
        except SyntaxError as error:
            raise ValueError(f"{where}: field 'prove' is not valid Python: {error}") from error
    return Question(
        id=ident,
        topic=topic,
        difficulty=difficulty,
        question=_text(entry, "question", where),
        answer=_text(entry, "answer", where),
        follow_ups=follow_ups,
        chapter=chapter,
        chinese=chinese,
        from_notes=from_notes,
        prove=textwrap.dedent(prove_code).strip("\n"),
        links=tuple(links),
    )


def load_bank(path: Path | None = None) -> tuple[Question, ...]:
    """The questions of `path` (default: the packaged questions.toml), checked: a ValueError
    names the question and the field that is wrong."""
    entries = _read(path, "questions.toml").get("question", [])
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path or 'questions.toml'}: no [[question]] tables")
    questions: list[Question] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        item = _question(entry, number)
        if item.id in seen:
            raise ValueError(f"question {item.id!r}: field 'id' is used twice")
        seen.add(item.id)
        questions.append(item)
    return tuple(questions)


def load_quizzes(path: Path | None = None) -> tuple[QuizQuestion, ...]:
    """The multiple-choice questions of `path` (default: the packaged quizzes.toml), checked:
    a known topic, 2 to 4 choices, at least one correct, feedback on every choice."""
    entries = _read(path, "quizzes.toml").get("quiz", [])
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path or 'quizzes.toml'}: no [[quiz]] tables")
    quizzes: list[QuizQuestion] = []
    for number, entry in enumerate(entries, 1):
        where = f"quiz #{number}"
        text = _text(entry, "question", where)
        where = f"quiz #{number} ({text[:50]!r})"
        topic = _text(entry, "topic", where)
        if topic not in TOPICS:
            raise ValueError(f"{where}: field 'topic' is {topic!r}, not one of TOPICS")
        raw = entry.get("choice", [])
        if not isinstance(raw, list) or not 2 <= len(raw) <= 4:
            raise ValueError(f"{where}: field 'choice' needs 2 to 4 choices")
        choices: list[Choice] = []
        for index, item in enumerate(raw, 1):
            correct = item.get("correct")
            if not isinstance(correct, bool):
                raise ValueError(f"{where} choice {index}: field 'correct' must be true or false")
            choices.append(
                Choice(
                    _text(item, "text", f"{where} choice {index}"),
                    correct,
                    _text(item, "feedback", f"{where} choice {index}"),
                )
            )
        if not any(choice.correct for choice in choices):
            raise ValueError(f"{where}: field 'choice' has no correct choice")
        quizzes.append(QuizQuestion(topic, text, tuple(choices)))
    return tuple(quizzes)


BANK: tuple[Question, ...] = load_bank()
_BY_ID = {item.id: item for item in BANK}


def _lookup(ident: str) -> Question:
    try:
        return _BY_ID[ident]
    except KeyError:
        close = difflib.get_close_matches(ident, _BY_ID, n=5, cutoff=0.4)
        raise KeyError(f"no question {ident!r}; close ids: {close or sorted(_BY_ID)[:10]}") from None


def question(id: str) -> Question:
    """The question with this id; a KeyError lists the closest ids when there is none."""
    return _lookup(id)


def prove(question: Question | str, broker: Any) -> None:
    """Print the proof's code (the learner should read it), then run it with `broker`, `pika`
    and `course` in scope. The code prints what it shows, on whichever broker it ran on."""
    item = _lookup(question) if isinstance(question, str) else question
    if not item.prove:
        proved = sorted(entry.id for entry in BANK if entry.prove)
        raise ValueError(f"question {item.id!r} has no proof; these do: {proved}")
    import pika

    from rabbitsim import course

    print(f"# prove: {item.question}\n{item.prove}\n# --- output ---")
    code = compile(item.prove, f"<prove {item.id}>", "exec")
    scope = {
        "broker": broker,
        "pika": pika,
        "course": course,
        "__name__": f"prove_{item.id.replace('-', '_')}",
    }
    exec(code, scope)
