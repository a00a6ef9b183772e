"""Snapshot replication plans (ReplicateAzureSnapshot parity), assembled here like failover's.

A plan has one step per source snapshot (already-replicated ones are skipped by provenance), one per
deletion (bot-made replicas whose source is gone), optional lock-restore steps left over from a crash,
and a summary. The copies themselves run in parallel: the first copy step starts a ``Batch``
(``azureops.snapshot_batch``) and every copy step waits for its own snapshot; the batch reports each
snapshot's progress and result on its own step, so the card shows them all and a retry (provenance) copies
only what failed. Locks that block the work are listed in the preview and lifted and restored (try/finally)
only inside the job. ``destructive(plan)`` says whether a plan deletes snapshots or lifts locks.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from avdcore.errors import AzureError, UsageError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.clients import AzureClients
from azureops.plan import Plan, Step, StepContext, format_seconds
from azureops.snapshot_batch import Batch, LiftedLocks


@dataclass(frozen=True)
class Profile:
    """What a snapshot profile of the config says, as plain values."""

    name: str
    source_subscription: str
    source_resource_group: str
    target_subscription: str
    target_resource_group: str
    target_region: str
    mode: str
    tag: tuple[str, str] | None
    sync: bool
    concurrency: int
    allow_empty_source: bool


def destructive(plan: Plan) -> bool:
    """Deletes snapshots or lifts locks: the kinds of change that need a second person."""
    return any(s.name.startswith("delete:") or s.intent.get("lift") for s in plan.steps)


def restore_step(clients: AzureClients, sub: str, lock: azlocks.Lock, lifted: LiftedLocks) -> Step:
    def apply(ctx: StepContext) -> str:
        back = azlocks.restore(clients, sub, lock)
        lifted.forget(lock)
        return f"restored {lock.label()}" if back else f"{lock.label()} went with its resource"

    return Step(
        name=f"restore-lock:{lock.id.lower()}",
        resource_id=lock.scope,
        apply=apply,
        estimate_seconds=5,
        description=f"Restore {lock.label()} (lifted by an interrupted run)",
        intent={"lock": lock.__dict__},
    )


def copy_step(batch: Batch, t: copies.Target, src: snaps.Snap, replicated: bool, conflict: str) -> Step:
    rid = snaps.snapshot_id(t.target_sub, t.target_rg, src.name)
    route = snaps.route_for(src, t.region)
    gib = src.size_bytes / 1024**3

    def apply(ctx: StepContext) -> str:
        if conflict:
            raise AzureError(
                conflict, code="NameTaken", resource_id=rid, next_step="rename or remove it, then retry"
            )
        return batch.wait(ctx, src)

    what = (
        f"Keep {src.name}: already replicated"
        if replicated
        else f"Copy {src.name} ({route}, {gib:.0f} GiB) to {t.region}"
        + (f" - BLOCKED: {conflict}" if conflict else "")
    )
    return Step(
        name=f"copy:{src.name}",
        resource_id=rid,
        description=what,
        apply=apply,
        check=lambda ctx: replicated,
        estimate_seconds=60 + int(gib * 6),
        intent={"source": src.id.lower(), "created": src.created, "route": route},
    )


def late_step(t: copies.Target, src: snaps.Snap, why: str) -> Step:
    """A snapshot that can no longer be copied in order: shown and reported, never sent (Azure refuses it)."""
    text = f"{why}; Azure copies a disk's incremental snapshots in the order they were created"
    return Step(
        name=f"copy:{src.name}",
        resource_id=snaps.snapshot_id(t.target_sub, t.target_rg, src.name),
        description=f"Skip {src.name}: {why}",
        apply=lambda ctx: f"not copied: {text}",
        estimate_seconds=1,
        intent={"source": src.id.lower(), "created": src.created, "route": "none"},
    )


def delete_step(batch: Batch, t: copies.Target, replica: snaps.Snap, lift: list[azlocks.Lock]) -> Step:
    def check(ctx: StepContext) -> bool:
        return (
            snaps.get_snapshot(
                t.clients.compute(t.target_sub), t.target_sub, t.target_rg, replica.name, t.budget
            )
            is None
        )

    def apply(ctx: StepContext) -> str:
        batch.join()
        if not copies.source_gone(t, replica):
            return f"kept {replica.name}: its source is back"
        with azlocks.lifted(
            t.clients,
            t.target_sub,
            lift,
            note=ctx.note,
            on_lift=batch.lifted.remember,
            on_restore=batch.lifted.forget,
        ):
            copies.delete_snapshot(t, replica.name)
        return f"deleted {replica.name}"

    locks_txt = "; lifts and restores " + ", ".join(lk.label() for lk in lift) if lift else ""
    return Step(
        name=f"delete:{replica.name}",
        resource_id=replica.id,
        apply=apply,
        check=check,
        estimate_seconds=30,
        description=f"Delete {replica.name} (its source {replica.source_id.rsplit('/', 1)[-1]} is gone)"
        + locks_txt,
        intent={"source": replica.source_id.lower(), "lift": [lk.id.lower() for lk in lift]},
    )


def summary_step(batch: Batch, t: copies.Target, skipped: int, deletes: int, notes: list[str]) -> Step:
    def apply(ctx: StepContext) -> str:
        batch.join()
        for note in notes:
            ctx.note(note)
        moved = sum(s.size_bytes for s in batch.copied)
        took = format_seconds(time.monotonic() - batch.started_at) if batch.futures else "0s"
        return (
            f"copied {len(batch.copied)}, skipped {skipped}, deleted {deletes}, failed {len(batch.failed)},"
            f" {moved / 1024**3:.0f} GiB, {took}"
        )

    text = "Summary" + (": " + "; ".join(notes) if notes else "")
    return Step(
        name="summary",
        resource_id="",
        description=text[:2900],
        apply=apply,
        estimate_seconds=1,
        intent={"lift": [lk.id.lower() for lk in batch.lift]},
    )


def restore_locks_step(batch: Batch, t: copies.Target, lifted: LiftedLocks) -> Step:
    """The step before the summary, run at any end of the job (done, failed, cancelled, resumed after a crash): wait for the
    copies, then restore every lock recorded as lifted in the target resource group and not restored yet (by
    this run or an interrupted one); the job cannot end done while one is missing."""
    scope = f"/subscriptions/{t.target_sub}/resourceGroups/{t.target_rg}"

    def apply(ctx: StepContext) -> str:
        try:
            batch.join()
        except AzureError as err:  # the batch's own restore failed: the record below still holds those locks
            ctx.note(f"the copies' restore failed ({err.message}); restoring from the record")
        restored = []
        for lock in lifted.leftover(t.target_sub, t.target_rg):
            back = azlocks.restore(t.clients, t.target_sub, lock)
            lifted.forget(lock)
            restored.append(lock.label() if back else f"{lock.label()} (went with its resource)")
        missing = lifted.leftover(t.target_sub, t.target_rg)
        if missing:
            raise AzureError(
                "locks still lifted: " + ", ".join(lk.label() for lk in missing),
                code="LockRestoreFailed",
                resource_id=scope,
                next_step="retry the job, or re-create the lock(s) by hand with the same name, level and notes",
            )
        return "restored " + ", ".join(restored) if restored else "no lock left lifted"

    return Step(
        name="restore-locks",
        resource_id=scope,
        description=f"Restore every lock lifted in {t.target_rg} (also after a failure, a cancel or a crash)",
        apply=apply,
        estimate_seconds=5,
        always=True,
    )


def out_of_order(candidates: list[snaps.Snap], replicated: Collection[str]) -> dict[str, str]:
    """Snapshots that can no longer be copied: a newer snapshot of the same disk is already replicated, and
    Azure copies a disk's incremental snapshots in the order they were created. Source id -> why."""
    newest: dict[str, snaps.Snap] = {}
    for src in candidates:
        if src.id.lower() in replicated and src.created >= newest.get(src.family, src).created:
            newest[src.family] = src
    return {
        src.id.lower(): f"{src.name} is older than {newest[src.family].name}, already replicated from the same disk"
        for src in candidates
        if src.id.lower() not in replicated
        and src.family in newest
        and src.created < newest[src.family].created
    }


def sync_plan(
    p: Profile,
    t: copies.Target,
    lifted: LiftedLocks,
    *,
    only: str | None,
    verb: str,
    kind: str,
    deletions: bool = True,
) -> Plan:
    """The plan for a sync (``only`` None) or for one named snapshot; ``deletions=False`` copies only."""
    src_compute = t.clients.compute(p.source_subscription)
    if only is None:
        sources = snaps.list_snapshots(src_compute, p.source_subscription, p.source_resource_group, t.budget)
    else:
        one = snaps.get_snapshot(src_compute, p.source_subscription, p.source_resource_group, only, t.budget)
        if one is None:
            raise UsageError(
                f"there is no snapshot {only!r} in {p.source_resource_group}",
                hint=f"/avd snapshots sync {p.name} --dry-run lists what the profile sees",
            )
        sources = [one]
    targets = snaps.list_snapshots(
        t.clients.compute(p.target_subscription), p.target_subscription, p.target_resource_group, t.budget
    )
    scope = f"/subscriptions/{p.source_subscription}/resourceGroups/{p.source_resource_group}"
    d = snaps.diff(
        sources,
        targets,
        source_scope=scope,
        tag=p.tag if only is None else None,
        allow_empty_source=p.allow_empty_source,
    )
    if only is not None or not p.sync or not deletions:
        d.orphans = []
    regions = sorted({s.location for s in d.candidates})
    if len(regions) > 1:
        raise UsageError(
            f"the source snapshots are in several regions ({', '.join(regions)})",
            hint="split them into one profile per source region",
        )
    if regions:
        snaps.validate_mode(p.mode, p.source_subscription, p.target_subscription, regions[0], p.target_region)
    found = azlocks.find(t.clients, p.target_subscription, p.target_resource_group)
    late = out_of_order(d.candidates, d.replicated)
    todo = [
        s
        for s in d.candidates
        if s.id.lower() not in d.replicated and s.id.lower() not in d.conflicts and s.id.lower() not in late
    ]
    rg_child = f"/subscriptions/{p.target_subscription}/resourceGroups/{p.target_resource_group}/x"
    copy_lift = azlocks.blocking(found, rg_child, deleting=False) if todo else []
    lifts = {o.name: azlocks.blocking(found, o.id, deleting=True) for o in d.orphans}
    azlocks.check_liftable([*copy_lift, *(lk for ls in lifts.values() for lk in ls)])
    notes = list(d.notes)
    notes += [f"not copied: {why}" for why in late.values()]
    touched = {lk.id for lk in copy_lift} | {lk.id for ls in lifts.values() for lk in ls}
    notes += [f"{lk.label()} stays (not in the way)" for lk in found if lk.id not in touched]
    if copy_lift:
        notes.append("copies lift and then restore " + ", ".join(lk.label() for lk in copy_lift))
    batch = Batch(t, todo, copy_lift, p.concurrency, lifted)
    steps = [
        restore_step(t.clients, p.target_subscription, lk, lifted)
        for lk in lifted.leftover(p.target_subscription, p.target_resource_group)
    ]
    for src in d.candidates:
        key = src.id.lower()
        if key in late:
            steps.append(late_step(t, src, late[key]))
            continue
        steps.append(copy_step(batch, t, src, key in d.replicated, d.conflicts.get(key, "")))
    steps += [delete_step(batch, t, o, lifts[o.name]) for o in d.orphans]
    steps.append(restore_locks_step(batch, t, lifted))
    steps.append(summary_step(batch, t, len(d.replicated), len(d.orphans), notes))
    for step in steps:
        if step.name.startswith("copy:"):
            batch.rows[step.name[5:]] = step.name
    title = (
        f"Snapshots {p.name}: {len(todo)} to copy, {len(d.replicated)} replicated, "
        f"{len(d.orphans)} to delete -> {p.target_resource_group} ({p.target_region})"
    )
    return Plan(kind=kind, title=title, steps=tuple(steps), verb=verb, summary="; ".join(notes))
