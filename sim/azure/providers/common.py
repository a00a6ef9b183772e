"""Helpers every provider uses: resource documents, not-found errors, location checks, paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sim.azure.clock import iso
from sim.azure.ids import REGIONS, is_region, normalize_path, region_key
from sim.azure.router import ArmError, Request, Response
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

PAGING_KEYS = ("$skiptoken", "initialskip")


def resource_id(req: Request, upto: int | None = None) -> str:
    """The ARM id a request addresses (its path, optionally cut to ``upto`` segments)."""
    parts = normalize_path(req.path).split("/")
    return "/".join(parts[:upto]) if upto else "/".join(parts)


def new_doc(
    arm_id: str,
    rtype: str,
    location: str | None,
    properties: dict[str, Any],
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": arm_id, "name": arm_id.rsplit("/", 1)[-1], "type": rtype}
    if location is not None:
        doc["location"] = location
    if tags is not None:
        doc["tags"] = dict(tags)
    doc["properties"] = properties
    return doc


def system_data(sim: State) -> dict[str, str]:
    now = iso(sim.clock.seconds())
    return {
        "createdBy": "avd-ops",
        "createdByType": "Application",
        "createdAt": now,
        "lastModifiedBy": "avd-ops",
        "lastModifiedByType": "Application",
        "lastModifiedAt": now,
    }


def not_found(req: Request, rtype: str, name: str | None = None) -> ArmError:
    rg = req.params.get("rg", "")
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{rtype}/{name or req.path.rsplit('/', 1)[-1]}' under resource group '{rg}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def get_or_404(sim: State, req: Request, rtype: str, arm_id: str | None = None) -> dict[str, Any]:
    doc = sim.store.get(arm_id or resource_id(req))
    if doc is None or doc.get("_sim", {}).get("deleted"):
        raise not_found(req, rtype)
    return doc


def body_dict(req: Request) -> dict[str, Any]:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return req.body


def check_location(location: Any, rtype: str) -> str:
    """The normalised location, or 400 like ARM for a missing/unknown one."""
    if not isinstance(location, str) or not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    if not is_region(location):
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type '{rtype}'. "
            f"List of available regions for the resource type is '{','.join(REGIONS)}'.",
        )
    return region_key(location)


def page(
    sim: State, req: Request, items: list[dict[str, Any]], render: Callable[[dict[str, Any]], Any] = public
) -> Response:
    """``{"value": [...], "nextLink": <absolute url with api-version>}``; page size = ``$top``/``pageSize``
    or ``sim.page_size``; ``isDescending=true`` reverses; ``initialSkip`` skips."""
    size = int(req.q("$top") or req.q("pageSize") or sim.page_size)
    if (req.q("isDescending") or "").lower() == "true":
        items = list(reversed(items))
    token = req.q("$skiptoken")
    skip = int(token) if token else int(req.q("initialSkip") or 0)
    body: dict[str, Any] = {"value": [render(d) for d in items[skip : skip + max(1, size)]]}
    if skip + size < len(items):
        query = {k: v for k, v in req.query.items() if k.lower() not in PAGING_KEYS}
        query["$skiptoken"] = str(skip + size)
        body["nextLink"] = f"{sim.url}{req.path}?{urlencode(query)}"
    return Response(200, body)


def tags_of(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "tags must be an object of strings.")
    return {str(k): str(v) for k, v in tags.items()}
