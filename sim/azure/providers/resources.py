"""Microsoft.Resources: subscriptions (read) and resource groups (CRUD, HEAD existence check)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure import lro
from sim.azure.providers.common import body_dict, check_location, page, tags_of
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2025-04-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-07-01",
    "2022-09-01",
    "2021-04-01",
    "2020-06-01",
    "2019-10-01",
)
SUB_VERSIONS = (*VERSIONS, "2022-12-01", "2021-01-01", "2020-01-01", "2016-06-01")
RG_TYPE = "Microsoft.Resources/resourceGroups"


def group_id(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{name}"


def make_group(
    sim: State, sub: str, name: str, location: str, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": group_id(sub, name),
        "name": name,
        "type": RG_TYPE,
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    }
    if tags:
        doc["tags"] = tags
    return sim.store.put(doc)


def _sub(sim: State, req: Request) -> Response:
    sub = sim.subscriptions[req.params["sub"].lower()]
    return Response(200, {"id": f"/subscriptions/{sub['subscriptionId']}", **sub})


def _get(sim: State, req: Request) -> Response:
    doc = sim.store.get(group_id(req.params["sub"], req.params["group"]))
    if doc is None:
        if req.method == "HEAD":
            return Response(404)
        raise ArmError(
            404, "ResourceGroupNotFound", f"Resource group '{req.params['group']}' could not be found."
        )
    return Response(204) if req.method == "HEAD" else Response(200, public(doc))


def _put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    existing = sim.store.get(group_id(req.params["sub"], req.params["group"]))
    if existing is not None:
        if tags_of(body) is not None:
            existing["tags"] = tags_of(body)
        return Response(200, public(existing))
    location = check_location(body.get("location"), RG_TYPE)
    doc = make_group(sim, req.params["sub"], req.params["group"], location, tags_of(body))
    return Response(201, public(doc))


def _patch(sim: State, req: Request) -> Response:
    doc = sim.store.get(group_id(req.params["sub"], req.params["group"]))
    if doc is None:
        raise ArmError(
            404, "ResourceGroupNotFound", f"Resource group '{req.params['group']}' could not be found."
        )
    tags = tags_of(body_dict(req))
    if tags is not None:
        doc["tags"] = tags
    return Response(200, public(doc))


def _delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(group_id(req.params["sub"], req.params["group"]))
    if doc is None:
        return Response(204)
    op = lro.begin(sim, req, duration=120.0, location=doc["location"], namespace="Microsoft.Resources")
    lro.mark_deleting(doc, op)
    return Response(202, None, {"Location": lro.monitor_url(sim, op, location_style=True)})


def _list(sim: State, req: Request) -> Response:
    prefix = f"/subscriptions/{req.params['sub']}/resourceGroups"
    return page(sim, req, sim.store.children(prefix))


def register(router: Router) -> None:
    router.add("GET", "/subscriptions/{sub}", _sub, SUB_VERSIONS)
    router.add("GET", "/subscriptions/{sub}/resourcegroups", _list, VERSIONS)
    base = "/subscriptions/{sub}/resourcegroups/{group}"
    router.add("GET", base, _get, VERSIONS)
    router.add("PUT", base, _put, VERSIONS)
    router.add("PATCH", base, _patch, VERSIONS)
    router.add("DELETE", base, _delete, VERSIONS)
