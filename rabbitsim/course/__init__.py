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
"""

from __future__ import annotations

import importlib
import pkgutil

from ._cleanup import cleanup
from ._consumers import BackgroundConsumer, Received, Subscriber, SubscriberSetupError
from ._feedback import EXERCISES, Exercise, Feedback, Solution, exercise, right, wrong
from ._processes import WorkerProcess
from ._waiting import wait_for_topology

__all__ = [
    "EXERCISES",
    "BackgroundConsumer",
    "Exercise",
    "Feedback",
    "Received",
    "Solution",
    "Subscriber",
    "SubscriberSetupError",
    "WorkerProcess",
    "cleanup",
    "exercise",
    "right",
    "wait_for_topology",
    "wrong",
]

# Each chapter's exercises live in a module of their own (`_ch01_hello_world.py`, ...), which
# registers them in EXERCISES when imported: import them all, so a notebook needs only this.
for _module in pkgutil.iter_modules(__path__):
    if _module.name.startswith("_ch"):
        importlib.import_module(f"{__name__}.{_module.name}")
