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
import hashlib
import re
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rabbitsim._language import Language, language, say

__all__ = [
    "BANK",
    "DIFFICULTIES",
    "TOPICS",
    "TOPIC_NAMES",
    "Choice",
    "FollowUp",
    "Question",
    "QuizQuestion",
    "bank",
    "load_bank",
    "load_quizzes",
    "prove",
    "question",
    "quizzes",
    "source_hash",
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
#: what the Chinese edition calls the topics and difficulties (the data keeps the English keys)
TOPIC_NAMES: dict[str, str] = {
    "basics": "基础",
    "exchanges and routing": "交换机与路由",
    "delivery and acks": "投递与消息确认",
    "ordering": "消息顺序",
    "duplicates and idempotency": "重复消息与幂等",
    "reliability": "可靠性",
    "dead letters and ttl": "死信与过期时间",
    "queue types": "队列类型",
    "flow control": "流控",
    "administration and security": "管理与安全",
    "rpc": "RPC",
    "clients and channels": "客户端与信道",
    "operations and monitoring": "运维与监控",
    "clustering": "集群",
    "comparisons": "横向比较",
}
DIFFICULTY_NAMES: dict[int, str] = {1: "初级", 2: "中级", 3: "高级"}


def topic_name(topic: str) -> str:
    """A topic as the learner's edition names it."""
    return say(topic, TOPIC_NAMES.get(topic, topic))


def difficulty_name(difficulty: int) -> str:
    return say(
        DIFFICULTIES.get(difficulty, str(difficulty)), DIFFICULTY_NAMES.get(difficulty, str(difficulty))
    )


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
        level = difficulty_name(self.difficulty)
        where = (
            say(f", chapter {self.chapter}", f" · 第 {self.chapter} 章") if self.chapter is not None else ""
        )
        lines = [f"**{self.question}**", ""]
        if self.chinese and language() == "en":  # the Chinese edition asks in Chinese already
            lines += [f"*{self.chinese}*", ""]
        lines += [
            f"<small>{topic_name(self.topic)} · {level}{where} · `{self.id}`</small>",
            "",
            self.answer_markdown(),
        ]
        return "\n".join(lines)

    def answer_markdown(self) -> str:
        """What is revealed: the model answer, the follow-ups with theirs, links, and the proof."""
        lines = [f"**{say('A strong answer', '高分回答')}**", "", self.answer.strip(), ""]
        lines += [f"**{say('What the interviewer asks next', '面试官接着会问')}**", ""]
        lines += [f"- *{follow.question}*  \n  {follow.answer.strip()}" for follow in self.follow_ups]
        if self.links:
            lines += ["", say("Read more: ", "延伸阅读：") + ", ".join(f"<{link}>" for link in self.links)]
        if self.prove:
            prove = f'`interview.prove("{self.id}", broker)`'
            lines += ["", say(f"Prove it on the broker: {prove}", f"在 broker 上验证：{prove}")]
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


# --- the Chinese edition -------------------------------------------------------------------------
# questions.zh.toml and quizzes.zh.toml translate the English data entry by entry. Each entry
# carries `source`, the hash of the English text it translates (`source_hash`), so a change to
# an English question that its translation has not followed is found by name (`stale`), and an
# entry missing in Chinese shows the English one rather than nothing.


def source_hash(*texts: str) -> str:
    """Twelve hex digits naming the version of the English texts a translation translates."""
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]


def question_source(item: Question) -> str:
    return source_hash(
        item.question,
        item.answer,
        *(text for follow in item.follow_ups for text in (follow.question, follow.answer)),
    )


def quiz_source(item: QuizQuestion) -> str:
    return source_hash(
        item.question, *(text for choice in item.choices for text in (choice.text, choice.feedback))
    )


@dataclass(frozen=True)
class Translated:
    """A bank in another language: what was translated, what was not, and what has gone stale."""

    questions: tuple[Question, ...]
    missing: tuple[str, ...]
    stale: tuple[str, ...]


def translate_bank(english: tuple[Question, ...], path: Path | None = None) -> Translated:
    """`english` with the translations of `path` (default: the packaged questions.zh.toml) put in."""
    entries = (
        _read(path, "questions.zh.toml").get("question", []) if path or _packaged("questions.zh.toml") else []
    )
    by_id = {entry.get("id"): entry for entry in entries}
    unknown = sorted(str(ident) for ident in set(by_id) - {item.id for item in english})
    if unknown:
        raise ValueError(
            f"{path or 'questions.zh.toml'}: questions the English bank does not have: {unknown}"
        )
    out, missing, stale = [], [], []
    for item in english:
        entry = by_id.get(item.id)
        if entry is None:
            missing.append(item.id)
            out.append(item)
            continue
        where = f"question {item.id!r} (Chinese)"
        if entry.get("source") != question_source(item):
            stale.append(item.id)
        follows = entry.get("follow_up", [])
        if not isinstance(follows, list) or len(follows) != len(item.follow_ups):
            raise ValueError(f"{where}: {len(follows)} follow-ups, the English has {len(item.follow_ups)}")
        out.append(
            Question(
                id=item.id,
                topic=item.topic,
                difficulty=item.difficulty,
                question=_text(entry, "question", where),
                answer=_text(entry, "answer", where),
                follow_ups=tuple(
                    FollowUp(_text(f, "question", where), _text(f, "answer", where)) for f in follows
                ),
                chapter=item.chapter,
                chinese=item.chinese,
                from_notes=item.from_notes,
                prove=item.prove,
                links=item.links,
            )
        )
    return Translated(tuple(out), tuple(missing), tuple(stale))


def translate_quizzes(
    english: tuple[QuizQuestion, ...], path: Path | None = None
) -> tuple[tuple[QuizQuestion, ...], tuple[int, ...], tuple[int, ...]]:
    """`english` with the translations of `path` (default: quizzes.zh.toml), entry by entry in
    the same order; with the numbers (from 1) of the quizzes missing and stale."""
    entries = _read(path, "quizzes.zh.toml").get("quiz", []) if path or _packaged("quizzes.zh.toml") else []
    out, missing, stale = [], [], []
    for number, item in enumerate(english, 1):
        if number > len(entries):
            missing.append(number)
            out.append(item)
            continue
        entry = entries[number - 1]
        where = f"quiz #{number} (Chinese)"
        if entry.get("source") != quiz_source(item):
            stale.append(number)
        raw = entry.get("choice", [])
        if not isinstance(raw, list) or len(raw) != len(item.choices):
            raise ValueError(f"{where}: {len(raw)} choices, the English has {len(item.choices)}")
        choices = tuple(
            Choice(_text(c, "text", where), english_choice.correct, _text(c, "feedback", where))
            for c, english_choice in zip(raw, item.choices, strict=True)
        )
        out.append(QuizQuestion(item.topic, _text(entry, "question", where), choices))
    if len(entries) > len(english):
        raise ValueError(f"quizzes.zh.toml: {len(entries)} quizzes, the English has {len(english)}")
    return tuple(out), tuple(missing), tuple(stale)


def _packaged(name: str) -> bool:
    return resources.files(__package__ or "rabbitsim.course.interview").joinpath(name).is_file()


BANK: tuple[Question, ...] = load_bank()
#: the bank per edition; the Chinese one is read when first asked for
_BANKS: dict[Language, tuple[Question, ...]] = {"en": BANK}
_QUIZZES: dict[Language, tuple[QuizQuestion, ...]] = {}


def bank() -> tuple[Question, ...]:
    """The questions in the kernel's language (`rabbitsim.language`)."""
    lang = language()
    if lang not in _BANKS:
        _BANKS[lang] = translate_bank(BANK).questions
    return _BANKS[lang]


def quizzes() -> tuple[QuizQuestion, ...]:
    """The quiz questions in the kernel's language."""
    lang = language()
    if lang not in _QUIZZES:
        english = load_quizzes()
        _QUIZZES[lang] = english if lang == "en" else translate_quizzes(english)[0]
    return _QUIZZES[lang]


def _lookup(ident: str) -> Question:
    by_id = {item.id: item for item in bank()}
    try:
        return by_id[ident]
    except KeyError:
        close = difflib.get_close_matches(ident, by_id, n=5, cutoff=0.4)
        ids = close or sorted(by_id)[:10]
        raise KeyError(
            say(f"no question {ident!r}; close ids: {ids}", f"没有 id 为 {ident!r} 的题目；相近的 id：{ids}")
        ) from None


def question(id: str) -> Question:
    """The question with this id; a KeyError lists the closest ids when there is none."""
    return _lookup(id)


def prove(question: Question | str, broker: Any) -> None:
    """Print the proof's code (the learner should read it), then run it with `broker`, `pika`
    and `course` in scope. The code prints what it shows, on whichever broker it ran on."""
    item = _lookup(question) if isinstance(question, str) else question
    if not item.prove:
        proved = sorted(entry.id for entry in bank() if entry.prove)
        raise ValueError(
            say(
                f"question {item.id!r} has no proof; these do: {proved}",
                f"题目 {item.id!r} 没有验证代码；有的是：{proved}",
            )
        )
    import pika

    from rabbitsim import course

    print(f"# {say('prove', '验证')}: {item.question}\n{item.prove}\n# --- {say('output', '输出')} ---")
    code = compile(item.prove, f"<prove {item.id}>", "exec")
    scope = {
        "broker": broker,
        "pika": pika,
        "course": course,
        "__name__": f"prove_{item.id.replace('-', '_')}",
    }
    exec(code, scope)
