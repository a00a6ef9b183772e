"""The bot's SQLite store: one file (WAL), a connection per thread, named migrations.

Migrations are recorded by name in the ``migrations`` table (like sqlite-utils' own ``migrations``
plugin) and applied in the order of the one list, ``bot.storage.migrations.MIGRATIONS``, by
``Store.migrate()``. SQLite specifics (WAL, per-thread connections, ``BEGIN IMMEDIATE``) stay here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from bot.storage.migrations import MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 5000


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """SQLite through sqlite-utils. ``store.db`` is this thread's connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
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
    def transaction(self) -> Iterator[Database]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``: a write transaction serialized across threads and processes."""
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

    def applied_migrations(self) -> list[str]:
        if not self.db["migrations"].exists():
            return []
        return [r["name"] for r in self.db.query("select name from migrations order by id")]

    def migrate(self, migrations: Sequence[tuple[str, Migration]] | None = None) -> list[str]:
        """Apply every migration of ``migrations`` (default: ``MIGRATIONS``) not yet recorded, in order;
        returns the names applied."""
        migrations = MIGRATIONS if migrations is None else migrations
        applied: list[str] = []
        with self.transaction() as db:
            db.execute(
                "create table if not exists migrations (id integer primary key, name text unique not null,"
                " applied_at text not null)"
            )
            done = set(self.applied_migrations())
            for name, fn in migrations:
                if name in done:
                    continue
                fn(db)
                db.table("migrations").insert({"name": name, "applied_at": utcnow_iso()})
                applied.append(name)
        return applied

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.table("meta").upsert({"key": key, "value": value}, pk="key")

    def healthy(self) -> bool:
        try:
            self.db.execute("select 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _thread, conn in self._conns.values():
                conn.close()
            self._conns.clear()
        self._local = threading.local()
