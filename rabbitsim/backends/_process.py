"""The simulator in a process of its own: the default `rabbitsim.start()`.

Embedded in a notebook's kernel, the broker shares the interpreter lock with pika and with the
learner's code, and runs several times slower than a real RabbitMQ; in its own process it keeps
pace. The child is an `EmbeddedBroker` with a control pipe: the parent asks for snapshots and
starts and stops event sources over it, and the child streams their events back as data (the
vocabulary's frozen dataclasses, pickled). When the parent goes away, for whatever reason, the
pipe closes and the child stops: no broker outlives its kernel.

Messages on the pipe, as tuples: the child first says ("ready", (url, management url or None))
or ("failed", error); then
the parent sends (call id, operation, argument) and the child answers ("reply", call id, value)
or ("error", call id, exception); ("event", source id, event) may come at any time in between.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rabbitsim._interrupts import interrupt_deferred
from rabbitsim.broker import DEFAULT_PROFILE
from rabbitsim.vocabulary import Started, Stopped, Topology, TraceEvent

from ._alarms import ALARM_METHODS, ChildAlarms
from ._base import BackendUnavailable, BrokerClosed, BrokerHandle
from ._data_dir import DataDir
from ._embedded import EmbeddedBroker
from ._management import ManagementClient
from ._sim_source import SimSource

#: How long the child may take to start serving (a cold interpreter imports pika and pamqp).
START_TIMEOUT = 60.0
#: How long `close` waits for the child to stop before it is killed.
STOP_TIMEOUT = 5.0
_CHILD = "from rabbitsim.backends._process import main; main()"
#: The `EmbeddedBroker` methods a `ProcessBroker` runs in its child, by name.
REMOTE_METHODS = frozenset[str]() | ALARM_METHODS


# --- the child --------------------------------------------------------------------------------


class _Child:
    """The broker's side of the pipe: one `EmbeddedBroker`, and the event sources the parent
    started on it, by id."""

    def __init__(self, pipe: Connection, handle: EmbeddedBroker) -> None:
        self.pipe, self.handle = pipe, handle
        self.sources: dict[int, SimSource] = {}
        self._sending = threading.Lock()  # events come from the broker's thread, replies from ours

    def send(self, message: tuple[Any, ...]) -> None:
        with self._sending:
            self.pipe.send(message)

    def topology(self, _argument: Any) -> Topology:
        return self.handle.topology()

    def start(self, argument: tuple[int, float]) -> Started:
        number, timeout = argument
        source = self.sources[number] = self.handle.events(timeout=timeout)
        return source.start(lambda event: self.send(("event", number, event)))

    def stop(self, number: int) -> Stopped:
        return self.sources.pop(number).stop()

    def method(self, argument: tuple[str, tuple[Any, ...], dict[str, Any]]) -> Any:
        """One of the handle's own methods that the parent forwards (`REMOTE_METHODS`)."""
        name, arguments, options = argument
        if name not in REMOTE_METHODS:
            raise AttributeError(f"the simulated broker's process does not run {name!r}")
        return getattr(self.handle, name)(*arguments, **options)

    def serve(self) -> None:
        """Answer the parent until it says close, or is gone (its end of the pipe closed)."""
        operations: dict[str, Callable[[Any], Any]] = {
            "topology": self.topology,
            "start": self.start,
            "stop": self.stop,
            "method": self.method,
            "close": lambda _clean: None,
        }
        while True:
            try:
                number, operation, argument = self.pipe.recv()
            except (EOFError, OSError):
                return
            if operation == "close":  # stop first, so that the parent may start again at once
                self.handle.close(clean=bool(argument))
            try:
                self.send(("reply", number, operations[operation](argument)))
            except Exception as error:
                self.send(("error", number, error))
            if operation == "close":
                return


def main() -> None:
    """The child's entry point: `python -c "from rabbitsim.backends._process import main; main()"
    FD`, FD being its end of the socket pair to the parent, which first sends the
    `EmbeddedBroker`'s arguments as (args, options)."""
    serve(Connection(int(sys.argv[1])))


def serve(pipe: Connection) -> None:
    """The child process: serve a simulated broker until the parent closes it or goes away."""
    try:
        arguments, options = pipe.recv()
        handle = EmbeddedBroker(*arguments, **options)
    except Exception as error:
        pipe.send(("failed", error))
        return
    try:
        child = _Child(pipe, handle)
        child.send(("ready", (handle.url, handle.management_url)))
        child.serve()
    finally:
        handle.close()


# --- the parent -------------------------------------------------------------------------------


class _OnceStarted:
    """An attribute the child's "ready" message sets (`url`, `management_url`, `management`):
    read before it came, it waits for it, so the child may boot while the parent goes on."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_ready_{name}"

    def __get__(self, handle: ProcessBroker | None, owner: type | None = None) -> Any:
        if handle is None:
            return self
        handle._await_start()
        return getattr(handle, self.slot)

    def __set__(self, handle: ProcessBroker, value: Any) -> None:
        setattr(handle, self.slot, value)


class ProcessBroker(ChildAlarms, BrokerHandle):
    """A simulated RabbitMQ in a child process, on 127.0.0.1 (a free port unless `port` is
    given): the same handle as every backend. Its events and snapshots cross the process
    boundary as data; `close()` (or the end of the parent) stops it. The child serves the
    management API too (`management_url`, `management`; `management_port=` as for
    `EmbeddedBroker`), on the same port after a restart.

    Started with nothing but defaults (a free port, a temporary data dir: nothing the caller gave
    can be wrong), it returns while the child is still booting, and the first use waits for it:
    a notebook's first cell imports the course meanwhile. Given a port, a data dir or other
    options, it waits at once, so that a mistake in them is raised here."""

    backend = "sim"
    _url: str = _OnceStarted()  # type: ignore[assignment]
    management_url: str | None = _OnceStarted()  # type: ignore[assignment]
    management: ManagementClient | None = _OnceStarted()  # type: ignore[assignment]

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        profile: str = DEFAULT_PROFILE.name,
        data_dir: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        self.profile = profile
        self._data = DataDir.given(data_dir)
        self.data_dir = self._data.path
        self._options = {"profile": profile, "data_dir": str(self.data_dir), **options}
        self._calls = itertools.count(1)
        self._waiting: dict[int, Future[Any]] = {}
        self._listeners: dict[int, Callable[[TraceEvent], None]] = {}
        self._sending = threading.Lock()
        self._closed = False
        self._starting = threading.Lock()
        self._booting = False
        self._start_failed: BaseException | None = None
        self._reader: threading.Thread | None = None
        try:
            self._spawn(host, port)
            if port or data_dir is not None or options or profile != DEFAULT_PROFILE.name:
                self._await_start()
        except BaseException:
            self._data.remove_if_temporary()
            raise

    def _spawn(self, host: str, port: int) -> None:
        """Start the child and send it what to serve; `_await_start` hears whether it does."""
        # A fresh interpreter, not multiprocessing's spawn: spawn re-runs the parent's main script
        # in the child, which breaks a learner's unguarded script (or code piped to `python -`).
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])  # where `rabbitsim` is importable
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,  # Kernel > Interrupt signals the kernel's group: not the broker
        )
        theirs.close()
        self._pipe = Connection(ours.detach())
        self._pipe.send(((host, port), self._options))
        self._booting = True

    def _await_start(self) -> None:
        """Wait until the child serves, or raise why it cannot (again on every later use). An
        interrupt while waiting leaves it booting: the next use waits again."""
        with self._starting:
            if self._start_failed is not None:
                raise self._start_failed
            if not self._booting:
                return
            if not self._pipe.poll(START_TIMEOUT):  # the wait a learner may interrupt
                self.process.kill()
                self._start_failed = BackendUnavailable(
                    f"the simulated broker did not start within {START_TIMEOUT:.0f} s"
                )
                raise self._start_failed
            with interrupt_deferred():  # the message, once read, must be kept
                self._booting = False
                try:
                    self._hear_ready()
                except Exception as error:
                    self._start_failed = error
                    raise

    def _hear_ready(self) -> None:
        """The child's first message, waiting in the pipe: where it serves, or why it cannot."""
        try:
            kind, value = self._pipe.recv()
        except (EOFError, OSError):  # closed, or reset by a child killed with data unread
            self.process.wait(STOP_TIMEOUT)
            raise BackendUnavailable("the simulated broker's process ended as it started") from None
        if kind != "ready":
            self.process.wait(STOP_TIMEOUT)
            raise value
        url, management_url = value  # (the attributes are not read here: they wait for this)
        self._url, self.management_url = url, management_url
        self.management = None if management_url is None else ManagementClient(management_url)
        if management_url is not None:  # a restart serves the API on the same port
            self._options["management_port"] = urllib.parse.urlsplit(management_url).port
        self._reader = threading.Thread(target=self._read, name="rabbitsim-broker-pipe", daemon=True)
        self._reader.start()

    def restart(self, *, kill: bool = False) -> None:
        """Stop the broker's process and start it again on the same port and data dir: cleanly
        (clients are told it shuts down, everything is stored), or, `kill=True`, with SIGKILL,
        as a crash (what was committed, everything confirmed, comes back)."""
        self._await_start()
        with interrupt_deferred():  # half a restart would leave the broker stopped for good
            if kill:
                self.process.kill()
            else:
                with contextlib.suppress(Exception):
                    self.call("close", True, timeout=STOP_TIMEOUT + 10)
            self._wait_child()
            if self._reader is not None:
                self._reader.join(STOP_TIMEOUT)
            self._pipe.close()
            self._spawn(self.host, self.port)
            self._await_start()

    def _wait_child(self) -> None:
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def _read(self) -> None:
        """Hand each message from the child to whom it is for, until the pipe closes."""
        while True:
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "event":
                listener = self._listeners.get(message[1])
                if listener is not None:
                    with contextlib.suppress(Exception):  # a failing listener must not stop the pipe
                        listener(message[2])
                continue
            waiting = self._waiting.pop(message[1], None)
            if waiting is not None:
                if kind == "reply":
                    waiting.set_result(message[2])
                else:
                    waiting.set_exception(message[2])
        for waiting in list(self._waiting.values()):  # the child is gone: nobody will answer
            waiting.set_exception(RuntimeError("the simulated broker's process has stopped"))
        self._waiting.clear()

    def call(self, operation: str, argument: Any = None, timeout: float = 10.0) -> Any:
        """Ask the child something and wait for its answer."""
        if self._closed:
            raise BrokerClosed(self.closed_by or "broker.close()")
        self._await_start()
        ended = self.process.poll()
        if ended is not None:
            raise BrokerClosed(f"its process, which ended by itself with exit code {ended}")
        number = next(self._calls)
        answer: Future[Any] = Future()
        self._waiting[number] = answer
        with self._sending:
            self._pipe.send((number, operation, argument))
        return answer.result(timeout)

    def topology(self) -> Topology:
        return self.call("topology")  # type: ignore[no-any-return]

    def call_method(self, name: str, *arguments: Any, timeout: float = 10.0, **options: Any) -> Any:
        """Run the child's `EmbeddedBroker.<name>(...)` (one of `REMOTE_METHODS`)."""
        return self.call("method", (name, arguments, options), timeout)

    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> ChildSource:
        """The child's core events, complete, as on the in-process simulator."""
        return ChildSource(self, timeout)

    def _shutdown(self) -> None:
        """Stop the child (killed if it does not answer) and wait for it and for the thread
        that read its pipe: nothing of this broker is left afterwards."""
        try:
            if self.process.poll() is None:
                self.call("close", timeout=STOP_TIMEOUT)
        except Exception:  # a child that does not answer is stopped anyway
            pass
        self._closed = True
        self._wait_child()
        if self._reader is not None:  # None: the child never served
            self._reader.join(STOP_TIMEOUT)  # the child's end closed with it: the reader sees EOF
        self._pipe.close()
        self._data.remove_if_temporary()


class ChildSource:
    """An event source of the child's, seen from the parent: the same promises as `SimSource`
    (it is one, on the other side of the pipe)."""

    _numbers = itertools.count(1)

    def __init__(self, broker: ProcessBroker, timeout: float) -> None:
        self.broker, self.timeout = broker, timeout
        self.number = next(self._numbers)

    def start(self, deliver: Callable[[TraceEvent], None]) -> Started:
        self.broker._listeners[self.number] = deliver  # before asking: events may precede the reply
        try:
            return self.broker.call("start", (self.number, self.timeout), self.timeout + 5)  # type: ignore[no-any-return]
        except BaseException:
            self.broker._listeners.pop(self.number, None)
            raise

    def stop(self) -> Stopped:
        try:
            return self.broker.call("stop", self.number, self.timeout + 5)  # type: ignore[no-any-return]
        finally:
            self.broker._listeners.pop(self.number, None)  # the reply came after the last event

    def topology(self) -> Topology:
        return self.broker.topology()
