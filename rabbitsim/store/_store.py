"""Durable state in SQLite: what the core says a restart keeps (`broker._durability`), written
in group commits, and read back into a fresh core at start.

The server hands every intent on the core's road to `take` and calls `commit` before it writes
to any socket, so a publisher confirm for a stored message leaves only after the transaction
that holds it: one commit per burst of input, however many messages it carried. A copy that is
stored and forgotten within one burst (published and acked at once) is never written.

SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives the broker process being
killed (the data is in the operating system's hands), not a power cut. RabbitMQ fsyncs its
message store in batches too; a learner's laptop is not a data centre."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pamqp import commands, decode, encode
from pamqp.header import ContentHeader

from rabbitsim.broker import Broker, Exchange, Long, Message, Properties
from rabbitsim.broker import durability as core

#: Marks a database as ours (PRAGMA application_id: "RSim"), and its layout.
APPLICATION_ID = 0x5253696D
SCHEMA_VERSION = 2
#: how a store of an earlier layout is brought up to this one, by the version it has
MIGRATIONS = {1: "ALTER TABLE copies ADD COLUMN written INTEGER;"}
FILENAME = "rabbitsim.sqlite3"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vhosts (name TEXT PRIMARY KEY);
CREATE TABLE exchanges (
    vhost TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, durable INTEGER NOT NULL,
    auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, name));
CREATE TABLE queues (
    vhost TEXT NOT NULL, name TEXT NOT NULL, auto_delete INTEGER NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, name));
CREATE TABLE bindings (
    vhost TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL, to_queue INTEGER NOT NULL,
    routing_key TEXT NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, source, destination, to_queue, routing_key, arguments));
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, exchange TEXT NOT NULL, routing_key TEXT NOT NULL,
    header BLOB NOT NULL, headers BLOB, body BLOB NOT NULL, deaths TEXT);
CREATE TABLE copies (
    vhost TEXT NOT NULL, queue TEXT NOT NULL, seq INTEGER NOT NULL, message INTEGER NOT NULL,
    delivered INTEGER NOT NULL, out INTEGER NOT NULL, delivery_count INTEGER NOT NULL,
    acquired INTEGER NOT NULL, expires REAL, written INTEGER,
    PRIMARY KEY (vhost, queue, seq)) WITHOUT ROWID;
"""

CopyKey = tuple[str, str, int]
#: SQLite's "database or disk is full" and its I/O error for a failed write
DISK_FULL = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


class StoreError(RuntimeError):
    """The data directory cannot be used; it is left exactly as it was."""


def _table(arguments: Any) -> bytes:
    return encode.field_table(dict(arguments or {}))


def _untable(data: bytes) -> dict[str, Any]:
    return decode.field_table(data)[1] if data else {}


def _header(message: Message) -> tuple[bytes, bytes | None]:
    """The properties as a content header without `headers`, and the headers table apart:
    pamqp writes a float as a 32-bit `f`, which a double out of its range cannot be."""
    properties = message.properties
    unchecked = commands.Basic.Properties.__new__(commands.Basic.Properties)  # pamqp refuses cluster_id
    for name in commands.Basic.Properties.attributes():
        setattr(unchecked, name, getattr(properties, name))
    headers, unchecked.headers = unchecked.headers, None
    header = ContentHeader(0, len(message.body), unchecked).marshal()
    return header, None if headers is None else _field_table(headers)


def _field_table(table: dict[str, Any]) -> bytes:
    items = b"".join(encode.short_string(key) + _field_value(value) for key, value in table.items())
    return struct.pack(">I", len(items)) + items


def _field_value(value: Any) -> bytes:
    """One table value as it came: floats as doubles, the core's `Long` as 64-bit `l`."""
    if isinstance(value, float):
        return b"d" + struct.pack(">d", value)
    if isinstance(value, Long):
        return b"l" + struct.pack(">q", value)
    if isinstance(value, dict):
        return b"F" + _field_table(value)
    if isinstance(value, list):
        items = b"".join(_field_value(item) for item in value)
        return b"A" + struct.pack(">I", len(items)) + items
    return encode.encode_table_value(value)


def _properties(header: bytes, headers: bytes | None) -> Properties:
    """The core's own properties (which every adapter knows how to send), from pamqp's."""
    decoded = ContentHeader()
    decoded.unmarshal(header)
    fields = {name: getattr(decoded.properties, name) for name in commands.Basic.Properties.attributes()}
    fields["headers"] = None if headers is None else _untable(headers)
    return Properties(**fields)


class Store:
    """One data directory's database. `open` checks it is ours (or empty) before touching it."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self.db = self._open()
        self._pending: list[core.Intent] = []
        self.failure: sqlite3.Error | None = None  # why the last commit failed
        self.unstorable = 0  # messages whose properties could not be encoded (kept in memory only)
        self.broker: Broker | None = None  # the one `load` filled, told when the disk is full
        self._refs: dict[int, int] = {}  # message id -> copies stored or about to be
        self._written: set[int] = set()  # message ids with a row
        for message, count in self.db.execute("SELECT message, count(*) FROM copies GROUP BY message"):
            self._refs[message] = count
            self._written.add(message)

    # --- opening: never overwrite what is not ours --------------------------------------------

    def _open(self) -> sqlite3.Connection:
        directory = self.directory
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"data dir {directory} is a file, not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        if fresh:
            foreign = sorted(entry.name for entry in directory.iterdir() if not entry.name.startswith("."))
            if foreign:
                raise StoreError(
                    f"data dir {directory} is not empty and holds no rabbitsim store "
                    f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); give an empty or new "
                    "directory, or one a rabbitsim broker wrote"
                )
        try:
            if not fresh:  # looked at without writing a byte (no journal files) before it is trusted
                checking = sqlite3.connect(f"{self.path.as_uri()}?immutable=1", uri=True)
                try:
                    self._check(checking)
                finally:
                    checking.close()
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if fresh:
                db.executescript(
                    f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
                    f"BEGIN; {SCHEMA} COMMIT;"
                )
            (version,) = db.execute("PRAGMA user_version").fetchone()
            while version in MIGRATIONS:  # a store an earlier rabbitsim wrote
                db.executescript(f"BEGIN; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;")
                version += 1
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            row = db.execute("SELECT value FROM meta WHERE key = 'clean'").fetchone()
            #: the last run did not stop cleanly (a crash): RabbitMQ then marks every recovered
            #: classic copy redelivered
            self.crashed = row is not None and row[0] != "1"
            db.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path} is not a usable rabbitsim store: {error}") from error
        return db

    def _check(self, db: sqlite3.Connection) -> None:
        (application,) = db.execute("PRAGMA application_id").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if application != APPLICATION_ID:
            raise StoreError(f"{self.path} is an SQLite database, but not a rabbitsim store")
        if version != SCHEMA_VERSION and version not in MIGRATIONS:
            raise StoreError(
                f"{self.path} was written by another rabbitsim (store version {version}; this one "
                f"reads {SCHEMA_VERSION})"
            )
        (result,) = db.execute("PRAGMA quick_check").fetchone()
        if result != "ok":
            raise StoreError(f"{self.path} is damaged: {result}")

    # --- start: everything back into the core -------------------------------------------------

    def load(self, broker: Broker) -> None:
        """Rebuild `broker` (a fresh one) from the store, and make it say what to keep from now on."""
        broker.keeping = True
        self.broker = broker
        db = self.db
        settings = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        if settings is not None:  # users, vhosts, permissions, policies, limits
            broker.restore_settings(json.loads(settings[0]))
        for (name,) in db.execute("SELECT name FROM vhosts"):
            broker.add_vhost(name)
        for vhost, name, kind, durable, auto_delete, internal, arguments in db.execute(
            "SELECT vhost, name, type, durable, auto_delete, internal, arguments FROM exchanges"
        ):
            core.recover_exchange(
                broker.add_vhost(vhost),
                name,
                kind,
                durable=bool(durable),
                auto_delete=bool(auto_delete),
                internal=bool(internal),
                arguments=_untable(arguments),
            )
        queues = {}
        for vhost, name, auto_delete, arguments in db.execute(
            "SELECT vhost, name, auto_delete, arguments FROM queues"
        ):
            queues[vhost, name] = core.recover_queue(
                broker.add_vhost(vhost), name, auto_delete=bool(auto_delete), arguments=_untable(arguments)
            )
        for vhost, source, destination, to_queue, key, arguments in db.execute(
            "SELECT vhost, source, destination, to_queue, routing_key, arguments FROM bindings"
        ):
            core.recover_binding(
                broker.add_vhost(vhost), source, destination, bool(to_queue), key, _untable(arguments)
            )
        messages: dict[int, Message] = {}
        for number, exchange, key, header, headers, body, deaths in db.execute(
            "SELECT id, exchange, routing_key, header, headers, body, deaths FROM messages"
        ):
            messages[number] = core.recover_message(
                broker,
                number,
                exchange,
                key,
                _properties(header, headers),
                body,
                None if deaths is None else json.loads(deaths),
            )
        copies: dict[tuple[str, str], list[core.StoredCopy]] = {}
        for vhost, queue, seq, number, delivered, out, count, acquired, expires, written in db.execute(
            "SELECT vhost, queue, seq, message, delivered, out, delivery_count, acquired, expires, written "
            "FROM copies ORDER BY vhost, queue, seq"
        ):
            if (vhost, queue) in queues and number in messages:
                stored = core.StoredCopy(
                    seq, messages[number], bool(delivered), bool(out), count, acquired, expires, written
                )
                copies.setdefault((vhost, queue), []).append(stored)
        for key, found in copies.items():
            core.recover_copies(queues[key], found, crashed=self.crashed)
        for queue in queues.values():
            core.recovered(queue)
        for vhost in broker.vhosts.values():
            broker.apply_policies(vhost)

    # --- running: intents in, group commits out -----------------------------------------------

    def take(self, intent: core.Intent) -> None:
        self._pending.append(intent)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def commit(self) -> bool:
        """Write everything taken since the last commit in one transaction; False when it
        could not (a full disk: `failure` says why), and nothing is lost: the intents stay,
        for the next commit."""
        if not self._pending:
            return True
        try:
            self._commit()
        except sqlite3.Error as error:
            self.failure = error
            if self.broker is not None and (error.sqlite_errorcode & 0xFF) in DISK_FULL:
                self.broker.alarms.disk_full()  # as RabbitMQ would have by now: publishers block
            return False
        self.failure = None
        return True

    def _commit(self) -> None:
        plan = _Plan(self)
        for intent in self._pending:
            plan.add(intent)
        db = self.db
        try:
            db.execute("BEGIN")
            plan.write(db)
            db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        plan.settle()
        self._pending.clear()

    def close(self) -> None:
        """Write what is pending, say the stop was clean, and close the database."""
        try:
            if self._pending:
                self._commit()
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")
        finally:
            self.db.close()

    def abandon(self) -> None:
        """Close without writing what is pending, as a crash would leave the directory."""
        self._pending.clear()
        self.db.close()


class _Plan:
    """One commit's writes, worked out from its intents in order: topology changes as they came,
    then the copies still wanted at the end (a copy kept and forgotten within the batch is never
    written), the marks, and the forgotten ones."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.steps: list[tuple[str, tuple[Any, ...]]] = []
        self.new: dict[CopyKey, tuple[Message, Any, Any]] = {}  # kept in this batch: message, entry, queue
        self.marked: dict[CopyKey, tuple[Any, bool]] = {}  # entry, and whether it is out
        self.gone: list[CopyKey] = []
        self.dropped_queues: list[tuple[str, str]] = []
        self.refs: dict[int, int] = {}  # message id -> change in its count of stored copies

    def add(self, intent: core.Intent) -> None:
        match intent:
            case core.KeepCopy(queue, entry):
                key = (queue.vhost_name, queue.name, entry.seq)
                self.new[key] = (entry.message, entry, queue)
                self._count(entry.message.id, 1)
            case core.DeliveredCopy(queue, entry):
                if not queue.deleted:
                    self.marked[(queue.vhost_name, queue.name, entry.seq)] = (entry, True)
            case core.ReturnedCopy(queue, entry):
                if not queue.deleted:
                    self.marked[(queue.vhost_name, queue.name, entry.seq)] = (entry, False)
            case core.ForgetCopy(queue, entry):
                if queue.deleted:
                    return
                key = (queue.vhost_name, queue.name, entry.seq)
                self.marked.pop(key, None)
                if self.new.pop(key, None) is None:
                    self.gone.append(key)
                self._count(entry.message.id, -1)
            case core.KeepSettings(settings):
                self.steps.append(
                    ("INSERT OR REPLACE INTO meta VALUES ('settings', ?)", (json.dumps(settings),))
                )
                self.steps.append(("DELETE FROM vhosts", ()))
                self.steps.extend(("INSERT INTO vhosts VALUES (?)", (v["name"],)) for v in settings["vhosts"])
            case core.KeepExchange(exchange):
                self.steps.append(
                    (
                        "INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            exchange.vhost_name,
                            exchange.name,
                            exchange.type,
                            exchange.durable,
                            exchange.auto_delete,
                            exchange.internal,
                            _table(exchange.arguments),
                        ),
                    )
                )
                self.steps.append(("INSERT OR IGNORE INTO vhosts VALUES (?)", (exchange.vhost_name,)))
            case core.ForgetExchange(vhost, name):
                self.steps.append(("DELETE FROM exchanges WHERE vhost = ? AND name = ?", (vhost, name)))
            case core.KeepQueue(queue):
                self.steps.append(
                    (
                        "INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?)",
                        (queue.vhost_name, queue.name, queue.auto_delete, _table(queue.arguments)),
                    )
                )
                self.steps.append(("INSERT OR IGNORE INTO vhosts VALUES (?)", (queue.vhost_name,)))
            case core.ForgetQueue(vhost, name):
                for key in [key for key in self.new if key[:2] == (vhost, name)]:
                    message, _entry, _queue = self.new.pop(key)
                    self._count(message.id, -1)
                    self.marked.pop(key, None)
                self.gone = [key for key in self.gone if key[:2] != (vhost, name)]
                self.steps.append(("DROP QUEUE", (vhost, name)))
                self.steps.append(("DELETE FROM queues WHERE vhost = ? AND name = ?", (vhost, name)))
            case core.KeepBinding(vhost, binding) | core.ForgetBinding(vhost, binding):
                destination = binding.destination
                row = (
                    vhost,
                    binding.source.name,
                    destination.name,
                    not isinstance(destination, Exchange),
                    binding.routing_key,
                    _table(binding.arguments),
                )
                if isinstance(intent, core.KeepBinding):
                    self.steps.append(("INSERT OR IGNORE INTO bindings VALUES (?, ?, ?, ?, ?, ?)", row))
                else:
                    self.steps.append(
                        (
                            "DELETE FROM bindings WHERE vhost = ? AND source = ? AND destination = ? "
                            "AND to_queue = ? AND routing_key = ? AND arguments = ?",
                            row,
                        )
                    )

    def _count(self, number: int, change: int) -> None:
        self.refs[number] = self.refs.get(number, 0) + change

    def write(self, db: sqlite3.Connection) -> None:
        for statement, values in self.steps:
            if statement == "DROP QUEUE":
                for (message,) in db.execute(
                    "SELECT message FROM copies WHERE vhost = ? AND queue = ?", values
                ).fetchall():
                    self._count(message, -1)
                db.execute("DELETE FROM copies WHERE vhost = ? AND queue = ?", values)
            else:
                db.execute(statement, values)
        written = self.store._written
        fresh: dict[int, Message] = {}
        for message, _entry, _queue in self.new.values():
            if message.id not in written:
                fresh[message.id] = message
        rows = []
        for number, m in fresh.items():
            try:
                rows.append((number, m.exchange, m.routing_key, *_header(m), m.body, _deaths(m)))
            except (ValueError, TypeError, OverflowError, struct.error):
                # a value no table encoding holds: the message is served, not kept (its copies
                # are skipped at load); never a reason to stop writing everything else
                self.store.unstorable += 1
        db.executemany("INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        marked = self.marked
        db.executemany(
            "INSERT OR REPLACE INTO copies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    *key,
                    message.id,
                    key in marked or entry.redelivered,
                    marked.get(key, (entry, False))[1],
                    entry.delivery_count,
                    getattr(entry, "acquired", 0),
                    core.expiry_of(queue, entry),
                    getattr(entry, "timestamp", None),  # a stream's record
                )
                for key, (message, entry, queue) in self.new.items()
            ),
        )
        db.executemany(
            "UPDATE copies SET delivered = 1, out = ?, delivery_count = ?, acquired = ? "
            "WHERE vhost = ? AND queue = ? AND seq = ?",
            (
                (out, entry.delivery_count, getattr(entry, "acquired", 0), *key)
                for key, (entry, out) in marked.items()
                if key not in self.new
            ),
        )
        db.executemany("DELETE FROM copies WHERE vhost = ? AND queue = ? AND seq = ?", self.gone)
        stored = self.store._refs
        self.unreferenced = [
            number for number, change in self.refs.items() if stored.get(number, 0) + change <= 0
        ]
        db.executemany(
            "DELETE FROM messages WHERE id = ?",
            ((number,) for number in self.unreferenced if number in written),
        )
        self.fresh = fresh

    def settle(self) -> None:
        """After the commit: the store's view of what is written."""
        store = self.store
        store._written.update(self.fresh)
        refs = store._refs
        for number, change in self.refs.items():
            refs[number] = refs.get(number, 0) + change
        for number in self.unreferenced:
            refs.pop(number, None)
            store._written.discard(number)


def _deaths(message: Message) -> str | None:
    """A 4.x dead letter's history, which lives in the broker, not in its headers."""
    history = core.deaths_of(message)
    return None if history is None else json.dumps(history)


def stored_rows(store: Store, table: str) -> Iterable[tuple[Any, ...]]:
    """Every row of one table, for tests and `rabbitsim` tooling that look inside."""
    if table not in {"vhosts", "exchanges", "queues", "bindings", "messages", "copies"}:
        raise ValueError(f"no table {table!r}")
    return store.db.execute(f"SELECT * FROM {table}").fetchall()
