"""Scale sets and snapshots through the real compute client."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.kit.azure import GOLD, SUB, SUB2, VERSION_ID, running

UAMI_DR = f"/subscriptions/{SUB}/resourceGroups/VMSSDR/providers/Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage"
POOL_DR = f"/subscriptions/{SUB}/resourceGroups/AVDDR/providers/Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"


def scale_set(location: str = "uksouth", capacity: int = 0, identity: str = UAMI_DR) -> dict[str, Any]:
    return {
        "location": location,
        "tags": {"AVD-HostPool": POOL_DR},
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard", "capacity": capacity},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}},
        "properties": {
            "orchestrationMode": "Flexible",
            "platformFaultDomainCount": 1,
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"id": VERSION_ID}},
                "osProfile": {"computerNamePrefix": "entradr", "adminUsername": "avdadmin"},
                "networkProfile": {"networkApiVersion": "2020-11-01"},
            },
        },
    }


def test_scale_set_put_raises_gallery_image_not_found_without_replica() -> None:
    with running() as (sim, clients):
        clients.msi(SUB).user_assigned_identities.create_or_update(
            "VMSSDR", "AVDManage", {"location": "uksouth"}
        )
        with pytest.raises(ResourceNotFoundError) as err:
            clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update(
                "VMSSDR", "EntraDR", scale_set()
            )
    assert err.value.error is not None and err.value.error.code == "GalleryImageNotFound"
    assert err.value.error.target == "imageReference"
    assert (
        f"The gallery image {VERSION_ID} is not available in uksouth region. Please contact image owner to "
        "replicate to this region, or change your requested region."
    ) in err.value.error.message


def test_scale_set_needs_an_existing_identity() -> None:
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update(
            "VMSSDR", "EntraDR", scale_set()
        )
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "FailedIdentityOperation"


def test_scale_out_boots_instances_that_register_as_session_hosts() -> None:
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
        created = compute.virtual_machine_scale_sets.begin_create_or_update(
            "VMSSDR", "EntraDR", scale_set()
        ).result()
        assert created.sku.capacity == 0 and created.provisioning_state.lower() == "succeeded"
        poller = compute.virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 2}}
        )
        assert sim.session_hosts("AVDDR", "EntraAuthDR") == []
        poller.result()
        sim.clock.advance(180)
        hosts = sim.session_hosts("AVDDR", "EntraAuthDR")
        assert [h.status for h in hosts] == ["Available", "Available"]
        assert all(h.last_heart_beat for h in hosts)
        vmss = sim.scale_set("VMSSDR", "EntraDR")
        assert vmss is not None and vmss.capacity == 2
        compute.virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 1}}
        ).result()
        assert len(sim.session_hosts("AVDDR", "EntraAuthDR")) == 1
        writes = [(e.method, e.status) for e in sim.writes("/virtualMachineScaleSets/")]
    assert writes == [("PUT", 201), ("PATCH", 200), ("PATCH", 200)]


def test_copy_start_progresses_then_completes() -> None:
    source = f"{GOLD}/snapshots/snap-gold-os-20260522"
    body = {
        "location": "uksouth",
        "properties": {
            "incremental": True,
            "creationData": {"createOption": "CopyStart", "sourceResourceId": source},
        },
    }
    with running(time_scale=1.0, poll_retry_after=None) as (sim, clients):
        target = clients.compute(SUB2).snapshots
        poller = target.begin_create_or_update("SNAPDR", "snap-gold-os-20260522", body)
        sim.clock.advance(45)
        created = poller.result()
        assert created.completion_percent is not None and created.completion_percent < 100
        assert created.snapshot_access_state == "Pending"
        sim.clock.advance(300)
        middle = target.get("SNAPDR", "snap-gold-os-20260522").completion_percent
        sim.clock.advance(900)
        done = target.get("SNAPDR", "snap-gold-os-20260522")
        statuses = [e.status for e in sim.writes("/snapshots/")]
    assert created.completion_percent < middle < 100
    assert done.completion_percent == 100 and done.snapshot_access_state == "Available"
    assert done.incremental is True and statuses == [202]


@pytest.mark.parametrize(
    ("option", "source", "code"),
    [
        ("Copy", "snap-gold-os-20260522", "InvalidParameter"),  # Copy must stay in the source's region
        ("CopyStart", "snap-gold-manual", "InvalidParameter"),  # CopyStart needs an incremental source
        ("Copy", "no-such-snapshot", "NotFound"),
    ],
)
def test_snapshot_copy_rules(option: str, source: str, code: str) -> None:
    body = {
        "location": "uksouth",
        "properties": {
            "creationData": {"createOption": option, "sourceResourceId": f"{GOLD}/snapshots/{source}"}
        },
    }
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.compute(SUB2).snapshots.begin_create_or_update("SNAPDR", "copy", body)
    assert err.value.error is not None and err.value.error.code == code


def test_same_region_copy_across_subscriptions_and_access_grant() -> None:
    body = {
        "location": "westeurope",
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": f"{GOLD}/snapshots/snap-gold-manual"}
        },
    }
    with running() as (sim, clients):
        compute = clients.compute(SUB2)
        clients.resources(SUB2).resource_groups.create_or_update("SNAPWEU", {"location": "westeurope"})
        copy = compute.snapshots.begin_create_or_update("SNAPWEU", "copy", body).result()
        assert copy.provisioning_state == "Succeeded" and copy.disk_size_gb == 127
        access = compute.snapshots.begin_grant_access(
            "SNAPWEU", "copy", {"access": "Read", "durationInSeconds": 3600}
        ).result()
        assert access.access_sas.startswith("https://")
        with pytest.raises(ResourceExistsError) as err:
            compute.snapshots.begin_delete("SNAPWEU", "copy")
        assert err.value.error is not None and err.value.error.code == "OperationNotAllowed"
        compute.snapshots.begin_revoke_access("SNAPWEU", "copy").result()
        compute.snapshots.begin_update("SNAPWEU", "copy", {"tags": {"SnapReplicate": "Replicate"}}).result()
        assert compute.snapshots.get("SNAPWEU", "copy").tags == {"SnapReplicate": "Replicate"}
        compute.snapshots.begin_delete("SNAPWEU", "copy").result()
        assert (
            sim.resource(
                f"/subscriptions/{SUB2}/resourceGroups/SNAPWEU/providers/Microsoft.Compute/snapshots/copy"
            )
            is None
        )
