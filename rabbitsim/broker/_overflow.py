"""Length limits (`x-max-length`, `x-max-length-bytes`) and what `x-overflow` does at them:
drop the head, or refuse the new message (and perhaps dead-letter it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rabbitsim.vocabulary import EventKind

from ._deadletter import dead_letter
from ._text import utf8_text

if TYPE_CHECKING:
    from ._message import Message
    from ._queue import Queue

#: x-overflow -> (drops the head when over the limit, refuses new messages when full,
#: dead-letters what it refuses), for classic queues. Quorum queues treat reject-publish-dlx
#: as drop-head (measured on 3.10.8 and 4.0.5).
OVERFLOW_MODES = {
    "drop-head": (True, False, False),
    "reject-publish": (False, True, False),
    "reject-publish-dlx": (False, True, True),
}
QUORUM_OVERFLOW_MODES = {**OVERFLOW_MODES, "reject-publish-dlx": (True, False, False)}


def set_overflow(
    queue: Queue, modes: Mapping[str, tuple[bool, bool, bool]], settings: Mapping[str, Any]
) -> None:
    """`x-overflow` (of the queue's arguments met by its policies) as a row of `modes`; it
    matters only with a length limit."""
    limited = queue.max_length is not None or queue.max_length_bytes is not None
    mode = utf8_text(settings.get("x-overflow", "drop-head"))
    drops, refuses, refused_dead = modes.get(mode, modes["drop-head"])
    queue.drops_head, queue.refuses = drops and limited, refuses and limited
    queue.refuse_dead_letters = refused_dead


def over_limit(queue: Queue) -> bool:
    return (queue.max_length is not None and len(queue.ready) > queue.max_length) or (
        queue.max_length_bytes is not None and queue.ready_bytes > queue.max_length_bytes
    )


def drop_over_limit(queue: Queue) -> bool:
    """Overflow drop-head: the head goes (dead-lettered as `maxlen`) while over a limit;
    only ready copies count. In a priority queue the head is the highest priority's.
    True if any went."""
    dropped = False
    if queue.drops_head:
        while queue.ready and over_limit(queue):
            entry = queue.pop_head()
            if queue.keeps:
                queue.forget(entry)
            dead_letter(queue, entry.message, "maxlen")
            dropped = True
    return dropped


def full_for(queue: Queue, message: Message) -> bool:
    """Overflow reject-publish: a classic queue refuses a message that would take it over
    a limit (bytes inclusive); a quorum queue one that arrives when it is already over."""
    size = 0 if queue.quorum else 1
    body = 0 if queue.quorum else len(message.body)
    return (queue.max_length is not None and len(queue.ready) + size > queue.max_length) or (
        queue.max_length_bytes is not None and queue.ready_bytes + body > queue.max_length_bytes
    )


def refuse(queue: Queue, message: Message) -> None:
    if queue.refuse_dead_letters:
        dead_letter(queue, message, "maxlen", refused=True)
        return
    broker = queue.vhost.broker
    if broker.tracing:
        broker.emit(EventKind.DROP, queue.vhost_name, queue.node, message=message.id, reason="reject-publish")
