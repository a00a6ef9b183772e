"""Gallery image definitions as a test needs them: the seed's Win11MultiS with another security type."""

from __future__ import annotations

from sim.azure import AzureSim
from tests.kit.azure import VERSION_ID

DEFINITION_ID = VERSION_ID.split("/versions/")[0]


def set_image_security_type(sim: AzureSim, kind: str) -> None:
    """Give the seed's image definition (Win11MultiS) another ``SecurityType`` feature (``TrustedLaunch`` ...)."""
    with sim.lock:
        sim.store.get(DEFINITION_ID)["properties"]["features"] = [{"name": "SecurityType", "value": kind}]
