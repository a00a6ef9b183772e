"""A Microsoft Graph double: the join application's federated identity credentials and who may write them.

Served under ``/graph/v1.0``: ``applications/{id}`` (get), ``.../federatedIdentityCredentials[/{id or name}]``
(list, create 201, get, delete 204; at most 20 per application, the 21st create is 400), ``.../owners``;
``servicePrincipals/{id}`` and ``servicePrincipals(appId='{appId}')`` (get) and their ``/appRoleAssignments``.
Collections answer ``{"@odata.context", "value"}`` with ``@odata.nextLink`` when a page is full.

The caller is the bearer token's ``oid`` claim, or the bot's service principal (``BOT_SP``) for the sandbox's
opaque token. Graph's rules for an app-only caller: writing an application's credentials needs
Application.ReadWrite.All, or Application.ReadWrite.OwnedBy and being one of the application's owners; reading
an application (its credentials, owners) needs Application.Read.All (or ReadWrite.All, Directory.Read.All) or
OwnedBy on an owned one; reading a service principal needs one of those read roles or OwnedBy (Graph's "Get
servicePrincipal" page), its app role assignments a read role or OwnedBy for the caller's own (the simulator's rule). Anything else is 403 ``Authorization_RequestDenied``.
The tenant starts with Microsoft Graph's and the bot's service principals, the bot consented to OwnedBy; an
application added with ``add_application`` is owned by the bot (Graph makes an application's creator its owner).
Test knobs: ``grant_app_role``/``revoke_app_role``, ``add_owner``/``remove_owner``.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sim.azure.clock import iso
from sim.azure.ids import guid
from sim.azure.providers.rbac import PRINCIPAL
from sim.azure.router import ArmError, Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State

FIC_LIMIT = 20
ROOT = "/graph/v1.0"
BASE = ROOT + "/applications/{app}"
METADATA = "https://graph.microsoft.com/v1.0/$metadata"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId in every tenant
GRAPH_SP = "00000000-0000-0000-0000-00000000a9a9"  # its service principal's object id in the simulated tenant
BOT_SP = PRINCIPAL  # the bot's service principal (object id), the principal ARM's RBAC double checks too
BOT_APP_ID = "00000000-0000-0000-0000-00000000b07c"  # the bot's client (application) id
SP_TYPE = "#microsoft.graph.servicePrincipal"
ROLES = {  # Microsoft Graph application permissions (app role ids are the same in every tenant)
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
}
READ_ANY = {ROLES[n] for n in ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")}
DENIED = "Insufficient privileges to complete the operation."
_INTERNAL = ("federatedIdentityCredentials", "owners", "appRoleAssignments")


class GraphError(ArmError):
    """Graph's error body: ``{"error": {"code", "message", "innerError": {"date", "request-id", ...}}}``."""

    def body(self) -> dict[str, Any]:
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


def _not_found(ref: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.",
    )


# ---- directory state (sim.graph: object id -> application or service principal) -------------------


def add_service_principal(sim: State, object_id: str, app_id: str, name: str) -> dict[str, Any]:
    sp = {
        "@odata.type": SP_TYPE,
        "id": object_id,
        "appId": app_id,
        "displayName": name,
        "servicePrincipalType": "Application",
        "accountEnabled": True,
        "appRoleAssignments": [],
    }
    sim.graph[object_id.lower()] = sp
    return sp


def ensure_directory(sim: State) -> None:
    """Microsoft Graph's and the bot's service principals; a new bot is consented Application.ReadWrite.OwnedBy."""
    if GRAPH_SP not in sim.graph:
        add_service_principal(sim, GRAPH_SP, GRAPH_APP_ID, "Microsoft Graph")
    if BOT_SP not in sim.graph:
        add_service_principal(sim, BOT_SP, BOT_APP_ID, "avd-ops")
        grant_app_role(sim, "Application.ReadWrite.OwnedBy")


def _is_sp(obj: dict[str, Any]) -> bool:
    return obj.get("@odata.type") == SP_TYPE


def add_application(
    sim: State, object_id: str, name: str, owners: tuple[str, ...] = (BOT_SP,)
) -> dict[str, Any]:
    ensure_directory(sim)
    app = {
        "id": object_id,
        "appId": guid(sim.rng),
        "displayName": name,
        "federatedIdentityCredentials": [],
        "owners": list(owners),
    }
    sim.graph[object_id.lower()] = app
    return app


def add_credential(
    sim: State, object_id: str, name: str, issuer: str, subject: str, description: str = ""
) -> dict[str, Any]:
    app = sim.graph[object_id.lower()]
    fic = {
        "id": guid(sim.rng),
        "name": name,
        "issuer": issuer,
        "subject": subject,
        "description": description,
        "audiences": ["api://AzureADTokenExchange"],
    }
    app["federatedIdentityCredentials"].append(fic)
    return fic


def grant_app_role(sim: State, role: str, principal: str = BOT_SP) -> None:
    """Consent Microsoft Graph application permission ``role`` (a name of ``ROLES``) for ``principal``."""
    with sim.lock:
        sp = sim.graph[principal.lower()]
        if ROLES[role] in _roles(sim, principal):
            return
        raw = uuid.UUID(principal).bytes + uuid.UUID(ROLES[role]).bytes[:8]
        sp["appRoleAssignments"].append(
            {
                "id": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "deletedDateTime": None,
                "appRoleId": ROLES[role],
                "createdDateTime": iso(sim.clock.seconds())[:19] + "Z",
                "principalDisplayName": sp["displayName"],
                "principalId": sp["id"],
                "principalType": "ServicePrincipal",
                "resourceDisplayName": "Microsoft Graph",
                "resourceId": GRAPH_SP,
            }
        )


def revoke_app_role(sim: State, role: str, principal: str = BOT_SP) -> None:
    """Remove ``principal``'s consent to ``role`` (test knob)."""
    with sim.lock:
        sp = sim.graph[principal.lower()]
        sp["appRoleAssignments"] = [a for a in sp["appRoleAssignments"] if a["appRoleId"] != ROLES[role]]


def add_owner(sim: State, app_object_id: str, principal: str = BOT_SP) -> None:
    with sim.lock:
        owners = sim.graph[app_object_id.lower()].setdefault("owners", [])
        if principal.lower() not in (o.lower() for o in owners):
            owners.append(principal)


def remove_owner(sim: State, app_object_id: str, principal: str = BOT_SP) -> None:
    """Take ``principal`` off the application's owners (test knob)."""
    with sim.lock:
        app = sim.graph[app_object_id.lower()]
        app["owners"] = [o for o in app.get("owners", []) if o.lower() != principal.lower()]


# ---- authorization ------------------------------------------------------------------------------------


def caller(req: Request) -> str:
    """The token's ``oid`` claim (a JWT), else the bot's service principal (the sandbox's opaque token)."""
    token = req.headers.get("authorization", "").split(" ", 1)[-1]
    parts = token.split(".")
    if len(parts) == 3:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            return str(claims["oid"]).lower()
        except (ValueError, KeyError, TypeError):
            pass
    return BOT_SP


def _roles(sim: State, principal: str) -> set[str]:
    sp = sim.graph.get(principal.lower())
    return {a["appRoleId"] for a in sp.get("appRoleAssignments", [])} if sp and _is_sp(sp) else set()


def _owns(app: dict[str, Any], principal: str) -> bool:
    return principal.lower() in (o.lower() for o in app.get("owners", [BOT_SP]))  # state saved before owners


def _require(allowed: bool) -> None:
    if not allowed:
        raise GraphError(403, "Authorization_RequestDenied", DENIED)


def _may_read_app(sim: State, req: Request, app: dict[str, Any]) -> None:
    who = caller(req)
    roles = _roles(sim, who)
    _require(bool(roles & READ_ANY) or (ROLES["Application.ReadWrite.OwnedBy"] in roles and _owns(app, who)))


def _may_write_app(sim: State, req: Request, app: dict[str, Any]) -> None:
    who = caller(req)
    roles = _roles(sim, who)
    _require(
        ROLES["Application.ReadWrite.All"] in roles
        or (ROLES["Application.ReadWrite.OwnedBy"] in roles and _owns(app, who))
    )


# ---- handlers ------------------------------------------------------------------------------------------


def _app(sim: State, req: Request) -> dict[str, Any]:
    ensure_directory(sim)  # a state saved before the directory existed
    app: dict[str, Any] | None = sim.graph.get(req.params["app"].lower())
    if app is None or _is_sp(app):
        raise _not_found(req.params["app"])
    return app


def _sp(sim: State, req: Request, *, assignments: bool = False) -> dict[str, Any]:
    """The service principal the route names. Reading one needs a read role; Application.ReadWrite.OwnedBy also
    reads any service principal (Microsoft Graph "Get servicePrincipal": "The Application.ReadWrite.OwnedBy
    permission allows an app to call GET /applications and GET /servicePrincipals"), but its app role assignments
    only for the caller's own (the simulator's rule)."""
    ensure_directory(sim)
    if "appid" in req.params:
        found = [
            o for o in sim.graph.values() if _is_sp(o) and o["appId"].lower() == req.params["appid"].lower()
        ]
        ref = f"appId '{req.params['appid']}'"
    else:
        found = [o for o in [sim.graph.get(req.params["sp"].lower())] if o is not None and _is_sp(o)]
        ref = req.params["sp"]
    who = caller(req)
    roles = _roles(sim, who)
    owned_by = ROLES["Application.ReadWrite.OwnedBy"] in roles
    if not found:
        _require(bool(roles & READ_ANY) or owned_by)
        raise _not_found(ref)
    own = found[0]["id"].lower() == who and owned_by
    _require(bool(roles & READ_ANY) or own or (owned_by and not assignments))
    return found[0]


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _INTERNAL}


def collection(
    sim: State, req: Request, context: str, items: list[dict[str, Any]], page_size: int | None = None
) -> Response:
    """One page of ``items`` (``$top``, else ``page_size``), ``@odata.nextLink`` carrying a ``$skiptoken``."""
    size = max(1, int(req.q("$top") or page_size or len(items) or 1))
    skip = int(req.q("$skiptoken") or 0)
    body: dict[str, Any] = {"@odata.context": f"{METADATA}#{context}", "value": items[skip : skip + size]}
    if skip + size < len(items):
        query = {k: v for k, v in req.query.items() if k.lower() != "$skiptoken"}
        body["@odata.nextLink"] = f"{sim.url}{req.path}?{urlencode({**query, '$skiptoken': skip + size})}"
    return Response(200, body)


def _get_app(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_read_app(sim, req, app)
    return Response(200, {"@odata.context": f"{METADATA}#applications/$entity", **_public(app)})


def _owners(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_read_app(sim, req, app)
    out = []
    for oid in app.get("owners", []):
        obj = sim.graph.get(oid.lower())
        out.append(
            _public(obj) if obj and _is_sp(obj) else {"@odata.type": "#microsoft.graph.user", "id": oid}
        )
    return collection(sim, req, "directoryObjects", out, sim.page_size)


def _get_sp(sim: State, req: Request) -> Response:
    return Response(
        200, {"@odata.context": f"{METADATA}#servicePrincipals/$entity", **_public(_sp(sim, req))}
    )


def _assignments(sim: State, req: Request) -> Response:
    sp = _sp(sim, req, assignments=True)
    return collection(
        sim,
        req,
        f"servicePrincipals('{sp['id']}')/appRoleAssignments",
        sp["appRoleAssignments"],
        sim.page_size,
    )


def _find(app: dict[str, Any], ref: str) -> dict[str, Any]:
    fics: list[dict[str, Any]] = app["federatedIdentityCredentials"]
    for fic in fics:
        if ref.lower() in (fic["id"].lower(), fic["name"].lower()):
            return fic
    raise _not_found(ref)


def _list(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_read_app(sim, req, app)
    return collection(
        sim,
        req,
        f"applications('{app['id']}')/federatedIdentityCredentials",
        app["federatedIdentityCredentials"],
    )


def _create(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_write_app(sim, req, app)
    body = req.body if isinstance(req.body, dict) else {}
    for field in ("name", "issuer", "subject", "audiences"):
        if not body.get(field):
            raise GraphError(400, "Request_BadRequest", f"Property '{field}' is required.")
    existing = app["federatedIdentityCredentials"]
    if any(f["name"].lower() == str(body["name"]).lower() for f in existing):
        raise GraphError(
            409,
            "Request_BadRequest",
            f"A federated identity credential named '{body['name']}' already exists on this application.",
        )
    issuer, subject = str(body.get("issuer")), str(body.get("subject"))
    if any(f["issuer"] == issuer and f["subject"] == subject for f in existing):
        # Entra's reply (Azure/azure-workload-identity#434): issuer + subject are unique per application
        raise GraphError(
            400,
            "InvalidFederatedIdentityCredentialValue",
            f"The combination of issuer and subject must be unique for the application. Issuer {issuer} and "
            f"Subject: {subject} already exist. paramName: FederatedIdentityCredential.Subject, paramValue: "
            f"{subject}, objectType: Microsoft.Online.DirectoryServices.Application",
        )
    if len(existing) >= FIC_LIMIT:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"The application already has the maximum of {FIC_LIMIT} "
            "federated identity credentials; delete one before adding another.",
        )
    fic = add_credential(
        sim, app["id"], body["name"], body["issuer"], body["subject"], body.get("description", "")
    )
    fic["audiences"] = list(body["audiences"])
    return Response(
        201,
        {
            "@odata.context": f"{METADATA}#applications('{app['id']}')/federatedIdentityCredentials/$entity",
            **fic,
        },
    )


def _get(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_read_app(sim, req, app)
    return Response(200, _find(app, req.params["fic"]))


def _delete(sim: State, req: Request) -> Response:
    app = _app(sim, req)
    _may_write_app(sim, req, app)
    app["federatedIdentityCredentials"].remove(_find(app, req.params["fic"]))
    return Response(204)


def register(router: Router) -> None:
    for method, pattern, handler in (
        ("GET", BASE, _get_app),
        ("GET", BASE + "/owners", _owners),
        ("GET", BASE + "/federatedIdentityCredentials", _list),
        ("POST", BASE + "/federatedIdentityCredentials", _create),
        ("GET", BASE + "/federatedIdentityCredentials/{fic}", _get),
        ("DELETE", BASE + "/federatedIdentityCredentials/{fic}", _delete),
        ("GET", ROOT + "/servicePrincipals(appId='{appid}')", _get_sp),
        ("GET", ROOT + "/servicePrincipals(appId='{appid}')/appRoleAssignments", _assignments),
        ("GET", ROOT + "/servicePrincipals/{sp}", _get_sp),
        ("GET", ROOT + "/servicePrincipals/{sp}/appRoleAssignments", _assignments),
    ):
        router.add(method, pattern, handler, None, lockable=False)
