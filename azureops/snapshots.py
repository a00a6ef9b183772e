"""Snapshot replication (ReplicateAzureSnapshot's job): read, list and compare snapshots by provenance.

A replica carries provenance tags (``avdops-source-id``, ``avdops-source-created``): a target snapshot is
"already replicated" when those match a source snapshot, never by name alone. ``diff`` compares a source
and a target listing; ``route_for`` and ``replica_body`` say how a replica is made (``Copy`` in the same
region, ``CopyStart`` for incremental snapshots across regions, ``Import`` through ``azureops.staging`` for
full ones); ``azureops.snapshot_copies`` makes it. Every ARM call goes through a ``Budget`` so parallel copies
stay below ARM's per-subscription token buckets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from avdcore.errors import UsageError
from azureops.errors import translated

if TYPE_CHECKING:
    from azure.mgmt.compute import ComputeManagementClient

TAG_SOURCE_ID = "avdops-source-id"
TAG_SOURCE_CREATED = "avdops-source-created"
TAG_MANAGED = "avdops-managed-by"
MANAGED_BY = "avd-ops"
PROVENANCE = (TAG_SOURCE_ID, TAG_SOURCE_CREATED, TAG_MANAGED)
MODES = ("DifferentSubDifferentRegion", "DifferentSubSameRegion", "SameSubDifferentRegion")


def _s(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def region_key(name: str) -> str:
    return name.replace(" ", "").lower()


def snapshot_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots/{name}"


@dataclass(frozen=True)
class Snap:
    """What replication needs to know about one snapshot."""

    id: str
    name: str
    location: str
    incremental: bool
    sku: str
    os_type: str
    hyper_v: str
    created: str
    size_bytes: int
    tags: Mapping[str, str] = field(default_factory=dict)
    provisioning: str = "Succeeded"
    percent: float | None = None
    access_state: str = ""
    copy_error: str = ""
    family_id: str = ""  # incrementalSnapshotFamilyId: the incremental snapshots of one disk

    @property
    def family(self) -> str:
        """The copy family: the disk's incremental family, or the snapshot alone (full, or no family id)."""
        return (self.family_id if self.incremental and self.family_id else self.id).lower()

    @property
    def source_id(self) -> str:
        return self.tag(TAG_SOURCE_ID)

    def tag(self, name: str) -> str:
        for k, v in self.tags.items():
            if k.lower() == name.lower():
                return v
        return ""

    @property
    def usable(self) -> bool:
        """Provisioned, copy finished and readable."""
        return (
            self.provisioning == "Succeeded"
            and not self.copy_error
            and (self.percent is None or self.percent >= 100)
            and self.access_state not in ("Pending", "Unknown")
        )


def read(model: Any) -> Snap:
    """A ``Snap`` from an SDK ``Snapshot`` model."""
    created = model.time_created
    err = model.copy_completion_error
    return Snap(
        id=str(model.id),
        name=str(model.name),
        location=region_key(str(model.location)),
        incremental=bool(model.incremental),
        sku=_s(model.sku.name if model.sku else "Standard_LRS"),
        os_type=_s(model.os_type),
        hyper_v=_s(model.hyper_v_generation),
        created=created.astimezone(UTC).isoformat(timespec="seconds")
        if isinstance(created, datetime)
        else "",
        size_bytes=int(model.disk_size_bytes or (model.disk_size_gb or 0) * 1024**3),
        tags=dict(model.tags or {}),
        provisioning=_s(model.provisioning_state) or "Succeeded",
        percent=float(model.completion_percent) if model.completion_percent is not None else None,
        access_state=_s(model.snapshot_access_state),
        copy_error=f"{err.get('errorCode', '')}: {err.get('errorMessage', '')}" if err else "",
        family_id=_s(getattr(model, "incremental_snapshot_family_id", None)),
    )


def families(sources: list[Snap]) -> list[list[Snap]]:
    """``sources`` grouped by copy family, each group in creation order (the order Azure copies a disk's
    incremental snapshots in, one at a time), groups ordered by their first snapshot."""
    groups: dict[str, list[Snap]] = {}
    for src in sorted(sources, key=lambda s: (s.created, s.name)):
        groups.setdefault(src.family, []).append(src)
    return list(groups.values())


def list_snapshots(
    compute: ComputeManagementClient, sub: str, rg: str, budget: Budget | None = None
) -> list[Snap]:
    """Every snapshot in ``rg``, all pages; any failure (a throttled or broken page too) raises."""
    with translated(f"/subscriptions/{sub}/resourceGroups/{rg}"):
        if budget:
            budget.take(sub, "reads")
        return [read(m) for m in compute.snapshots.list_by_resource_group(rg)]


def get_snapshot(
    compute: ComputeManagementClient, sub: str, rg: str, name: str, budget: Budget | None = None
) -> Snap | None:
    """The snapshot, or ``None`` when Azure says 404."""
    from azure.core.exceptions import ResourceNotFoundError

    with translated(snapshot_id(sub, rg, name)):
        if budget:
            budget.take(sub, "reads")
        try:
            return read(compute.snapshots.get(rg, name))
        except ResourceNotFoundError:
            return None


def matches_tag(snap: Snap, tag: tuple[str, str] | None) -> bool:
    """Exact ``key=value`` (key case-insensitive like Azure's, value exact); ``None`` matches all."""
    if tag is None:
        return True
    return any(k.lower() == tag[0].lower() and v == tag[1] for k, v in snap.tags.items())


def is_replica_of(target: Snap, source: Snap) -> bool:
    return target.source_id.lower() == source.id.lower() and target.tag(TAG_SOURCE_CREATED) == source.created


def validate_mode(
    mode: str, source_sub: str, target_sub: str, source_region: str, target_region: str
) -> None:
    """``UsageError`` when the profile's mode does not describe what the subscriptions and regions are."""
    same_sub = source_sub.lower() == target_sub.lower()
    same_region = region_key(source_region) == region_key(target_region)
    actual = ("SameSub" if same_sub else "DifferentSub") + (
        "SameRegion" if same_region else "DifferentRegion"
    )
    if actual == "SameSubSameRegion":
        raise UsageError(
            "the profile's source and target are in the same subscription and region "
            f"({source_region}): there is nothing to replicate to",
            hint="point target_subscription or target_region somewhere else",
        )
    if mode != actual:
        raise UsageError(
            f"the profile says mode = {mode} but the source snapshots are in {source_region} "
            f"(read from Azure) and the target is {target_region}, "
            f"{'the same' if same_sub else 'another'} subscription: that is {actual}",
            hint=f'set mode = "{actual}" in the profile, or fix target_region / target_subscription',
        )


def route_for(source: Snap, target_region: str) -> str:
    """``Copy`` (same region), ``CopyStart`` (incremental, other region) or ``Staging`` (full, other region)."""
    if source.location == region_key(target_region):
        return "Copy"
    return "CopyStart" if source.incremental else "Staging"


def replica_tags(source: Snap) -> dict[str, str]:
    tags = {k: v for k, v in source.tags.items() if k.lower() not in PROVENANCE}
    return {**tags, TAG_SOURCE_ID: source.id, TAG_SOURCE_CREATED: source.created, TAG_MANAGED: MANAGED_BY}


def replica_body(
    source: Snap, target_region: str, route: str, *, import_uri: str = "", storage_id: str = ""
) -> dict[str, Any]:
    """The PUT body (REST camelCase): SKU, OS type, Hyper-V generation and tags kept, provenance added."""
    creation: dict[str, Any] = {"createOption": "Import" if route == "Staging" else route}
    if route == "Staging":
        creation.update(sourceUri=import_uri, storageAccountId=storage_id)
    else:
        creation["sourceResourceId"] = source.id
    props: dict[str, Any] = {
        "creationData": creation,
        "incremental": source.incremental or route == "CopyStart",
    }
    if source.os_type:
        props["osType"] = source.os_type
    if source.hyper_v:
        props["hyperVGeneration"] = source.hyper_v
    if route == "Staging":
        props["diskSizeGB"] = max(1, source.size_bytes // 1024**3)
    location = source.location if route == "Copy" else region_key(target_region)
    return {
        "location": location,
        "sku": {"name": source.sku},
        "tags": replica_tags(source),
        "properties": props,
    }


@dataclass
class Diff:
    """What a sync would do. ``orphans`` are bot-made replicas whose source is gone (deletion candidates)."""

    candidates: list[Snap]
    replicated: dict[str, Snap]  # source id (lower) -> its replica
    orphans: list[Snap]
    conflicts: dict[str, str]  # source id (lower) -> why it cannot be copied
    notes: list[str]


def diff(
    sources: list[Snap],
    targets: list[Snap],
    *,
    source_scope: str,
    tag: tuple[str, str] | None,
    allow_empty_source: bool,
) -> Diff:
    """Compare listings. Only replicas whose provenance points into ``source_scope`` are ever orphans."""
    candidates = sorted((s for s in sources if matches_tag(s, tag)), key=lambda s: (s.created, s.name))
    by_source = {t.source_id.lower(): t for t in targets if t.source_id}
    by_name = {t.name.lower(): t for t in targets}
    replicated, conflicts = {}, {}
    for s in candidates:
        replica = by_source.get(s.id.lower())
        if replica is not None and is_replica_of(replica, s) and replica.usable:
            replicated[s.id.lower()] = replica
            continue
        clash = by_name.get(s.name.lower())
        if clash is not None and not (replica is not None and clash.id.lower() == replica.id.lower()):
            conflicts[s.id.lower()] = (
                f"target {clash.name} exists and is not a replica of this source "
                "(no matching avdops-source-id/-created tags); rename or remove it"
            )
    present = {s.id.lower() for s in sources}
    scope = source_scope.lower().rstrip("/") + "/"
    mine = [t for t in targets if t.tag(TAG_MANAGED) == MANAGED_BY and t.source_id.lower().startswith(scope)]
    orphans = [
        t
        for t in mine
        if t.source_id.lower() not in present
        or not any(is_replica_of(t, s) for s in sources if s.id.lower() == t.source_id.lower())
    ]
    notes = []
    if not sources and orphans and not allow_empty_source:
        notes.append(
            f"the source listing is empty but {len(orphans)} replica(s) exist: nothing will be deleted "
            "(set allow_empty_source = true in the profile if the source really is empty)"
        )
        orphans = []
    return Diff(candidates, replicated, orphans, conflicts, notes)


class Budget:
    """Blocking token buckets per (subscription, reads|writes), kept under ARM's refill rates."""

    def __init__(self, reads_per_s: float = 20.0, writes_per_s: float = 5.0, burst: int = 20) -> None:
        self.rates = {"reads": reads_per_s, "writes": writes_per_s}
        self.burst = burst
        self._state: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._families: dict[str, threading.Lock] = {}

    def family(self, family_id: str) -> threading.Lock:
        """The lock a copy of this disk's snapshots holds, shared by every job of the process: Azure copies one
        incremental snapshot of a disk at a time, whichever profile (target group) asks."""
        with self._lock:
            return self._families.setdefault(family_id.lower(), threading.Lock())

    def take(self, sub: str, kind: str) -> None:
        rate = self.rates["reads" if kind == "reads" else "writes"]
        while True:
            with self._lock:
                now = time.monotonic()
                tokens, at = self._state.get((sub.lower(), kind), (float(self.burst), now))
                tokens = min(float(self.burst), tokens + (now - at) * rate)
                if tokens >= 1.0:
                    self._state[(sub.lower(), kind)] = (tokens - 1.0, now)
                    return
                self._state[(sub.lower(), kind)] = (tokens, now)
                wait = (1.0 - tokens) / rate
            time.sleep(wait)
