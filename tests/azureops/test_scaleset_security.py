"""The DR scale set copies its image definition's security type: a Trusted Launch image (required or supported)
gets ``securityProfile`` TrustedLaunch with Secure Boot and vTPM, which the simulator (like Compute) requires."""

from __future__ import annotations

import dataclasses

import pytest

from avdcore.errors import AzureError
from azureops import scaleset_spec
from tests.kit.azure import SUB
from tests.kit.images import set_image_security_type
from tests.kit.joinchain import dr_site, spec
from tests.kit.scale import writes_since

TRUSTED = {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}


@pytest.mark.parametrize("image", ["TrustedLaunch", "TrustedLaunchSupported"])
def test_a_trusted_launch_image_gives_the_scale_set_a_trusted_launch_profile_azure_accepts(
    image: str,
) -> None:
    with dr_site() as (sim, clients, app_id):
        set_image_security_type(sim, image)
        typed = scaleset_spec.with_security_type(clients, spec(app_id))
        body = scaleset_spec.scale_set_body(typed, token="t", admin_password="Av1!pw", domain_password=None)
        created = (
            clients.compute(SUB)
            .virtual_machine_scale_sets.begin_create_or_update("VMSSDR", "EntraDR", body)
            .result()
        )
    assert typed.security_type == image
    assert body["properties"]["virtualMachineProfile"]["securityProfile"] == TRUSTED
    profile = created.virtual_machine_profile.security_profile
    assert profile.security_type == "TrustedLaunch"
    assert profile.uefi_settings.secure_boot_enabled and profile.uefi_settings.v_tpm_enabled


def test_an_untyped_image_keeps_a_standard_scale_set() -> None:
    plain = dataclasses.replace(spec("app"), security_type="")
    body = scaleset_spec.scale_set_body(plain, token="t", admin_password="pw", domain_password=None)
    assert "securityProfile" not in body["properties"]["virtualMachineProfile"]


def test_a_confidential_vm_image_is_refused_by_name_before_any_write() -> None:
    with dr_site() as (sim, clients, app_id):
        set_image_security_type(sim, "ConfidentialVM")
        mark = len(sim.journal)
        with pytest.raises(AzureError) as err:
            scaleset_spec.with_security_type(clients, spec(app_id))
        assert writes_since(sim, mark) == []
    assert "Win11MultiS is a ConfidentialVM image" in err.value.message
    assert "TrustedLaunch or TrustedLaunchSupported" in err.value.next_step
