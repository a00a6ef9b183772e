"""Microsoft.ManagedIdentity: user-assigned identities and their federated identity credentials (synchronous).

No ``systemData``: the provider's own replies (IdentityCreate/IdentityGet examples) carry none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.ids import guid
from sim.azure.providers.common import body_dict, check_location, get_or_404, new_doc, page, tags_of
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2024-11-30",
    "2023-07-31-preview",
    "2023-01-31",
    "2022-01-31-preview",
    "2021-09-30-preview",
    "2018-11-30",
)
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
FIC_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
FIC_LIMIT = 20


def make_identity(sim: State, uid: str, location: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    props = {
        "tenantId": sim.tenant_id,
        "principalId": guid(sim.rng),
        "clientId": guid(sim.rng),
        "isolationScope": "None",
    }
    return sim.store.put(new_doc(uid, UAMI_TYPE, location, props, tags or {}))


def _put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    existing = sim.store.get(req.path)
    if existing is not None:
        if tags_of(body) is not None:
            existing["tags"] = tags_of(body)
        return Response(200, public(existing))
    location = check_location(body.get("location"), UAMI_TYPE)
    return Response(201, public(make_identity(sim, req.path, location, tags_of(body))))


def _patch(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, UAMI_TYPE)
    if tags_of(body_dict(req)) is not None:
        doc["tags"] = tags_of(body_dict(req))
    return Response(200, public(doc))


def _get(rtype: str) -> Any:
    return lambda sim, req: Response(200, public(get_or_404(sim, req, rtype)))


def _delete(sim: State, req: Request) -> Response:
    if sim.store.get(req.path) is None:
        return Response(204)
    sim.store.delete(req.path)
    return Response(200)


def _list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.children(req.path))


def _fic_put(sim: State, req: Request) -> Response:
    parent = get_or_404(sim, req, UAMI_TYPE, req.path.rsplit("/", 2)[0])
    props = body_dict(req).get("properties") or {}
    for field in ("issuer", "subject"):
        if not isinstance(props.get(field), str) or not props[field]:
            raise ArmError(
                400, "BadRequest", f"The '{field}' of a federated identity credential is required."
            )
    existing = sim.store.get(req.path)
    siblings = sim.store.children(parent["id"] + "/federatedIdentityCredentials")
    if existing is None and len(siblings) >= FIC_LIMIT:
        raise ArmError(
            400,
            "BadRequest",
            f"Too many federated identity credentials: an identity can have at most {FIC_LIMIT}.",
        )
    for other in siblings:
        same = (
            other["properties"]["issuer"] == props["issuer"]
            and other["properties"]["subject"] == props["subject"]
        )
        if same and other["name"].lower() != req.params["fic"].lower():
            raise ArmError(
                409,
                "Conflict",
                f"A federated identity credential with this issuer and subject already "
                f"exists: '{other['name']}'.",
            )
    doc = new_doc(
        req.path,
        FIC_TYPE,
        None,
        {
            "issuer": props["issuer"],
            "subject": props["subject"],
            "audiences": props.get("audiences") or ["api://AzureADTokenExchange"],
        },
    )
    sim.store.put(doc)
    return Response(200 if existing else 201, public(doc))


def register(router: Router) -> None:
    base = (
        "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    )
    router.add("GET", base, _list, VERSIONS)
    router.add("GET", base + "/{name}", _get(UAMI_TYPE), VERSIONS)
    router.add("PUT", base + "/{name}", _put, VERSIONS)
    router.add("PATCH", base + "/{name}", _patch, VERSIONS)
    router.add("DELETE", base + "/{name}", _delete, VERSIONS)
    fic = base + "/{name}/federatedIdentityCredentials"
    router.add("GET", fic, _list, VERSIONS)
    router.add("GET", fic + "/{fic}", _get(FIC_TYPE), VERSIONS)
    router.add("PUT", fic + "/{fic}", _fic_put, VERSIONS)
    router.add("DELETE", fic + "/{fic}", _delete, VERSIONS)
