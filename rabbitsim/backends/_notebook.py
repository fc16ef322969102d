"""What `start` adds in a notebook's kernel (IPython): when a cell fails because a connection or
channel belongs to a broker this kernel closed or replaced (the chapter's closing cell ran, or
the first cell was run again), one line after pika's traceback says so and what to run. pika
alone says only "Stream connection lost: BrokenPipeError" or "Channel is closed."."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

#: Attribute paths from a pika object (a blocking connection or channel, or what they wrap) to
#: its connection parameters, which name the broker's port.
_TO_PARAMETERS = (
    ("_impl", "params"),
    ("params",),
    ("connection", "_impl", "params"),
    ("_impl", "connection", "params"),
    ("connection", "params"),
)


def install(closed: Callable[[], Mapping[int, str]]) -> None:
    """Once per IPython shell: after a pika connection or channel-state error whose object talks
    to a port in `closed()` (port -> "the broker at ... was closed by ..."), print the hint."""
    ipython_module = sys.modules.get("IPython")
    shell = getattr(ipython_module, "get_ipython", lambda: None)()
    if shell is None or getattr(shell, "_rabbitsim_hint", False):
        return
    import pika.exceptions

    def after_traceback(
        shell: Any, kind: type[BaseException], error: BaseException, tb: TracebackType, tb_offset: Any = None
    ) -> None:
        shell.showtraceback((kind, error, tb), tb_offset=tb_offset)
        gone = closed()
        port = next((port for port in ports_in(tb) if port in gone), None)
        if port is not None:
            print(
                f"rabbitsim: {gone[port]}, and this connection or channel belonged to it. Run the "
                "chapter's first cell again, then the cells that open connections and channels.",
                flush=True,
            )

    shell.set_custom_exc(
        (pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelWrongStateError), after_traceback
    )
    shell._rabbitsim_hint = True


def ports_in(tb: TracebackType | None) -> list[int]:
    """The broker ports of the pika objects whose methods the traceback passes through."""
    found = []
    for frame, _ in traceback.walk_tb(tb):
        owner = frame.f_locals.get("self")
        for path in _TO_PARAMETERS:
            value = owner
            for name in path:
                value = getattr(value, name, None)
            port = getattr(value, "port", None)
            if isinstance(port, int):
                found.append(port)
                break
    return found
