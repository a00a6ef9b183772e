"""Azure Storage authorizes blob requests made with an OAuth token against data roles only."""

from __future__ import annotations

import pytest

from sim.azure.providers import roleassignments
from sim.azure.providers.rbac import PRINCIPAL
from tests.kit.azure import SUB2, raw, running

ACCOUNT = (
    f"/subscriptions/{SUB2}/resourceGroups/SNAPDR/providers/Microsoft.Storage/storageAccounts/avdstgtest"
)
SAS = "https://md-abc.z1.blob.storage.azure.net/x/abcd?sv=2018-03-28&sr=b&sig=xyz"
TOKEN = {"Authorization": "Bearer sandbox"}


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (None, 403),
        ("b24988ac-6180-42a0-ab88-20f7382dd24c", 403),  # Contributor: control plane only
        ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", 403),  # Storage Blob Data Reader: no write
        ("ba92f5b4-2d11-453d-a403-e96b0029c9fe", 202),  # Storage Blob Data Contributor
    ],
)
def test_copy_blob_needs_a_blob_data_write_role(role: str | None, status: int) -> None:
    with running() as (sim, _):
        api = "?api-version=2023-05-01"
        assert raw(sim.url, sim.ca_path, "PUT", ACCOUNT + api, {"location": "uksouth"}, TOKEN)[0] == 200
        container = ACCOUNT + "/blobServices/default/containers/vhds" + api
        assert raw(sim.url, sim.ca_path, "PUT", container, {"properties": {}}, TOKEN)[0] == 201
        if role:
            with sim.lock:
                roleassignments.make_assignment(
                    sim, ACCOUNT, PRINCIPAL, role, principal_type="ServicePrincipal"
                )
        got, headers, body = raw(
            sim.url,
            sim.ca_path,
            "PUT",
            "/blob/avdstgtest/vhds/a.vhd",
            None,
            {**TOKEN, "x-ms-copy-source": SAS},
        )
    assert got == status
    if status == 403:
        assert headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
        assert body["error"]["message"] == (
            "This request is not authorized to perform this operation using this permission."
        )


def test_storage_control_plane_goes_through_rbac() -> None:
    with running() as (sim, _):
        sim.set_permissions(["*/read", "Microsoft.Compute/*"])
        got, _, body = raw(
            sim.url, sim.ca_path, "PUT", ACCOUNT + "?api-version=2023-05-01", {"location": "uksouth"}, TOKEN
        )
    assert got == 403 and body["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.Storage/storageAccounts/write" in body["error"]["message"]
