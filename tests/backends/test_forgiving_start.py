"""A learner re-runs cells: starting a broker again replaces the one started before (its port,
threads and process go, and a line says so), a closed handle says it is closed instead of failing
somewhere inside pika, and a container that cannot start says why and what to do instead."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import rabbitsim
from rabbitsim.backends import BackendUnavailable, BrokerClosed, BrokerHandle, ProcessBroker
from rabbitsim.backends._container import _docker_problem, prepare_image
from tests.real_brokers import require_container_image, require_real_broker

REPLACED = "rabbitsim: closed the broker started before ({}); this cell's broker replaces it\n"


def refuses(port: int) -> bool:
    """Nothing listens on `port` of 127.0.0.1 any more."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def broker_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())


def management_port(handle: BrokerHandle) -> int:
    assert handle.management_url is not None
    port = handle.management_url.rsplit(":", 1)[1].strip("/")
    return int(port)


# --- 1. starting again replaces ------------------------------------------------------------------


def test_starting_again_closes_the_child_process_broker_before(capsys: pytest.CaptureFixture[str]) -> None:
    before = broker_threads()
    first = rabbitsim.start("sim", replace=True)
    assert isinstance(first, ProcessBroker)
    pid, port, admin, url = first.process.pid, first.port, management_port(first), first.url
    second = rabbitsim.start("sim", replace=True)
    try:
        printed = capsys.readouterr().out
        assert printed == REPLACED.format(url.replace("guest:guest@", "guest@"))
        assert not alive(pid), "the replaced broker's process is gone"
        assert refuses(port) and refuses(admin), "and so are its ports"
        assert second.topology().queues == ()  # (it waits for the new broker's boot)
        assert broker_threads() == sorted([*before, "rabbitsim-broker-pipe"]), (
            "one reader thread: the new one's"
        )
    finally:
        second.close()
    assert broker_threads() == before


def test_starting_again_closes_the_in_process_broker_before(capsys: pytest.CaptureFixture[str]) -> None:
    before = broker_threads()
    existing = set(threading.enumerate())
    first = rabbitsim.start("sim", in_process=True, replace=True)
    its_threads = set(threading.enumerate()) - existing
    assert its_threads, "the in-process broker serves from threads of its own"
    port = first.port
    second = rabbitsim.start("sim", in_process=True, replace=True)
    try:
        assert "closed the broker started before" in capsys.readouterr().out
        assert refuses(port)
        assert not [thread.name for thread in its_threads if thread.is_alive()], "its threads are gone"
    finally:
        second.close()
    assert broker_threads() == before


def test_the_replaced_handle_says_who_closed_it() -> None:
    first = rabbitsim.start("sim", in_process=True, replace=True)
    rabbitsim.start("sim", in_process=True, replace=True).close()
    with pytest.raises(BrokerClosed, match=r"by a later rabbitsim.start\(\), which replaced it"):
        first.topology()


def test_a_broker_in_an_active_with_block_is_not_replaced(capsys: pytest.CaptureFixture[str]) -> None:
    with rabbitsim.start("sim", in_process=True, replace=True) as outer:
        inner = rabbitsim.start("sim", in_process=True, replace=True)
        try:
            assert outer.topology().queues == (), "the outer broker still serves"
            assert capsys.readouterr().out == ""
        finally:
            inner.close()
    with pytest.raises(BrokerClosed, match="by the end of its with block"):
        outer.topology()


def test_replace_false_keeps_the_broker_before() -> None:
    first = rabbitsim.start("sim", in_process=True, replace=True)
    second = rabbitsim.start("sim", in_process=True, replace=False)
    try:
        assert first.topology().queues == () and second.topology().queues == ()
    finally:
        first.close()
        second.close()


def test_a_url_handle_is_let_go_and_its_broker_keeps_running(capsys: pytest.CaptureFixture[str]) -> None:
    url = require_real_broker("4.3")
    first = rabbitsim.start("url", url=url, replace=True)
    second = rabbitsim.start("url", url=url, replace=True)
    try:
        printed = capsys.readouterr().out
        assert (
            printed.startswith("rabbitsim: let go of the broker reached before (")
            and "keeps running" in printed
        )
        assert ":guest@" not in printed, "no password on screen"
        with pytest.raises(BrokerClosed):
            first.topology()
        assert second.topology() is not None
    finally:
        second.close()


#: A notebook kernel, as far as `start` can tell: an IPython shell running the cells.
NOTEBOOK = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = ["import rabbitsim", "broker = rabbitsim.start()", "first = (broker.process.pid, broker.port)",
         "broker = rabbitsim.start()", "second = (broker.process.pid, broker.port)"]
for cell in cells:
    assert shell.run_cell(cell).success, cell
print(json.dumps([shell.user_ns["first"], shell.user_ns["second"]]), flush=True)
sys.stdin.readline()  # the test looks from outside, then lets the kernel end
shell.run_cell("broker.close()")
"""

#: A program that wants two brokers at once: it is not re-run, nothing is replaced.
PROGRAM = """
import json, sys, rabbitsim
first = rabbitsim.start()
second = rabbitsim.start()
print(json.dumps([[first.process.pid, first.port], [second.process.pid, second.port]]), flush=True)
sys.stdin.readline()
first.close()
second.close()
"""


def run_and_look(code: str) -> tuple[list[list[int]], str]:
    """Run `code` in a fresh interpreter; the [pid, port] pairs it prints, and what it printed
    before them, while it still runs."""
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RABBITSIM_BACKEND": "sim", "RABBITSIM_IN_PROCESS": "0"},
    )
    assert child.stdout is not None and child.stdin is not None
    _running.append(child)  # it waits for a line on stdin to end: after the test has looked
    lines = []
    while not (line := child.stdout.readline()).startswith("[["):
        assert line, "the interpreter ended early"
        lines.append(line)
    return json.loads(line), "".join(lines)


_running: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def end_the_interpreters() -> Any:
    yield
    while _running:
        child = _running.pop()
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.close()
        assert child.wait(30) == 0


def test_in_a_notebook_kernel_running_the_first_cell_again_replaces_the_broker() -> None:
    [[first_pid, first_port], [second_pid, second_port]], printed = run_and_look(NOTEBOOK)
    assert printed.startswith("rabbitsim: closed the broker started before (amqp://guest@127.0.0.1:")
    assert not alive(first_pid) and refuses(first_port), "measured from outside the kernel"
    assert alive(second_pid) and not refuses(second_port)


def test_a_program_keeps_both_brokers_it_started() -> None:
    [[first_pid, first_port], [second_pid, second_port]], printed = run_and_look(PROGRAM)
    assert printed == ""
    assert alive(first_pid) and not refuses(first_port)
    assert alive(second_pid) and not refuses(second_port)


# --- 2. a closed broker says so ------------------------------------------------------------------

USES: dict[str, Callable[[BrokerHandle], object]] = {
    "parameters": lambda b: b.parameters,
    "url": lambda b: b.url,
    "host": lambda b: b.host,
    "topology()": lambda b: b.topology(),
    "trace()": lambda b: b.trace(),
    "events()": lambda b: b.events(),
    "ctl(...)": lambda b: b.ctl("list_queues"),
    "alarms()": lambda b: b.alarms(),
}


@pytest.mark.parametrize("how", ["own-process", "in-process", "url"])
def test_a_closed_broker_says_so_and_closing_twice_is_harmless(how: str) -> None:
    if how == "url":
        broker = rabbitsim.start("url", url=require_real_broker("4.3"), replace=False)
    else:
        broker = rabbitsim.start("sim", in_process=how == "in-process", replace=False)
    broker.close()
    broker.close()
    for use, call in USES.items():
        with pytest.raises(BrokerClosed) as closed:
            call(broker)
        assert str(closed.value) == (
            "this broker is closed (by broker.close()); run the chapter's first cell again to start a new one"
        ), use
    assert isinstance(closed.value, RuntimeError)
    assert str(pickle.loads(pickle.dumps(closed.value))) == str(closed.value), "the same after the pipe"
    assert rabbitsim.BrokerClosed is BrokerClosed
    assert "closed" in repr(broker)


def test_a_simulator_whose_process_died_says_so() -> None:
    broker = rabbitsim.start("sim", replace=False)
    assert isinstance(broker, ProcessBroker)
    try:
        broker.topology()  # serving
        broker.process.kill()
        broker.process.wait(10)
        with pytest.raises(BrokerClosed, match="by its process, which ended by itself with exit code -9"):
            broker.topology()
    finally:
        broker.close()


def test_ctl_stop_closes_the_simulator_and_says_so_afterwards() -> None:
    broker = rabbitsim.start("sim", replace=False)
    broker.ctl("stop")
    with pytest.raises(BrokerClosed, match=r'by ctl\("stop"\)'):
        broker.topology()


# --- 3. a container that cannot start says why ---------------------------------------------------


def test_an_image_that_cannot_be_pulled_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine here: {problem}")
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as unavailable:
        rabbitsim.start("container", image="rabbitsim/no-such-image:0", replace=False)
    assert time.monotonic() - started < 60
    message = str(unavailable.value)
    assert message.startswith("the image rabbitsim/no-such-image:0 could not be pulled (")
    assert "RABBITSIM_IMAGE" in message and "RABBITSIM_URL" in message and "rabbitsim.start('sim')" in message
    assert "\n" not in message and len(message) < 600
    printed = capsys.readouterr().out
    assert printed.startswith("rabbitsim: pulling rabbitsim/no-such-image:0")
    assert printed.count("\n") == 1, "one line of progress"


def test_a_local_image_is_not_pulled_and_the_wait_is_announced(capsys: pytest.CaptureFixture[str]) -> None:
    """The line a learner sees before the container's 10-20 s (no container is started here)."""
    image = require_container_image()
    prepare_image(image)
    assert (
        capsys.readouterr().out
        == f"rabbitsim: starting a RabbitMQ container from {image} (usually 10-20 s)...\n"
    )


# --- 4. objects of a closed broker say whose they are --------------------------------------------

#: A kernel whose broker is closed while a connection and a channel made with it live on.
STALE = """
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = [
    "import pika, rabbitsim",
    "broker = rabbitsim.start()",
    "connection = pika.BlockingConnection(broker.parameters)\\nchannel = connection.channel()",
    # an error from a broker that is open: pika's words only
    "pika.BlockingConnection(pika.URLParameters(broker.url.replace('%2F', 'nowhere')))",
    "print('--- closing')\\nbroker.close()",
    "channel.basic_publish('', 'hello', b'lost')",
    "channel.queue_declare('hello')",
    "print('--- first cell again')\\nbroker = rabbitsim.start()",
    "connection.channel()",
]
for cell in cells:
    shell.run_cell(cell)
"""


def test_a_connection_of_a_closed_broker_says_whose_it_is() -> None:
    """Issue 16: after the closing cell (or the first cell run again), pika's StreamLostError or
    "Channel is closed." is followed by one line that names the closed broker and what to run."""
    ran = subprocess.run(
        [sys.executable, "-c", STALE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RABBITSIM_BACKEND": "sim", "RABBITSIM_IN_PROCESS": "0"},
    )
    printed = ran.stdout
    open_part, closed_part = printed.split("--- closing")
    assert "530" in open_part, printed
    assert "rabbitsim: the broker" not in open_part, "an open broker's errors stay pika's"
    hint = "was closed (by broker.close()), and this connection or channel belonged to it"
    before_restart, after_restart = closed_part.split("--- first cell again")
    assert "StreamLostError" in before_restart and "ChannelWrongStateError" in before_restart
    assert before_restart.count(hint) == 2, printed
    assert after_restart.count(hint) == 1, "still said once a new broker runs"
    assert "Run the chapter's first cell again" in after_restart
