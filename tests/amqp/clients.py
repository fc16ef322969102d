"""Shared by the tests that drive the server with clients other than pika (aio-pika, kombu,
rabbitmq-c's amqp-tools, node's amqplib): where the broker is, and whether a client is installed.

The broker is the embedded simulator unless RABBITSIM_CLIENT_TESTS_URL names another, e.g.
``RABBITSIM_CLIENT_TESTS_URL=amqp://guest:guest@127.0.0.1:5672/%2F``: that is how these tests are
checked against real RabbitMQ, so what they expect is RabbitMQ's behaviour, not the simulator's.
Names are unique per test, and tests clean up after themselves, so a shared broker stays tidy."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import rabbitsim

URL_VARIABLE = "RABBITSIM_CLIENT_TESTS_URL"

#: After this long the embedded broker is closed under the test, so a client still waiting fails
#: with a connection error rather than hanging. Each client call also has its own shorter timeout.
WATCHDOG_SECONDS = 15.0

#: Per-operation timeout for clients and subprocesses: everything here is local and takes
#: milliseconds, so a step that takes this long is stuck.
STEP_SECONDS = 5.0

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_HINT = "run .ci/clients.sh (as root on Debian) to install the AMQP clients these tests drive"


@dataclass(frozen=True, slots=True)
class Target:
    """A broker to test against: its URL and the parts of it that command-line tools want apart."""

    url: str
    host: str
    port: int
    vhost: str
    simulated: bool


def _target(url: str, *, simulated: bool) -> Target:
    parts = urlsplit(url)
    return Target(
        url=url,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5672,
        vhost=unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
        simulated=simulated,
    )


@contextlib.contextmanager
def broker_target() -> Iterator[Target]:
    """The broker for one test: the URL from RABBITSIM_CLIENT_TESTS_URL if set, else a fresh
    embedded simulator (with a watchdog) that is closed afterwards."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield _target(url, simulated=False)
        return
    handle = rabbitsim.start("sim")  # the simulator whatever RABBITSIM_BACKEND says
    watchdog = threading.Timer(WATCHDOG_SECONDS, handle.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield _target(handle.url, simulated=True)
    finally:
        watchdog.cancel()
        handle.close()


def unique(prefix: str) -> str:
    """A name no other test (or earlier run against a real broker) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_install_lock = threading.Lock()
_install_attempted = False


def _install_clients() -> None:
    """Run .ci/clients.sh once per test run when a client is missing and we are root, so the
    README's one test command sets everything up on a fresh machine."""
    global _install_attempted
    with _install_lock:
        if _install_attempted or os.geteuid() != 0:
            return
        _install_attempted = True
        script = ROOT / ".ci" / "clients.sh"
        subprocess.run(["bash", str(script)], capture_output=True, timeout=600, check=False)


def require_tool(name: str) -> str:
    """The path of executable `name`, or fail (not skip) the test saying how to install it:
    a missing client must not pass CI silently."""
    path = shutil.which(name)
    if path is None:
        _install_clients()
        path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name!r} is not installed: {INSTALL_HINT}", pytrace=False)
    return path


def require_node_modules() -> str:
    """The node executable, once tests/amqp/node has its dependencies installed; fail otherwise."""
    node = require_tool("node")
    installed = NODE_DIR / "node_modules" / "amqplib" / "package.json"
    if not installed.is_file():
        _install_clients()
    if not installed.is_file():
        pytest.fail(f"amqplib is not installed in {NODE_DIR}: {INSTALL_HINT}", pytrace=False)
    return node
