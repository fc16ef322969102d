"""Every chapter runs top to bottom, headless, on the simulator, on the real RabbitMQ 3.10, 4.0 and
4.3 that CI starts (the kernel gets RABBITSIM_BACKEND=url and RABBITSIM_URL, as a learner would set
them) and on a RabbitMQ container its first cell starts (RABBITSIM_BACKEND=container); any error
fails, and says which cell, with its source and traceback. Chapters are committed without outputs.
The Chinese edition (notebooks/zh/) runs on the simulator and on the current RabbitMQ, 4.3: its code
is the English chapters' code (tests/course/test_editions.py), so what differs is the language the
course answers in, which the other backends would not test again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.course.zh import is_chinese

from .chapters import COURSE_BUDGET_SECONDS, ROOT, Run, chapters, committed_outputs, execute, zh_chapters
from .conftest import BACKENDS, backend_env

#: One chapter on its own must not take the whole course's budget on the simulator (the course's
#: total is measured by benchmarks/notebooks.py and summed at the end of every test run). Real
#: brokers are slower: their management statistics lag, and the chapters wait for them.
CHAPTER_BUDGET_SECONDS = {
    "sim": COURSE_BUDGET_SECONDS,
    "url-3.10": 300.0,
    "url-4.0": 300.0,
    "url-4.3": 300.0,
    "container": 360.0,  # and the container's start, in the first cell
}

CHAPTERS = chapters()
ZH_CHAPTERS = zh_chapters()
ZH_BACKENDS = ("sim", "url-4.3")


def name(path: Path) -> str:
    return path.name


def test_there_are_chapters() -> None:
    assert CHAPTERS, f"no notebooks in {ROOT / 'notebooks'}"
    assert [path.name for path in ZH_CHAPTERS] == [path.name for path in CHAPTERS]


@pytest.mark.parametrize(
    "path", CHAPTERS + ZH_CHAPTERS, ids=lambda path: path.relative_to(ROOT / "notebooks").as_posix()
)
def test_chapter_is_committed_without_outputs(path: Path) -> None:
    dirty = committed_outputs(path)
    assert not dirty, (
        f"{path.name}: code cells {dirty} were saved with outputs or execution counts; clear them with "
        f"`.venv/bin/jupyter nbconvert --clear-output --inplace notebooks/{path.name}`"
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", CHAPTERS, ids=name)
def test_chapter_runs_top_to_bottom(
    path: Path, backend: str, record_timing: Callable[[str, Run], None]
) -> None:
    run_chapter(path, backend, record_timing)


@pytest.mark.parametrize("backend", ZH_BACKENDS)
@pytest.mark.parametrize("path", ZH_CHAPTERS, ids=name)
def test_chinese_chapter_runs_top_to_bottom(
    path: Path, backend: str, record_timing: Callable[[str, Run], None]
) -> None:
    run = run_chapter(path, backend, record_timing)
    feedback = [text for text in run.outputs() if text.lstrip().startswith(("✔", "✘"))]
    english = [text for text in feedback if not is_chinese(text)]
    assert not english, f"zh/{path.name}: exercise feedback in English:\n" + "\n".join(english)


def run_chapter(path: Path, backend: str, record_timing: Callable[[str, Run], None]) -> Run:
    env = backend_env(backend)
    run = execute(path, env)
    record_timing(backend, run)
    where = {"sim": "the simulator", "container": f"a container of {env.get('RABBITSIM_IMAGE')}"}.get(
        backend, f"RabbitMQ {backend.removeprefix('url-')} at {env.get('RABBITSIM_URL')}"
    )
    if not run.ok:
        pytest.fail(
            f"{path.name} on {where}, after {run.seconds:.1f} s:\n\n" + "\n\n".join(run.problems), False
        )
    budget = CHAPTER_BUDGET_SECONDS[backend]
    if run.seconds > budget:
        pytest.fail(
            f"{path.name} took {run.seconds:.1f} s on {where} (at most {budget:.0f} s); {run.slowest()}",
            False,
        )
    return run
