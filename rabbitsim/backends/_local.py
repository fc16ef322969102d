"""Real brokers that this project's scripts (`.ci/brokers/*.sh`) started on this machine.

Each script, when its broker starts, writes `/run/rabbitsim/brokers/<amqp port>.json`: the
version, the node, the `rabbitmqctl` command line that reaches it, and the script itself, whose
`restart` / `kill` / `start` actions the url backend may then use. A broker with no such file is
someone else's, and the url backend will not restart it or change its settings."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

REGISTRY = Path(os.environ.get("RABBITSIM_BROKERS_DIR", "/run/rabbitsim/brokers"))
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LocalBrokerError(RuntimeError):
    """A command on a local broker failed; the message carries its output."""


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """A broker started by one of this project's scripts, and how to drive it."""

    version: str
    amqp_port: int
    node: str
    ctl: tuple[str, ...]
    script: str

    @classmethod
    def find(cls, url: str) -> LocalBroker | None:
        """The registered broker listening on `url`'s port on this machine, if there is one."""
        parts = urllib.parse.urlsplit(url)
        if (parts.hostname or "127.0.0.1") not in LOCAL_HOSTS:
            return None
        entry = REGISTRY / f"{parts.port or 5672}.json"
        try:
            data = json.loads(entry.read_text())
            return cls(
                str(data["version"]),
                int(data["amqp_port"]),
                str(data["node"]),
                tuple(str(part) for part in data["ctl"]),
                str(data["script"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def rabbitmqctl(self, *arguments: str, timeout: float = 120.0) -> str:
        """Run this node's `rabbitmqctl`; its output, or LocalBrokerError with it."""
        return _run([*self.ctl, *arguments], f"rabbitmqctl {' '.join(arguments)}", timeout)

    def act(self, action: str, timeout: float = 300.0) -> str:
        """Run the script's `start`, `stop`, `restart` or `kill` action for this broker."""
        return _run(["bash", self.script, action], f"{Path(self.script).name} {action}", timeout)


def _run(command: list[str], what: str, timeout: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LocalBrokerError(f"{what} could not run: {error}") from error
    if done.returncode != 0:
        raise LocalBrokerError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout
