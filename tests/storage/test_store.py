"""The store: WAL, named migrations recorded once, transactions across threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.storage.migrations import MIGRATIONS
from bot.storage.sqlite import BUSY_TIMEOUT_MS, SqliteStore, Store


@pytest.fixture
def store(fresh_store: Store) -> Store:
    return fresh_store


def test_migrate_creates_the_engine_tables_once(store: Store) -> None:
    applied = store.migrate()
    assert "0001_core" in applied
    assert store.migrate() == []
    tables = set(store.db.table_names())
    assert {"audit", "jobs", "steps", "approvals", "meta", "migrations"} <= tables
    assert set(store.db["jobs"].columns_dict) >= {
        "id",
        "kind",
        "op_json",
        "status",
        "requested_by",
        "channel",
        "card_ts",
        "plan_hash",
        "created_at",
        "updated_at",
        "error",
    }
    assert set(store.db["steps"].columns_dict) >= {
        "job_id",
        "idx",
        "name",
        "status",
        "started_at",
        "finished_at",
        "output",
        "error",
        "continuation_token",
    }
    assert set(store.db["approvals"].columns_dict) >= {
        "id",
        "job_id",
        "requester",
        "status",
        "expires_at",
        "decided_by",
        "decided_at",
        "channel",
        "message_ts",
        "plan_hash",
    }


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "avd.db")
    assert isinstance(store, SqliteStore)
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("pragma busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    store.close()


def test_migrations_apply_in_order_and_are_recorded(store: Store) -> None:
    store.migrate()
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]

    def add_widgets(db: Database) -> None:
        db.execute("create table widgets (id integer primary key)")

    assert store.migrate((*MIGRATIONS, ("0100_widgets", add_widgets))) == ["0100_widgets"]
    assert store.applied_migrations()[-1] == "0100_widgets"
    assert store.migrate((*MIGRATIONS, ("0100_widgets", add_widgets))) == []


def test_migration_names_are_unique() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert len(names) == len(set(names))


def test_a_failing_migration_leaves_nothing_behind(store: Store) -> None:
    def broken(db: Database) -> None:
        db.execute("create table half (id integer)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.migrate((*MIGRATIONS, ("0200_broken", broken)))
    assert "half" not in store.db.table_names()
    assert "0200_broken" not in store.applied_migrations()


def test_threads_get_their_own_connections(store: Store) -> None:
    store.migrate()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                with store.transaction() as db:
                    db["meta"].upsert({"key": f"k{n}-{i}", "value": str(i)}, pk="key")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.db["meta"].count == 120


def test_meta_round_trip(store: Store) -> None:
    store.migrate()
    assert store.get_meta("x") is None
    store.set_meta("x", "1")
    assert store.get_meta("x") == "1"
