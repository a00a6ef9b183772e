"""Microsoft.Compute resource SKUs (``GET /subscriptions/{s}/providers/Microsoft.Compute/skus``), read-only.

A small static catalogue of VM sizes: the common D/E/B sizes are offered in every simulated region; the GPU size
``Standard_NV36ads_A10_v5`` carries a ``Location`` restriction (``NotAvailableForSubscription``) outside West
Europe, like a size the subscription has no access to. Each size reports its ``PremiumIO`` capability ("True"
when it takes Premium SSD disks, Microsoft Learn "Azure managed disk types"); ``Standard_D4_v5`` (the Dv5 series
without the ``s``) does not. ``$filter=location eq 'x'`` narrows the list, as in Azure.
Register it by listing the module in ``providers.PROVIDERS`` (or ``AzureSim(providers=...)``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sim.azure.ids import REGIONS, region_key
from sim.azure.providers.common import page
from sim.azure.router import Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2021-07-01", "2019-04-01", "2017-09-01")
SIZES: dict[str, tuple[str, int, int]] = {  # name: (family, vCPUs, memory GB)
    "Standard_B2ms": ("standardBSFamily", 2, 8),
    "Standard_D4_v5": ("standardDv5Family", 4, 16),
    "Standard_D2s_v5": ("standardDSv5Family", 2, 8),
    "Standard_D4s_v5": ("standardDSv5Family", 4, 16),
    "Standard_D8s_v5": ("standardDSv5Family", 8, 32),
    "Standard_D4as_v5": ("standardDASv5Family", 4, 16),
    "Standard_E4s_v5": ("standardESv5Family", 4, 32),
    "Standard_NV36ads_A10_v5": ("standardNVADSA10v5Family", 36, 440),
}
NO_PREMIUM_IO = frozenset({"standard_d4_v5"})  # sizes without the PremiumIO capability (lower case)
RESTRICTED: dict[str, frozenset[str]] = {
    "Standard_NV36ads_A10_v5": frozenset({"westeurope"})
}  # allowed regions


def restricted(name: str, location: str) -> bool:
    """Does the catalogue restrict size ``name`` in ``location`` (a scale set PUT with it is refused)?"""
    found = next((n for n in RESTRICTED if n.lower() == name.lower()), None)
    return found is not None and region_key(location) not in RESTRICTED[found]


def premium_io(name: str) -> bool | None:
    """Does size ``name`` take Premium SSD disks (capability ``PremiumIO``)? ``None`` for a size not listed."""
    if not any(n.lower() == name.lower() for n in SIZES):
        return None
    return name.lower() not in NO_PREMIUM_IO


def _sku(name: str, location: str) -> dict[str, Any]:
    family, cpus, mem = SIZES[name]
    allowed = RESTRICTED.get(name)
    restrictions = []
    if allowed is not None and location not in allowed:
        restrictions.append(
            {
                "type": "Location",
                "values": [location],
                "reasonCode": "NotAvailableForSubscription",
                "restrictionInfo": {"locations": [location]},
            }
        )
    return {
        "resourceType": "virtualMachines",
        "name": name,
        "tier": "Standard",
        "size": name.split("_", 1)[1],
        "family": family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": []}],
        "capabilities": [
            {"name": "vCPUs", "value": str(cpus)},
            {"name": "MemoryGB", "value": str(mem)},
            {"name": "PremiumIO", "value": str(bool(premium_io(name)))},
        ],
        "restrictions": restrictions,
    }


def _list(sim: State, req: Request) -> Response:
    m = re.search(r"location\s+eq\s+'([^']+)'", req.q("$filter") or "", re.IGNORECASE)
    regions = [region_key(m.group(1))] if m else list(REGIONS)
    items = [_sku(name, r) for r in regions if r in REGIONS for name in SIZES]
    return page(sim, req, items, render=lambda d: d)


def register(router: Router) -> None:
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.Compute/skus", _list, VERSIONS)
