"""Retention: old audit rows and finished jobs go; the audit chain still verifies from its checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import audit, retention
from bot.storage.sqlite import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


@pytest.fixture
def store(fresh_store: Store) -> Iterator[Store]:
    s = fresh_store
    s.migrate()
    for i in range(4):
        audit.record(
            s, actor="U0OPS1", action="replicas add", target=f"old {i}", at=OLD + timedelta(minutes=i)
        )
    for i in range(3):
        audit.record(s, actor="U0OPS1", action="status", target=f"new {i}", at=NOW - timedelta(days=1))
    for job_id, status, when in [(1, "done", OLD), (2, "running", OLD), (3, "done", NOW), (4, "failed", OLD)]:
        stamp = when.isoformat()
        with s.transaction() as db:
            db.table("jobs").insert(
                {"id": job_id, "kind": "scale", "status": status, "created_at": stamp, "updated_at": stamp}
            )
            db.table("steps").insert({"job_id": job_id, "idx": 0, "name": "scale", "status": status})
    with s.transaction() as db:  # job 4 still holds a lock: kept
        db.table("locks").insert({"resource": "vmss/Entra", "job_id": 4, "acquired_at": OLD.isoformat()})
    yield s


def job_ids(store: Store) -> list[int]:
    return [int(r["id"]) for r in store.db.query("select id from jobs order by id")]


def test_prune_removes_old_rows_and_finished_jobs_and_the_chain_verifies(store: Store) -> None:
    pruned = retention.prune(store, now=NOW, days=365)
    assert (pruned.audit_rows, pruned.jobs) == (4, 1)
    assert [r["target"] for r in reversed(audit.recent(store))] == [
        "new 0",
        "new 1",
        "new 2",
        "older than 365 days",
    ]
    assert audit.recent(store, 1)[0]["detail"] == {
        "audit_rows": 4,
        "jobs": 1,
        "checkpoint": pruned.checkpoint,
    }
    assert audit.verify(store) == []
    assert job_ids(store) == [2, 3, 4]  # running, recent, holding a lock
    assert [int(r["job_id"]) for r in store.db.query("select job_id from steps order by job_id")] == [2, 3, 4]
    audit.record(store, actor="U0OPS2", action="jobs", at=NOW)  # the chain goes on from the kept rows
    assert audit.verify(store) == []


@pytest.mark.parametrize(
    "tamper",
    [
        "update audit set actor = 'U0EVIL' where id = 5",
        "delete from audit where id = 5",
        "update meta set value = '1:' || substr(value, 3) where key = 'audit_checkpoint'",
    ],
)
def test_the_kept_chain_still_shows_tampering(store: Store, tamper: str) -> None:
    retention.prune(store, now=NOW, days=365)
    store.db.execute(tamper)
    assert audit.verify(store)


def test_nothing_is_pruned_inside_the_window_and_the_newest_row_always_stays(store: Store) -> None:
    assert retention.prune(store, now=NOW, days=500).audit_rows == 0
    assert audit.count(store) == 7 and audit.verify(store) == []
    later = NOW + timedelta(days=3650)
    pruned = retention.prune(store, now=later, days=1)
    assert pruned.audit_rows == 6  # all but the newest, which the next row chains onto
    assert audit.verify(store) == []
    assert store.get_meta(audit.CHECKPOINT, "").endswith(":6")  # rows pruned in all


def test_a_prune_is_due_once_a_day(store: Store) -> None:
    assert retention.due(store, NOW)
    retention.prune(store, now=NOW)
    assert not retention.due(store, NOW + timedelta(hours=23))
    assert retention.due(store, NOW + timedelta(days=1))
