"""Gallery image version replicas: target-region changes, per-region progress on the virtual clock, and the
``$expand=ReplicationStatus`` view.

A new region replicates for 5-15 virtual minutes (uniform, seeded RNG): Azure's documented guidance is that
a replica usually takes minutes to tens of minutes depending on image size and distance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.ids import region_display, region_key
from sim.azure.router import ArmError
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSION_TYPE = "Microsoft.Compute/galleries/images/versions"
REPLICA_SECONDS = (300.0, 900.0)
TARGETS = "galleryImageVersion.properties.publishingProfile.targetRegions"
STORAGE_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")


def normalize_targets(raw: Any, default_storage: str) -> list[dict[str, Any]]:
    """Validated targetRegions with display names and defaults; 400 InvalidParameter like Compute."""
    if not isinstance(raw, list) or not raw:
        raise ArmError(400, "InvalidParameter", "At least one target region is required.", TARGETS)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ArmError(400, "InvalidParameter", "Each target region needs a name.", TARGETS)
        k = region_key(item["name"])
        if k in seen:
            raise ArmError(
                400,
                "InvalidParameter",
                "Duplicate regions are not allowed in target publishing regions.",
                TARGETS,
            )
        seen.add(k)
        count = item.get("regionalReplicaCount", 1)
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value {count} of parameter 'regionalReplicaCount' is out of range. "
                "The value must be between 1 and 100, inclusive.",
                TARGETS,
            )
        storage = item.get("storageAccountType") or default_storage
        if storage not in STORAGE_TYPES:
            raise ArmError(
                400, "InvalidParameter", f"Storage account type '{storage}' is not supported.", TARGETS
            )
        entry = {
            **item,
            "name": region_display(item["name"]),
            "regionalReplicaCount": count,
            "storageAccountType": storage,
            "excludeFromLatest": bool(item.get("excludeFromLatest", False)),
        }
        out.append(entry)
    return out


def check_change(doc: dict[str, Any], targets: list[dict[str, Any]], allow_deletion: bool) -> None:
    """Refuse a removal blocked by the safety profile (409) or a list without the home region (400)."""
    old = {region_key(t["name"]) for t in doc["properties"]["publishingProfile"]["targetRegions"]}
    new = {region_key(t["name"]) for t in targets}
    removed = sorted(old - new)
    if removed and not allow_deletion:
        names = ", ".join(region_display(r) for r in removed)
        raise ArmError(  # Compute's code for an operation not allowed in the current state (docs/simulator.md)
            409,
            "OperationNotAllowed",
            f"Removing replicated location(s) [{names}] from gallery image version '{doc['id']}' is not "
            "allowed: its safetyProfile.allowDeletionOfReplicatedLocations is false ('Lock deleting "
            "Replicated Locations'). Set it to true, then remove the region. (Simulator wording: "
            "Azure's exact text for this refusal is not publicly documented.)",
            "galleryImageVersion.properties.safetyProfile.allowDeletionOfReplicatedLocations",
        )
    if region_key(doc["location"]) not in new:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The target regions must include the gallery image version's location '{doc['location']}'.",
            TARGETS,
        )


def check_storage(doc: dict[str, Any], raw: Any) -> None:
    """A region's ``storageAccountType`` is not updatable (SDK ``TargetRegion.storage_account_type``: "This
    property is not updatable"): naming another type for a region already in the list -> 400
    ``PropertyChangeNotAllowed``, Compute's code for a property that cannot change."""
    have = {
        region_key(t["name"]): t.get("storageAccountType")
        for t in doc["properties"]["publishingProfile"]["targetRegions"]
    }
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        sent, old = item.get("storageAccountType"), have.get(region_key(item["name"]))
        if sent and old and sent != old:
            raise ArmError(
                400,
                "PropertyChangeNotAllowed",
                f"Changing property 'storageAccountType' of target region '{region_display(item['name'])}' "
                f"from '{old}' to '{sent}' is not allowed.",
                TARGETS,
            )


def keep_encryption(doc: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    """A replica's disk encryption is fixed when it is created: a new list that names an existing region
    without ``encryption`` keeps the replica's current one."""
    current = {region_key(t["name"]): t for t in doc["properties"]["publishingProfile"]["targetRegions"]}
    for t in targets:
        old = current.get(region_key(t["name"]))
        if old is not None and "encryption" in old and "encryption" not in t:
            t["encryption"] = old["encryption"]


def change_targets(
    sim: State, doc: dict[str, Any], targets: list[dict[str, Any]], error: dict[str, Any] | None
) -> float:
    """Apply a complete (already checked) targetRegions list; returns when the last new replica finishes."""
    props = doc["properties"]
    replicas: dict[str, dict[str, Any]] = doc.setdefault("_sim", {}).setdefault("replicas", {})
    old = {region_key(t["name"]) for t in props["publishingProfile"]["targetRegions"]}
    new = {region_key(t["name"]) for t in targets}
    now = sim.clock.seconds()
    last = now
    for k in old - new:
        replicas.pop(k, None)
    for k in sorted(new - old):
        end = now + sim.rng.uniform(*REPLICA_SECONDS)
        replicas[k] = {"start": now, "end": end, "state": "Replicating", "progress": 0, "details": ""}
        if error:
            replicas[k]["error"] = error["message"]
        last = max(last, end)
    props["publishingProfile"]["targetRegions"] = targets
    return last


def advance(sim: State, now: float) -> None:
    """Ticker: rising progress, then Completed (or Failed when the operation carried a failure)."""
    for doc in sim.store.active():
        if doc.get("type") != VERSION_TYPE:
            continue
        for r in doc["_sim"].get("replicas", {}).values():
            if r["state"] != "Replicating":
                continue
            if now >= r["end"]:
                failed = "error" in r
                r.update(
                    state="Failed" if failed else "Completed",
                    progress=100 if not failed else r["progress"],
                    details=r.get("error", ""),
                )
            else:
                span = max(1.0, r["end"] - r["start"])
                r["progress"] = min(99, int(100 * (now - r["start"]) / span))


def completed_in(doc: dict[str, Any], region: str) -> bool:
    """True when the version has a Completed replica in ``region``."""
    r = doc.get("_sim", {}).get("replicas", {}).get(region_key(region))
    return bool(r and r["state"] == "Completed")


def render_version(doc: dict[str, Any] | None, expand: bool = False) -> dict[str, Any]:
    out = public(doc) or {}
    if not expand:
        return out
    replicas = (doc or {}).get("_sim", {}).get("replicas", {})
    summary = []
    for t in out["properties"]["publishingProfile"]["targetRegions"]:
        r = replicas.get(region_key(t["name"]), {"state": "Unknown", "progress": 0, "details": ""})
        summary.append(
            {
                "region": t["name"],
                "state": r["state"],
                "details": r.get("details", ""),
                "progress": r["progress"],
            }
        )
    states = {s["state"] for s in summary}
    aggregated = "Failed" if "Failed" in states else "Completed" if states == {"Completed"} else "InProgress"
    out["properties"]["replicationStatus"] = {"aggregatedState": aggregated, "summary": summary}
    return out
