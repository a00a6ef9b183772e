"""Failover, failback, rollback, drill and DR scale-down as plans of idempotent steps (their checks: ``failover_checks``).

Each plan is a dependency graph (``Step.after``). A failover starts with two checks at once: the DR preflight
(``dr_checks``: the DR region only) and the primary probe (``primary_checks``: the primary's host pool and the
gallery, homed in the primary region, each bounded by the primary timeout through a ``PrimaryGate``). DR's branch
(scale the DR scale set out, wait for its session hosts) needs only the DR preflight, so it never waits for the
primary region; the primary's branch (autoscale off, drain, message, grace period, log off) and the site's Azure
Site Recovery plan (its planned/unplanned choice is the probe's) need both. The configured post-steps
(``assign_app_group``: users/groups get Desktop Virtualization User on the DR application group) wait for every
branch. DR capacity thus comes up during the users' grace period, and in a full outage of the primary region
during the probe's timeout: the recovery time is the longer branch, not the sum. Steps are listed so that a
one-at-a-time runner (list order) still sends the DR scale-out before the probe and the grace period. When the
primary region does not answer, its steps are skipped (the gate remembers it for the run); no DR step waits for a
primary step. Failback needs both regions before anything (it moves users back to the primary): its preflight
probes both; it drains DR while it undrains the primary and scales DR in only after DR's sessions are gone. A drill
touches DR only: its preflight is the DR checks and the replica (bounded by the primary timeout, a warning when
the gallery's region does not answer); it reports while it tears down. Callers pass plain values (``SiteSpec``,
``Options``) and extra bot-side steps (``final``, after every other step) such as the summary; nothing here reads
the config or the bot's store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from avdcore.errors import AvdError
from azureops import asr, assignments, dr_capacity, recovery
from azureops.clients import AzureClients
from azureops.failover_checks import dr_preflight_step, preflight_step, primary_probe_step, probe_pool
from azureops.failover_spec import Options as Options  # re-exported: the plans' inputs
from azureops.failover_spec import SiteSpec as SiteSpec
from azureops.plan import Plan, Step, StepContext
from azureops.recovery import Clock, PrimaryGate


def _estimated(steps: Sequence[Step], estimates: Mapping[str, float]) -> tuple[Step, ...]:
    return tuple(
        dataclasses.replace(s, estimate_seconds=max(1, round(estimates[s.name])))
        if s.name in estimates
        else s
        for s in steps
    )


def after(step: Step, *names: str) -> Step:
    """``step`` waiting for exactly ``names`` (none: it starts with the job)."""
    return dataclasses.replace(step, after=tuple(names))


def chain(steps: Sequence[Step], *first: str) -> list[Step]:
    """``steps`` one after the other, the first of them after ``first``."""
    out, prev = [], first
    for step in steps:
        out.append(after(step, *prev))
        prev = (step.name,)
    return out


def leaves(steps: Sequence[Step]) -> tuple[str, ...]:
    """The steps no other step waits for (in list order; every step of a graph plan names its ``after``)."""
    needed = {name for s in steps for name in (s.after or ())}
    return tuple(s.name for s in steps if s.name not in needed)


def graph(
    steps: Sequence[Step], final: Sequence[Step], estimates: Mapping[str, float] | None
) -> tuple[Step, ...]:
    """The plan's steps with the bot-side ``final`` steps after every other branch (one after the other)."""
    return _estimated([*steps, *chain(final, *leaves(steps))], estimates or {})


# The steps whose end is "DR capacity Available" (the later of those a plan has) and "the primary's users were
# signed out": the RTO figures (``bot.capabilities.failover_config.figures``) are read from their rows.
DR_READY_STEPS = ("dr-hosts-available", "asr-failover")
SIGNED_OUT_STEP = "log-off-users"
# A failback's: the primary takes users again once it is undrained (DR's users are signed out only after that) and,
# with a recovery plan, once ASR has failed the personal desktops back; DR's users are signed out by its log-off.
PRIMARY_READY_STEPS = ("primary-undrain", "asr-failback")
DR_SIGNED_OUT_STEP = "dr-log-off-users"
# A failover's two checks: DR's branch waits for the first only, the primary's and ASR's for both.
DR_PREFLIGHT, PRIMARY_PROBE = "dr-preflight", "primary-probe"


def failover_plan(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    opt: Options,
    clock: Clock,
    *,
    final: Sequence[Step] = (),
    estimates: Mapping[str, float] | None = None,
) -> Plan:
    """The DR preflight and the primary probe at once; DR's branch after the DR preflight only; the primary's
    branch and the ASR branch after both; post-steps after all three.

    List order (a topological order) puts the DR scale-out, which returns once Azure accepted it, right after the
    DR preflight and before the primary probe, the primary's branch and the wait for DR's hosts, so even a
    runner that takes one step at a time boots DR during the probe and the grace period."""
    gate = PrimaryGate(primary.location, opt.primary_timeout)
    grace = 0 if opt.now else opt.grace_seconds
    pre = after(dr_preflight_step(clients, dr, opt, name=DR_PREFLIGHT))
    probe = after(primary_probe_step(clients, primary, dr, gate, name=PRIMARY_PROBE))
    checked = (pre.name, probe.name)  # the primary's and ASR's branches need both; DR's only its own
    users = chain(
        [
            recovery.autoscale_step(clients, primary.pool, gate, enabled=False, name="primary-autoscale-off"),
            recovery.drain_step(clients, primary.pool, gate, drain=True, name="primary-drain"),
            recovery.notify_step(
                clients,
                primary.pool,
                gate,
                clock,
                grace=grace,
                title=opt.message_title,
                body=opt.message_body,
                name="notify-users",
            ),
            recovery.log_off_step(
                clients, primary.pool, gate, recheck=opt.recheck_sessions, name=SIGNED_OUT_STEP
            ),
        ],
        *checked,
    )
    recovery_plan: list[Step] = []
    if opt.asr is not None:
        recovery_plan = chain(
            [
                asr.asr_step(
                    clients,
                    opt.asr,
                    1,
                    name="asr-failover",
                    tick=opt.tick,
                    planned=lambda: opt.asr_planned and not gate.down,
                    source_up=lambda: not gate.down,
                )
            ],
            *checked,
        )
    capacity: list[Step] = []
    if opt.capacity > 0:
        capacity = chain(
            [
                dr_capacity.scale_step(
                    clients, dr.vmss, opt.capacity, name="dr-scale-out", wait=False, pool=dr.pool, clock=clock
                ),
                dr_capacity.available_hosts_step(
                    clients, dr.pool, dr.vmss, opt.capacity, name="dr-hosts-available", tick=opt.tick
                ),
            ],
            pre.name,
        )
    scale_out, hosts = capacity[:1], capacity[1:]
    branches = [*recovery_plan, *users[-1:], *hosts]  # in list order: the preview reads "after 3, 7, 8"
    post = chain(post_steps(clients, primary, dr, opt), *(s.name for s in branches))
    steps = [pre, *scale_out, probe, *recovery_plan, *users, *hosts, *post]
    return Plan(
        kind="failover",
        title=f"Failover {primary.name} -> {dr.name}",
        steps=graph(steps, final, estimates),
        verb="failover start",
        summary=f"{primary.pool.name} -> {dr.pool.name}, {opt.capacity} session host(s)"
        + (f", recovery plan {opt.asr.name}" if opt.asr else ""),
    )


def post_steps(clients: AzureClients, primary: SiteSpec, dr: SiteSpec, opt: Options) -> list[Step]:
    """The failover's configured post-steps (after the DR hosts are Available)."""
    if not opt.app_group_principals:
        return []
    note = f"{assignments.MARKER} {primary.name} -> {dr.name}: access to the DR desktops"
    return [
        assignments.assign_step(
            clients, dr.app_group_ref, opt.app_group_principals, name="dr-assign-app-group", description=note
        )
    ]


def undo_post_steps(clients: AzureClients, dr: SiteSpec, opt: Options) -> list[Step]:
    """Failback and rollback: remove what the post-steps assigned (only that)."""
    if not opt.app_group_principals:
        return []
    return [assignments.unassign_step(clients, dr.app_group_ref, name="dr-unassign-app-group")]


def failback_plan(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    opt: Options,
    clock: Clock,
    *,
    final: Sequence[Step] = (),
    estimates: Mapping[str, float] | None = None,
) -> Plan:
    # Every branch needs both regions (users move back to the primary; DR is drained only once the primary takes
    # them): the primary's read is bounded by the primary timeout (connecting included) and fails the step.
    def primary_up(ctx: StepContext) -> str:
        probe_pool(clients, primary.pool, PrimaryGate(primary.location, opt.primary_timeout).opts)
        probe_pool(clients, dr.pool)
        return f"{primary.pool.name} and {dr.pool.name} answer"

    pre = Step(
        name="preflight",
        resource_id="",
        description=f"Preflight: {primary.pool.name} and {dr.pool.name} answer",
        apply=primary_up,
        estimate_seconds=2,
        after=(),
    )
    home = chain(
        [
            recovery.drain_step(clients, primary.pool, None, drain=False, name="primary-undrain"),
            recovery.autoscale_step(clients, primary.pool, None, enabled=True, name="primary-autoscale-on"),
        ],
        pre.name,
    )
    drain = chain([recovery.drain_step(clients, dr.pool, None, drain=True, name="dr-drain")], pre.name)
    # DR's users are messaged and signed out, and lose their DR assignments, only once the primary takes them.
    leave = chain(
        [
            *undo_post_steps(clients, dr, opt),
            recovery.notify_step(
                clients,
                dr.pool,
                None,
                clock,
                grace=0 if opt.now else opt.grace_seconds,
                title=opt.message_title,
                body=opt.message_body,
                name="dr-notify-users",
            ),
            recovery.log_off_step(
                clients, dr.pool, None, recheck=opt.recheck_sessions, name=DR_SIGNED_OUT_STEP
            ),
        ],
        "dr-drain",
        "primary-undrain",
    )
    recovery_plan: list[Step] = []
    if opt.asr is not None:
        names = {
            2: "asr-commit",
            3: "asr-reprotect",
            4: "asr-failback",
            5: "asr-failback-commit",
            6: "asr-reprotect-home",
        }
        cycle = [
            asr.asr_step(
                clients, opt.asr, target, name=names[target], tick=opt.tick, planned=lambda: opt.asr_planned
            )
            for target in range(2, 7)
        ]
        # Commit and reprotect (replicate back) beside the grace period; the failback itself once DR's users
        # are signed out.
        recovery_plan = [*chain(cycle[:2], pre.name), *chain(cycle[2:], "asr-reprotect", DR_SIGNED_OUT_STEP)]
    scale_in = chain(
        [
            recovery.sessions_gone_step(
                clients, dr.pool, name="dr-sessions-gone", tick=opt.tick, timeout=opt.sessions_timeout
            ),
            dr_capacity.scale_step(clients, dr.vmss, 0, name="dr-scale-in", wait=True, estimate=90),
        ],
        DR_SIGNED_OUT_STEP,
    )
    steps = [pre, *drain, *home, *leave, *recovery_plan, *scale_in]
    return Plan(
        kind="failback",
        title=f"Failback {dr.name} -> {primary.name}",
        steps=graph(steps, final, estimates),
        verb="failback start",
        summary=f"{dr.pool.name} -> {primary.pool.name}, {dr.vmss.name} to 0 once its sessions are gone",
    )


def rollback_plan(clients: AzureClients, primary: SiteSpec, dr: SiteSpec, opt: Options) -> Plan:
    """After a cancelled failover: users back on the primary, DR scaled back to 0 once it has no sessions."""
    home = chain(
        [
            recovery.drain_step(clients, primary.pool, None, drain=False, name="primary-undrain"),
            recovery.autoscale_step(clients, primary.pool, None, enabled=True, name="primary-autoscale-on"),
        ]
    )
    # DR goes back to 0 (refused while it has sessions) once the primary takes users again.
    dr_side = chain(
        [
            *undo_post_steps(clients, dr, opt),
            recovery.sessions_gone_step(clients, dr.pool, name="dr-sessions-gone", tick=opt.tick, timeout=0),
            dr_capacity.scale_step(clients, dr.vmss, 0, name="dr-scale-in", wait=True, estimate=90),
        ],
        "primary-undrain",
    )
    steps = (*home, *dr_side)
    return Plan(
        kind="failover rollback",
        title=f"Roll back the failover of {primary.name}",
        steps=steps,
        verb="failover cancel",
        summary=f"undrain {primary.pool.name}, {dr.vmss.name} back to 0",
    )


def scale_down_plan(clients: AzureClients, dr: SiteSpec, opt: Options) -> Plan:
    """After an incident: the DR scale set back to 0 (refused while users are still on DR)."""
    steps = (
        recovery.sessions_gone_step(clients, dr.pool, name="dr-sessions-gone", tick=opt.tick, timeout=0),
        dr_capacity.scale_step(clients, dr.vmss, 0, name="dr-scale-in", wait=True, estimate=90),
    )
    return Plan(
        kind="dr scale-down",
        title=f"Scale {dr.vmss.name} back to 0",
        steps=steps,
        verb="scale in",
        summary=f"{dr.vmss.name} to 0 (it costs money while it runs)",
    )


def drill_plan(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    opt: Options,
    clock: Clock,
    *,
    measure: Sequence[Step] = (),
    final: Sequence[Step] = (),
    estimates: Mapping[str, float] | None = None,
) -> Plan:
    """Rehearsal on the DR site only: scale out, wait for Available hosts, measure; then scale back to 0 while the
    bot-side ``final`` steps report."""

    def idle_dr() -> None:
        running = dr_capacity.read_scale_set(clients, dr.vmss).sku.capacity or 0
        if running:
            raise AvdError(
                f"{dr.vmss.name} already runs {running} instance(s) (a failover in progress?): a drill "
                "would tear them down; scale it to 0 first"
            )

    steps = chain(
        [
            preflight_step(clients, primary, dr, opt, extra=idle_dr),
            dr_capacity.scale_step(
                clients, dr.vmss, opt.capacity, name="drill-scale-out", wait=False, pool=dr.pool, clock=clock
            ),
            dr_capacity.available_hosts_step(
                clients, dr.pool, dr.vmss, opt.capacity, name="drill-hosts-available", tick=opt.tick
            ),
            *measure,
        ]
    )
    measured = steps[-1].name
    # The teardown and the bot-side report (``final``) both wait only for the measurements.
    steps += chain(
        [dr_capacity.scale_step(clients, dr.vmss, 0, name="drill-scale-in", wait=True, estimate=90)], measured
    )
    steps += chain(final, measured)
    return Plan(
        kind="drill",
        title=f"DR drill on {dr.name}",
        steps=_estimated(steps, estimates or {}),
        verb="drill",
        summary=f"{dr.vmss.name} to {opt.capacity} and back to 0; the primary is not touched",
    )
