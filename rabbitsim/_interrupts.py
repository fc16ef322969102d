"""Work that Kernel > Interrupt must not cut in half: a broker's restart (half of one leaves it
stopped) and the import of libraries that register things as they load (networkx's algorithms,
numpy's C core): interrupted, they stay half-registered and fail on every later import until
the kernel restarts."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Ctrl-C (Kernel > Interrupt) inside the block is raised when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
