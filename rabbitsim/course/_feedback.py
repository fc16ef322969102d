"""What an exercise check says back: a verdict a learner can read, not a bare assert; and the
few phrasings several chapters' verdicts share, so that a list reads the same everywhere."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rabbitsim._language import Both, Text, commented, language, say

__all__ = [
    "Both",
    "Exercise",
    "Feedback",
    "Solution",
    "and_joined",
    "commented",
    "exercise",
    "listed",
    "plural",
    "right",
    "say",
    "wrong",
]

#: (border, background) per verdict; colour-blind safe and readable in light and dark themes
_COLOURS = {True: ("#1b7f3b", "#e7f5ec"), False: ("#b3261e", "#fdecea")}


@dataclass(frozen=True, slots=True, repr=False)
class Feedback:
    """A check's verdict: `ok`, a one-line `title`, and `details` that say what is wrong and
    why (which messages a wrong binding would miss, say). Truthy when the answer is right."""

    ok: bool
    title: str
    details: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "✔" if self.ok else "✘"
        return "\n".join([f"{mark} {self.title}", *(f"  - {line}" for line in self.details)])

    __repr__ = __str__  # what a plain-text frontend shows: the verdict, not the dataclass

    def _repr_html_(self) -> str:
        border, background = _COLOURS[self.ok]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.details)
        body = f"<ul style='margin:4px 0 0 0'>{items}</ul>" if items else ""
        return (
            f"<div style='border-left:4px solid {border};background:{background};color:#1d1d1d;"
            f"padding:6px 10px;margin:4px 0'><b>{'✔' if self.ok else '✘'} {html.escape(self.title)}</b>"
            f"{body}</div>"
        )


def right(title: str, *details: str) -> Feedback:
    return Feedback(True, title, details)


def wrong(title: str, *details: str) -> Feedback:
    return Feedback(False, title, details)


def listed(items: Iterable[object]) -> str:
    """Items as a learner reads them back: their reprs, comma-separated, or "nothing"."""
    return say(", ", "、").join(repr(item) for item in items) or say("nothing", "无")


def and_joined(*clauses: str) -> str:
    """The clauses that apply (the empty ones left out), as one: "misses 2 and wrongly gets 1"."""
    return say(" and ", "，并且").join(clause for clause in clauses if clause)


def plural(number: int, noun: str, zh: str | None = None) -> str:
    """A count with its noun, as a sentence says it: "1 task", "2 tasks" (Chinese: "2 个任务",
    `zh` the noun with its measure word, "个任务")."""
    if zh is not None and language() == "zh":
        return f"{number} {zh}"
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass(frozen=True, slots=True)
class Solution:
    """A worked answer, shown only when asked for (`exercise.solution()`): its code (comments in
    the kernel's language, the code itself the same) and its explanation."""

    written: Text
    explained: Text = ""

    @property
    def code(self) -> str:
        return str(self.written)

    @property
    def explanation(self) -> str:
        return str(self.explained)

    def __str__(self) -> str:
        return f"{self.explanation}\n\n{self.code}" if self.explanation else self.code

    def _repr_markdown_(self) -> str:
        return f"{self.explanation}\n\n```python\n{self.code.strip()}\n```"


@dataclass(frozen=True)
class Exercise:
    """One exercise: an id like "2.1", what to do, how it is checked, and its solution."""

    id: str
    heading: Text
    check: Callable[..., Feedback]
    answer: Solution
    clues: tuple[Text, ...] = field(default=())

    @property
    def title(self) -> str:
        return str(self.heading)

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(str(clue) for clue in self.clues)

    def __call__(self, *args: Any, **kwargs: Any) -> Feedback:
        return self.check(*args, **kwargs)

    def solution(self) -> Solution:
        return self.answer

    def hint(self, number: int = 1) -> str:
        hints = self.hints
        if not hints:
            return say("No hint for this one: try it on the broker!", "这道题没有提示：在 broker 上试试吧！")
        return hints[number - 1]


def exercise(
    id: str, title: Text, *, solution: Text, explanation: Text = "", hints: Iterable[Text] = ()
) -> Callable[[Callable[..., Feedback]], Exercise]:
    """Make a check function exercise `id`, its texts written beside the check they explain
    (each a `Both(en, zh)`, or a plain string where both editions say the same).
    Nothing is registered here: the course's table of chapters (`_chapters.py`) lists them."""

    def make(check: Callable[..., Feedback]) -> Exercise:
        return Exercise(id, title, check, Solution(solution, explanation), tuple(hints))

    return make
