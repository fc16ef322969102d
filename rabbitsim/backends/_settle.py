"""Acks on a real broker, derived from the management API's queue statistics.

The firehose never shows an ack. The management API counts them per queue (`message_stats`:
`ack`, `deliver_get`, `deliver_no_ack`, `get_no_ack`), but only as statistics the broker
collects every `collect_statistics_interval`, which on the brokers measured showed up
1.7 to 5 s late. So acks are derived only from counters known to be fresh: when a queue's
`deliver_get` grew by exactly the number of deliveries the firehose showed from it. Then, if
no delivery was without ack and the acks equal the copies delivered, each copy's last delivery
was acked, and one ACK per copy is added (`derived=True`, timed at the end of the recording:
when it happened is not known). Anything else is written into `trace.notes`, not guessed.

A stream counts every delivery and every ack, one per consumer and per replay (measured on
3.10.8, 4.0.5 and 4.3.6: two consumers reading 5 and 3 messages gave `deliver_get` 8, `ack` 8),
and an ack removes nothing from its log. So a stream's deliveries (those with an offset) are
settled one ACK per delivery, carrying its offset, when the acks equal the deliveries; the
message stays where it was."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rabbitsim.vocabulary import EventKind, Node, TraceEvent

from ._management import ManagementClient


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's cumulative counters and current counts, as the management API last saw them."""

    delivered: int = 0  # deliver_get: to consumers and basic.get, with or without ack
    acked: int = 0
    without_ack: int = 0  # deliver_no_ack + get_no_ack
    unacked: int = 0


def queue_stats(management: ManagementClient, vhost: str) -> dict[str, QueueStats]:
    items: list[dict[str, Any]] = management.get(f"queues/{urllib.parse.quote(vhost, safe='')}")
    return {item["name"]: _stats(item) for item in items}


def _stats(item: dict[str, Any]) -> QueueStats:
    counters = item.get("message_stats") or {}
    return QueueStats(
        delivered=counters.get("deliver_get", 0),
        acked=counters.get("ack", 0),
        without_ack=counters.get("deliver_no_ack", 0) + counters.get("get_no_ack", 0),
        unacked=item.get("messages_unacknowledged", 0),
    )


def settlements(
    events: Iterable[TraceEvent], before: dict[str, QueueStats], after: dict[str, QueueStats], now: float
) -> tuple[list[TraceEvent], list[str]]:
    """(derived ACK events, notes on what could not be derived), from statistics before and after."""
    deliveries: dict[str, list[TraceEvent]] = {}
    last_seq = 0
    for event in events:
        last_seq = max(last_seq, event.seq)
        if event.kind is EventKind.DELIVER and event.source is not None:
            deliveries.setdefault(event.source.name, []).append(event)
    derived: list[TraceEvent] = []
    notes: list[str] = []
    for queue, delivered in deliveries.items():
        if queue not in after:
            notes.append(f"queue '{queue}' was gone at the end: its acks are unknown")
            continue
        start, end = before.get(queue, QueueStats()), after[queue]
        counted = end.delivered - start.delivered
        if counted != len(delivered):
            notes.append(
                f"queue '{queue}': the statistics count {counted} of the {len(delivered)} deliveries seen "
                "(they lag); acks not derived: record with settle=<seconds> to wait for them"
            )
            continue
        acked, without_ack = end.acked - start.acked, end.without_ack - start.without_ack
        if without_ack == len(delivered):
            continue  # auto-ack: settled as delivered, as the simulator shows it too
        stream = all("offset" in event.detail for event in delivered)
        # each copy's last delivery; a stream's deliveries are each settled on their own
        copies = delivered if stream else list({event.message: event for event in delivered}.values())
        if without_ack or acked != len(copies):
            notes.append(
                f"queue '{queue}': {acked} acks and {without_ack} deliveries without ack for "
                f"{len(copies)} {'deliveries' if stream else 'copies'}; which was settled how is not known"
            )
            continue
        for event in copies:
            last_seq += 1
            derived.append(_ack(last_seq, now, event, event.target))
    return derived, notes


def _ack(seq: int, now: float, delivery: TraceEvent, receiver: Node | None) -> TraceEvent:
    detail: dict[str, object] = {"derived": True, "requeue": False}
    if "offset" in delivery.detail:  # a stream's: the message stays in the log
        detail["offset"] = delivery.detail["offset"]
    return TraceEvent(
        seq, now, EventKind.ACK, delivery.vhost, delivery.source, receiver, delivery.message, None, detail
    )
