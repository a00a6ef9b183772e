"""Microsoft.Storage: storage accounts, blob containers and the one blob data-plane call the snapshot
staging route needs (Copy Blob from a SAS URL).

Accounts are created synchronously (200) and report ``primaryEndpoints.blob`` on the simulator itself
(``<sim>/blob/<account>/``). ``PUT <blob>`` with ``x-ms-copy-source`` starts a server-side copy that
finishes ``COPY_SECONDS`` virtual seconds later (``HEAD`` answers ``x-ms-copy-status``). A copy source that
is not a disk SAS (``https://md-...&sig=...``) is refused with 403 ``CannotVerifyCopySource``.

Blob requests carry an OAuth token (the caller is its ``oid``, else the bot's principal): Azure Storage authorizes
them against data roles only (Storage Blob Data Contributor/Owner write and read, Reader reads) assigned at the
account or above; Owner/Contributor do not count. Without one: 403 ``AuthorizationPermissionMismatch`` "This
request is not authorized to perform this operation using this permission." (the code in the
``x-ms-error-code`` header; the body is ARM's JSON error shape, not Storage's XML). Role propagation delay is
not simulated. Listed in ``providers.PROVIDERS``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import is_under, key
from sim.azure.providers import graph, roleassignments
from sim.azure.providers.common import body_dict, check_location, get_or_404, new_doc, page, tags_of
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2023-05-01", "2023-01-01", "2022-09-01")
ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
CONTAINER_TYPE = "Microsoft.Storage/storageAccounts/blobServices/containers"
BLOB_TYPE = "sim/blob"
COPY_SECONDS = 20.0


def _check_name(sim: State, name: str) -> None:
    """Storage account names: 3-24 lower-case letters and digits, unique across Azure (Microsoft Learn, "Storage
    account overview", storage account name); ARM's codes ``AccountNameInvalid`` and ``StorageAccountAlreadyTaken``
    (Microsoft Learn, "Troubleshoot common Azure deployment errors")."""
    if not re.fullmatch(r"[a-z0-9]{3,24}", name):
        raise ArmError(
            400,
            "AccountNameInvalid",
            f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 "
            "characters in length and use numbers and lower-case letters only.",
        )
    if any(d["name"] == name for d in sim.store.of_type(ACCOUNT_TYPE)):
        raise ArmError(
            409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken."
        )


def _account_put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    existing = sim.store.get(req.path)
    if existing is not None:
        if tags_of(body) is not None:
            existing["tags"] = tags_of(body)
        return Response(200, public(existing))
    location = check_location(body.get("location"), ACCOUNT_TYPE)
    props = body.get("properties") or {}
    name = req.params["name"]
    _check_name(sim, name)
    out = {
        "provisioningState": "Succeeded",
        "creationTime": iso(sim.clock.seconds()),
        "allowBlobPublicAccess": bool(props.get("allowBlobPublicAccess", True)),
        "allowSharedKeyAccess": bool(props.get("allowSharedKeyAccess", True)),
        "minimumTlsVersion": props.get("minimumTlsVersion", "TLS1_0"),
        "publicNetworkAccess": props.get("publicNetworkAccess", "Enabled"),
        "supportsHttpsTrafficOnly": True,
        "primaryEndpoints": {"blob": f"{sim.url}/blob/{name}/"},
        "primaryLocation": location,
    }
    doc = new_doc(req.path, ACCOUNT_TYPE, location, out, tags_of(body) or {})
    doc["sku"] = {"name": (body.get("sku") or {}).get("name", "Standard_LRS"), "tier": "Standard"}
    doc["kind"] = body.get("kind", "StorageV2")
    sim.store.put(doc)
    return Response(200, public(doc))


def _account_delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        return Response(204)
    name = doc["name"].lower()
    for blob in [b for b in sim.store.of_type(BLOB_TYPE) if b["account"] == name]:
        sim.store.delete(blob["id"])
    sim.store.delete(req.path)
    return Response(200)


def _container_put(sim: State, req: Request) -> Response:
    get_or_404(sim, req, ACCOUNT_TYPE, req.path.split("/blobServices")[0].split("/blobservices")[0])
    props = body_dict(req).get("properties") or {}
    doc = new_doc(req.path, CONTAINER_TYPE, None, {"publicAccess": props.get("publicAccess", "None")})
    existed = sim.store.get(req.path) is not None
    sim.store.put(doc)
    return Response(200 if existed else 201, public(doc))


def _get(rtype: str) -> Any:
    return lambda sim, req: Response(200, public(get_or_404(sim, req, rtype)))


def _list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.of_type(ACCOUNT_TYPE, req.path.lower().split("/providers/")[0]))


def _account(sim: State, name: str) -> dict[str, Any]:
    for doc in sim.store.of_type(ACCOUNT_TYPE):
        if doc["name"].lower() == name.lower():
            return doc
    raise ArmError(404, "ResourceNotFound", f"The storage account '{name}' does not exist.")


DATA_ROLES = {  # built-in role GUID -> the blob data operations it allows
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": ("read", "write"),  # Storage Blob Data Contributor
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("read", "write"),  # Storage Blob Data Owner
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": ("read",),  # Storage Blob Data Reader
}


def authorize_data(sim: State, req: Request, account: dict[str, Any]) -> None:
    """403 ``AuthorizationPermissionMismatch`` unless the caller holds a data role covering the operation."""
    need = "read" if req.method in ("GET", "HEAD") else "write"
    who = graph.caller(req)
    for doc in sim.store.of_type(roleassignments.TYPE):
        p = doc["properties"]
        if (
            str(p.get("principalId", "")).lower() == who
            and is_under(account["id"], roleassignments.scope_of(doc["id"]))
            and need in DATA_ROLES.get(roleassignments.role_guid(str(p.get("roleDefinitionId", ""))), ())
        ):
            return
    raise ArmError(
        403,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
        headers={"x-ms-error-code": "AuthorizationPermissionMismatch"},
    )


def _blob(sim: State, req: Request) -> Response:
    account = _account(sim, req.params["account"])
    authorize_data(sim, req, account)
    blob_id = f"/_blobs/{account['name'].lower()}/{req.params['container']}/{req.params['blob']}"
    now = sim.clock.seconds()
    if req.method == "PUT":
        source = req.headers.get("x-ms-copy-source", "")
        if not (source.startswith("https://md-") and "sig=" in source):
            raise ArmError(
                403, "CannotVerifyCopySource", "The copy source could not be verified: it is not a SAS."
            )
        if (
            sim.store.get(account["id"] + "/blobServices/default/containers/" + req.params["container"])
            is None
        ):
            raise ArmError(404, "ContainerNotFound", "The specified container does not exist.")
        sim.store.put(
            {
                "id": blob_id,
                "type": BLOB_TYPE,
                "account": account["name"].lower(),
                "doneAt": now + COPY_SECONDS,
                "name": req.params["blob"],
            }
        )
        return Response(202, None, {"x-ms-copy-id": key(blob_id)[-12:], "x-ms-copy-status": "pending"})
    doc = sim.store.get(blob_id)
    if doc is None:
        raise ArmError(404, "BlobNotFound", "The specified blob does not exist.")
    done = now >= doc["doneAt"]
    percent = 100 if done else int(100 * (1 - (doc["doneAt"] - now) / COPY_SECONDS))
    return Response(
        200,
        None,
        {"x-ms-copy-status": "success" if done else "pending", "x-ms-copy-progress": f"{percent}/100"},
    )


def register(router: Router) -> None:
    base = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Storage/storageAccounts"
    router.add("GET", base, _list, VERSIONS)
    router.add("PUT", base + "/{name}", _account_put, VERSIONS)
    router.add("GET", base + "/{name}", _get(ACCOUNT_TYPE), VERSIONS)
    router.add("DELETE", base + "/{name}", _account_delete, VERSIONS)
    router.add("PUT", base + "/{name}/blobServices/default/containers/{container}", _container_put, VERSIONS)
    router.add(
        "GET", base + "/{name}/blobServices/default/containers/{container}", _get(CONTAINER_TYPE), VERSIONS
    )
    router.add("PUT GET HEAD", "/blob/{account}/{container}/{blob*}", _blob, None, lockable=False)
