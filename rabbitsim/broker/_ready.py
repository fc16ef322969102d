"""A queue's ready messages: in arrival order (a `deque`), or one FIFO per priority level for
a priority queue; and how requeued copies go back to their places."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Protocol

from ._message import Entry


class Ready(Protocol):
    """What the rest of the core may do with a queue's ready messages: a `deque` for most
    queues, a `PriorityReady` for priority queues. Iteration is delivery order."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Entry]: ...
    def __getitem__(self, index: int, /) -> Entry: ...
    def append(self, entry: Entry, /) -> None: ...
    def popleft(self) -> Entry: ...
    def clear(self) -> None: ...


class PriorityReady:
    """The ready messages of a priority queue: one FIFO per level, as RabbitMQ's priority
    queue keeps them. The head is the oldest message of the highest priority present; a
    priority above the top level counts as the top, none as 0."""

    __slots__ = ("levels", "size", "top")

    def __init__(self, top: int) -> None:
        self.top = top
        self.levels: list[deque[Entry]] = [deque() for _ in range(top + 1)]
        self.size = 0

    def level_of(self, entry: Entry) -> int:
        priority = entry.message.properties.priority
        return min(priority, self.top) if isinstance(priority, int) and priority > 0 else 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Entry]:
        for level in reversed(self.levels):
            yield from level

    def __getitem__(self, index: int, /) -> Entry:
        if index == 0:
            for level in reversed(self.levels):
                if level:
                    return level[0]
        raise IndexError("only the head of a priority queue can be read")

    def append(self, entry: Entry, /) -> None:
        self.levels[self.level_of(entry)].append(entry)
        self.size += 1

    def popleft(self) -> Entry:
        for level in reversed(self.levels):
            if level:
                self.size -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def clear(self) -> None:
        for level in self.levels:
            level.clear()
        self.size = 0

    def ahead_of(self, entry: Entry) -> int:
        """How many ready messages a new `entry` queues behind."""
        return sum(len(level) for level in self.levels[self.level_of(entry) :])

    def put_back(self, entries: list[Entry]) -> None:
        """Requeued copies (sorted by seq) return to their places within their levels."""
        by_level: dict[int, list[Entry]] = {}
        for entry in entries:
            by_level.setdefault(self.level_of(entry), []).append(entry)
        for level, returning in by_level.items():
            merge_back(self.levels[level], returning)
        self.size += len(entries)


def by_seq(entry: Entry) -> int:
    return entry.seq


def merge_back(ready: deque[Entry], entries: Iterable[Entry]) -> None:
    """Requeued copies (sorted by seq) go back among the ready ones by their sequence."""
    returning = list(entries)
    if not ready or returning[-1].seq < ready[0].seq:
        ready.extendleft(reversed(returning))
        return
    merged = list(heapq.merge(ready, returning, key=by_seq))
    ready.clear()
    ready.extend(merged)
