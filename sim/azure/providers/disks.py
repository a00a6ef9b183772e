"""Microsoft.Compute snapshots (and managed disks as copy sources).

Durations (virtual): the PUT operation 20-40 s; a CopyStart background copy moves ~1 GiB per 6 s (about
170 MiB/s, in line with the cross-region incremental-copy throughput operators report); Import 30 s + 1 s/GiB;
grant/revoke access 10-20 s; delete 10-30 s.

CopyStart follows "Copy an incremental snapshot to a new region" (Restrictions): only one incremental snapshot
of a disk (one ``incrementalSnapshotFamilyId``) is copied to a region at a time, in the order they were
created. A CopyStart while another snapshot of the family is being copied to that region, or of a snapshot
older than one of its family already copied there, is refused with ARM's generic 409 ``Conflict`` (the code
and wording Azure uses for this case are not documented).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure import lro
from sim.azure.clock import iso
from sim.azure.ids import guid, key, region_key
from sim.azure.providers.common import body_dict, check_location, get_or_404, new_doc, page, tags_of
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import merge, public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2026-03-02",
    "2025-01-02",
    "2024-03-02",
    "2023-10-02",
    "2023-04-02",
    "2023-01-02",
    "2022-07-02",
    "2022-03-02",
)
SNAP_TYPE = "Microsoft.Compute/snapshots"
DISK_TYPE = "Microsoft.Compute/disks"
SECONDS_PER_GIB = 6.0
SOURCE = "properties.creationData.sourceResourceId"
READ_ONLY = frozenset(
    {
        "timeCreated",
        "diskSizeBytes",
        "diskState",
        "uniqueId",
        "provisioningState",
        "incrementalSnapshotFamilyId",
        "snapshotAccessState",
        "completionPercent",
        "copyCompletionError",
    }
)
UPDATABLE = (
    "diskSizeGB",
    "networkAccessPolicy",
    "publicNetworkAccess",
    "supportsHibernation",
    "dataAccessAuthMode",
    "encryption",
    "encryptionSettingsCollection",
    "supportedCapabilities",
    "osType",
    "diskAccessId",
)


def make_snapshot(
    sim: State,
    sid: str,
    location: str,
    size_gb: int,
    *,
    incremental: bool,
    creation: dict[str, Any],
    tags: dict[str, str] | None = None,
    family: str | None = None,
    sku: str = "Standard_LRS",
    created: float | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "osType": "Windows",
        "hyperVGeneration": "V2",
        "creationData": creation,
        "diskSizeGB": size_gb,
        "diskSizeBytes": size_gb * 1024**3,
        "uniqueId": guid(sim.rng),
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "incremental": incremental,
        "diskState": "Unattached",
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        "timeCreated": iso(sim.clock.seconds() if created is None else created),
        "provisioningState": "Succeeded",
        "snapshotAccessState": "Available",
    }
    if incremental:
        props["incrementalSnapshotFamilyId"] = family or guid(sim.rng)
    doc = new_doc(sid, SNAP_TYPE, region_key(location), props, tags or {})
    doc["sku"] = {"name": sku, "tier": "Standard"}
    return doc


def make_disk(sim: State, did: str, location: str, size_gb: int) -> dict[str, Any]:
    props = {
        "osType": "Windows",
        "hyperVGeneration": "V2",
        "diskSizeGB": size_gb,
        "diskState": "Reserved",
        "creationData": {"createOption": "FromImage"},
        "uniqueId": guid(sim.rng),
        "timeCreated": iso(sim.clock.seconds()),
        "provisioningState": "Succeeded",
    }
    doc = new_doc(did, DISK_TYPE, region_key(location), props, {})
    doc["sku"] = {"name": "Premium_LRS", "tier": "Premium"}
    return sim.store.put(doc)


def _source(sim: State, creation: dict[str, Any]) -> dict[str, Any]:
    src_id = creation.get("sourceResourceId")
    if not isinstance(src_id, str) or not src_id:
        raise ArmError(
            400, "InvalidParameter", "Required parameter 'sourceResourceId' is missing (null).", SOURCE
        )
    src = sim.store.get("/" + src_id.lstrip("/"))
    if src is None or src.get("type") not in (SNAP_TYPE, DISK_TYPE):
        raise ArmError(404, "NotFound", f"Resource {src_id} is not found.", SOURCE)
    return src


def _refuse_family_conflict(sim: State, src: dict[str, Any], location: str) -> None:
    """One copy of a family to a region at a time, in creation order (see the module docstring)."""
    family = src["properties"].get("incrementalSnapshotFamilyId")
    if not family:
        return
    created = str(src["properties"].get("timeCreated") or "")
    for other in sim.store.of_type(SNAP_TYPE):
        props = other["properties"]
        creation = props.get("creationData") or {}
        if (
            creation.get("createOption") != "CopyStart"
            or props.get("incrementalSnapshotFamilyId") != family
            or region_key(other["location"]) != location
        ):
            continue
        if other.get("_sim", {}).get("copy"):
            raise ArmError(
                409,
                "Conflict",
                f"Snapshot '{other['id']}', a copy of another incremental snapshot of the same disk, is still "
                f"being copied to '{location}'. Only one incremental snapshot of a disk can be copied at a time; "
                "retry when that copy completes.",
                SOURCE,
            )
        copied = sim.store.get("/" + str(creation.get("sourceResourceId") or "").lstrip("/"))
        if copied is not None and str(copied["properties"].get("timeCreated") or "") > created:
            raise ArmError(
                409,
                "Conflict",
                f"Snapshot '{copied['id']}', created after '{src['id']}', has already been copied to "
                f"'{location}'. Incremental snapshots of a disk must be copied in the order they were created.",
                SOURCE,
            )


def _create(sim: State, req: Request, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A new snapshot: every writable property the request sends is stored (read-only input is dropped), the
    rest comes from the source (size, OS type, generation) and from the service (ids, times, state)."""
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY and v is not None}
    location = check_location(body.get("location"), SNAP_TYPE)
    creation = {k: v for k, v in (props.get("creationData") or {}).items() if k != "sourceUniqueId"}
    option = creation.get("createOption")
    size = int(props.get("diskSizeGB") or 127)
    incremental = bool(props.get("incremental", False))
    family, copy, inherited = None, None, {}
    if option in ("Copy", "CopyStart"):
        src = _source(sim, creation)
        size = int(src["properties"].get("diskSizeGB", size))
        inherited = {
            k: src["properties"][k] for k in ("osType", "hyperVGeneration") if k in src["properties"]
        }
        creation["sourceUniqueId"] = src["properties"].get("uniqueId")
        if option == "Copy" and region_key(src["location"]) != location:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The source '{src['id']}' is in '{src['location']}' but the snapshot is requested in "
                f"'{location}'. createOption Copy must stay in the source's region; use CopyStart for a "
                "cross-region copy of an incremental snapshot.",
                SOURCE,
            )
        if option == "CopyStart":
            if not src["properties"].get("incremental"):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"createOption CopyStart requires an incremental source snapshot; '{src['id']}' is "
                    "not incremental.",
                    SOURCE,
                )
            incremental = True
            copy = {"source": key(src["id"]), "seconds": size * SECONDS_PER_GIB}
            _refuse_family_conflict(sim, src, location)
        if incremental and src["properties"].get("incremental"):
            family = src["properties"].get("incrementalSnapshotFamilyId")
    elif option == "Import":
        if not creation.get("sourceUri") or not creation.get("storageAccountId"):
            raise ArmError(
                400,
                "InvalidParameter",
                "createOption Import requires creationData.sourceUri and creationData.storageAccountId.",
                "properties.creationData",
            )
        copy = {"source": None, "seconds": 30.0 + size}
    elif not option:
        raise ArmError(
            400,
            "InvalidParameter",
            "Required parameter 'createOption' is missing (null).",
            "properties.creationData.createOption",
        )
    server: dict[str, Any] = {
        "creationData": creation,
        "diskSizeGB": size,
        "diskSizeBytes": size * 1024**3,
        "uniqueId": guid(sim.rng),
        "encryption": props.get("encryption") or {"type": "EncryptionAtRestWithPlatformKey"},
        "diskState": "Unattached",
        "timeCreated": iso(sim.clock.seconds()),
        "provisioningState": "Succeeded",
    }
    if incremental:
        server.update(incremental=True, incrementalSnapshotFamilyId=family or guid(sim.rng))
    doc = new_doc(req.path, SNAP_TYPE, location, {**inherited, **props, **server}, tags_of(body) or {})
    if isinstance(body.get("sku"), dict) and body["sku"].get("name"):
        doc["sku"] = {"name": body["sku"]["name"], "tier": "Standard"}
    return doc, copy


def echo(doc: dict[str, Any], body: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """The initial 202 body of a PUT/PATCH: Disk RP answers with the writable view of the request as it will be
    applied (id, name, location, the properties sent, a PATCH also the creation data, ``provisioningState:
    Updating``) without read-only fields; the full resource is the operation's result (a GET)."""
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc["name"],
        "type": SNAP_TYPE,
        "location": doc["location"],
    }
    if body.get("tags") is not None:
        out["tags"] = doc.get("tags") or {}
    if body.get("sku") is not None and doc.get("sku"):
        out["sku"] = doc["sku"]
    out["properties"] = {**props, "provisioningState": "Updating"}
    return out


def _put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    existing = sim.store.get(req.path)
    if existing is not None:
        return _update(sim, req, existing, body)
    doc, copy = _create(sim, req, body)
    op = lro.begin(sim, req, duration=sim.rng.uniform(20.0, 40.0), location=doc["location"])
    doc["properties"]["provisioningState"] = "Updating"
    doc["_sim"] = {"readyAt": op["end"], "failed": bool(op["error"])}
    if copy is not None and not op["error"]:
        doc["properties"].update(completionPercent=0.0, snapshotAccessState="Pending")
        doc["_sim"]["copy"] = {**copy, "start": op["start"], "end": op["start"] + copy["seconds"]}
    sim.store.put(doc)
    sent = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    return Response(202, echo(doc, body, sent), lro.headers(sim, op, location=True))


def _update(sim: State, req: Request, doc: dict[str, Any], body: dict[str, Any]) -> Response:
    sent = {k: v for k, v in (body.get("properties") or {}).items() if k in UPDATABLE}
    merge(doc["properties"], sent)
    if "diskSizeGB" in sent:
        doc["properties"]["diskSizeBytes"] = int(sent["diskSizeGB"]) * 1024**3
    if tags_of(body) is not None:
        doc["tags"] = tags_of(body)
    op = lro.begin(sim, req, duration=5.0, location=doc["location"])
    doc["properties"]["provisioningState"] = "Updating"
    doc.setdefault("_sim", {}).update(readyAt=op["end"], failed=bool(op["error"]))
    creation = {
        k: v for k, v in (doc["properties"].get("creationData") or {}).items() if k != "sourceUniqueId"
    }
    return Response(
        202, echo(doc, body, {"creationData": creation, **sent}), lro.headers(sim, op, location=True)
    )


def _patch(sim: State, req: Request) -> Response:
    return _update(sim, req, get_or_404(sim, req, SNAP_TYPE), body_dict(req))


def _delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        return Response(204)
    if doc["properties"].get("diskState") == "ActiveSAS":
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Snapshot '{doc['name']}' has an active shared access signature (diskState ActiveSAS). "
            "Revoke access (endGetAccess) before deleting it.",
        )
    for other in sim.store.of_type(SNAP_TYPE):
        copy = other.get("_sim", {}).get("copy")
        if copy and copy.get("source") == key(doc["id"]):
            copy["error"] = {
                "errorCode": "CopySourceNotFound",
                "errorMessage": f"The copy source '{doc['id']}' was deleted before the copy completed.",
            }
    op = lro.begin(sim, req, duration=sim.rng.uniform(10.0, 30.0), location=doc["location"])
    lro.mark_deleting(doc, op)
    return Response(202, None, lro.headers(sim, op, location=True))


def _grant(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, SNAP_TYPE, req.path.rsplit("/", 1)[0])
    if doc.get("_sim", {}).get("copy"):
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Snapshot '{doc['name']}' is still being copied (completionPercent "
            f"{doc['properties'].get('completionPercent')}); access can be granted once it completes.",
        )
    body = body_dict(req)
    if body.get("access") not in ("Read", "Write"):
        raise ArmError(
            400, "InvalidParameter", "The value of parameter 'access' must be Read or Write.", "access"
        )
    op = lro.begin(sim, req, duration=sim.rng.uniform(10.0, 20.0), location=doc["location"])
    token = guid(sim.rng).replace("-", "")
    op["result"] = {
        "accessSAS": f"https://md-{token[:12]}.z{token[12] if token[12].isdigit() else 4}.blob.storage."
        f"azure.net/{token[13:25]}/abcd?sv=2018-03-28&sr=b&si={guid(sim.rng)}"
        f"&sig={token}%3D"
    }
    doc["properties"]["diskState"] = "ActiveSAS"
    doc.setdefault("_sim", {})["sasUntil"] = op["end"] + float(body.get("durationInSeconds") or 3600)
    return Response(202, None, lro.headers(sim, op, location=True))


def _revoke(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, SNAP_TYPE, req.path.rsplit("/", 1)[0])
    op = lro.begin(sim, req, duration=sim.rng.uniform(10.0, 20.0), location=doc["location"])
    doc["properties"]["diskState"] = "Unattached"
    doc.get("_sim", {}).pop("sasUntil", None)
    return Response(202, None, lro.headers(sim, op, location=True))


def advance(sim: State, now: float) -> None:
    """Ticker: background copy progress, copy errors, SAS expiry."""
    for doc in sim.store.active():
        if doc.get("type") != SNAP_TYPE:
            continue
        s, props = doc["_sim"], doc["properties"]
        if "sasUntil" in s and now >= s["sasUntil"]:
            props["diskState"] = "Unattached"
            del s["sasUntil"]
        copy = s.get("copy")
        if not copy:
            continue
        if copy.get("error"):
            props["copyCompletionError"] = copy["error"]
            props["snapshotAccessState"] = "Unknown"
            del s["copy"]
        elif now >= copy["end"]:
            props.update(completionPercent=100.0, snapshotAccessState="Available")
            del s["copy"]
        elif now >= copy["start"]:
            props["completionPercent"] = round(100.0 * (now - copy["start"]) / max(1.0, copy["seconds"]), 1)


def _list(sim: State, req: Request) -> Response:
    return page(
        sim,
        req,
        sim.store.of_type(
            SNAP_TYPE if req.path.lower().endswith("snapshots") else DISK_TYPE,
            req.path.lower().split("/providers/")[0],
        ),
    )


def _get(rtype: str) -> Any:
    return lambda sim, req: Response(200, public(get_or_404(sim, req, rtype)))


def register(router: Router) -> None:
    router.on_tick(advance)
    base = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Compute"
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.Compute/snapshots", _list, VERSIONS)
    router.add("GET", base + "/snapshots", _list, VERSIONS)
    router.add("GET", base + "/snapshots/{name}", _get(SNAP_TYPE), VERSIONS)
    router.add("PUT", base + "/snapshots/{name}", _put, VERSIONS)
    router.add("PATCH", base + "/snapshots/{name}", _patch, VERSIONS)
    router.add("DELETE", base + "/snapshots/{name}", _delete, VERSIONS)
    router.add("POST", base + "/snapshots/{name}/beginGetAccess", _grant, VERSIONS)
    router.add("POST", base + "/snapshots/{name}/endGetAccess", _revoke, VERSIONS)
    router.add("GET", base + "/disks", _list, VERSIONS)
    router.add("GET", base + "/disks/{name}", _get(DISK_TYPE), VERSIONS)
