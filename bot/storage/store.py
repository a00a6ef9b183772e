"""The store's one surface, whichever database is behind it (``SqliteStore``, ``PgStore``);
``bot.storage.open_store(AVD_DB)`` opens SQLite for a path and PostgreSQL for a ``postgresql://`` (or
``postgres://``) URL.

The storage modules write one SQL dialect (what SQLite and PostgreSQL both run: ``?`` placeholders,
``insert ... on conflict``, ISO-8601 text for times) against ``Db``: ``execute(sql, params)`` (rows as tuples,
``rowcount``), ``query(sql, params)`` (rows as dicts), ``table(name).insert/insert_all/upsert`` (``last_pk``)
and ``table_names()``. ``Store.transaction()`` is a write transaction serialized with every other writer of the
database (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``BEGIN`` and one advisory lock), so the compare-and-set
writes of ``bot.storage.jobs`` hold across threads and processes. Migrations are recorded by name in the
``migrations`` table on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.storage.db import Db
from bot.storage.migrations import MIGRATIONS, Migration

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: str | Path) -> bool:
    """True for a PostgreSQL connection URL (``AVD_DB=postgresql://...``); anything else is a SQLite path."""
    return isinstance(value, str) and value.lower().startswith(POSTGRES_SCHEMES)


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """The bot's database, as every caller sees it (``SqliteStore`` and ``PgStore`` are the two): ``db`` (this
    thread's ``Db``), ``transaction()``, ``migrate()``, meta, ``healthy()``, ``close()``; ``url`` is what it
    was opened with."""

    backend = ""
    url = ""

    @property
    def db(self) -> Db:
        raise NotImplementedError

    def transaction(self, exclusive: bool = True) -> AbstractContextManager[Db]:
        """A write transaction, serialized with every other writer. ``exclusive=False`` (PostgreSQL; SQLite has
        one writer whatever is asked) takes no turn: only for a transaction that inserts rows whose ids come from
        a sequence and that no other writer reads-then-writes with (the web role's inbox rows,
        ``bot.storage.inbox.record``), so an ack waiting for its row's commit waits for no job write."""
        raise NotImplementedError

    def write_once(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """One write statement as a transaction of its own; its rows, once committed.
        The statement must be safe to send twice (an insert keyed to ignore its own repeat): PostgreSQL runs it
        on an autocommit connection, one round trip instead of BEGIN, the statement and COMMIT, and sends it
        again on a fresh connection if the first one was lost with the outcome unknown."""
        with self.transaction(exclusive=False) as db:
            return list(db.execute(sql, list(params)).fetchall())

    def unreachable(self, error: BaseException) -> bool:
        """Whether ``error`` says this database could not be reached or was busy past the retries (not a
        statement's own fault): work that stopped on it may run again once the database is back."""
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def applied_migrations(self) -> list[str]:
        if "migrations" not in self.db.table_names():
            return []
        return [r["name"] for r in self.db.query("select name from migrations order by id")]

    def migrate(self, migrations: Sequence[tuple[str, Migration]] | None = None) -> list[str]:
        """Apply every migration of ``migrations`` (default: ``MIGRATIONS``) not yet recorded, in order, in one
        transaction; returns the names applied."""
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
