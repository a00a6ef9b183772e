"""Every error code the ARM double can send is one Azure uses for that case, with its source; the few whose case
Microsoft does not document are listed as such (and in docs/simulator.md), so a new invented code fails here.

The codes are read from the simulator's source: the code argument of every ``ArmError(...)`` and ``GraphError(...)``
and the not-found codes of ``sim/azure/providers/avd.py``. A source shows Azure using the code (for the case or the
same kind of case); the exact code for some simulator cases is not documented, as docs/simulator.md says per rule."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARM_ERRORS = "learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors"
ARM_RPC = "Azure/azure-resource-manager-rpc v1.0/common-api-details.md (api-version and error contract)"
THROTTLING = "learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling"
RBAC = "learn.microsoft.com/azure/role-based-access-control/troubleshooting"
LOCKS = "../shared/notes/azure.md (lock violations: 409 ScopeLocked, from the azure-sdk issue it cites)"
COMPUTE = "learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/error-messages"
BLOB = "learn.microsoft.com/rest/api/storageservices/blob-service-error-codes"
STORAGE = "learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes"
GRAPH = "learn.microsoft.com/graph/errors"

SOURCES = {
    "AuthenticationFailed": ARM_RPC,
    "AuthorizationFailed": ARM_ERRORS,
    "MissingApiVersionParameter": ARM_RPC,
    "InvalidApiVersionParameter": ARM_ERRORS,
    "SubscriptionNotFound": ARM_ERRORS,
    "ResourceGroupNotFound": ARM_ERRORS,
    "ResourceNotFound": ARM_ERRORS,
    "ParentResourceNotFound": ARM_ERRORS,
    "NotFound": ARM_ERRORS,
    "InvalidResourceType": ARM_ERRORS,
    "LocationNotAvailableForResourceType": ARM_ERRORS,
    "LocationRequired": ARM_ERRORS,
    "InvalidRequestContent": ARM_ERRORS,
    "InvalidParameter": ARM_ERRORS,
    "BadRequest": ARM_ERRORS,
    "Conflict": ARM_ERRORS,
    "SubscriptionRequestsThrottled": THROTTLING,
    "ServiceUnavailable": ARM_RPC,
    "ScopeLocked": LOCKS,
    "OperationNotAllowed": COMPUTE,
    "PropertyChangeNotAllowed": COMPUTE,
    "SkuNotAvailable": "learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-sku-not-available",
    "InvalidResourceReference": ARM_ERRORS,
    "GalleryImageNotFound": "BRIEF (the reply operators see; ../shared/BRIEF.md)",
    "RoleAssignmentExists": RBAC,
    "RoleAssignmentUpdateNotPermitted": RBAC,
    "RoleDefinitionDoesNotExist": RBAC,
    "RoleAssignmentNotFound": RBAC,
    "hostPoolDoesNotExist": "spec example HostPool_Get error (specification/desktopvirtualization)",
    "AccountNameInvalid": ARM_ERRORS,
    "StorageAccountAlreadyTaken": ARM_ERRORS,
    "AuthorizationPermissionMismatch": BLOB,
    "CannotVerifyCopySource": BLOB,
    "BlobNotFound": BLOB,
    "ContainerNotFound": BLOB,
    "Authorization_RequestDenied": GRAPH,
    "Request_BadRequest": GRAPH,
    "Request_ResourceNotFound": GRAPH,
    "InvalidFederatedIdentityCredentialValue": "Entra's reply in Azure/azure-workload-identity#434 (issuer + subject "
    "unique per application; Microsoft Learn workload-identity-federation-considerations)",
}
# Codes for cases Microsoft does not document: the simulator's choice, each named in docs/simulator.md.
UNDOCUMENTED = {
    "FailedIdentityOperation",  # a missing user-assigned identity on a VM/VMSS: seen in public reports only
    "LockNotFound",  # GET of a missing lock
    "LockLevelInvalid",  # a lock level other than CanNotDelete/ReadOnly
    "JobNotFound",  # ASR replication job not found
    "RecoveryPlanNotFound",  # ASR recovery plan not found
    "SessionHostNotFound",  # AVD session host not found
    "UserSessionNotFound",  # AVD user session not found
    "SessionHostHasActiveSessions",  # AVD delete of a host with sessions without force=true
    "applicationGroupDoesNotExist",  # AVD not-found codes by analogy with the spec's hostPoolDoesNotExist
    "workspaceDoesNotExist",
    "scalingPlanDoesNotExist",
    "MethodNotAllowed",  # a method a route does not serve (ARM's 405 body code not confirmed)
    "InvalidPrincipalId",  # role assignment with a malformed principalId (not confirmed on the RBAC pages)
    "InvalidRoleAssignmentId",  # role assignment name that is not a GUID (not confirmed)
    "InvalidControlRequest",  # the /_sim control endpoint, not Azure
}


def emitted() -> set[str]:
    """Every constant code handed to ArmError/GraphError (positionally second, or ``code=``) in sim/azure."""
    codes: set[str] = set()
    for path in (REPO / "sim" / "azure").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in ("ArmError", "GraphError"):
                continue
            args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "code")]
            codes |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    avd = ast.parse((REPO / "sim/azure/providers/avd.py").read_text(encoding="utf-8"))
    for node in ast.walk(avd):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "NOT_FOUND" for t in node.targets):
            assert isinstance(node.value, ast.Dict)
            codes |= {v.elts[0].value for v in node.value.values if isinstance(v, ast.Tuple)}  # type: ignore[attr-defined]
    return codes


def test_every_error_code_the_double_sends_has_a_source_or_is_listed_as_undocumented() -> None:
    codes = emitted()
    assert len(codes) > 30
    assert codes - set(SOURCES) - UNDOCUMENTED == set()


def test_the_lists_hold_no_code_the_double_no_longer_sends() -> None:
    codes = emitted()
    assert (set(SOURCES) | UNDOCUMENTED) - codes - {"ServiceUnavailable"} == set()
