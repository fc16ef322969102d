"""The course's chapters, in order, and the exercises each one checks: one explicit table, so
that what the course holds is read here rather than pieced together from which modules happen
to be imported. A chapter's checks live in a module of their own (`_ch01_hello_world.py`, ...),
which imports only the shared helpers (`_client`, `_consumers`, `_feedback`), never another
chapter."""

from __future__ import annotations

from dataclasses import dataclass

from . import _ch01_hello_world as hello_world
from . import _ch02_work_queues as work_queues
from . import _ch03_publish_subscribe as publish_subscribe
from . import _ch04_routing as routing
from . import _ch05_topics as topics
from . import _ch06_rpc as rpc
from . import _ch07_reliability as reliability
from . import _ch08_administration as administration
from . import _ch09_streams as streams
from . import _ch10_capacity as capacity
from ._feedback import Exercise
from .interview import TASKS as interview_tasks

__all__ = ["CHAPTERS", "EXERCISES", "Chapter"]


@dataclass(frozen=True, slots=True)
class Chapter:
    """One chapter: its number, its title as the notebook's heading gives it, the notebook (in
    `notebooks/`), and its exercises in the order the notebook asks them."""

    number: int
    title: str
    notebook: str
    exercises: tuple[Exercise, ...] = ()


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(0, "Start here", "00_start_here.ipynb"),
    Chapter(
        1, "Hello World", "01_hello_world.ipynb", (hello_world.all_three_arrive, hello_world.redeclare_puzzle)
    ),
    Chapter(
        2,
        "Work queues",
        "02_work_queues.ipynb",
        (
            work_queues.fix_the_forgotten_ack,
            work_queues.survive_a_restart,
            work_queues.fair_dispatch,
            work_queues.write_the_worker,
        ),
    ),
    Chapter(
        3,
        "Publish/Subscribe",
        "03_publish_subscribe.ipynb",
        (publish_subscribe.check_early_logs, publish_subscribe.check_every_log),
    ),
    Chapter(4, "Routing", "04_routing.ipynb", (routing.check_disk_keys, routing.check_puzzle)),
    Chapter(
        5,
        "Topics",
        "05_topics.ipynb",
        (topics.check_predictions, topics.check_log_bindings, topics.check_invoice_binding),
    ),
    Chapter(6, "RPC", "06_rpc.ipynb", (rpc.check_on_response, rpc.check_correlation_ids)),
    Chapter(
        7,
        "Reliability",
        "07_reliability.ipynb",
        (reliability.check_retry, reliability.check_overflow, reliability.check_no_message_lost),
    ),
    Chapter(
        8,
        "Administration",
        "08_administration.ipynb",
        (
            administration.check_consumer_rights,
            administration.check_recreated_vhost,
            administration.check_orders_policy,
        ),
    ),
    Chapter(
        9,
        "Streams",
        "09_streams.ipynb",
        (streams.check_recent, streams.check_resume, streams.check_retention),
    ),
    Chapter(
        10,
        "Capacity lab",
        "10_capacity.ipynb",
        (capacity.check_workers, capacity.check_prefetch, capacity.check_max_length),
    ),
    Chapter(11, "Interview preparation", "11_interview.ipynb", interview_tasks),
)

#: every exercise of the course, by id ("2.1"), in chapter order
EXERCISES: dict[str, Exercise] = {made.id: made for chapter in CHAPTERS for made in chapter.exercises}
