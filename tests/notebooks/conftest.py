"""The chapters' tests: which backends a chapter runs on, and a closing summary of how long each
chapter took on each, so every CI log carries the figure issue 6 asks for (the whole course on
the simulator within 90 s; benchmarks/notebooks.py measures it on its own)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.real_brokers import require_container_image, require_real_broker

from .chapters import COURSE_BUDGET_SECONDS, Run, kernel_env

#: where a chapter runs: the simulator, the real RabbitMQ 3.10, 4.0 and 4.3 that CI starts, and a
#: RabbitMQ 4.3 container that each chapter's first cell starts through testcontainers, as a
#: learner with Docker runs the course
BACKENDS = ("sim", "url-3.10", "url-4.0", "url-4.3", "container")

TIMINGS = pytest.StashKey[dict[tuple[str, str], float]]()


def backend_env(backend: str) -> dict[str, str]:
    """The kernel's environment for `backend`: the real broker started if need be, the container
    image built if need be, or a loud failure."""
    if backend == "sim":
        return kernel_env(None)
    if backend == "container":
        return kernel_env(None, image=require_container_image())
    return kernel_env(require_real_broker(backend.removeprefix("url-")))


@pytest.fixture
def record_timing(request: pytest.FixtureRequest) -> Callable[[str, Run], None]:
    timings = request.config.stash.setdefault(TIMINGS, {})

    def record(backend: str, run: Run) -> None:
        edition = run.path.parent.name  # notebooks/zh/...: the Chinese edition
        name = run.path.name if edition == "notebooks" else f"{edition}/{run.path.name}"
        timings[(name, backend)] = run.seconds

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS, {})
    if not timings:
        return
    backends = [backend for backend in BACKENDS if any(key[1] == backend for key in timings)]
    names = sorted({name for name, _ in timings})
    terminalreporter.section("notebooks: seconds per chapter (kernel start to shutdown)")
    terminalreporter.write_line(f"{'':<28}" + "".join(f"{backend:>10}" for backend in backends))
    for name in names:
        cells = (timings.get((name, backend)) for backend in backends)
        terminalreporter.write_line(
            f"{name:<28}" + "".join(f"{'-' if s is None else f'{s:.1f}':>10}" for s in cells)
        )
    for label, chosen in (
        ("all chapters", lambda n: "/" not in n),
        ("all Chinese chapters", lambda n: "/" in n),
    ):
        totals = [
            sum(s for (n, b), s in timings.items() if b == backend and chosen(n)) for backend in backends
        ]
        if any(totals):
            terminalreporter.write_line(f"{label:<28}" + "".join(f"{total:>10.1f}" for total in totals))
        if label == "all chapters" and "sim" in backends and totals[0]:
            terminalreporter.write_line(
                f"the course on the simulator: {totals[0]:.1f} s (budget {COURSE_BUDGET_SECONDS:.0f} s; "
                "benchmarks/notebooks.py measures it alone)"
            )
