"""The project's own promises: the README's commands, lint and types. (The notebooks' runs are
in tests/notebooks/.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rabbitsim import _course_files

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
    assert (_course_files.notebooks_dir() / _course_files.FIRST_CHAPTER).is_file()


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


def test_binder_builds_the_course_with_a_supported_python() -> None:
    """repo2docker reads binder/: runtime.txt picks its Python environment (which must satisfy
    requires-python), and postBuild, which it runs as an executable, installs rabbitsim."""
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    minimum = re.search(r'requires-python = ">=3\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert minimum and int(runtime.split(".")[1]) >= int(minimum.group(1))
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-cache-dir -e ." in post_build.read_text()
