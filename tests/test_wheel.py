"""The course as a learner gets it (issue 15): the wheel built from this checkout, installed with
its dependencies from the package index into a fresh virtual environment outside the
repository; `rabbitsim course` run from there, from a folder outside the repository, copies the
course and starts JupyterLab; a real headless Chromium (Debian's `chromium`, through playwright)
opens chapter 11, runs it down to the drill, reveals an answer, grades it "I missed it", and
sees the answer and the record; no news pop-up shows. The page is kept as
docs/interview_drill.png when RABBITSIM_UPDATE_SCREENSHOT=1 or when that file is missing.

Slow by nature (the install alone takes a minute or two): one wheel and one environment for the
module. JupyterLab gets its own config, data, settings and workspace folders, empty, as a new
learner's are; so the news question would show if `rabbitsim course` did not turn it off."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rabbitsim import _course_files

from .notebooks.test_browser import KERNEL_IDLE_JS, free_port, require_chromium, stop_jupyterlab

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test says what to install
    sync_playwright = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "11_interview.ipynb"
SCREENSHOT = ROOT / "docs" / "interview_drill.png"
TOKEN = "rabbitsim-wheel-test"
VIEWPORT = {"width": 1400, "height": 1000}
INSTALL_SECONDS = 900  # every dependency from the index into an empty environment
START_SECONDS = 90  # `rabbitsim course` until JupyterLab answers
RUN_SECONDS = 180  # the chapter's cells down to the drill
NEWS = "official Jupyter news"  # JupyterLab 4's question, in a toast

#: the environment a learner's shell would not have: this checkout's venv, and backends chosen
#: for the tests (the chapter runs on the simulator, the default)
NOT_THE_LEARNERS = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "RABBITSIM_BACKEND",
    "RABBITSIM_URL",
    "RABBITSIM_MANAGEMENT_URL",
    "RABBITSIM_IMAGE",
    "RABBITSIM_INTERVIEW_RECORD",
    "JUPYTER_CONFIG_PATH",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps .`, as the README says to build one."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"building the wheel failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    [built] = out.glob("rabbitsim-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the repository, the wheel installed into it with its
    dependencies from the index."""
    where = tmp_path_factory.mktemp("learner") / "venv"
    assert not where.resolve().is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    done = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
        env=learner_env(),
    )
    assert done.returncode == 0, f"installing the wheel failed:\n{done.stderr[-3000:]}"
    return where


def learner_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_THE_LEARNERS}
    env["PATH"] = os.pathsep.join(
        part
        for part in env.get("PATH", "").split(os.pathsep)
        if not Path(part).resolve().is_relative_to(ROOT)
    )
    return env | extra


def test_the_wheel_holds_the_course(wheel: Path) -> None:
    """The chapters and the docs they link to, as the repository has them, under
    rabbitsim/_course/; the interview's question bank and quizzes as package data; no
    checkpoints, caches or records."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        prefix = "rabbitsim/_course/"
        shipped = {name.removeprefix(prefix): archive.read(name) for name in names if name.startswith(prefix)}
    expected = _course_files.course_files(ROOT)
    assert sorted(shipped) == sorted(expected), "the wheel's course differs from the repository's"
    for relative, path in expected.items():
        assert shipped[relative] == path.read_bytes(), f"{relative} differs in the wheel"
    assert f"notebooks/{_course_files.FIRST_CHAPTER}" in shipped
    assert f"notebooks/{CHAPTER}" in shipped, "chapter 11 is not in the wheel"
    assert f"notebooks/zh/{_course_files.FIRST_CHAPTER}" in shipped, "the Chinese edition is not in the wheel"
    assert not any(name.startswith("translations/") for name in names), "translations are the repository's"
    data = sorted(name for name in names if name.startswith("rabbitsim/course/") and name.endswith(".toml"))
    assert "rabbitsim/course/interview/questions.toml" in data
    assert "rabbitsim/course/interview/quizzes.toml" in data
    assert {"rabbitsim/course/glossary.toml", "rabbitsim/course/interview/questions.zh.toml"} <= set(data)
    expected_data = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "rabbitsim" / "course").rglob("*.toml")
    )
    assert data == expected_data
    strays = [
        name
        for name in names
        if ".ipynb_checkpoints" in name
        or "__pycache__" in name
        or name.endswith(".pyc")
        or Path(name).name in _course_files.LEARNER_FILES
    ]
    assert not strays, f"the wheel carries what is not the course: {strays}"


def test_the_course_from_the_wheel_runs_the_drill_in_chromium(venv: Path, tmp_path: Path) -> None:
    chromium = require_chromium()
    if sync_playwright is None:
        pytest.fail("playwright is missing: `.venv/bin/pip install -e '.[test]'` (no `playwright install`)")
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from rabbitsim import _course_files as f; print(f.course_root())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=learner_env(),
        check=True,
    ).stdout.strip()
    assert Path(found).is_relative_to(venv), f"the installed rabbitsim reads the course from {found}"

    home = tmp_path / "home"
    course = tmp_path / "my course"
    with jupyterlab(venv, course, home) as base:
        assert sorted(path.relative_to(course).as_posix() for path in course.rglob("*.ipynb")) == sorted(
            relative for relative in _course_files.course_files(Path(found)) if relative.endswith("ipynb")
        )
        assert (course / "notebooks" / "zh" / CHAPTER).is_file(), "the Chinese edition was not copied"
        assert (course / "docs").is_dir()
        drill_cell = _drill_cell(course / "notebooks" / CHAPTER)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            try:
                facts = drive_the_drill(
                    page, f"{base}/lab/tree/notebooks/{CHAPTER}?token={TOKEN}", drill_cell
                )
                page.screenshot(path=str(tmp_path / "interview_drill.png"))
                assert NEWS not in page.content(), "JupyterLab asked about its news"
            except BaseException:
                page.screenshot(path=str(tmp_path / "failure.png"))
                raise
            finally:
                browser.close()

    # the record, read back by another process, as the next sitting reads it
    said = re.search(r"The record \((.+?)\) now holds", facts["graded"])
    assert said, f"the drill does not say where its record is: {facts['graded']}"
    record = (course / "notebooks" / said.group(1)).resolve()
    assert record.is_file() and record.is_relative_to(course), f"no record at {record}"
    probe = (
        "import json, sys; from rabbitsim.course import interview; record = interview.Record(sys.argv[1]); "
        "print(json.dumps({'seen': len(record), 'missed': record.missed(), "
        "'answer': interview.question(record.missed()[0]).answer if record.missed() else ''}))"
    )
    read = json.loads(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", probe, str(record)],
            capture_output=True,
            text=True,
            env=learner_env(),
            check=True,
        ).stdout
    )
    assert read["seen"] == 1 and len(read["missed"]) == 1, (
        f"the record does not hold one missed question: {read}"
    )
    words = re.findall(r"[A-Za-z]{5,}", read["answer"])[:20]
    shown = [word for word in words if word in facts["revealed"]]
    assert len(words) >= 5 and len(shown) >= 0.8 * len(words), (
        f"the revealed text is not the answer to {read['missed'][0]}: {facts['revealed']}"
    )
    assert "missed questions come back first" in facts["graded"], facts["graded"]
    if os.environ.get("RABBITSIM_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        shutil.copyfile(tmp_path / "interview_drill.png", SCREENSHOT)


def _drill_cell(chapter: Path) -> int:
    """The index (among all cells) of the chapter's first cell that shows a drill."""
    cells = nbformat.read(chapter, as_version=4).cells
    found = [
        index
        for index, cell in enumerate(cells)
        if cell.cell_type == "code" and "Drill(" in cell.source and ".widget(" in cell.source
    ]
    assert found, f"{chapter.name} has no cell that shows the drill (`interview.Drill(...).widget()`)"
    return found[0]


@contextlib.contextmanager
def jupyterlab(venv: Path, course: Path, home: Path) -> Iterator[str]:
    """`<venv>/bin/rabbitsim course --dir <course> --no-browser ...` run from a folder outside the
    repository, as a learner runs it; yields JupyterLab's base URL once it answers. Stopped by
    its PID: the server is asked to shut down (its kernels first), then terminated if need be."""
    folders = {
        name: home / folder
        for name, folder in (
            ("JUPYTER_CONFIG_DIR", "jupyter-config"),
            ("JUPYTER_DATA_DIR", "jupyter-data"),
            ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
            ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        )
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
    # every cell in the DOM, so that the test finds the drill's cell by its position
    tracker = folders["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "course.log"
    argv = [
        str(venv / "bin" / "rabbitsim"),
        "course",
        "--dir",
        str(course),
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
    ]
    env = learner_env(**{name: str(folder) for name, folder in folders.items()})
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            argv, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(f"{base}/api/contents/notebooks?content=0&token={TOKEN}"):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"`rabbitsim course` did not serve within {START_SECONDS} s:\n{_tail(log_path)}"
                    )
                time.sleep(0.5)
            assert f"copied the course into {course}" in _tail(log_path), _tail(log_path)
            yield base
        finally:
            stop_jupyterlab(server, base, TOKEN)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


#: the drill's box: its text, and its buttons by label with whether each is enabled
DRILL_JS = r"""
() => {
  const box = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .rabbitsim-drill');
  if (!box) return null;
  const buttons = {};
  for (const b of box.querySelectorAll('button')) buttons[b.innerText.trim()] = !b.disabled;
  return {text: box.innerText, buttons};
}
"""

#: tracebacks shown in the notebook's outputs
ERRORS_JS = r"""
() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
  .filter((e) => e.dataset.mimeType === 'application/vnd.jupyter.stderr')
  .map((e) => e.innerText).filter((t) => /Traceback|^\w*(Error|Exception)\b/m.test(t))
"""

#: the prompts of the code cells up to and including `last` (a cell index), and the kernel's state
PROMPTS_JS = r"""
(last) => {
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = [...notebook.querySelectorAll('.jp-Notebook .jp-Cell')].slice(0, last + 1)
    .filter((c) => c.classList.contains('jp-CodeCell'))
    .map((c) => (c.querySelector('.jp-InputArea-prompt') || {}).innerText || '');
  const indicator = notebook.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, status: indicator ? indicator.dataset.status : ''};
}
"""


def drive_the_drill(page: Any, url: str, drill_cell: int) -> dict[str, Any]:
    """Open the chapter; run every cell above the drill's and the drill's own; reveal an answer;
    grade it "I missed it". Returns the drill's text after the reveal and after the grade."""
    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=START_SECONDS * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=START_SECONDS * 1000)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(drill_cell)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").click()  # selects the cell, in command mode
    for command in ("notebook:run-all-above", "notebook:run-cell"):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(f'li.lm-Menu-item[data-command="{command}"]').click()
        page.wait_for_timeout(500)
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        state = page.evaluate(PROMPTS_JS, drill_cell)
        drill = page.evaluate(DRILL_JS)
        if drill and state["status"] == "idle" and not any("*" in prompt for prompt in state["prompts"]):
            break
        errors = page.evaluate(ERRORS_JS)
        assert not errors, "tracebacks in the outputs:\n\n" + "\n\n".join(errors)
        assert time.monotonic() < deadline, f"the cells down to the drill did not finish: {state}"
        time.sleep(0.5)
    errors = page.evaluate(ERRORS_JS)
    assert not errors, "tracebacks in the outputs:\n\n" + "\n\n".join(errors)
    assert all(prompt.strip("[]: ").isdigit() for prompt in state["prompts"]), state["prompts"]
    assert drill["buttons"].get("Reveal answer") is True, drill
    assert drill["buttons"].get("I missed it") is False, "a grade before the answer is shown"
    box = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .rabbitsim-drill")
    before = drill["text"]
    box.locator("button", has_text="Reveal answer").click()
    # the answer and the enabled grade buttons reach the page as separate widget messages: wait for both
    page.wait_for_function(
        "(before) => { const b = document.querySelector('.rabbitsim-drill'); if (!b) return false;"
        " const missed = [...b.querySelectorAll('button')].find((e) => e.innerText.trim() === 'I missed it');"
        " return b.innerText.length > before.length + 100 && missed && !missed.disabled; }",
        arg=before,
        timeout=15_000,
    )
    revealed = page.evaluate(DRILL_JS)
    assert revealed["buttons"].get("Reveal answer") is False, revealed
    box.locator("button", has_text="I missed it").click()
    page.wait_for_function(
        "() => (document.querySelector('.rabbitsim-drill') || {}).innerText.includes('come back first')",
        timeout=15_000,
    )
    graded = page.evaluate(DRILL_JS)
    box.evaluate("(drill) => drill.closest('.jp-Cell').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    return {"revealed": revealed["text"], "graded": graded["text"]}
