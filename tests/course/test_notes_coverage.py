"""Chapter 0 says every point of the study notes is taught in a chapter: this holds it true. Every
point's anchor is in its chapter's notebook, every file of notes has points, every chapter named
exists; and the table chapter 0 shows marks a point whose phrase has gone missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rabbitsim import course
from rabbitsim.course import _notes
from rabbitsim.course._notes import CHAPTER_NOTEBOOKS, NOTES, SEEDS, Point, missing, notes_table

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: where DESIGN.md says the notes are kept, beside the repository (absent from a plain clone)
SEED_FILES = ROOT.parent / "shared" / "seeds"


def test_every_anchor_is_in_its_chapters_notebook() -> None:
    absent = missing(NOTEBOOKS)
    assert not absent, "points not found in their chapter:\n" + "\n".join(
        f"  chapter {point.chapter}, seed {point.seed} ({point.source}): {why}" for point, why in absent
    )


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_file_of_notes_has_points(seed: str) -> None:
    assert any(point.seed == seed for point in NOTES), f"no point of the notes {seed} is in the course"


@pytest.mark.skipif(not SEED_FILES.is_dir(), reason=f"the notes are not at {SEED_FILES}")
def test_the_seeds_are_the_files_of_notes_there_are() -> None:
    assert sorted(SEEDS) == sorted(path.name[:3] for path in SEED_FILES.glob("*.txt"))


def test_every_chapter_named_exists() -> None:
    assert sorted(CHAPTER_NOTEBOOKS) == list(range(len(CHAPTER_NOTEBOOKS)))
    assert all((NOTEBOOKS / name).exists() for name in CHAPTER_NOTEBOOKS.values())
    assert all(CHAPTER_NOTEBOOKS[chapter.number] == chapter.notebook for chapter in course.CHAPTERS)
    assert {point.chapter for point in NOTES} <= set(CHAPTER_NOTEBOOKS)


def test_both_halves_of_the_course_carry_points() -> None:
    sources = {point.source for point in NOTES}
    assert {"chapters_00_03.toml", "chapters_04_11.toml"} <= sources
    assert all(point.chapter <= 3 for point in NOTES if point.source == "chapters_00_03.toml")
    assert all(point.chapter >= 4 for point in NOTES if point.source == "chapters_04_11.toml")


def test_the_notes_interview_questions_are_in_chapter_11() -> None:
    questions = [point for point in NOTES if point.chapter == 11]
    assert len(questions) >= 5
    assert all(point.seed == "004" for point in questions)


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('seed = "005"\nquote = "q"\nchapter = 1\nanchor = "a"', "seed '005'"),
        ('seed = "000"\nquote = "q"\nchapter = 12\nanchor = "a"', "chapter 12"),
        ('seed = "000"\nquote = "q"\nchapter = "1"\nanchor = "a"', "chapter should be int"),
        ('seed = "000"\nquote = "q"\nchapter = 1', "fields"),
        ('seed = "000"\nquote = "q"\nchapter = 1\nanchor = " "', "empty"),
    ],
)
def test_a_mistake_in_the_data_fails_loudly_naming_the_entry(entry: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=r"broken\.toml, point 1") as raised:
        _notes._points_of(f"[[point]]\n{entry}\n", "broken.toml")
    assert complaint in str(raised.value)


def write_notebook(path: Path, *sources: str) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": source} for source in sources]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_the_table_marks_a_phrase_that_went_missing(tmp_path: Path) -> None:
    found = Point("001", "a quote", 1, "one TCP\nconnection", "test.toml")
    gone = Point("002", "another", 1, "a phrase nobody wrote", "test.toml")
    elsewhere = Point("003", "a third", 2, "anything", "test.toml")
    write_notebook(tmp_path / CHAPTER_NOTEBOOKS[1], "opens a connection: one TCP   connection to the broker")
    absent = missing(tmp_path, [found, gone, elsewhere])
    assert [point for point, _ in absent] == [gone, elsewhere]
    assert "is not in 01_hello_world.ipynb" in absent[0][1]
    assert "02_work_queues.ipynb is not in" in absent[1][1]
    table = _notes.NotesTable((found, gone, elsewhere), tuple(absent))
    assert "2 NOT found" in table.summary()
    assert "| 1 · hello world | 001 | a quote | one TCP connection | ✔ |" in str(table)
    assert str(table).count("✘") == 2
    assert table._repr_html_().count("<details>") == 2


def test_chapter_0_shows_the_whole_table_checked() -> None:
    table = notes_table(check_in=NOTEBOOKS)
    assert table.absent == ()
    assert "every one found" in table.summary()
    shown = table._repr_html_()
    assert all(f"<a href='{name}'>" in shown for name in {CHAPTER_NOTEBOOKS[p.chapter] for p in NOTES})
    assert shown.count("<tr><td>") == len(NOTES)
    code = "".join(
        "".join(cell["source"])
        for cell in json.loads((NOTEBOOKS / CHAPTER_NOTEBOOKS[0]).read_text())["cells"]
    )
    assert 'course.notes_table(check_in=".")' in code
