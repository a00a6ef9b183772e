"""ARM ids, paths and region names: normalisation helpers shared by every provider."""

from __future__ import annotations

import random
import re
import uuid

REGIONS: dict[str, str] = {
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "swedencentral": "Sweden Central",
    "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East",
    "italynorth": "Italy North",
    "polandcentral": "Poland Central",
    "spaincentral": "Spain Central",
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    "centralus": "Central US",
    "southcentralus": "South Central US",
    "northcentralus": "North Central US",
    "canadacentral": "Canada Central",
    "brazilsouth": "Brazil South",
    "australiaeast": "Australia East",
    "southeastasia": "Southeast Asia",
    "eastasia": "East Asia",
    "japaneast": "Japan East",
    "centralindia": "Central India",
    "koreacentral": "Korea Central",
    "southafricanorth": "South Africa North",
    "uaenorth": "UAE North",
}

_SLASHES = re.compile(r"/{2,}")


def region_key(name: str) -> str:
    """``"UK South"``, ``"UKSouth"`` and ``"uksouth"`` all give ``"uksouth"``."""
    return name.replace(" ", "").replace("_", "").lower()


def region_display(name: str) -> str:
    """Azure's display name for a region (``"UK South"``); unknown names are returned unchanged."""
    return REGIONS.get(region_key(name), name)


def is_region(name: str) -> bool:
    return region_key(name) in REGIONS


def normalize_path(path: str) -> str:
    """Collapse repeated slashes (the locks SDK builds ``Microsoft.Compute//snapshots``), drop a trailing one."""
    path = _SLASHES.sub("/", path or "/")
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path if path.startswith("/") else "/" + path


def key(arm_id: str) -> str:
    """The store key of an ARM id: normalised and lower-cased."""
    return normalize_path(arm_id).lower()


def is_under(child: str, scope: str) -> bool:
    """True when ``child`` equals ``scope`` or lies below it (case-insensitive)."""
    c, s = key(child), key(scope)
    return c == s or c.startswith(s + "/")


def subscription_of(arm_id: str) -> str | None:
    parts = normalize_path(arm_id).split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return None


def resource_group_id(arm_id: str) -> str | None:
    """``/subscriptions/s/resourceGroups/rg`` for any id below a resource group."""
    parts = normalize_path(arm_id).split("/")
    if len(parts) > 4 and parts[3].lower() == "resourcegroups":
        return f"/subscriptions/{parts[2]}/resourceGroups/{parts[4]}"
    return None


def guid(rng: random.Random) -> str:
    """A GUID drawn from the simulator's seeded RNG (deterministic for a given seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
