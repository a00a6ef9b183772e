"""The capabilities' own tables. ``dr_scale_sets``: which scale set is a site's DR capacity, and the spec it was built from.

A submitted ``/avd scaleset create`` form is kept in ``scaleset_requests`` (no secrets in it), keyed by the hash of
the plan built from it, which is the job's ``plan_hash``: the job builds from the spec it was approved with, and
another form for the same site (refused while the job waits) changes nothing. The job records the spec in
``dr_scale_sets`` as ``created`` once it built (or found) the scale set. ``dr_scale_set(store, site)`` tells other
commands (``/avd scale``, ``/avd status``) which scale set that is. ``dr_runs``: the measured time of
every drill, failover and failback (``record_run``, ``runs``) and the RTO figures users feel (``to_capacity``,
``signed_out``, ``outage``: seconds from ``job_start``, the approval or the job's start).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from azureops.locks import Lock
from azureops.scaleset_spec import ScaleSetSpec, scale_set_id
from bot.storage import jobs
from bot.storage.store import Store


@dataclass(frozen=True)
class DrScaleSet:
    """Which scale set is a site's DR capacity; ``created`` once a job built (or found) it."""

    site: str
    subscription: str
    resource_group: str
    name: str
    location: str
    host_pool_resource_group: str
    host_pool: str
    created: bool

    @property
    def id(self) -> str:
        return scale_set_id(self.subscription, self.resource_group, self.name)


def dr_scale_set(store: Store, site: str) -> DrScaleSet | None:
    """The DR scale set remembered for ``site`` (requested or created), or ``None``."""
    rows = list(store.db.query("select * from dr_scale_sets where site = ?", [site]))
    if not rows:
        return None
    r = rows[0]
    return DrScaleSet(
        site=r["site"],
        subscription=r["subscription"],
        resource_group=r["resource_group"],
        name=r["name"],
        location=r["location"],
        host_pool_resource_group=r["host_pool_resource_group"],
        host_pool=r["host_pool"],
        created=r["status"] == "created",
    )


def requested_spec(store: Store, site: str) -> ScaleSetSpec | None:
    rows = list(store.db.query("select spec_json from dr_scale_sets where site = ?", [site]))
    return ScaleSetSpec(**json.loads(rows[0]["spec_json"])) if rows else None


def save_request(store: Store, site: str, spec: ScaleSetSpec, user: str, now: datetime) -> None:
    """Record ``spec`` as the site's requested DR scale set (``created`` stays if the name is unchanged)."""
    old = dr_scale_set(store, site)
    keep = old is not None and old.created and old.id.lower() == spec.id.lower()
    with store.transaction() as db:
        db.table("dr_scale_sets").upsert(
            {
                "site": site,
                "subscription": spec.subscription,
                "resource_group": spec.resource_group,
                "name": spec.name,
                "location": spec.location,
                "host_pool_resource_group": spec.host_pool_resource_group,
                "host_pool": spec.host_pool,
                "spec_json": json.dumps(asdict(spec), sort_keys=True),
                "status": "created" if keep else "requested",
                "requested_by": user,
                "updated_at": jobs.iso(now),
            },
            pk="site",
        )


def offer_spec(store: Store, plan_hash: str, site: str, spec: ScaleSetSpec, user: str, now: datetime) -> None:
    """Keep ``spec`` under the hash of the plan built from it (written once: the same hash is the same spec)."""
    with store.transaction() as db:
        db.execute(
            "insert into scaleset_requests (plan_hash, site, spec_json, requested_by, created_at)"
            " values (?, ?, ?, ?, ?) on conflict do nothing",
            [plan_hash, site, json.dumps(asdict(spec), sort_keys=True), user, jobs.iso(now)],
        )


def spec_of_plan(store: Store, plan_hash: str) -> ScaleSetSpec | None:
    """The spec a job's plan (``plan_hash``) was built from, or ``None``."""
    rows = list(store.db.query("select spec_json from scaleset_requests where plan_hash = ?", [plan_hash]))
    return ScaleSetSpec(**json.loads(rows[0]["spec_json"])) if rows else None


def carry_spec(store: Store, plan_hash: str, new_hash: str) -> None:
    """The same spec planned again (Azure changed): keep it under the new plan's hash too, so a job rebound to
    the new plan (drift, retry) still builds from it."""
    with store.transaction() as db:
        db.execute(
            "insert into scaleset_requests (plan_hash, site, spec_json, requested_by, created_at)"
            " select ?, site, spec_json, requested_by, created_at from scaleset_requests where plan_hash = ?"
            " on conflict do nothing",
            [new_hash, plan_hash],
        )


def withdraw_spec(store: Store, plan_hash: str) -> None:
    """A refused request leaves nothing behind: drop its spec unless a job was built from the same one."""
    with store.transaction() as db:
        db.execute(
            "delete from scaleset_requests where plan_hash = ? and not exists"
            " (select 1 from jobs where plan_hash = ?)",
            [plan_hash, plan_hash],
        )


def mark_created(store: Store, site: str, name: str, now: datetime) -> None:
    with store.transaction() as db:
        db.execute(
            "update dr_scale_sets set status = 'created', updated_at = ? where site = ? and name = ?",
            [jobs.iso(now), site, name],
        )


def record_run(
    store: Store,
    *,
    kind: str,
    site: str,
    job_id: int,
    seconds: float | None,
    capacity: int,
    at: datetime,
    figures: dict[str, float | None] | None = None,
) -> None:
    with store.transaction() as db:
        db.execute(
            "delete from dr_runs where job_id = ? and kind = ?", [job_id, kind]
        )  # a re-run summary step
        db.table("dr_runs").insert(
            {
                "kind": kind,
                "site": site,
                "job_id": job_id,
                "at": jobs.iso(at),
                "seconds": seconds,
                "capacity": capacity,
                **(figures or {}),
            }
        )


def job_start(store: Store, job_id: int) -> tuple[str | None, bool]:
    """When the clock of a job's RTO starts, and whether that is an approval: its first approval's decision,
    else the job's start."""
    rows = store.db.query(
        "select min(decided_at) as at from approvals where job_id = ? and status = 'approved'", [job_id]
    )
    approved = next(iter(rows), {}).get("at")
    if approved:
        return str(approved), True
    job = jobs.get_job(store, job_id) or {}
    return (str(job["started_at"]) if job.get("started_at") else None), False


def runs(
    store: Store, *, kind: str | None = None, site: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Recorded runs of ``dr_runs``, newest first."""
    where, args = ["1 = 1"], []
    for column, value in (("kind", kind), ("site", site)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = f"select * from dr_runs where {' and '.join(where)} order by id desc limit ?"
    return list(store.db.query(sql, [*args, limit]))


class LiftedLockRecord:
    """The locks a snapshot run lifted and has not restored yet, in ``meta`` (``azureops.snapshot_steps.LiftedLocks``)."""

    PREFIX = "snapshots:lifted:"

    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, lock: Lock) -> None:
        self.store.set_meta(self.PREFIX + lock.id.lower(), json.dumps(lock.__dict__))

    def forget(self, lock: Lock) -> None:
        with self.store.transaction() as db:
            db.execute("delete from meta where key = ?", [self.PREFIX + lock.id.lower()])

    def leftover(self, subscription: str, resource_group: str) -> list[Lock]:
        prefix = f"{self.PREFIX}/subscriptions/{subscription}/resourcegroups/{resource_group}".lower()
        rows = self.store.db.query("select value from meta where key like ?", [prefix + "%"])
        return [Lock(**json.loads(r["value"])) for r in rows]
