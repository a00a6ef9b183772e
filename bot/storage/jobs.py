"""Jobs, steps and resource locks (SQLite or PostgreSQL): every state change is a compare-and-set.

A job's status moves along::

    awaiting_approval -> queued -> running -> done | failed | cancelled
           |                ^                      |  (retry: failed|cancelled -> queued)
           +-> rejected | expired | cancelled      +--------------------------------+

``transition(store, job_id, frm, to)`` is ``UPDATE jobs SET status=to WHERE id=? AND status IN frm`` and
returns whether this caller won, so two threads (double clicks, two approvers) cannot both move a job.
Resource locks are rows in ``locks``: a job holds the resources its plan changes from creation until it
ends; another job asking for one is refused with ``Busy("busy: job N holds <resource>")`` or waits.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from avdcore.errors import AvdError, AzureError, Busy
from azureops.plan import Plan, resource_label
from bot.storage.db import Db
from bot.storage.store import Store
from commands import ops

AWAITING, QUEUED, RUNNING = "awaiting_approval", "queued", "running"
DONE, FAILED, CANCELLED, REJECTED, EXPIRED = "done", "failed", "cancelled", "rejected", "expired"
TERMINAL = (DONE, FAILED, CANCELLED, REJECTED, EXPIRED)
ACTIVE = (AWAITING, QUEUED, RUNNING)
STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED = (
    "pending",
    "running",
    "done",
    "failed",
    "skipped",
)


Fence = Callable[[Db], "int | None"]
"""Called first inside a write's own transaction; raises (``LeaseLost``) to refuse the write and roll it back.
The engine passes its job lease's check (``bot.storage.leases.fence``), so a stale owner writes nothing; it
returns the lease epoch the write is made under, which a step row records (``steps.epoch``)."""


def _fenced(db: Db, fence: Fence | None) -> int | None:
    return fence(db) if fence is not None else None


def iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds")


# ---- operations as JSON -------------------------------------------------------------------------


def op_to_json(op: ops.Operation) -> str:
    return json.dumps({"type": type(op).__name__, **dataclasses.asdict(op)}, sort_keys=True)


def op_from_json(raw: str) -> ops.Operation:
    data = dict(json.loads(raw))
    cls = getattr(ops, data.pop("type"))
    if not (isinstance(cls, type) and issubclass(cls, ops.Operation)):
        raise ValueError(f"not an operation: {cls!r}")
    return cls(**data)


# ---- reads --------------------------------------------------------------------------------------


def get_job(store: Store, job_id: int) -> dict[str, Any] | None:
    rows = list(store.db.query("select * from jobs where id = ?", [job_id]))
    return rows[0] if rows else None


def get_steps(store: Store, job_id: int) -> list[dict[str, Any]]:
    return list(store.db.query("select * from steps where job_id = ? order by idx", [job_id]))


def jobs_in(store: Store, statuses: Iterable[str]) -> list[dict[str, Any]]:
    statuses = tuple(statuses)
    marks = ",".join("?" * len(statuses))
    return list(store.db.query(f"select * from jobs where status in ({marks}) order by id", statuses))


def recent_jobs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    return list(store.db.query("select * from jobs order by id desc limit ?", [limit]))


def step_averages(store: Store, kind: str) -> dict[str, float]:
    """Average seconds per step name over this kind's finished jobs (empty before the first run)."""
    rows = store.db.execute(
        "select s.name, s.started_at, s.finished_at from steps s join jobs j on j.id = s.job_id"
        " where j.kind = ? and j.status = 'done' and s.status = 'done' and s.started_at is not null"
        " and s.finished_at is not null",
        [kind],
    ).fetchall()
    seconds: dict[str, list[float]] = {}
    for name, started, finished in rows:
        took = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        seconds.setdefault(str(name), []).append(took.total_seconds())
    return {name: sum(values) / len(values) for name, values in seconds.items()}


def latest_of_verb(store: Store, verb: str, limit: int = 500) -> list[dict[str, Any]]:
    """The newest jobs of ``verb`` (by verb or kind), newest first."""
    return list(
        store.db.query(
            "select id, status, op_json, created_at, finished_at from jobs where verb = ? or kind = ?"
            " order by id desc limit ?",
            [verb, verb, limit],
        )
    )


# ---- writes -------------------------------------------------------------------------------------


def create_job(
    store: Store,
    *,
    plan: Plan,
    op: ops.Operation,
    requested_by: str,
    channel: str,
    status: str,
    now: datetime,
    kind: str = "",
    wait_seconds: float = 0.0,
) -> int:
    """Insert the job and its steps and take the plan's locks, atomically; raises ``Busy``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with store.transaction() as db:
                job_id = int(
                    db.table("jobs")
                    .insert(
                        {
                            "kind": kind or plan.kind,
                            "op_json": op_to_json(op),
                            "status": status,
                            "requested_by": requested_by,
                            "channel": channel,
                            "plan_hash": plan.hash(),
                            "created_at": iso(now),
                            "updated_at": iso(now),
                            "title": plan.title,
                            "verb": plan.policy_verb,
                        }
                    )
                    .last_pk
                )
                replace_steps(db, job_id, plan)
                take_locks(db, job_id, plan.locks, now)
                return job_id
        except Busy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def replace_steps(db: Db, job_id: int, plan: Plan) -> None:
    """(Re)write the step rows of a job that has not started: one pending row per plan step."""
    db.execute("delete from steps where job_id = ?", [job_id])
    db.table("steps").insert_all(
        {
            "job_id": job_id,
            "idx": n,
            "name": s.name,
            "status": STEP_PENDING,
            "resource_id": s.resource_id,
            "description": s.description,
            "estimate_seconds": s.estimate_seconds,
            "always": int(s.always),
            "needs": None if plan.is_line else json.dumps(plan.needs(s.name)),
        }
        for n, s in enumerate(plan.steps)
    )


def same_request(store: Store, op: ops.Operation) -> Busy | None:
    """``Busy`` naming the active job that is exactly this request (and a resource it holds), else ``None``:
    asking again while it waits for approval or runs is answered from the store, before any Azure read."""
    marks = ",".join("?" * len(ACTIVE))
    row = store.db.execute(
        f"select j.id, j.status, (select resource from locks where job_id = j.id order by resource limit 1) "
        f"from jobs j where j.op_json = ? and j.status in ({marks}) order by j.id limit 1",
        [op_to_json(op), *ACTIVE],
    ).fetchone()
    if row is None:
        return None
    held = f" holds {resource_label(row[2])}" if row[2] else ""
    return Busy(
        f"busy: job {row[0]}{held}: it is this same request ({row[1].replace('_', ' ')}); "
        f"`/avd job {row[0]}` shows it",
        job_id=int(row[0]),
    )


def take_locks(db: Db, job_id: int, resources: Iterable[str], now: datetime) -> None:
    resources = tuple(r.lower() for r in resources)
    if not resources:
        return
    marks = ",".join("?" * len(resources))
    # Locks left behind by jobs that already ended (a crash between the two writes) are free.
    db.execute(
        f"delete from locks where resource in ({marks}) and job_id in "
        f"(select id from jobs where status in ({','.join('?' * len(TERMINAL))}))",
        [*resources, *TERMINAL],
    )
    held = db.execute(
        f"select resource, job_id from locks where resource in ({marks}) and job_id != ?",
        [*resources, job_id],
    ).fetchone()
    if held:
        raise Busy(f"busy: job {held[1]} holds {resource_label(held[0])}", job_id=int(held[1]))
    for resource in resources:
        db.execute(
            "insert into locks (resource, job_id, acquired_at) values (?, ?, ?) on conflict do nothing",
            [resource, job_id, iso(now)],
        )


def acquire_locks(
    store: Store, job_id: int, resources: Iterable[str], now: datetime, *, wait_seconds: float = 0.0
) -> None:
    """Take ``resources`` for ``job_id``; refuse with ``Busy`` or wait up to ``wait_seconds``."""
    resources = tuple(resources)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with store.transaction() as db:
                take_locks(db, job_id, resources, now)
            return
        except Busy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def release_locks(store: Store, job_id: int) -> None:
    with store.transaction() as db:
        db.execute("delete from locks where job_id = ?", [job_id])


def holder_of(store: Store, resource: str) -> int | None:
    row = store.db.execute("select job_id from locks where resource = ?", [resource.lower()]).fetchone()
    return int(row[0]) if row else None


def transition(
    store: Store,
    job_id: int,
    frm: str | tuple[str, ...],
    to: str,
    now: datetime,
    *,
    fence: Fence | None = None,
    skip_pending: bool = False,
    **fields: Any,
) -> bool:
    """Compare-and-set the job's status; True when this caller made the change (``fence``: see ``Fence``).
    ``skip_pending``: the job's pending steps become skipped in the same transaction (a cancel's end)."""
    frm = (frm,) if isinstance(frm, str) else frm
    values = {"status": to, "updated_at": iso(now), **fields}
    if to in TERMINAL:
        values.setdefault("finished_at", iso(now))
    sets = ", ".join(f"{k} = ?" for k in values)
    marks = ",".join("?" * len(frm))
    with store.transaction() as db:
        _fenced(db, fence)
        cur = db.execute(
            f"update jobs set {sets} where id = ? and status in ({marks})", [*values.values(), job_id, *frm]
        )
        changed = cur.rowcount == 1
        if changed and skip_pending:
            db.execute(
                "update steps set status = ? where job_id = ? and status = ?",
                [STEP_SKIPPED, job_id, STEP_PENDING],
            )
        if changed and to in TERMINAL:
            db.execute("delete from locks where job_id = ?", [job_id])
    return changed


def update_job(store: Store, job_id: int, *, fence: Fence | None = None, **fields: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    with store.transaction() as db:
        _fenced(db, fence)
        db.execute(f"update jobs set {sets} where id = ?", [*fields.values(), job_id])


def update_step(store: Store, job_id: int, idx: int, *, fence: Fence | None = None, **fields: Any) -> None:
    """Write a step row's fields; with ``fence``, only while the job's lease is held (else ``LeaseLost``), and
    the row records the lease epoch it was written under."""
    with store.transaction() as db:
        epoch = _fenced(db, fence)
        if epoch is not None:
            fields["epoch"] = epoch
        sets = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"update steps set {sets} where job_id = ? and idx = ?", [*fields.values(), job_id, idx])


def request_cancel(store: Store, job_id: int) -> None:
    update_job(store, job_id, cancel_requested=1)


def error_fields(err: BaseException) -> dict[str, Any]:
    """``error`` (one line for people) and ``error_json`` (code, resource, next step) for a job or step."""
    detail: Mapping[str, Any] = {"message": str(err), "type": type(err).__name__}
    if isinstance(err, AzureError):
        detail = {
            **detail,
            "message": err.message,
            "code": err.code,
            "resource_id": err.resource_id,
            "next_step": err.next_step,
            "status": err.status,
        }
    elif isinstance(err, AvdError):
        detail = {**detail, "message": err.message}
    return {"error": str(err), "error_json": json.dumps(detail, sort_keys=True)}


def error_detail(job: Mapping[str, Any]) -> dict[str, Any]:
    raw = job.get("error_json")
    return dict(json.loads(raw)) if raw else {}


# ---- the job card ---------------------------------------------------------------------------------


def record_card(store: Store, job_id: int, channel: str, ts: str, wall: float) -> None:
    """The card was posted: one transaction, so a press that sees the job's card_ts also finds the approval
    bound to it."""
    with store.transaction() as db:
        db.execute(
            "update jobs set card_ts = ?, channel = ?, card_updated_at = ? where id = ?",
            [ts, channel, wall, job_id],
        )
        db.execute(
            "update approvals set message_ts = ?, channel = ? where job_id = ? and status = 'pending'"
            " and message_ts is null",
            [ts, channel, job_id],
        )


def record_card_update(store: Store, job_id: int, ts: str, wall: float) -> None:
    with store.transaction() as db:
        db.execute("update jobs set card_updated_at = ? where id = ? and card_ts = ?", [wall, job_id, ts])


def cancel_requested(store: Store, job_id: int) -> bool:
    row = store.db.execute("select cancel_requested from jobs where id = ?", [job_id]).fetchone()
    return bool(row and row[0])


def rebind_plan(store: Store, job_id: int, plan: Plan, *, fence: Fence | None = None) -> None:
    """A job that has not started takes ``plan``: its hash and its step rows."""
    update_job(store, job_id, fence=fence, plan_hash=plan.hash())
    with store.transaction() as db:
        _fenced(db, fence)
        replace_steps(db, job_id, plan)


def requeue(store: Store, job_id: int, now: datetime) -> bool:
    """Retry: a failed or cancelled job goes back to ``queued`` with its locks taken again and its unfinished
    steps pending (``always`` steps too: they run again at the retry's end); False when the job is in another
    state. Raises ``Busy`` when a lock is held."""
    locks = [r["resource_id"].lower() for r in get_steps(store, job_id) if r.get("resource_id")]
    with store.transaction() as db:
        cur = db.execute(
            "update jobs set status = ?, cancel_requested = 0, error = null, error_json = null,"
            " finished_at = null, updated_at = ? where id = ? and status in (?, ?)",
            [QUEUED, iso(now), job_id, FAILED, CANCELLED],
        )
        if cur.rowcount != 1:
            return False
        take_locks(db, job_id, locks, now)
        db.execute(
            "update steps set status = ?, error = null, continuation_token = null, percent = null,"
            " finished_at = null where job_id = ? and (status in (?, ?, ?) or always = 1)",
            [STEP_PENDING, job_id, STEP_FAILED, STEP_SKIPPED, STEP_RUNNING],
        )
    return True
