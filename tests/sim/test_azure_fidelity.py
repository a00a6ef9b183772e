"""Server-side fields and echoes the official examples show: scale-set etag/secrets/OS defaults and the
scaleOut action, snapshot PUT echo vs final resource, a gallery version's fixed source."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.kit.azure import SUB, running

SUBNET = (
    f"/subscriptions/{SUB}/resourceGroups/INFRA/providers/Microsoft.Network/virtualNetworks/vnet-avd-weu/"
    "subnets/snet-avd"
)
IMAGE = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery/images/Win11MultiS"
SOURCE = (
    f"subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/snap-gold-os-20260522"
)


def uniform(capacity: int = 1, zones: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": "westeurope",
        "sku": {"name": "Standard_D4s_v5", "capacity": capacity},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"id": IMAGE}},
                "osProfile": {"computerNamePrefix": "uni", "adminUsername": "a", "adminPassword": "P@ss"},
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": "nic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [
                                    {"name": "ip", "properties": {"subnet": {"id": SUBNET}}}
                                ],
                            },
                        }
                    ]
                },
            },
        },
    }
    if zones:
        body["zones"] = zones
    return body


def test_scale_set_reply_hides_secrets_and_adds_azure_defaults() -> None:
    with running() as (_, clients):
        ops = clients.compute(SUB).virtual_machine_scale_sets
        created = ops.begin_create_or_update("VMSS", "uni", uniform()).result().as_dict()
        updated = ops.begin_update("VMSS", "uni", {"tags": {"k": "v"}}).result().as_dict()
    props = created["properties"]
    osp = props["virtualMachineProfile"]["osProfile"]
    assert "adminPassword" not in osp and osp["windowsConfiguration"]["provisionVMAgent"] is True
    nic = props["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    assert nic["dnsSettings"] == {"dnsServers": []} and nic["enableAcceleratedNetworking"] is False
    assert nic["ipConfigurations"][0]["properties"]["privateIPAddressVersion"] == "IPv4"
    assert props["singlePlacementGroup"] is True and "orchestrationMode" not in props
    assert props["timeCreated"] and props["virtualMachineProfile"]["timeCreated"]
    assert created["etag"] != updated["etag"]


def test_scale_out_action_adds_instances_in_the_zone() -> None:
    with running() as (sim, clients):
        ops = clients.compute(SUB).virtual_machine_scale_sets
        ops.begin_create_or_update("VMSS", "uni", uniform(1, ["1", "2"])).result()
        assert (
            ops.begin_scale_out("VMSS", "uni", {"capacity": 3, "properties": {"zone": "2"}}).result() is None
        )
        with pytest.raises(HttpResponseError) as err:
            ops.begin_scale_out("VMSS", "uni", {"capacity": 4, "properties": {"zone": "3"}})
        assert err.value.status_code == 400
        assert sim.scale_set("VMSS", "uni").capacity == 3
        zones = [sim.resource(f"{sim.scale_set('VMSS', 'uni')['id']}/virtualMachines/{n}") for n in range(3)]
    assert [z.get("zones") for z in zones if z] == [None, ["2"], ["2"]]


def test_snapshot_put_echoes_the_request_then_serves_the_full_resource() -> None:
    with running() as (_, clients):
        ops = clients.compute(SUB).snapshots
        body = {
            "location": "westeurope",
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": SOURCE}},
        }
        poller = ops.begin_create_or_update("GOLD-VDA", "copy1", body, polling=False)
        initial = poller.result().as_dict()
        ops.begin_create_or_update("GOLD-VDA", "copy2", body).result()
        final = ops.get("GOLD-VDA", "copy2").as_dict()
    assert initial["properties"] == {
        "creationData": body["properties"]["creationData"],
        "provisioningState": "Updating",
    }
    assert final["properties"]["creationData"]["sourceUniqueId"] and final["properties"]["uniqueId"]
    assert final["properties"]["osType"] == "Windows" and "sku" not in final


def test_gallery_version_source_cannot_change() -> None:
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        other = {
            "id": f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/images/other"
        }
        clients.compute(SUB).gallery_image_versions.begin_update(
            "GOLD-VDA",
            "AVDGallery",
            "Win11MultiS",
            "2026.0522.1719",
            {"properties": {"storageProfile": {"source": other}}},
        )
    assert err.value.error is not None and err.value.error.code == "PropertyChangeNotAllowed"
