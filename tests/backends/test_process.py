"""The simulator in a process of its own (the default `rabbitsim.start()`): the same handle as
in-process, events and snapshots that cross the process boundary as data, and a broker that
never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest

import rabbitsim
from rabbitsim.backends import BackendUnavailable, BrokerClosed, EmbeddedBroker, ProcessBroker
from rabbitsim.trace import flow


def hello_world(broker: rabbitsim.backends.BrokerHandle) -> list[tuple[str, ...]]:
    connection = pika.BlockingConnection(broker.parameters)
    channel = connection.channel()
    channel.queue_declare("hello")
    with broker.trace() as trace:
        channel.basic_publish("", "hello", b"Hello World!")
        method, _properties, body = channel.basic_get("hello")
        assert body == b"Hello World!"
        channel.basic_ack(method.delivery_tag)
    connection.close()
    return [tuple(map(str, step)) for step in flow(trace)]


def test_the_default_simulator_runs_in_its_own_process() -> None:
    with rabbitsim.start() as broker:
        assert isinstance(broker, ProcessBroker)
        assert broker.process.pid != os.getpid() and broker.process.poll() is None
        connection = pika.BlockingConnection(broker.parameters)
        connection.channel().queue_declare("q", durable=True)
        connection.close()
        [queue] = [queue for queue in broker.topology().queues if queue.name == "q"]
        assert queue.durable
    assert broker.process.poll() is not None


def test_in_process_is_asked_for_by_option_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with rabbitsim.start("sim", in_process=True) as broker:
        assert isinstance(broker, EmbeddedBroker)
    monkeypatch.setenv("RABBITSIM_IN_PROCESS", "1")
    with rabbitsim.start() as broker:
        assert isinstance(broker, EmbeddedBroker)


def test_a_trace_from_the_child_is_the_trace_in_process() -> None:
    with rabbitsim.start("sim") as child, rabbitsim.start("sim", in_process=True) as local:
        assert hello_world(child) == hello_world(local)


def test_the_profile_reaches_the_child() -> None:
    """3.10 closes the connection for an unknown exchange type (503); 4.0 the channel (406)."""
    with rabbitsim.start("sim", profile="3.10") as broker:
        connection = pika.BlockingConnection(broker.parameters)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            connection.channel().exchange_declare("x", "no-such-type")
        assert closed.value.reply_code == 503


PARENT = """
import sys, time, rabbitsim
broker = rabbitsim.start()
print(broker.process.pid, broker.port, flush=True)
time.sleep(600)
"""


SCRIPT = """
import pika, rabbitsim
broker = rabbitsim.start()
connection = pika.BlockingConnection(broker.parameters)
connection.channel().queue_declare("hello")
connection.close()
broker.close()
print("done")
"""


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_a_plain_script_starts_it(tmp_path: Path, how: str) -> None:
    """A learner's script has no `if __name__ == "__main__":` guard, and may come through a pipe:
    starting the broker's process must not run the script again."""
    script = tmp_path / "send.py"
    script.write_text(SCRIPT)
    command = [sys.executable, str(script)] if how == "file" else [sys.executable, "-"]
    done = subprocess.run(
        command,
        input=None if how == "file" else SCRIPT,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done"]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_broker_dies_with_the_process_that_started_it() -> None:
    """A kernel restart kills the kernel without ceremony: its broker must not be left behind."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid, port = map(int, parent.stdout.readline().split())
        assert port_open(port)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and port_open(port):
            time.sleep(0.05)
        assert not port_open(port), "the orphaned broker still serves"
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(child_pid, signal.SIGKILL)
            pytest.fail("the broker's process outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_started_with_defaults_it_returns_while_the_child_boots_and_first_use_waits() -> None:
    """The notebook's first cell imports the course while the child imports the simulator."""
    handle = ProcessBroker()
    try:
        assert handle._booting, "returned before the child said it serves"
        assert handle.url.startswith("amqp://guest:guest@127.0.0.1:")  # waits, then answers
        assert not handle._booting and handle.management_url is not None
        assert handle.topology().queues == ()
    finally:
        handle.close()


def test_given_a_data_dir_it_waits_so_a_bad_one_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "unrelated.txt").write_text("mine")
    with pytest.raises(BackendUnavailable, match="not empty"):
        ProcessBroker(data_dir=tmp_path)


def test_a_child_that_cannot_start_says_so_on_every_use() -> None:
    handle = ProcessBroker()
    handle.process.kill()  # as if it died while booting (it takes about 0.4 s to serve)
    for _ in range(2):
        with pytest.raises((BackendUnavailable, BrokerClosed), match=r"ended as it started|ended by itself"):
            handle.topology()
    handle.close()  # harmless
    assert handle.closed
