"""The Approve-click benchmark's job kind and its fresh approvals.

``avd-bot serve`` runs with this module's ``CAPABILITY`` overlaid on the product's table
(``python -m tests.kit.serve bench.approve_kit serve``, with the repository on ``PYTHONPATH``): kind ``bench-noop`` is a plan of one step that does nothing, so an approved job runs the real
engine path (compare-and-set, audit, scheduler, step rows) without touching Azure. ``seed_approvals`` writes
pending approvals straight into the bot's database (``AVD_DB``: a SQLite file in WAL mode or a PostgreSQL
URL; the bot is running), each bound to its job's plan
hash and to a card ts, so every click the benchmark sends is a fresh, valid approval.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azureops.plan import Plan, Step, StepContext
from bot.runtime import Capability
from bot.storage import jobs, open_store
from commands import ops

KIND = "bench-noop"


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    rid = f"/subscriptions/bench/resourceGroups/BENCH/providers/Bench.Noop/items/{op.target}"

    def nothing(ctx: StepContext) -> str:
        return "ok"

    step = Step(name="noop", resource_id=rid, description="Nothing", apply=nothing, estimate_seconds=1)
    return Plan(kind=KIND, title=f"Bench {op.target}", steps=(step,))


CAPABILITY = Capability(name=KIND, plans={KIND: build_plan})


def seed_approvals(
    db: str, first: int, count: int, *, channel: str = "C0INCIDENT", requester: str = "U0OPS1"
) -> list[tuple[str, str]]:
    """Create ``count`` jobs awaiting approval (numbered from ``first``); returns (approval id, card ts) pairs."""
    store = open_store(db)
    now = datetime.now(UTC)
    out = []
    try:
        for n in range(first, first + count):
            op = ops.Scale(target=f"bench-{n}", count=1)
            plan = build_plan(None, op, now)
            job_id = jobs.create_job(
                store,
                plan=plan,
                op=op,
                requested_by=requester,
                channel=channel,
                status=jobs.AWAITING,
                now=now,
                kind=KIND,
            )
            approval_id, ts = f"bench{n:07d}", f"1700000000.{n:06d}"
            with store.transaction() as db:
                db.table("approvals").insert(
                    {
                        "id": approval_id,
                        "job_id": job_id,
                        "requester": requester,
                        "status": "pending",
                        "expires_at": jobs.iso(now + timedelta(hours=2)),
                        "channel": channel,
                        "plan_hash": plan.hash(),
                        "created_at": jobs.iso(now),
                        "verb": plan.policy_verb,
                        "message_ts": ts,
                    }
                )
            out.append((approval_id, ts))
    finally:
        store.close()
    return out
