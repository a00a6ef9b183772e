"""Failover, failback, rollback, drill and DR scale-down as plans of idempotent steps, plus the preflight.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AvdError, AzureError, AzureUnavailable
from azureops import asr, assignments, dr_capacity, hostpools, recovery, sessions
from azureops.asr import RecoveryPlanRef
from azureops.clients import AzureClients
from azureops.dr_capacity import ScaleSetRef
from azureops.errors import translated
from azureops.plan import Plan, Step, StepContext, format_seconds
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


def _check(name: str, fn: Callable[[], str], *, warn_only: bool = False) -> Check:
    """``fn()`` as a check: an unanswered region is a warning when ``warn_only``, any other error a failure."""
    try:
        return Check(name, True, fn())
    except AzureUnavailable as err:
        return Check(name, None if warn_only else False, str(err.message))
    except AvdError as err:
        return Check(name, False, err.message if isinstance(err, AzureError) else str(err))


def dr_checks(clients: AzureClients, dr: SiteSpec, opt: Options) -> list[Check]:
    """What DR's scale-out needs, read in the DR region only: identity, DR scale set, DR host pool (and the DR
    application group when post-steps assign it), capacity. The image version's replica is not among them: its
    state lives on the gallery version, homed in the primary region (``replica_check``); when that cannot be
    read, Azure itself refuses a scale-out without a Completed replica and the scale-out step reports its error.
    """

    def scale_set() -> str:
        found = dr_capacity.read_scale_set(clients, dr.vmss)
        ref = getattr(
            getattr(found.virtual_machine_profile, "storage_profile", None), "image_reference", None
        )
        image = str(getattr(ref, "id", "") or "")
        built = f", built from {image.rsplit('/images/', 1)[-1]}" if "/images/" in image else ""
        if dr.image_version_id and image and image.lower() != dr.image_version_id.lower():
            built += f" (the plan names {dr.image_version_id.rsplit('/images/', 1)[-1]})"
        return f"{dr.vmss.name} exists, capacity {found.sku.capacity}{built}"

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

    checks = [_check("identity", identity), _check("DR scale set", scale_set), _check("DR host pool", pool)]
    if opt.app_group_principals:
        checks.append(_check("DR application group", app_group))
    checks.append(_check("capacity", capacity))
    return checks


def replica_check(clients: AzureClients, dr: SiteSpec, gate: PrimaryGate) -> Check:
    """The image version's replica Completed in the DR region, read from the gallery (homed in the primary
    region) through ``gate``: a warning when it does not answer, a failure when it answers and the replica is not
    Completed."""

    def replica() -> str:
        if not dr.image_version_id:
            raise AvdError("no image version configured for the DR scale set")
        parts = dr.image_version_id.split("/")

        def read(opts: hostpools.Opts) -> Any:
            with translated(dr.image_version_id):  # inside the gate: an unanswered read marks the region down
                return clients.compute(parts[2]).gallery_image_versions.get(
                    parts[4], parts[8], parts[10], parts[12], expand="ReplicationStatus", **dict(opts)
                )

        version = gate.call(read)
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

    found = _check("replica", replica, warn_only=True)
    if found.ok is None:
        detail = (
            f"not read: the gallery is homed in {gate.region}, which did not answer ({found.detail}); "
            f"Azure refuses DR's scale-out if the replica in {dr.location} is missing, and that step says so"
        )
        return Check(found.name, None, detail)
    return found


def primary_checks(clients: AzureClients, primary: SiteSpec, dr: SiteSpec, gate: PrimaryGate) -> list[Check]:
    """The primary region, bounded by ``gate`` (one timeout in all: once it did not answer, later reads are not
    tried): its host pool answers, then the replica of the image version in the DR region (the gallery is homed
    there). An unanswered region is a warning and marks ``gate`` down: the primary's steps are then skipped."""

    def primary_region() -> str:
        gate.call(lambda opts: _probe(clients, primary.pool, opts))
        return f"{primary.pool.name} answers"

    return [_check("primary region", primary_region, warn_only=True), replica_check(clients, dr, gate)]


def preflight(
    clients: AzureClients, primary: SiteSpec, dr: SiteSpec, opt: Options, gate: PrimaryGate | None
) -> list[Check]:
    """Every check of a failover (``/avd failover plan``): ``dr_checks``, then ``primary_checks`` (without a
    ``gate``, the replica alone, bounded by the primary timeout: a drill does not probe the primary)."""
    if gate is None:
        return [
            *dr_checks(clients, dr, opt),
            replica_check(clients, dr, PrimaryGate(primary.location, opt.primary_timeout)),
        ]
    return [*dr_checks(clients, dr, opt), *primary_checks(clients, primary, dr, gate)]


def _probe(
    clients: AzureClients, pool: HostPoolRef, opts: hostpools.Opts | None = None
) -> hostpools.HostPoolInfo:
    """Does the pool's region answer? Read the pool; errors keep the next step Azure's code implies."""
    return hostpools.get_host_pool(
        clients, pool.subscription, pool.resource_group, pool.name, opts, config_hint=False
    )


def _region(name: str) -> str:
    return name.replace(" ", "").lower()


def checks_step(
    name: str,
    description: str,
    checks: Callable[[], list[Check]],
    *,
    done: Callable[[list[Check]], str] | None = None,
    extra: Callable[[], None] | None = None,
    estimate: int = 3,
) -> Step:
    """A step that runs ``checks``, notes each, fails on a failed one, then runs ``extra``; ``done`` words the
    output (default: how many passed)."""

    def apply(ctx: StepContext) -> str:
        found = checks()
        for c in found:
            ctx.note(f"{'ok' if c.ok else 'FAILED' if c.ok is False else 'warning'}: {c.name}: {c.detail}")
        failed = [c for c in found if c.ok is False]
        if failed:
            raise AvdError(f"{name} failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        if extra is not None:
            extra()
        if done is not None:
            return done(found)
        return f"{len(found)} check(s) passed" + (
            " (with warnings)" if any(c.ok is None for c in found) else ""
        )

    return Step(name=name, resource_id="", description=description, apply=apply, estimate_seconds=estimate)


def preflight_step(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    opt: Options,
    *,
    name: str = "preflight",
    extra: Callable[[], None] | None = None,
) -> Step:
    """A drill's preflight: ``dr_checks`` and the replica (bounded by the primary timeout, a warning when the
    gallery's region does not answer); the primary itself is not probed."""
    return checks_step(
        name,
        "Preflight: replica, identity, DR scale set, DR host pool, capacity",
        lambda: preflight(clients, primary, dr, opt, None),
        extra=extra,
    )


def dr_preflight_step(
    clients: AzureClients, dr: SiteSpec, opt: Options, *, name: str = "dr-preflight"
) -> Step:
    """What DR's scale-out waits for: ``dr_checks``, the DR region only."""
    return checks_step(
        name,
        f"DR preflight in {dr.location}: identity, DR scale set, DR host pool, capacity",
        lambda: dr_checks(clients, dr, opt),
    )


def primary_probe_step(
    clients: AzureClients,
    primary: SiteSpec,
    dr: SiteSpec,
    gate: PrimaryGate,
    *,
    name: str = "primary-probe",
) -> Step:
    """What the primary's branch and the ASR branch wait for (DR's scale-out does not): ``primary_checks``."""

    def done(found: list[Check]) -> str:
        if gate.down:
            return (
                f"the primary region {gate.region} did not answer: its steps are skipped, DR is not delayed"
            )
        return f"{len(found)} check(s) passed" + (
            " (with warnings)" if any(c.ok is None for c in found) else ""
        )

    return checks_step(
        name,
        f"Probe the primary region {primary.location}: {primary.pool.name} answers, the replica in "
        f"{dr.location} (at most {format_seconds(gate.timeout)})",
        lambda: primary_checks(clients, primary, dr, gate),
        done=done,
        estimate=2,
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
