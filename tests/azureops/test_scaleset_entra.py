"""An Entra-joined DR scale set: the body the bot sends, and what the simulator does with it on each instance.

Microsoft's Entra VM sign-in page: the system-assigned managed identity must be enabled before AADLoginForWindows
is installed; scale-set extension sequencing: the host-pool registration (AVD-Register) runs only after the join.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azureops import scaleset_spec
from tests.kit.azure import SUB, VERSION_ID, running

SUBNET = f"/subscriptions/{SUB}/resourceGroups/INFRADR/providers/Microsoft.Network/virtualNetworks/vnet-avd-uks/subnets/snet-avd"
UAMI = f"/subscriptions/{SUB}/resourceGroups/VMSSDR/providers/Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage"


def spec(join_type: str = "entra", capacity: int = 1) -> scaleset_spec.ScaleSetSpec:
    return scaleset_spec.ScaleSetSpec(
        subscription=SUB,
        resource_group="VMSSDR",
        name="EntraDR",
        location="uksouth",
        image_id=VERSION_ID,
        vm_size="Standard_D4s_v5",
        subnet_id=SUBNET,
        capacity=capacity,
        join_type=join_type,
        identity_id=UAMI,
        host_pool="EntraAuthDR",
        host_pool_resource_group="AVDDR",
    )


def test_entra_body_enables_the_system_identity_and_chains_registration_after_the_join() -> None:
    body = scaleset_spec.scale_set_body(spec(), token="T", admin_password="pw", domain_password=None)
    assert body["identity"] == {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {UAMI: {}}}
    join, register = body["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert join["name"] == "AADLoginForWindows"
    assert register["properties"]["provisionAfterExtensions"] == ["AADLoginForWindows"]


def test_domain_body_keeps_only_the_user_assigned_identity() -> None:
    body = scaleset_spec.scale_set_body(
        spec("domain"), token="T", admin_password="pw", domain_password="secret"
    )
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {UAMI: {}}}


def _build(body_change: str) -> tuple[Any, Any, list[Any]]:
    """Create EntraDR with one instance from the product's body (``old``: the body without the system identity)."""
    with running() as (sim, clients):
        compute = clients.compute(SUB)
        clients.msi(SUB).user_assigned_identities.create_or_update(
            "VMSSDR", "AVDManage", {"location": "uksouth"}
        )
        regions = {
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "westeurope"}, {"name": "uksouth"}]}
            }
        }
        compute.gallery_image_versions.begin_update(
            "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719", regions
        ).result()
        expires = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pool = clients.avd(SUB).host_pools.update(
            "AVDDR",
            "EntraAuthDR",
            {
                "properties": {
                    "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"}
                }
            },
        )
        token = pool.registration_info.token
        body = scaleset_spec.scale_set_body(
            spec(), token=token, admin_password="Av1!pw", domain_password=None
        )
        if body_change == "old":
            body["identity"]["type"] = "UserAssigned"
        vmss = compute.virtual_machine_scale_sets.begin_create_or_update("VMSSDR", "EntraDR", body).result()
        sim.clock.advance(600)
        vms = [
            compute.virtual_machines.get("VMSSDR", vm.name, expand="instanceView")
            for vm in compute.virtual_machines.list("VMSSDR")
        ]
        hosts = sim.session_hosts("AVDDR", "EntraAuthDR")
    return vmss, hosts, vms


def test_without_the_system_identity_aad_login_fails_and_the_host_never_registers() -> None:
    vmss, hosts, vms = _build("old")
    assert vmss.identity.principal_id is None
    assert hosts == []
    [vm] = vms
    assert vm.provisioning_state == "Failed"
    view = vm.instance_view
    assert view.statuses[0].code == "ProvisioningState/failed/VMExtensionProvisioningError"
    assert "AADLoginForWindows" in view.statuses[0].message
    # the registration script chained after the failed join never ran
    assert [(e.name, e.statuses[0].code) for e in view.extensions] == [
        ("AADLoginForWindows", "ProvisioningState/failed")
    ]


def test_with_the_system_identity_both_extensions_run_and_the_host_registers() -> None:
    vmss, hosts, vms = _build("new")
    assert vmss.identity.type == "SystemAssigned, UserAssigned" and vmss.identity.principal_id
    assert [h.status for h in hosts] == ["Available"]
    [vm] = vms
    assert vm.provisioning_state == "Succeeded" and vm.identity.principal_id == vmss.identity.principal_id
    assert [(e.name, e.statuses[0].code) for e in vm.instance_view.extensions] == [
        ("AADLoginForWindows", "ProvisioningState/succeeded"),
        ("AVD-Register", "ProvisioningState/succeeded"),
    ]
