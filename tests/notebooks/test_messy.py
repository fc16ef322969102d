"""Issue 16: every chapter survives a learner's messy runs, in one kernel kept across them: Run
All twice, then a kernel restart and Run All again; the first cell run three times, then Run All;
after a restart, the first cell and then only the second half of the chapter; an interrupt in
every cell that waits, that cell run again, then the rest. Scenario 1 runs on every chapter on
the simulator; scenarios 2-4 on the chapters whose cells start consumers, workers or servers
(SOME below); scenarios 1 and 2 also on real RabbitMQ 4.3 (SOME), and scenario 2 on a container
(chapter 0); scenario 1 also on the Chinese edition of SOME, on the simulator. Interrupts and
runs from the middle are tested on the simulator only: what they exercise (the kernel's signals,
the course's waits) is the kernel's side, the same on any broker.

After each: no error output, no traceback on stderr, no cell that hangs, and nothing left beside
the kernel once the closing cell has run, measured from outside it with psutil (and docker): no
process the kernel ever started (through restarts), no listening port, no connection still open
to a broker, no container still running, no more threads than after the first clean Run All
(and, asked inside, no Python thread that the fresh kernel did not have)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .chapters import chapters, describe, zh_chapters
from .conftest import backend_env
from .messy import HELPER_BUGS, Kernel, Outcome, last_frame

CHAPTERS = chapters()

#: the chapters the costlier scenarios run on: those whose cells start background consumers,
#: subscribers, worker processes or RPC servers (the messes issue 16 found), and the first one
SOME = ("00_start_here", "02_work_queues", "03_publish_subscribe", "06_rpc", "07_reliability")

#: the chapters scenario 5 runs on. Kernel > Interrupt sends SIGINT to the kernel's whole process
#: group: the simulator's process and chapter 2's workers run in sessions of their own so that it
#: does not reach them, and a restart defers it until the broker is back.
INTERRUPTED = ("00_start_here", "02_work_queues", "03_publish_subscribe", "06_rpc", "07_reliability")

#: where the whole-chapter scenarios (1 and 2) also run, beside the simulator: the current RabbitMQ
#: that CI starts, on SOME; and a container the first cell starts, for chapter 0 (scenario 2 starts
#: four of them)
ON_REAL = "url-4.3"
ON_CONTAINER = "00_start_here"

#: a cell that takes longer than this waits for something, and gets interrupted in scenario 5
WAITS_SECONDS = 0.5


def name(path: Path) -> str:
    return path.name


def some(path: Path) -> bool:
    return path.stem in SOME


def lasting(thread: str) -> bool:
    """A thread a library starts once per kernel and keeps, on purpose: pyzmq's garbage collector
    (started by the first large display message, a picture) is no chapter's leak."""
    return "zmq.utils.garbage.GarbageCollectorThread" in thread


def cell_problems(kernel: Kernel, outcomes: list[Outcome], when: str) -> list[str]:
    """Every error output, traceback on stderr or cell that never finished, with its source."""
    problems = []
    for outcome in outcomes:
        if outcome.timed_out:
            problems.append(
                f"{when}: " + describe(kernel.notebook, outcome.index, "never finished (timed out)")
            )
        if outcome.errors or outcome.stderr_tracebacks:
            problems.append(f"{when}: " + describe(kernel.notebook, outcome.index, outcome.text()))
    return problems


def containers(env: dict[str, str]) -> set[str]:
    """The running containers of the kernel's RABBITSIM_IMAGE (none without one), by id."""
    image = env.get("RABBITSIM_IMAGE")
    if not image:
        return set()
    import docker

    client = docker.from_env()
    try:
        return {c.id for c in client.containers.list() if image in (c.image.tags or [])}
    finally:
        client.close()


def leaks(kernel: Kernel, threads: int | None, when: str, before: set[str] = frozenset()) -> list[str]:
    """What the chapter left running beside the kernel after its closing cell, seen from outside
    (the kernel's thread count compared with `threads` unless None; Python's threads by name always)."""
    snapshot, alive = kernel.settled(10_000 if threads is None else threads)
    found = []
    if alive or snapshot.children:
        found.append(f"processes still running: {alive | snapshot.children}")
    if snapshot.ports:
        found.append(f"ports still listening in the kernel or its children: {sorted(snapshot.ports)}")
    if snapshot.connections:
        found.append(f"connections still open from the kernel to: {sorted(snapshot.connections)}")
    left = containers(kernel.env) - before
    if left:
        found.append(f"containers still running: {sorted(left)}")
    if threads is not None and snapshot.threads > threads:
        found.append(f"{snapshot.threads} threads in the kernel, {threads} after the first Run All")
    extra = Counter(
        {
            name: count
            for name, count in (kernel.thread_names() - kernel.start_threads).items()
            if not lasting(name)
        }
    )
    if extra:
        found.append(f"Python threads the fresh kernel did not have: {dict(extra)}")
    return [f"{when}: {item}" for item in found]


def fail_if(problems: list[str], path: Path, backend: str = "sim") -> None:
    if problems:
        pytest.fail(f"{path.name} on {backend}:\n\n" + "\n\n".join(problems), False)


def on_backends(paths: list[Path], *, real: bool = False, container: bool = False) -> list[Any]:
    """(path, backend) for every path on the simulator; the SOME on the real broker; chapter 0 on
    a container."""
    chosen = [pytest.param(path, "sim", id=f"{path.name}-sim") for path in paths]
    if real:
        chosen += [pytest.param(path, ON_REAL, id=f"{path.name}-{ON_REAL}") for path in paths if some(path)]
    if container:
        chosen += [
            pytest.param(path, "container", id=f"{path.name}-container")
            for path in paths
            if path.stem == ON_CONTAINER
        ]
    return chosen


@pytest.mark.parametrize(("path", "backend"), on_backends(CHAPTERS, real=True))
def test_run_all_twice_then_restart_and_run_all(path: Path, backend: str) -> None:
    run_all_twice_then_restart_and_run_all(path, backend)


@pytest.mark.parametrize("path", [path for path in zh_chapters() if some(path)], ids=lambda p: f"zh-{p.name}")
def test_a_chinese_chapter_run_all_twice_then_restart_and_run_all(path: Path) -> None:
    """The Chinese edition's chapters that start consumers, workers and servers, as messy on the
    simulator: their code is the English code, but what the course says on a re-run (a consumer
    replaced, stop_all, a wait that gives up) is said in Chinese, through other strings."""
    run_all_twice_then_restart_and_run_all(path, "sim")


def run_all_twice_then_restart_and_run_all(path: Path, backend: str) -> None:
    with Kernel(path, backend_env(backend)) as kernel:
        problems = cell_problems(kernel, kernel.run_all(), "first Run All")
        threads = kernel.settled(10_000)[0].threads
        problems += leaks(kernel, threads, "after the first Run All")
        problems += cell_problems(kernel, kernel.run_all(), "second Run All in the same kernel")
        problems += leaks(kernel, threads, "after the second Run All")
        kernel.restart()
        problems += leaks(kernel, threads, "after a kernel restart")
        problems += cell_problems(kernel, kernel.run_all(), "Run All after a kernel restart")
        problems += leaks(kernel, threads, "after Run All after the restart")
    fail_if(problems, path, backend)


@pytest.mark.parametrize(
    ("path", "backend"), on_backends([path for path in CHAPTERS if some(path)], real=True, container=True)
)
def test_first_cell_three_times_then_run_all(path: Path, backend: str) -> None:
    env = backend_env(backend)
    before = containers(env)
    with Kernel(path, env) as kernel:
        first = kernel.code_cells[0]
        problems = cell_problems(
            kernel, [kernel.run_cell(first) for _ in range(3)], "first cell, three times"
        )
        problems += cell_problems(kernel, kernel.run_all(), "Run All after it")
        problems += leaks(kernel, None, "after Run All", before)
    fail_if(problems, path, backend)


def unclear(outcome: Outcome) -> list[str]:
    """Why a cell's failure would not help a learner who ran cells out of order (empty: clear).

    Clear: Python's NameError raised by the cell's own code (the learner skipped the cell that
    defines that name, and Python says which); any exception the course raises with a sentence
    of its own (BrokerClosed, a check's feedback); and an exception raised inside the course
    after the cell printed the course's explanation of a wait that gave up (what it waited for,
    what the broker shows, "did you run the cells above"). Unclear: a cell that never ends, a
    traceback on stderr (a thread that died), an exception raised inside pika (a bare pika
    traceback), an exception other than NameError raised by the cell's own code, and KeyError,
    IndexError, NameError, TypeError or AttributeError raised inside the course's code with no
    explanation before it."""
    reasons = []
    if outcome.timed_out:
        reasons.append("never finished")
    if outcome.stderr_tracebacks:
        reasons.append("a traceback on stderr")
    for error in outcome.errors:
        where = last_frame(error)
        if "/pika/" in where:
            reasons.append(f"{error.ename} raised inside pika ({where})")
        elif "/rabbitsim/" in where and error.ename in HELPER_BUGS:
            reasons.append(f"{error.ename} raised inside the course ({where})")
        elif where == "cell" and error.ename != "NameError":
            reasons.append(f"{error.ename} raised by the cell's own code")
    return reasons


@pytest.mark.parametrize("path", [path for path in CHAPTERS if some(path)], ids=name)
def test_from_the_middle_after_a_restart(path: Path) -> None:
    with Kernel(path, backend_env("sim")) as kernel:
        cells = kernel.code_cells
        kernel.run_all(cells[:3])  # some state from an earlier session, then lost
        kernel.restart()
        problems = []
        for outcome in kernel.run_all([cells[0], *cells[len(cells) // 2 :]]):
            reasons = unclear(outcome)
            if reasons:
                problems.append(
                    describe(kernel.notebook, outcome.index, f"{'; '.join(reasons)}:\n{outcome.text()}")
                )
        problems += leaks(kernel, None, "after the second half")
    fail_if(problems, path)


@pytest.mark.parametrize("path", [path for path in CHAPTERS if path.stem in INTERRUPTED], ids=name)
def test_interrupt_every_cell_that_waits(path: Path) -> None:
    with Kernel(path, backend_env("sim")) as kernel:
        problems: list[str] = []
        interrupted = []
        for index in kernel.code_cells:
            outcome = kernel.run_cell(index, interrupt_after=WAITS_SECONDS)
            if outcome.seconds < WAITS_SECONDS:
                problems += cell_problems(kernel, [outcome], "not interrupted")
                continue
            interrupted.append(index)
            if outcome.stderr_tracebacks or any(e.ename != "KeyboardInterrupt" for e in outcome.errors):
                problems += cell_problems(kernel, [outcome], "interrupted")
            problems += cell_problems(kernel, [kernel.run_cell(index)], "run again after its interrupt")
        problems += leaks(kernel, None, f"after interrupting cells {interrupted}")
        assert interrupted, f"{path.name}: no cell waited {WAITS_SECONDS} s; choose another chapter for SOME"
    fail_if(problems, path)
