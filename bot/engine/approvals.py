"""Approvals: a second person's Approve/Reject on the job card, bound to the plan hash, expiring.

``Engine.request`` decides with ``needs_approval`` and opens an approval (``open_approval``) whose card
carries the plan's preview. ``decide`` applies the policy to a button press: the approval must exist, be pending and not
expired; the clicker must be an approver (user ids or user groups), not the requester under the two-person
rule, in an allowed channel, pressing the button on the stored card. The state changes by compare-and-set,
so double clicks and two approvers start the job exactly once. Every request, decision and refusal is
audited. ``expire_due`` is the scheduled sweep; ``reopen`` asks again when the plan drifted.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from avdcore.errors import AvdError, NotAllowed, NotApproved
from azureops.plan import Plan
from bot.config.siteconfig import Policy
from bot.runtime import JobEngine
from bot.storage import approvals as rows
from bot.storage import audit, jobs
from commands import ops


def needs_approval(policy: Policy, op: ops.Operation, plan: Plan) -> bool:
    required = policy.require_approval
    return plan.policy_verb in required or op.verb in required


def audit_job(
    engine: JobEngine,
    actor: str,
    action: str,
    job_id: int | None,
    detail: dict[str, Any],
    outcome: str = "ok",
) -> None:
    """One audit row about a job (its target is ``job N``; none for a request refused before it became one)."""
    audit.record(
        engine.store,
        actor=actor,
        action=action,
        target=f"job {job_id}" if job_id else "",
        detail=detail,
        outcome=outcome,
        at=engine.now(),
    )


def open_approval(
    engine: JobEngine, job_id: int, plan: Plan, requester: str, channel: str, now: datetime, *, fresh: bool
) -> str:
    """Insert a pending approval bound to ``plan``'s hash and post (or re-post) the job's card."""
    ttl = engine.runtime.settings.config.policy.approval_ttl_minutes
    approval_id = uuid.uuid4().hex[:12]
    rows.insert(
        engine.store,
        {
            "id": approval_id,
            "job_id": job_id,
            "requester": requester,
            "status": "pending",
            "expires_at": jobs.iso(now + timedelta(minutes=ttl)),
            "channel": channel,
            "plan_hash": plan.hash(),
            "created_at": jobs.iso(now),
            "verb": plan.policy_verb,
        },
    )
    audit_job(
        engine,
        requester,
        "approval requested",
        job_id,
        {"approval": approval_id, "verb": plan.policy_verb, "plan_hash": plan.hash(), "expires_in_min": ttl},
    )
    engine.progress.post_card(job_id, channel, fresh=fresh)
    return approval_id


def reopen(engine: JobEngine, job_id: int, plan: Plan, now: datetime) -> None:
    """The plan drifted after approval: rebind the job to the new plan and ask again on a new card."""
    job = jobs.get_job(engine.store, job_id)
    if job is None:
        return
    rows.rebind(engine.store, job_id, plan, now)
    audit_job(
        engine, "avd-bot", "plan drifted", job_id, {"old_hash": job["plan_hash"], "new_hash": plan.hash()}
    )
    open_approval(engine, job_id, plan, job["requested_by"], job["channel"], now, fresh=True)


def retry_reason(engine: JobEngine, job: dict[str, Any], plan: Plan, now: datetime) -> str | None:
    """Why retrying an approved job must ask a second person again (``None``: its approval still holds).
    The approval covers one plan for the policy's time-to-live from the moment it was given: a retry whose
    plan hash differs from the approved one, or that comes later than that, is a new request."""
    row = rows.for_card(engine.store, int(job["id"]), None)  # the newest approval
    if row is None or row["status"] != "approved":
        return None
    if plan.hash() != row["plan_hash"]:
        return "its plan changed since it was approved"
    ttl = engine.runtime.settings.config.policy.approval_ttl_minutes
    if datetime.fromisoformat(row["decided_at"]) + timedelta(minutes=ttl) <= now:
        return f"its approval is more than {ttl} minutes old"
    return None


def ask_again(
    engine: JobEngine, job: dict[str, Any], plan: Plan, user: str, reason: str, now: datetime
) -> str:
    """Retry as a new request: the job takes ``plan`` (and its locks; raises ``Busy``), the old approval goes
    stale, and a new approval is asked for on a new card, with ``user`` as its requester."""
    job_id = int(job["id"])
    rows.rebind(engine.store, job_id, plan, now)
    again = jobs.transition(
        engine.store,
        job_id,
        (jobs.FAILED, jobs.CANCELLED),
        jobs.AWAITING,
        now,
        cancel_requested=0,
        error=None,
        error_json=None,
        finished_at=None,
        started_at=None,  # the run checks for drift again against the plan approved now
    )
    if not again:
        raise NotAllowed(f"job {job_id} is no longer failed or cancelled: `/avd job {job_id}` shows it")
    audit_job(
        engine,
        user,
        "job retry",
        job_id,
        {"asks_again": reason, "old_hash": job["plan_hash"], "new_hash": plan.hash()},
    )
    open_approval(engine, job_id, plan, user, job["channel"], now, fresh=True)
    return f"Job {job_id} needs a second person again ({reason}): an approver can approve it on the new card."


def _refuse(engine: JobEngine, user: str, row: dict[str, Any], reason: str, cls: type[AvdError]) -> AvdError:
    audit_job(
        engine,
        user,
        "approval refused",
        int(row["job_id"]),
        {"approval": row["id"], "reason": reason},
        "refused",
    )
    return cls(reason)


def decide(
    engine: JobEngine, approval_id: str, user: str, *, approve: bool, channel: str, message_ts: str
) -> str:
    """Apply one Approve/Reject press; returns the text for the clicker, raises ``NotAllowed``/``NotApproved``."""
    now = engine.now()
    row = rows.get(engine.store, approval_id)
    if row is None:
        audit_job(
            engine, user, "approval refused", None, {"approval": approval_id, "reason": "unknown"}, "refused"
        )
        raise NotApproved("this approval request does not exist (any more)")
    job_id = int(row["job_id"])
    policy = engine.runtime.settings.config.policy
    authz = engine.runtime.authz
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
    approver = authz.is_approver(user)
    if approve and not approver:
        raise _refuse(engine, user, row, "only an approver can approve this", NotAllowed)
    if approve and policy.two_person_rule and user == row["requester"]:
        raise _refuse(
            engine, user, row, "two-person rule: another approver must approve your own request", NotAllowed
        )
    if not approve and not approver and user != row["requester"]:
        raise _refuse(engine, user, row, "only an approver or the requester can reject this", NotAllowed)
    status = "approved" if approve else "rejected"
    if not rows.decide(engine.store, approval_id, status, user, now, message_ts):
        fresh = rows.get(engine.store, approval_id) or row
        raise _refuse(engine, user, fresh, f"this request was already {fresh['status']}", NotApproved)
    audit_job(
        engine,
        user,
        f"approval {status}",
        job_id,
        {"approval": approval_id, "plan_hash": row["plan_hash"], "requester": row["requester"]},
    )
    if approve and jobs.transition(engine.store, job_id, jobs.AWAITING, jobs.QUEUED, now):
        engine.progress.touch(job_id)
        engine.submit(job_id)
        return f"Approved: job {job_id} is starting."
    if not approve and jobs.transition(
        engine.store, job_id, jobs.AWAITING, jobs.REJECTED, now, error="rejected"
    ):
        engine.progress.touch(job_id, final=True)
        engine.progress.reply(job_id, f":no_entry: Job {job_id} rejected by <@{user}>.")
        return f"Rejected: job {job_id} will not run."
    return f"Recorded, but job {job_id} had already moved on."


def expire(engine: JobEngine, row: dict[str, Any], now: datetime) -> bool:
    """Mark one pending approval and its job expired and update the card (compare-and-set)."""
    if not rows.expire(engine.store, str(row["id"]), now):
        return False
    job_id = int(row["job_id"])
    jobs.transition(engine.store, job_id, jobs.AWAITING, jobs.EXPIRED, now, error="approval expired")
    audit_job(engine, "avd-bot", "approval expired", job_id, {"approval": row["id"]}, "expired")
    engine.progress.touch(job_id, final=True)
    return True


def expire_due(engine: JobEngine) -> list[str]:
    """The sweep: expire every pending approval past its time; returns their ids."""
    now = engine.now()
    return [str(row["id"]) for row in rows.due(engine.store, now) if expire(engine, row, now)]
