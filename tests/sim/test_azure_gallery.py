"""Gallery image version replicas through the real compute client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from tests.kit.azure import IMAGE, SUB, running

TWO_REGIONS = {
    "properties": {"publishingProfile": {"targetRegions": [{"name": "West Europe"}, {"name": "uksouth"}]}}
}
WEU_ONLY = {"properties": {"publishingProfile": {"targetRegions": [{"name": "westeurope"}]}}}


def _summary(compute: object) -> dict[str, tuple[str, int]]:
    v = compute.gallery_image_versions.get(*IMAGE, expand="ReplicationStatus")  # type: ignore[attr-defined]
    return {s["region"]: (s["state"], s["progress"]) for s in v.replication_status.summary}


def test_without_expand_replication_status_is_absent() -> None:
    with running() as (_, clients):
        v = clients.compute(SUB).gallery_image_versions.get(*IMAGE)
    assert v.replication_status is None
    assert v.safety_profile.allow_deletion_of_replicated_locations is False


def test_new_region_replicates_with_rising_progress_then_completes() -> None:
    with running(time_scale=1.0, poll_retry_after=None) as (sim, clients):
        compute = clients.compute(SUB)
        poller = compute.gallery_image_versions.begin_update(*IMAGE, TWO_REGIONS)
        assert compute.gallery_image_versions.get(*IMAGE).provisioning_state == "Updating"
        assert _summary(compute)["UK South"] == ("Replicating", 0)
        sim.clock.advance(250)
        first = _summary(compute)["UK South"]
        sim.clock.advance(40)
        second = _summary(compute)["UK South"]
        assert first[0] == "Replicating" and 0 < first[1] < second[1] < 100
        assert not poller.done()
        sim.clock.advance(900)
        result = poller.result()
        assert result.provisioning_state == "Succeeded"
        assert _summary(compute) == {"West Europe": ("Completed", 100), "UK South": ("Completed", 100)}
        agg = compute.gallery_image_versions.get(*IMAGE, expand="ReplicationStatus").replication_status
        assert agg.aggregated_state == "Completed"


def test_removal_is_refused_while_safety_profile_locks_replicated_locations() -> None:
    with running() as (sim, clients):
        compute = clients.compute(SUB)
        compute.gallery_image_versions.begin_update(*IMAGE, TWO_REGIONS).result()
        with pytest.raises(ResourceExistsError) as err:
            compute.gallery_image_versions.begin_update(*IMAGE, WEU_ONLY)
        assert err.value.error is not None and err.value.error.code == "OperationNotAllowed"
        assert "allowDeletionOfReplicatedLocations" in err.value.error.message
        assert "Retry-After" not in err.value.response.headers
        unlock = {
            "properties": {
                **WEU_ONLY["properties"],
                "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
            }
        }
        compute.gallery_image_versions.begin_update(*IMAGE, unlock).result()
        assert list(_summary(compute)) == ["West Europe"]


def test_duplicate_regions_are_rejected() -> None:
    dup = {
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "UK South"}, {"name": "uksouth"}, {"name": "westeurope"}]
            }
        }
    }
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.compute(SUB).gallery_image_versions.begin_update(*IMAGE, dup)
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "InvalidParameter"
    assert err.value.error.message == "Duplicate regions are not allowed in target publishing regions."


def test_failed_lro_surfaces_the_monitor_error_code() -> None:
    with running() as (sim, clients):
        sim.faults.fail_lro(
            "PATCH", "/versions/", code="ReplicationFailed", message="copy to UK South failed"
        )
        poller = clients.compute(SUB).gallery_image_versions.begin_update(*IMAGE, TWO_REGIONS)
        with pytest.raises(HttpResponseError) as err:
            poller.result()
        assert err.value.error is not None and err.value.error.code == "ReplicationFailed"
        summary = _summary(clients.compute(SUB))
        assert summary["UK South"][0] == "Failed"
        version = sim.image_version(*IMAGE)
        assert version is not None and version.provisioning_state == "Failed"
        assert version["properties"]["replicationStatus"]["aggregatedState"] == "Failed"


def test_initial_status_codes_match_the_sdk_contract() -> None:
    with running() as (sim, clients):
        compute = clients.compute(SUB)
        compute.gallery_image_versions.begin_update(*IMAGE, TWO_REGIONS).result()
        body = {
            "location": "westeurope",
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
                "storageProfile": {"source": {"id": "x"}},
            },
        }
        compute.gallery_image_versions.begin_create_or_update(*IMAGE[:3], "2026.0601.0900", body).result()
        compute.gallery_image_versions.begin_delete(*IMAGE[:3], "2026.0601.0900").result()
        writes = [(e.method, e.status) for e in sim.writes("/versions/")]
    assert writes == [("PATCH", 200), ("PUT", 201), ("DELETE", 202)]


def test_a_regions_storage_type_cannot_change() -> None:
    """TargetRegion.storageAccountType "is not updatable" (SDK model docs); the product keeps each existing
    region's type (tests/capabilities/test_replicas.py::test_add_with_count_and_storage_keeps_custom_existing_regions)."""
    premium = {
        "properties": {
            "publishingProfile": {
                "targetRegions": [
                    {"name": "westeurope"},
                    {"name": "uksouth", "storageAccountType": "Premium_LRS"},
                ]
            }
        }
    }
    with running() as (_, clients):
        compute = clients.compute(SUB)
        compute.gallery_image_versions.begin_update(*IMAGE, premium).result()
        standard = {
            "properties": {
                "publishingProfile": {
                    "targetRegions": [
                        {"name": "westeurope"},
                        {"name": "uksouth", "storageAccountType": "Standard_LRS"},
                    ]
                }
            }
        }
        with pytest.raises(HttpResponseError) as err:
            compute.gallery_image_versions.begin_update(*IMAGE, standard)
        assert err.value.status_code == 400
        assert err.value.error is not None and err.value.error.code == "PropertyChangeNotAllowed"
        compute.gallery_image_versions.begin_update(*IMAGE, premium).result()  # the same type again is fine
