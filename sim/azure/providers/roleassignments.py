"""Microsoft.Authorization/roleAssignments at any scope: list (with ``$filter``), PUT, GET, DELETE.

A role assignment's id is ``{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}``. Like ARM:
the name must be a GUID; the role must be a known built-in role; a second assignment of the same
(principal, role, scope) under another name is 409 ``RoleAssignmentExists``; PUT of the same name with the
same content answers 201 again (redeploys are idempotent); changing its principal or role is refused.
Listing without a filter returns assignments at, above and below the scope; ``atScope()`` those at and
above it; ``principalId eq '...'`` / ``assignedTo('...')`` narrow to one principal.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import is_under, key, resource_group_id
from sim.azure.providers.common import body_dict, page
from sim.azure.providers.rbac import PRINCIPAL
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2022-04-01", "2020-10-01-preview", "2020-04-01-preview", "2018-09-01-preview", "2015-07-01")
TYPE = "Microsoft.Authorization/roleAssignments"
BUILT_IN_ROLES = {  # role definition GUID -> role name
    "1d18fff3-a72a-46b5-b4a9-0b38a3cd7e63": "Desktop Virtualization User",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "e307426c-f9b6-4e81-87de-d99efb3c32bc": "Desktop Virtualization Host Pool Contributor",
    "fb879df8-f326-4884-b1cf-06f3ad86be52": "Virtual Machine User Login",
    "1c0163c0-47e6-4577-8991-ea5c82e286e4": "Virtual Machine Administrator Login",
}
_SPLIT = re.compile(r"/providers/Microsoft\.Authorization/roleAssignments", re.IGNORECASE)
_PRINCIPAL_FILTER = re.compile(r"(?:principalId\s+eq\s+|assignedTo\()\s*'([^']+)'", re.IGNORECASE)


def _is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def scope_of(assignment_id: str) -> str:
    return _SPLIT.split(assignment_id)[0]


def role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _check_scope(sim: State, scope: str) -> None:
    group = resource_group_id(scope)
    if group is not None and sim.store.get(group) is None:
        raise ArmError(
            404, "ResourceGroupNotFound", f"Resource group '{group.rsplit('/', 1)[-1]}' could not be found."
        )
    if group is not None and key(group) != key(scope) and sim.store.get(scope) is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{scope.split('/providers/', 1)[-1]}' under resource "
            f"group '{group.rsplit('/', 1)[-1]}' was not found.",
        )


def make_assignment(
    sim: State,
    scope: str,
    principal: str,
    role: str,
    *,
    name: str | None = None,
    principal_type: str = "User",
    description: str | None = None,
) -> dict[str, Any]:
    """Store an assignment of role GUID ``role`` to ``principal`` at ``scope`` (seeding or PUT)."""
    now = iso(sim.clock.seconds())
    sub = scope.split("/")[2]
    props = {
        "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        "principalId": principal,
        "principalType": principal_type,
        "scope": scope,
        "condition": None,
        "conditionVersion": None,
        "createdOn": now,
        "updatedOn": now,
        "createdBy": PRINCIPAL,
        "updatedBy": PRINCIPAL,
        "delegatedManagedIdentityResourceId": None,
        "description": description,
    }
    name = name or str(uuid.UUID(int=sim.rng.getrandbits(128), version=4))
    return sim.store.put(
        {"properties": props, "id": f"{scope}/providers/{TYPE}/{name}", "type": TYPE, "name": name}
    )


def assignments(sim: State, scope: str) -> list[dict[str, Any]]:
    """Assignments made exactly at ``scope`` (as ARM returns them)."""
    with sim.lock:
        return [public(d) or {} for d in sim.store.of_type(TYPE) if key(scope_of(d["id"])) == key(scope)]


def _put(sim: State, req: Request) -> Response:
    scope, name = scope_of(req.path), req.params["name"]
    if not _is_guid(name):
        raise ArmError(
            400,
            "InvalidRoleAssignmentId",
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
        )
    _check_scope(sim, scope)
    props = body_dict(req).get("properties") or {}
    principal, role_id = props.get("principalId"), str(props.get("roleDefinitionId") or "")
    if not _is_guid(principal):
        raise ArmError(
            400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment."
        )
    role = role_guid(role_id)
    if not role_id or role not in BUILT_IN_ROLES:
        raise ArmError(
            400,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{role}' does not exist.",
        )
    existing = sim.store.get(req.path)
    if existing is not None:
        same = (
            str(existing["properties"]["principalId"]).lower() == str(principal).lower()
            and role_guid(existing["properties"]["roleDefinitionId"]) == role
        )
        if not same:
            raise ArmError(
                400,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        return Response(201, public(existing))
    for doc in sim.store.of_type(TYPE):
        p = doc["properties"]
        if (
            key(scope_of(doc["id"])) == key(scope)
            and str(p["principalId"]).lower() == str(principal).lower()
            and role_guid(p["roleDefinitionId"]) == role
        ):
            raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
    doc = make_assignment(
        sim,
        scope,
        str(principal),
        role,
        name=name,
        principal_type=str(props.get("principalType") or "User"),
        description=props.get("description"),
    )
    return Response(201, public(doc))


def _get(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        raise ArmError(
            404, "RoleAssignmentNotFound", f"The role assignment '{req.params['name']}' is not found."
        )
    return Response(200, public(doc))


def _delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        return Response(204)
    sim.store.delete(req.path)
    return Response(200, public(doc))


def _list(sim: State, req: Request) -> Response:
    scope = scope_of(req.path)
    _check_scope(sim, scope)
    flt = req.q("$filter") or ""
    at_scope = "atscope()" in flt.lower()
    principal = _PRINCIPAL_FILTER.search(flt)
    found = []
    for doc in sim.store.of_type(TYPE):
        there = scope_of(doc["id"])
        if not (is_under(scope, there) or (not at_scope and is_under(there, scope))):
            continue
        if principal and str(doc["properties"]["principalId"]).lower() != principal.group(1).lower():
            continue
        found.append(doc)
    return page(sim, req, found)


def register(router: Router) -> None:
    for prefix in ("/subscriptions/{sub}", "/subscriptions/{sub}/{rest*}"):
        base = prefix + "/providers/Microsoft.Authorization/roleAssignments"
        router.add("GET", base, _list, VERSIONS, lockable=False)
        router.add("GET", base + "/{name}", _get, VERSIONS, lockable=False)
        router.add("PUT", base + "/{name}", _put, VERSIONS, lockable=False)
        router.add("DELETE", base + "/{name}", _delete, VERSIONS, lockable=False)
