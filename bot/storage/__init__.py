"""Storage: every SQL statement of the bot (jobs, steps, locks, approvals, audit, schedules, capability
tables) and the one ordered list of migrations, on SQLite (the embedded default) or PostgreSQL
(``AVD_DB=postgresql://...``). Imports ``azureops.plan`` and ``commands`` only; no Slack."""

from __future__ import annotations

from pathlib import Path

from bot.storage.store import Store, is_postgres_url

__all__ = ["Store", "is_postgres_url", "open_store"]


def open_store(where: str | Path) -> Store:
    """The store ``AVD_DB`` names: PostgreSQL for a ``postgresql://`` or ``postgres://`` URL (a multi-host one
    follows a promoted standby), else the SQLite file at that path."""
    if is_postgres_url(where):
        from bot.storage.postgres import PgStore

        return PgStore(str(where))
    from bot.storage.sqlite import SqliteStore

    return SqliteStore(where)
