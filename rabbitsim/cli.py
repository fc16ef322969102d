"""Command line: `rabbitsim course` opens the course in JupyterLab; `rabbitsim server` runs a
simulated RabbitMQ in the foreground, on localhost:5672 by default, so unmodified tutorial
scripts can connect to it; `rabbitsim ctl` is rabbitmqctl (its commands, output and exit codes)
through the management HTTP API of the simulator or of any RabbitMQ."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from rabbitsim.backends import BackendUnavailable, Ctl, EmbeddedBroker, ManagementClient
from rabbitsim.broker import DEFAULT_PROFILE, PROFILES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FIRST_CHAPTER = "00_start_here.ipynb"
CTL_DEFAULT_URL = "http://guest:guest@127.0.0.1:15672/"


def serve(options: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then stop as RabbitMQ does (clients told, state stored);
    after a SIGKILL, the next start on the same `--data-dir` recovers what was committed."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        broker = EmbeddedBroker(
            options.host,
            options.port,
            profile=options.profile,
            data_dir=options.data_dir,
            # on the command line 0 means no management API (the handle's 0 is "any free port")
            management_port=-1 if options.management_port == 0 else options.management_port,
        )
    except (BackendUnavailable, OSError) as error:
        print(f"rabbitsim server: {error}", file=sys.stderr)
        return 1
    where = f"data in {broker.data_dir}" if options.data_dir else "data in a temporary directory"
    print(
        f"rabbitsim {options.profile} broker listening on {broker.url}, {where} (Ctrl-C to stop)", flush=True
    )
    if broker.management_url is not None:
        print(f"management API and dashboard on {broker.management_url}", flush=True)
    stop.wait()
    broker.close(clean=True)
    print("rabbitsim broker stopped", flush=True)
    return 0


def course(options: argparse.Namespace, jupyter_arguments: list[str]) -> int:
    """Replace this process with JupyterLab, opened on chapter 0 of the course."""
    if not (NOTEBOOKS / FIRST_CHAPTER).is_file():
        print(
            f"the course notebooks are not next to this install ({NOTEBOOKS}); "
            "run this from a clone of the rabbitsim repository",
            file=sys.stderr,
        )
        return 1
    argv = [sys.executable, "-m", "jupyterlab", str(NOTEBOOKS / FIRST_CHAPTER), *jupyter_arguments]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines often run as root
    os.execv(sys.executable, argv)
    return 0  # not reached


def ctl(arguments: list[str]) -> int:
    """`rabbitsim ctl [--url URL] <rabbitmqctl command line>`: rabbitmqctl's commands and output,
    through the management HTTP API at `--url` (or RABBITSIM_MANAGEMENT_URL, or guest on
    localhost:15672); the exit code is rabbitmqctl's."""
    url = os.environ.get("RABBITSIM_MANAGEMENT_URL") or CTL_DEFAULT_URL
    rest: list[str] = []
    words = iter(arguments)
    for word in words:
        if word == "--url":
            url = next(words, url)
        elif word.startswith("--url="):
            url = word.partition("=")[2]
        else:
            rest.append(word)
    result = Ctl(ManagementClient(url)).run(rest)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.code


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["ctl"]:  # rabbitmqctl's own options (-p, -q, -s...) are not argparse's
        return ctl(arguments[1:])
    parser = argparse.ArgumentParser(prog="rabbitsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    control = commands.add_parser(
        "ctl", help="rabbitmqctl's commands through the management API", add_help=False, allow_abbrev=False
    )
    control.add_argument(
        "--url", help=f"the management API (default: RABBITSIM_MANAGEMENT_URL or {CTL_DEFAULT_URL})"
    )
    commands.add_parser("course", help="open the course in JupyterLab (other options go to JupyterLab)")
    server = commands.add_parser("server", help="run a simulated RabbitMQ until interrupted")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=5672)
    server.add_argument(
        "--profile", default=DEFAULT_PROFILE.name, choices=list(PROFILES), help="the RabbitMQ to imitate"
    )
    server.add_argument(
        "--management-port",
        type=int,
        default=None,
        help="serve the management HTTP API here (default: the AMQP port + 10000; 0: not at all)",
    )
    server.add_argument(
        "--data-dir",
        help="keep durable state here, across restarts (default: a temporary directory removed at exit)",
    )
    options, rest = parser.parse_known_args(arguments)
    if options.command == "ctl":
        return ctl(arguments[1:])
    if options.command == "course":
        return course(options, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return serve(options)


if __name__ == "__main__":
    raise SystemExit(main())
