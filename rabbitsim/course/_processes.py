"""Workers as real processes, for the lessons that are about processes: a worker that dies
mid-task (SIGKILL, no goodbye) leaves its unacked task for the broker to hand to another.

A worker runs in a session of its own, so the notebook's interrupt (SIGINT to the kernel's
process group) does not reach it and chapter 2's SIGKILL stays the only way it dies mid-task.
Out of the kernel's group, it would also outlive a kernel restart: so it watches its stdin, a
pipe from the kernel, and leaves when the kernel has gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

from rabbitsim._language import language, say
from rabbitsim.backends import BrokerHandle

from ._client import explaining, hint, shows
from ._consumers import RunningBeside, likely_cause

__all__ = ["WorkerProcess"]

#: how long a worker may take to connect and say "ready"
START_SECONDS = 20.0


class WorkerProcess(RunningBeside):
    """`python -m rabbitsim.course.worker` against `broker`, consuming `queue`. Its output
    lines are collected in `.lines`; `.received` and `.done` list the task bodies. A `name`
    given explicitly makes it replace a running worker (or consumer) of the same name on the
    same queue and broker."""

    def __init__(
        self, broker: BrokerHandle, queue: str, *, name: str | None = None, seconds_per_dot: float = 0.2
    ) -> None:
        super().__init__()
        self.broker, self.queue, self.name = broker, queue, name or "worker"
        self.lines: list[str] = []
        command = [
            sys.executable,
            "-m",
            "rabbitsim.course.worker",
            broker.url,
            queue,
            "--name",
            self.name,
            "--seconds-per-dot",
            str(seconds_per_dot),
            "--leave-with-stdin",
            "--language",
            language(),
        ]
        self._track(broker, queue, name)
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # the worker's lifeline: it ends when this pipe closes
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ},
            start_new_session=True,  # out of reach of the kernel's interrupt
        )
        self._reader = threading.Thread(target=self._read, name=f"rabbitsim-{self.name}-output", daemon=True)
        self._reader.start()
        try:
            ready = self.wait_for_line("ready", timeout=START_SECONDS, explain=False)
        except BaseException:  # the notebook's interrupt while it starts: leave nothing running
            self.kill()
            raise
        if not ready:
            self.kill()
            raise RuntimeError(self._not_started()) from None

    def _not_started(self) -> str:
        """Why it did not say "ready", in one sentence: the worker's own `error ...` line (the
        broker's reply), else the last line it printed (a traceback's last line is the error)."""
        errors = [line.removeprefix("error ") for line in self.lines if line.startswith("error ")]
        if errors:
            reason = errors[-1]  # said in the kernel's language (--language)
        elif self.lines:
            code, last = self.process.returncode, " ".join(self.lines[-1].split())[:200]
            reason = say(
                f"it exited (code {code}) after printing {last!r}",
                f"它打印出 {last!r} 之后就退出了（退出码 {code}）",
            )
        else:
            reason = say(
                f"it did not say it was ready within {START_SECONDS:g} s",
                f"它没有在 {START_SECONDS:g} 秒内报告就绪",
            )
        return say(
            f"{self.name} could not start: {reason}.{hint(reason)}",
            f"{self.name} 无法启动：{reason}。{hint(reason)}",
        )

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

    def wait_for_line(self, line: str, timeout: float = 10.0, *, explain: bool | None = None) -> bool:
        """Wait until the worker prints `line` (True), or `timeout` passes or it exits (False,
        and it prints why, unless `explain` is False; by default only the learner's calls explain)."""
        if explain is None:
            explain = explaining()
        printed = self._wait_until(
            lambda: line in self.lines,
            lambda: self.process.poll() is not None and not self._reader.is_alive(),
            timeout,
            poll=0.1,
        )
        if not printed and explain:
            print(self._why_not(line, timeout))
        return printed

    def _why_not(self, line: str, timeout: float) -> str:
        said = say(
            f"{self.name} did not print {line!r} within {timeout:g} s",
            f"{self.name} 没有在 {timeout:g} 秒内打印出 {line!r}",
        )
        last = (
            say(f"; its last line was {self.lines[-1]!r}", f"；它最后打印的一行是 {self.lines[-1]!r}")
            if self.lines
            else ""
        )
        if not self.alive:
            code = self.process.returncode
            return say(
                f"{said}: it has exited (code {code}){last}. Run the cell that starts it again.",
                f"{said}：它已经退出（退出码 {code}）{last}。请重新运行启动它的单元格。",
            )
        shown, cause = shows(self.broker, [self.queue]), likely_cause(self.broker, self.queue)
        return say(f"{said}{last}. {shown} {cause}", f"{said}{last}。{shown}{cause}")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without closing its connection politely."""
        self._untrack()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(5)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def stop(self) -> None:
        """A polite end (SIGINT, as Ctrl-C), then SIGKILL if it lingers."""
        self._untrack()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        self.kill()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def running(self) -> bool:
        return self.alive

    @property
    def what(self) -> str:
        return say(
            f"worker process {self.name!r} (pid {self.process.pid}) on {self.queue!r}",
            f"队列 {self.queue!r} 上的 worker 进程 {self.name!r}（pid {self.process.pid}）",
        )

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.process.returncode})"
        return f"<{self.name} (pid {self.process.pid}): {len(self.done)} done, {state}>"
