"""A failover's checks, and the steps that run them, split by the region each reads.

``dr_checks`` read the DR region only (identity, DR scale set, DR host pool, DR application group, capacity): all
DR's scale-out waits for. ``primary_checks`` read the primary region through a ``PrimaryGate`` (one primary timeout
in all): its host pool, then the image version's replica in the DR region, whose state lives on the gallery version
homed in the primary region. The replica is not trusted from the approval-time plan (the plan names the version,
not its state) and not waited for by DR: when the gallery does not answer it is a warning, and Azure itself refuses
a scale-out without a Completed replica (the scale-out step reports Azure's error); read as not Completed, it fails
the probe, which stops the job before the primary is drained. The steps have no resource and no intent, so the
plan hash does not depend on what they read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AvdError, AzureError, AzureUnavailable
from azureops import assignments, dr_capacity, hostpools, sessions
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.failover_spec import Options, SiteSpec
from azureops.plan import Step, StepContext, format_seconds
from azureops.recovery import PrimaryGate
from azureops.sessions import HostPoolRef


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
        probe_pool(clients, dr.pool)
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

    def sign_in() -> Check:
        """A warning, not a blocker: the hosts come up; these users cannot sign in until the role is assigned."""
        scope = assignments.ScopeRef(dr.vmss.subscription, dr.vmss.resource_group, dr.vmss.resource_group)
        try:
            gap = assignments.login_gap(clients, scope, opt.app_group_principals)
        except AvdError as err:
            return Check("VM sign-in", None, f"cannot read role assignments: {err}")
        if gap.missing:
            return Check(
                "VM sign-in",
                None,
                f"{len(gap.missing)} of {len(gap.principals)} principal(s) hold no Virtual Machine User Login on "
                f"{dr.vmss.resource_group}, so they cannot sign in to its Entra-joined hosts: {gap.fix}",
            )
        return Check("VM sign-in", True, f"{len(gap.principals)} principal(s) hold a VM login role")

    checks = [_check("identity", identity), _check("DR scale set", scale_set), _check("DR host pool", pool)]
    if opt.app_group_principals:
        checks.append(_check("DR application group", app_group))
        if dr.entra_joined:
            checks.append(sign_in())
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
        gate.call(lambda opts: probe_pool(clients, primary.pool, opts))
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


def probe_pool(
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
