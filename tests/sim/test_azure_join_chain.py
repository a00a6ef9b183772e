"""The DR identity chain in the simulator: a new instance of a scale set whose ``AVD-Register`` Custom Script
extension runs ``register-session-host.ps1`` registers with its host pool only when every link holds (the
user-assigned identity on the scale set, AVD-Join's federated credential for it, AVD-Join's role on the host
pool's resource group, the host pool); otherwise the fallback token decides, and the instance view says which
link is missing (docs/simulator.md, "Rules: the DR identity chain")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from azureops import scaleset_spec
from sim.azure.providers import graph, roleassignments
from tests.kit.azure import SUB, VERSION_ID, running

JOIN_APP = "11111111-2222-3333-4444-555555555555"
JOIN_SP = "11111111-2222-3333-4444-5555555555a0"
HOST_POOL_CONTRIBUTOR = "e307426c-f9b6-4e81-87de-d99efb3c32bc"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
AVDDR = f"/subscriptions/{SUB}/resourceGroups/AVDDR"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/INFRADR/providers/Microsoft.Network/virtualNetworks/vnet-avd-uks/subnets/snet-avd"
UAMI = f"/subscriptions/{SUB}/resourceGroups/VMSSDR/providers/Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage"


def spec(app_id: str, pool: str = "EntraAuthDR") -> scaleset_spec.ScaleSetSpec:
    return scaleset_spec.ScaleSetSpec(
        subscription=SUB,
        resource_group="VMSSDR",
        name="EntraDR",
        location="uksouth",
        image_id=VERSION_ID,
        vm_size="Standard_D4s_v5",
        subnet_id=SUBNET,
        capacity=1,
        join_type="entra",
        identity_id=UAMI,
        host_pool=pool,
        host_pool_resource_group="AVDDR",
        join_app_id=app_id,
    )


def _token(clients: Any, hours: float = 2) -> str:
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pool = clients.avd(SUB).host_pools.update(
        "AVDDR",
        "EntraAuthDR",
        {
            "properties": {
                "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"}
            }
        },
    )
    return str(pool.registration_info.token)


@contextmanager
def dr_site(links: tuple[str, ...] = ("credential", "role")) -> Iterator[tuple[Any, Any, str]]:
    """The seed plus the DR identity, the uksouth replica and the chain's links named in ``links``."""
    with running() as (sim, clients):
        found = clients.msi(SUB).user_assigned_identities.create_or_update(
            "VMSSDR", "AVDManage", {"location": "uksouth"}
        )
        regions = {
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "westeurope"}, {"name": "uksouth"}]}
            }
        }
        clients.compute(SUB).gallery_image_versions.begin_update(
            "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719", regions
        ).result()
        app_id = sim.graph[JOIN_APP]["appId"]
        graph.add_service_principal(sim, JOIN_SP, app_id, "AVD-Join")
        if "credential" in links:
            issuer = f"https://login.microsoftonline.com/{sim.tenant_id}/v2.0"
            graph.add_credential(sim, JOIN_APP, "AVDManage-uksouth", issuer, found.principal_id)
        if "role" in links:
            roleassignments.make_assignment(
                sim, AVDDR, JOIN_SP, HOST_POOL_CONTRIBUTOR, principal_type="ServicePrincipal"
            )
        yield sim, clients, app_id


def _instances(sim: Any, clients: Any) -> list[Any]:
    compute = clients.compute(SUB)
    sim.clock.advance(600)
    return [
        compute.virtual_machines.get("VMSSDR", vm.name, expand="instanceView")
        for vm in compute.virtual_machines.list("VMSSDR")
    ]


def _create(
    sim: Any, clients: Any, app_id: str, token: str, change: Callable[[dict[str, Any]], None] | None = None
) -> list[Any]:
    body = scaleset_spec.scale_set_body(
        spec(app_id), token=token, admin_password="Av1!pw", domain_password=None
    )
    if change:
        change(body)
    clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update("VMSSDR", "EntraDR", body).result()
    return _instances(sim, clients)


def _register_view(vm: Any) -> Any:
    return next(e for e in vm.instance_view.extensions if e.name == "AVD-Register")


def test_every_link_holds_the_instance_registers_through_the_chain() -> None:
    with dr_site() as (sim, clients, app_id):
        [vm] = _create(sim, clients, app_id, token="not-a-valid-token")
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"]
        view = _register_view(vm)
        assert view.statuses[0].code == "ProvisioningState/succeeded"
        out = {s.code: s.message for s in view.substatuses}
        assert "registration token retrieved" in out["ComponentStatus/StdOut/succeeded"]
        assert out["ComponentStatus/StdErr/succeeded"] == ""


def _without_identity(body: dict[str, Any]) -> None:
    body["identity"] = {"type": "SystemAssigned"}


CASES = [
    ("identity", (), _without_identity, "identity_not_found"),
    ("credential", ("role",), None, "AADSTS70021"),
    ("role", ("credential",), None, "AuthorizationFailed"),
]


@pytest.mark.parametrize(("missing", "links", "change", "code"), CASES, ids=[c[0] for c in CASES])
def test_a_missing_link_without_a_valid_fallback_registers_no_host_and_says_which(
    missing: str, links: tuple[str, ...], change: Any, code: str
) -> None:
    base = ("credential", "role") if missing == "identity" else links
    with dr_site(base) as (sim, clients, app_id):
        [vm] = _create(sim, clients, app_id, token="expired-or-replaced", change=change)
        assert sim.session_hosts("AVDDR", "EntraAuthDR") == []
        assert vm.provisioning_state == "Failed"
        status = vm.instance_view.statuses[0]
        assert status.code == "ProvisioningState/failed/VMExtensionProvisioningError"
        assert "'AVD-Register'" in status.message and code in status.message
        view = _register_view(vm)
        assert view.statuses[0].code == "ProvisioningState/failed"
        stderr = {s.code: s.message for s in view.substatuses}["ComponentStatus/StdErr/succeeded"]
        assert code in stderr and "no valid fallback" in stderr


def test_a_missing_host_pool_registers_nothing() -> None:
    with dr_site() as (sim, clients, app_id):
        body = scaleset_spec.scale_set_body(
            spec(app_id, pool="NoSuchPool"), token="t", admin_password="Av1!pw", domain_password=None
        )
        clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update(
            "VMSSDR", "EntraDR", body
        ).result()
        [vm] = _instances(sim, clients)
        assert vm.provisioning_state == "Failed"
        assert "hostPoolDoesNotExist" in vm.instance_view.statuses[0].message


def test_a_reader_role_does_not_allow_the_registration_token() -> None:
    with dr_site(("credential",)) as (sim, clients, app_id):
        roleassignments.make_assignment(sim, AVDDR, JOIN_SP, READER, principal_type="ServicePrincipal")
        [vm] = _create(sim, clients, app_id, token="t")
        assert sim.session_hosts("AVDDR", "EntraAuthDR") == []
        assert "retrieveRegistrationToken/action" in vm.instance_view.statuses[0].message


def test_a_missing_link_with_the_pools_current_token_registers_through_the_fallback() -> None:
    with dr_site(("role",)) as (sim, clients, app_id):
        [vm] = _create(sim, clients, app_id, token=_token(clients))
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"]
        out = {s.code: s.message for s in _register_view(vm).substatuses}
        assert "fallback registration token" in out["ComponentStatus/StdOut/succeeded"]
        assert "AADSTS70021" in out["ComponentStatus/StdErr/succeeded"]


def test_a_scale_out_outside_the_bot_after_its_token_was_replaced_registers_through_the_chain() -> None:
    with dr_site() as (sim, clients, app_id):
        _create(sim, clients, app_id, token=_token(clients))
        _token(clients, hours=3)  # the bot's token in the model is no longer the pool's token
        # the portal / autoscale: capacity only, through the API, no new token in the model
        clients.compute(SUB).virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 2}}
        ).result()
        vms = _instances(sim, clients)
        assert len(vms) == 2 and all(vm.provisioning_state == "Succeeded" for vm in vms)
        assert [h.status for h in sim.session_hosts("AVDDR", "EntraAuthDR")] == ["Available"] * 2
