"""Premium SSD disks need a size with the ``PremiumIO`` capability (Microsoft Learn "Azure managed disk types"):
the resource SKU list reports it, and Compute refuses a scale set whose Premium disk sits on a size without it
(400 ``InvalidParameter``, "Requested operation cannot be performed because storage account type 'Premium_LRS' is
not supported for VM size ..."; public replies, e.g. MicrosoftLearning/20533-...#345)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from azureops import scaleset_spec
from tests.kit.azure import SUB
from tests.kit.joinchain import dr_site, spec


def _capabilities(clients: Any, size: str) -> dict[str, str]:
    [sku] = [
        s for s in clients.compute(SUB).resource_skus.list(filter="location eq 'uksouth'") if s.name == size
    ]
    return {c.name: c.value for c in sku.capabilities}


def _body(app_id: str, size: str, disk: str = "Premium_LRS") -> dict[str, Any]:
    body = scaleset_spec.scale_set_body(
        dataclasses.replace(spec(app_id), vm_size=size),
        token="t",
        admin_password="Av1!pw",
        domain_password=None,
    )
    body["properties"]["virtualMachineProfile"]["storageProfile"]["osDisk"]["managedDisk"][
        "storageAccountType"
    ] = disk
    return body


def test_resource_skus_report_premium_io_per_size() -> None:
    with dr_site() as (_, clients, _app):
        assert _capabilities(clients, "Standard_D4s_v5")["PremiumIO"] == "True"
        assert _capabilities(clients, "Standard_D4_v5")["PremiumIO"] == "False"


@pytest.mark.parametrize(
    ("size", "disk", "refused"),
    [
        ("Standard_D4_v5", "Premium_LRS", True),
        ("Standard_D4_v5", "StandardSSD_LRS", False),
        ("Standard_D4s_v5", "Premium_LRS", False),
    ],
    ids=["premium-on-d4-v5", "standard-ssd-on-d4-v5", "premium-on-d4s-v5"],
)
def test_a_premium_os_disk_needs_a_size_with_premium_io(size: str, disk: str, refused: bool) -> None:
    with dr_site() as (_, clients, app_id):
        vmss = clients.compute(SUB).virtual_machine_scale_sets
        if not refused:
            assert vmss.begin_create_or_update("VMSSDR", "EntraDR", _body(app_id, size, disk)).result()
            return
        with pytest.raises(HttpResponseError) as err:
            vmss.begin_create_or_update("VMSSDR", "EntraDR", _body(app_id, size, disk))
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "InvalidParameter"
    assert err.value.error.message == (
        "Requested operation cannot be performed because storage account type 'Premium_LRS' is not supported "
        "for VM size 'Standard_D4_v5'."
    )


def test_resizing_a_premium_scale_set_to_a_size_without_premium_io_is_refused() -> None:
    with dr_site() as (sim, clients, app_id):
        vmss = clients.compute(SUB).virtual_machine_scale_sets
        vmss.begin_create_or_update("VMSSDR", "EntraDR", _body(app_id, "Standard_D4s_v5")).result()
        with pytest.raises(HttpResponseError) as err:
            vmss.begin_update("VMSSDR", "EntraDR", {"sku": {"name": "Standard_D4_v5"}})  # type: ignore[call-overload]
        assert err.value.error is not None and err.value.error.code == "InvalidParameter"
        assert vmss.get("VMSSDR", "EntraDR").sku.name == "Standard_D4s_v5"
