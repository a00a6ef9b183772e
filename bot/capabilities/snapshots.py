"""``/avd snapshots sync|copy|schedule``: snapshot replication profiles as job-engine plans.

A plan has one step per source snapshot (already-replicated ones are skipped by provenance), one per
deletion (bot-made replicas whose source is gone), optional lock-restore steps left over from a crash,
and a summary. The copies themselves run in parallel: the first copy step starts a ``Batch``
(``bot.capabilities.snapshot_batch``) and every copy step waits for its own snapshot; the batch writes each
snapshot's progress and result straight onto its step row, so the card shows them all and a retry
(provenance) copies only what failed. Locks that block the work are listed in the preview and
lifted and restored (try/finally) only inside an approved job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger

from avdcore.errors import AzureError, NotApproved, UsageError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.plan import Plan, Step, StepContext, format_seconds
from bot import jobs
from bot.capabilities.snapshot_batch import Batch, forget, leftover_locks, remember
from bot.runner import register_capability
from bot.schedules import PERSISTENT
from commands import ops
from commands.cron import trigger_fields, validate_cron

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.listeners import CommandContext
    from bot.render import Reply
    from bot.siteconfig import SnapshotProfile

log = logging.getLogger(__name__)
SYNC, COPY, COPIES = "snapshots-sync", "snapshots-copy", "snapshots-sync-copies"
SCHEDULE_PREFIX = "schedule:snapshots:"


def profile_of(runtime: Runtime, name: str) -> SnapshotProfile:
    try:
        return runtime.settings.config.snapshot_profiles[name]
    except KeyError:
        raise UsageError(f"no snapshot profile {name!r}", hint="profiles are [snapshot_profiles.NAME] in avd.toml") from None


def target_of(runtime: Runtime, p: SnapshotProfile) -> copies.Target:
    budget = runtime.extensions.setdefault("snapshot-budget", snaps.Budget())
    poll = float(getattr(runtime.azure, "polling_interval", 15.0))
    return copies.Target(p.source_subscription, p.target_subscription, p.target_resource_group, p.target_region,
                         runtime.azure, budget, poll_seconds=min(15.0, poll))


def restore_step(runtime: Runtime, sub: str, lock: azlocks.Lock) -> Step:
    def apply(ctx: StepContext) -> str:
        back = azlocks.restore(runtime.azure, sub, lock)
        forget(runtime, lock)
        return f"restored {lock.label()}" if back else f"{lock.label()} went with its resource"

    return Step(name=f"restore-lock:{lock.id.lower()}", resource_id=lock.scope, apply=apply, estimate_seconds=5,
                description=f"Restore {lock.label()} (lifted by an interrupted run)", intent={"lock": lock.__dict__})


def copy_step(batch: Batch, t: copies.Target, src: snaps.Snap, replicated: bool, conflict: str) -> Step:
    rid = snaps.snapshot_id(t.target_sub, t.target_rg, src.name)
    route = snaps.route_for(src, t.region)
    gib = src.size_bytes / 1024**3

    def apply(ctx: StepContext) -> str:
        if conflict:
            raise AzureError(conflict, code="NameTaken", resource_id=rid, next_step="rename or remove it, then retry")
        return batch.wait(ctx, src)

    what = (f"Keep {src.name}: already replicated" if replicated else
            f"Copy {src.name} ({route}, {gib:.0f} GiB) to {t.region}" + (f" - BLOCKED: {conflict}" if conflict else ""))
    return Step(name=f"copy:{src.name}", resource_id=rid, description=what, apply=apply,
                check=lambda ctx: replicated, estimate_seconds=60 + int(gib * 6),
                intent={"source": src.id.lower(), "created": src.created, "route": route})


def delete_step(runtime: Runtime, batch: Batch, t: copies.Target, replica: snaps.Snap,
                lift: list[azlocks.Lock]) -> Step:
    def check(ctx: StepContext) -> bool:
        return snaps.get_snapshot(runtime.azure.compute(t.target_sub), t.target_sub, t.target_rg, replica.name,
                                  t.budget) is None

    def apply(ctx: StepContext) -> str:
        batch.join()
        if not copies.source_gone(t, replica):
            return f"kept {replica.name}: its source is back"
        with azlocks.lifted(runtime.azure, t.target_sub, lift, note=ctx.note,
                            on_lift=lambda lk: remember(runtime, lk), on_restore=lambda lk: forget(runtime, lk)):
            copies.delete_snapshot(t, replica.name)
        return f"deleted {replica.name}"

    locks_txt = "; lifts and restores " + ", ".join(lk.label() for lk in lift) if lift else ""
    return Step(name=f"delete:{replica.name}", resource_id=replica.id, apply=apply, check=check, estimate_seconds=30,
                description=f"Delete {replica.name} (its source {replica.source_id.rsplit('/', 1)[-1]} is gone)"
                + locks_txt, intent={"source": replica.source_id.lower(), "lift": [lk.id.lower() for lk in lift]})


def summary_step(batch: Batch, t: copies.Target, skipped: int, deletes: int, notes: list[str]) -> Step:
    def apply(ctx: StepContext) -> str:
        batch.join()
        for note in notes:
            ctx.note(note)
        moved = sum(s.size_bytes for s in batch.copied)
        took = format_seconds(time.monotonic() - batch.started_at) if batch.futures else "0s"
        return (f"copied {len(batch.copied)}, skipped {skipped}, deleted {deletes}, failed {len(batch.failed)},"
                f" {moved / 1024**3:.0f} GiB, {took}")

    text = "Summary" + (": " + "; ".join(notes) if notes else "")
    return Step(name="summary", resource_id="", description=text[:2900], apply=apply, estimate_seconds=1,
                intent={"lift": [lk.id.lower() for lk in batch.lift]})


def build(runtime: Runtime, profile_name: str, only: str | None, verb: str, kind: str, *,
          deletions: bool = True) -> Plan:
    """The plan for a sync (``only`` None) or for one named snapshot; ``deletions=False`` copies only."""
    p = profile_of(runtime, profile_name)
    t = target_of(runtime, p)
    src_compute = runtime.azure.compute(p.source_subscription)
    if only is None:
        sources = snaps.list_snapshots(src_compute, p.source_subscription, p.source_resource_group, t.budget)
    else:
        one = snaps.get_snapshot(src_compute, p.source_subscription, p.source_resource_group, only, t.budget)
        if one is None:
            raise UsageError(f"there is no snapshot {only!r} in {p.source_resource_group}",
                             hint=f"/avd snapshots sync {p.name} --dry-run lists what the profile sees")
        sources = [one]
    targets = snaps.list_snapshots(runtime.azure.compute(p.target_subscription), p.target_subscription,
                                   p.target_resource_group, t.budget)
    scope = f"/subscriptions/{p.source_subscription}/resourceGroups/{p.source_resource_group}"
    d = snaps.diff(sources, targets, source_scope=scope, tag=p.tag if only is None else None,
                   allow_empty_source=p.allow_empty_source)
    if only is not None or not p.sync or not deletions:
        d.orphans = []
    regions = sorted({s.location for s in d.candidates})
    if len(regions) > 1:
        raise UsageError(f"the source snapshots are in several regions ({', '.join(regions)})",
                         hint="split them into one profile per source region")
    if regions:
        snaps.validate_mode(p.mode, p.source_subscription, p.target_subscription, regions[0], p.target_region)
    found = azlocks.find(runtime.azure, p.target_subscription, p.target_resource_group)
    todo = [s for s in d.candidates if s.id.lower() not in d.replicated and s.id.lower() not in d.conflicts]
    rg_child = f"/subscriptions/{p.target_subscription}/resourceGroups/{p.target_resource_group}/x"
    copy_lift = azlocks.blocking(found, rg_child, deleting=False) if todo else []
    lifts = {o.name: azlocks.blocking(found, o.id, deleting=True) for o in d.orphans}
    azlocks.check_liftable([*copy_lift, *(lk for ls in lifts.values() for lk in ls)])
    notes = list(d.notes)
    touched = {lk.id for lk in copy_lift} | {lk.id for ls in lifts.values() for lk in ls}
    notes += [f"{lk.label()} stays (not in the way)" for lk in found if lk.id not in touched]
    if copy_lift:
        notes.append("copies lift and then restore " + ", ".join(lk.label() for lk in copy_lift))
    batch = Batch(runtime, t, todo, copy_lift, p.concurrency)
    steps = [restore_step(runtime, p.target_subscription, lk)
             for lk in leftover_locks(runtime, p.target_subscription, p.target_resource_group)]
    for src in d.candidates:
        steps.append(copy_step(batch, t, src, src.id.lower() in d.replicated, d.conflicts.get(src.id.lower(), "")))
    steps += [delete_step(runtime, batch, t, o, lifts[o.name]) for o in d.orphans]
    steps.append(summary_step(batch, t, len(d.replicated), len(d.orphans), notes))
    for n, step in enumerate(steps):
        if step.name.startswith("copy:"):
            batch.rows[step.name[5:]] = n
    destructive = bool(d.orphans or copy_lift or any(lifts.values()))
    if destructive and verb not in runtime.settings.config.policy.require_approval:
        raise NotApproved(f"this {verb} would delete snapshots or lift locks, which needs an approver, but "
                          f"[policy] require_approval does not list '{verb}': add it, then run the command again")
    title = (f"Snapshots {profile_name}: {len(todo)} to copy, {len(d.replicated)} replicated, "
             f"{len(d.orphans)} to delete -> {p.target_resource_group} ({p.target_region})")
    return Plan(kind=kind, title=title, steps=tuple(steps), verb=verb, summary="; ".join(notes))


def build_sync(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.SnapshotsSync)
    return build(runtime, op.profile, None, "snapshots sync", SYNC)


def build_sync_copies(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    """A sync without deletions (the command line's runs)."""
    assert isinstance(op, ops.SnapshotsSync)
    return build(runtime, op.profile, None, "snapshots sync", COPIES, deletions=False)


def build_copy(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.SnapshotsCopy)
    return build(runtime, op.profile, op.snapshot, "snapshots copy", COPY)


# ---- schedules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    profile: str
    cron: str
    next_run: datetime | None
    requested_by: str
    channel: str


def set_schedule(runtime: Runtime, profile: str, cron: str | None, *, user: str, channel: str) -> str:
    """Add, replace or (``None``) remove the profile's recurring sync in the persistent job store."""
    profile_of(runtime, profile)
    job_id = SCHEDULE_PREFIX + profile
    if cron is None:
        try:
            runtime.scheduler.remove_job(job_id, jobstore=PERSISTENT)
        except LookupError:
            return f"`{profile}` had no schedule."
        return f"Schedule for `{profile}` removed."
    spec = validate_cron(cron)
    op_json = jobs.op_to_json(ops.SnapshotsSync(profile=profile))
    runtime.scheduler.add_job("bot.schedules:fire", CronTrigger(**trigger_fields(spec), timezone="UTC"),
                              args=[op_json, user, channel], id=job_id, name=spec, jobstore=PERSISTENT,
                              executor="light", replace_existing=True)
    return f"`{profile}` now syncs on `{spec}` (UTC), requested as <@{user}> in <#{channel}>."


def schedules(runtime: Runtime) -> list[Schedule]:
    """Every snapshot-sync schedule, for ``/avd status`` and ``/avd jobs``."""
    out = []
    for job in runtime.scheduler.get_jobs(jobstore=PERSISTENT):
        if str(job.id).startswith(SCHEDULE_PREFIX):
            out.append(Schedule(profile=str(job.id)[len(SCHEDULE_PREFIX):], cron=str(job.name),
                                next_run=getattr(job, "next_run_time", None), requested_by=str(job.args[1]),
                                channel=str(job.args[2])))
    return sorted(out, key=lambda s: s.profile)


def schedule_lines(runtime: Runtime) -> list[str]:
    return [f"`{s.profile}`: `{s.cron}` UTC, next {s.next_run:%Y-%m-%d %H:%M} UTC" if s.next_run else
            f"`{s.profile}`: `{s.cron}` UTC (paused)" for s in schedules(runtime)]


def on_schedule(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> Reply:
    from bot.render import Reply

    assert isinstance(op, ops.SnapshotsSchedule)
    text = set_schedule(runtime, op.profile, op.cron, user=ctx.user_id, channel=ctx.channel_id)
    from bot import audit

    audit.record(runtime.store, actor=ctx.user_id, action="snapshots schedule", target=op.profile,
                 detail={"cron": op.cron or "off"}, at=ctx.now)
    return Reply(text=text)


def seed_schedules(runtime: Runtime) -> None:
    """Profiles with ``schedule = "..."`` in the config get it unless one is already stored."""
    channels = runtime.settings.config.policy.allowed_channels
    for p in runtime.settings.config.snapshot_profiles.values():
        if p.schedule and channels and runtime.scheduler.get_job(SCHEDULE_PREFIX + p.name, PERSISTENT) is None:
            set_schedule(runtime, p.name, p.schedule, user="avd-bot", channel=channels[0])


def register(runtime: Runtime) -> None:
    register_capability(SYNC, build_sync, op_type=ops.SnapshotsSync)
    register_capability(COPY, build_copy, op_type=ops.SnapshotsCopy)
    register_capability(COPIES, build_sync_copies)
    runtime.handlers[ops.SnapshotsSchedule] = on_schedule
    runtime.extensions["snapshot-schedules"] = schedules
    try:
        seed_schedules(runtime)
    except Exception:  # noqa: BLE001 - a bad config schedule must not stop the bot; /avd doctor shows it
        log.exception("could not install the configured snapshot schedules")
