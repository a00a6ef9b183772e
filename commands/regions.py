"""Azure public-cloud regions: canonical names, display names and did-you-mean.

``canonical_region("UK South") == canonical_region("UK-South") == "uksouth"``. Case, spaces, hyphens
and underscores are ignored. Logical locations (``europe``, ``global``) and canary or stage regions
are not regions a replica or scale set can live in, so they are not listed.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal, overload

from avdcore.errors import UsageError
from commands.text import clip

REGIONS: dict[str, str] = {
    # Americas
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    "centralus": "Central US",
    "northcentralus": "North Central US",
    "southcentralus": "South Central US",
    "westcentralus": "West Central US",
    "canadacentral": "Canada Central",
    "canadaeast": "Canada East",
    "brazilsouth": "Brazil South",
    "brazilsoutheast": "Brazil Southeast",
    "mexicocentral": "Mexico Central",
    "chilecentral": "Chile Central",
    # Europe
    "northeurope": "North Europe",
    "westeurope": "West Europe",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "francecentral": "France Central",
    "francesouth": "France South",
    "germanywestcentral": "Germany West Central",
    "germanynorth": "Germany North",
    "switzerlandnorth": "Switzerland North",
    "switzerlandwest": "Switzerland West",
    "norwayeast": "Norway East",
    "norwaywest": "Norway West",
    "swedencentral": "Sweden Central",
    "swedensouth": "Sweden South",
    "polandcentral": "Poland Central",
    "italynorth": "Italy North",
    "spaincentral": "Spain Central",
    "austriaeast": "Austria East",
    "belgiumcentral": "Belgium Central",
    "denmarkeast": "Denmark East",
    # Asia Pacific
    "eastasia": "East Asia",
    "southeastasia": "Southeast Asia",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "koreacentral": "Korea Central",
    "koreasouth": "Korea South",
    "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast",
    "australiacentral": "Australia Central",
    "australiacentral2": "Australia Central 2",
    "centralindia": "Central India",
    "southindia": "South India",
    "westindia": "West India",
    "jioindiawest": "Jio India West",
    "jioindiacentral": "Jio India Central",
    "indonesiacentral": "Indonesia Central",
    "malaysiawest": "Malaysia West",
    "newzealandnorth": "New Zealand North",
    "taiwannorth": "Taiwan North",
    "taiwannorthwest": "Taiwan Northwest",
    # Middle East and Africa
    "uaenorth": "UAE North",
    "uaecentral": "UAE Central",
    "qatarcentral": "Qatar Central",
    "israelcentral": "Israel Central",
    "southafricanorth": "South Africa North",
    "southafricawest": "South Africa West",
}

_IGNORED = re.compile(r"[\s\-_]+")
_BY_DISPLAY: dict[str, str] = {display.lower(): name for name, display in REGIONS.items()}


def region_key(text: str) -> str:
    """``text`` folded the way region names compare: lower case, no spaces, hyphens or underscores."""
    return _IGNORED.sub("", text).lower()


def suggest_region(text: str) -> str | None:
    """The canonical name of the region ``text`` most probably meant, or ``None``."""
    key = region_key(text)
    if not key:
        return None
    close = difflib.get_close_matches(key, list(REGIONS), n=1, cutoff=0.7)
    if close:
        return close[0]
    spaced = " ".join(text.lower().split())
    close = difflib.get_close_matches(spaced, list(_BY_DISPLAY), n=1, cutoff=0.7)
    return _BY_DISPLAY[close[0]] if close else None


@overload
def canonical_region(text: str, strict: Literal[True] = ...) -> str: ...


@overload
def canonical_region(text: str, strict: bool) -> str | None: ...


def canonical_region(text: str, strict: bool = True) -> str | None:
    """The canonical name (``uksouth``) of any spelling of a region.

    Unknown: ``UsageError`` with a did-you-mean hint, or ``None`` when ``strict`` is false.
    """
    key = region_key(text) if isinstance(text, str) else ""
    if key in REGIONS:
        return key
    if not strict:
        return None
    shown = clip(text if isinstance(text, str) else repr(text))
    guess = suggest_region(text) if isinstance(text, str) else None
    hint = (
        f"did you mean {guess}?"
        if guess
        else "use an Azure location name such as uksouth or westeurope; /avd help regions lists them all."
    )
    raise UsageError(f"unknown region '{shown}'", hint=hint)


def display_name(name: str) -> str:
    """``"uksouth"`` -> ``"UK South"``; any spelling of a region works, anything else comes back unchanged."""
    key = canonical_region(name, strict=False)
    return REGIONS[key] if key else name
