"""Approval rows: one per request for a second person's decision, bound to a plan hash, expiring.

Every decision is a compare-and-set (``status = 'pending'`` in the ``where``), so double clicks and two
approvers move an approval exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azureops.plan import Plan
from bot.storage import jobs
from bot.storage.jobs import iso
from bot.storage.store import Store


def insert(store: Store, row: dict[str, Any]) -> None:
    with store.transaction() as db:
        db.table("approvals").insert(row)


def get(store: Store, approval_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("select * from approvals where id = ?", [approval_id]))
    return rows[0] if rows else None


def for_card(store: Store, job_id: int, ts: str | None) -> dict[str, Any] | None:
    """The approval a job's card shows: the one bound to that message, else the newest."""
    rows = list(
        store.db.query(
            "select * from approvals where job_id = ?"
            " order by case when message_ts = ? then 1 else 0 end desc, created_at desc limit 1",
            [job_id, ts or ""],
        )
    )
    return rows[0] if rows else None


def statuses(store: Store, job_id: int) -> list[str]:
    return [r["status"] for r in store.db.query("select status from approvals where job_id = ?", [job_id])]


def decide(store: Store, approval_id: str, status: str, user: str, now: datetime, message_ts: str) -> bool:
    """Approve or reject a pending, unexpired approval (and bind it to the pressed message); True if won."""
    with store.transaction() as db:
        return bool(
            db.execute(
                "update approvals set status = ?, decided_by = ?, decided_at = ?, message_ts = coalesce(message_ts, ?)"
                " where id = ? and status = 'pending' and expires_at > ?",
                [status, user, iso(now), message_ts, approval_id, iso(now)],
            ).rowcount
            == 1
        )


def expire(store: Store, approval_id: str, now: datetime) -> bool:
    with store.transaction() as db:
        return bool(
            db.execute(
                "update approvals set status = 'expired', decided_at = ? where id = ? and status = 'pending'",
                [iso(now), approval_id],
            ).rowcount
            == 1
        )


def due(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Pending approvals past their time."""
    return list(
        store.db.query("select * from approvals where status = 'pending' and expires_at <= ?", [iso(now)])
    )


def cancel_pending(store: Store, job_id: int, user: str, now: datetime) -> None:
    with store.transaction() as db:
        db.execute(
            "update approvals set status = 'cancelled', decided_by = ?, decided_at = ?"
            " where job_id = ? and status = 'pending'",
            [user, iso(now), job_id],
        )


def rebind(store: Store, job_id: int, plan: Plan, now: datetime) -> None:
    """The plan drifted after approval: the approval goes stale and the job takes the new plan and locks."""
    with store.transaction() as db:
        db.execute(
            "update approvals set status = 'stale', reason = 'plan changed' where job_id = ?"
            " and status = 'approved'",
            [job_id],
        )
        db.execute(
            "update jobs set plan_hash = ?, updated_at = ? where id = ?", [plan.hash(), iso(now), job_id]
        )
        jobs.replace_steps(db, job_id, plan)
        jobs.take_locks(db, job_id, plan.locks, now)
