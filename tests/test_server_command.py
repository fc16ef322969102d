"""`rabbitsim server --data-dir DIR`: stops cleanly on SIGTERM (clients told, as by `rabbitmqctl
stop`), comes back from DIR after SIGKILL with everything confirmed, and refuses a directory
that is not a rabbitsim store, leaving it alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pika
import pika.exceptions as px
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rabbitsim", "server", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on" in line, line + (process.stderr.read() if process.stderr else "")
    return process


def connect(port: int) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def test_sigterm_stops_cleanly_and_sigkill_loses_nothing_confirmed(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, port)
    try:
        connection = connect(port)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("orders", durable=True)
        for n in range(100):
            channel.basic_publish("", "orders", f"{n}".encode(), pika.BasicProperties(delivery_mode=2))
        server.send_signal(signal.SIGTERM)
        with pytest.raises(px.ConnectionClosedByBroker) as closed:
            connection.process_data_events(5)
            connection.process_data_events(5)
        assert (closed.value.reply_code, closed.value.reply_text) == (
            320,
            "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        )
        assert server.wait(10) == 0
        server = start(tmp_path, port)
        channel = connect(port).channel()
        channel.confirm_delivery()
        assert channel.queue_declare("orders", passive=True).method.message_count == 100
        channel.basic_publish("", "orders", b"last", pika.BasicProperties(delivery_mode=2))
        os.kill(server.pid, signal.SIGKILL)  # confirmed just now: must survive the crash
        server.wait(10)
        server = start(tmp_path, port)
        channel = connect(port).channel()
        assert channel.queue_declare("orders", passive=True).method.message_count == 101
    finally:
        server.kill()
        server.wait(10)


def test_a_foreign_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "passwords.txt").write_text("secret")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rabbitsim",
            "server",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "not empty and holds no rabbitsim store" in done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["passwords.txt"]
