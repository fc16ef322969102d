"""The project's own promises: the README's commands, lint and types, the notebooks run."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from rabbitsim import cli

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(command for command in readme_commands() if "pytest" in command)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, "the CI script must run the test command exactly as the README gives it"


def test_readme_course_command_opens_chapter_zero_in_the_venv() -> None:
    course = next(command for command in readme_commands() if "course" in command)
    assert course.startswith("python3 -m venv .venv") and course.endswith(".venv/bin/rabbitsim course")
    assert (cli.NOTEBOOKS / cli.FIRST_CHAPTER).is_file()


def test_course_command_starts_jupyterlab_on_chapter_zero(tmp_path: Path) -> None:
    """Start it for real, headless, and ask the server for the chapter."""
    port = _free_port()
    process = subprocess.Popen(
        [
            str(BIN / "rabbitsim"),
            "course",
            "--no-browser",
            f"--port={port}",
            "--IdentityProvider.token=t",
            f"--ServerApp.runtime_dir={tmp_path}",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{cli.FIRST_CHAPTER}?token=t&content=0"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    assert json.load(answer)["name"] == cli.FIRST_CHAPTER
                    break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "JupyterLab did not come up within 60 s"
                time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(20)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "tool",
    [
        ["ruff", "check", "rabbitsim", "tests", "benchmarks", "notebooks"],
        ["ruff", "format", "--check", "rabbitsim", "tests", "benchmarks"],
        ["mypy", "rabbitsim"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_code_is_clean(tool: list[str]) -> None:
    executable = shutil.which(tool[0], path=str(BIN)) or shutil.which(tool[0])
    assert executable, f"{tool[0]} is not installed (it is in the test extra)"
    result = subprocess.run([executable, *tool[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom_and_is_committed_clean(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "notebooks are committed without outputs"
    )
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
