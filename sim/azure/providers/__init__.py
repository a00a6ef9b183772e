"""The ARM providers (one module per resource provider, each with ``register(router)``) and their order."""

from types import ModuleType

from sim.azure import lro
from sim.azure.providers import (
    asr,
    avd,
    disks,
    gallery,
    graph,
    locks,
    msi,
    network,
    rbac,
    resources,
    roleassignments,
    sessions,
    skus,
    storage,
    vmss,
)

# Routes match in this order (``lro``'s operation monitors first); ``AzureSim(providers=...)`` takes another tuple.
PROVIDERS: tuple[ModuleType, ...] = (
    lro,
    locks,
    rbac,
    resources,
    network,
    gallery,
    disks,
    vmss,
    msi,
    avd,
    sessions,
    graph,
    storage,
    asr,
    skus,
    roleassignments,
)

__all__ = ["PROVIDERS"]
