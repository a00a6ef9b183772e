"""Both waits for session hosts read the instances' instance view (one reading, ``scalesets.failed_extension``): an
extension that failed (Compute's ``ProvisioningState/failed/VMExtensionProvisioningError``) fails the wait at once,
naming the extension and its message, instead of waiting out the timeout for a host that will never register. The
DR wait (``dr_capacity.available_hosts_step``: failover, drill) and the scale-set form's own wait
(``scaleset_steps.hosts_step``: ``/avd scaleset``, ``/avd scale``) run the same cases."""

from __future__ import annotations

from typing import Any

import pytest

from avdcore.errors import AzureError
from azureops.dr_capacity import ScaleSetRef, available_hosts_step
from azureops.plan import Step
from azureops.scaleset_steps import hosts_step
from azureops.scalesets import failed_extension
from azureops.sessions import HostPoolRef
from tests.kit.azure import SUB
from tests.kit.chaos import Recorder
from tests.kit.joinchain import create_scale_set, dr_site, issue_token, spec

DR_POOL = HostPoolRef(SUB, "AVDDR", "EntraAuthDR")
DR_VMSS = ScaleSetRef(SUB, "VMSSDR", "EntraDR")


def dr_wait(clients: Any) -> Step:
    return available_hosts_step(clients, DR_POOL, DR_VMSS, 1, name="dr-hosts", tick=0.01, timeout=3600)


def form_wait(clients: Any) -> Step:
    return hosts_step(
        clients,
        SUB,
        "VMSSDR",
        "EntraDR",
        1,
        pool_subscription=SUB,
        pool_resource_group="AVDDR",
        pool="EntraAuthDR",
        interval=0.01,
        timeout=3600,
    )


WAITS = pytest.mark.parametrize("wait", [dr_wait, form_wait], ids=["dr-wait", "form-wait"])


def _user_assigned_only(body: dict[str, Any]) -> None:
    body["identity"]["type"] = "UserAssigned"


def _system_only(body: dict[str, Any]) -> None:
    body["identity"] = {"type": "SystemAssigned"}


CASES = [
    # (links of the chain, body change, the extension named, words of its message, words of the next step)
    (("credential", "role"), _user_assigned_only, "AADLoginForWindows", "system-assigned", "system-assigned"),
    (("credential", "role"), _system_only, "AVD-Register", "Identity not found", "/avd doctor"),
    (("credential",), None, "AVD-Register", "AuthorizationFailed", "/avd doctor"),
    (("role",), None, "AVD-Register", "AADSTS70021", "/avd doctor"),
]


@WAITS
@pytest.mark.parametrize(
    ("links", "change", "extension", "said", "next_step"),
    CASES,
    ids=["no-system-identity", "no-user-identity", "no-role", "no-credential"],
)
def test_a_failed_extension_fails_the_host_wait_naming_it_before_the_timeout(
    wait: Any, links: tuple[str, ...], change: Any, extension: str, said: str, next_step: str
) -> None:
    with dr_site(links) as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token="expired-or-replaced", change=change)
        sim.clock.advance(600)  # the instance has booted and run its extensions
        step = wait(clients)
        with pytest.raises(AzureError) as err:
            step.apply(Recorder())
    assert err.value.code == "VMExtensionProvisioningError"
    assert f"extension {extension} failed on instance" in err.value.message
    assert said in err.value.message
    assert next_step in err.value.next_step
    assert "/virtualmachines/" in err.value.resource_id


@pytest.mark.parametrize(
    ("wait", "ended"),
    [(dr_wait, "1 session host(s) Available"), (form_wait, "1/1 instances provisioned, 1/1 session hosts")],
    ids=["dr-wait", "form-wait"],
)
def test_healthy_instances_are_not_reported_and_the_wait_ends_when_hosts_are_available(
    wait: Any, ended: str
) -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token=issue_token(clients))
        sim.clock.advance(600)
        assert failed_extension(clients, SUB, "VMSSDR", "EntraDR") is None
        assert wait(clients).apply(Recorder()).startswith(ended)


@WAITS
def test_a_failed_read_of_the_instance_view_is_no_verdict_the_next_check_names_the_extension(
    wait: Any,
) -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token="expired-or-replaced", change=_user_assigned_only)
        sim.clock.advance(600)
        sim.faults.fail("GET", r"/instanceView$", status=500, code="InternalServerError", count=1)
        step = wait(clients)
        with pytest.raises(AzureError) as err:
            step.apply(Recorder())
    assert err.value.code == "VMExtensionProvisioningError" and "AADLoginForWindows" in err.value.message
