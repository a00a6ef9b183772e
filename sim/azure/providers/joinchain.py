"""The DR identity chain a new scale-set instance walks to register with its host pool.

The scale set's Custom Script extension runs ``register-session-host.ps1`` (``deploy/scripts`` of the product)
with ``-IdentityId`` (the user-assigned identity, AVDManage), ``-AppId`` (the join app's client id, AVD-Join),
``-HostPoolId`` and ``-RegistrationToken`` (the fallback). On the VM the script:

1. asks IMDS for a token of the user-assigned identity ``-IdentityId`` for the audience
   ``api://AzureADTokenExchange`` (IMDS only serves identities assigned to the VM);
2. presents it as ``client_assertion`` for ``-AppId`` at the tenant's token endpoint: Entra accepts it only
   when a federated credential on that application has the managed identity's issuer
   (``https://login.microsoftonline.com/{tenant}/v2.0``), subject (its principal id) and audience;
3. calls ``retrieveRegistrationToken`` on the host pool as the app's service principal: ARM allows it only
   when a role assigned to that principal at the pool or above includes
   ``Microsoft.DesktopVirtualization/hostpools/retrieveRegistrationToken/action``; a pool without a current
   token gets one through ``registrationInfo`` (``hostpools/write``, in the same roles);
4. installs the agent with that token. When a link fails it uses ``-RegistrationToken``, which registers only
   if it is the pool's current, unexpired token.

``walk`` evaluates the chain when the instance is created and returns the pool to register with (or ``None``)
and the script's output: stdout and stderr, as the Custom Script extension reports them in the instance view
(``ComponentStatus/StdOut/succeeded`` / ``ComponentStatus/StdErr/succeeded`` substatuses). The error codes in
that output are the ones Azure uses for each refusal (IMDS 400 ``invalid_request`` "Identity not found", Entra ``AADSTS70021`` /
``AADSTS700016``, ARM ``AuthorizationFailed``, AVD ``hostPoolDoesNotExist``); the surrounding text is the
script's own.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.azure.ids import is_under, key

if TYPE_CHECKING:
    from sim.azure.state import State

SCRIPT = "register-session-host.ps1"
AUDIENCE = "api://AzureADTokenExchange"
TOKEN_ACTION = "Microsoft.DesktopVirtualization/hostpools/retrieveRegistrationToken/action"
ROLE_TYPE = "Microsoft.Authorization/roleAssignments"
POOL_TYPE = "Microsoft.DesktopVirtualization/hostPools"
ROLES_WITH_TOKEN = {  # built-in roles whose actions include TOKEN_ACTION (and hostpools/write)
    "e307426c-f9b6-4e81-87de-d99efb3c32bc": "Desktop Virtualization Host Pool Contributor",
    "082f0a83-3be5-4ba1-904c-961cca79b387": "Desktop Virtualization Contributor",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
}
LINKS = ("identity", "credential", "role", "host pool")
_ARG = re.compile(r"-(\w+)\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))")


@dataclass(frozen=True)
class Outcome:
    pool: dict[str, Any] | None
    missing: str  # the first link that does not hold ("" when the chain holds)
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.pool is not None


def register_extension(vmss: dict[str, Any]) -> dict[str, Any] | None:
    """The scale set's Custom Script extension that runs the registration script, if any."""
    vmp = vmss["properties"].get("virtualMachineProfile") or {}
    for ext in (vmp.get("extensionProfile") or {}).get("extensions") or []:
        p = ext.get("properties") or {}
        if str(p.get("type", "")).lower() != "customscriptextension":
            continue
        uris = (p.get("settings") or {}).get("fileUris") or []
        if any(str(u).rsplit("/", 1)[-1].split("?")[0].lower() == SCRIPT for u in uris):
            return dict(ext)
    return None


def arguments(ext: dict[str, Any]) -> dict[str, str]:
    """The script's named arguments from ``commandToExecute`` (protected settings, else public ones)."""
    p = ext.get("properties") or {}
    command = str(
        (p.get("protectedSettings") or {}).get("commandToExecute")
        or (p.get("settings") or {}).get("commandToExecute")
        or ""
    )
    return {
        m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _ARG.finditer(command)
    }


def _app(sim: State, app_id: str) -> dict[str, Any] | None:
    return next(
        (
            o
            for o in sim.graph.values()
            if "federatedIdentityCredentials" in o and str(o.get("appId", "")).lower() == app_id.lower()
        ),
        None,
    )


def _service_principal(sim: State, app_id: str) -> dict[str, Any] | None:
    return next(
        (
            o
            for o in sim.graph.values()
            if o.get("@odata.type") == "#microsoft.graph.servicePrincipal"
            and str(o.get("appId", "")).lower() == app_id.lower()
        ),
        None,
    )


def role_on(sim: State, principal: str, scope: str) -> str:
    """The name of a role assigned to ``principal`` at ``scope`` or above that allows TOKEN_ACTION, or ''."""
    for a in sim.store.of_type(ROLE_TYPE):
        props = a.get("properties") or {}
        if str(props.get("principalId", "")).lower() != principal.lower():
            continue
        role = str(props.get("roleDefinitionId", "")).rstrip("/").rsplit("/", 1)[-1].lower()
        where = str(props.get("scope") or a["id"].split("/providers/Microsoft.Authorization/")[0])
        if role in ROLES_WITH_TOKEN and is_under(scope, where):
            return ROLES_WITH_TOKEN[role]
    return ""


def _current_token(pool: dict[str, Any]) -> str:
    reg = pool.get("_sim", {}).get("registration") or {}
    return str(reg.get("token") or "") if time.time() < float(reg.get("expires", 0)) else ""


def _link(sim: State, vmss: dict[str, Any], args: dict[str, str]) -> tuple[str, str, dict[str, Any] | None]:
    """The first missing link (name, the script's error line) or ("", "", the host pool)."""
    uid = args.get("identityid", "")
    assigned = {key(u) for u in ((vmss.get("identity") or {}).get("userAssignedIdentities") or {})}
    identity = sim.store.get(uid) if uid else None
    if not uid or key(uid) not in assigned or identity is None:
        return (
            "identity",
            'IMDS: 400 {"error":"invalid_request","error_description":"Identity not found"} for '
            f"msi_res_id {uid}",
            None,
        )
    app_id = args.get("appid", "")
    app = _app(sim, app_id) if app_id else None
    if app is None:
        return (
            "credential",
            f"Entra ID: AADSTS700016: Application with identifier '{app_id}' was not found in the directory "
            f"'{sim.tenant_id}'.",
            None,
        )
    principal = str(identity["properties"]["principalId"])
    issuer = f"https://login.microsoftonline.com/{sim.tenant_id}/v2.0"
    trusted = any(
        str(f.get("issuer", "")).rstrip("/") == issuer
        and str(f.get("subject", "")).lower() == principal.lower()
        and AUDIENCE in (f.get("audiences") or [])
        for f in app.get("federatedIdentityCredentials") or []
    )
    if not trusted:
        return (
            "credential",
            "Entra ID: AADSTS70021: No matching federated identity record found for presented assertion. "
            f"Assertion Issuer: '{issuer}'. Assertion Subject: '{principal}'. Assertion Audience: "
            f"'{AUDIENCE}'.",
            None,
        )
    pool_id = args.get("hostpoolid", "")
    sp = _service_principal(sim, app_id)
    if sp is None or not role_on(sim, str(sp["id"]), pool_id):
        who = str(sp["id"]) if sp else app_id
        return (
            "role",
            f"ARM: 403 AuthorizationFailed: The client '{who}' with object id '{who}' does not have "
            f"authorization to perform action '{TOKEN_ACTION}' over scope '{pool_id}' or the scope is invalid.",
            None,
        )
    pool = sim.store.get(pool_id) if pool_id else None
    if pool is None or pool.get("type") != POOL_TYPE:
        return "host pool", "ARM: 404 hostPoolDoesNotExist: Host Pool Does Not Exist", None
    return "", "", pool


def walk(sim: State, vmss: dict[str, Any], ext: dict[str, Any], issue: Any) -> Outcome:
    """Run the chain for one new instance; ``issue(sim, pool)`` gives a pool without a current token one."""
    args = arguments(ext)
    missing, error, pool = _link(sim, vmss, args)
    if pool is not None:
        if not _current_token(pool):
            issue(sim, pool)
        return Outcome(
            pool,
            "",
            f"registration token retrieved for {pool['name']} as {args.get('appid')}; agent installed",
            "",
        )
    fallback = args.get("registrationtoken", "")
    named = sim.store.get(args.get("hostpoolid", "")) if args.get("hostpoolid") else None
    if fallback and named is not None and fallback == _current_token(named):
        return Outcome(
            named,
            missing,
            f"{missing} link failed; registered {named['name']} with the fallback registration token",
            error,
        )
    return Outcome(None, missing, "", f"{error}\nno valid fallback registration token: not registered")
