"""How long the pictures take, and how big they are: the 200-message fanout (3 exclusive queues,
3 consumers acking) recorded on the simulator, then rendered as the course renders it.

    .venv/bin/python benchmarks/viz.py [--messages 200] [--repeat 5] [--jshtml] [--out fanout.html]

Budget (issue 5): the HTML animation renders in at most 5 s on a 2-core machine and weighs
under 5 MB. Reported:
  record     running the scenario with pika while the handle's event source delivers (not rendering)
  cold       animate() + to_html() the first time in this process (fonts and caches load)
  warm       the same again, median of --repeat runs
  frames     the frame model alone (pure Python), median
  png frame  one frame drawn by matplotlib, as the ipywidgets player does, median
  jshtml     matplotlib's FuncAnimation.to_jshtml over every frame (with --jshtml), for comparison
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenarios live beside the tests that use them

BUDGET_SECONDS = 5.0
BUDGET_BYTES = 5_000_000


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jshtml", action="store_true", help="also time matplotlib's to_jshtml")
    parser.add_argument("--out", type=Path, help="write the HTML animation here")
    options = parser.parse_args()

    import_seconds, _ = timed(lambda: __import__("rabbitsim.viz"))
    from rabbitsim import viz
    from tests.viz.scenarios import run

    record_seconds, scenario = timed(lambda: run("fanout", messages=options.messages, ack=True))
    events, topology = scenario.events, scenario.topology  # type: ignore[attr-defined]

    def render() -> str:
        return viz.animate(events, topology=topology).to_html()

    cold, html = timed(render)
    warm = statistics.median(timed(render)[0] for _ in range(options.repeat))
    model = statistics.median(
        timed(lambda: viz.frames(events, topology=topology))[0] for _ in range(options.repeat)
    )
    animation = viz.animate(events, topology=topology)
    animation.frame_png(0)
    middle = len(animation) // 2
    png = statistics.median(timed(lambda: animation.frame_png(middle))[0] for _ in range(options.repeat))
    size = len(str(html).encode())
    film = animation.film

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"scenario: fanout, {options.messages} messages, {len(topology.queues)} queues, "
        f"{len(topology.consumers)} consumers, {len(events)} events"
    )
    print(
        f"film: {len(film)} frames, {film.frames_per_hop:g} per hop, {film.rate:.1f} actions started per hop"
    )
    print(f"{'import rabbitsim.viz':<22}{import_seconds:8.3f} s")
    print(f"{'record':<22}{record_seconds:8.3f} s")
    print(f"{'cold (animate+html)':<22}{cold:8.3f} s   budget {BUDGET_SECONDS:.0f} s")
    print(f"{'warm (median)':<22}{warm:8.3f} s")
    print(f"{'frames (median)':<22}{model:8.3f} s")
    print(f"{'png frame (median)':<22}{png:8.3f} s")
    print(f"{'html size':<22}{size / 1e6:8.3f} MB  budget {BUDGET_BYTES / 1e6:.0f} MB")
    if options.jshtml:
        seconds, jshtml = timed(animation.to_jshtml)
        print(f"{'jshtml (all frames)':<22}{seconds:8.3f} s   {len(str(jshtml).encode()) / 1e6:.3f} MB")
    if options.out:
        animation.save(options.out, title=f"fanout, {options.messages} messages")
        print(f"written: {options.out}")
    within = cold + import_seconds <= BUDGET_SECONDS and size <= BUDGET_BYTES
    print("within budget" if within else "OVER BUDGET")
    sys.exit(0 if within else 1)


if __name__ == "__main__":
    main()
