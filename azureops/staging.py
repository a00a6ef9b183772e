"""The staging route for a FULL snapshot going to another region (CopyStart takes incremental ones only).

grant read access (a SAS) on the source -> private staging storage account in the target region, tagged as
the bot's (no anonymous blob access, no shared keys, TLS 1.2) -> the bot gives itself "Storage Blob Data
Contributor" on that account (Copy Blob with an OAuth token needs the blob data write action, which no
control-plane role such as Owner or Contributor carries) -> server-side blob copy from the SAS, retried while
Azure Storage still answers 403 ``AuthorizationPermissionMismatch`` (a new role assignment may take up to 30
minutes to propagate) ->
revoke the SAS -> create the replica with ``Import`` -> delete the staging account. The SAS is revoked and
the account deleted in ``finally``, whatever failed. The SAS lives in a local variable only: it is never
logged, returned, noted or put into an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from typing import Any, cast

from azure.core import PipelineClient
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import GrantAccessData

from avdcore.errors import AzureConflict, AzureError, AzureNotFound
from azureops import graphaccess
from azureops.clients import ReleasingRetryPolicy
from azureops.errors import translated
from azureops.snapshot_copies import Progress, Target, put_replica, wait_usable
from azureops.snapshots import MANAGED_BY, TAG_MANAGED, TAG_SOURCE_ID, Snap, replica_body

STORAGE_API = "2023-05-01"
STORAGE_SCOPE = "https://storage.azure.com/.default"
BLOB_API = "2021-08-06"
CONTAINER = "vhds"
ROLE_API = "2022-04-01"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"  # built-in "Storage Blob Data Contributor"
DATA_ROLE_WAIT_S = 1800.0  # "Azure role assignments may take up to 30 minutes to propagate" (Storage docs)
TAG_PURPOSE = "avdops-purpose"
PURPOSE = "snapshot-staging"


def account_name(source: Snap, target_region: str) -> str:
    """Deterministic per source and region (3-24 lower-case letters/digits), so a retry finds its leftovers."""
    digest = hashlib.sha256(f"{source.id.lower()}|{target_region}".encode()).hexdigest()
    return f"avdstg{digest[:18]}"


def account_id(t: Target, name: str) -> str:
    return f"/subscriptions/{t.target_sub}/resourceGroups/{t.target_rg}/providers/Microsoft.Storage/storageAccounts/{name}"


def _ours(resource: Any) -> bool:
    tags = resource.tags or {}
    return bool(tags.get(TAG_MANAGED) == MANAGED_BY and tags.get(TAG_PURPOSE) == PURPOSE)


def create_account(t: Target, name: str, source: Snap) -> str:
    """The private staging account (and its container); returns the blob endpoint."""
    rid = account_id(t, name)
    res = t.clients.resources(t.target_sub).resources
    with translated(rid):
        try:
            existing = res.get_by_id(rid, api_version=STORAGE_API)
        except ResourceNotFoundError:
            existing = None
        if existing is not None and not _ours(existing):
            raise AzureError(
                f"storage account {name} exists and is not a staging account of this bot",
                code="NameTaken",
                resource_id=rid,
                next_step="remove or rename it, then retry",
            )
        t.budget.take(t.target_sub, "writes")
        body = {
            "location": t.region,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "tags": {TAG_MANAGED: MANAGED_BY, TAG_PURPOSE: PURPOSE, TAG_SOURCE_ID: source.id},
            "properties": {
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "minimumTlsVersion": "TLS1_2",
                "supportsHttpsTrafficOnly": True,
            },
        }
        account = res.begin_create_or_update_by_id(rid, body, api_version=STORAGE_API).result()
        t.budget.take(t.target_sub, "writes")
        res.begin_create_or_update_by_id(
            f"{rid}/blobServices/default/containers/{CONTAINER}",
            {"properties": {"publicAccess": "None"}},
            api_version=STORAGE_API,
        ).result()
    return str(cast(dict[str, Any], account.properties)["primaryEndpoints"]["blob"])


def my_principal(t: Target) -> str:
    """The object id of the bot's own principal (the token's ``oid``, else its service principal in Graph)."""
    me, claims = graphaccess.whoami(t.clients, "")
    if claims.get("oid"):
        return str(claims["oid"])
    found = graphaccess.graph_read(t.clients, me) if me else []
    if not found or not found[0].get("id"):
        raise AzureError(
            "the bot does not know its own principal, so it cannot give itself a data role on the staging account",
            code="PrincipalUnknown",
            next_step="run `/avd doctor` and fix the bot's identity",
        )
    return str(found[0]["id"])


def data_role_name(scope: str, principal: str) -> str:
    """One assignment GUID per (account, principal, role): a retried job PUTs the same assignment."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{principal.lower()}|{BLOB_DATA_CONTRIBUTOR}"))


def _role_request(t: Target, method: str, url: str, body: Any = None) -> None:
    client = t.clients.resources(t.target_sub)
    response = client.send_request(HttpRequest(method, url, params={"api-version": ROLE_API}, json=body))
    if response.status_code >= 400:
        err = (response.json() if response.content else {}).get("error") or {}
        kind = {404: AzureNotFound, 409: AzureConflict}.get(response.status_code, AzureError)
        raise kind(
            str(err.get("message") or f"HTTP {response.status_code}"),
            code=str(err.get("code", "")),
            resource_id=url,
            status=response.status_code,
            next_step="give the bot's identity the avd-ops snapshot role (roleAssignments write) on the "
            "target resource group, then retry",
        )


def grant_data_role(t: Target, name: str, principal: str) -> str:
    """Storage Blob Data Contributor for ``principal`` on the staging account; returns the assignment id."""
    scope = account_id(t, name)
    rid = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{data_role_name(scope, principal)}"
    body = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{t.target_sub}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{BLOB_DATA_CONTRIBUTOR}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "description": "avd-ops snapshot staging (removed with the account)",
        }
    }
    t.budget.take(t.target_sub, "writes")
    try:
        _role_request(t, "PUT", rid, body)
    except AzureConflict as err:
        if err.code != "RoleAssignmentExists":
            raise
    return rid


def revoke_data_role(t: Target, assignment_id: str) -> None:
    t.budget.take(t.target_sub, "deletes")
    with contextlib.suppress(AzureNotFound):
        _role_request(t, "DELETE", assignment_id)


def delete_account(t: Target, name: str) -> None:
    rid = account_id(t, name)
    with translated(rid, "delete the staging storage account by hand (tag avdops-purpose=snapshot-staging)"):
        t.budget.take(t.target_sub, "writes")
        t.clients.resources(t.target_sub).resources.begin_delete_by_id(rid, api_version=STORAGE_API).result()


def _blob_client(t: Target) -> PipelineClient[HttpRequest, Any]:
    policies = [
        HeadersPolicy({"x-ms-version": BLOB_API}),
        ReleasingRetryPolicy(retry_total=3),
        BearerTokenCredentialPolicy(t.clients.credential, STORAGE_SCOPE),
    ]
    return PipelineClient(
        "https://storage.invalid", policies=policies, connection_verify=t.clients.connection_verify
    )


def copy_blob(t: Target, sas: str, blob_url: str, progress: Progress, label: str) -> None:
    """Server-side Copy Blob from the SAS; waits for ``x-ms-copy-status: success``."""
    with _blob_client(t) as client:
        give_up = time.monotonic() + DATA_ROLE_WAIT_S
        while True:
            resp = client.send_request(
                HttpRequest("PUT", blob_url, headers={"x-ms-copy-source": sas, "Content-Length": "0"})
            )
            waiting = resp.headers.get("x-ms-error-code") == "AuthorizationPermissionMismatch"
            if not (resp.status_code == 403 and waiting and time.monotonic() < give_up):
                break
            progress(1.0, f"{label}: waiting for the data role to take effect")
            time.sleep(t.poll_seconds)
        if resp.status_code not in (201, 202):
            raise AzureError(
                f"the staging blob copy for {label} was refused (HTTP {resp.status_code})",
                code=resp.headers.get("x-ms-error-code") or "BlobCopyRefused",
                next_step="check the bot's Storage Blob Data Contributor role on the staging account",
            )
        while True:
            head = client.send_request(HttpRequest("HEAD", blob_url))
            state = head.headers.get("x-ms-copy-status", "")
            if state == "success":
                return
            if state not in ("pending", ""):
                raise AzureError(
                    f"the staging blob copy for {label} ended {state}",
                    code="BlobCopyFailed",
                    next_step="retry the job",
                )
            done, _, total = head.headers.get("x-ms-copy-progress", "0/1").partition("/")
            progress(100.0 * int(done or 0) / max(1, int(total or 1)) / 2, f"{label} staging copy")
            time.sleep(t.poll_seconds)


def stage_and_import(t: Target, source: Snap, progress: Progress) -> Snap:
    """The whole route for one full snapshot; the SAS is revoked and the account removed in every case."""
    parts = source.id.split("/")
    src_sub, src_rg = parts[2], parts[4]
    compute = t.clients.compute(src_sub)
    name = account_name(source, t.region)
    granted = created = False
    role = ""
    try:
        with translated(source.id):
            t.budget.take(src_sub, "writes")
            poller = compute.snapshots.begin_grant_access(
                src_rg,
                source.name,
                GrantAccessData(access="Read", duration_in_seconds=3600, file_format="VHD"),
            )
            granted = True
            sas = str(poller.result().access_sas or "")
        if not sas:
            raise AzureError(
                f"Azure granted no read access to {source.name}",
                code="NoAccessSas",
                resource_id=source.id,
                next_step="retry the job",
            )
        progress(2.0, f"{source.name}: staging account")
        created = True
        endpoint = create_account(t, name, source)
        progress(3.0, f"{source.name}: data role on the staging account")
        role = grant_data_role(t, name, my_principal(t))
        copy_blob(t, sas, f"{endpoint.rstrip('/')}/{CONTAINER}/{source.name}.vhd", progress, source.name)
        del sas
        _revoke(t, compute, src_sub, src_rg, source)
        granted = False
        progress(50.0, f"{source.name}: importing")
        body = replica_body(
            source,
            t.region,
            "Staging",
            import_uri=f"{endpoint.rstrip('/')}/{CONTAINER}/{source.name}.vhd",
            storage_id=account_id(t, name),
        )
        return wait_usable(t, source.name, progress, started=put_replica(t, source.name, body, progress))
    finally:
        try:
            if granted:
                _revoke(t, compute, src_sub, src_rg, source)
        finally:
            try:
                if role:
                    revoke_data_role(t, role)
            finally:
                if created:
                    delete_account(t, name)


def _revoke(t: Target, compute: ComputeManagementClient, sub: str, rg: str, source: Snap) -> None:
    with translated(source.id, "revoke access to the snapshot by hand (Disk export: cancel export)"):
        t.budget.take(sub, "writes")
        compute.snapshots.begin_revoke_access(rg, source.name).result()
