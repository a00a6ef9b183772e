"""Failover, failback, rollback, drill and DR scale-down as plans of idempotent steps, plus the preflight.

Each plan is a dependency graph (``Step.after``). A failover runs the preflight, then two branches at once:
the primary's (autoscale off, drain, message, grace period, log off) and DR's (scale the DR scale set out, wait
for its session hosts); the site's Azure Site Recovery plan, when it has one, is a third branch; the configured
post-steps (``assign_app_group``: users/groups get Desktop Virtualization User on the DR application group) wait
for all of them. DR capacity thus comes up during the users' grace period: the recovery time is the longer of
the two branches, not their sum. Steps are listed so that a one-at-a-time runner (list order) still sends the
DR scale-out before the grace period. When the primary region does not answer, its steps are skipped after a
bounded wait (``PrimaryGate``); no DR step waits for a primary step. Failback drains DR while it undrains the
primary and scales DR in only after DR's sessions are gone; a drill reports while it tears down. Callers pass
plain values (``SiteSpec``, ``Options``) and extra bot-side steps (``final``, after every other step) such as
the summary; nothing here reads the config or the bot's store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from avdcore.errors import AvdError, AzureError, AzureUnavailable
from azureops import asr, assignments, dr_capacity, hostpools, recovery, sessions
from azureops.asr import RecoveryPlanRef
from azureops.clients import AzureClients
from azureops.dr_capacity import ScaleSetRef
from azureops.errors import translated
from azureops.plan import Plan, Step, StepContext
from azureops.recovery import Clock, PrimaryGate
from azureops.sessions import HostPoolRef


@dataclass(frozen=True)
class SiteSpec:
    name: str
    location: str
    pool: HostPoolRef
    vmss: ScaleSetRef
    identity_id: str = ""
    image_version_id: str = ""  # the gallery image version the DR scale set is built from
    app_group: str = ""  # the application group (in the host pool's resource group) users are assigned to

    @property
    def app_group_ref(self) -> assignments.AppGroupRef:
        return assignments.AppGroupRef(self.pool.subscription, self.pool.resource_group, self.app_group)


@dataclass(frozen=True)
class Options:
    grace_seconds: int = 300
    message_title: str = "AVD failover"
    message_body: str = "You will be signed out in {seconds} seconds."
    recheck_sessions: bool = True
    primary_timeout: float = 60.0
    capacity: int = 2  # dr_capacity (failover) or drill_capacity (drill)
    now: bool = False  # --now: no grace period
    asr: RecoveryPlanRef | None = None
    asr_planned: bool = False
    tick: float = 15.0  # seconds between polls while waiting on Azure
    sessions_timeout: float = 600.0  # failback: how long to wait for DR sessions to end
    app_group_principals: tuple[str, ...] = ()  # post-step assign_app_group: Entra object ids of users/groups


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not tell (a warning, not a blocker)
    detail: str


def preflight(
    clients: AzureClients, primary: SiteSpec, dr: SiteSpec, opt: Options, gate: PrimaryGate | None
) -> list[Check]:
    """Replica Completed in the DR region, identity, DR scale set, DR host pool, capacity, primary reachable."""
    checks: list[Check] = []

    def run(name: str, fn: Callable[[], str], *, warn_only: bool = False) -> None:
        try:
            checks.append(Check(name, True, fn()))
        except AzureUnavailable as err:
            checks.append(Check(name, None if warn_only else False, str(err.message)))
        except AvdError as err:
            checks.append(Check(name, False, err.message if isinstance(err, AzureError) else str(err)))

    def scale_set() -> str:
        found = dr_capacity.read_scale_set(clients, dr.vmss)
        return f"{dr.vmss.name} exists, capacity {found.sku.capacity}"

    def replica() -> str:
        if not dr.image_version_id:
            raise AvdError("no image version configured for the DR scale set")
        parts = dr.image_version_id.split("/")
        call = gate.call if gate is not None else (lambda fn: fn({}))
        with translated(dr.image_version_id):
            version = call(
                lambda opts: clients.compute(parts[2]).gallery_image_versions.get(
                    parts[4], parts[8], parts[10], parts[12], expand="ReplicationStatus", **dict(opts)
                )
            )
        summary = getattr(version.replication_status, "summary", None) or []
        state = next(
            (
                str(getattr(s.state, "value", s.state))
                for s in summary
                if _region(str(s.region)) == _region(dr.location)
            ),
            "",
        )
        if state.lower() != "completed":
            raise AvdError(
                f"the replica of {parts[12]} in {dr.location} is {state or 'missing'}: "
                f"/avd replicas add {dr.location}"
            )
        return f"{parts[10]}/{parts[12]} Completed in {dr.location}"

    def identity() -> str:
        if not dr.identity_id:
            raise AvdError("no identity configured for the DR site")
        parts = dr.identity_id.split("/")
        with translated(dr.identity_id):
            clients.msi(parts[2]).user_assigned_identities.get(parts[4], parts[8])
        return f"{parts[8]} exists in {parts[4]}"

    def pool() -> str:
        _probe(clients, dr.pool)
        return f"{dr.pool.name} answers, {sessions.available_hosts(clients, dr.pool)} host(s) Available"

    def app_group() -> str:
        if not dr.app_group:
            raise AvdError("no application_group configured for the DR site (post-step assign_app_group)")
        with translated(dr.app_group_ref.id):
            clients.avd(dr.pool.subscription).application_groups.get(dr.pool.resource_group, dr.app_group)
        return f"{dr.app_group} exists ({len(opt.app_group_principals)} principal(s) to assign)"

    def capacity() -> str:
        if opt.capacity <= 0 and opt.asr is None:
            raise AvdError("capacity is 0: set dr_capacity (or an asr recovery plan) for the DR site")
        return f"{opt.capacity} session host(s)"

    run("replica", replica, warn_only=True)
    run("identity", identity)
    run("DR scale set", scale_set)
    run("DR host pool", pool)
    if opt.app_group_principals:
        run("DR application group", app_group)
    run("capacity", capacity)
    if gate is not None:
        opts = gate.opts

        def primary_region() -> str:
            _probe(clients, primary.pool, opts)
            return f"{primary.pool.name} answers"

        run("primary region", primary_region, warn_only=True)
        if not checks[-1].ok:
            gate.down = gate.down or checks[-1].detail
    return checks


def _probe(
    clients: AzureClients, pool: HostPoolRef, opts: hostpools.Opts | None = None
) -> hostpools.HostPoolInfo:
    """Does the pool's region answer? Read the pool; errors keep the next step Azure's code implies."""
    return hostpools.get_host_pool(
        clients, pool.subscription, pool.resource_group, pool.name, opts, config_hint=False
    )


def _region(name: str) -> str:
    return name.replace(" ", "").lower()


def preflight_step(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    opt: Options,
    gate: PrimaryGate | None,
    *,
    name: str = "preflight",
    extra: Callable[[], None] | None = None,
) -> Step:
    def apply(ctx: StepContext) -> str:
        checks = preflight(clients, primary, dr, opt, gate)
        for c in checks:
            ctx.note(f"{'ok' if c.ok else 'FAILED' if c.ok is False else 'warning'}: {c.name}: {c.detail}")
        failed = [c for c in checks if c.ok is False]
        if failed:
            raise AvdError("preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        if extra is not None:
            extra()
        return f"{len(checks)} check(s) passed" + (
            " (with warnings)" if any(c.ok is None for c in checks) else ""
        )

    return Step(
        name=name,
        resource_id="",
        description="Preflight: replica, identity, DR scale set, DR host pool, capacity",
        apply=apply,
        estimate_seconds=3,
    )


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
    """Preflight; then the primary's branch, DR's branch and the ASR branch at once; post-steps after all three.

    List order (a topological order) puts the DR scale-out, which returns once Azure accepted it, before the
    primary's branch and the wait for DR's hosts after it, so even a runner that takes one step at a time
    boots DR during the grace period."""
    gate = PrimaryGate(primary.location, opt.primary_timeout)
    grace = 0 if opt.now else opt.grace_seconds
    pre = after(preflight_step(clients, primary, dr, opt, gate))
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
        pre.name,
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
            pre.name,
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
    steps = [pre, *scale_out, *recovery_plan, *users, *hosts, *post]
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
    def primary_up(ctx: StepContext) -> str:
        _probe(clients, primary.pool, {"timeout": opt.primary_timeout, "read_timeout": opt.primary_timeout})
        _probe(clients, dr.pool)
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
                clients, dr.pool, None, recheck=opt.recheck_sessions, name="dr-log-off-users"
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
        recovery_plan = [*chain(cycle[:2], pre.name), *chain(cycle[2:], "asr-reprotect", "dr-log-off-users")]
    scale_in = chain(
        [
            recovery.sessions_gone_step(
                clients, dr.pool, name="dr-sessions-gone", tick=opt.tick, timeout=opt.sessions_timeout
            ),
            dr_capacity.scale_step(clients, dr.vmss, 0, name="dr-scale-in", wait=True, estimate=90),
        ],
        "dr-log-off-users",
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
            preflight_step(clients, primary, dr, opt, None, extra=idle_dr),
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
