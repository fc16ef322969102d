"""Workers as real processes, for the lessons that are about processes: a worker that dies
mid-task (SIGKILL, no goodbye) leaves its unacked task for the broker to hand to another."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

from rabbitsim.backends import BrokerHandle

from ._consumers import RunningBeside

__all__ = ["WorkerProcess"]


class WorkerProcess(RunningBeside):
    """`python -m rabbitsim.course.worker` against `broker`, consuming `queue`. Its output
    lines are collected in `.lines`; `.received` and `.done` list the task bodies."""

    def __init__(
        self, broker: BrokerHandle, queue: str, *, name: str = "worker", seconds_per_dot: float = 0.2
    ) -> None:
        super().__init__()
        self.name = name
        self.lines: list[str] = []
        command = [
            sys.executable,
            "-m",
            "rabbitsim.course.worker",
            broker.url,
            queue,
            "--name",
            name,
            "--seconds-per-dot",
            str(seconds_per_dot),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
        )
        self._reader = threading.Thread(target=self._read, name=f"rabbitsim-{name}-output", daemon=True)
        self._reader.start()
        if not self.wait_for_line("ready", timeout=20):
            self.kill()
            raise RuntimeError(f"{name} did not start: {''.join(self.lines)[-2000:]}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _bodies(self, prefix: str) -> list[str]:
        return [line.removeprefix(prefix) for line in self.lines if line.startswith(prefix)]

    @property
    def received(self) -> list[str]:
        return self._bodies("received ")

    @property
    def done(self) -> list[str]:
        return self._bodies("done ")

    def wait_for_line(self, line: str, timeout: float = 10.0) -> bool:
        """Wait until the worker prints `line` (True), or `timeout` passes or it exits (False)."""
        return self._wait_until(
            lambda: line in self.lines,
            lambda: self.process.poll() is not None and not self._reader.is_alive(),
            timeout,
            poll=0.1,
        )

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without closing its connection politely."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(5)

    def stop(self) -> None:
        """A polite end (SIGINT, as Ctrl-C), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        self.kill()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.process.returncode})"
        return f"<{self.name} (pid {self.process.pid}): {len(self.done)} done, {state}>"
