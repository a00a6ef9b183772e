"""``/avd doctor``: does every configured resource exist, and may the bot's identity do what each capability needs?

Permissions are read per resource group with ``GET {scope}/providers/Microsoft.Authorization/permissions``
(api-version 2022-04-01) and compared with ``NEEDS``: capability -> resource group purpose -> RBAC actions.
The least-privilege custom roles in ``deploy/roles/`` (``ROLE_FILES``, one per purpose) grant exactly these.
Microsoft Graph rights on the join application: ``azureops.graphaccess.check_graph`` (reads only). Users of an
Entra-joined DR site need a VM login role on its scale set's resource group: ``login_finding``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.rest import HttpRequest

from avdcore.errors import AvdError, AzureError, AzureNotFound
from azureops import assignments, identities, joinchain
from azureops.clients import NETWORK_API_VERSION, AzureClients
from azureops.errors import project_error, translated
from azureops.graphaccess import GraphAccess, check_graph

PERMISSIONS_API = "2022-04-01"
RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
OPS_READ = "Microsoft.Compute/locations/operations/read"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"
UAMI = "Microsoft.ManagedIdentity/userAssignedIdentities"
POOLS = "Microsoft.DesktopVirtualization/hostpools"
GALLERY = "Microsoft.Compute/galleries"
SNAP = "Microsoft.Compute/snapshots"
ROLE_FILES: dict[str, str] = {
    "network": "deploy/roles/avd-ops-network-reader.json",
    "master": "deploy/roles/avd-ops-gallery-replicas.json",
    "scaleset": "deploy/roles/avd-ops-scalesets.json",
    "hostpool": "deploy/roles/avd-ops-hostpools.json",
    "snapshots": "deploy/roles/avd-ops-snapshots.json",
    "appaccess": "deploy/roles/avd-ops-app-access.json",
}
NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "replicas": {
        "master": (
            RG_READ,
            f"{GALLERY}/read",
            f"{GALLERY}/images/read",
            f"{GALLERY}/images/versions/read",
            f"{GALLERY}/images/versions/write",
            OPS_READ,
        ),
        "scaleset": (f"{VMSS}/read",),
    },
    "status": {
        "master": (f"{GALLERY}/images/versions/read",),
        "scaleset": (f"{VMSS}/read", f"{UAMI}/read"),
        "hostpool": (
            f"{POOLS}/read",
            f"{POOLS}/sessionhosts/read",
            "Microsoft.Authorization/roleAssignments/read",  # the join app's role (DR identity chain)
        ),
    },
    "identity create": {
        "scaleset": (
            RG_READ,
            f"{UAMI}/read",
            f"{UAMI}/write",
            f"{UAMI}/federatedIdentityCredentials/read",
            f"{UAMI}/federatedIdentityCredentials/write",
        )
    },
    "scaleset create": {
        "scaleset": (
            RG_READ,
            f"{VMSS}/read",
            f"{VMSS}/write",
            f"{UAMI}/read",
            f"{UAMI}/assign/action",
            OPS_READ,
        ),
        "network": (
            RG_READ,
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
        ),
        "master": (f"{GALLERY}/images/versions/read",),
        "hostpool": (f"{POOLS}/read", f"{POOLS}/write", f"{POOLS}/retrieveRegistrationToken/action"),
    },
    "scale": {"scaleset": (f"{VMSS}/read", f"{VMSS}/write", f"{VMSS}/virtualMachines/read", OPS_READ)},
    "failover": {
        "hostpool": (
            f"{POOLS}/read",
            f"{POOLS}/sessionhosts/read",
            f"{POOLS}/sessionhosts/write",
            f"{POOLS}/sessionhosts/usersessions/read",
            f"{POOLS}/sessionhosts/usersessions/delete",
            f"{POOLS}/sessionhosts/usersessions/sendMessage/action",
            f"{POOLS}/sessionhosts/usersessions/disconnect/action",
            "Microsoft.DesktopVirtualization/scalingplans/read",
            "Microsoft.DesktopVirtualization/scalingplans/write",
        ),
        "scaleset": (f"{VMSS}/read", f"{VMSS}/write", "Microsoft.Compute/virtualMachines/read", OPS_READ),
    },
    "snapshots": {
        "snapshots": (
            RG_READ,
            f"{SNAP}/read",
            f"{SNAP}/write",
            f"{SNAP}/delete",
            f"{SNAP}/beginGetAccess/action",
            f"{SNAP}/endGetAccess/action",
            OPS_READ,
            "Microsoft.Authorization/locks/read",
            "Microsoft.Authorization/locks/write",
            "Microsoft.Authorization/locks/delete",
        )
    },
    # full snapshots go through a private staging account (azureops.staging) in the target group; the bot then
    # gives itself Storage Blob Data Contributor on it, so no blob data action is needed beforehand
    "snapshots (full, staged)": {
        "snapshots": (
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Storage/storageAccounts/write",
            "Microsoft.Storage/storageAccounts/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
        )
    },
    # only for a DR host pool group whose failover has [[failover.post_steps]] kind = "assign_app_group"
    "failover post-steps": {
        "appaccess": (
            "Microsoft.DesktopVirtualization/applicationgroups/read",
            "Microsoft.Authorization/roleAssignments/read",
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
        )
    },
}


def required(purposes: Iterable[str]) -> dict[str, list[str]]:
    """Action -> the capabilities that need it, for a resource group serving ``purposes``."""
    out: dict[str, list[str]] = {}
    for capability, by_purpose in NEEDS.items():
        for purpose in purposes:
            for action in by_purpose.get(purpose, ()):
                users = out.setdefault(action, [])
                if capability not in users:
                    users.append(capability)
    return out


def permitted(action: str, permissions: Iterable[Mapping[str, Any]]) -> bool:
    """ARM's rule: some permission entry matches ``action`` in ``actions`` and not in ``notActions``."""

    def match(patterns: Any) -> bool:
        return any(fnmatch.fnmatch(action.lower(), str(p).lower()) for p in patterns or ())

    return any(match(p.get("actions")) and not match(p.get("notActions")) for p in permissions)


@dataclass(frozen=True)
class Group:
    """One configured resource group and what the config uses it for."""

    subscription: str
    name: str
    purposes: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.name}"


@dataclass(frozen=True)
class Check:
    """One thing the config names: ``read`` returns normally when it exists in Azure."""

    what: str
    resource_id: str
    read: Callable[[], Any]
    todo: str = ""  # not there yet is expected: this command creates it


@dataclass(frozen=True)
class Finding:
    status: str  # ok | missing | todo | error | unchecked (could not be read: not healthy, not a failure)
    what: str
    detail: str = ""
    next_step: str = ""


@dataclass(frozen=True)
class GroupAccess:
    group: Group
    missing: Mapping[str, list[str]] = field(default_factory=dict)  # action -> capabilities needing it
    error: str = ""

    @property
    def role_files(self) -> list[str]:
        return [ROLE_FILES[p] for p in self.group.purposes if p in ROLE_FILES]


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    access: tuple[GroupAccess, ...]
    graph: GraphAccess | None = None

    @property
    def healthy(self) -> bool:
        return (
            all(f.status in ("ok", "todo") for f in self.findings)
            and all(not a.missing and not a.error for a in self.access)
            and (self.graph is None or self.graph.ok)
        )


def read_permissions(clients: AzureClients, group: Group) -> list[dict[str, Any]]:
    """Every permission entry the caller holds at ``group``'s scope (follows nextLink)."""
    client = clients.resources(group.subscription)
    url: str | None = (
        f"{group.id}/providers/Microsoft.Authorization/permissions?api-version={PERMISSIONS_API}"
    )
    out: list[dict[str, Any]] = []
    while url:
        response = client.send_request(HttpRequest("GET", url))
        if response.status_code >= 400:
            body = response.json() if response.content else {}
            err = (body or {}).get("error") or {}
            raise AzureError(
                str(err.get("message") or f"HTTP {response.status_code}"),
                code=str(err.get("code", "")),
                resource_id=group.id,
                status=response.status_code,
                next_step="give the bot's identity Reader on this resource group so doctor can check it",
            )
        body = response.json()
        out += list(body.get("value") or [])
        url = body.get("nextLink")
    return out


def check_access(clients: AzureClients, group: Group) -> GroupAccess:
    try:
        held = read_permissions(clients, group)
    except Exception as exc:  # noqa: BLE001 - reported on the group
        err = project_error(exc, group.id)
        if err is None:
            raise
        return GroupAccess(group, error=str(err))
    missing = {a: users for a, users in required(group.purposes).items() if not permitted(a, held)}
    return GroupAccess(group, missing)


def run_check(check: Check) -> Finding:
    try:
        with translated(check.resource_id):
            check.read()
    except AzureNotFound as err:
        if check.todo:
            return Finding("todo", check.what, "not created yet", check.todo)
        return Finding(
            "missing",
            check.what,
            f"not found ({err.code or 'NotFound'})",
            f"create it or fix its name in avd.toml ({check.resource_id})",
        )
    except AvdError as err:
        return Finding("error", check.what, str(err), getattr(err, "next_step", ""))
    return Finding("ok", check.what)


def diagnose(
    clients: AzureClients,
    checks: Iterable[Check],
    groups: Iterable[Group],
    *,
    workers: int = 8,
    join_app: identities.JoinApp | None = None,
    client_id: str = "",
) -> Report:
    """Run every existence check, every group's permission check and the Graph check concurrently."""
    checks, groups = list(checks), list(groups)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avd-doctor") as pool:
        graph = pool.submit(check_graph, clients, join_app, client_id) if join_app is not None else None
        findings = list(pool.map(run_check, checks))
        access = list(pool.map(lambda g: check_access(clients, g), groups))
        return Report(tuple(findings), tuple(access), graph.result() if graph is not None else None)


# ---- config -> checks (plain values in, callables out) --------------------------------------------


def group_check(clients: AzureClients, group: Group) -> Check:
    return Check(
        f"resource group {group.name}",
        group.id,
        lambda: clients.resources(group.subscription).resource_groups.get(group.name),
    )


def subnet_check(clients: AzureClients, sub: str, rg: str, vnet: str, subnet: str) -> Check:
    rid = (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}"
        f"/subnets/{subnet}"
    )
    return Check(
        f"subnet {vnet}/{subnet} in {rg}",
        rid,
        lambda: clients.resources(sub).resources.get_by_id(rid, api_version=NETWORK_API_VERSION),
    )


def gallery_checks(
    clients: AzureClients, sub: str, rg: str, gallery: str, image: str, version: str
) -> list[Check]:
    c = clients.compute(sub)
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}"
    out = [Check(f"gallery {gallery}", base, lambda: c.galleries.get(rg, gallery))]
    if image:
        out.append(
            Check(
                f"image definition {gallery}/{image}",
                f"{base}/images/{image}",
                lambda: c.gallery_images.get(rg, gallery, image),
            )
        )
    if image and version:
        out.append(
            Check(
                f"image version {image}/{version}",
                f"{base}/images/{image}/versions/{version}",
                lambda: c.gallery_image_versions.get(rg, gallery, image, version),
            )
        )
    return out


def host_pool_check(clients: AzureClients, sub: str, rg: str, pool: str) -> Check:
    rid = (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DesktopVirtualization/hostPools/{pool}"
    )
    return Check(f"host pool {pool}", rid, lambda: clients.avd(sub).host_pools.get(rg, pool))


def scale_set_check(clients: AzureClients, sub: str, rg: str, name: str, todo: str = "") -> Check:
    rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{VMSS}/{name}"
    return Check(
        f"scale set {name}", rid, lambda: clients.compute(sub).virtual_machine_scale_sets.get(rg, name), todo
    )


def identity_check(clients: AzureClients, sub: str, rg: str, name: str, todo: str = "") -> Check:
    rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{UAMI}/{name}"
    return Check(
        f"identity {name} in {rg}", rid, lambda: clients.msi(sub).user_assigned_identities.get(rg, name), todo
    )


# ---- the DR identity chain (azureops.joinchain) ---------------------------------------------------

CHAIN_STATUS = {"ok": "ok", "missing": "missing", "unknown": "unchecked", "todo": "todo"}
CHAIN_WHAT = {
    "identity": "identity {identity} on scale set {scale_set}",
    "credential": "federated credential of {identity} on the join app",
    "role": "join app's role on {group} (retrieveRegistrationToken)",
    "fallback": "registration token fallback of {pool}",
}


def chain_findings(
    clients: AzureClients,
    chain: joinchain.SiteChain,
    app: identities.JoinApp | None,
    now: datetime,
) -> list[Finding]:
    """One finding per link of ``chain``, each with the fix for a missing link."""
    out = []
    for link in joinchain.read_links(clients, chain, app, now):
        what = CHAIN_WHAT[link.name].format(
            identity=chain.identity,
            scale_set=chain.scale_set,
            group=chain.host_pool_resource_group,
            pool=chain.host_pool,
        )
        out.append(
            Finding(CHAIN_STATUS[link.status], f"DR chain ({chain.site}): {what}", link.text, link.fix)
        )
    return out


# ---- sign-in to the DR site's Entra-joined hosts (azureops.assignments) -----------------------------------


def login_finding(
    clients: AzureClients,
    site: str,
    vm_group: assignments.ScopeRef,
    app_groups: Sequence[assignments.AppGroupRef],
    configured: Sequence[str] = (),
) -> Finding:
    """Do the DR desktop's users hold a VM login role on the DR scale set's resource group? The users are the
    principals the failover assigns (``configured``) and those holding Desktop Virtualization User on the first
    of ``app_groups`` (the DR application group, then the primary's) that has any."""
    what = f"VM sign-in ({site}): users of the DR desktop on {vm_group.resource_group}"
    try:
        principals = list(configured)
        for group in app_groups:
            if principals:
                break
            principals = assignments.desktop_users(clients, group)
        if not principals:
            names = " or ".join(g.name for g in app_groups)
            return Finding(
                "todo",
                what,
                f"no users hold Desktop Virtualization User on {names}",
                "assign the DR desktop's users first; they then need Virtual Machine User Login on "
                f"{vm_group.resource_group}",
            )
        gap = assignments.login_gap(clients, vm_group, principals)
    except AvdError as err:
        return Finding(
            "unchecked", what, f"cannot read role assignments: {err}", getattr(err, "next_step", "")
        )
    if not gap.missing:
        return Finding(
            "ok", what, f"{len(gap.principals)} principal(s) hold Virtual Machine User or Administrator Login"
        )
    return Finding(
        "missing",
        what,
        f"{len(gap.missing)} of {len(gap.principals)} principal(s) cannot sign in to Entra-joined hosts "
        f"(no Virtual Machine User Login on {vm_group.resource_group}): {', '.join(gap.missing)}",
        gap.fix,
    )
