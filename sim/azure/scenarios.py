"""Scenarios a simulator starts from, in one table: ``AzureSim(scenario=...)``, ``avd-bot sim azure --scenario``.

``empty``: the tenant's two subscriptions only. ``seed``: the BRIEF's world (``seed``). ``dr-ready``: the seed
with its secondary site built (``prepare_dr``), where the failover, drill and ASR tests and benches start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.azure import seed
from sim.azure.ids import region_key
from sim.azure.providers import msi, replication, vmss

if TYPE_CHECKING:
    from sim.azure.state import State

RG = f"/subscriptions/{seed.SUB1}/resourceGroups"
VERSION_ID = f"{RG}/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery/images/Win11MultiS/versions/{seed.VERSION}"
DR_REGION = "uksouth"
DR_POOL_ID = f"{RG}/AVDDR/providers/Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"
DR_IDENTITY_ID = f"{RG}/VMSSDR/providers/{msi.UAMI_TYPE}/AVDManage"
DR_SCALE_SET_ID = f"{RG}/VMSSDR/providers/{vmss.VMSS_TYPE}/EntraDR"
DR_SUBNET_ID = f"{RG}/INFRADR/providers/Microsoft.Network/virtualNetworks/vnet-avd-uks/subnets/snet-avd"


def prepare_dr(sim: State) -> None:
    """The seed's secondary site as Azure holds it once built: the gold image version replicated to uksouth
    (Completed), the AVDManage identity in VMSSDR and the EntraDR scale set (Flexible, capacity 0, tagged to
    register with EntraAuthDR), provisioned. Also applies to a running simulator."""
    with sim.lock:
        _replicate(sim, VERSION_ID, DR_REGION)
        msi.make_identity(sim, DR_IDENTITY_ID, DR_REGION)
        scale_set = vmss.make_scale_set(sim, DR_SCALE_SET_ID, _dr_scale_set_body())
        scale_set["properties"]["provisioningState"] = vmss.READY


def _replicate(sim: State, version_id: str, region: str) -> None:
    """Add ``region`` to the version's target regions with its replica already Completed."""
    doc = sim.store.get(version_id)
    if doc is None:
        raise KeyError(version_id)
    profile = doc["properties"]["publishingProfile"]
    wanted = [
        *profile["targetRegions"],
        {"name": region, "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"},
    ]
    targets = replication.normalize_targets(wanted, profile.get("storageAccountType", "Standard_LRS"))
    replication.change_targets(sim, doc, targets, None)
    replica = doc["_sim"]["replicas"][region_key(region)]
    replica.update(state="Completed", progress=100, end=replica["start"])


def _dr_scale_set_body() -> dict[str, Any]:
    return {
        "location": DR_REGION,
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 0},
        "tags": {"AVD-HostPool": DR_POOL_ID},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {DR_IDENTITY_ID: {}}},
        "properties": {
            "orchestrationMode": "Flexible",
            "platformFaultDomainCount": 1,
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"id": VERSION_ID}},
                "osProfile": {"computerNamePrefix": "entradr", "adminUsername": "avdadmin"},
                "networkProfile": {
                    "networkApiVersion": "2020-11-01",
                    "networkInterfaceConfigurations": [
                        {
                            "name": "nic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [
                                    {"name": "ip", "properties": {"subnet": {"id": DR_SUBNET_ID}}}
                                ],
                            },
                        }
                    ],
                },
            },
        },
    }


def _seeded(sim: State) -> None:
    seed.subscriptions(sim)
    seed.seed(sim)


def _dr_ready(sim: State) -> None:
    _seeded(sim)
    prepare_dr(sim)


SCENARIOS: dict[str, Callable[[State], None]] = {
    "empty": seed.subscriptions,
    "seed": _seeded,
    "dr-ready": _dr_ready,
}


def build(sim: State, scenario: str) -> None:
    """Apply the scenario named ``scenario`` to a new simulator."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: use one of {', '.join(map(repr, SCENARIOS))}")
    SCENARIOS[scenario](sim)
