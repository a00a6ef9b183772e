"""May the bot write the join application's federated identity credentials? Read from Microsoft Graph, never tried.

Graph authorizes ``POST /applications/{id}/federatedIdentityCredentials`` for an app-only caller holding the
application permission Application.ReadWrite.All, or Application.ReadWrite.OwnedBy *and* being an owner of the
application. ``check_graph`` finds the bot's service principal (the access token's ``oid``, else
``servicePrincipals(appId=AZURE_CLIENT_ID)``), reads its app role assignments and the application's owners,
compares them with Graph's app role ids and counts the credentials used of the 20 Entra allows.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AzureError
from azureops import identities
from azureops.clients import GRAPH_SCOPE, AzureClients
from azureops.credentials import SandboxCredential
from azureops.errors import translated

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId (its app role ids are global)
READ_WRITE_ALL, OWNED_BY = "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"
GRAPH_ROLES = {
    "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": READ_WRITE_ALL,
    "18a4783c-866b-4cc7-a460-3d5e5662c884": OWNED_BY,
    "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30": "Application.Read.All",
    "7ab1d382-f21e-4acd-a863-ba3e13f7da61": "Directory.Read.All",
}
SANDBOX_CLIENT_ID = (
    "00000000-0000-0000-0000-00000000b07c"  # the sandbox credential's identity in sim/azure/graph
)
CONSENT = f"admin consent to Microsoft Graph {OWNED_BY} (deploy/graph/) for the bot's identity"
READ_ONLY = f"{CONSENT} (it also lets the bot read its own rights), or Application.Read.All to read only"


@dataclass(frozen=True)
class GraphAccess:
    """The verdict on one application. ``status``: ok | missing | error (cannot read) | unknown (who am I?)."""

    app: str
    status: str
    how: str = ""  # what grants the right, when ok
    used: int | None = None  # credentials already on the app, of identities.FIC_LIMIT
    missing: tuple[str, ...] = ()
    detail: str = ""  # why it cannot be read, or is unknown
    next_step: str = ""
    principal: str = ""  # the bot's service principal object id, when known

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def token_claims(clients: AzureClients) -> dict[str, Any]:
    """The Graph access token's claims (``oid``, ``roles``), unverified; ``{}`` for an opaque token."""
    try:
        payload = clients.credential.get_token(GRAPH_SCOPE).token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:  # noqa: BLE001 - no readable claims: the configured client id is used instead
        return {}
    return claims if isinstance(claims, dict) else {}


def graph_read(clients: AzureClients, path: str) -> list[dict[str, Any]]:
    """GET ``path`` (relative to ``/v1.0``): an entity as one item, or every page of a collection."""
    graph, out = clients.graph, []
    prefix = f"{graph.base_url}/v1.0"
    url: str | None = path
    while url:
        with translated(f"graph:{path.split('?')[0]}"):
            body = graph.get(url)
        if "value" not in body:
            return [body]
        out += list(body["value"])
        link = str(body.get("@odata.nextLink") or "")
        url = link[len(prefix) :] if link.startswith(prefix) else None
    return out


def whoami(clients: AzureClients, client_id: str) -> tuple[str, dict[str, Any]]:
    """The Graph path of the bot's own service principal ("" when unknown) and the token's claims."""
    if isinstance(clients.credential, SandboxCredential):
        return f"/servicePrincipals(appId='{SANDBOX_CLIENT_ID}')", {}
    claims = token_claims(clients)
    if claims.get("oid"):
        return f"/servicePrincipals/{claims['oid']}", claims
    return (f"/servicePrincipals(appId='{client_id}')" if client_id else ""), claims


def check_graph(clients: AzureClients, app: identities.JoinApp, client_id: str = "") -> GraphAccess:
    """Read (never write) the bot's Graph app roles and ``app``'s owners; count ``app``'s credentials."""
    me, claims = whoami(clients, client_id)
    if not me:
        return GraphAccess(
            app.name,
            "unknown",
            detail="the bot does not know its own service principal",
            next_step="set AZURE_CLIENT_ID to the client (application) id of the bot's identity",
        )
    try:
        principal = str(graph_read(clients, me)[0].get("id", ""))
    except AzureError as err:
        if err.code == identities.GRAPH_DENIED:
            return GraphAccess(
                app.name,
                "error",
                detail=f"cannot even read the bot's service principal ({err.code})",
                next_step=READ_ONLY,
            )
        return GraphAccess(
            app.name,
            "error",
            detail=f"cannot find the bot's service principal: {err.message}",
            next_step="set AZURE_CLIENT_ID to the client (application) id of the bot's identity",
        )
    try:
        held = {
            GRAPH_ROLES[a["appRoleId"]]
            for a in graph_read(clients, f"/servicePrincipals/{principal}/appRoleAssignments")
            if a.get("appRoleId") in GRAPH_ROLES
        }
    except AzureError as err:
        if err.code != identities.GRAPH_DENIED or not claims.get("roles"):
            return GraphAccess(
                app.name,
                "error",
                detail=f"cannot read the bot's Graph permissions ({err.code})",
                next_step=READ_ONLY,
                principal=principal,
            )
        held = {str(r) for r in claims["roles"]}  # an app-only token lists its consented permissions too
    try:
        owners = graph_read(clients, f"/applications/{app.object_id}/owners")
    except AzureError as err:
        if err.code != identities.GRAPH_DENIED:
            return GraphAccess(
                app.name,
                "error",
                detail=f"cannot read {app.name}: {err.message} ({err.code})",
                next_step=f"check [join_app] app_object_id of {app.name} in the config",
                principal=principal,
            )
        if OWNED_BY not in held and READ_WRITE_ALL not in held:
            return GraphAccess(
                app.name,
                "error",
                detail=f"cannot even read {app.name}'s owners ({err.code})",
                next_step=READ_ONLY,
                principal=principal,
            )
        owners = []  # OwnedBy reads only the applications its holder owns: the bot is not an owner
    owner = any(str(o.get("id", "")).lower() == principal.lower() for o in owners)
    try:
        used: int | None = len(identities.list_credentials(clients, app))
    except AzureError:
        used = None
    if READ_WRITE_ALL in held:
        return GraphAccess(app.name, "ok", READ_WRITE_ALL, used, principal=principal)
    if OWNED_BY in held and owner:
        return GraphAccess(app.name, "ok", f"owner + {OWNED_BY}", used, principal=principal)
    missing = (() if OWNED_BY in held else (OWNED_BY,)) + (() if owner else (f"owner of {app.name}",))
    steps = ([] if OWNED_BY in held else [CONSENT]) + (
        [] if owner else [f"`{identities.owner_command(app, principal)}`"]
    )
    return GraphAccess(
        app.name,
        "missing",
        used=used,
        missing=missing,
        principal=principal,
        next_step=" and ".join(steps) + f" (or consent {READ_WRITE_ALL})",
    )
