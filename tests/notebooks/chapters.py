"""Running the course's chapters as a learner's JupyterLab runs them, but headless: one fresh
kernel per notebook, started in `notebooks/` (where JupyterLab starts it), with the backend
chosen the way a learner chooses it, through the kernel's environment (RABBITSIM_BACKEND and
RABBITSIM_URL). Shared by tests/notebooks/test_execute.py and benchmarks/notebooks.py."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

#: issue 15: every chapter together, on the simulator, on this project's 2-core machine
COURSE_BUDGET_SECONDS = 90.0
#: one cell may wait this long before the run fails (real brokers' statistics lag ~0.5 s)
CELL_TIMEOUT_SECONDS = 120

#: what the kernel's environment may hold that would choose another broker than asked for
BACKEND_VARIABLES = ("RABBITSIM_BACKEND", "RABBITSIM_URL", "RABBITSIM_MANAGEMENT_URL", "RABBITSIM_IMAGE")

#: testcontainers here: no registry to pull its Ryuk reaper from, and mapped ports reached
#: through the Docker host (a learner's Docker needs neither)
CONTAINER_VARIABLES = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
}

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STDERR_TRACEBACK = "Traceback (most recent call last)"


def chapters() -> list[Path]:
    """The course's notebooks, in chapter order."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def zh_chapters() -> list[Path]:
    """The Chinese edition's notebooks, in chapter order (built by `rabbitsim editions build zh`)."""
    return sorted((NOTEBOOKS / "zh").glob("*.ipynb"))


def kernel_env(url: str | None, *, image: str | None = None) -> dict[str, str]:
    """The environment of a kernel on the simulator (`url` None), on the real broker at `url`,
    or (`image`) on a RabbitMQ container each chapter starts through testcontainers."""
    env = {name: value for name, value in os.environ.items() if name not in BACKEND_VARIABLES}
    if image is not None:
        env |= {"RABBITSIM_BACKEND": "container", "RABBITSIM_IMAGE": image, **CONTAINER_VARIABLES}
    elif url is None:
        env["RABBITSIM_BACKEND"] = "sim"
    else:
        env["RABBITSIM_BACKEND"] = "url"
        env["RABBITSIM_URL"] = url
    return env


@dataclass
class Run:
    """One notebook executed top to bottom (or as far as it got)."""

    path: Path
    notebook: Any  # nbformat.NotebookNode, outputs filled in
    seconds: float = 0.0  # kernel start to kernel shutdown
    cell_seconds: dict[int, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def outputs(self) -> list[str]:
        """Every text the run showed: printed streams, and the plain-text form of results and displays."""
        texts = []
        for cell in self.notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    texts.append(output.get("text", ""))
                elif "data" in output and "text/plain" in output["data"]:
                    texts.append(output["data"]["text/plain"])
        return texts

    def slowest(self, n: int = 3) -> str:
        ranked = sorted(self.cell_seconds.items(), key=lambda item: -item[1])[:n]
        return ", ".join(f"cell {index} {seconds:.1f} s" for index, seconds in ranked)


def committed_outputs(path: Path) -> list[int]:
    """Indexes of the code cells that were saved with outputs or an execution count."""
    notebook = nbformat.read(path, as_version=4)
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def execute(path: Path, env: dict[str, str], *, cell_timeout: int = CELL_TIMEOUT_SECONDS) -> Run:
    """Run `path` in a fresh python3 kernel whose environment is `env`. Never raises for what the
    notebook does: every error, timeout, dead kernel or traceback printed on stderr (a thread
    that died beside the notebook) is described in `Run.problems`, with the cell's source."""
    run = Run(path, nbformat.read(path, as_version=4))
    started: dict[int, float] = {}
    current = [-1]

    def on_start(cell: Any, cell_index: int) -> None:
        current[0] = cell_index
        started[cell_index] = time.perf_counter()

    def on_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        run.cell_seconds[cell_index] = time.perf_counter() - started[cell_index]

    client = NotebookClient(
        run.notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        force_raise_errors=True,  # a cell tagged raises-exception is an error too
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
    )
    begin = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError:
        pass  # the error output is in the cell; described below with every other one
    except (CellTimeoutError, DeadKernelError, TimeoutError, RuntimeError) as error:
        run.problems.append(describe(run.notebook, current[0], f"{type(error).__name__}: {error}"))
    finally:
        run.seconds = time.perf_counter() - begin
    for index, cell in enumerate(run.notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                run.problems.append(describe(run.notebook, index, "\n".join(output.traceback)))
            elif output.output_type == "stream" and STDERR_TRACEBACK in output.text:
                run.problems.append(describe(run.notebook, index, f"on stderr:\n{output.text}"))
    return run


def describe(notebook: Any, index: int, what: str) -> str:
    """A failure as a reader needs it: which cell, its source, and the traceback, plain text."""
    source = notebook.cells[index].source if 0 <= index < len(notebook.cells) else "(no cell)"
    return f"cell {index}:\n{_indent(source)}\n  raised:\n{_indent(ANSI.sub('', what))}"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())
