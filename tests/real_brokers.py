"""The real RabbitMQ brokers the tests compare the simulator with, and how to get them.

RABBITSIM_REAL_BROKERS lists them as `version=url` pairs; by default the three that
`.ci/brokers/` starts on this kind of machine: Debian 12's 3.10 on 5672, Debian 13's 4.0 on
5673 and Debian sid's 4.3 (the current release) on 5674. A broker that does not answer is
started by its script when the tests run as root (so the README's one test command sets
everything up), and otherwise fails the test loudly: a run that quietly skipped the real side
would prove nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rabbitsim.backends import BrokerHandle

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BROKERS = (
    "3.10=amqp://guest:guest@127.0.0.1:5672/%2F,"
    "4.0=amqp://guest:guest@127.0.0.1:5673/%2F,"
    "4.3=amqp://guest:guest@127.0.0.1:5674/%2F"
)

#: version -> the script that starts that broker on this kind of machine (Debian, root)
START_SCRIPTS = {
    "3.10": ROOT / ".ci/brokers/host-rabbitmq.sh",
    "4.0": ROOT / ".ci/brokers/trixie-rabbitmq.sh",
    "4.3": ROOT / ".ci/brokers/sid-rabbitmq.sh",
}

_lock = threading.Lock()
_started: dict[str, str | None] = {}  # version -> None when ready, else why not


def real_brokers() -> dict[str, str]:
    """version -> AMQP URL of each real broker to compare with."""
    spec = os.environ.get("RABBITSIM_REAL_BROKERS", DEFAULT_BROKERS)
    pairs = (item.split("=", 1) for item in spec.split(",") if item.strip())
    return {version.strip(): url.strip() for version, url in pairs}


def _answers(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            return True
    except OSError:
        return False


def _start(version: str, url: str) -> str | None:
    """Start the broker for `version` if its script can; None once it answers, else why not."""
    script = START_SCRIPTS.get(version)
    if script is None:
        return f"no script starts a RabbitMQ {version} here; start one at {url} yourself"
    if os.geteuid() != 0:
        return f"run `sudo bash {script.relative_to(ROOT)}` to start it (it needs root)"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not _answers(url):
        return f"`bash {script.relative_to(ROOT)}` failed ({done.returncode}): {done.stderr[-2000:]}"
    return None


def start_if_needed(version: str, url: str) -> str | None:
    """Make the broker at `url` answer, starting it by its script (once per run) if it does
    not; None when it answers, else why it cannot."""
    if _answers(url):
        return None
    with _lock:
        if version not in _started:
            _started[version] = _start(version, url)
    return _started[version]


def require_real_broker(version: str) -> str:
    """The URL of the real broker for `version`, started if need be; fails the test otherwise."""
    brokers = real_brokers()
    if version not in brokers:
        pytest.fail(f"RABBITSIM_REAL_BROKERS names no RabbitMQ {version} ({brokers})")
    url = brokers[version]
    problem = start_if_needed(version, url)
    if problem is not None:
        pytest.fail(f"the real RabbitMQ {version} at {url} does not answer: {problem}")
    return url


@contextmanager
def broker_on(backend: str) -> Iterator[BrokerHandle]:
    """A broker handle on the simulator in a process of its own ("sim") or on the real RabbitMQ
    `backend` ("3.10", "4.0", "4.3"; started if need be, or a loud failure), closed afterwards."""
    import rabbitsim

    if backend == "sim":
        with rabbitsim.start("sim") as handle:
            yield handle
    else:
        with rabbitsim.start("url", url=require_real_broker(backend)) as handle:
            yield handle


# --- the container backend's engine and image ------------------------------------------------

LOCAL_IMAGE = "rabbitsim/rabbitmq:4.3-management"
IMAGE_SCRIPTS = (ROOT / ".ci/brokers/docker-engine.sh", ROOT / ".ci/brokers/container-image.sh")


def _image_ready(image: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def require_container_image() -> str:
    """The local RabbitMQ image for the container backend (RABBITSIM_IMAGE, or the one
    `.ci/brokers/container-image.sh` builds, since no registry is reachable here), with a
    Docker engine running; both are set up by their scripts when the tests run as root."""
    image = os.environ.get("RABBITSIM_IMAGE", LOCAL_IMAGE)
    with _lock:
        try:
            ready = _image_ready(image)
        except (OSError, subprocess.TimeoutExpired):
            ready = False
        if not ready and image == LOCAL_IMAGE and os.geteuid() == 0:
            for script in IMAGE_SCRIPTS:
                done = subprocess.run(
                    ["bash", str(script)], capture_output=True, text=True, timeout=900, check=False
                )
                if done.returncode != 0:
                    pytest.fail(
                        f"`bash {script.relative_to(ROOT)}` failed ({done.returncode}): {done.stderr[-2000:]}"
                    )
            ready = _image_ready(image)
    if not ready:
        pytest.fail(
            f"no Docker image {image}: run `sudo bash .ci/brokers/docker-engine.sh && "
            "sudo bash .ci/brokers/container-image.sh` "
            "(or set RABBITSIM_IMAGE to a RabbitMQ management image)"
        )
    return image
