"""The bot's SQLite store, the embedded default: one file (WAL), a connection per thread, named migrations.

Migrations are recorded by name in the ``migrations`` table (like sqlite-utils' own ``migrations``
plugin) and applied in the order of the one list, ``bot.storage.migrations.MIGRATIONS``, by
``Store.migrate()`` (``bot.storage.store``). SQLite specifics (WAL, per-thread connections,
``BEGIN IMMEDIATE``) stay here. ``Store`` is this class too: the name callers constructed before there were
two backends (``bot.storage.open_store`` picks one from ``AVD_DB``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from bot.storage.store import Store as StoreBase
from bot.storage.store import utcnow_iso

__all__ = ["BUSY_TIMEOUT_MS", "SqliteStore", "Store", "utcnow_iso"]

BUSY_TIMEOUT_MS = 5000


class SqliteStore(StoreBase):
    """SQLite through sqlite-utils. ``store.db`` is this thread's connection."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = self.url = str(path)
        self._local = threading.local()
        self._conns: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._connect_locked().execute("PRAGMA journal_mode=WAL")

    @property
    def db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("store is closed")
                db = Database(self._connect_locked(), execute_plugins=False)
            self._local.db = db
        return db

    def _connect_locked(self) -> sqlite3.Connection:
        self._prune_locked()
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        self._conns[id(conn)] = (threading.current_thread(), conn)
        return conn

    def _prune_locked(self) -> None:
        """Close the connections of threads that have ended (thread-per-request servers)."""
        for key, (thread, conn) in list(self._conns.items()):
            if not thread.is_alive():
                conn.close()
                del self._conns[key]

    @contextmanager
    def transaction(self, exclusive: bool = True) -> Iterator[Database]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``: a write transaction serialized across threads and processes
        (SQLite's one writer lock, ``exclusive`` or not)."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    def unreachable(self, error: BaseException) -> bool:
        """``Store.unreachable``: the file locked or busy past ``BUSY_TIMEOUT_MS``."""
        text = str(error).lower()
        return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    def healthy(self) -> bool:
        try:
            self.db.execute("select 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Close this thread's connection and those of ended threads. A connection of another live thread is
        not closed under it: that thread may be inside a statement (a job thread still running while the bot
        stops), and sqlite3 frees the handle its cursor is using (the interpreter crashes). Dropping the
        thread-local makes its next ``db`` raise "store is closed"; the connection closes once nothing uses it."""
        me = threading.current_thread()
        with self._lock:
            self._closed = True
            for thread, conn in self._conns.values():
                if thread is me or not thread.is_alive():
                    conn.close()
            self._conns.clear()
        self._local = threading.local()


Store = SqliteStore
