"""Is this checkout slower than an earlier commit? Both run `core.py` and `wire.py`, in one run,
taking turns (ABBA...), each from its own tree; the table gives medians and new/old ratios.

    .venv/bin/python benchmarks/versus.py BASE [--rounds 4] [--messages 50000] [--url amqp://...]

BASE is any git revision; it is checked out in a temporary worktree, removed afterwards. With
`--url`, wire.py also measures that real RabbitMQ, so each side's figures can be read against it.
Ratios are new / old for rates (above 1: the new tree is faster) and old / new for times.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^([a-z+]+)\s+([\d,]+)\s+([\d.,\s]+)$")  # a workload's line: name, count, figures


def run(tree: Path, script: str, *arguments: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(tree / "benchmarks" / script), *arguments]
    return subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=True).stdout


def core_figures(output: str) -> dict[str, float]:
    """us per message (best of the run) per workload."""
    figures = {}
    for line in output.splitlines():
        match = ROW.match(line)
        if match and match.group(1) != "workload":
            figures[f"core {match.group(1)} (us/msg)"] = float(match.group(3).split()[1])
    return figures


def wire_figures(output: str) -> dict[str, float]:
    """msg/s per workload, for the simulator in its own process and embedded (and the real one)."""
    figures = {}
    for line in output.splitlines():
        match = ROW.match(line)
        if match and match.group(1) != "workload":
            rates = [float(value.replace(",", "")) for value in match.group(3).split()[:3]]
            name = match.group(1)
            figures[f"wire {name} process (msg/s)"] = rates[0]
            figures[f"wire {name} embedded (msg/s)"] = rates[1]
            if len(rates) > 2:
                figures[f"wire {name} real (msg/s)"] = rates[2]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="the earlier revision")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--messages", type=int, default=50_000, help="core.py's count; wire.py takes a fifth")
    parser.add_argument("--url", help="a real RabbitMQ for wire.py to measure as well")
    parser.add_argument("--core-only", action="store_true", help="skip wire.py (the noisier, slower half)")
    options = parser.parse_args()
    samples: dict[str, dict[str, list[float]]] = {"old": defaultdict(list), "new": defaultdict(list)}
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "old"
        subprocess.run(
            ["git", "-C", str(HERE), "worktree", "add", "--detach", str(old), options.base], check=True
        )
        try:
            for round_ in range(options.rounds):
                sides = [("old", old), ("new", HERE)]
                for side, tree in sides if round_ % 2 == 0 else sides[::-1]:
                    core = run(tree, "core.py", "--messages", str(options.messages), "--repeat", "1")
                    wire = ""
                    if not options.core_only:
                        wire_arguments = ["--messages", str(options.messages // 5)]
                        if options.url:
                            wire_arguments += ["--url", options.url]
                        wire = run(tree, "wire.py", *wire_arguments)
                    for name, value in {**core_figures(core), **wire_figures(wire)}.items():
                        samples[side][name].append(value)
                print(f"round {round_ + 1} of {options.rounds} done", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)], check=True)
    columns = ("old median", "new median", "ratio", "old best", "new best", "ratio")
    print(f"{'measure':<34}" + "".join(f"{column:>{8 if column == 'ratio' else 12}}" for column in columns))
    for name, values in samples["new"].items():
        old_values = samples["old"][name]
        times = "us/msg" in name  # smaller is better; for rates, larger
        best = min if times else max
        line = f"{name:<34}"
        for before, after in (
            (statistics.median(old_values), statistics.median(values)),
            (best(old_values), best(values)),
        ):
            line += f"{before:>12,.2f}{after:>12,.2f}{(before / after if times else after / before):>7.2f}x"
        print(line)
    print("(ratio above 1: the new tree is faster; a shared machine only ever slows a run down, so the")
    print(" best of the rounds is the steadier figure, the median the more typical)")


if __name__ == "__main__":
    main()
