"""Role assignments on the DR site's application group: the failover post-step ``assign_app_group``.

A failover gives the configured users and groups (Entra object ids) "Desktop Virtualization User" on the DR
application group; failback (or the rollback of a cancelled failover) removes exactly the assignments the
failover made. Each assignment it creates is recorded in Azure itself: its ``description`` starts with
``MARKER``, so one made by someone else (or before the failover) is never removed.

ARM is called with raw requests on the resources client's pipeline (bearer token, retries, throttling),
api-version 2022-04-01. Idempotent: the assignments at the scope are listed first and an existing
(principal, role) counts as done; the PUT uses a deterministic name (uuid5 of scope, principal and role) and
treats 409 ``RoleAssignmentExists`` as done.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError, map_error
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from avdcore.errors import AzureConflict
from azureops.clients import ERROR_MAP, AzureClients
from azureops.errors import translated
from azureops.plan import ArmRef, Step, StepContext

API_VERSION = "2022-04-01"
DESKTOP_USER = "1d18fff3-a72a-46b5-b4a9-0b38a3cd7e63"  # built-in role "Desktop Virtualization User"
ROLE_NAMES = {DESKTOP_USER: "Desktop Virtualization User"}
MARKER = "avd-ops failover"
PROVIDER = "/providers/Microsoft.Authorization/roleAssignments"


@dataclass(frozen=True)
class AppGroupRef(ArmRef):
    TYPE = "Microsoft.DesktopVirtualization/applicationGroups"


@dataclass(frozen=True)
class Assignment:
    id: str
    principal: str
    role: str  # the role definition's GUID, lower case
    description: str

    @property
    def ours(self) -> bool:
        """Made by a failover of this bot."""
        return self.description.startswith(MARKER)


def role_definition_id(subscription: str, role: str = DESKTOP_USER) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def assignment_name(scope: str, principal: str, role: str) -> str:
    """The same GUID for the same (scope, principal, role): a repeated PUT is the same assignment."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{principal.lower()}|{role.lower()}"))


def _send(clients: AzureClients, group: ArmRef, request: HttpRequest) -> Any:
    with translated(group.id):
        response = clients.resources(group.subscription).send_request(request)
        if response.status_code >= 400:
            map_error(response.status_code, response, ERROR_MAP)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return response.json() if response.content else None


def list_assignments(clients: AzureClients, group: ArmRef) -> list[Assignment]:
    """Assignments at the scope (an application group, a resource group) and above it (``atScope()``), every page."""
    out: list[Assignment] = []
    request: HttpRequest | None = HttpRequest(
        "GET", group.id + PROVIDER, params={"api-version": API_VERSION, "$filter": "atScope()"}
    )
    while request is not None:
        body = _send(clients, group, request) or {}
        for doc in body.get("value") or []:
            props = doc.get("properties") or {}
            out.append(
                Assignment(
                    id=str(doc["id"]),
                    principal=str(props.get("principalId", "")).lower(),
                    role=str(props.get("roleDefinitionId", "")).rstrip("/").rsplit("/", 1)[-1].lower(),
                    description=str(props.get("description") or ""),
                )
            )
        link = body.get("nextLink")
        request = HttpRequest("GET", str(link)) if link else None
    return out


def assign(clients: AzureClients, group: AppGroupRef, principal: str, role: str, description: str) -> bool:
    """Give ``principal`` ``role`` on the group; False when Azure says it already has it."""
    name = assignment_name(group.id, principal, role)
    body = {
        "properties": {
            "roleDefinitionId": role_definition_id(group.subscription, role),
            "principalId": principal,
            "description": description,
        }
    }
    try:
        _send(
            clients,
            group,
            HttpRequest(
                "PUT", f"{group.id}{PROVIDER}/{name}", params={"api-version": API_VERSION}, json=body
            ),
        )
    except AzureConflict as err:
        if err.code != "RoleAssignmentExists":
            raise
        return False
    return True


def unassign(clients: AzureClients, group: AppGroupRef, assignment: Assignment) -> None:
    _send(clients, group, HttpRequest("DELETE", assignment.id, params={"api-version": API_VERSION}))


def assign_step(
    clients: AzureClients,
    group: AppGroupRef,
    principals: Sequence[str],
    *,
    name: str,
    description: str,
    role: str = DESKTOP_USER,
) -> Step:
    """Give every principal ``role`` on the group, marking what it creates with ``description``
    (which must start with ``MARKER``)."""
    wanted = list(dict.fromkeys(p.lower() for p in principals))
    role_name = ROLE_NAMES.get(role, role)

    def missing() -> list[str]:
        have = {a.principal for a in list_assignments(clients, group) if a.role == role}
        return [p for p in wanted if p not in have]

    def apply(ctx: StepContext) -> str:
        todo = missing()
        made = [p for p in todo if assign(clients, group, p, role, description)]
        for p in made:
            ctx.note(f"assigned {role_name} to {p}")
        return (
            f"{len(made)} assignment(s) made on {group.name}; "
            f"{len(wanted) - len(made)} principal(s) already had {role_name}"
        )

    return Step(
        name=name,
        resource_id=group.id,
        apply=apply,
        check=lambda ctx: not missing(),
        description=f"Give {len(wanted)} user(s)/group(s) {role_name} on {group.name}",
        estimate_seconds=3,
        intent={"principals": sorted(wanted), "role": role},
    )


def unassign_step(clients: AzureClients, group: AppGroupRef, *, name: str, role: str = DESKTOP_USER) -> Step:
    """Remove the assignments of ``role`` a failover made on the group (and only those)."""
    role_name = ROLE_NAMES.get(role, role)

    def ours() -> list[Assignment]:
        here = f"{group.id}{PROVIDER}/".lower()
        return [
            a
            for a in list_assignments(clients, group)
            if a.ours and a.role == role and a.id.lower().startswith(here)
        ]

    def apply(ctx: StepContext) -> str:
        found = ours()
        for a in found:
            unassign(clients, group, a)
            ctx.note(f"removed {role_name} from {a.principal}")
        return f"{len(found)} assignment(s) the failover made removed from {group.name}"

    return Step(
        name=name,
        resource_id=group.id,
        apply=apply,
        check=lambda ctx: not ours(),
        description=f"Remove the {role_name} assignments the failover made on {group.name}",
        estimate_seconds=3,
        intent={"assigned_by_failover": 0, "role": role},
    )


# ---- sign-in to Entra-joined session hosts -----------------------------------------------------------------
# Microsoft Learn, "Sign in to a Windows virtual machine in Azure by using Microsoft Entra ID" (role assignments)
# and AVD's "Microsoft Entra joined session hosts": a user signs in to an Entra-joined VM only with Virtual
# Machine User Login or Virtual Machine Administrator Login on the VM or above it (Owner and Contributor do not
# carry the login data action). Desktop Virtualization User on the application group is not enough.

VM_USER_LOGIN = "fb879df8-f326-4884-b1cf-06f3ad86be52"
VM_ADMIN_LOGIN = "1c0163c0-47e6-4577-8991-ea5c82e286e4"
LOGIN_ROLES = {
    VM_USER_LOGIN: "Virtual Machine User Login",
    VM_ADMIN_LOGIN: "Virtual Machine Administrator Login",
}


@dataclass(frozen=True)
class ScopeRef(ArmRef):
    """A resource group as a role assignment scope (``name`` is the group's name too)."""

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"


@dataclass(frozen=True)
class LoginGap:
    """Who of ``principals`` (users of the DR desktop) cannot sign in to the DR hosts in ``scope``."""

    scope: str
    principals: tuple[str, ...]  # the users/groups checked
    missing: tuple[str, ...]  # those holding no VM login role at the scope or above

    @property
    def fix(self) -> str:
        return "; ".join(
            f'`az role assignment create --assignee-object-id {p} --role "Virtual Machine User Login" '
            f"--scope {self.scope}`"
            for p in self.missing
        )


def desktop_users(clients: AzureClients, group: AppGroupRef) -> list[str]:
    """Principals holding Desktop Virtualization User on the application group (at it or above)."""
    return list(
        dict.fromkeys(a.principal for a in list_assignments(clients, group) if a.role == DESKTOP_USER)
    )


def login_gap(clients: AzureClients, vm_group: ScopeRef, principals: Sequence[str]) -> LoginGap:
    """Which ``principals`` hold neither VM login role on the session hosts' resource group ``vm_group`` (an
    assignment at the group or above it counts; group membership is not expanded: assign the role to the same
    user or group that holds Desktop Virtualization User)."""
    wanted = tuple(dict.fromkeys(p.lower() for p in principals))
    have = {a.principal for a in list_assignments(clients, vm_group) if a.role in LOGIN_ROLES}
    return LoginGap(vm_group.id, wanted, tuple(p for p in wanted if p not in have))
