"""Snapshot replication plans (ReplicateAzureSnapshot parity): a graph of the steps of ``snapshot_steps``.

A plan has one copy step per source snapshot (already-replicated ones are skipped by provenance), one step
per deletion (bot-made replicas whose source is gone), optional lock-restore steps left over from a crash,
``restore-locks`` (an always-step) and a summary. The graph::

    restore-lock:* (at once) -> lift-locks -> copy family A: a1 -> a2 -> a3 --+-> delete:* (one after another,
                                           -> copy family B: b1 ------------+    each after its own family's
                                                                                 copies) -> restore-locks -> summary

Each incremental family is a chain in creation order (Azure copies a disk's incremental snapshots one at a
time, in order); the families run in parallel, at most ``Profile.concurrency`` steps at once
(``Plan.concurrency``). Every step reports on its own row, so the card shows each copy and a retry copies
what is left. Locks that block the work are listed in the preview and lifted only inside the job.
``destructive(plan)`` says whether a plan deletes snapshots or lifts locks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from avdcore.errors import UsageError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshot_steps as st
from azureops import snapshots as snaps
from azureops.plan import Plan, Step
from azureops.snapshot_steps import LiftedLocks


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
    tally, lifter = st.Tally(), st.Lifter(t, copy_lift, lifted)
    leftover = lifted.leftover(p.target_subscription, p.target_resource_group)
    # a leftover lock that would block the copies stays lifted until restore-locks (restoring it first would
    # stop the copies); the others are restored at once
    kept = azlocks.blocking(leftover, rg_child, deleting=False) if todo else []
    steps: list[Step] = [st.restore_step(t, lk, lifted) for lk in leftover if lk not in kept]
    gate = tuple(s.name for s in steps)
    if copy_lift or (todo and leftover):
        steps.append(st.lift_step(t, lifter, gate, kept))
        gate = ("lift-locks",)
    ends: dict[str, str] = {}  # family -> its chain's last step
    for family in snaps.families(d.candidates):
        for src in family:
            key, after = src.id.lower(), (ends[src.family],) if src.family in ends else gate
            if key in late:
                steps.append(st.late_step(t, src, late[key], after))
            else:
                steps.append(
                    st.copy_step(
                        t,
                        src,
                        tally,
                        lifter,
                        replicated=key in d.replicated,
                        conflict=d.conflicts.get(key, ""),
                        after=after,
                    )
                )
            ends[src.family] = steps[-1].name
    last_delete: tuple[str, ...] = ()
    for orphan in d.orphans:  # one after another: they may lift the same group lock
        own = [lk for lk in lifts[orphan.name] if lk not in copy_lift]  # copy_lift stays lifted until the end
        chain = (ends[orphan.family],) if orphan.family in ends else ()
        after = tuple(dict.fromkeys((*(last_delete or gate), *chain)))
        steps.append(st.delete_step(t, orphan, own, lifted, after, lifter))
        last_delete = (steps[-1].name,)
    joined = [*ends.values(), *last_delete] or list(gate)
    steps.append(st.restore_locks_step(t, lifted, joined))
    steps.append(st.summary_step(tally, len(d.replicated), len(d.orphans), notes, copy_lift))
    title = (
        f"Snapshots {p.name}: {len(todo)} to copy, {len(d.replicated)} replicated, "
        f"{len(d.orphans)} to delete -> {p.target_resource_group} ({p.target_region})"
    )
    return Plan(
        kind=kind,
        title=title,
        steps=tuple(steps),
        verb=verb,
        summary="; ".join(notes),
        concurrency=p.concurrency,
    )
