"""The work queues tutorial's worker, as a real process: `python -m rabbitsim.course.worker URL
QUEUE`. It takes one task at a time (prefetch 1), "works" one step per dot in the body, and
acks when done; it prints `received <body>` and `done <body>` so the notebook can follow it.
Chapter 2 kills one with SIGKILL mid-task to show its unacked task going to another worker.

When it cannot start it prints one line, `error <why>` (the broker's reply), for the notebook
to show, in the notebook's language (--language). With --leave-with-stdin it leaves when its
stdin closes: the notebook that started it has gone (not by default: a worker run by hand in a
terminal's background must not read it)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from typing import Any

import pika

from rabbitsim._language import LANGUAGES, language

from ._client import connect, startup_reason

__all__ = ["main"]


def _leave_when_stdin_closes(connection: pika.BlockingConnection, channel: Any) -> None:
    """Stop consuming once stdin reaches its end: the kernel holding the other end has gone
    (a restart kills the kernel's process group, and this worker is not in it)."""

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.readline():
                pass
        with contextlib.suppress(Exception):  # the connection may be gone already
            connection.add_callback_threadsafe(channel.stop_consuming)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--seconds-per-dot", type=float, default=0.2)
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--name", default="worker")
    parser.add_argument(
        "--leave-with-stdin",
        action="store_true",
        help="stop when stdin closes (the notebook that started it has gone)",
    )
    parser.add_argument(
        "--language", choices=LANGUAGES, default="en", help="the language its startup error is said in"
    )
    options = parser.parse_args(argv)
    language(options.language)

    def work(ch: Any, method: Any, _properties: Any, body: bytes) -> None:
        text = body.decode(errors="replace")
        print(f"received {text}", flush=True)
        time.sleep(text.count(".") * options.seconds_per_dot)
        print(f"done {text}", flush=True)
        ch.basic_ack(method.delivery_tag)

    try:
        connection = connect(options.url, options.name)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=options.prefetch)
        channel.basic_consume(options.queue, work)
    except (pika.exceptions.AMQPError, OSError) as error:
        reason = startup_reason(error, options.url)
        print(f"error {reason}", flush=True)
        return 1
    if options.leave_with_stdin:
        _leave_when_stdin_closes(connection, channel)
    print("ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        channel.start_consuming()
    with contextlib.suppress(pika.exceptions.AMQPError):
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
