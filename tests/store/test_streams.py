"""A stream's log is kept across a restart, clean or not: every message (persistent or not) at
its offset, with the time it was written, so offsets, timestamps and retention go on as before;
and a store written before streams existed (layout 1) is brought up to date when opened."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from rabbitsim.broker import Broker, Deliver, Properties, Stream
from rabbitsim.store import Store
from rabbitsim.store._store import FILENAME, SCHEMA_VERSION
from tests.broker.conftest import FakeClock


def started(directory: Path, clock: FakeClock) -> tuple[Broker, Store]:
    store = Store(directory)
    broker = Broker(clock=clock)
    store.load(broker)
    return broker, store


def run(broker: Broker, store: Store) -> list[Deliver]:
    delivered = []
    for connection, _number, item in broker.take_output():
        if connection is None:
            store.take(item)  # type: ignore[arg-type]
        elif isinstance(item, Deliver):
            delivered.append(item)
    assert store.commit()
    return delivered


@pytest.mark.parametrize("crash", [False, True])
def test_a_stream_keeps_its_log_offsets_and_times(tmp_path: Path, crash: bool) -> None:
    clock = FakeClock()
    clock.now = 1_000_000.0
    broker, store = started(tmp_path, clock)
    channel = broker.connect().open_channel(1)
    size = 48 + 4 + broker.profile.stream_message_overhead + 1 + 2 + 44
    channel.queue_declare(
        "s", durable=True, arguments={"x-queue-type": "stream", "x-stream-max-segment-size-bytes": 2 * size}
    )
    for i in range(5):  # transient messages too: a stream writes everything
        clock.now += 60
        channel.basic_publish("", "s", f"m{i}".encode(), Properties(delivery_mode=1))
    channel.basic_qos(10)
    channel.basic_consume("s", "reader", arguments={"x-stream-offset": "first"})
    channel.basic_ack(0, multiple=True)
    run(broker, store)
    before = broker.vhosts["/"].queues["s"]
    assert isinstance(before, Stream)
    offsets = [entry.seq for entry in before.ready]
    if crash:
        store.abandon()
    else:
        store.close()

    again, store = started(tmp_path, clock)
    stream = again.vhosts["/"].queues["s"]
    assert isinstance(stream, Stream)
    assert [entry.seq for entry in stream.ready] == offsets  # snapshot gaps and all
    assert stream.offsets == before.offsets
    assert [s.size for s in stream.ready.segments] == [s.size for s in before.ready.segments]
    channel = again.connect().open_channel(1)
    channel.basic_qos(10)
    since = datetime.datetime.fromtimestamp(1_000_000 + 3 * 60, datetime.UTC)
    channel.basic_consume("s", "late", arguments={"x-stream-offset": since})  # times were kept
    channel.basic_publish("", "s", b"m5")
    got = [
        (item.message.body, (item.message.properties.headers or {})["x-stream-offset"])
        for item in run(again, store)
    ]
    assert [body for body, _ in got] == [b"m2", b"m3", b"m4", b"m5"]
    assert got[-1][1] > offsets[-1]
    store.close()


def test_a_store_of_layout_1_is_brought_up_to_date(tmp_path: Path) -> None:
    clock = FakeClock()
    broker, store = started(tmp_path, clock)
    channel = broker.connect().open_channel(1)
    channel.queue_declare("q", durable=True)
    channel.basic_publish("", "q", b"kept", Properties(delivery_mode=2))
    run(broker, store)
    store.close()
    db = sqlite3.connect(tmp_path / FILENAME)  # as the rabbitsim before streams left it
    db.executescript(
        "BEGIN; CREATE TABLE old AS SELECT vhost, queue, seq, message, delivered, out, delivery_count, "
        "acquired, expires FROM copies; DROP TABLE copies; ALTER TABLE old RENAME TO copies; "
        "PRAGMA user_version = 1; COMMIT;"
    )
    db.close()

    again, store = started(tmp_path, clock)
    assert [entry.message.body for entry in again.vhosts["/"].queues["q"].ready] == [b"kept"]
    store.close()
    db = sqlite3.connect(tmp_path / FILENAME)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert "written" in [row[1] for row in db.execute("PRAGMA table_info(copies)")]
    db.close()
