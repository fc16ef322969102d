"""The study notes the course grew from, point by point, and where each point is taught: kept as
data (`notes/*.toml`) so that chapter 0's claim "every point of the notes is in the course" is a
table a learner can read and a test can check, not a sentence to take on trust.

Each point names its seed (the notes come as five files, "000" to "004"), quotes the notes'
own words, and gives the chapter that teaches it and an *anchor*: a phrase that chapter's
notebook contains where it teaches the point. `missing(folder)` looks every anchor up in the
notebooks of a folder, so the table can say, for the chapters on this disk, that each is there.

    from rabbitsim.course._notes import NOTES, notes_table, missing
    notes_table(check_in=".")      # in chapter 0: the table, each row checked against the notebooks
"""

from __future__ import annotations

import html
import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rabbitsim._language import LANGUAGES, say

__all__ = ["CHAPTER_NOTEBOOKS", "NOTES", "SEEDS", "NotesTable", "Point", "load", "missing", "notes_table"]

#: the five files of study notes (in `../shared/seeds/` beside the repository), by prefix
SEEDS: dict[str, str] = {
    "000": "exchanges, the fanout exchange, temporary queues and bindings, half quoted from the tutorial",
    "001": "a glossary, how a message travels, exchange types, acks, rabbitmqctl, and a 406 puzzle",
    "002": "a vocabulary list, then tutorials 1 to 3 (hello world, work queues, publish/subscribe)",
    "003": "the tutorials' code, pika 0.x and Python 2 style: queues, workers, fanout logs, RPC",
    "004": "five interview questions, then tutorials 1 to 6 retold in Chinese",
}

#: the notebook of each chapter (chapter 11 may not exist yet in an older copy of the course)
CHAPTER_NOTEBOOKS: dict[int, str] = {
    0: "00_start_here.ipynb",
    1: "01_hello_world.ipynb",
    2: "02_work_queues.ipynb",
    3: "03_publish_subscribe.ipynb",
    4: "04_routing.ipynb",
    5: "05_topics.ipynb",
    6: "06_rpc.ipynb",
    7: "07_reliability.ipynb",
    8: "08_administration.ipynb",
    9: "09_streams.ipynb",
    10: "10_capacity.ipynb",
    11: "11_interview.ipynb",
}

_FIELDS = {"seed": str, "quote": str, "chapter": int, "anchor": str}


@dataclass(frozen=True, slots=True)
class Point:
    """One point the notes make, where the course teaches it, and the phrase that shows it does."""

    seed: str
    quote: str
    chapter: int
    anchor: str
    source: str  # the toml file it was read from, to name it when something is wrong


def _points_of(text: str, source: str) -> list[Point]:
    """The `[[point]]` entries of one toml file, each checked field by field: a typo in the data
    should fail loudly here, naming the entry, rather than show a learner a broken row."""
    data = tomllib.loads(text)
    points = []
    for number, entry in enumerate(data.get("point", []), start=1):
        where = f"{source}, point {number}"
        if set(entry) != set(_FIELDS):
            raise ValueError(f"{where}: fields {sorted(entry)}, expected {sorted(_FIELDS)}")
        for name, kind in _FIELDS.items():
            if not isinstance(entry[name], kind) or isinstance(entry[name], bool):
                raise ValueError(f"{where}: {name} should be {kind.__name__}, not {entry[name]!r}")
        if entry["seed"] not in SEEDS:
            raise ValueError(f"{where}: seed {entry['seed']!r} is not one of {sorted(SEEDS)}")
        if entry["chapter"] not in CHAPTER_NOTEBOOKS:
            raise ValueError(f"{where}: chapter {entry['chapter']} is not a chapter of the course")
        if not entry["anchor"].strip() or not entry["quote"].strip():
            raise ValueError(f"{where}: an empty quote or anchor")
        points.append(Point(entry["seed"], entry["quote"], entry["chapter"], entry["anchor"], source))
    return points


def load() -> tuple[Point, ...]:
    """Every point of every `notes/*.toml` shipped with the package, by seed and file order."""
    folder = resources.files(__package__ or "rabbitsim.course").joinpath("notes")
    points: list[Point] = []
    for item in sorted(folder.iterdir(), key=lambda item: item.name):
        if item.name.endswith(".toml"):
            points += _points_of(item.read_text("utf-8"), item.name)
    return tuple(sorted(points, key=lambda point: point.seed))  # stable: file order within a seed


#: the notes' points, as the package ships them
NOTES: tuple[Point, ...] = load()


def _normal(text: str) -> str:
    """Whitespace runs as one space: an anchor may be wrapped differently in a markdown cell."""
    return re.sub(r"\s+", " ", text)


def notebook_text(path: Path) -> str:
    """All of a notebook's cell sources, markdown and code, as one normalised text."""
    cells = json.loads(path.read_text("utf-8"))["cells"]
    return _normal("\n".join("".join(cell["source"]) for cell in cells))


def missing(folder: str | Path, points: Iterable[Point] = NOTES) -> list[tuple[Point, str]]:
    """The points whose anchor is not in their chapter's notebook in `folder`, each with why.
    The anchors are phrases of the English chapters: for a folder of another edition
    (notebooks/zh/, whose cells translate the English ones one for one) the English beside it."""
    if Path(folder).resolve().name in LANGUAGES[1:]:
        folder = Path(folder).resolve().parent
    texts: dict[int, str | None] = {}
    absent = []
    for point in points:
        if point.chapter not in texts:
            path = Path(folder) / CHAPTER_NOTEBOOKS[point.chapter]
            texts[point.chapter] = notebook_text(path) if path.exists() else None
        text = texts[point.chapter]
        if text is None:
            absent.append((point, f"{CHAPTER_NOTEBOOKS[point.chapter]} is not in {folder}"))
        elif _normal(point.anchor) not in text:
            absent.append((point, f"{point.anchor!r} is not in {CHAPTER_NOTEBOOKS[point.chapter]}"))
    return absent


def _headers() -> tuple[str, ...]:
    """The table's column headers; the Chinese edition's last one says the phrase is the English
    edition's (the anchors are its sentences)."""
    return (
        say("chapter", "章节"),
        say("seed", "笔记"),
        say("the notes say", "笔记原文"),
        say("taught where the chapter says", "章节中讲到它的原句（英文版）"),
    )


def _chapter_label(number: int) -> str:
    name = CHAPTER_NOTEBOOKS[number].removesuffix(".ipynb")
    return f"{number} · {name[3:].replace('_', ' ')}"


@dataclass(frozen=True, repr=False)
class NotesTable:
    """The notes' points by chapter: a count per chapter, then every point with its quote and
    the phrase that shows where the chapter teaches it. Shown as HTML in a notebook (one
    collapsible section per chapter) and as markdown text elsewhere."""

    points: tuple[Point, ...]
    #: (point, why) for each anchor not found, when the table was checked against a folder
    absent: tuple[tuple[Point, str], ...] | None = None

    def by_chapter(self) -> dict[int, list[Point]]:
        chapters: dict[int, list[Point]] = {}
        for point in sorted(self.points, key=lambda point: point.chapter):
            chapters.setdefault(point.chapter, []).append(point)
        return chapters

    def summary(self) -> str:
        seeds = Counter(point.seed for point in self.points)
        files = ", ".join(f"{seed}: {count}" for seed, count in sorted(seeds.items()))
        line = say(
            f"{len(self.points)} points from {len(seeds)} files of notes ({files})",
            f"共 {len(self.points)} 条要点，出自 {len(seeds)} 份笔记（{files}）",
        )
        if self.absent is None:
            return line + say("; not checked against the notebooks.", "；未与各章核对。")
        if not self.absent:
            return line + say(
                "; every one found in its chapter's notebook.",
                "；每一条都在对应章节中找到了（按英文版原句核对）。",
            )
        return line + say(
            f"; {len(self.absent)} NOT found in their chapter's notebook.",
            f"；有 {len(self.absent)} 条在对应章节中没有找到。",
        )

    def _found(self, point: Point) -> str:
        if self.absent is None:
            return ""
        return "✘" if any(point is gone for gone, _ in self.absent) else "✔"

    def __str__(self) -> str:
        lines = [self.summary(), "", f"| {' | '.join(_headers())} |  |"]
        lines.append("|---|---|---|---|---|")
        for chapter, points in self.by_chapter().items():
            for point in points:
                quote, anchor = (
                    text.replace("|", "\\|").replace("\n", " ") for text in (point.quote, point.anchor)
                )
                cells = (_chapter_label(chapter), point.seed, quote, anchor, self._found(point))
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    __repr__ = __str__  # what a plain-text frontend shows: the table, not the dataclass

    def _repr_markdown_(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.summary())}</b></p>"]
        for chapter, points in self.by_chapter().items():
            notebook = CHAPTER_NOTEBOOKS[chapter]
            rows = "".join(
                f"<tr><td>{point.seed}</td><td>{html.escape(point.quote)}</td>"
                f"<td><code>{html.escape(point.anchor)}</code></td><td>{self._found(point)}</td></tr>"
                for point in points
            )
            parts.append(
                f"<details><summary><a href='{notebook}'>{html.escape(_chapter_label(chapter))}</a>: "
                f"{say(f'{len(points)} points', f'{len(points)} 条')}</summary><table><tr>"
                + "".join(f"<th>{header}</th>" for header in _headers()[1:])
                + f"<th></th></tr>{rows}</table></details>"
            )
        return "".join(parts)


def notes_table(check_in: str | Path | None = None) -> NotesTable:
    """The notes' points, point → chapter; with `check_in`, a folder of the course's notebooks
    (chapter 0 passes its own, "."), each anchor is looked up there and marked ✔ or ✘."""
    absent = None if check_in is None else tuple(missing(check_in))
    return NotesTable(NOTES, absent)
