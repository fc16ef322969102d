"""Short multiple-choice quizzes, each choice with its own feedback: a wrong pick says why it is
wrong, which teaches more than a red cross. The questions are data (quizzes.toml, read by
`_bank.load_quizzes`); they are drawn by jupyterquiz (a small, maintained quiz library: plain
JavaScript shipped in its wheel, so it works offline, in JupyterLab 4 and in a static HTML export).

    quiz("ordering")                 # 5 questions on one topic, in a notebook cell
    quiz(n=3, seed=1)                # 3 from any topic, the same three every time
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from typing import Any

from .._feedback import say
from ._bank import TOPIC_NAMES, TOPICS, QuizQuestion, load_quizzes, quizzes

__all__ = ["QUIZZES", "Quiz", "quiz"]


def _by_topic(questions: tuple[QuizQuestion, ...] | None = None) -> dict[str, tuple[QuizQuestion, ...]]:
    """The quiz questions by topic: English by default (QUIZZES); `quiz()` asks in the kernel's language."""
    questions = load_quizzes() if questions is None else questions
    return {topic: found for topic in TOPICS if (found := tuple(q for q in questions if q.topic == topic))}


#: the quiz questions by topic, in the order of TOPICS (topics with no quiz left out)
QUIZZES: dict[str, tuple[QuizQuestion, ...]] = _by_topic()

_CODE = re.compile(r"`([^`]+)`")

#: jupyterquiz typesets its text with the page's MathJax 3 when it finds one, by MathJax.typeset().
#: JupyterLab 4 creates a MathJax 3 global without typeset() (its loader only), and creates it
#: lazily: then every click on a choice threw "MathJax.typeset is not a function" (after showing
#: the feedback), and a quiz shown after that global existed would replace it by a config and
#: fetch MathJax from a CDN. The quiz holds no LaTeX ("$" is escaped), so where typeset() is
#: missing a no-op will do: set now, and again just before each click in this cell's output is
#: handled (a capturing listener on the output area runs before jupyterquiz's own handler).
#: JupyterLab renders its own math with its own MathJax instance, not this global.
_MATHJAX_SHIM = """
const noTypeset = () => {
  if (typeof MathJax !== 'undefined' && typeof MathJax.typeset !== 'function') {
    MathJax.typeset = function () {};
  }
};
noTypeset();
const area = typeof element !== 'undefined' && element && element.closest
  ? element.closest('.jp-OutputArea, .output') : null;
(area || document).addEventListener('click', noTypeset, true);
"""


def _html(text: str) -> str:
    """Text as jupyterquiz shows it (it sets innerHTML): escaped, `code` as <code>, and every "$"
    as an entity, since jupyterquiz reads a bare "$" as the start of LaTeX."""
    escaped = html.escape(text.strip(), quote=False).replace("$", "&#36;")
    return _CODE.sub(r"<code>\1</code>", escaped)


@dataclass(frozen=True, slots=True)
class Quiz:
    """Some quiz questions, ready to show: a notebook cell that ends with one renders it."""

    questions: tuple[QuizQuestion, ...]

    def data(self) -> list[dict[str, Any]]:
        """jupyterquiz's input: one multiple-choice question per entry, every choice with its feedback."""
        return [
            {
                "question": _html(item.question),
                "type": "many_choice"
                if sum(choice.correct for choice in item.choices) > 1
                else "multiple_choice",
                "answers": [
                    {
                        "answer": _html(choice.text),
                        "correct": choice.correct,
                        "feedback": _html(choice.feedback),
                    }
                    for choice in item.choices
                ],
            }
            for item in self.questions
        ]

    def _ipython_display_(self) -> None:
        from IPython.display import Javascript, display
        from jupyterquiz import display_quiz  # type: ignore[import-untyped]

        display(Javascript(_MATHJAX_SHIM))  # type: ignore[no-untyped-call]
        display_quiz(self.data(), shuffle_answers=True, max_width=800)

    def __str__(self) -> str:
        """The questions and choices as text (no feedback: that is what the quiz gives once you pick)."""
        blocks = []
        for number, item in enumerate(self.questions, 1):
            choices = [
                f"   {letter}) {choice.text}" for letter, choice in zip("abcd", item.choices, strict=False)
            ]
            blocks.append("\n".join([f"{number}. {item.question}", *choices]))
        return "\n\n".join(blocks)

    __repr__ = __str__


def quiz(topic: str | None = None, *, n: int = 5, seed: int | None = None) -> Quiz:
    """`n` questions on `topic` (any topic when None), drawn at random (`seed` makes the draw
    repeatable), shown in the bank's order. Pick a choice to see why it is right or wrong."""
    by_topic = _by_topic(quizzes())
    if topic is None:
        pool = [item for items in by_topic.values() for item in items]
    elif topic in by_topic:
        pool = list(by_topic[topic])
    else:
        named = "、".join(f"{name!r}（{TOPIC_NAMES.get(name, name)}）" for name in by_topic)
        raise ValueError(
            say(
                f"no quiz on {topic!r}; the topics with quizzes are {list(by_topic)}",
                f"没有关于 {topic!r} 的小测验；有小测验的主题是：{named}",
            )
        )
    if n < 1:
        raise ValueError(say(f"n must be at least 1, not {n}", f"n 至少为 1，而不是 {n}"))
    chosen = set(random.Random(seed).sample(range(len(pool)), min(n, len(pool))))
    return Quiz(tuple(item for index, item in enumerate(pool) if index in chosen))
