"""`rabbitsim course`: the learner's copy of the course (copied once, updated only where the
learner has not written, restored on request with their version kept) and the JupyterLab it
starts (serving the copy, on chapter 0, news pop-up off). Units here run nothing of JupyterLab
(the exec is replaced); the last test starts the command for real from this clone, and
tests/test_wheel.py does the same from a built wheel in a fresh virtual environment."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rabbitsim import _course_files as files
from rabbitsim import cli

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def chapter(path: Path, *sources: str) -> None:
    """A small notebook: a markdown title, then one code cell per source."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}\n\n[notes](../docs/notes.md)")]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A packaged course of three chapters and a doc, standing in for rabbitsim/_course/."""
    root = tmp_path / "package"
    chapter(root / "notebooks" / files.FIRST_CHAPTER, "import rabbitsim")
    chapter(root / "notebooks" / "01_hello_world.ipynb", "answer = None  # exercise 1.1")
    chapter(root / "notebooks" / "03_publish_subscribe.ipynb", "answer = None  # exercise 3.1")
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("# notes\n")
    (root / "docs" / "tool.py").write_text("# a maintainer's script\n")
    (root / "notebooks" / ".ipynb_checkpoints").mkdir()
    (root / "notebooks" / ".ipynb_checkpoints" / "01_hello_world-checkpoint.ipynb").write_text("{}")
    return root


def edit(path: Path, source: str, cell: int = 1) -> None:
    """What a learner does: change a cell's source and save."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[cell].source = source
    nbformat.write(notebook, path)


def run(path: Path) -> None:
    """What running a chapter does to it: outputs, execution counts, kernel metadata."""
    notebook = nbformat.read(path, as_version=4)
    for count, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.execution_count = count
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nbformat.write(notebook, path)


def sources(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells]


def test_the_first_run_copies_the_course_with_its_layout(tmp_path: Path, package: Path) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    done = copy.sync()
    assert done.first and not done.updated and not done.kept
    assert sorted(done.copied) == [
        "docs/notes.md",
        f"notebooks/{files.FIRST_CHAPTER}",
        "notebooks/01_hello_world.ipynb",
        "notebooks/03_publish_subscribe.ipynb",
    ], "checkpoints and docs/*.py are not part of the course"
    for relative in done.copied:
        assert (copy.target / relative).read_bytes() == (package / relative).read_bytes()
    assert copy.first_chapter.is_file()
    again = copy.sync()
    assert not again.first and not (again.copied or again.updated or again.kept or again.news)


def test_the_real_course_is_found_and_its_links_work_in_a_copy(tmp_path: Path) -> None:
    """Every relative link and picture of every chapter resolves inside the learner's copy,
    which is why notebooks/ and docs/ are copied side by side."""
    copy = files.CourseCopy(tmp_path / "mine")
    assert copy.source == files.course_root()
    assert files.notebooks_dir() / files.FIRST_CHAPTER == copy.source / "notebooks" / files.FIRST_CHAPTER
    copy.sync()
    chapters = sorted((copy.target / "notebooks").glob("*.ipynb"))
    assert len(chapters) >= 11
    broken = []
    for path in chapters:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for link in re.findall(r"\]\((\.\./[^)\s#]+)|src=\"(\.\./[^\"#]+)\"", cell.source):
                target = next(part for part in link if part)
                if (
                    not (path.parent / target).resolve().is_relative_to(copy.target)
                    or not (path.parent / target).exists()
                ):
                    broken.append(f"{path.name}: {target}")
    assert not broken, f"links that do not resolve in the learner's copy: {broken}"


def test_an_unedited_chapter_takes_the_new_packaged_version(tmp_path: Path, package: Path) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    edit(package / "notebooks" / "01_hello_world.ipynb", "answer = None  # exercise 1.1, now clearer")
    done = copy.sync()
    assert done.updated == ("notebooks/01_hello_world.ipynb",) and not done.kept
    assert (copy.target / "notebooks" / "01_hello_world.ipynb").read_bytes() == (
        package / "notebooks" / "01_hello_world.ipynb"
    ).read_bytes()


def test_a_chapter_only_run_is_not_an_edit(tmp_path: Path, package: Path) -> None:
    """JupyterLab saves outputs and metadata; the learner wrote nothing, so the update comes."""
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    run(copy.target / "notebooks" / "01_hello_world.ipynb")
    assert not copy.sync().updated, "same sources as packaged: nothing to update, outputs stay"
    assert nbformat.read(copy.target / "notebooks" / "01_hello_world.ipynb", as_version=4).cells[1].outputs
    edit(package / "notebooks" / "01_hello_world.ipynb", "answer = None  # v2")
    assert copy.sync().updated == ("notebooks/01_hello_world.ipynb",)


def test_an_edited_chapter_is_never_overwritten_and_the_learner_is_told_once(
    tmp_path: Path, package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine"
    copy = files.CourseCopy(target, source=package)
    copy.sync()
    mine = target / "notebooks" / "03_publish_subscribe.ipynb"
    edit(mine, "answer = 'fanout'  # my answer")
    learner_bytes = mine.read_bytes()
    assert not copy.sync().kept, "the package has nothing newer: nothing to say"

    edit(package / "notebooks" / "03_publish_subscribe.ipynb", "answer = None  # v2")
    done = copy.sync()
    assert done.kept == done.news == ("notebooks/03_publish_subscribe.ipynb",) and not done.updated
    assert mine.read_bytes() == learner_bytes
    cli.tell(copy, done)
    said = capsys.readouterr().out
    assert "kept your version of 03_publish_subscribe.ipynb" in said
    assert f"rabbitsim course --dir {target} --restore 03_publish_subscribe" in said

    later = copy.sync()
    assert later.kept == ("notebooks/03_publish_subscribe.ipynb",) and not later.news, "told once"
    cli.tell(copy, later)
    assert "kept your version" not in capsys.readouterr().out
    assert mine.read_bytes() == learner_bytes

    edit(package / "notebooks" / "03_publish_subscribe.ipynb", "answer = None  # v3")
    assert copy.sync().news == ("notebooks/03_publish_subscribe.ipynb",), "a newer version: told again"
    assert mine.read_bytes() == learner_bytes


def test_a_missing_manifest_counts_every_difference_as_the_learners(tmp_path: Path, package: Path) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    (copy.state_dir / files.MANIFEST).write_text("not json")
    edit(package / "notebooks" / "01_hello_world.ipynb", "answer = None  # v2")
    done = copy.sync()
    assert done.kept == ("notebooks/01_hello_world.ipynb",) and not done.updated


def test_the_learners_own_files_are_never_touched(tmp_path: Path, package: Path) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    own = {
        copy.target / "notebooks" / "interview-record.json": b'{"q": "wrong"}',
        copy.target / "notebooks" / "my_experiments.ipynb": b"{}",
        copy.target / "docs" / "my_notes.md": b"mine",
    }
    for path, data in own.items():
        path.write_bytes(data)
    copy.sync()
    copy.restore("all")
    assert {path: path.read_bytes() for path in own} == own


@pytest.mark.parametrize("which", ["3", "03", "03_publish_subscribe", "03_publish_subscribe.ipynb"])
def test_restore_one_chapter_keeps_the_learners_version_beside_it(
    tmp_path: Path, package: Path, which: str
) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    mine = copy.target / "notebooks" / "03_publish_subscribe.ipynb"
    edit(mine, "answer = 'fanout'  # my answer")
    learner_bytes = mine.read_bytes()
    now = time.mktime((2026, 12, 2, 14, 15, 0, 0, 0, -1))
    restored = copy.restore(which, now=now)
    aside = copy.target / "notebooks" / "03_publish_subscribe.mine-20261202-141500.ipynb"
    assert [(item.path, item.aside) for item in restored] == [("notebooks/03_publish_subscribe.ipynb", aside)]
    assert mine.read_bytes() == (package / "notebooks" / "03_publish_subscribe.ipynb").read_bytes()
    assert aside.read_bytes() == learner_bytes
    edit(mine, "answer = 'direct'  # a second try")
    second = copy.restore(which, now=now)[0].aside
    assert second is not None and second.name == "03_publish_subscribe.mine-20261202-141500-2.ipynb"
    assert aside.read_bytes() == learner_bytes, "an earlier set-aside version is never overwritten"
    edit(package / "notebooks" / "03_publish_subscribe.ipynb", "answer = None  # v2")
    assert copy.sync().updated == ("notebooks/03_publish_subscribe.ipynb",), "restored: unedited again"


def test_restore_all_puts_every_file_back(tmp_path: Path, package: Path) -> None:
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    edit(copy.target / "notebooks" / "01_hello_world.ipynb", "answer = 1")
    run(copy.target / "notebooks" / "03_publish_subscribe.ipynb")
    (copy.target / "docs" / "notes.md").write_text("scribbles")
    (copy.target / "notebooks" / files.FIRST_CHAPTER).unlink()
    restored = {item.path: item for item in copy.restore("all")}
    assert set(restored) == set(files.course_files(package))
    for relative in restored:
        assert (copy.target / relative).read_bytes() == (package / relative).read_bytes()
    assert restored[f"notebooks/{files.FIRST_CHAPTER}"].missing
    kept_aside = sorted(path.name for path in copy.target.rglob("*.mine-*"))
    assert [re.sub(r"\d{8}-\d{6}", "STAMP", name) for name in kept_aside] == [
        "01_hello_world.mine-STAMP.ipynb",
        "03_publish_subscribe.mine-STAMP.ipynb",
        "notes.mine-STAMP.md",
    ]
    assert "scribbles" in (copy.target / "docs" / kept_aside[2]).read_text()


def test_restore_puts_back_the_chapter_of_the_edition_asked_for(
    tmp_path: Path, package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--restore 3 --lang zh` restores the Chinese chapter 3 and leaves the English one alone."""
    chapter(package / "notebooks" / "zh" / "03_publish_subscribe.ipynb", "answer = None  # 练习 3.1")
    copy = files.CourseCopy(tmp_path / "mine", source=package)
    copy.sync()
    english, chinese = (
        copy.target / "notebooks" / name / "03_publish_subscribe.ipynb" for name in ("", "zh")
    )
    edit(english, "answer = 'mine'")
    edit(chinese, "answer = '我的'")
    assert copy.chapters("zh") == ["notebooks/zh/03_publish_subscribe.ipynb"]
    restored = copy.restore("3", edition="zh")
    assert [item.path for item in restored] == ["notebooks/zh/03_publish_subscribe.ipynb"]
    assert sources(chinese)[1] == "answer = None  # 练习 3.1" and sources(english)[1] == "answer = 'mine'"
    assert [item.path for item in copy.restore("03_publish_subscribe")] == [
        "notebooks/03_publish_subscribe.ipynb"
    ]


def test_an_unknown_chapter_is_an_error_that_lists_the_chapters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine"
    assert cli.main(["course", "--dir", str(target), "--restore", "3"]) == 0
    before = {path: path.read_bytes() for path in target.rglob("*") if path.is_file()}
    capsys.readouterr()
    assert cli.main(["course", "--dir", str(target), "--restore", "42"]) == 2
    said = capsys.readouterr()
    assert "no chapter '42'" in said.err and "03_publish_subscribe" in said.err and "10_capacity" in said.err
    assert {path: path.read_bytes() for path in target.rglob("*") if path.is_file()} == before


def test_the_command_copies_then_starts_jupyterlab_on_chapter_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append((path, argv, env)))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/somewhere/else")
    target = tmp_path / "mine"
    assert cli.main(["course", "--dir", str(target), "--no-browser", "--port=9999"]) == 0
    assert f"copied the course into {target}" in capsys.readouterr().out
    [(path, argv, env)] = started
    assert path == sys.executable and argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={target}" in argv
    assert f"--LabApp.default_url=/lab/tree/notebooks/{files.FIRST_CHAPTER}" in argv
    assert argv.index("--no-browser") > argv.index(f"--ServerApp.root_dir={target}"), "the learner's last"
    assert "--port=9999" in argv
    assert (target / "notebooks" / files.FIRST_CHAPTER).is_file()
    config = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert config[1:] == ["/somewhere/else"], "the learner's config path is kept, after the course's"
    overrides = json.loads((Path(config[0]) / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides == cli.LAB_DEFAULTS | {cli.TRANSLATION_PLUGIN: {"locale": "en"}}
    assert not (Path.home() / ".jupyter" / "lab" / "user-settings" / "rabbitsim").exists()


@pytest.mark.parametrize(
    ("arguments", "locale", "chapter", "locale_in_jupyterlab"),
    [
        (["--lang", "zh"], "en_US.UTF-8", f"notebooks/zh/{files.FIRST_CHAPTER}", "zh_CN"),
        ([], "zh_CN.UTF-8", f"notebooks/zh/{files.FIRST_CHAPTER}", "zh_CN"),
        ([], "en_GB.UTF-8", f"notebooks/{files.FIRST_CHAPTER}", "en"),
        (["--lang", "en"], "zh_TW.UTF-8", f"notebooks/{files.FIRST_CHAPTER}", "en"),
    ],
)
def test_the_command_opens_the_edition_asked_for_or_the_locales(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    locale: str,
    chapter: str,
    locale_in_jupyterlab: str,
) -> None:
    """--lang zh, or a zh_* locale without --lang: the Chinese edition's chapter 0, JupyterLab's
    menus in Chinese (its language pack is a dependency); --lang wins over the locale."""
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append(argv))
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", locale)
    target = tmp_path / "mine"
    assert cli.main(["course", "--dir", str(target), *arguments, "--no-browser"]) == 0
    [argv] = started
    assert f"--LabApp.default_url=/lab/tree/{chapter}" in argv
    assert (target / chapter).is_file()
    config = target / ".rabbitsim" / "jupyter" / "labconfig" / "default_setting_overrides.json"
    assert json.loads(config.read_text())[cli.TRANSLATION_PLUGIN] == {"locale": locale_in_jupyterlab}
    assert ("中文版" in capsys.readouterr().out) == (locale_in_jupyterlab == "zh_CN")


def test_jupyterlabs_chinese_language_pack_is_installed() -> None:
    """The locale the Chinese edition asks JupyterLab for exists: its language pack is installed
    with rabbitsim (JupyterLab falls back to English without a word otherwise)."""
    from importlib.metadata import entry_points

    packs = {entry.name for entry in entry_points(group="jupyterlab.languagepack")}
    assert cli.LAB_LOCALES["zh"] in packs


def test_the_news_default_names_a_real_jupyterlab_setting() -> None:
    """The plugin and the value exist in the installed JupyterLab's schema, and "false" is not
    the default already (else there would be nothing to turn off)."""
    from jupyterlab.commands import get_app_dir

    [(plugin, values)] = cli.LAB_DEFAULTS.items()  # the news setting; the locale's is tested above
    package, name = plugin.split(":")
    schema = json.loads((Path(get_app_dir()) / "schemas" / package / f"{name}.json").read_text())
    fetch = schema["properties"]["fetchNews"]
    assert values == {"fetchNews": "false"}
    assert "false" in [choice["const"] for choice in fetch["oneOf"]] and fetch["default"] == "none"


def test_the_news_default_joins_defaults_already_there(tmp_path: Path) -> None:
    """binder/postBuild writes it into the image's own Jupyter config folder, which may hold
    other defaults: they stay."""
    path = tmp_path / "labconfig" / "default_setting_overrides.json"
    path.parent.mkdir()
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    path.write_text(json.dumps(theme))
    assert cli.write_lab_defaults(tmp_path) == path
    assert json.loads(path.read_text()) == theme | cli.LAB_DEFAULTS
    cli.write_lab_defaults(tmp_path)
    assert json.loads(path.read_text()) == theme | cli.LAB_DEFAULTS


@pytest.mark.parametrize(("lang", "edition"), [([], "en"), (["--lang", "zh"], "zh")])
def test_export_nbgrader_calls_the_course_and_starts_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lang: list[str],
    edition: str,
) -> None:
    import rabbitsim.course

    asked: list[tuple[Path, str]] = []

    def export(target: Path, edition: str = "en") -> list[Path]:
        asked.append((target, edition))
        return [target / "source" / "01_hello_world" / "01_hello_world.ipynb"]

    monkeypatch.setattr(rabbitsim.course, "export_nbgrader", export, raising=False)
    monkeypatch.setattr(os, "execve", lambda *_: pytest.fail("JupyterLab must not start"))
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["course", "--export-nbgrader", str(tmp_path / "grading"), *lang]) == 0
    assert asked == [(tmp_path / "grading", edition)]
    said = capsys.readouterr().out
    assert str(tmp_path / "grading" / "source" / "01_hello_world" / "01_hello_world.ipynb") in said


def test_from_this_clone_the_command_serves_the_copy_on_chapter_zero(tmp_path: Path) -> None:
    """The command for real, headless, from the repository: JupyterLab serves the learner's
    copy (chapters and docs), opens on chapter 0 and has the news question off."""
    port, token = _free_port(), "course-command-test"
    env = dict(
        os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg")
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "workspaces")
    target = tmp_path / "course"
    process = subprocess.Popen(
        [
            str(BIN / "rabbitsim"),
            "course",
            "--dir",
            str(target),
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        chapter0 = _get(
            f"{base}/api/contents/notebooks/{files.FIRST_CHAPTER}?content=0&token={token}", process
        )
        assert chapter0["path"] == f"notebooks/{files.FIRST_CHAPTER}"
        assert _get(f"{base}/api/contents/docs?content=0&token={token}", process)["type"] == "directory"
        settings = _get(
            f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}", process
        )
        assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"
        with urllib.request.urlopen(f"{base}/?token={token}", timeout=10) as answer:
            assert answer.url.startswith(f"{base}/lab/tree/notebooks/{files.FIRST_CHAPTER}")
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert f"copied the course into {target}" in output


def _get(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.load(answer)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert process.poll() is None, "the command ended early"
            assert time.monotonic() < deadline, f"JupyterLab did not answer within {seconds} s"
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
