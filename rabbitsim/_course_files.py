"""Where the course is, and the learner's own copy of it.

The course is two folders side by side, `notebooks/` (the chapters) and `docs/` (what they link
to as `../docs/x.md` and show as `../docs/x.png`). A wheel carries both inside the package, in
`rabbitsim/_course/` (pyproject.toml puts them there); a clone, and an editable install of one,
has them at the top of the repository. `course_root()` is the one place that knows which.

`CourseCopy` keeps a learner's copy in a folder they own. It never overwrites their work: a
manifest records the hash of every file as it was copied, so a file still as copied may be
replaced by a newer packaged version, and an edited one is kept. `restore` puts packaged
chapters back and moves the learner's version aside, never deleting it.

Only the standard library and nothing of rabbitsim, so the course layer and the command line can
both import it without JupyterLab (layer 0 of tests/test_layering.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FIRST_CHAPTER",
    "FOLDERS",
    "CourseCopy",
    "CourseNotFound",
    "Restored",
    "Sync",
    "UnknownChapter",
    "course_files",
    "course_root",
    "describe",
    "docs_dir",
    "notebooks_dir",
]

#: the course's two folders, copied with the same relative layout so the chapters' links work
FOLDERS = ("notebooks", "docs")
#: the chapter JupyterLab opens on, in notebooks/
FIRST_CHAPTER = "00_start_here.ipynb"
#: files the course writes in the learner's folder, never part of the course itself
#: (the interview drill's record; .gitignore keeps it out of the wheel as well)
LEARNER_FILES = frozenset({"interview-record.json"})

_PACKAGE = Path(__file__).resolve().parent
#: where a wheel puts the course
PACKAGED = _PACKAGE / "_course"
#: where a clone has it (an editable install imports rabbitsim from the clone)
REPOSITORY = _PACKAGE.parent
#: the copy's own bookkeeping, in a hidden folder JupyterLab's file browser does not show
STATE = ".rabbitsim"
MANIFEST = "manifest.json"


class CourseNotFound(FileNotFoundError):
    """Neither the package nor a clone around it holds the course."""


class UnknownChapter(ValueError):
    """`restore` was asked for a chapter the course does not have; the message lists them."""


def course_root() -> Path:
    """The folder holding notebooks/ and docs/: the installed package's copy if there is one,
    otherwise the clone this package was imported from."""
    for root in (PACKAGED, REPOSITORY):
        if (root / "notebooks" / FIRST_CHAPTER).is_file():
            return root
    raise CourseNotFound(
        f"the course is neither in this install ({PACKAGED}) nor in a clone around it "
        f"({REPOSITORY / 'notebooks'}); reinstall rabbitsim from a wheel or from a clone"
    )


def notebooks_dir() -> Path:
    """The chapters (`00_start_here.ipynb`, ...), for the course layer (e.g. the nbgrader export)."""
    return course_root() / "notebooks"


def docs_dir() -> Path:
    return course_root() / "docs"


def course_files(root: Path | None = None) -> dict[str, Path]:
    """Every file of the course under `root`, by its path relative to `root` (with `/`), in
    order. Left out, as the wheel leaves them out: hidden files and folders (JupyterLab's
    checkpoints), Python caches, the maintainers' scripts in docs/, and what the course writes
    for the learner."""
    root = course_root() if root is None else root
    found: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or _left_out(relative):
                continue
            found[relative.as_posix()] = path
    return found


def _left_out(relative: Path) -> bool:
    parts = relative.parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return True
    if relative.name in LEARNER_FILES or relative.suffix == ".pyc":
        return True
    return parts[0] == "docs" and relative.suffix == ".py"


def _digest(path: Path) -> str:
    """What the learner wrote in a file, as a hash. For a chapter, that is its cells' types,
    sources and attachments: JupyterLab rewrites a notebook's metadata when it saves it, and
    running it adds outputs, neither of which is an edit; whatever the learner types is."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data)["cells"]
            written = [
                [cell["cell_type"], _text(cell.get("source", "")), cell.get("attachments")] for cell in cells
            ]
        except (ValueError, KeyError, TypeError):
            pass  # not a notebook JupyterLab could open: compare its bytes
        else:
            data = json.dumps(written, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def _text(source: object) -> str:
    """A cell's source, which nbformat stores as one string or as a list of lines."""
    return "".join(str(line) for line in source) if isinstance(source, list) else str(source)


def _same_bytes(one: Path, other: Path) -> bool:
    return one.read_bytes() == other.read_bytes()


@dataclass(frozen=True, slots=True)
class Sync:
    """What one `CourseCopy.sync()` did, by relative path."""

    copied: tuple[str, ...]  # were missing: copied from the package
    updated: tuple[str, ...]  # unedited since copied, and the package has another version: replaced
    kept: tuple[str, ...]  # edited by the learner, and the package has another version: left alone
    news: tuple[str, ...]  # those of `kept` the learner has not been told about yet
    first: bool  # the folder had no copy of the course before


@dataclass(frozen=True, slots=True)
class Restored:
    """One file `CourseCopy.restore()` put back: `aside` is where the learner's version went;
    None when there was nothing to set aside (`missing`, or already the packaged version)."""

    path: str  # relative to the copy
    aside: Path | None
    missing: bool = False


class CourseCopy:
    """The learner's copy of the course in `target`, kept up to date from `source` (by default
    the packaged course) without ever losing an edit."""

    def __init__(self, target: Path, source: Path | None = None) -> None:
        self.target = Path(target).expanduser().resolve()
        self.source = course_root() if source is None else Path(source)
        self._manifest_path = self.target / STATE / MANIFEST

    @property
    def first_chapter(self) -> Path:
        return self.target / "notebooks" / FIRST_CHAPTER

    @property
    def state_dir(self) -> Path:
        """`.rabbitsim/` in the copy: the manifest, and the settings JupyterLab is started with."""
        return self.target / STATE

    def chapters(self, edition: str = "en") -> list[str]:
        """The packaged chapters' relative paths of one edition: `notebooks/03_publish_subscribe.ipynb`
        (English, "en"), `notebooks/zh/03_publish_subscribe.ipynb` (Chinese, "zh")."""
        folder = "notebooks" if edition == "en" else f"notebooks/{edition}"
        return [
            path
            for path in course_files(self.source)
            if path.endswith(".ipynb") and str(Path(path).parent) == folder
        ]

    def sync(self) -> Sync:
        """Copy what is missing; replace what the learner has not touched when the package has
        another version (a chapter they only ran counts as untouched: its outputs go); keep
        every edited file. Files that are not the course's (the learner's own, their records,
        set-aside versions) are never looked at."""
        files = self._load()
        first = not files and not any((self.target / folder).exists() for folder in FOLDERS)
        copied: list[str] = []
        updated: list[str] = []
        kept: list[str] = []
        news: list[str] = []
        for relative, source in course_files(self.source).items():
            target = self.target / relative
            packaged = _digest(source)
            entry = files.get(relative, {})
            if not target.exists():
                self._copy(source, target)
                files[relative] = {"copied": packaged}
                copied.append(relative)
                continue
            mine = _digest(target)
            if mine == packaged:  # as packaged (perhaps run, or an edit undone): nothing to do
                files[relative] = {"copied": packaged}
            elif entry.get("copied") == mine:  # untouched since copied: take the new version
                self._copy(source, target)
                files[relative] = {"copied": packaged}
                updated.append(relative)
            elif entry.get("copied") != packaged:  # the learner's work, and the package changed: keep it
                kept.append(relative)
                if entry.get("told") != packaged:
                    news.append(relative)
                files[relative] = {**entry, "told": packaged}
            # else: the learner's work, on the version they were given: nothing to say
        self._save(files)
        return Sync(tuple(copied), tuple(updated), tuple(kept), tuple(news), first)

    def select(self, which: str, edition: str = "en") -> list[str]:
        """The packaged files `which` names: `all` (every file of the course, both editions), a
        chapter number (`3`, `03`), or a notebook's name with or without `.ipynb`
        (`03_publish_subscribe`), of the `edition` ("en", "zh")."""
        if which == "all":
            return list(course_files(self.source))
        chapters = self.chapters(edition)
        wanted = which.strip().removesuffix(".ipynb").removeprefix("notebooks/")
        if wanted.isdigit():
            prefix = f"{int(wanted):02d}_"
            chosen = [path for path in chapters if Path(path).name.startswith(prefix)]
        else:
            chosen = [path for path in chapters if wanted in (Path(path).stem, path.removesuffix(".ipynb"))]
        if not chosen:
            names = ", ".join(Path(path).stem for path in chapters)
            raise UnknownChapter(
                f"no chapter {which!r} in the course; give a number (3), a name "
                f"(03_publish_subscribe) or all. The chapters: {names}"
            )
        return chosen

    def restore(self, which: str, *, now: float | None = None, edition: str = "en") -> list[Restored]:
        """Put the packaged version of `which` (see `select`) back, byte for byte. A learner's
        version that differs at all (if only by its outputs) is renamed beside it
        (`03_publish_subscribe.mine-20261202-141500.ipynb`), never deleted. Raises
        UnknownChapter before touching anything."""
        chosen = self.select(which, edition)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        files = self._load()
        done: list[Restored] = []
        for relative in chosen:
            source, target = self.source / relative, self.target / relative
            missing, aside = not target.exists(), None
            if not missing and not _same_bytes(target, source):
                aside = _free_name(target, stamp)
                target.rename(aside)
            if missing or aside is not None:
                self._copy(source, target)
            files[relative] = {"copied": _digest(source)}
            done.append(Restored(relative, aside, missing))
        self._save(files)
        return done

    def _copy(self, source: Path, target: Path) -> None:
        """Copy through a temporary name, so an interrupted run never leaves half a chapter."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)

    def _load(self) -> dict[str, dict[str, str]]:
        """The manifest's files: for each, the hash of what was last copied (`copied`) and of
        the packaged version the learner was last told about (`told`). Missing or unreadable:
        empty, so every file that differs counts as the learner's and nothing is lost."""
        try:
            loaded = json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        files = loaded.get("files") if isinstance(loaded, dict) else None
        if not isinstance(files, dict):
            return {}
        return {
            str(path): {str(key): str(value) for key, value in entry.items()}
            for path, entry in files.items()
            if isinstance(entry, dict)
        }

    def _save(self, files: dict[str, dict[str, str]]) -> None:
        self._manifest_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._manifest_path.with_suffix(".partial")
        document = {"format": "rabbitsim-course-copy", "files": files}
        partial.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(partial, self._manifest_path)


def _free_name(path: Path, stamp: str) -> Path:
    """`name.mine-<stamp>.ipynb`, or with `-2`, `-3`... if a restore in the same second took it."""
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        candidate = path.with_name(f"{path.stem}.mine-{stamp}{suffix}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free name beside {path}")


def describe(paths: Iterable[str]) -> str:
    """`03_publish_subscribe.ipynb, docs/tracing.md`: chapters by name, other files by path."""
    return ", ".join(re.sub(r"^notebooks/", "", path) for path in paths)
