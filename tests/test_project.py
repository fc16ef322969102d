"""The project's own promises: the README's commands, lint and types, the notebooks run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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
    course = next(command for command in readme_commands() if "jupyter lab" in command)
    assert course.startswith("python3 -m venv .venv")
    notebook = course.split()[-1]
    assert (ROOT / notebook).is_file(), f"{notebook} is missing"


@pytest.mark.parametrize(
    "tool",
    [
        ["ruff", "check", "rabbitsim", "tests", "benchmarks"],
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
