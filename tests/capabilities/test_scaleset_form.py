"""``/avd scaleset create``: the modal's validation (pure and over HTTP), defaults refined from the primary scale
set, dry run through the modal, preflight refusals, the submitter check, and the create body's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from azureops import scaleset_spec
from bot.runtime import BUSY_TEXT
from bot.slack import modals
from bot.storage import jobs
from bot.storage.records import dr_scale_set
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat
from tests.kit.images import set_image_security_type
from tests.kit.scale import (  # noqa: F401 - fixtures
    LEAD,
    OPS,
    SUB,
    approve,
    dr_azure_fixture,
    dr_bot_fixture,
    dr_chat_fixture,
    finished,
    form_values,
    job_ids,
    new_job,
    open_form,
    replicate,
    run_command,
    submit_form,
    wait,
    writes_since,
)

GOOD = {
    "name": "EntraDR",
    "gallery": "AVDGallery",
    "image": "Win11MultiS",
    "version": "2026.0522.1719",
    "vm_size": "Standard_D4s_v5",
    "vnet": "vnet-avd-uks",
    "subnet": "snet-avd",
    "capacity": "0",
    "join_type": "entra",
    "host_pool": "EntraAuthDR",
}


def state(values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "join_type":
            out[key] = {key: {"type": "radio_buttons", "selected_option": {"value": value}}}
        else:
            out[key] = {key: {"type": "plain_text_input", "value": value}}
    return out


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({}, set()),
        ({"version": "latest"}, {"version"}),
        ({"capacity": "-1"}, {"capacity"}),
        ({"capacity": "two"}, {"capacity"}),
        ({"vm_size": "D4s v5", "name": "-bad"}, {"vm_size", "name"}),
        ({"join_type": "domain"}, {"domain", "domain_user"}),
        (
            {"join_type": "domain", "domain": "corp.contoso.com", "domain_user": "svc-join@corp.contoso.com"},
            set(),
        ),
        ({"host_pool": "x"}, {"host_pool"}),
    ],
)
def test_parse_form(changes: dict[str, str], errors: set[str]) -> None:
    form, problems = modals.parse_form(state({**GOOD, **changes}))
    assert set(problems) == errors
    assert (form is None) == bool(errors)
    if form is not None:
        assert form.capacity == int(GOOD["capacity"]) and form.join_type == changes.get("join_type", "entra")


def spec(**changes: Any) -> scaleset_spec.ScaleSetSpec:
    base = dict(
        subscription=SUB,
        resource_group="VMSSDR",
        name="EntraDR",
        location="uksouth",
        image_id="/subscriptions/s/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/g/images/i/"
        "versions/1.0.0",
        vm_size="Standard_D4s_v5",
        subnet_id="/x/subnets/snet-avd",
        capacity=0,
        join_type="entra",
        identity_id="/id/AVDManage",
        host_pool="EntraAuthDR",
        host_pool_resource_group="AVDDR",
    )
    return scaleset_spec.ScaleSetSpec(**{**base, **changes})


def test_body_carries_the_token_only_in_protected_settings() -> None:
    body = scaleset_spec.scale_set_body(spec(), token="TOKEN-123", admin_password="pw", domain_password=None)
    props = body["properties"]
    assert props["orchestrationMode"] == "Flexible" and props["platformFaultDomainCount"] == 1
    assert body["sku"] == {"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 0}
    assert body["identity"] == {
        "type": "SystemAssigned, UserAssigned",
        "userAssignedIdentities": {"/id/AVDManage": {}},
    }
    vmp = props["virtualMachineProfile"]
    join, register = vmp["extensionProfile"]["extensions"]
    assert join["properties"]["type"] == "AADLoginForWindows"
    assert register["properties"]["type"] == "CustomScriptExtension"
    assert register["properties"]["settings"] == {"fileUris": [scaleset_spec.SCRIPT_URI]}
    without_secret = json.dumps(
        {**body, "properties": {**props, "virtualMachineProfile": {**vmp, "extensionProfile": {}}}}
    )
    assert "TOKEN-123" not in without_secret
    command = register["properties"]["protectedSettings"]["commandToExecute"]
    assert "-File register-session-host.ps1 -IdentityId '/id/AVDManage'" in command
    assert "-RegistrationToken 'TOKEN-123'" in command


def test_domain_join_body() -> None:
    body = scaleset_spec.scale_set_body(
        spec(join_type="domain", domain="corp.contoso.com", domain_user="svc"),
        token="T",
        admin_password="pw",
        domain_password="secret",
    )
    join, register = body["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert join["properties"]["type"] == "JsonADDomainExtension"
    assert join["properties"]["settings"]["Name"] == "corp.contoso.com"
    assert join["properties"]["protectedSettings"] == {"Password": "secret"}
    assert register["properties"]["provisionAfterExtensions"] == ["DomainJoin"]


def test_invalid_form_is_answered_with_errors_and_stays_open(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle
) -> None:
    view = open_form(dr_chat, slack_sim)
    resp = submit_form(dr_chat, view, version="latest", capacity="1001")
    assert resp.status == 200 and resp.is_json
    answer = resp.json()
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"version", "capacity"}
    assert dr_scale_set(dr_bot.runtime.store, "dr") is None


def test_a_submission_that_cannot_be_recorded_keeps_the_form_open_and_says_so(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process whose inbox row was not committed (the database down past the ack's bound) cannot take
    the submission: the modal stays open with what was typed and says why, instead of closing on nothing."""
    view = open_form(dr_chat, slack_sim)
    before = job_ids(dr_bot.runtime.store)
    monkeypatch.setattr(dr_bot.runtime, "defer", lambda kind, payload: False)
    resp = submit_form(dr_chat, view)
    assert resp.status == 200 and resp.is_json
    assert resp.json() == {"response_action": "errors", "errors": {"name": BUSY_TEXT}}
    monkeypatch.undo()
    assert job_ids(dr_bot.runtime.store) == before and dr_scale_set(dr_bot.runtime.store, "dr") is None


def test_defaults_follow_the_primary_scale_set(
    dr_chat: Chat, slack_sim: SlackSim, dr_azure: AzureSim
) -> None:
    primary = dr_azure.store.get(
        f"/subscriptions/{SUB}/resourceGroups/VMSS/providers/Microsoft.Compute/virtualMachineScaleSets/Entra"
    )
    assert primary is not None
    ref = primary["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
    ref["id"] = ref["id"].replace("2026.0522.1719", "2026.0601.0900")
    primary["sku"]["name"] = "Standard_D8s_v5"
    open_form(dr_chat, slack_sim)
    wait(lambda: slack_sim.calls_to("views.update"))
    values = form_values(slack_sim.views[-1]["view"])
    assert values["version"] == "2026.0601.0900" and values["vm_size"] == "Standard_D8s_v5"
    assert values["host_pool"] == "EntraAuthDR" and values["vnet"] == "vnet-avd-uks"


def test_dry_run_through_the_modal_previews_without_saving(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    replicate(dr_azure)
    run_command(dr_chat, dr_bot, "/avd identity create dr")
    view = open_form(dr_chat, slack_sim, "/avd scaleset create dr --dry-run")
    mark, before = len(dr_azure.journal), job_ids(dr_bot.runtime.store)
    submit_form(dr_chat, view, capacity="2")
    text = dr_chat.wait_for_ephemeral(OPS, contains="Dry run")["text"]
    assert "Create scale set EntraDR (Flexible, 2 x Standard_D4s_v5) in uksouth" in text
    assert (
        "Wait for 2 instance(s) of EntraDR provisioned and 2 session host(s) Available in EntraAuthDR" in text
    )
    assert "registration token fetched when this step runs" in text
    assert writes_since(dr_azure, mark) == [] and job_ids(dr_bot.runtime.store) == before
    assert dr_scale_set(dr_bot.runtime.store, "dr") is None


@pytest.mark.parametrize(
    ("setup", "changes", "expected"),
    [
        ("replica", {}, "create it with `/avd identity create dr`"),
        (
            "both",
            {"vm_size": "Standard_NV36ads_A10_v5"},
            "VM size Standard_NV36ads_A10_v5 is restricted in uksouth",
        ),
        ("both", {"vm_size": "Standard_Z9_v9"}, "VM size Standard_Z9_v9 is not offered in uksouth"),
        (
            "both",
            {"vm_size": "Standard_D4_v5"},
            "VM size Standard_D4_v5 cannot take the scale set's Premium_LRS (Premium SSD) OS disk",
        ),
        ("both", {"vm_size": "Standard_D4_v5"}, "supports Premium storage (for example Standard_D4as_v5"),
        ("both", {"subnet": "snet-missing"}, "snet-missing"),
        ("both", {"host_pool": "NoSuchPool"}, "Host Pool Does Not Exist"),
    ],
)
def test_preflight_refuses_before_anything_is_created(
    setup: str,
    changes: dict[str, str],
    expected: str,
    dr_chat: Chat,
    slack_sim: SlackSim,
    dr_bot: BotHandle,
    dr_azure: AzureSim,
) -> None:
    replicate(dr_azure)
    if setup == "both":
        run_command(dr_chat, dr_bot, "/avd identity create dr")
    view = open_form(dr_chat, slack_sim)
    mark, before = len(dr_azure.journal), job_ids(dr_bot.runtime.store)
    submit_form(dr_chat, view, **changes)
    dr_chat.wait_for_ephemeral(OPS, contains=expected)
    assert writes_since(dr_azure, mark) == [] and job_ids(dr_bot.runtime.store) == before


def test_someone_else_submitting_the_form_is_refused(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle
) -> None:
    view = open_form(dr_chat, slack_sim)
    before = job_ids(dr_bot.runtime.store)
    assert dr_chat.submit(form_values(view), user="U0GUEST", view=view).status == 200
    dr_chat.wait_for_ephemeral("U0GUEST", contains="is not an avd-ops operator")
    assert job_ids(dr_bot.runtime.store) == before and dr_scale_set(dr_bot.runtime.store, "dr") is None


def test_a_refused_form_changes_nothing_and_the_job_builds_the_approved_spec(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    """Issue 14: an approver's own form, refused as busy while an operator's job waits, used to overwrite the
    site's spec, so approving the operator's job built the approver's scale set."""
    store = dr_bot.runtime.store
    replicate(dr_azure)
    run_command(dr_chat, dr_bot, "/avd identity create dr")
    before = job_ids(store)
    submit_form(dr_chat, open_form(dr_chat, slack_sim), capacity="0")
    job = new_job(store, before)
    assert job["status"] == jobs.AWAITING and job["verb"] == "scaleset create"
    opened = len(slack_sim.calls_to("views.open"))
    assert dr_chat.slash("/avd scaleset create", user=LEAD).status == 200
    wait(lambda: len(slack_sim.calls_to("views.open")) > opened)
    theirs = dict(slack_sim.views[-1]["view"])
    assert dr_chat.submit(form_values(theirs, capacity="1"), user=LEAD, view=theirs).status == 200
    dr_chat.wait_for_ephemeral(LEAD, contains="busy:")
    assert job_ids(store) == before | {job["id"]}
    assert jobs.get_job(store, int(job["id"]))["plan_hash"] == job["plan_hash"]
    approve(dr_chat, store, int(job["id"]), LEAD)
    assert finished(store, int(job["id"]))["status"] == jobs.DONE
    vmss = dr_azure.scale_set("VMSSDR", "EntraDR")
    assert vmss is not None and vmss.capacity == 0  # the spec that was approved, not the refused one
    rows = list(store.db.query("select plan_hash, requested_by from scaleset_requests"))
    assert [r["requested_by"] for r in rows] == [OPS]  # the refused form left nothing behind


def test_a_trusted_launch_image_builds_a_trusted_launch_scale_set_through_the_form(
    dr_chat: Chat, slack_sim: SlackSim, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    """The image definition requires Trusted Launch: the approved job's scale set carries it (Compute refuses
    the scale set otherwise: ``tests/sim/test_azure_trusted_launch.py``)."""
    store = dr_bot.runtime.store
    set_image_security_type(dr_azure, "TrustedLaunch")
    replicate(dr_azure)
    run_command(dr_chat, dr_bot, "/avd identity create dr")
    before = job_ids(store)
    submit_form(dr_chat, open_form(dr_chat, slack_sim), capacity="0")
    job = new_job(store, before)
    approve(dr_chat, store, int(job["id"]), LEAD)
    assert finished(store, int(job["id"]))["status"] == jobs.DONE
    vmss = dr_azure.scale_set("VMSSDR", "EntraDR")
    assert vmss is not None
    assert vmss.virtual_machine_profile["securityProfile"] == {
        "securityType": "TrustedLaunch",
        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
    }
