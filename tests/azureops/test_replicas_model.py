"""Pure pieces of the replicas area: the REST view, image ids, and errors in the user's terms."""

from __future__ import annotations

import pytest

from avdcore.errors import AzureError, AzureNotFound, UsageError
from azureops.gallery import ImageRef, check_region, parse_image_id, region_key, replicas_from, user_terms
from azureops.replicas import plan_remove

VID = (
    "/subscriptions/s1/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery/images/"
    "Win11MultiS/versions/2026.0522.1719"
)
REF = ImageRef("s1", "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
ENCRYPTED = {
    "name": "North Europe",
    "regionalReplicaCount": 2,
    "storageAccountType": "Standard_ZRS",
    "excludeFromLatest": True,
    "encryption": {"osDiskImage": {"diskEncryptionSetId": "/des/1"}},
}
BODY = {
    "location": "West Europe",
    "properties": {
        "publishingProfile": {
            "replicaCount": 1,
            "storageAccountType": "Standard_LRS",
            "targetRegions": [{"name": "West Europe"}, ENCRYPTED, {"name": "UK South"}],
        },
        "safetyProfile": {"allowDeletionOfReplicatedLocations": False},
        "provisioningState": "Updating",
        "replicationStatus": {
            "aggregatedState": "InProgress",
            "summary": [
                {"region": "West Europe", "state": "Completed", "progress": 100},
                {"region": "North Europe", "state": "Completed", "progress": 100},
                {"region": "UK South", "state": "Replicating", "progress": 40},
            ],
        },
    },
}


def test_view_keeps_raw_targets_and_reads_every_region() -> None:
    vr = replicas_from(REF, BODY, retry_after=2.0)
    assert vr.raw_targets[1] == ENCRYPTED
    assert [(r.region, r.state, r.progress, r.replica_count, r.storage, r.home) for r in vr.regions] == [
        ("westeurope", "Completed", 100, 1, "Standard_LRS", True),
        ("northeurope", "Completed", 100, 2, "Standard_ZRS", False),
        ("uksouth", "Replicating", 40, 1, "Standard_LRS", False),
    ]
    assert vr.locked and vr.home == "westeurope" and vr.retry_after == 2.0
    assert vr.has_target("UKSouth") and not vr.has_target("francecentral")


@pytest.mark.parametrize("name", ["uksouth", "UK South", "UKSouth", "uk-south"])
def test_region_key(name: str) -> None:
    assert region_key(name) == "uksouth"


def test_parse_image_id() -> None:
    assert parse_image_id(VID) == REF
    assert parse_image_id(VID.rsplit("/versions", 1)[0]) == REF.with_version("")
    assert parse_image_id("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/x") is None


def test_gallery_image_not_found_in_user_terms() -> None:
    raw = AzureNotFound(
        f'"The gallery image {VID} is not available in uksouth region. Please contact image owner '
        'to replicate to this region, or change your requested region."',
        code="GalleryImageNotFound",
        resource_id="/vmss/EntraDR",
        status=404,
    )
    err = user_terms(raw)
    assert err.message == "no replica of Win11MultiS/2026.0522.1719 in uksouth yet"
    assert err.next_step == "run `/avd replicas add uksouth` (about 5-15 min), then retry"
    assert err.code == "GalleryImageNotFound" and err.resource_id == "/vmss/EntraDR"
    other = AzureError("boom", code="Conflict")
    assert user_terms(other) is other


def test_home_region_is_never_removed() -> None:
    vr = replicas_from(REF, BODY)
    with pytest.raises(UsageError, match="home region"):
        check_region(vr, "West Europe", removing=True)
    with pytest.raises(UsageError, match="home region"):
        plan_remove(None, vr, "westeurope")  # type: ignore[arg-type]  # refused before any Azure call
