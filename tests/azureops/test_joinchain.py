"""The product's side of the DR identity chain: the scale set body carries every link's parameters, a scale-out
renews the fallback token without losing them, and ``azureops.joinchain`` judges each link (pure) and reads
each link from Azure (the simulator) with the fix for a missing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from azureops import identities, joinchain, scaleset_spec, scalesets
from sim.azure.providers import graph, roleassignments
from tests.kit.azure import SUB
from tests.kit.joinchain import (
    AVDDR,
    JOIN_APP,
    JOIN_SP,
    UAMI,
    create_scale_set,
    dr_site,
    instances,
    issue_token,
    spec,
)

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
POOL_ID = f"{AVDDR}/providers/Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"
APP = identities.JoinApp(JOIN_APP, "AVD-Join", "00000000-0000-0000-0000-0000000000aa")
CHAIN = joinchain.SiteChain("dr", SUB, "VMSSDR", "EntraDR", "AVDManage", "AVDDR", "EntraAuthDR")


def test_the_body_runs_the_registration_script_after_the_join_with_every_link_named() -> None:
    body = scaleset_spec.scale_set_body(spec("app-1"), token="TOK", admin_password="pw", domain_password=None)
    join, register = body["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
    props = register["properties"]
    assert (props["publisher"], props["type"], props["typeHandlerVersion"]) == (
        "Microsoft.Compute",
        "CustomScriptExtension",
        "1.10",
    )
    assert props["provisionAfterExtensions"] == [join["name"]]
    assert props["settings"] == {"fileUris": [scaleset_spec.SCRIPT_URI]}  # no secret in public settings
    command = props["protectedSettings"]["commandToExecute"]
    assert command == (
        "powershell -ExecutionPolicy Unrestricted -File register-session-host.ps1 "
        f"-IdentityId '{UAMI}' -AppId 'app-1' -HostPoolId '{POOL_ID}' -RegistrationToken 'TOK'"
    )
    assert body["identity"]["userAssignedIdentities"] == {UAMI: {}}
    assert body["tags"][scaleset_spec.TAG_POOL_ID] == POOL_ID
    assert body["tags"][scaleset_spec.TAG_JOIN_APP] == "app-1"


def test_a_scale_out_renews_the_fallback_token_and_keeps_the_chains_parameters() -> None:
    with dr_site() as (_, clients, app_id):
        create_scale_set(clients, spec(app_id, capacity=0), token="OLD")
        state = scalesets.get_scale_set(clients, SUB, "VMSSDR", "EntraDR")
        assert state is not None and state.registers_through_chain and state.registers_with_token
        [_, register] = scalesets.refreshed_extensions(state, "NEW", None)
        assert register["properties"]["protectedSettings"][
            "commandToExecute"
        ] == scaleset_spec.register_command(UAMI, app_id, POOL_ID, "NEW")


def _vmss(identity: bool = True, script: bool = True, app_tag: bool = True) -> dict[str, Any]:
    body = scaleset_spec.scale_set_body(
        spec("app-1" if app_tag else ""), token="T", admin_password="pw", domain_password=None
    )
    if not identity:
        body["identity"] = {"type": "SystemAssigned"}
    if not script:
        body["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"].pop()
    return body


def _pool(hours: float | None) -> dict[str, Any]:
    info = {} if hours is None else {"expirationTime": (NOW + timedelta(hours=hours)).isoformat()}
    return {"properties": {"registrationInfo": info}}


IDENTITY_CASES = [
    (None, "todo", "/avd scaleset create dr"),
    (_vmss(), "ok", ""),
    (_vmss(identity=False), "missing", "az vmss identity assign --resource-group VMSSDR --name EntraDR"),
    (_vmss(script=False), "missing", "rebuild EntraDR"),
    (_vmss(app_tag=False), "missing", "rebuild EntraDR"),
]


@pytest.mark.parametrize(("vmss", "status", "fix"), IDENTITY_CASES)
def test_identity_link(vmss: Any, status: str, fix: str) -> None:
    link = joinchain.identity_link(vmss, UAMI, "dr", "EntraDR")
    assert link.status == status and fix in link.fix


def test_credential_link_needs_issuer_subject_and_audience() -> None:
    identity = {"principal_id": "p-dr"}
    good = {
        "name": "AVDManage-uksouth",
        "issuer": APP.issuer,
        "subject": "p-dr",
        "audiences": [identities.AUDIENCE],
    }
    assert joinchain.credential_link(identity, [good], APP, "dr", "AVDManage").status == "ok"
    for bad in (
        {**good, "subject": "p-primary"},
        {**good, "issuer": "https://sts.windows.net/x/"},
        {**good, "audiences": []},
    ):
        link = joinchain.credential_link(identity, [bad], APP, "dr", "AVDManage")
        assert link.status == "missing" and link.fix == "`/avd identity create dr`"
    assert joinchain.credential_link(None, [], APP, "dr", "AVDManage").status == "todo"


ROLE_CASES = [
    (joinchain.JoinRole("app-1", "sp-1", (joinchain.HOST_POOL_CONTRIBUTOR,)), "ok", ""),
    (joinchain.JoinRole("app-1", "sp-1", ("b24988ac-6180-42a0-ab88-20f7382dd24c",)), "ok", ""),
    (
        joinchain.JoinRole("app-1", "sp-1", ("acdd72a7-3385-48ef-bd42-f606fba81ae7",)),
        "missing",
        "az role assignment create --assignee-object-id sp-1 --assignee-principal-type ServicePrincipal "
        f'--role "Desktop Virtualization Host Pool Contributor" --scope {AVDDR}',
    ),
    (joinchain.JoinRole("app-1", "", ()), "missing", "az ad sp create --id app-1"),
]


@pytest.mark.parametrize(("role", "status", "fix"), ROLE_CASES)
def test_role_link_needs_a_role_with_retrieve_registration_token(
    role: joinchain.JoinRole, status: str, fix: str
) -> None:
    link = joinchain.role_link(role, "AVD-Join", SUB, "AVDDR")
    assert link.status == status and fix in link.fix


@pytest.mark.parametrize(("hours", "status"), [(2, "ok"), (-1, "missing"), (None, "missing")])
def test_fallback_link_is_the_pools_token_validity(hours: float | None, status: str) -> None:
    assert joinchain.fallback_link(_pool(hours), "EntraAuthDR", NOW, "dr").status == status


def test_read_links_finds_every_link_holding() -> None:
    with dr_site() as (sim, clients, app_id):
        graph.grant_app_role(sim, "Application.Read.All")  # to read AVD-Join's service principal
        create_scale_set(clients, spec(app_id, capacity=0), token=issue_token(clients))
        links = joinchain.read_links(clients, CHAIN, APP, datetime.now(UTC))
        assert [(link.name, link.status) for link in links] == [
            ("identity", "ok"),
            ("credential", "ok"),
            ("role", "ok"),
            ("fallback", "ok"),
        ]
        assert "Desktop Virtualization Host Pool Contributor on AVDDR" in links[2].text


@pytest.mark.parametrize(("links", "broken"), [(("role",), "credential"), (("credential",), "role")])
def test_read_links_names_the_missing_link_the_simulator_refuses(links: tuple[str, ...], broken: str) -> None:
    """The link the product reports missing is the one the simulator's instance view names."""
    with dr_site(links) as (sim, clients, app_id):
        graph.grant_app_role(sim, "Application.Read.All")
        create_scale_set(clients, spec(app_id), token="stale")
        [vm] = instances(sim, clients)
        found = {link.name: link for link in joinchain.read_links(clients, CHAIN, APP, datetime.now(UTC))}
        assert found[broken].status == "missing" and found[broken].fix
        assert all(link.status == "ok" for name, link in found.items() if name not in (broken, "fallback"))
        stderr = (
            next(e for e in vm.instance_view.extensions if e.name == "AVD-Register").substatuses[1].message
        )
        assert {"credential": "AADSTS70021", "role": "AuthorizationFailed"}[broken] in stderr


def test_without_a_graph_read_role_the_role_link_is_unchecked_and_names_the_manual_check() -> None:
    with dr_site() as (sim, clients, app_id):
        create_scale_set(clients, spec(app_id, capacity=0), token="t")
        graph.revoke_app_role(sim, "Application.ReadWrite.OwnedBy")  # OwnedBy alone reads service principals
        role = next(link for link in joinchain.read_links(clients, CHAIN, APP, NOW) if link.name == "role")
        assert role.status == "unknown" and "Authorization_RequestDenied" in role.text
        assert f"az role assignment list --assignee <AVD-Join's application id> --scope {AVDDR}" in role.fix


def test_read_role_finds_the_role_inherited_from_the_subscription() -> None:
    with dr_site(("credential",)) as (sim, clients, _):
        graph.grant_app_role(sim, "Application.Read.All")
        roleassignments.make_assignment(
            sim,
            f"/subscriptions/{SUB}",
            JOIN_SP,
            "082f0a83-3be5-4ba1-904c-961cca79b387",
            principal_type="ServicePrincipal",
        )
        role = joinchain.read_role(clients, APP, SUB, "AVDDR")
        assert role.principal_id == JOIN_SP and role.allowing == ["Desktop Virtualization Contributor"]
