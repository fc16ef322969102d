"""What the course notebooks share: consumers that run beside the notebook, worker processes
to kill, exercise checks that explain what is wrong, and cleanup for real brokers.

    from rabbitsim import course
    with course.BackgroundConsumer(broker, "hello") as consumer:   # a thread, its own connection
        ...; consumer.wait_for(1); consumer.bodies
    worker = course.WorkerProcess(broker, "task_queue")            # a real process; .kill()
    course.EXERCISES["2.1"](...)                                   # a Feedback: ✔ or ✘ with reasons
    course.EXERCISES["2.1"].solution()                             # shown only when asked for
    course.wait_for_topology(broker, lambda t: t.queue("hello").messages == 0)   # real brokers lag
    course.cleanup(broker, queues=["hello"])
    course.stop_all(broker)                                        # every consumer and worker started here
    course.CHAPTERS                                                # the chapters and their exercises
    course.notes_table(check_in=".")                               # chapter 0: the notes, point by point
    course.sliders(workers=5, prefetch=1)                          # chapter 10: a work queue to play with
    course.export_nbgrader(Path("grading"))                        # the exercises in nbgrader's format
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rabbitsim._lazy import lazy_names

from ._ch10_capacity import Sliders, sliders
from ._chapters import CHAPTERS, EXERCISES, Chapter
from ._client import MissingOnBroker, cleanup, wait_for_topology
from ._consumers import BackgroundConsumer, Failure, Received, Subscriber, SubscriberSetupError, stop_all
from ._feedback import Exercise, Feedback, Solution, exercise, right, wrong
from ._notes import NOTES, notes_table
from ._processes import WorkerProcess

__all__ = [
    "CHAPTERS",
    "EXERCISES",
    "NOTES",
    "BackgroundConsumer",
    "Chapter",
    "Exercise",
    "Failure",
    "Feedback",
    "MissingOnBroker",
    "Received",
    "Sliders",
    "Solution",
    "Subscriber",
    "SubscriberSetupError",
    "WorkerProcess",
    "cleanup",
    "exercise",
    "export_nbgrader",
    "notes_table",
    "right",
    "sliders",
    "stop_all",
    "wait_for_topology",
    "wrong",
]

if TYPE_CHECKING:
    from ._nbgrader import export_nbgrader


#: Imported when first asked for: `export_nbgrader` needs nbformat, whose import takes about 2 s
#: (its JSON schema checks), and only teachers who grade use it.
__getattr__ = lazy_names(__name__, {"export_nbgrader": "_nbgrader"})
