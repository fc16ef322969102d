"""The course's table of chapters tells the truth: it lists the notebooks that exist, in order,
under the titles they give themselves, with the exercises each one asks; and a chapter's checks
stand on the shared helpers only, never on another chapter."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from rabbitsim import course

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
COURSE = ROOT / "rabbitsim" / "course"
#: what a chapter's module may import from inside the course
SHARED = {"_client", "_consumers", "_feedback"}
USED_EXERCISE = re.compile(r"""EXERCISES\[["']([0-9.]+)["']\]""")


def code_of(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def heading_of(notebook: Path) -> str:
    first = json.loads(notebook.read_text())["cells"][0]
    return "".join(first["source"]).splitlines()[0]


def test_the_chapters_are_numbered_in_order_and_are_the_notebooks_there_are() -> None:
    assert [chapter.number for chapter in course.CHAPTERS] == list(range(len(course.CHAPTERS)))
    assert [chapter.notebook for chapter in course.CHAPTERS] == sorted(
        p.name for p in NOTEBOOKS.glob("*.ipynb")
    )


@pytest.mark.parametrize("chapter", course.CHAPTERS, ids=lambda chapter: chapter.notebook)
def test_a_chapters_title_is_its_notebooks_heading(chapter: course.Chapter) -> None:
    prefix = "# " if chapter.number == 0 else f"# {chapter.number} · "
    assert heading_of(NOTEBOOKS / chapter.notebook).startswith(f"{prefix}{chapter.title}")


@pytest.mark.parametrize("chapter", course.CHAPTERS, ids=lambda chapter: chapter.notebook)
def test_a_chapters_exercises_are_the_ones_its_notebook_asks(chapter: course.Chapter) -> None:
    asked = set(USED_EXERCISE.findall(code_of(NOTEBOOKS / chapter.notebook)))
    assert {made.id for made in chapter.exercises} == asked
    assert all(made.id.startswith(f"{chapter.number}.") for made in chapter.exercises)


def test_every_exercise_is_listed_once_in_chapter_order() -> None:
    listed = [made.id for chapter in course.CHAPTERS for made in chapter.exercises]
    assert len(listed) == len(set(listed))
    assert list(course.EXERCISES) == listed
    assert all(course.EXERCISES[made.id] is made for chapter in course.CHAPTERS for made in chapter.exercises)


@pytest.mark.parametrize("module", sorted(COURSE.glob("_ch[0-9]*.py")), ids=lambda path: path.name)
def test_a_chapter_imports_only_the_shared_helpers(module: Path) -> None:
    inside: set[str] = set()  # the course's modules it imports, by name ("_client")
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            inside |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            inside |= {
                name.removeprefix("rabbitsim.course.")
                for name in names
                if name.startswith("rabbitsim.course")
            }
    assert inside <= SHARED, f"{module.name} imports {sorted(inside - SHARED)} of the course"
