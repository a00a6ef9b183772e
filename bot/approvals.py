"""Approvals: a second person's Approve/Reject on the job card, bound to the plan hash, expiring.

``request_job`` (on the worker pool, after the listener acked) builds the plan, answers ``--dry-run`` with
the preview, creates the job with its locks and either queues it or opens an approval whose card carries
the preview. ``decide`` applies the policy to a button press: the approval must exist, be pending and not
expired; the clicker must be an approver (user ids or user groups), not the requester under the two-person
rule, in an allowed channel, pressing the button on the stored card. The state changes by compare-and-set,
so double clicks and two approvers start the job exactly once. Every request, decision and refusal is
audited. ``expire_due`` is the scheduled sweep; ``reopen`` asks again when the plan drifted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from avdcore.errors import AvdError, NotAllowed, NotApproved
from azureops.errors import project_error
from azureops.plan import Plan
from bot import audit, jobs
from bot.runner import CAPABILITIES, Engine, kind_of
from commands import ops

Say = Callable[[str], None]


def needs_approval(engine: Engine, op: ops.Operation, plan: Plan) -> bool:
    required = engine.runtime.settings.config.policy.require_approval
    return plan.policy_verb in required or op.verb in required


def _audit(engine: Engine, actor: str, action: str, job_id: int | None, detail: dict[str, Any],
           outcome: str = "ok") -> None:
    audit.record(engine.store, actor=actor, action=action, target=f"job {job_id}" if job_id else "",
                 detail=detail, outcome=outcome, at=engine.now())


def request_job(engine: Engine, op: ops.Operation, user: str, channel: str, say: Say) -> int | None:
    """Plan ``op`` and start it, or open an approval for it; returns the job id (None for dry runs/refusals)."""
    now = engine.now()
    kind = kind_of(op)
    build = CAPABILITIES.get(kind)
    if build is None:
        say(f"`{op.verb}` is not available in this bot yet.")
        return None
    again = None if getattr(op, "dry_run", False) else jobs.same_request(engine.store, op)
    if again is not None:
        _audit(engine, user, "job refused", None, {"verb": op.verb, "error": str(again)}, "refused")
        say(str(again))
        return None
    try:
        plan = build(engine.runtime, op, now)
    except Exception as exc:
        err = project_error(exc)
        if err is None:
            raise
        _audit(engine, user, "plan refused", None, {"verb": op.verb, "error": str(err)}, "failed")
        say(str(err))
        return None
    if getattr(op, "dry_run", False):
        _audit(engine, user, "dry run", None, {"verb": op.verb, "plan_hash": plan.hash()})
        say("\n".join([f"*Dry run: {plan.title}* (nothing was changed)", *plan.preview()]))
        return None
    approval = needs_approval(engine, op, plan)
    try:
        job_id = jobs.create_job(engine.store, plan=plan, op=op, requested_by=user, channel=channel,
                                 status=jobs.AWAITING if approval else jobs.QUEUED, now=now, kind=kind)
    except AvdError as err:
        _audit(engine, user, "job refused", None, {"verb": op.verb, "error": str(err)}, "refused")
        say(str(err))
        return None
    _audit(engine, user, "job requested", job_id, {"verb": op.verb, "plan_hash": plan.hash(),
                                                    "approval": approval})
    if approval:
        open_approval(engine, job_id, plan, user, channel, now, fresh=False)
    else:
        engine.progress.post_card(job_id, channel)
        engine.submit(job_id)
    return job_id


def open_approval(engine: Engine, job_id: int, plan: Plan, requester: str, channel: str, now: datetime,
                  *, fresh: bool) -> str:
    """Insert a pending approval bound to ``plan``'s hash and post (or re-post) the job's card."""
    ttl = engine.runtime.settings.config.policy.approval_ttl_minutes
    approval_id = uuid.uuid4().hex[:12]
    with engine.store.transaction() as db:
        db.table("approvals").insert({
            "id": approval_id, "job_id": job_id, "requester": requester, "status": "pending",
            "expires_at": jobs.iso(now + timedelta(minutes=ttl)), "channel": channel, "plan_hash": plan.hash(),
            "created_at": jobs.iso(now), "verb": plan.policy_verb,
        })
    _audit(engine, requester, "approval requested", job_id,
           {"approval": approval_id, "verb": plan.policy_verb, "plan_hash": plan.hash(), "expires_in_min": ttl})
    engine.progress.post_card(job_id, channel, fresh=fresh)
    return approval_id


def reopen(engine: Engine, job_id: int, plan: Plan, now: datetime) -> None:
    """The plan drifted after approval: rebind the job to the new plan and ask again on a new card."""
    job = jobs.get_job(engine.store, job_id)
    if job is None:
        return
    with engine.store.transaction() as db:
        db.execute("update approvals set status = 'stale', reason = 'plan changed' where job_id = ?"
                   " and status = 'approved'", [job_id])
        db.execute("update jobs set plan_hash = ?, updated_at = ? where id = ?", [plan.hash(), jobs.iso(now), job_id])
        jobs.replace_steps(db, job_id, plan)
        jobs._take_locks(db, job_id, plan.locks, now)
    _audit(engine, "avd-bot", "plan drifted", job_id, {"old_hash": job["plan_hash"], "new_hash": plan.hash()})
    open_approval(engine, job_id, plan, job["requested_by"], job["channel"], now, fresh=True)


def _refuse(engine: Engine, user: str, row: dict[str, Any], reason: str, cls: type[AvdError]) -> AvdError:
    _audit(engine, user, "approval refused", int(row["job_id"]), {"approval": row["id"], "reason": reason},
           "refused")
    return cls(reason)


def decide(engine: Engine, approval_id: str, user: str, *, approve: bool, channel: str,
           message_ts: str) -> str:
    """Apply one Approve/Reject press; returns the text for the clicker, raises ``NotAllowed``/``NotApproved``."""
    now = engine.now()
    rows = list(engine.store.db.query("select * from approvals where id = ?", [approval_id]))
    if not rows:
        _audit(engine, user, "approval refused", None, {"approval": approval_id, "reason": "unknown"}, "refused")
        raise NotApproved("this approval request does not exist (any more)")
    row = rows[0]
    job_id = int(row["job_id"])
    policy = engine.runtime.settings.config.policy
    authz = getattr(engine.runtime, "authz", None)
    if row["status"] != "pending":
        by = f" by <@{row['decided_by']}>" if row.get("decided_by") else ""
        raise _refuse(engine, user, row, f"this request is already {row['status']}{by}", NotApproved)
    # a press can race the recording of the card's ts (the post returns, then the ts is stored): an unbound
    # approval accepts the press from its channel and is bound to that message below
    bound = row.get("message_ts") or ""
    if channel != row["channel"] or (bound and message_ts != bound):
        raise _refuse(engine, user, row, "this button is not on the request's card", NotAllowed)
    if channel not in policy.allowed_channels:
        raise _refuse(engine, user, row, f"approvals are not accepted in <#{channel}>", NotAllowed)
    if datetime.fromisoformat(row["expires_at"]) <= now:
        expire(engine, row, now)
        raise _refuse(engine, user, row, "this request expired: run the command again", NotApproved)
    approver = authz.is_approver(user) if authz is not None else user in policy.approvers
    if approve and not approver:
        raise _refuse(engine, user, row, "only an approver can approve this", NotAllowed)
    if approve and policy.two_person_rule and user == row["requester"]:
        raise _refuse(engine, user, row, "two-person rule: another approver must approve your own request",
                      NotAllowed)
    if not approve and not approver and user != row["requester"]:
        raise _refuse(engine, user, row, "only an approver or the requester can reject this", NotAllowed)
    status = "approved" if approve else "rejected"
    with engine.store.transaction() as db:
        won = db.execute(
            "update approvals set status = ?, decided_by = ?, decided_at = ?, message_ts = coalesce(message_ts, ?)"
            " where id = ? and status = 'pending' and expires_at > ?",
            [status, user, jobs.iso(now), message_ts, approval_id, jobs.iso(now)]).rowcount == 1
    if not won:
        fresh = next(iter(engine.store.db.query("select * from approvals where id = ?", [approval_id])))
        raise _refuse(engine, user, fresh, f"this request was already {fresh['status']}", NotApproved)
    _audit(engine, user, f"approval {status}", job_id, {"approval": approval_id, "plan_hash": row["plan_hash"],
                                                         "requester": row["requester"]})
    if approve and jobs.transition(engine.store, job_id, jobs.AWAITING, jobs.QUEUED, now):
        engine.progress.touch(job_id)
        engine.submit(job_id)
        return f"Approved: job {job_id} is starting."
    if not approve and jobs.transition(engine.store, job_id, jobs.AWAITING, jobs.REJECTED, now, error="rejected"):
        engine.progress.touch(job_id, final=True)
        engine.progress.reply(job_id, f":no_entry: Job {job_id} rejected by <@{user}>.")
        return f"Rejected: job {job_id} will not run."
    return f"Recorded, but job {job_id} had already moved on."


def expire(engine: Engine, row: dict[str, Any], now: datetime) -> bool:
    """Mark one pending approval and its job expired and update the card (compare-and-set)."""
    with engine.store.transaction() as db:
        won = db.execute("update approvals set status = 'expired', decided_at = ? where id = ? and"
                         " status = 'pending'", [jobs.iso(now), row["id"]]).rowcount == 1
    if not won:
        return False
    job_id = int(row["job_id"])
    jobs.transition(engine.store, job_id, jobs.AWAITING, jobs.EXPIRED, now, error="approval expired")
    _audit(engine, "avd-bot", "approval expired", job_id, {"approval": row["id"]}, "expired")
    engine.progress.touch(job_id, final=True)
    return True


def expire_due(engine: Engine) -> list[str]:
    """The sweep: expire every pending approval past its time; returns their ids."""
    now = engine.now()
    due = list(engine.store.db.query("select * from approvals where status = 'pending' and expires_at <= ?",
                                     [jobs.iso(now)]))
    return [str(row["id"]) for row in due if expire(engine, row, now)]
