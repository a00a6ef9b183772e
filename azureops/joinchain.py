"""The DR identity chain, checked from outside: can a new DR instance register with its host pool on its own?

A new instance of the DR scale set registers through ``AVD-Register`` (``deploy/scripts/register-session-host.ps1``)
when four links hold, each read here without writing anything:

1. **identity**: the scale set carries the site's user-assigned identity (AVDManage) and the registration script;
2. **credential**: AVD-Join has a federated credential for that identity (issuer = the tenant's v2.0 authority,
   subject = the identity's principal id, audience ``api://AzureADTokenExchange``);
3. **role**: AVD-Join's service principal holds a role that includes
   ``Microsoft.DesktopVirtualization/hostpools/retrieveRegistrationToken/action`` at the DR host pool's resource
   group or above (the seed: Desktop Virtualization Host Pool Contributor);
4. **fallback**: the host pool's registration token (the one the bot writes into the model) is still valid, for
   when a link above is missing.

``links`` is pure (reads in, ``Link``s out); ``read_role`` reads AVD-Join's service principal (Graph) and the
role assignments at the host pool's resource group (ARM, api-version 2022-04-01). The bot never assigns the role
itself: the link names the ``az role assignment create`` that does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, map_error
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from avdcore.errors import AvdError, AzureNotFound
from azureops import identities
from azureops.clients import ERROR_MAP, AzureClients
from azureops.errors import translated

API_VERSION = "2022-04-01"
TOKEN_ACTION = "Microsoft.DesktopVirtualization/hostpools/retrieveRegistrationToken/action"
HOST_POOL_CONTRIBUTOR = "e307426c-f9b6-4e81-87de-d99efb3c32bc"
ROLES_WITH_TOKEN = {  # built-in roles whose actions include TOKEN_ACTION (hostpools/* or *)
    HOST_POOL_CONTRIBUTOR: "Desktop Virtualization Host Pool Contributor",
    "082f0a83-3be5-4ba1-904c-961cca79b387": "Desktop Virtualization Contributor",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
}
OK, MISSING, UNKNOWN, TODO = "ok", "missing", "unknown", "todo"


@dataclass(frozen=True)
class Link:
    name: str  # identity | credential | role | fallback
    status: str  # ok | missing | unknown | todo
    text: str
    fix: str = ""


@dataclass(frozen=True)
class JoinRole:
    """AVD-Join's service principal and the roles it holds at (or above) the host pool's resource group."""

    app_id: str
    principal_id: str  # "" when the app has no service principal in the tenant
    roles: tuple[str, ...]  # role definition GUIDs, lower case

    @property
    def allowing(self) -> list[str]:
        return [ROLES_WITH_TOKEN[r] for r in self.roles if r in ROLES_WITH_TOKEN]


def group_id(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}"


def read_app_id(clients: AzureClients, app: identities.JoinApp) -> str:
    """AVD-Join's application (client) id, from Graph."""
    with translated(f"graph: application {app.name}"):
        return str((clients.graph.get(f"/applications/{quote(app.object_id)}") or {}).get("appId") or "")


def read_role(
    clients: AzureClients, app: identities.JoinApp, subscription: str, resource_group: str
) -> JoinRole:
    app_id = read_app_id(clients, app)
    with translated(f"graph: service principal of {app.name}"):
        try:
            sp = clients.graph.get(f"/servicePrincipals(appId='{quote(app_id)}')") or {}
        except HttpResponseError as err:
            if err.status_code != 404:
                raise
            sp = {}
    principal = str(sp.get("id") or "")
    if not principal:
        return JoinRole(app_id, "", ())
    scope = group_id(subscription, resource_group)
    roles: list[str] = []
    request: HttpRequest | None = HttpRequest(
        "GET",
        f"{scope}/providers/Microsoft.Authorization/roleAssignments",
        params={"api-version": API_VERSION, "$filter": "atScope()"},
    )
    while request is not None:
        with translated(scope):
            response = clients.resources(subscription).send_request(request)
            if response.status_code >= 400:
                map_error(response.status_code, response, ERROR_MAP)
                raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        body = response.json() if response.content else {}
        for a in body.get("value") or []:
            props = a.get("properties") or {}
            if str(props.get("principalId", "")).lower() == principal.lower():
                roles.append(str(props.get("roleDefinitionId", "")).rstrip("/").rsplit("/", 1)[-1].lower())
        link = body.get("nextLink")
        request = HttpRequest("GET", link) if link else None
    return JoinRole(app_id, principal, tuple(roles))


def _get(body: Mapping[str, Any] | None, *names: str) -> Any:
    """A field of REST JSON (``properties.x``) or of an SDK ``as_dict()`` (either case), else None."""
    for where in (body or {}, (body or {}).get("properties") or {}):
        for name in names:
            if name in where:
                return where[name]
    return None


def _is_register(ext: Mapping[str, Any]) -> bool:
    props = ext.get("properties") or {}
    uris = (props.get("settings") or {}).get("fileUris") or []
    return str(props.get("type", "")).lower() == "customscriptextension" and any(
        str(u).split("?")[0].rsplit("/", 1)[-1].lower() == "register-session-host.ps1" for u in uris
    )


def identity_link(vmss: Mapping[str, Any] | None, identity_id: str, site: str, scale_set: str) -> Link:
    if vmss is None:
        return Link("identity", TODO, f"no scale set {scale_set} yet", f"`/avd scaleset create {site}`")
    ident = _get(vmss, "identity") or {}
    assigned = _get(ident, "userAssignedIdentities", "user_assigned_identities") or {}
    name = identity_id.rsplit("/", 1)[-1]
    rg = identity_id.split("/")[4] if identity_id.count("/") > 4 else ""
    if identity_id.lower() not in {str(k).lower() for k in assigned}:
        return Link(
            "identity",
            MISSING,
            f"{scale_set} does not carry the user-assigned identity {name}",
            f"`az vmss identity assign --resource-group {rg} --name {scale_set} --identities {identity_id}` "
            f"(or rebuild it with `/avd scaleset create {site}`)",
        )
    vmp = _get(vmss, "virtualMachineProfile", "virtual_machine_profile") or {}
    exts = (_get(vmp, "extensionProfile", "extension_profile") or {}).get("extensions") or []
    tags = {str(k).lower(): str(v) for k, v in (_get(vmss, "tags") or {}).items()}
    if any(_is_register(e) for e in exts) and not tags.get("avd-ops-join-app-id"):
        return Link(
            "identity",
            MISSING,
            f"{scale_set}'s registration script does not know the join app's application id (tag "
            "avd-ops-join-app-id): new instances register only with the token in the model",
            f"rebuild {scale_set} with `/avd scaleset create {site}` once `/avd doctor` can read the join app",
        )
    if not any(_is_register(e) for e in exts):
        return Link(
            "identity",
            MISSING,
            f"{scale_set} carries {name} but no registration script (AVD-Register): new instances register "
            "only with the token in the model",
            f"rebuild {scale_set} with `/avd scaleset create {site}`",
        )
    return Link("identity", OK, f"{scale_set} carries {name} and runs the registration script")


def credential_link(
    identity: Mapping[str, Any] | None,
    credentials: list[dict[str, Any]] | AvdError | None,
    app: identities.JoinApp,
    site: str,
    identity_name: str,
) -> Link:
    create = f"`/avd identity create {site}`"
    if identity is None:
        return Link("credential", TODO, f"no identity {identity_name} yet", create)
    if isinstance(credentials, AvdError):
        return Link("credential", UNKNOWN, f"cannot read {app.name}'s federated credentials: {credentials}")
    principal = str(_get(identity, "principalId", "principal_id") or "")
    match = identities.matching_credential(list(credentials or []), app.issuer, principal)
    if match is None or identities.AUDIENCE not in (match.get("audiences") or []):
        return Link(
            "credential",
            MISSING,
            f"{app.name} has no federated credential for {identity_name} (issuer {app.issuer}, subject "
            f"{principal or '?'}, audience {identities.AUDIENCE})",
            create,
        )
    return Link("credential", OK, f"{app.name} trusts {identity_name} ({match.get('name')})")


def role_link(
    role: JoinRole | AvdError | None, app_name: str, subscription: str, resource_group: str
) -> Link:
    scope = group_id(subscription, resource_group)
    if role is None:
        return Link(
            "role", UNKNOWN, f"{app_name}'s role not checked (no [join_app] app_object_id in avd.toml)"
        )
    if isinstance(role, AvdError):
        return Link(
            "role",
            UNKNOWN,
            f"not checked: cannot read {app_name}'s service principal or role assignments ({getattr(role, 'code', '') or role})",
            f"check by hand: `az role assignment list --assignee <{app_name}'s application id> --scope {scope} "
            "--include-inherited`; or give the bot Microsoft Graph Application.Read.All",
        )
    if not role.principal_id:
        return Link(
            "role",
            MISSING,
            f"{app_name} has no service principal in the tenant",
            f"`az ad sp create --id {role.app_id}`, then assign its role on {resource_group}",
        )
    if role.allowing:
        return Link("role", OK, f"{app_name} is {role.allowing[0]} on {resource_group}")
    return Link(
        "role",
        MISSING,
        f"{app_name} has no role on {resource_group} that allows retrieveRegistrationToken",
        f"`az role assignment create --assignee-object-id {role.principal_id} --assignee-principal-type "
        f'ServicePrincipal --role "Desktop Virtualization Host Pool Contributor" --scope {scope}`',
    )


def fallback_link(pool: Mapping[str, Any] | None, pool_name: str, now: datetime, site: str) -> Link:
    if pool is None:
        return Link("fallback", MISSING, f"no host pool {pool_name}", "fix the name in avd.toml or create it")
    info = _get(pool, "registrationInfo", "registration_info") or {}
    raw = _get(info, "expirationTime", "expiration_time")
    expires = raw if isinstance(raw, datetime) else _parse(raw)
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if expires is None or expires <= now:
        return Link(
            "fallback",
            MISSING,
            f"{pool_name} has no valid registration token: an instance whose chain is broken cannot fall back",
            f"fix the chain; `/avd scale {site} N` writes a fresh token into the model",
        )
    return Link(
        "fallback",
        OK,
        f"{pool_name}'s registration token is valid until {expires.strftime('%Y-%m-%d %H:%M')} UTC (the "
        "model holds the one the bot last wrote)",
    )


def _parse(raw: Any) -> datetime | None:
    """ARM's ``2026-05-22T17:19:00.0000000Z`` (7 fractional digits) or any ISO 8601 time, as aware UTC."""
    if not raw:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(raw)).replace("Z", "+00:00")
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SiteChain:
    """What a DR site's chain is made of, as configured."""

    site: str
    subscription: str
    scale_set_resource_group: str
    scale_set: str
    identity: str
    host_pool_resource_group: str
    host_pool: str


def _read(fn: Any, resource_id: str) -> Any:
    """``fn()``; ``None`` when Azure says 404; the project error for anything Azure refuses."""
    try:
        with translated(resource_id):
            return fn()
    except AzureNotFound:
        return None
    except AvdError as err:
        return err


def read_links(
    clients: AzureClients, chain: SiteChain, app: identities.JoinApp | None, now: datetime
) -> list[Link]:
    """Read every link of ``chain`` (reads only) and judge it; Azure errors become ``unknown`` links."""
    s, c = chain.subscription, chain
    ident_id = identities.identity_id(s, c.scale_set_resource_group, c.identity)
    vmss = _read(
        lambda: (
            clients.compute(s)
            .virtual_machine_scale_sets.get(c.scale_set_resource_group, c.scale_set)
            .as_dict()
        ),
        f"/subscriptions/{s}/resourceGroups/{c.scale_set_resource_group}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{c.scale_set}",
    )
    identity = _read(
        lambda: clients.msi(s).user_assigned_identities.get(c.scale_set_resource_group, c.identity).as_dict(),
        ident_id,
    )
    pool = _read(
        lambda: clients.avd(s).host_pools.get(c.host_pool_resource_group, c.host_pool).as_dict(),
        f"{group_id(s, c.host_pool_resource_group)}/providers/Microsoft.DesktopVirtualization/hostPools/"
        f"{c.host_pool}",
    )
    out: list[Link] = []
    if isinstance(vmss, AvdError):
        out.append(Link("identity", UNKNOWN, f"cannot read {c.scale_set}: {vmss}"))
    else:
        out.append(identity_link(vmss, ident_id, c.site, c.scale_set))
    if app is None:
        out.append(Link("credential", UNKNOWN, "not checked: no [join_app] app_object_id in avd.toml"))
        out.append(role_link(None, "AVD-Join", s, c.host_pool_resource_group))
    else:
        credentials = _read(
            lambda: identities.list_credentials(clients, app), f"graph: application {app.name}"
        )
        if isinstance(identity, AvdError):
            out.append(Link("credential", UNKNOWN, f"cannot read identity {c.identity}: {identity}"))
        else:
            out.append(credential_link(identity, credentials, app, c.site, c.identity))
        role = _read(lambda: read_role(clients, app, s, c.host_pool_resource_group), f"graph: {app.name}")
        out.append(role_link(role, app.name, s, c.host_pool_resource_group))
    if isinstance(pool, AvdError):
        out.append(Link("fallback", UNKNOWN, f"cannot read {c.host_pool}: {pool}"))
    elif vmss is None:
        out.append(Link("fallback", TODO, f"written into the model when {c.scale_set} is created"))
    else:
        out.append(fallback_link(pool, c.host_pool, now, c.site))
    return out
