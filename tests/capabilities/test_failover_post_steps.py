"""Failover post-steps: ``[[failover.post_steps]]`` kind ``assign_app_group``.

The config is validated (one problem per bad entry); the simulator's role-assignment endpoints answer like ARM;
``azureops.assignments`` lists before it writes and treats an existing (principal, role) as done; a failover
assigns "Desktop Virtualization User" on EntraAuthDR-DAG after the DR hosts are Available and failback removes
exactly the assignments the failover made."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.rest import HttpRequest

from azureops import assignments
from azureops.clients import AzureClients
from bot.config.siteconfig import PostStep, parse_site_config
from sim.azure import AzureSim, seed
from sim.azure.providers import roleassignments
from tests.kit.failover import (  # noqa: F401 - fixture
    DAG_ID,
    GROUP,
    SUB,
    USER,
    Harness,
    failover_config,
    harness_factory,
    make_sim,
)

OPS, LEAD, LEAD2 = "U0OPS1", "U0LEAD1", "U0LEAD2"
DVU = assignments.DESKTOP_USER
ROLE_ID = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{DVU}"
DAG = assignments.AppGroupRef(SUB, "AVDDR", "EntraAuthDR-DAG")
OTHER = "0f0e0d0c-0b0a-4909-8807-060504030201"
ASSIGN = f'[[failover.post_steps]]\nkind = "assign_app_group"\nprincipals = ["{GROUP}"]'


# ---- config validation ---------------------------------------------------------------------------------


def config_with(post: str, *, dr_app_group: bool = True) -> tuple[Any, list[str]]:
    import tomllib

    text = failover_config().replace("\n[snapshot_profiles.", f"\n{post}\n[snapshot_profiles.", 1)
    if not dr_app_group:
        text = text.replace('application_group = "EntraAuthDR-DAG"\n', "")
    return parse_site_config(tomllib.loads(text))


@pytest.mark.parametrize(
    ("post", "problem"),
    [
        (
            f'[[failover.post_steps]]\nkind = "assign_users"\nprincipals = ["{GROUP}"]',
            "#1: unknown kind 'assign_users'; the kinds are assign_app_group.",
        ),
        (
            f'[[failover.post_steps]]\nprincipals = ["{GROUP}"]',
            "#1: no kind; the kinds are assign_app_group.",
        ),
        ('[[failover.post_steps]]\nkind = "assign_app_group"', "#1 (assign_app_group) has no principals"),
        ('[[failover.post_steps]]\nkind = "assign_app_group"\nprincipals = []', "has no principals"),
        (
            '[[failover.post_steps]]\nkind = "assign_app_group"\nprincipals = ["alice@contoso.com"]',
            "alice@contoso.com not an Entra object id (a GUID)",
        ),
        (f'{ASSIGN}\nrole = "Owner"', "#1 (assign_app_group) has unknown keys role."),
        ('[failover.post_steps]\nkind = "assign_app_group"', "post_steps must be an array of tables"),
    ],
)
def test_bad_post_steps_give_one_clear_problem_each(post: str, problem: str) -> None:
    config, problems = config_with(post)
    assert len(problems) == 1 and problem in problems[0], problems
    assert config.failover.post_steps == ()


def test_assign_app_group_needs_the_dr_application_group() -> None:
    _, problems = config_with(ASSIGN, dr_app_group=False)
    assert problems == [
        "config: [sites.dr] has no application_group: the post-step assign_app_group assigns users to it."
    ]


def test_valid_post_steps_merge_their_principals() -> None:
    post = (
        f'[[failover.post_steps]]\nkind = "assign_app_group"\nprincipals = ["{GROUP.upper()}", "{USER}"]\n'
        f'[[failover.post_steps]]\nkind = "assign_app_group"\nprincipals = ["{GROUP}"]\n'
    )
    config, problems = config_with(post)
    assert problems == []
    assert config.failover.post_steps == (
        PostStep("assign_app_group", (GROUP, USER)),
        PostStep("assign_app_group", (GROUP,)),
    )
    assert config.failover.app_group_principals == (GROUP, USER)


# ---- the simulator's endpoints and azureops.assignments ---------------------------------------------------


@pytest.fixture
def arm() -> Iterator[tuple[AzureSim, AzureClients]]:
    sim = make_sim()
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.05, retry_total=0)
    try:
        yield sim, clients
    finally:
        clients.close()
        sim.stop()


def send(
    clients: AzureClients, method: str, path: str, body: dict[str, Any] | None = None, **params: str
) -> tuple[int, Any]:
    request = HttpRequest(method, path, params={"api-version": "2022-04-01", **params}, json=body)
    response = clients.resources(SUB).send_request(request)
    return response.status_code, response.json() if response.content else None


def body(principal: str, role: str = ROLE_ID) -> dict[str, Any]:
    return {"properties": {"roleDefinitionId": role, "principalId": principal}}


@pytest.mark.parametrize(
    ("name", "payload", "status", "code"),
    [
        ("not-a-guid", body(GROUP), 400, "InvalidRoleAssignmentId"),
        ("11111111-1111-4111-8111-111111111111", body("alice"), 400, "InvalidPrincipalId"),
        (
            "11111111-1111-4111-8111-111111111111",
            body(GROUP, ROLE_ID[:-4] + "ffff"),
            400,
            "RoleDefinitionDoesNotExist",
        ),
        (
            "22222222-2222-4222-8222-222222222222",
            body(GROUP),
            409,
            "RoleAssignmentExists",
        ),  # same grant, other name
        ("33333333-3333-4333-8333-333333333333", body(OTHER), 400, "RoleAssignmentUpdateNotPermitted"),
    ],
)
def test_sim_refuses_bad_or_duplicate_role_assignments(
    arm: tuple[AzureSim, AzureClients], name: str, payload: dict[str, Any], status: int, code: str
) -> None:
    sim, clients = arm
    roleassignments.make_assignment(sim, DAG_ID, GROUP, DVU, name="33333333-3333-4333-8333-333333333333")
    answer = send(
        clients, "PUT", f"{DAG_ID}/providers/Microsoft.Authorization/roleAssignments/{name}", payload
    )
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)


def test_sim_role_assignment_lifecycle_and_filters(arm: tuple[AzureSim, AzureClients]) -> None:
    sim, clients = arm
    base = f"{DAG_ID}/providers/Microsoft.Authorization/roleAssignments"
    name = "44444444-4444-4444-8444-444444444444"
    status, made = send(clients, "PUT", f"{base}/{name}", body(USER))
    assert status == 201 and made["properties"]["scope"] == DAG_ID and made["name"] == name
    assert send(clients, "PUT", f"{base}/{name}", body(USER))[0] == 201  # an identical PUT is idempotent
    rg = f"/subscriptions/{SUB}/resourceGroups/AVDDR"
    roleassignments.make_assignment(sim, rg, OTHER, roleassignments.role_guid(ROLE_ID))  # inherited

    def listed(path: str, **q: str) -> list[str]:
        return sorted(d["properties"]["principalId"] for d in send(clients, "GET", path, **q)[1]["value"])

    join_sp = seed.JOIN_SP  # the seed's AVD-Join: Host Pool Contributor on AVDDR, inherited too
    assert listed(base) == sorted([USER, OTHER, join_sp])
    assert listed(
        f"{rg}/providers/Microsoft.Authorization/roleAssignments", **{"$filter": "atScope()"}
    ) == sorted([OTHER, join_sp])
    assert listed(base, **{"$filter": f"principalId eq '{USER}'"}) == [USER]
    assert send(clients, "GET", f"{base}/{name}")[1]["properties"]["principalId"] == USER
    assert send(clients, "DELETE", f"{base}/{name}")[0] == 200
    assert send(clients, "DELETE", f"{base}/{name}")[0] == 204
    assert send(clients, "GET", f"{base}/{name}")[1]["error"]["code"] == "RoleAssignmentNotFound"
    missing = (
        f"{rg}/providers/Microsoft.DesktopVirtualization/applicationGroups/Nope/providers/"
        "Microsoft.Authorization/roleAssignments"
    )
    assert send(clients, "GET", missing)[1]["error"]["code"] == "ResourceNotFound"


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def save_token(self, token: str) -> None:
        raise AssertionError("no LRO here")

    def progress(self, percent: float | None, text: str = "") -> None:
        return None

    def note(self, text: str) -> None:
        self.lines.append(text)


def test_assign_lists_first_and_unassign_removes_only_its_own(arm: tuple[AzureSim, AzureClients]) -> None:
    sim, clients = arm
    roleassignments.make_assignment(sim, DAG_ID, USER, DVU)  # someone gave USER access before the failover
    step = assignments.assign_step(
        clients, DAG, [GROUP, USER], name="assign", description=f"{assignments.MARKER} primary -> dr"
    )
    ctx = Recorder()
    assert step.check(ctx) is False
    assert (
        step.apply(ctx) == "1 assignment(s) made on EntraAuthDR-DAG; 1 principal(s) already had Desktop "
        "Virtualization User"
    )
    assert ctx.lines == [f"assigned Desktop Virtualization User to {GROUP}"]
    assert step.check(ctx) is True and step.apply(ctx).startswith("0 assignment(s) made")
    puts = sim.writes("roleassignments")
    assert [e.method for e in puts] == ["PUT"]
    assert puts[0].path.endswith(assignments.assignment_name(DAG_ID, GROUP, DVU))
    # the same grant again: under the same (deterministic) name Azure answers 201; under another name it
    # answers 409 RoleAssignmentExists, which counts as done
    assert assignments.assign(clients, DAG, GROUP, DVU, "again") is True
    roleassignments.make_assignment(sim, DAG_ID, OTHER, DVU)
    assert assignments.assign(clients, DAG, OTHER, DVU, "dup") is False

    undo = assignments.unassign_step(clients, DAG, name="unassign")
    assert (
        undo.check(ctx) is False
        and undo.apply(ctx) == "1 assignment(s) the failover made removed from EntraAuthDR-DAG"
    )
    assert undo.check(ctx) is True
    left = sorted(d["properties"]["principalId"] for d in roleassignments.assignments(sim, DAG_ID))
    assert left == sorted([USER, OTHER])


# ---- end to end -----------------------------------------------------------------------------------------


def approve(h: Harness, job_id: int, user: str) -> None:
    h.chat.wait_for(lambda: h.job(job_id).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=user).status == 200
    h.chat.wait_for(lambda: h.job(job_id)["status"] != "awaiting_approval", timeout=15)


def test_failover_assigns_the_dr_app_group_and_failback_removes_only_that(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(principals=(GROUP, USER)))
    roleassignments.make_assignment(h.sim, DAG_ID, USER, DVU, description="given by the AVD team")
    h.chat.slash("/avd failover plan dr", user=OPS)
    shown = h.chat.wait_for(
        lambda: [r for r in h.slack.calls_to("response_url") if "Preflight" in str(r)], 15
    )
    assert "Give 2 user(s)/group(s) Desktop Virtualization User on EntraAuthDR-DAG" in str(shown[-1])
    assert "DR application group: EntraAuthDR-DAG exists" in str(shown[-1])

    h.chat.slash("/avd failover start dr", user=OPS)
    approve(h, 1, LEAD)
    h.wait_job(1)
    names = [s["name"] for s in h.steps(1)]
    assert names[-3:] == ["dr-hosts-available", "dr-assign-app-group", "summary"]
    made = {
        d["properties"]["principalId"]: d["properties"]["description"]
        for d in roleassignments.assignments(h.sim, DAG_ID)
    }
    assert made == {
        USER: "given by the AVD team",
        GROUP: "avd-ops failover primary -> dr: access to the DR desktops",
    }

    h.chat.slash("/avd failback start dr", user=OPS)
    approve(h, 2, LEAD2)
    h.wait_job(2)
    step = {s["name"]: s for s in h.steps(2)}["dr-unassign-app-group"]
    assert step["output"].endswith("1 assignment(s) the failover made removed from EntraAuthDR-DAG")
    assert [d["properties"]["principalId"] for d in roleassignments.assignments(h.sim, DAG_ID)] == [USER]
    deletes = [e for e in h.sim.writes("roleassignments") if e.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].path.endswith(assignments.assignment_name(DAG_ID, GROUP, DVU))


def test_rollback_of_a_cancelled_failover_also_removes_the_assignments() -> None:
    from azureops import failover as fo
    from azureops.dr_capacity import ScaleSetRef
    from azureops.sessions import HostPoolRef

    def site(name: str, rg: str, pool: str, vmss_rg: str, vmss: str, dag: str = "") -> fo.SiteSpec:
        return fo.SiteSpec(
            name, "uksouth", HostPoolRef(SUB, rg, pool), ScaleSetRef(SUB, vmss_rg, vmss), app_group=dag
        )

    primary = site("primary", "AVD", "EntraAuth", "VMSS", "Entra")
    dr = site("dr", "AVDDR", "EntraAuthDR", "VMSSDR", "EntraDR", "EntraAuthDR-DAG")
    clients = AzureClients("https://127.0.0.1:9")  # building a plan makes no request
    plan = fo.rollback_plan(clients, primary, dr, fo.Options(app_group_principals=(GROUP,)))
    assert [s.name for s in plan.steps] == [
        "primary-undrain",
        "primary-autoscale-on",
        "dr-unassign-app-group",
        "dr-sessions-gone",
        "dr-scale-in",
    ]
    assert plan.step("dr-unassign-app-group").resource_id == DAG_ID
    assert "dr-unassign-app-group" not in [
        s.name for s in fo.rollback_plan(clients, primary, dr, fo.Options()).steps
    ]
    clients.close()


VM_USER_LOGIN = "fb879df8-f326-4884-b1cf-06f3ad86be52"


def test_the_dr_preflight_warns_when_assigned_users_cannot_sign_in_to_entra_joined_hosts(
    arm: tuple[AzureSim, AzureClients],
) -> None:
    """The principals the failover assigns need Virtual Machine User Login on the DR scale set's resource group
    to sign in to Entra-joined hosts: the DR preflight says so (a warning with the fix: DR still comes up)."""
    from azureops import failover as fo
    from azureops.dr_capacity import ScaleSetRef
    from azureops.failover_checks import dr_checks
    from azureops.sessions import HostPoolRef

    sim, clients = arm

    def dr(entra: bool) -> fo.SiteSpec:
        return fo.SiteSpec(
            "dr",
            "uksouth",
            HostPoolRef(SUB, "AVDDR", "EntraAuthDR"),
            ScaleSetRef(SUB, "VMSSDR", "EntraDR"),
            app_group="EntraAuthDR-DAG",
            entra_joined=entra,
        )

    opt = fo.Options(app_group_principals=(GROUP,))
    (warned,) = [c for c in dr_checks(clients, dr(True), opt) if c.name == "VM sign-in"]
    assert warned.ok is None  # a warning, not a failure
    assert GROUP in warned.detail and '--role "Virtual Machine User Login"' in warned.detail
    assert "VM sign-in" not in [c.name for c in dr_checks(clients, dr(False), opt)]  # domain-joined: no check
    assert "VM sign-in" not in [c.name for c in dr_checks(clients, dr(True), fo.Options())]  # nobody assigned
    roleassignments.make_assignment(
        sim, f"/subscriptions/{SUB}/resourceGroups/VMSSDR", GROUP, VM_USER_LOGIN, principal_type="Group"
    )
    (fine,) = [c for c in dr_checks(clients, dr(True), opt) if c.name == "VM sign-in"]
    assert fine.ok is True
