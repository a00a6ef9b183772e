"""``/avd doctor`` checks that the DR desktop's users may sign in to the Entra-joined DR hosts: Virtual Machine
User Login (or Administrator Login) on the DR scale set's resource group (Microsoft Learn, "Sign in to a Windows
virtual machine in Azure by using Microsoft Entra ID"; AVD "Microsoft Entra joined session hosts")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azureops import assignments, doctor
from azureops.clients import AzureClients
from sim.azure import AzureSim
from sim.azure.providers import roleassignments
from tests.capabilities.test_doctor_chain import doctor_text
from tests.kit import Chat
from tests.kit.azure import SUB, running
from tests.kit.scale import dr_azure_fixture, dr_bot_fixture, dr_chat_fixture  # noqa: F401 - fixtures

RG = f"/subscriptions/{SUB}/resourceGroups"
DR_DAG = f"{RG}/AVDDR/providers/Microsoft.DesktopVirtualization/applicationGroups/EntraAuthDR-DAG"
DAG = f"{RG}/AVD/providers/Microsoft.DesktopVirtualization/applicationGroups/EntraAuth-DAG"
USERS_GROUP, USER = "6c2d8f1e-0b1a-4c7e-9a55-3f0e8d2b7a10", "9e4b1c3d-7f2a-4d8e-b6c1-0a5f3e9d2c84"
VMSSDR = f"{RG}/VMSSDR"
WHAT = "VM sign-in (dr): users of the DR desktop on VMSSDR"
FIX = (
    f'az role assignment create --assignee-object-id {USERS_GROUP} --role "Virtual Machine User Login" '
    f"--scope {VMSSDR}"
)


def test_doctor_names_users_who_cannot_sign_in_then_is_green(dr_chat: Chat, dr_azure: AzureSim) -> None:
    text = doctor_text(dr_chat)
    assert (
        f":large_orange_circle: {WHAT}: no users hold Desktop Virtualization User on EntraAuthDR-DAG or "
        in text
    )
    roleassignments.make_assignment(
        dr_azure, DAG, USERS_GROUP, assignments.DESKTOP_USER, principal_type="Group"
    )
    text = doctor_text(dr_chat)
    assert f":x: {WHAT}: 1 of 1 principal(s) cannot sign in to Entra-joined hosts" in text
    assert FIX in text
    roleassignments.make_assignment(
        dr_azure, VMSSDR, USERS_GROUP, assignments.VM_USER_LOGIN, principal_type="Group"
    )
    assert f":white_check_mark: {WHAT}: 1 principal(s) hold Virtual Machine User or Administrator Login" in (
        doctor_text(dr_chat)
    )


@pytest.fixture(name="clients")
def clients_fixture() -> Iterator[tuple[AzureSim, AzureClients]]:
    with running() as (sim, clients):
        yield sim, clients


VM_GROUP = assignments.ScopeRef(SUB, "VMSSDR", "VMSSDR")
GROUPS = [
    assignments.AppGroupRef(SUB, "AVDDR", "EntraAuthDR-DAG"),
    assignments.AppGroupRef(SUB, "AVD", "EntraAuth-DAG"),
]
# (assignments made: (scope, principal, role)), configured principals, expected status, principals missing
CASES = [
    ("no users anywhere", [], (), "todo", ()),
    ("DR group's users first", [(DR_DAG, USER, "dvu"), (DAG, USERS_GROUP, "dvu")], (), "missing", (USER,)),
    (
        "the primary's users when the DR group has none",
        [(DAG, USERS_GROUP, "dvu")],
        (),
        "missing",
        (USERS_GROUP,),
    ),
    ("configured post-step principals", [], (USER,), "missing", (USER,)),
    ("user login on the group", [(DAG, USER, "dvu"), (VMSSDR, USER, "user")], (), "ok", ()),
    (
        "admin login inherited from the subscription",
        [(DAG, USER, "dvu"), (f"/subscriptions/{SUB}", USER, "admin")],
        (),
        "ok",
        (),
    ),
    (
        "login on the primary's group does not count",
        [(DAG, USER, "dvu"), (f"{RG}/VMSS", USER, "user")],
        (),
        "missing",
        (USER,),
    ),
    (
        "Desktop Virtualization User on the hosts' group is not a login role",
        [(DAG, USER, "dvu"), (VMSSDR, USER, "dvu")],
        (),
        "missing",
        (USER,),
    ),
]
ROLES = {
    "dvu": assignments.DESKTOP_USER,
    "user": assignments.VM_USER_LOGIN,
    "admin": assignments.VM_ADMIN_LOGIN,
}


@pytest.mark.parametrize(
    ("made", "configured", "status", "missing"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_login_finding_case_table(
    clients: tuple[AzureSim, AzureClients],
    made: list[tuple[str, str, str]],
    configured: tuple[str, ...],
    status: str,
    missing: tuple[str, ...],
) -> None:
    sim, azure = clients
    for scope, principal, role in made:
        roleassignments.make_assignment(sim, scope, principal, ROLES[role])
    found = doctor.login_finding(azure, "dr", VM_GROUP, GROUPS, configured)
    assert found.status == status
    for p in missing:
        assert p in found.detail and f"--assignee-object-id {p} " in found.next_step
    assert found.next_step.count("az role assignment create") == len(missing)


def test_unreadable_assignments_leave_the_finding_unchecked(clients: tuple[AzureSim, AzureClients]) -> None:
    sim, azure = clients
    sim.set_permissions(["Microsoft.Compute/*/read"])
    found = doctor.login_finding(azure, "dr", VM_GROUP, GROUPS)
    assert found.status == "unchecked" and "AuthorizationFailed" in found.detail
