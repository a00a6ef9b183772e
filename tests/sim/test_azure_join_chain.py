"""The DR identity chain in the simulator: a new instance of a scale set whose ``AVD-Register`` Custom Script
extension runs ``register-session-host.ps1`` registers with its host pool only when every link holds (the
user-assigned identity on the scale set, AVD-Join's federated credential for it, AVD-Join's role on the host
pool's resource group, the host pool); otherwise the fallback token decides, and the instance view says which
link is missing (docs/simulator.md, "Rules: the DR identity chain")."""

from __future__ import annotations

from typing import Any

import pytest

from sim.azure.providers import roleassignments
from tests.kit.azure import SUB
from tests.kit.joinchain import (
    AVDDR,
    JOIN_SP,
    READER,
    create_scale_set,
    dr_site,
    instances,
    issue_token,
    spec,
)


def _register_view(vm: Any) -> Any:
    return next(e for e in vm.instance_view.extensions if e.name == "AVD-Register")


def _out(vm: Any) -> dict[str, str]:
    return {s.code: s.message for s in _register_view(vm).substatuses}


def test_every_link_holds_the_instance_registers_through_the_chain() -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token="not-a-valid-token")
        [vm] = instances(sim, clients)
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"]
        assert _register_view(vm).statuses[0].code == "ProvisioningState/succeeded"
        assert "registration token retrieved" in _out(vm)["ComponentStatus/StdOut/succeeded"]
        assert _out(vm)["ComponentStatus/StdErr/succeeded"] == ""


def _without_identity(body: dict[str, Any]) -> None:
    body["identity"] = {"type": "SystemAssigned"}


CASES = [
    ("identity", ("credential", "role"), _without_identity, "Identity not found"),
    ("credential", ("role",), None, "AADSTS70021"),
    ("role", ("credential",), None, "AuthorizationFailed"),
]


@pytest.mark.parametrize(("missing", "links", "change", "code"), CASES, ids=[c[0] for c in CASES])
def test_a_missing_link_without_a_valid_fallback_registers_no_host_and_says_which(
    missing: str, links: tuple[str, ...], change: Any, code: str
) -> None:
    with dr_site(links) as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token="expired-or-replaced", change=change)
        [vm] = instances(sim, clients)
        assert sim.session_hosts("AVDDR", "EntraAuthDR") == []
        assert vm.provisioning_state == "Failed"
        status = vm.instance_view.statuses[0]
        assert status.code == "ProvisioningState/failed/VMExtensionProvisioningError"
        assert "'AVD-Register'" in status.message and code in status.message
        assert "non-zero exit code of: '1'" in status.message
        assert _register_view(vm).statuses[0].code == "ProvisioningState/failed"
        stderr = _out(vm)["ComponentStatus/StdErr/succeeded"]
        assert code in stderr and "no valid fallback" in stderr


def test_a_missing_host_pool_registers_nothing() -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id, pool="NoSuchPool"), token="t")
        [vm] = instances(sim, clients)
        assert vm.provisioning_state == "Failed"
        assert "hostPoolDoesNotExist" in vm.instance_view.statuses[0].message


def test_an_unknown_join_app_is_refused_by_entra() -> None:
    with dr_site() as (sim, clients, _):
        create_scale_set(clients, spec("00000000-0000-0000-0000-00000000dead"), token="t")
        [vm] = instances(sim, clients)
        assert "AADSTS700016" in vm.instance_view.statuses[0].message


def test_a_reader_role_does_not_allow_the_registration_token() -> None:
    with dr_site(("credential",)) as (sim, clients, app_id):
        roleassignments.make_assignment(sim, AVDDR, JOIN_SP, READER, principal_type="ServicePrincipal")
        create_scale_set(clients, spec(app_id), token="t")
        [vm] = instances(sim, clients)
        assert sim.session_hosts("AVDDR", "EntraAuthDR") == []
        assert "retrieveRegistrationToken/action" in vm.instance_view.statuses[0].message


def test_a_missing_link_with_the_pools_current_token_registers_through_the_fallback() -> None:
    with dr_site(("role",)) as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token=issue_token(clients))
        [vm] = instances(sim, clients)
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"]
        assert "fallback registration token" in _out(vm)["ComponentStatus/StdOut/succeeded"]
        assert "AADSTS70021" in _out(vm)["ComponentStatus/StdErr/succeeded"]


def test_a_scale_out_outside_the_bot_after_its_token_was_replaced_registers_through_the_chain() -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token=issue_token(clients))
        issue_token(clients, hours=3)  # the bot's token in the model is no longer the pool's token
        # the portal / autoscale: capacity only, straight to the API, no new token in the model
        clients.compute(SUB).virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 2}}
        ).result()
        vms = instances(sim, clients)
        assert len(vms) == 2 and all(vm.provisioning_state == "Succeeded" for vm in vms)
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"] * 2


def test_the_same_scale_out_without_the_role_registers_nothing_new() -> None:
    with dr_site(("credential",)) as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id), token=issue_token(clients))
        issue_token(clients, hours=3)
        clients.compute(SUB).virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 2}}
        ).result()
        vms = instances(sim, clients)
        assert sorted(vm.provisioning_state for vm in vms) == ["Failed", "Succeeded"]
        assert len(sim.session_hosts("AVDDR", "EntraAuthDR")) == 1


def test_a_scale_out_after_the_pool_lost_its_token_gets_a_new_one_through_the_chain() -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id, capacity=0), token=issue_token(clients))
        clients.avd(SUB).host_pools.update(  # what expiry leaves: no current token
            "AVDDR",
            "EntraAuthDR",
            {"properties": {"registrationInfo": {"registrationTokenOperation": "Delete"}}},
        )
        assert clients.avd(SUB).host_pools.retrieve_registration_token("AVDDR", "EntraAuthDR").token is None
        clients.compute(SUB).virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 1}}
        ).result()
        [vm] = instances(sim, clients)
        assert vm.provisioning_state == "Succeeded"
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"]
        assert clients.avd(SUB).host_pools.retrieve_registration_token("AVDDR", "EntraAuthDR").token
