"""A learner's messy runs of a chapter, driven from outside one kernel that lives across them:
Run All again, the first cell again, a kernel restart, an interrupt, cells run from the middle.
What a run left behind (processes, threads, listening ports) is measured from outside the
kernel, with psutil, so a leak the kernel cannot see (a process whose parent died) counts too."""

from __future__ import annotations

import copy
import os
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from .chapters import ANSI, CELL_TIMEOUT_SECONDS, STDERR_TRACEBACK

#: how long a process or thread the chapter started may take to go after the closing cell
SETTLE_SECONDS = 10.0

#: errors that mean the course's own code broke, never a clear message to a learner
HELPER_BUGS = ("KeyError", "IndexError", "NameError", "TypeError", "AttributeError", "UnboundLocalError")


@dataclass
class Outcome:
    """One cell's run: its index, how long it took, and its error output if any."""

    index: int
    seconds: float
    outputs: list[Any]
    timed_out: bool = False

    @property
    def errors(self) -> list[Any]:
        return [output for output in self.outputs if output.output_type == "error"]

    @property
    def stderr_tracebacks(self) -> list[str]:
        return [
            output.text
            for output in self.outputs
            if output.output_type == "stream" and STDERR_TRACEBACK in output.text
        ]

    def text(self) -> str:
        """Everything the cell showed, plain text (errors with their tracebacks)."""
        parts = []
        for output in self.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "error":
                parts.append("\n".join(output.traceback))
            elif "text/plain" in output.get("data", {}):
                parts.append(output.data["text/plain"])
        return ANSI.sub("", "\n".join(parts))


@dataclass
class Snapshot:
    """What the kernel has beside itself, seen from outside."""

    threads: int
    children: dict[int, str]  # pid -> command line
    ports: set[int]  # listening TCP ports of the kernel and its descendants, its own ZMQ ports left out
    #: TCP connections the kernel and its descendants opened (to a broker: AMQP or HTTP), as
    #: "host:port" of the far end; those to or from its own ZMQ ports left out
    connections: set[str] = field(default_factory=set)


@dataclass
class Kernel:
    """One python3 kernel for one chapter, kept across messy runs (restarted only when asked)."""

    path: Path
    env: dict[str, str]
    notebook: Any = None
    client: Any = None
    seen: dict[int, str] = field(default_factory=dict)  # every descendant ever seen: pid -> cmdline
    own_ports: set[int] = field(default_factory=set)  # what the kernel listens on before any cell
    start_threads: Counter[str] = field(
        default_factory=Counter
    )  # its Python threads before any cell, by name

    def __enter__(self) -> Kernel:
        self.notebook = nbformat.read(self.path, as_version=4)  # type: ignore[no-untyped-call]
        self.client = NotebookClient(
            copy.deepcopy(self.notebook),
            timeout=CELL_TIMEOUT_SECONDS,
            kernel_name="python3",
            resources={"metadata": {"path": str(self.path.parent)}},
        )
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel(env=self.env)
        self.client.start_new_kernel_client()
        self.client.reset_execution_trackers()
        self._fresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client._cleanup_kernel()

    # -- cells

    @property
    def code_cells(self) -> list[int]:
        """Indexes of the chapter's code cells, in order."""
        return [
            i
            for i, cell in enumerate(self.notebook.cells)
            if cell.cell_type == "code" and cell.source.strip()
        ]

    def run_cell(self, index: int, *, interrupt_after: float | None = None) -> Outcome:
        """Run the chapter's cell `index` (a fresh copy of it) as a learner's Shift-Enter does;
        `interrupt_after` seconds in, the kernel is interrupted (Kernel > Interrupt)."""
        cell = copy.deepcopy(self.notebook.cells[index])
        self.client.nb.cells[index] = cell
        timer = None
        if interrupt_after is not None:
            timer = threading.Timer(interrupt_after, self.interrupt)
            timer.start()
        begin = time.perf_counter()
        timed_out = False
        try:
            self.client.execute_cell(cell, index)
        except CellExecutionError:
            pass  # the error output is in the cell
        except CellTimeoutError:
            timed_out = True
            self.interrupt()
        finally:
            if timer is not None:
                timer.cancel()
        outcome = Outcome(index, time.perf_counter() - begin, list(cell.get("outputs", [])), timed_out)
        self._remember_children()
        return outcome

    def run_all(self, indexes: list[int] | None = None) -> list[Outcome]:
        """Run the given code cells (all of them by default) in order, without stopping at an error."""
        return [self.run_cell(index) for index in (self.code_cells if indexes is None else indexes)]

    def interrupt(self) -> None:
        """Kernel > Interrupt, as jupyter_client sends it: SIGINT to the kernel's process group."""
        pgid = self.client.km.provisioner.pgid
        if pgid and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGINT)
        else:
            os.kill(self.pid, signal.SIGINT)

    def restart(self) -> None:
        """Kernel > Restart: the old kernel process ends, a new one starts with the same ports."""
        self._remember_children()
        run_sync(self.client.km.restart_kernel)(now=False)
        run_sync(self.client.kc.wait_for_ready)(timeout=60)
        self.client.reset_execution_trackers()
        self._fresh()

    def _fresh(self) -> None:
        """What a kernel that has run nothing yet has: its own ports and threads."""
        self.own_ports = set()
        self.own_ports = self.snapshot().ports
        self.start_threads = self.thread_names()

    # -- what is left beside the kernel

    @property
    def pid(self) -> int:
        return int(self.client.km.provisioner.process.pid)

    def _own_ports(self) -> set[int]:
        info = self.client.km.get_connection_info()
        zmq = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
        return {int(info[name]) for name in zmq} | self.own_ports

    def _remember_children(self) -> None:
        try:
            for child in psutil.Process(self.pid).children(recursive=True):
                if child.pid not in self.seen:
                    try:
                        self.seen[child.pid] = " ".join(child.cmdline())[:160]
                    except psutil.Error:
                        self.seen[child.pid] = "?"
        except psutil.Error:
            pass

    def snapshot(self) -> Snapshot:
        kernel = psutil.Process(self.pid)
        children: dict[int, str] = {}
        ports: set[int] = set()
        connections: list[Any] = []
        for process in [kernel, *kernel.children(recursive=True)]:
            try:
                if process.pid != kernel.pid:
                    children[process.pid] = " ".join(process.cmdline())[:160]
                for connection in process.net_connections(kind="tcp"):
                    if connection.status == psutil.CONN_LISTEN:
                        ports.add(connection.laddr.port)
                    elif connection.status == psutil.CONN_ESTABLISHED and connection.raddr:
                        connections.append(connection)
            except psutil.Error:
                continue
        own = self._own_ports()
        # not the kernel's ZMQ sockets, nor a link between two of its own sockets (pyzmq pairs some
        # of its threads over loopback TCP), nor a link to a broker process it still runs
        ends = {c.laddr.port for c in connections} | ports | own
        outward = {
            f"{c.raddr.ip}:{c.raddr.port}"
            for c in connections
            if c.laddr.port not in own and c.raddr.port not in ends
        }
        return Snapshot(kernel.num_threads(), children, ports - own, outward)

    def survivors(self) -> dict[int, str]:
        """Processes the kernel ever had (through restarts) that still run, the kernel's own
        current descendants included."""
        alive = {}
        for pid, cmdline in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE and " ".join(process.cmdline())[:160] == cmdline:
                    alive[pid] = cmdline
            except psutil.Error:
                continue
        return alive

    def settled(self, threads: int) -> tuple[Snapshot, dict[int, str]]:
        """Wait (up to SETTLE_SECONDS) until nothing the chapter started is left: no descendant
        process, no listening port, at most `threads` threads in the kernel; return what is left."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            snapshot, alive = self.snapshot(), self.survivors()
            clean = (
                not snapshot.children
                and not snapshot.ports
                and not snapshot.connections
                and not alive
                and snapshot.threads <= threads
            )
            if clean or time.monotonic() > deadline:
                return snapshot, alive
            time.sleep(0.2)

    def thread_names(self) -> Counter[str]:
        """The kernel's Python threads by name, asked from inside: the count seen from outside
        also holds native threads a library starts once (OpenBLAS), these are only Python's."""
        cell = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
            "import threading as _t\n"
            "print(*sorted(f'{t.name} {type(t).__module__}.{type(t).__qualname__}'"
            ' f\' {getattr(getattr(t, "_target", None), "__qualname__", "")}\''
            " for t in _t.enumerate()), sep='\\n')"
        )
        self.client.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        except (CellExecutionError, CellTimeoutError):
            pass
        finally:
            self.client.nb.cells.pop()
        names = Outcome(-1, 0.0, list(cell.get("outputs", []))).text().split("\n")
        return Counter(re.sub(r"-\d+", "-N", name) for name in names if name)

    def source(self, index: int) -> str:
        return str(self.notebook.cells[index].source)


def last_frame(output: Any) -> str:
    """Where an error output's exception was raised: 'cell' (the notebook's own code), or the
    file of the innermost frame (rabbitsim's or pika's)."""
    where = "cell"
    for line in ANSI.sub("", "\n".join(output.traceback)).splitlines():
        stripped = line.strip()
        if stripped.startswith("Cell In["):
            where = "cell"
        elif stripped.startswith("File "):
            where = stripped.removeprefix("File ").split(":")[0].split(",")[0]
    return where
