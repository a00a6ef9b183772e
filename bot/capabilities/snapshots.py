"""``/avd snapshots sync|copy|schedule``: snapshot replication profiles as job-engine plans.

The plans are assembled by ``azureops.snapshot_plans`` from the profile's values; this module maps the config
to them, keeps the locks a run lifts in the bot's store (``records.LiftedLockRecord``) and refuses a plan
that deletes or lifts locks when the policy would let it run without an approver. Schedules are stored rows
(``Runtime.timers``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from avdcore.errors import NotApproved, UsageError
from azureops import snapshot_copies as copies
from azureops.plan import Plan
from azureops.snapshot_plans import Profile, destructive, sync_plan
from bot.config.siteconfig import SnapshotProfile
from bot.runtime import Capability, CommandContext, Runtime
from bot.slack.render import Reply
from bot.storage import audit, records
from commands import ops
from commands.cron import validate_cron

log = logging.getLogger(__name__)
SYNC, COPY, COPIES = "snapshots-sync", "snapshots-copy", "snapshots-sync-copies"
SCHEDULE_PREFIX = "schedule:snapshots:"


def profile_of(runtime: Runtime, name: str) -> SnapshotProfile:
    try:
        return runtime.settings.config.snapshot_profiles[name]
    except KeyError:
        raise UsageError(
            f"no snapshot profile {name!r}", hint="profiles are [snapshot_profiles.NAME] in avd.toml"
        ) from None


def target_of(runtime: Runtime, p: SnapshotProfile) -> copies.Target:
    budget = runtime.snapshot_budget
    poll = float(runtime.azure.polling_interval)
    return copies.Target(
        p.source_subscription,
        p.target_subscription,
        p.target_resource_group,
        p.target_region,
        runtime.azure,
        budget,
        poll_seconds=min(15.0, poll),
    )


def inputs(p: SnapshotProfile) -> Profile:
    return Profile(
        name=p.name,
        source_subscription=p.source_subscription,
        source_resource_group=p.source_resource_group,
        target_subscription=p.target_subscription,
        target_resource_group=p.target_resource_group,
        target_region=p.target_region,
        mode=p.mode,
        tag=p.tag,
        sync=p.sync,
        concurrency=p.concurrency,
        allow_empty_source=p.allow_empty_source,
    )


def build(
    runtime: Runtime, profile_name: str, only: str | None, verb: str, kind: str, *, deletions: bool = True
) -> Plan:
    """The plan for a sync (``only`` None) or for one named snapshot; ``deletions=False`` copies only. A plan
    that deletes or lifts locks needs an approver: refused when the policy would let it run unapproved."""
    p = profile_of(runtime, profile_name)
    plan = sync_plan(
        inputs(p),
        target_of(runtime, p),
        records.LiftedLockRecord(runtime.store),
        only=only,
        verb=verb,
        kind=kind,
        deletions=deletions,
    )
    if destructive(plan) and verb not in runtime.settings.config.policy.require_approval:
        raise NotApproved(
            f"this {verb} would delete snapshots or lift locks, which needs an approver, but "
            f"[policy] require_approval does not list '{verb}': add it, then run the command again"
        )
    return plan


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
    """Add, replace or (``None``) remove the profile's recurring sync (a stored schedule)."""
    profile_of(runtime, profile)
    schedule_id = SCHEDULE_PREFIX + profile
    if cron is None:
        if not runtime.timers.remove(schedule_id):
            return f"`{profile}` had no schedule."
        return f"Schedule for `{profile}` removed."
    spec = validate_cron(cron)
    runtime.timers.request(schedule_id, ops.SnapshotsSync(profile=profile), spec, user=user, channel=channel)
    return f"`{profile}` now syncs on `{spec}` (UTC), requested as <@{user}> in <#{channel}>."


def schedules(runtime: Runtime) -> list[Schedule]:
    """Every snapshot-sync schedule, for ``/avd status`` and ``/avd jobs``."""
    return [
        Schedule(
            profile=t.id[len(SCHEDULE_PREFIX) :],
            cron=str(t.cron),
            next_run=t.next_run,
            requested_by=t.created_by,
            channel=t.channel,
        )
        for t in runtime.timers.listed(SCHEDULE_PREFIX)
    ]


def schedule_lines(runtime: Runtime) -> list[str]:
    return [
        f"`{s.profile}`: `{s.cron}` UTC, next {s.next_run:%Y-%m-%d %H:%M} UTC"
        if s.next_run
        else f"`{s.profile}`: `{s.cron}` UTC (paused)"
        for s in schedules(runtime)
    ]


def on_schedule(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> Reply:
    assert isinstance(op, ops.SnapshotsSchedule)
    text = set_schedule(runtime, op.profile, op.cron, user=ctx.user_id, channel=ctx.channel_id)
    audit.record(
        runtime.store,
        actor=ctx.user_id,
        action="snapshots schedule",
        target=op.profile,
        detail={"cron": op.cron or "off"},
        at=ctx.now,
    )
    return Reply(text=text)


def seed_schedules(runtime: Runtime) -> None:
    """Profiles with ``schedule = "..."`` in the config get it unless one is already stored."""
    channels = runtime.settings.config.policy.allowed_channels
    for p in runtime.settings.config.snapshot_profiles.values():
        if p.schedule and channels and runtime.timers.get(SCHEDULE_PREFIX + p.name) is None:
            set_schedule(runtime, p.name, p.schedule, user="avd-bot", channel=channels[0])


def install_schedules(runtime: Runtime) -> None:
    try:
        seed_schedules(runtime)
    except Exception:  # noqa: BLE001 - a bad config schedule must not stop the bot; /avd doctor shows it
        log.exception("could not install the configured snapshot schedules")


CAPABILITY = Capability(
    name="snapshots",
    handlers={ops.SnapshotsSchedule: on_schedule},
    jobs={ops.SnapshotsSync: SYNC, ops.SnapshotsCopy: COPY},
    plans={SYNC: build_sync, COPY: build_copy, COPIES: build_sync_copies},
    on_start=install_schedules,
)
