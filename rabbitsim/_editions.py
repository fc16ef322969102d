"""The course's editions, kept in step: the English chapters (notebooks/*.ipynb) are the source,
and each other edition's chapters (notebooks/zh/*.ipynb) are built from them and a translation
file per chapter (translations/zh/<chapter>.md, in the repository only).

A translation file pairs every cell of the English chapter, in order, with its translation:

    <!-- cell 3 markdown 5d41402abc4b -->
    中文的说明……
    <!-- cell 4 code 7b502c3a1f48 -->
    channel.queue_declare(queue="hello")  # 注释可以翻译，代码不可以

The marker gives the cell's position, type and a hash of the English source it translates. The
build refuses a translation whose English cell has changed since (the hash), a cell missing or
out of order, and a code cell whose code differs from the English one in anything but its
comments, so the editions cannot drift apart without `rabbitsim editions check` (and the tests)
saying where. The built chapter also says which language the course speaks in that kernel
(`rabbitsim.language("zh")` in its first cell) and reaches the shared docs/ one folder further up.

Only the standard library (layer 1 of tests/test_layering.py, beside _course_files)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from rabbitsim._course_files import REPOSITORY, notebooks_dir

__all__ = [
    "EDITIONS",
    "Cell",
    "EditionError",
    "build",
    "check",
    "code_of",
    "english_chapters",
    "parse",
    "scaffold",
    "source_hash",
    "translation_file",
    "write",
]

#: the editions built from the English one, and the line each one's first code cell gains after
#: `import rabbitsim`
EDITIONS: dict[str, str] = {
    "zh": 'rabbitsim.language("zh")  # 练习的反馈、提示和答案用中文',
}
TRANSLATIONS = REPOSITORY / "translations"
MARKER = re.compile(r"^<!-- cell (\d+) (markdown|code|raw) ([0-9a-f]{12}) -->$", re.MULTILINE)
#: a relative link or image out of notebooks/ (`../docs/x.md`): one folder further up from notebooks/zh/
UPWARD = re.compile(r"(\]\(|src=\"|href=\")\.\./")


class EditionError(ValueError):
    """A translation that does not match its English chapter; the message lists every problem."""


@dataclass(frozen=True)
class Cell:
    index: int
    kind: str
    source_hash: str
    text: str


def source_hash(text: str) -> str:
    """Twelve hex digits of the English source's SHA-256: which version a translation translates."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def english_chapters() -> list[Path]:
    return sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def translation_file(chapter: Path, language: str) -> Path:
    return TRANSLATIONS / language / f"{chapter.stem}.md"


def edition_path(chapter: Path, language: str) -> Path:
    return chapter.parent / language / chapter.name


def _source(cell: dict[str, object]) -> str:
    source = cell.get("source", "")
    return "".join(str(line) for line in source) if isinstance(source, list) else str(source)


def _lines(text: str) -> list[str]:
    """nbformat's way of storing a source: lines with their newlines, the last one without."""
    lines = text.splitlines(keepends=True)
    return lines


def scaffold(chapter: Path, language: str) -> Path:
    """Write a translation file holding the English text of every cell, for a translator to
    replace; an existing file is kept (build tells what in it is stale)."""
    target = translation_file(chapter, language)
    if target.exists():
        return target
    notebook = json.loads(chapter.read_text(encoding="utf-8"))
    parts = []
    for index, cell in enumerate(notebook["cells"]):
        text = _source(cell)
        parts.append(f"<!-- cell {index} {cell['cell_type']} {source_hash(text)} -->\n{text}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(parts), encoding="utf-8")
    return target


def parse(text: str) -> list[Cell]:
    """The cells of a translation file, in the order written."""
    markers = list(MARKER.finditer(text))
    cells = []
    for number, marker in enumerate(markers):
        end = markers[number + 1].start() if number + 1 < len(markers) else len(text)
        body = text[marker.end() : end].strip("\n")
        cells.append(Cell(int(marker.group(1)), marker.group(2), marker.group(3), body))
    return cells


def code_of(source: str) -> list[tuple[int, str]]:
    """A code cell without its comments: its tokens (type, text), which must be the same in every
    edition. Comments and blank lines are the translator's."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # IPython syntax (%magic, !shell) is not Python: compare its lines without # comments
        return [(0, line.split("  #")[0].rstrip()) for line in source.splitlines() if line.strip()]
    return [(token.type, token.string) for token in tokens if token.type not in skip]


def _with_language_line(source: str, language: str) -> str:
    lines = source.split("\n")
    if "import rabbitsim" not in lines:
        raise EditionError("the first code cell has no line `import rabbitsim` to follow")
    at = lines.index("import rabbitsim") + 2  # after the blank line that ends the imports
    return "\n".join([*lines[:at], EDITIONS[language], "", *lines[at:]])


def build(chapter: Path, language: str) -> dict[str, object]:
    """The chapter's edition in `language`, as a notebook; an EditionError listing every cell that
    does not match the English chapter."""
    if language not in EDITIONS:
        raise EditionError(f"no edition {language!r}: the course has {', '.join(EDITIONS)}")
    english = json.loads(chapter.read_text(encoding="utf-8"))
    path = translation_file(chapter, language)
    if not path.exists():
        raise EditionError(
            f"{path} is missing: run `rabbitsim editions scaffold {language}` and translate it"
        )
    translated = parse(path.read_text(encoding="utf-8"))
    problems = []
    if [cell.index for cell in translated] != list(range(len(translated))):
        problems.append("the cells are not numbered 0, 1, 2... in order")
    if len(translated) != len(english["cells"]):
        problems.append(
            f"{len(translated)} cells translated, the English chapter has {len(english['cells'])}"
        )
    cells = []
    first_code = True
    for index, (cell, ours) in enumerate(zip(english["cells"], translated, strict=False)):
        text = _source(cell)
        where = f"cell {index} ({cell['cell_type']}, starting {text[:50]!r})"
        if ours.kind != cell["cell_type"]:
            problems.append(f"{where}: translated as a {ours.kind} cell")
        if ours.source_hash != source_hash(text):
            problems.append(
                f"{where}: the English cell has changed since it was translated (its hash is now "
                f"{source_hash(text)}, the translation's {ours.source_hash}); translate the change, then "
                "update the hash in the marker"
            )
        body = ours.text
        new = {
            key: value for key, value in cell.items() if key not in ("source", "outputs", "execution_count")
        }
        if cell["cell_type"] == "code":
            if code_of(body) != code_of(text):
                problems.append(f"{where}: the code differs from the English cell (only comments may)")
            if first_code:
                try:
                    body = _with_language_line(body, language)
                except EditionError as error:
                    problems.append(f"{where}: {error}")
                first_code = False
            new["outputs"], new["execution_count"] = [], None
        else:
            body = UPWARD.sub(r"\1../../", body)
        new["source"] = _lines(body)
        cells.append(new)
    if problems:
        raise EditionError(f"{path} does not match {chapter.name}:\n  " + "\n  ".join(problems))
    metadata = dict(english["metadata"])
    metadata["rabbitsim"] = {"edition": language, "built from": f"{chapter.name} and {path.name}"}
    return {**english, "metadata": metadata, "cells": cells}


def _dumps(notebook: dict[str, object]) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def write(language: str) -> list[Path]:
    """Build every chapter of the edition into notebooks/<language>/; the paths written."""
    written = []
    for chapter in english_chapters():
        target = edition_path(chapter, language)
        target.parent.mkdir(exist_ok=True)
        text = _dumps(build(chapter, language))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def check(language: str) -> list[str]:
    """What is out of step between the English chapters, the translations and the built edition
    (nothing: an empty list)."""
    problems = []
    for chapter in english_chapters():
        try:
            text = _dumps(build(chapter, language))
        except EditionError as error:
            problems.append(str(error))
            continue
        target = edition_path(chapter, language)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            problems.append(
                f"{target} is not what its translation builds: run `rabbitsim editions build {language}`"
            )
    built = {path.name for path in english_chapters()}
    folder = notebooks_dir() / language
    for extra in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        if extra.name not in built:
            problems.append(f"{extra} has no English chapter")
    return problems
