"""The bot's SQLite store: one file (WAL), a connection per thread, named migrations.

Migrations are recorded by name in the ``migrations`` table (like sqlite-utils' own
``migrations`` plugin) and applied in registration order by ``Store.migrate()``. The job
engine adds its own with ``register_migration(name, fn)``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

Migration = Callable[[Database], None]
_MIGRATIONS: list[tuple[str, Migration]] = []
BUSY_TIMEOUT_MS = 5000


def register_migration(name: str, fn: Migration) -> None:
    """Add a named schema step; ``Store.migrate()`` applies it once, in registration order."""
    if any(existing == name for existing, _ in _MIGRATIONS):
        raise ValueError(f"migration {name!r} is already registered")
    _MIGRATIONS.append((name, fn))


def migration(name: str) -> Callable[[Migration], Migration]:
    """Decorator form of ``register_migration``."""

    def wrap(fn: Migration) -> Migration:
        register_migration(name, fn)
        return fn

    return wrap


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
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
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

    def migrate(self) -> list[str]:
        """Apply every registered migration not yet recorded; returns the names applied."""
        applied: list[str] = []
        with self.transaction() as db:
            db.execute(
                "create table if not exists migrations (id integer primary key, name text unique not null,"
                " applied_at text not null)"
            )
            done = set(self.applied_migrations())
            for name, fn in _MIGRATIONS:
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


@migration("0001_core")
def _core(db: Database) -> None:
    db.execute("create table meta (key text primary key, value text)")
    db.execute(
        """create table audit (
            id integer primary key, at text not null, actor text not null, action text not null,
            target text not null default '', detail text not null default '{}', outcome text not null default '',
            prev_hash text not null, hash text not null)"""
    )
    db.execute(
        """create table jobs (
            id integer primary key, kind text not null, op_json text not null default '{}',
            status text not null default 'pending', requested_by text not null default '',
            channel text not null default '', card_ts text, plan_hash text,
            created_at text not null, updated_at text not null, error text)"""
    )
    db.execute("create index jobs_status on jobs(status)")
    db.execute(
        """create table steps (
            job_id integer not null references jobs(id), idx integer not null, name text not null,
            status text not null default 'pending', started_at text, finished_at text, output text,
            error text, continuation_token text, primary key (job_id, idx))"""
    )
    db.execute(
        """create table approvals (
            id text primary key, job_id integer references jobs(id), requester text not null,
            status text not null default 'pending', expires_at text not null, decided_by text,
            decided_at text, channel text not null default '', message_ts text, plan_hash text)"""
    )
    db.execute("create index approvals_status on approvals(status)")
