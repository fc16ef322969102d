"""The work queues tutorial's worker, as a real process: `python -m rabbitsim.course.worker URL
QUEUE`. It takes one task at a time (prefetch 1), "works" one step per dot in the body, and
acks when done; it prints `received <body>` and `done <body>` so the notebook can follow it.
Chapter 2 kills one with SIGKILL mid-task to show its unacked task going to another worker."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from ._client import connect

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--seconds-per-dot", type=float, default=0.2)
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--name", default="worker")
    options = parser.parse_args(argv)
    connection = connect(options.url, options.name)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=options.prefetch)

    def work(ch: Any, method: Any, _properties: Any, body: bytes) -> None:
        text = body.decode(errors="replace")
        print(f"received {text}", flush=True)
        time.sleep(text.count(".") * options.seconds_per_dot)
        print(f"done {text}", flush=True)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(options.queue, work)
    print("ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        channel.start_consuming()
    return 0


if __name__ == "__main__":
    sys.exit(main())
