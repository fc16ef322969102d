"""A data directory that is not a rabbitsim store is refused with a clear error and left exactly
as it was; one a broker wrote brings its durable state back."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pika
import pytest

import rabbitsim
from rabbitsim.backends import BackendUnavailable
from rabbitsim.store import FILENAME, Store, StoreError


def fingerprint(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def foreign_files(directory: Path) -> None:
    (directory / "notes.txt").write_text("my thesis, chapter 3")


def not_sqlite(directory: Path) -> None:
    (directory / FILENAME).write_bytes(b"this is not a database at all" * 100)


def other_sqlite(directory: Path) -> None:
    db = sqlite3.connect(directory / FILENAME)
    db.execute("CREATE TABLE accounts (owner TEXT, balance INTEGER)")
    db.execute("INSERT INTO accounts VALUES ('ana', 100)")
    db.commit()
    db.close()


def newer_store(directory: Path) -> None:
    Store(directory).close()
    db = sqlite3.connect(directory / FILENAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()


def damaged_store(directory: Path) -> None:
    store = Store(directory)
    store.close()
    path = directory / FILENAME
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's schema area
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("prepare", "words"),
    [
        (foreign_files, "not empty"),
        (not_sqlite, "not a usable rabbitsim store"),
        (other_sqlite, "not a rabbitsim store"),
        (newer_store, "another rabbitsim"),
        (damaged_store, "rabbitsim store"),
    ],
)
def test_a_foreign_or_damaged_data_dir_is_refused_and_untouched(tmp_path: Path, prepare, words: str) -> None:
    prepare(tmp_path)
    before = fingerprint(tmp_path)
    with pytest.raises(StoreError, match=words):
        Store(tmp_path)
    with pytest.raises(BackendUnavailable, match=words):
        rabbitsim.start("sim", data_dir=tmp_path)
    assert fingerprint(tmp_path) == before


def test_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store(path)
    assert path.read_text() == "x"


def test_a_data_dir_brings_durable_state_back_in_a_new_broker(tmp_path: Path) -> None:
    with rabbitsim.start("sim", data_dir=tmp_path) as broker:
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("jobs", durable=True)
        channel.queue_declare("scratch")
        for body in (b"one", b"two"):
            channel.basic_publish("", "jobs", body, pika.BasicProperties(delivery_mode=2))
        channel.basic_publish("", "jobs", b"transient")
        connection.close()
    with rabbitsim.start("sim", data_dir=tmp_path) as broker:
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        assert channel.queue_declare("jobs", passive=True).method.message_count == 2
        assert [channel.basic_get("jobs", auto_ack=True)[2] for _ in range(2)] == [b"one", b"two"]
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="404"):
            channel.queue_declare("scratch", passive=True)
        connection.close()


def test_the_default_data_dir_is_temporary(tmp_path: Path) -> None:
    broker = rabbitsim.start("sim")
    directory = broker.data_dir
    broker.topology()  # the child has booted and opened its store
    assert (directory / FILENAME).exists()
    broker.close()
    assert not directory.exists()
