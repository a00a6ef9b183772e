"""A gallery image definition's security type must match the scale set's ``securityProfile`` (Microsoft Learn
"Trusted launch for Azure virtual machines"): Compute refuses a scale set that a ``TrustedLaunch`` image cannot
boot with 400 ``BadRequest`` "The provided gallery image only supports creation of VMs and VM Scale Sets with
'TrustedLaunch' security type." (hashicorp/terraform-provider-azurerm#23148)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from azureops import scaleset_spec
from tests.kit.azure import SUB
from tests.kit.images import set_image_security_type
from tests.kit.joinchain import dr_site, spec


def body(app_id: str, security_type: str) -> dict[str, Any]:
    """The product's body with ``securityProfile.securityType`` = ``security_type`` ("" = no profile)."""
    out = scaleset_spec.scale_set_body(spec(app_id), token="t", admin_password="Av1!pw", domain_password=None)
    vmp = out["properties"]["virtualMachineProfile"]
    vmp.pop("securityProfile", None)
    if security_type:
        vmp["securityProfile"] = {"securityType": security_type}
    return out


CASES = [
    (
        "TrustedLaunch",
        "",
        "only supports creation of VMs and VM Scale Sets with 'TrustedLaunch' security type",
    ),
    ("TrustedLaunch", "Standard", "with 'TrustedLaunch' security type"),
    ("TrustedLaunch", "TrustedLaunch", None),
    ("TrustedLaunchSupported", "", None),
    ("TrustedLaunchSupported", "TrustedLaunch", None),
    ("TrustedLaunchSupported", "ConfidentialVM", "does not support creation of VMs and VM Scale Sets with"),
    ("ConfidentialVM", "TrustedLaunch", "with 'ConfidentialVM' security type"),
]


@pytest.mark.parametrize(
    ("image", "scale_set", "refusal"), CASES, ids=[f"{c[0]}-{c[1] or 'none'}" for c in CASES]
)
def test_a_scale_set_must_match_its_image_definitions_security_type(
    image: str, scale_set: str, refusal: str | None
) -> None:
    with dr_site() as (sim, clients, app_id):
        set_image_security_type(sim, image)
        vmss = clients.compute(SUB).virtual_machine_scale_sets
        if refusal is None:
            created = vmss.begin_create_or_update("VMSSDR", "EntraDR", body(app_id, scale_set)).result()
            profile = created.virtual_machine_profile.security_profile
            assert (profile.security_type if profile else "") == scale_set
            return
        with pytest.raises(HttpResponseError) as err:
            vmss.begin_create_or_update("VMSSDR", "EntraDR", body(app_id, scale_set))
        assert all(v.name != "EntraDR" for v in vmss.list("VMSSDR"))
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "BadRequest"
    assert refusal in err.value.error.message


def test_a_new_image_definition_defaults_to_trusted_launch_supported() -> None:
    with dr_site() as (_, clients, _app):
        found = clients.compute(SUB).gallery_images.get("GOLD-VDA", "AVDGallery", "Win11MultiS")
    assert [(f.name, f.value) for f in found.features] == [("SecurityType", "TrustedLaunchSupported")]


def test_the_product_body_without_the_copied_security_type_is_refused_for_a_trusted_launch_image() -> None:
    with dr_site() as (sim, clients, app_id):
        set_image_security_type(sim, "TrustedLaunch")
        untyped = scaleset_spec.scale_set_body(
            dataclasses.replace(spec(app_id), security_type=""),
            token="t",
            admin_password="Av1!pw",
            domain_password=None,
        )
        with pytest.raises(HttpResponseError) as err:
            clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update(
                "VMSSDR", "EntraDR", untyped
            )
    assert err.value.error is not None and err.value.error.code == "BadRequest"
