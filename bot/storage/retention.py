"""Retention: audit rows, finished jobs and their steps older than ``days`` are deleted, and the audit chain
still verifies.

The audit chain can only lose its oldest rows (a prefix: rows ``1..k``). Before they go, the last pruned
row's id and hash are kept in ``meta`` as ``audit_checkpoint`` (``k:hash``, with how many rows were pruned in
all), and ``bot.storage.audit.verify`` starts its walk there instead of at the genesis hash: the first kept
row must name that hash as its ``prev_hash``, so deleting or editing a kept row still shows. Each prune also
appends an audit row (``retention pruned``) with the checkpoint, so the trail says what it no longer holds.

Jobs are pruned only when finished (done, failed, cancelled, rejected, expired), last updated before the
cut-off and holding no lock; their steps and approvals go with them. The default, ``DEFAULT_DAYS`` (365),
keeps a year of postmortem material; ``AVD_RETENTION_DAYS`` changes it. The engine's sweep runs ``prune``
at most once every ``EVERY`` (a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.storage import audit
from bot.storage.jobs import TERMINAL
from bot.storage.store import Store

DEFAULT_DAYS = 365
EVERY = timedelta(days=1)
LAST_RUN = "retention_last_run"


@dataclass(frozen=True)
class Pruned:
    """What one prune deleted."""

    audit_rows: int
    jobs: int
    checkpoint: str | None  # ``id:hash`` of the newest pruned audit row


def prune(store: Store, *, now: datetime, days: int = DEFAULT_DAYS) -> Pruned:
    """Delete what is older than ``days`` before ``now``; record the audit checkpoint and one audit row."""
    cutoff = (now - timedelta(days=days)).isoformat(timespec="milliseconds")
    mark: str | None = None
    with store.transaction() as db:
        # Only a prefix of the chain goes, and never its newest row (new rows chain onto it).
        first_kept = db.execute("select min(id) from audit where at >= ?", [cutoff]).fetchone()[0]
        newest = db.execute("select max(id) from audit").fetchone()[0] or 0
        last_pruned = min(first_kept - 1 if first_kept is not None else newest, newest - 1)
        row = db.execute("select id, hash from audit where id = ?", [last_pruned]).fetchone()
        pruned_rows = 0
        if row is not None:
            pruned_rows = int(
                db.execute("select count(*) from audit where id <= ?", [last_pruned]).fetchone()[0]
            )
            before = _previous_total(store.get_meta(audit.CHECKPOINT))
            mark = f"{row[0]}:{row[1]}"
            db.execute("delete from audit where id <= ?", [last_pruned])
            db.table("meta").upsert(
                {"key": audit.CHECKPOINT, "value": f"{mark}:{before + pruned_rows}"}, pk="key"
            )
        old_jobs = [
            int(r[0])
            for r in db.execute(
                f"select id from jobs where status in ({_marks(TERMINAL)}) and updated_at < ? "
                "and id not in (select job_id from locks)",
                [*TERMINAL, cutoff],
            ).fetchall()
        ]
        if old_jobs:
            for table in ("steps", "approvals"):
                db.execute(f"delete from {table} where job_id in ({_marks(old_jobs)})", old_jobs)
            db.execute(f"delete from jobs where id in ({_marks(old_jobs)})", old_jobs)
        db.table("meta").upsert({"key": LAST_RUN, "value": now.isoformat()}, pk="key")
    if pruned_rows or old_jobs:
        audit.record(
            store,
            actor="avd-ops",
            action="retention pruned",
            target=f"older than {days} days",
            detail={"audit_rows": pruned_rows, "jobs": len(old_jobs), "checkpoint": mark or ""},
            at=now,
        )
    return Pruned(audit_rows=pruned_rows, jobs=len(old_jobs), checkpoint=mark)


def due(store: Store, now: datetime) -> bool:
    """Whether a prune is due (none yet, or the last one was ``EVERY`` ago)."""
    last = store.get_meta(LAST_RUN)
    return last is None or now - datetime.fromisoformat(last) >= EVERY


def _previous_total(value: str | None) -> int:
    """How many audit rows earlier prunes removed (the third part of the checkpoint)."""
    parts = (value or "").split(":")
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0


def _marks(values: Any) -> str:
    return ",".join("?" * len(values))
