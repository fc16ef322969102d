"""The exercises exported for nbgrader (rabbitsim.course._nbgrader): every exercise of the course
is a graded cell, the metadata is what nbgrader's schema version 3 asks for, and a chapter's
graded cells pass with the published solutions and fail with the learner's starting answers,
run on the simulator, through nbclient and through nbgrader's own `generate_assignment` and
`autograde`. Chapter 1 is run by default; RABBITSIM_NBGRADER_ALL=1 runs every chapter. The
Chinese edition's export (`edition="zh"`) is the same assignments in Chinese, and its chapter 1
passes and fails the same way.

nbgrader is a teacher's tool, not a learner's: it is kept out of the course's environment (it
switches on server and JupyterLab extensions there, which would change the JupyterLab the browser
tests drive). The tests install it once beside the venv, in `.venv/test-tools/nbgrader` (from the
package index, as the venv's own packages come), and run it from there."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from rabbitsim.course import CHAPTERS, EXERCISES, Chapter, right
from rabbitsim.course._nbgrader import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_SOLUTION,
    export_nbgrader,
    nbgrader_notebook,
)
from tests.notebooks.chapters import NOTEBOOKS, kernel_env

from .zh import in_chinese, is_chinese

#: the chapter run in full: short, and its two exercises cover both shapes of answer (a function
#: the learner writes, and a prediction given inline in the check call)
RUN_CHAPTER = next(chapter for chapter in CHAPTERS if chapter.number == 1)
RUN_STEM = Path(RUN_CHAPTER.notebook).stem
#: nbgrader and what it needs beyond the course's own environment
NBGRADER = ("nbgrader==0.9.6", "Mako", "RapidFuzz", "SQLAlchemy", "alembic")
NBGRADER_HOME = Path(sys.prefix) / "test-tools" / "nbgrader"

GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
KEYS = {
    "schema_version",
    "grade",
    "locked",
    "solution",
    "task",
    "grade_id",
    "points",
    "checksum",
    "cell_type",
}


@pytest.fixture(scope="session")
def nbgrader_home() -> Path:
    """Where nbgrader is importable from (installed there on first use), added to sys.path."""
    if importlib.util.find_spec("nbgrader") is None:
        if not (NBGRADER_HOME / "nbgrader").is_dir():
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    "--target",
                    str(NBGRADER_HOME),
                    *NBGRADER,
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"installing nbgrader failed:\n{done.stdout}\n{done.stderr}"
        if str(NBGRADER_HOME) not in sys.path:
            sys.path.append(str(NBGRADER_HOME))
    return NBGRADER_HOME


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("nbgrader-course")
    export_nbgrader(target)
    return target


def notebooks(target: Path) -> dict[str, Any]:
    return {
        path.parent.name: nbformat.read(path, as_version=4)
        for path in sorted(target.glob("source/*/*.ipynb"))
    }


def nbgrader_cells(notebook: Any, kind: str) -> list[Any]:
    return [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get(kind)]


def test_every_exercise_of_the_course_is_a_graded_cell(export: Path) -> None:
    assignments = notebooks(export)
    assert sorted(assignments) == sorted(Path(c.notebook).stem for c in CHAPTERS if c.exercises)
    graded = {}
    for stem, notebook in assignments.items():
        for cell in nbgrader_cells(notebook, "grade"):
            found = re.findall(r'course\.EXERCISES\["([^"]+)"\]\(', cell.source)
            assert len(found) == 1, f"{stem}: graded cell without exactly one check call:\n{cell.source}"
            assert "assert feedback" in cell.source and BEGIN_HIDDEN in cell.source
            graded[found[0]] = stem
    assert sorted(graded) == sorted(EXERCISES), "exercises without a graded cell, or graded cells of none"
    for number, stem in graded.items():
        chapter = next(c for c in CHAPTERS if number in {made.id for made in c.exercises})
        assert Path(chapter.notebook).stem == stem, f"exercise {number} graded in {stem}"
    assert (export / "README.md").read_text().count("nbgrader autograde") >= 1


def test_solution_cells_hold_the_solution_and_no_cell_reveals_it(export: Path) -> None:
    for stem, notebook in notebooks(export).items():
        solutions = nbgrader_cells(notebook, "solution")
        assert len(solutions) == len(nbgrader_cells(notebook, "grade")), stem
        for cell in solutions:
            assert cell.cell_type == "code"
            begin, end = cell.source.index(BEGIN_SOLUTION), cell.source.index(END_SOLUTION)
            assert cell.source[begin + len(BEGIN_SOLUTION) : end].strip(), f"{stem}: an empty solution"
        for cell in notebook.cells:
            assert not re.search(r"EXERCISES\[[^]]+\]\.(hint|solution)\(", cell.source), (
                f"{stem}: a cell still shows a hint or the solution:\n{cell.source}"
            )
            assert "../docs/" not in cell.source, f"{stem}: a link the assignment folder cannot follow"


def test_the_solution_region_holds_the_published_solution(export: Path) -> None:
    """Exercise 1.1's published solution is its solution cell's region, and the learner's wrong
    starting answer (publishing before declaring, to 'Hello') is no longer code: only a comment
    shows it, as the point to start from."""
    notebook = notebooks(export)[RUN_STEM]
    (cell,) = [
        c
        for c in nbgrader_cells(notebook, "solution")
        if c.metadata.nbgrader.grade_id == "exercise_1_1_answer"
    ]
    region = cell.source.split(BEGIN_SOLUTION)[1].split(END_SOLUTION)[0]
    assert EXERCISES["1.1"].solution().code.strip() in region
    assert 'routing_key="Hello"' not in region
    assert all(
        line.lstrip().startswith("#")
        for cell in notebook.cells
        for line in cell.source.splitlines()
        if 'routing_key="Hello"' in line
    ), "the starting answer is shown, as comments, never as code"


@pytest.mark.parametrize(
    ("exported", "said"), [("export", "the check was replaced"), ("export_zh", "检查被替换了")]
)
def test_a_replaced_check_fails_the_hidden_test(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, exported: str, said: str
) -> None:
    """An answer cell that swaps the course's check for one that always says ✔ passes the visible
    assert, and fails the hidden one (run here without a broker: the fake check needs none)."""
    from rabbitsim import course

    notebook = notebooks(request.getfixturevalue(exported))[RUN_STEM]
    (cell,) = [
        c for c in nbgrader_cells(notebook, "grade") if c.metadata.nbgrader.grade_id == "exercise_1_1_check"
    ]
    monkeypatch.setitem(course.EXERCISES, "1.1", lambda *arguments: right("looks fine"))
    with pytest.raises(AssertionError, match=said):
        exec(cell.source, {"course": course, "broker": None, "send": None})


def test_the_metadata_is_nbgrader_schema_version_3(export: Path, nbgrader_home: Path) -> None:
    for stem, notebook in notebooks(export).items():
        nbformat.validate(notebook)
        ids = []
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader")
            assert meta is not None, f"{stem}: a cell nbgrader does not know about:\n{cell.source[:200]}"
            assert set(meta) <= KEYS and {"schema_version", "grade", "locked", "solution"} <= set(meta)
            assert meta["schema_version"] == 3
            assert all(isinstance(meta[key], bool) for key in ("grade", "locked", "solution", "task"))
            assert GRADE_ID.match(meta["grade_id"]), meta["grade_id"]
            ids.append(meta["grade_id"])
            if meta["grade"]:
                assert meta["points"] > 0 and meta["locked"] and cell.cell_type == "code"
            if meta["solution"]:
                assert not meta["locked"] and not meta["grade"]
            if not (meta["grade"] or meta["solution"]):
                assert meta["locked"], f"{stem}: a cell students could change unseen:\n{cell.source[:200]}"
        assert len(ids) == len(set(ids)), f"{stem}: duplicate grade ids"
        from nbgrader.nbgraderformat import MetadataValidator

        MetadataValidator().validate_nb(notebook)


def graded_errors(notebook: Any) -> dict[str, list[str]]:
    """Per cell that raised: its grade id (or index) and the errors' names."""
    errors: dict[str, list[str]] = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                name = cell.metadata.get("nbgrader", {}).get("grade_id", str(index))
                errors.setdefault(name, []).append(output.ename)
    return errors


def run(notebook: Any, folder: Path) -> dict[str, list[str]]:
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=kernel_env(None))
    return graded_errors(notebook)


def checks(chapter: Chapter) -> set[str]:
    return {f"exercise_{made.id.replace('.', '_')}_check" for made in chapter.exercises}


#: the chapters whose graded versions run here: chapter 1 (short, and its two exercises cover
#: both shapes of answer), or every chapter with RABBITSIM_NBGRADER_ALL=1 (a few minutes: after
#: changing a chapter's exercises)
RUN_CHAPTERS = [
    chapter
    for chapter in CHAPTERS
    if chapter.exercises and (chapter is RUN_CHAPTER or os.environ.get("RABBITSIM_NBGRADER_ALL") == "1")
]


@pytest.mark.parametrize("chapter", RUN_CHAPTERS, ids=lambda c: Path(c.notebook).stem)
def test_graded_cells_pass_with_the_solutions_and_fail_with_the_starting_answers(
    chapter: Chapter, tmp_path: Path
) -> None:
    original = nbformat.read(NOTEBOOKS / chapter.notebook, as_version=4)
    assert run(nbgrader_notebook(chapter, original), tmp_path) == {}
    wrong = run(nbgrader_notebook(chapter, original, with_starting_answers=True), tmp_path)
    assert wrong == {grade_id: ["AssertionError"] for grade_id in checks(chapter)}


def nbgrader(course: Path, home: Path, *arguments: str) -> str:
    """Run nbgrader (importable from `home`) in `course`, on the simulator. nbgrader runs
    `alembic` by name: its scripts and the environment's go first on PATH."""
    env = kernel_env(None)
    env["PATH"] = os.pathsep.join(
        [str(home / "bin"), sysconfig.get_path("scripts"), env.get("PATH", os.defpath)]
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(home), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *arguments],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(arguments)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_autograde(tmp_path: Path, nbgrader_home: Path) -> None:
    """nbgrader's own round: generate the student version (no solutions in it), then autograde
    two submissions on the simulator: the published solutions get every point, the learner's
    starting answers none."""
    course = tmp_path / "course"
    export_nbgrader(course, chapters=[RUN_CHAPTER])
    nbgrader(course, nbgrader_home, "generate_assignment", RUN_STEM)
    released = course / "release" / RUN_STEM / RUN_CHAPTER.notebook
    student = nbformat.read(released, as_version=4)
    text = "".join(cell.source for cell in student.cells)
    assert BEGIN_SOLUTION not in text and "YOUR CODE HERE" in text
    assert BEGIN_HIDDEN not in text and "_genuine" not in text
    for made in RUN_CHAPTER.exercises:
        assert made.solution().code.strip() not in text

    source = course / "source" / RUN_STEM / RUN_CHAPTER.notebook
    starting = nbgrader_notebook(
        RUN_CHAPTER, nbformat.read(NOTEBOOKS / RUN_CHAPTER.notebook, as_version=4), with_starting_answers=True
    )
    answers = {
        cell.metadata.nbgrader["grade_id"]: cell.source for cell in nbgrader_cells(starting, "solution")
    }
    for cell in nbgrader_cells(student, "solution"):
        cell.source = answers[cell.metadata.nbgrader["grade_id"]]
    for who in ("right", "wrong"):
        (course / "submitted" / who / RUN_STEM).mkdir(parents=True)
    shutil.copyfile(source, course / "submitted" / "right" / RUN_STEM / RUN_CHAPTER.notebook)
    nbformat.write(student, course / "submitted" / "wrong" / RUN_STEM / RUN_CHAPTER.notebook)
    nbgrader(course, nbgrader_home, "autograde", RUN_STEM)

    from nbgrader.api import Gradebook

    maximum = len(RUN_CHAPTER.exercises)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {who: gradebook.find_submission(RUN_STEM, who).score for who in ("right", "wrong")}
    assert scores == {"right": maximum, "wrong": 0}
    graded = nbformat.read(course / "autograded" / "wrong" / RUN_STEM / RUN_CHAPTER.notebook, as_version=4)
    assert graded_errors(graded) == {grade_id: ["AssertionError"] for grade_id in checks(RUN_CHAPTER)}


# --- the Chinese edition --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_zh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("nbgrader-course-zh")
    export_nbgrader(target, edition="zh")
    return target


def test_the_chinese_export_has_every_exercise_in_chinese(export_zh: Path, export: Path) -> None:
    """The same assignments, graded cells and grade ids as the English export, from the Chinese
    chapters: the texts a teacher and a student read are Chinese, the code and checks the same."""
    english, chinese = notebooks(export), notebooks(export_zh)
    assert sorted(chinese) == sorted(english)
    for stem, notebook in chinese.items():
        ids = [cell.metadata.nbgrader["grade_id"] for cell in nbgrader_cells(notebook, "grade")]
        assert ids == [cell.metadata.nbgrader["grade_id"] for cell in nbgrader_cells(english[stem], "grade")]
        assert is_chinese(notebook.cells[0].source), f"{stem}: the header {notebook.cells[0].source[:80]!r}"
        assert 'rabbitsim.language("zh")' in "".join(cell.source for cell in notebook.cells)
        for cell in nbgrader_cells(notebook, "solution"):
            heading = cell.source.split(BEGIN_SOLUTION)[0]
            assert is_chinese(heading), f"{stem}: {heading!r}"
        for cell in nbgrader_cells(notebook, "grade"):
            shown = cell.source.split(BEGIN_HIDDEN)[0]
            assert is_chinese(" ".join(line for line in shown.splitlines() if line.startswith("#"))), shown
        for cell in notebook.cells:
            assert "../docs/" not in cell.source, f"{stem}: a link the assignment folder cannot follow"
    region = next(
        cell.source.split(BEGIN_SOLUTION)[1].split(END_SOLUTION)[0]
        for cell in nbgrader_cells(chinese[RUN_STEM], "solution")
        if cell.metadata.nbgrader.grade_id == "exercise_1_1_answer"
    )
    with in_chinese():
        assert EXERCISES["1.1"].solution().code.strip() in region
    assert is_chinese((export_zh / "README.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("edition", "up"), [("en", "../"), ("zh", "../../")])
def test_the_docs_a_chapter_links_travel_with_its_assignment(tmp_path: Path, edition: str, up: str) -> None:
    """A chapter's link to the course's docs/ (`../docs/` from notebooks/, `../../docs/` from
    notebooks/zh/) points into the assignment's own docs/ folder, and the file is copied there."""
    course = tmp_path / "course"
    (course / "docs").mkdir(parents=True)
    (course / "docs" / "tracing.md").write_text("# tracing\n", encoding="utf-8")
    folder = course / "notebooks" if edition == "en" else course / "notebooks" / edition
    folder.mkdir(parents=True)
    chapters = NOTEBOOKS if edition == "en" else NOTEBOOKS / edition
    notebook = nbformat.read(chapters / RUN_CHAPTER.notebook, 4)
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(f"See [tracing]({up}docs/tracing.md)."))
    nbformat.write(notebook, folder / RUN_CHAPTER.notebook)
    written = export_nbgrader(
        tmp_path / "out",
        chapters=[RUN_CHAPTER],
        notebooks=course / "notebooks",
        edition=edition,  # type: ignore[arg-type]
    )
    copied = tmp_path / "out" / "source" / RUN_STEM / "docs" / "tracing.md"
    assert copied in written and copied.read_text(encoding="utf-8") == "# tracing\n"
    graded = nbformat.read(tmp_path / "out" / "source" / RUN_STEM / RUN_CHAPTER.notebook, 4)
    assert "See [tracing](docs/tracing.md)." in [cell.source for cell in graded.cells]


def test_the_chinese_graded_cells_pass_with_the_solutions_and_fail_with_the_starting_answers(
    tmp_path: Path,
) -> None:
    original = nbformat.read(NOTEBOOKS / "zh" / RUN_CHAPTER.notebook, as_version=4)
    with in_chinese():
        right_answers = nbgrader_notebook(RUN_CHAPTER, original)
        starting = nbgrader_notebook(RUN_CHAPTER, original, with_starting_answers=True)
    assert run(right_answers, tmp_path) == {}
    assert run(starting, tmp_path) == {grade_id: ["AssertionError"] for grade_id in checks(RUN_CHAPTER)}
    verdicts = [
        output.get("text", "")
        for cell in nbgrader_cells(starting, "grade")
        for output in cell.outputs
        if output.output_type == "stream"
    ]
    assert verdicts and all(is_chinese(text) for text in verdicts), verdicts
