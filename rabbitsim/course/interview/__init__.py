"""Interview preparation (chapter 11): a question bank kept as data, a drill that brings back
what was missed, a timed mock interview, quizzes with feedback on every choice, and coding tasks
checked on the broker.

    from rabbitsim.course import interview
    interview.question("message-order")          # a question, its model answer and follow-ups
    interview.prove("message-order", broker)     # the answer, shown on the broker
    interview.Drill().widget()                   # reveal, grade yourself; missed questions come back
    interview.MockInterview(questions=5).widget()
    interview.quiz("ordering")
    interview.Record().missed()                  # what to revise, kept from one sitting to the next
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rabbitsim._lazy import lazy_names

from ._tasks import TASKS

if TYPE_CHECKING:
    from ._bank import BANK, TOPICS, FollowUp, Question, load_bank, prove, question
    from ._drill import Drill, MockInterview, Record
    from ._quiz import QUIZZES, quiz

#: Where the rest lives, loaded when chapter 11 first asks: every chapter imports `course`, whose
#: exercise table holds this chapter's tasks, but only chapter 11 reads the bank and the quizzes.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("BANK", "TOPICS", "FollowUp", "Question", "load_bank", "prove", "question"), "_bank"),
    **dict.fromkeys(("Drill", "MockInterview", "Record"), "_drill"),
    **dict.fromkeys(("QUIZZES", "quiz"), "_quiz"),
}


__getattr__ = lazy_names(__name__, _LAZY)

__all__ = [
    "BANK",
    "QUIZZES",
    "TASKS",
    "TOPICS",
    "Drill",
    "FollowUp",
    "MockInterview",
    "Question",
    "Record",
    "load_bank",
    "prove",
    "question",
    "quiz",
]
