"""What failover, failback and drill plans are built from: the site pair and plain values from the config
(``sites``, ``spec``, ``options``), and step timings from the jobs table (``estimates`` from past runs, the
``measured`` time of a run, and the RTO ``figures`` users feel, read from the step rows' ``finished_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from avdcore.errors import NotAllowed
from azureops import failover as fo
from azureops.asr import RecoveryPlanRef
from azureops.dr_capacity import ScaleSetRef
from azureops.sessions import HostPoolRef
from bot.config.siteconfig import Site
from bot.runtime import Runtime
from bot.storage import jobs


def sites(runtime: Runtime, name: str | None) -> tuple[Site, Site]:
    """(primary, dr) for ``name`` (a site's name or location; either side selects the pair)."""
    cfg = runtime.settings.config
    try:
        site = cfg.site(name, role="secondary")
    except KeyError:
        raise NotAllowed(f"unknown site {name!r}: configured sites are {', '.join(cfg.sites)}") from None
    if site.role == "primary":
        pairs = [s for s in cfg.sites.values() if s.role == "secondary" and s.pair in ("", site.name)]
        if not pairs:
            raise NotAllowed(f"site {site.name} has no DR (secondary) site paired with it")
        return site, pairs[0]
    return cfg.primary_of(site), site


def spec(site: Site, primary: Site) -> fo.SiteSpec:
    sub = site.subscription
    gallery_site = primary if primary.gallery else site
    version = (
        (
            f"/subscriptions/{gallery_site.subscription}/resourceGroups/{gallery_site.master_resource_group}"
            f"/providers/Microsoft.Compute/galleries/{gallery_site.gallery}/images/{gallery_site.image}/versions/"
            f"{gallery_site.image_version}"
        )
        if gallery_site.gallery
        else ""
    )
    return fo.SiteSpec(
        name=site.name,
        location=site.location,
        pool=HostPoolRef(sub, site.host_pool_resource_group, site.host_pool),
        vmss=ScaleSetRef(sub, site.scale_set_resource_group, site.scale_set),
        identity_id=(
            f"/subscriptions/{sub}/resourceGroups/{site.scale_set_resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{site.identity}"
        ),
        image_version_id=version,
        app_group=site.application_group,
        entra_joined=(site.join_type or primary.join_type) == "entra",
    )


def options(
    runtime: Runtime, primary: Site, dr: Site, *, now: bool = False, drill: bool = False
) -> fo.Options:
    pol = runtime.settings.config.failover
    table = dict(dr.asr or primary.asr or {})
    plan = RecoveryPlanRef.from_config(dr.subscription, table) if table.get("recovery_plan") else None
    simulated = bool(getattr(runtime.azure, "simulated", False))
    return fo.Options(
        grace_seconds=pol.user_grace_seconds,
        message_title=pol.message_title,
        message_body=pol.message_body,
        recheck_sessions=pol.recheck_sessions,
        primary_timeout=float(pol.primary_timeout_seconds),
        capacity=dr.drill_capacity if drill else dr.dr_capacity,
        now=now,
        asr=plan,
        asr_planned=str(table.get("failover", "unplanned")).lower() == "planned",
        tick=0.1 if simulated else 15.0,
        sessions_timeout=60.0 if simulated else 600.0,
        app_group_principals=() if drill else pol.app_group_principals,
    )


def estimates(runtime: Runtime, kind: str) -> dict[str, float]:
    """Average seconds per step name over this kind's finished jobs (empty before the first run)."""
    return jobs.step_averages(runtime.store, kind)


def measured(steps: list[dict[str, Any]], upto: str | None = None, start: str | None = None) -> float | None:
    """Seconds from the start of step ``start`` (first step) to the end of the last finished step (``upto``)."""
    begun = [s for s in steps if s.get("started_at")]
    if start is not None:
        begun = [s for s in begun if s["name"] == start] or begun
    ended = [
        s
        for s in steps
        if s.get("finished_at") and s["status"] == jobs.STEP_DONE and (upto is None or s["name"] == upto)
    ]
    if not begun or not ended:
        return None
    first = datetime.fromisoformat(begun[0]["started_at"])
    last = max(datetime.fromisoformat(s["finished_at"]) for s in ended)
    return (last - first).total_seconds()


@dataclass(frozen=True)
class Figures:
    """The recovery times users feel, in seconds from approval (job start when none was needed); ``None``: not
    measured (the step did not finish, or the primary did not answer and nobody was signed out by the job).

    A failover's capacity is DR's and its signed-out users the primary's; a failback's (``fo.PRIMARY_READY_STEPS``,
    ``fo.DR_SIGNED_OUT_STEP``) are the other way round: the primary takes users again, DR's were signed out."""

    to_capacity: float | None  # until the target side has capacity (the later of its ready steps)
    signed_out: float | None  # until the source side's users were signed out
    outage: float | None  # signed out until the target had capacity; 0 when it was ready first

    def as_row(self) -> dict[str, float | None]:
        return {"to_capacity": self.to_capacity, "signed_out": self.signed_out, "outage": self.outage}


def figures(
    steps: list[dict[str, Any]],
    start: str | None,
    *,
    ready: Sequence[str] = fo.DR_READY_STEPS,
    signed_out: str = fo.SIGNED_OUT_STEP,
) -> Figures:
    """The three figures from the step rows (``finished_at``) and ``start`` (the approval's ``decided_at`` or the
    job's ``started_at``; the first step's start when neither is known)."""
    rows = {s["name"]: s for s in steps}
    base = start or min((s["started_at"] for s in steps if s.get("started_at")), default=None)
    if base is None:
        return Figures(None, None, None)
    t0 = datetime.fromisoformat(base)

    def end(row: dict[str, Any] | None) -> float | None:
        if row is None or row["status"] != jobs.STEP_DONE or not row.get("finished_at"):
            return None
        return (datetime.fromisoformat(row["finished_at"]) - t0).total_seconds()

    ends = [end(rows[name]) for name in ready if name in rows]
    capacity = max(e for e in ends if e is not None) if ends and None not in ends else None
    out_row = rows.get(signed_out)
    skipped = out_row is not None and ":warning:" in (out_row.get("output") or "")
    out = None if skipped else end(out_row)
    outage = max(0.0, capacity - out) if capacity is not None and out is not None else None
    return Figures(capacity, out, outage)
