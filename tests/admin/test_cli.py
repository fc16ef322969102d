"""`rabbitsim server` serves the management API beside AMQP and says where."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from rabbitsim.backends import ManagementClient


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(*arguments: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the server; return it with the lines it printed up to its banner."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rabbitsim", "server", *arguments],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    if "--management-port" not in arguments or arguments[arguments.index("--management-port") + 1] != "0":
        lines.append(process.stdout.readline())
    return process, lines


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0


def test_server_prints_the_management_url_and_serves_it() -> None:
    port, management = free_port(), free_port()
    process, lines = serve("--port", str(port), "--management-port", str(management))
    try:
        url = f"http://guest:guest@127.0.0.1:{management}/"
        assert lines[1].strip() == f"management API and dashboard on {url}"
        assert ManagementClient(url).get("overview")["listeners"][0]["port"] == port
    finally:
        stop(process)


def test_management_port_zero_turns_it_off() -> None:
    process, lines = serve("--port", str(free_port()), "--management-port", "0")
    try:
        assert "listening on" in lines[0]
    finally:
        stop(process)
    assert process.stdout is not None
    assert "management" not in process.stdout.read()
