"""PostgreSQL's own part of the store: the dialect it is given, a dropped connection, a promoted standby."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bot.storage import audit, inbox, jobs, open_store
from bot.storage.inbox import NewItem
from bot.storage.migrations import MIGRATIONS
from bot.storage.postgres import WRITE_LOCK, ConnectionLost, PgStore, translate
from bot.storage.sqlite import SqliteStore
from tests.kit.postgres import PgServer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select * from t where a = ? and b in (?, ?)", "select * from t where a = %s and b in (%s, %s)"),
        ("select '?' , 'a%' from t where k like ?", "select '?' , 'a%%' from t where k like %s"),
        ("update t set v = '1:' || substr(v, 3)", "update t set v = '1:' || substr(v, 3)"),
        (
            "create table t (id integer primary key, n integer not null default 0, x real)",
            "create table t (id bigint primary key, n bigint not null default 0, x double precision)",
        ),
        (
            "alter table t add column card_updated_at real",
            "alter table t add column card_updated_at double precision",
        ),
        ("select id from integers where real = ?", "select id from integers where real = %s"),  # not DDL
    ],
)
def test_the_storage_dialect_is_translated(sql: str, expected: str) -> None:
    assert translate(sql) == expected


@pytest.mark.parametrize(
    ("where", "kind"),
    [
        ("avd.db", SqliteStore),
        ("/var/lib/avd/avd.db", SqliteStore),
        ("postgresql://avd@db.example/avd", PgStore),
        ("postgres://avd@db.example/avd", PgStore),
        ("POSTGRESQL://a,b/avd?target_session_attrs=read-write", PgStore),
    ],
)
def test_avd_db_names_the_backend(
    where: str, kind: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if kind is SqliteStore and where.startswith("/"):
        where = str(tmp_path / where.lstrip("/"))
    if kind is PgStore:
        monkeypatch.setattr(PgStore, "__init__", lambda self, url: setattr(self, "url", url))
    store = open_store(where)
    try:
        assert type(store) is kind and store.url == where
    finally:
        if isinstance(store, SqliteStore):
            store.close()


def test_an_id_given_and_an_id_generated_never_collide(pg_url: str) -> None:
    """The audit chain writes its own ids; jobs take generated ones: SQLite's rowid rule on both."""
    store = open_store(pg_url)
    try:
        store.migrate()
        with store.transaction() as db:
            db.table("jobs").insert({"id": 7, "kind": "k", "created_at": "t", "updated_at": "t"})
            assert db.table("jobs").insert({"kind": "k", "created_at": "t", "updated_at": "t"}).last_pk == 8
        assert [r["id"] for r in store.db.query("select id from jobs order by id")] == [7, 8]
    finally:
        store.close()


def backends(store: PgStore, server: PgServer) -> list[int]:
    """The server processes of ``store``'s connections."""
    name = store.url.rsplit("/", 1)[1]
    rows = server.admin(
        f"select pid from pg_stat_activity where datname = '{name}' and pid <> pg_backend_pid()"
        " and backend_type = 'client backend'"
    )
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]


def in_transaction(store: PgStore, server: PgServer) -> list[int]:
    """The server process of ``store``'s open transaction."""
    name = store.url.rsplit("/", 1)[1]
    rows = server.admin(
        f"select pid from pg_stat_activity where datname = '{name}' and state = 'idle in transaction'"
    )
    assert len(rows) == 1
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]


def terminate(server: PgServer, pids: list[int]) -> None:
    for pid in pids:
        server.admin(f"select pg_terminate_backend({pid})")


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PgStore]:
    store = open_store(pg_url)
    assert isinstance(store, PgStore)
    store.migrate()
    try:
        yield store
    finally:
        store.close()


def test_a_dropped_connection_is_retried_on_a_fresh_one(pg_store: PgStore, pg_server: PgServer) -> None:
    audit.record(pg_store, actor="U0OPS1", action="status")
    killed = backends(pg_store, pg_server)
    assert killed
    terminate(pg_server, killed)
    assert audit.count(pg_store) == 1  # a read
    audit.record(pg_store, actor="U0OPS1", action="status")  # a write transaction
    assert audit.count(pg_store) == 2 and audit.verify(pg_store) == []
    assert not set(backends(pg_store, pg_server)) & set(killed)


def test_an_inbox_row_is_written_on_a_fresh_connection_when_the_pooled_ones_dropped(
    pg_store: PgStore, pg_server: PgServer
) -> None:
    """The web process's insert before its ack runs outside a transaction (one round trip): a pooled
    connection that died (a failover kills them all) is replaced and the row written once."""
    (first,) = inbox.record(pg_store, [NewItem("command", {"text": "status"}, user_id="U0OPS1")], NOW)
    killed = backends(pg_store, pg_server)
    terminate(pg_server, killed)
    (second,) = inbox.record(
        pg_store, [NewItem("command", {"text": "help"}, user_id="U0OPS1")], NOW, wake=True
    )
    assert second > first
    assert [r["payload"] for r in pg_store.db.query("select payload from inbox order by id")] == [
        '{"text": "status"}',
        '{"text": "help"}',
    ]
    assert not set(backends(pg_store, pg_server)) & set(killed)


def test_a_transaction_whose_connection_dropped_is_replayed_before_commit(
    pg_store: PgStore, pg_server: PgServer
) -> None:
    with pg_store.transaction() as db:
        assert db.execute("select count(*) from meta").fetchone()[0] == 0
        db.table("meta").insert({"key": "a", "value": "1"})
        terminate(pg_server, in_transaction(pg_store, pg_server))
        db.table("meta").insert({"key": "b", "value": "2"})
    assert {r["key"] for r in pg_store.db.query("select key from meta")} == {"a", "b"}


def test_a_replay_that_would_see_other_rows_is_refused(pg_store: PgStore, pg_server: PgServer) -> None:
    """Once the connection is gone its lock is too: a writer that came in between changes what the
    transaction read, so going on would act on rows the caller never saw."""
    name = pg_store.url.rsplit("/", 1)[1]
    with pytest.raises(ConnectionLost, match="could not be replayed"), pg_store.transaction() as db:
        assert db.execute("select count(*) from meta").fetchone()[0] == 0
        terminate(pg_server, in_transaction(pg_store, pg_server))
        pg_server.admin("insert into meta (key, value) values ('other', 'x')", database=name)
        db.table("meta").insert({"key": "mine", "value": "1"})
    assert [r["key"] for r in pg_store.db.query("select key from meta")] == ["other"]


def test_an_inbox_row_commits_while_a_job_write_holds_the_writer_lock(
    pg_store: PgStore, pg_url: str, pg_server: PgServer
) -> None:
    """The web role's ack waits for its inbox row's commit: on PostgreSQL that takes the inbox's own lock, so a
    worker's open write transaction (which holds the one writer lock, through its fsync and the standby's)
    does not hold up the acks. The inbox row then commits before the job write does, and both land."""
    worker = open_store(pg_url)
    holding, release = threading.Event(), threading.Event()

    def job_write() -> None:
        with worker.transaction() as db:
            db.table("meta").insert({"key": "job", "value": "1"})
            holding.set()
            release.wait(60)

    writer = threading.Thread(target=job_write)
    writer.start()
    try:
        assert holding.wait(60)
        ids = inbox.record(pg_store, [NewItem("command", {"text": "status"}, user_id="U0OPS1")], NOW)
        row = inbox.get(pg_store, ids[0])  # committed: another connection reads it
        assert row is not None and row.kind == "command" and row.claimed_by is None
        assert not list(pg_store.db.query("select key from meta where key = 'job'"))  # still uncommitted
        name = pg_url.rsplit("/", 1)[1]  # and the job write still holds the one writer lock
        assert pg_server.admin(f"select pg_try_advisory_xact_lock({WRITE_LOCK})", database=name) == [(False,)]
    finally:
        release.set()
        writer.join(60)
        worker.close()
    assert [r["key"] for r in pg_store.db.query("select key from meta where key = 'job'")] == ["job"]


def test_concurrent_inbox_rows_commit_at_once_with_ids_of_their_own(pg_store: PgStore) -> None:
    """Non-exclusive inserts from many threads (the web role's pool on PostgreSQL): the sequence gives every
    row its own id where the rowid trigger's ``max(id) + 1`` would have given two of them the same."""
    items = [NewItem("command", {"n": n}, user_id="U0OPS1") for n in range(200)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = [i for got in pool.map(lambda item: inbox.record(pg_store, [item], NOW), items) for i in got]
    assert len(set(ids)) == 200
    rows = list(pg_store.db.query("select id, payload from inbox"))
    assert sorted(r["id"] for r in rows) == sorted(ids)
    later = inbox.record(pg_store, [NewItem("command", {"n": 200}, user_id="U0OPS1")], NOW)
    assert later[0] > max(ids)


def test_inbox_rows_written_before_the_sequence_keep_their_ids_and_new_ones_follow(pg_url: str) -> None:
    """An install upgraded with rows in its inbox: ``roles_0002_inbox_ids`` starts the sequence after them."""
    store = open_store(pg_url)
    try:
        names = [name for name, _fn in MIGRATIONS]
        store.migrate(MIGRATIONS[: names.index("roles_0002_inbox_ids")])
        with store.transaction() as db:  # rows as that version wrote them (no request key yet)
            old = [
                db.execute(
                    "insert into inbox (kind, payload, user_id, created_at) values (?, ?, ?, ?) returning id",
                    ["command", f'{{"n": {n}}}', "U0OPS1", NOW.isoformat()],
                ).fetchone()[0]
                for n in range(3)
            ]
        assert store.migrate() == names[names.index("roles_0002_inbox_ids") :]
        new = inbox.record(store, [NewItem("command", {"n": 3}, user_id="U0OPS1")], NOW)
        assert old == [1, 2, 3] and new == [4]
        assert [got.payload for i in old + new if (got := inbox.get(store, i))] == [
            {"n": n} for n in range(4)
        ]
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_stores_on_one_database_move_a_job_once_and_keep_one_audit_chain(fresh_store: object) -> None:
    """Two processes on one database (two stores, two pools): the compare-and-set and the chain hold."""
    from bot.storage import Store

    assert isinstance(fresh_store, Store)
    fresh_store.migrate()
    other = open_store(fresh_store.url)
    try:
        with fresh_store.transaction() as db:
            job_id = int(
                db.table("jobs")
                .insert({"kind": "k", "status": jobs.QUEUED, "created_at": "t", "updated_at": "t"})
                .last_pk
            )
        wins: list[bool] = []
        barrier = threading.Barrier(8)

        def race(store: Store, n: int) -> None:
            barrier.wait()
            wins.append(jobs.transition(store, job_id, jobs.QUEUED, jobs.RUNNING, NOW))
            for i in range(5):
                audit.record(store, actor=f"U{n}", action="x", detail={"i": i})

        threads = [threading.Thread(target=race, args=(s, n)) for n, s in enumerate([fresh_store, other] * 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False] * 7 + [True]
        assert audit.count(fresh_store) == 40 and audit.verify(other) == []
    finally:
        other.close()


def test_a_multi_host_url_follows_a_promoted_standby(tmp_path: Path) -> None:
    """Primary and streaming standby; the primary is lost and the standby promoted: the same store goes on
    writing, on the new primary, without a restart."""
    with PgServer.started() as primary:
        primary.create_database("avd")
        standby = primary.standby(Path(tempfile_dir(primary)))
        try:
            url = (
                f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/avd"
                "?target_session_attrs=read-write"
            )
            store = open_store(url)
            try:
                store.migrate()
                audit.record(store, actor="U0OPS1", action="failover start")
                primary.stop()
                promote = threading.Timer(1.0, standby.promote)
                promote.start()
                started = time.monotonic()
                audit.record(store, actor="U0OPS1", action="failover done")  # waits for the promotion
                promote.join()
                assert time.monotonic() - started < 15
                assert audit.count(store) == 2 and audit.verify(store) == []
                port = store.db.execute("select current_setting('port')").fetchone()[0]
                assert int(port) == standby.port
            finally:
                store.close()
        finally:
            standby.stop()


def tempfile_dir(server: PgServer) -> str:
    """A folder beside ``server``'s (inside its temporary root, removed with it)."""
    path = server.root / "standby"
    path.mkdir()
    return str(path)


def test_health_is_one_quick_try_when_the_server_is_gone(tmp_path: Path) -> None:
    with PgServer.started() as server:
        store = open_store(server.url())
        try:
            assert store.healthy()
            server.stop()
            started = time.monotonic()
            assert not store.healthy()
            assert time.monotonic() - started < 5
        finally:
            store.close()


def test_a_database_down_past_the_retries_fails_the_operation_and_the_store_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the bound the operation raises (the caller reports it) and the store is not broken: once the
    server is back, the next operation works on new connections."""

    from bot.storage import postgres

    monkeypatch.setattr(postgres, "RETRY_SECONDS", 1.0)
    monkeypatch.setattr(postgres, "POOL_WAIT", 0.5)
    with PgServer.started() as server:
        store = open_store(server.create_database("avd"))
        try:
            store.migrate()
            audit.record(store, actor="U0OPS1", action="before")
            server.stop()
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                audit.record(store, actor="U0OPS1", action="while down")
            with pytest.raises(psycopg.OperationalError):
                audit.count(store)
            assert time.monotonic() - started < 10
            server.start()
            audit.record(store, actor="U0OPS1", action="after")
            assert [r["action"] for r in audit.recent(store)] == ["after", "before"]
            assert audit.verify(store) == []
        finally:
            store.close()
