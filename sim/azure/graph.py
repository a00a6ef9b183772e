"""A Microsoft Graph double for application federated identity credentials, served under ``/graph``.

``/graph/v1.0/applications/{object id}/federatedIdentityCredentials[/{id or name}]``: list, create (201),
get, delete (204). Entra allows at most 20 per application: the 21st create is refused with 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.ids import guid
from sim.azure.router import ArmError, Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.simulator import AzureSim

FIC_LIMIT = 20
BASE = "/graph/v1.0/applications/{app}"


def add_application(sim: AzureSim, object_id: str, name: str) -> dict[str, Any]:
    app = {"id": object_id, "appId": guid(sim.rng), "displayName": name, "federatedIdentityCredentials": []}
    sim.graph[object_id.lower()] = app
    return app


def add_credential(sim: AzureSim, object_id: str, name: str, issuer: str, subject: str,
                   description: str = "") -> dict[str, Any]:
    app = sim.graph[object_id.lower()]
    fic = {"id": guid(sim.rng), "name": name, "issuer": issuer, "subject": subject, "description": description,
           "audiences": ["api://AzureADTokenExchange"]}
    app["federatedIdentityCredentials"].append(fic)
    return fic


def _error(status: int, code: str, message: str) -> ArmError:
    return ArmError(status, code, message)


def _app(sim: AzureSim, req: Request) -> dict[str, Any]:
    app: dict[str, Any] | None = sim.graph.get(req.params["app"].lower())
    if app is None:
        raise _error(404, "Request_ResourceNotFound", f"Resource '{req.params['app']}' does not exist or one of its "
                     "queried reference-property objects are not present.")
    return app


def _find(app: dict[str, Any], ref: str) -> dict[str, Any]:
    fics: list[dict[str, Any]] = app["federatedIdentityCredentials"]
    for fic in fics:
        if ref.lower() in (fic["id"].lower(), fic["name"].lower()):
            return fic
    raise _error(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of its queried "
                 "reference-property objects are not present.")


def _get_app(sim: AzureSim, req: Request) -> Response:
    app = _app(sim, req)
    return Response(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
                          **{k: v for k, v in app.items() if k != "federatedIdentityCredentials"}})


def _list(sim: AzureSim, req: Request) -> Response:
    app = _app(sim, req)
    ctx = f"https://graph.microsoft.com/v1.0/$metadata#applications('{app['id']}')/federatedIdentityCredentials"
    return Response(200, {"@odata.context": ctx, "value": app["federatedIdentityCredentials"]})


def _create(sim: AzureSim, req: Request) -> Response:
    app = _app(sim, req)
    body = req.body if isinstance(req.body, dict) else {}
    for field in ("name", "issuer", "subject", "audiences"):
        if not body.get(field):
            raise _error(400, "Request_BadRequest", f"Property '{field}' is required.")
    existing = app["federatedIdentityCredentials"]
    if any(f["name"].lower() == str(body["name"]).lower() for f in existing):
        raise _error(409, "Request_BadRequest", f"A federated identity credential named '{body['name']}' already "
                     "exists on this application.")
    if len(existing) >= FIC_LIMIT:
        raise _error(400, "Request_BadRequest", f"The application already has the maximum of {FIC_LIMIT} federated "
                     "identity credentials; delete one before adding another.")
    fic = add_credential(sim, app["id"], body["name"], body["issuer"], body["subject"], body.get("description", ""))
    fic["audiences"] = list(body["audiences"])
    return Response(201, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications"
                          f"('{app['id']}')/federatedIdentityCredentials/$entity", **fic})


def _get(sim: AzureSim, req: Request) -> Response:
    return Response(200, _find(_app(sim, req), req.params["fic"]))


def _delete(sim: AzureSim, req: Request) -> Response:
    app = _app(sim, req)
    app["federatedIdentityCredentials"].remove(_find(app, req.params["fic"]))
    return Response(204)


def register(router: Router) -> None:
    router.add("GET", BASE, _get_app, None, lockable=False)
    router.add("GET", BASE + "/federatedIdentityCredentials", _list, None, lockable=False)
    router.add("POST", BASE + "/federatedIdentityCredentials", _create, None, lockable=False)
    router.add("GET", BASE + "/federatedIdentityCredentials/{fic}", _get, None, lockable=False)
    router.add("DELETE", BASE + "/federatedIdentityCredentials/{fic}", _delete, None, lockable=False)
