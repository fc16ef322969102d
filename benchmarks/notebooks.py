"""How long the course takes to run: every chapter in notebooks/, top to bottom, each in a fresh
kernel as JupyterLab would start it (the same runner as tests/notebooks), on the simulator.

    .venv/bin/python benchmarks/notebooks.py [--url amqp://guest:guest@127.0.0.1:5672/%2F] [--repeat 1]

Budget (issue 15): all chapters together execute in at most 90 s on the simulator on this
project's 2-core machine. Reported per chapter: the wall time from kernel start to kernel
shutdown, the part of it spent in cells, and the slowest cells; then the total. With --url the
same chapters also run against that real broker (RABBITSIM_BACKEND=url), for comparison.
Exits 1 when a chapter fails or the simulator's total is over budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the runner lives beside the tests that use it

from tests.notebooks.chapters import (  # noqa: E402
    COURSE_BUDGET_SECONDS,
    Run,
    chapters,
    execute,
    kernel_env,
)


def run_all(url: str | None, repeat: int) -> tuple[list[Run], float]:
    """Every chapter `repeat` times; the runs of the last round, and the median total."""
    totals, runs = [], []
    for _ in range(repeat):
        runs = [execute(path, kernel_env(url)) for path in chapters()]
        totals.append(sum(run.seconds for run in runs))
    return runs, statistics.median(totals)


def report(label: str, runs: list[Run], total: float) -> bool:
    print(f"\n{label}")
    for run in runs:
        in_cells = sum(run.cell_seconds.values())
        status = "ok" if run.ok else "FAILED"
        timing = f"{run.seconds:7.1f} s  (cells {in_cells:5.1f} s)"
        print(f"  {run.path.name:<30}{timing}  {status:<6}  {run.slowest()}")
        for problem in run.problems:
            print("    " + problem.replace("\n", "\n    "))
    print(f"  {'all chapters':<30}{total:7.1f} s")
    return all(run.ok for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="also run the chapters against this real RabbitMQ")
    parser.add_argument("--repeat", type=int, default=1, help="rounds on the simulator (median total)")
    options = parser.parse_args()
    if not chapters():
        sys.exit("no notebooks in notebooks/")

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {len(chapters())} chapters")
    runs, total = run_all(None, options.repeat)
    ok = report("simulator (RABBITSIM_BACKEND=sim)", runs, total)
    within = total <= COURSE_BUDGET_SECONDS
    print(f"  budget {COURSE_BUDGET_SECONDS:.0f} s: {'within budget' if within else 'OVER BUDGET'}")
    if options.url:
        real_runs, real_total = run_all(options.url, 1)
        ok = report(f"real RabbitMQ (RABBITSIM_BACKEND=url, {options.url})", real_runs, real_total) and ok
    sys.exit(0 if ok and within else 1)


if __name__ == "__main__":
    main()
