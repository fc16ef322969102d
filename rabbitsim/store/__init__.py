"""Durable state on disk: the core's store intents written to SQLite in group commits, and read
back into a fresh core when a broker starts from its data directory."""

from ._store import FILENAME, Store, StoreError, stored_rows

__all__ = ["FILENAME", "Store", "StoreError", "stored_rows"]
