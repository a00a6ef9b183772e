"""Microsoft.Network: virtual networks and subnets, read-only (the seed's vnets are all there is).

Read them with ``resources.get_by_id(id, "2024-05-01")`` or any api-version listed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.providers.common import get_or_404, page
from sim.azure.router import Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2024-07-01",
    "2024-05-01",
    "2024-03-01",
    "2024-01-01",
    "2023-11-01",
    "2023-09-01",
    "2023-06-01",
    "2023-05-01",
    "2023-04-01",
    "2022-07-01",
    "2021-05-01",
    "2020-11-01",
)
VNET = "Microsoft.Network/virtualNetworks"


def make_vnet(
    sim: State, sub: str, rg: str, name: str, location: str, prefix: str, subnets: dict[str, str]
) -> dict[str, Any]:
    vid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{VNET}/{name}"
    subs = [
        {
            "name": n,
            "id": f"{vid}/subnets/{n}",
            "type": f"{VNET}/subnets",
            "properties": {
                "addressPrefix": p,
                "provisioningState": "Succeeded",
                "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Enabled",
            },
        }
        for n, p in subnets.items()
    ]
    doc = {
        "id": vid,
        "name": name,
        "type": VNET,
        "location": location,
        "etag": 'W/"1"',
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": "",
            "addressSpace": {"addressPrefixes": [prefix]},
            "subnets": subs,
            "enableDdosProtection": False,
        },
    }
    sim.store.put(doc)
    for s in subs:
        sim.store.put(dict(s))
    return doc


def _vnet(sim: State, req: Request) -> Response:
    doc = public(get_or_404(sim, req, VNET))
    if doc is not None:
        doc["properties"]["subnets"] = [public(s) for s in sim.store.children(req.path + "/subnets")]
    return Response(200, doc)


def _subnet(sim: State, req: Request) -> Response:
    return Response(200, public(get_or_404(sim, req, f"{VNET}/subnets")))


def _list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.children(req.path))


def register(router: Router) -> None:
    base = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Network/virtualNetworks"
    router.add("GET", base, _list, VERSIONS)
    router.add("GET", base + "/{vnet}", _vnet, VERSIONS)
    router.add("GET", base + "/{vnet}/subnets", _list, VERSIONS)
    router.add("GET", base + "/{vnet}/subnets/{subnet}", _subnet, VERSIONS)
