"""Microsoft.Compute galleries, image definitions and image versions (replicas in ``replication``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sim.azure import lro
from sim.azure.clock import iso
from sim.azure.ids import region_display
from sim.azure.providers import replication
from sim.azure.providers.common import body_dict, check_location, get_or_404, new_doc, page, tags_of
from sim.azure.providers.replication import VERSION_TYPE, render_version
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import merge, public

if TYPE_CHECKING:
    from sim.azure.state import State

__all__ = ["render_version", "register", "make_gallery", "make_image", "make_version", "flag_source"]

VERSIONS = (
    "2026-03-03",
    "2025-03-03",
    "2024-03-03",
    "2023-07-03",
    "2022-08-03",
    "2022-03-03",
    "2022-01-03",
    "2021-10-01",
    "2021-07-01",
)
GALLERY_TYPE = "Microsoft.Compute/galleries"
IMAGE_TYPE = "Microsoft.Compute/galleries/images"
SAFETY_READ_ONLY = ("reportedForPolicyViolation", "policyViolations")
BASE = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Compute/galleries"


def make_gallery(sim: State, gid: str, location: str) -> dict[str, Any]:
    props = {
        "description": "",
        "identifier": {"uniqueName": f"{gid.split('/')[2]}-{gid.rsplit('/', 1)[-1].upper()}"},
        "sharingProfile": {"permissions": "Private"},
        "provisioningState": "Succeeded",
    }
    return sim.store.put(new_doc(gid, GALLERY_TYPE, region_display(location), props))


def make_image(sim: State, iid: str, location: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    base = {
        "osType": "Windows",
        "osState": "Generalized",
        "hyperVGeneration": "V2",
        "identifier": {"publisher": "avd-ops", "offer": "windows-11", "sku": iid.rsplit("/", 1)[-1]},
        # Azure's default for a new Gen2 image definition (Trusted Launch as default: "TrustedLaunchSupported"):
        # Standard and Trusted Launch scale sets may use it; a PUT with ``features`` sets another type
        "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"}],
        "provisioningState": "Succeeded",
    }
    return sim.store.put(new_doc(iid, IMAGE_TYPE, region_display(location), {**base, **(props or {})}))


def make_version(sim: State, vid: str, location: str, body_props: dict[str, Any]) -> dict[str, Any]:
    """A version document with empty replicas; callers then run ``replication.change_targets``."""
    pp = body_props.get("publishingProfile") or {}
    safety = {k: v for k, v in (body_props.get("safetyProfile") or {}).items() if k not in SAFETY_READ_ONLY}
    props: dict[str, Any] = {
        "publishingProfile": {
            "targetRegions": [],
            "replicaCount": pp.get("replicaCount", 1),
            "publishedDate": iso(sim.clock.seconds()),
            "storageAccountType": pp.get("storageAccountType", "Standard_LRS"),
        },
        "storageProfile": copy.deepcopy(body_props.get("storageProfile") or {}),
        "safetyProfile": {
            "allowDeletionOfReplicatedLocations": True,
            "reportedForPolicyViolation": False,
            "blockDeletionBeforeEndOfLife": False,
            **safety,
        },
        "provisioningState": "Creating",
    }
    storage = props["storageProfile"]
    source = (
        sim.store.get(str((storage.get("source") or {}).get("id") or "/")) if storage.get("source") else None
    )
    storage.setdefault("osDiskImage", {"sizeInGB": 127, "hostCaching": "ReadWrite"})
    if source is not None:
        _disk_images(sim, source, storage)
        violations = source.get("_sim", {}).get("policyViolations")
        if violations:
            props["safetyProfile"].update(
                reportedForPolicyViolation=True, policyViolations=copy.deepcopy(violations)
            )
    for key in ("endOfLifeDate", "excludeFromLatest"):
        if key in pp:
            props["publishingProfile"][key] = pp[key]
    return new_doc(vid, VERSION_TYPE, region_display(location), props)


def _disk_images(sim: State, source: dict[str, Any], storage: dict[str, Any]) -> None:
    """``osDiskImage``/``dataDiskImages`` (size, host caching) from a source VM's disks."""
    vm_storage = (source.get("properties") or {}).get("storageProfile") or {}

    def size_of(disk: dict[str, Any]) -> int:
        managed = sim.store.get(str((disk.get("managedDisk") or {}).get("id") or "/"))
        return int(disk.get("diskSizeGB") or (managed or {}).get("properties", {}).get("diskSizeGB") or 127)

    os_disk = vm_storage.get("osDisk")
    if isinstance(os_disk, dict):
        storage["osDiskImage"] = {
            "sizeInGB": size_of(os_disk),
            "hostCaching": os_disk.get("caching", "ReadWrite"),
        }
    data = [
        {"lun": d.get("lun", n), "sizeInGB": size_of(d), "hostCaching": d.get("caching", "None")}
        for n, d in enumerate(vm_storage.get("dataDisks") or [])
    ]
    if data:
        storage["dataDiskImages"] = data


def flag_source(sim: State, source_id: str, category: str, details: str) -> None:
    """Test/scenario hook for Azure's image scanner: versions created from ``source_id`` are reported for a
    policy violation (``safetyProfile.reportedForPolicyViolation`` + ``policyViolations``)."""
    doc = sim.store.get(source_id)
    if doc is None:
        raise KeyError(source_id)
    doc.setdefault("_sim", {})["policyViolations"] = [{"category": category, "details": details}]


def _simple_put(sim: State, req: Request, rtype: str, parent_type: str | None) -> Response:
    body = body_dict(req)
    if parent_type and sim.store.get(req.path.rsplit("/", 2)[0]) is None:
        raise _parent_missing(req)
    existing = sim.store.get(req.path)
    if existing is not None:
        merge(existing["properties"], body.get("properties") or {})
        if tags_of(body) is not None:
            existing["tags"] = tags_of(body)
        doc = existing
    else:
        location = check_location(body.get("location"), rtype)
        doc = (
            make_gallery(sim, req.path, location)
            if rtype == GALLERY_TYPE
            else make_image(sim, req.path, location, body.get("properties"))
        )
        if tags_of(body):
            doc["tags"] = tags_of(body)
    op = lro.begin(sim, req, duration=20.0, location=doc["location"])
    doc["properties"]["provisioningState"] = "Updating" if existing else "Creating"
    doc.setdefault("_sim", {}).update(readyAt=op["end"], failed=bool(op["error"]))
    return Response(200 if existing else 201, public(doc), lro.headers(sim, op))


def _parent_missing(req: Request) -> ArmError:
    parent = "/".join(req.path.split("/")[8:-2])
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{parent}' not found.",
    )


def _get(rtype: str) -> Any:
    def handler(sim: State, req: Request) -> Response:
        return Response(200, public(get_or_404(sim, req, rtype)))

    return handler


def _list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.children(req.path))


def _version_get(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, VERSION_TYPE)
    expand = (req.q("$expand") or "").lower() == "replicationstatus"
    return Response(200, render_version(doc, expand))


def _version_list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.children(req.path), render_version)


def _version_put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    props = body.get("properties") or {}
    existing = sim.store.get(req.path)
    if existing is None:
        if sim.store.get(req.path.rsplit("/", 2)[0]) is None:
            raise _parent_missing(req)
        location = check_location(body.get("location"), VERSION_TYPE)
        doc = make_version(sim, req.path, location, props)
        targets_raw = (props.get("publishingProfile") or {}).get("targetRegions") or [{"name": location}]
    else:
        doc = existing
        targets_raw = (props.get("publishingProfile") or {}).get("targetRegions") or doc["properties"][
            "publishingProfile"
        ]["targetRegions"]
    return _apply(sim, req, doc, props, targets_raw, 200 if existing else 201, tags_of(body))


def _version_patch(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, VERSION_TYPE)
    body = body_dict(req)
    props = body.get("properties") or {}
    targets_raw = (props.get("publishingProfile") or {}).get("targetRegions") or doc["properties"][
        "publishingProfile"
    ]["targetRegions"]
    return _apply(sim, req, doc, props, targets_raw, 200, tags_of(body))


def _apply(
    sim: State,
    req: Request,
    doc: dict[str, Any],
    props: dict[str, Any],
    targets_raw: Any,
    status: int,
    tags: dict[str, str] | None,
) -> Response:
    pp = doc["properties"]["publishingProfile"]
    targets = replication.normalize_targets(targets_raw, pp.get("storageAccountType", "Standard_LRS"))
    replication.check_storage(doc, targets_raw)
    replication.keep_encryption(doc, targets)
    _check_source(doc, props)
    sent_safety = {k: v for k, v in (props.get("safetyProfile") or {}).items() if k not in SAFETY_READ_ONLY}
    safety = {**doc["properties"].get("safetyProfile", {}), **sent_safety}
    allow = safety.get("allowDeletionOfReplicatedLocations", True) is not False
    replication.check_change(doc, targets, allow)
    op = lro.begin(sim, req, duration=0.0, location=doc["location"])
    last = replication.change_targets(sim, doc, targets, op["error"])
    op["end"] = max(last, op["start"] + 30.0)
    doc["properties"]["safetyProfile"] = safety
    for k in ("excludeFromLatest", "endOfLifeDate", "replicaCount"):
        if k in (props.get("publishingProfile") or {}):
            pp[k] = props["publishingProfile"][k]
    if tags is not None:
        doc["tags"] = tags
    doc["properties"]["provisioningState"] = "Creating" if status == 201 else "Updating"
    doc["_sim"].update(readyAt=op["end"], failed=bool(op["error"]))
    sim.store.put(doc)
    return Response(status, render_version(doc), lro.headers(sim, op))


def _check_source(doc: dict[str, Any], props: dict[str, Any]) -> None:
    """The source of an existing version cannot change (sending the same one again is fine)."""
    sent = ((props.get("storageProfile") or {}).get("source") or {}).get("id")
    have = ((doc["properties"].get("storageProfile") or {}).get("source") or {}).get("id")
    if sent and have and str(sent).lower().lstrip("/") != str(have).lower().lstrip("/"):
        raise ArmError(
            400,
            "PropertyChangeNotAllowed",
            "Changing property 'galleryImageVersion.properties.storageProfile.source.id' is not allowed.",
            "galleryImageVersion.properties.storageProfile.source.id",
        )


def _version_delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        return Response(204)
    op = lro.begin(sim, req, duration=sim.rng.uniform(60.0, 180.0), location=doc["location"])
    lro.mark_deleting(doc, op)
    return Response(202, None, lro.headers(sim, op, location=True))


def register(router: Router) -> None:
    router.on_tick(replication.advance)
    image = BASE + "/{gallery}/images/{image}"
    router.add("GET", BASE, _list, VERSIONS)
    router.add("GET", BASE + "/{gallery}", _get(GALLERY_TYPE), VERSIONS)
    router.add("PUT", BASE + "/{gallery}", lambda s, r: _simple_put(s, r, GALLERY_TYPE, None), VERSIONS)
    router.add("GET", BASE + "/{gallery}/images", _list, VERSIONS)
    router.add("GET", image, _get(IMAGE_TYPE), VERSIONS)
    router.add("PUT", image, lambda s, r: _simple_put(s, r, IMAGE_TYPE, GALLERY_TYPE), VERSIONS)
    router.add("GET", image + "/versions", _version_list, VERSIONS)
    router.add("GET", image + "/versions/{version}", _version_get, VERSIONS)
    router.add("PUT", image + "/versions/{version}", _version_put, VERSIONS)
    router.add("PATCH", image + "/versions/{version}", _version_patch, VERSIONS)
    router.add("DELETE", image + "/versions/{version}", _version_delete, VERSIONS)
