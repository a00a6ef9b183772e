"""The seed walkthrough end to end over signed HTTP: identity, scale set through the modal (blocked until the
replica is Completed), scale out to 2 session hosts; every command a second time writes nothing; the host
pool's registration token never reaches Slack, the logs or the database."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.storage import jobs
from bot.storage.records import dr_scale_set
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat
from tests.kit.scale import (  # noqa: F401 - fixtures
    JOIN_APP,
    OPS,
    VERSION_ID,
    approve,
    dr_azure_fixture,
    dr_bot_fixture,
    dr_chat_fixture,
    finished,
    job_ids,
    open_form,
    replicate,
    run_command,
    submit_form,
    wait,
    writes_since,
)


def issued_tokens(sim: AzureSim) -> set[str]:
    """Every registration token the pool issued: the current one and those sent in scale-set bodies."""
    found = set()
    for entry in sim.journal:
        for ext in (
            (
                (((entry.body or {}) if isinstance(entry.body, dict) else {}).get("properties") or {}).get(
                    "virtualMachineProfile"
                )
                or {}
            )
            .get("extensionProfile", {})
            .get("extensions", [])
        ):
            protected = (ext.get("properties") or {}).get("protectedSettings") or {}
            token = protected.get("properties", {})
            if token.get("registrationInfoToken"):
                found.add(token["registrationInfoToken"])
            command = str(protected.get("commandToExecute") or "")
            if "-RegistrationToken '" in command:
                found.add(command.split("-RegistrationToken '", 1)[1].split("'", 1)[0])
    pool = sim.store.get(
        f"/subscriptions/{VERSION_ID.split('/')[2]}/resourceGroups/AVDDR/providers/"
        "Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"
    )
    reg = ((pool or {}).get("_sim") or {}).get("registration") or {}
    if reg.get("token"):
        found.add(reg["token"])
    return found


def slack_text(slack: SlackSim) -> str:
    return json.dumps([[c.method, c.args, c.response] for c in slack.calls], default=str)


def ephemeral_with(chat: Chat, text: str) -> dict[str, Any]:
    return chat.wait_for_ephemeral(OPS, contains=text, timeout=10.0)


def test_secondary_site_walkthrough(
    dr_chat: Chat,
    dr_bot: BotHandle,
    dr_azure: AzureSim,
    slack_sim: SlackSim,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = dr_bot.runtime.store

    # 1. /avd identity create dr: AVDManage in VMSSDR (uksouth), AVD-Join gets its second credential.
    job = run_command(dr_chat, dr_bot, "/avd identity create dr")
    assert job["status"] == jobs.DONE, job
    uami = dr_azure.resource(
        f"/subscriptions/{VERSION_ID.split('/')[2]}/resourceGroups/VMSSDR/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage"
    )
    assert uami is not None and uami.location == "uksouth"
    creds = dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]
    assert len(creds) == 2
    assert creds[1]["subject"] == uami["properties"]["principalId"]
    assert creds[1]["issuer"] == "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0"
    assert creds[1]["audiences"] == ["api://AzureADTokenExchange"]

    # 2. /avd scaleset create: the modal opens right after the ack; blocked while the replica is missing.
    view = open_form(dr_chat, slack_sim)
    assert view["callback_id"] == "avd_scaleset_create"
    assert json.loads(view["private_metadata"])["c"] == "C0INCIDENT"
    mark, before = len(dr_azure.journal), job_ids(store)
    assert submit_form(dr_chat, view).status == 200
    refusal = ephemeral_with(dr_chat, "is not available in uksouth region")
    assert f"The gallery image {VERSION_ID} is not available in uksouth region." in refusal["text"]
    assert "/avd replicas add uksouth" in refusal["text"]
    assert job_ids(store) == before
    assert not [w for w in writes_since(dr_azure, mark) if "virtualMachineScaleSets" in w.path]
    assert dr_azure.scale_set("VMSSDR", "EntraDR") is None

    # 3. The replica completes; the same form now plans, waits for an approver and builds EntraDR with 0 instances.
    replicate(dr_azure)
    view = open_form(dr_chat, slack_sim)
    assert submit_form(dr_chat, view).status == 200
    job = wait(lambda: [j for j in jobs.recent_jobs(store) if j["id"] not in before])[0]
    assert job["status"] == jobs.AWAITING and job["verb"] == "scaleset create"
    approve(dr_chat, store, int(job["id"]))
    job = finished(store, int(job["id"]))
    assert job["status"] == jobs.DONE, job
    vmss = dr_azure.scale_set("VMSSDR", "EntraDR")
    assert vmss is not None and vmss.capacity == 0 and vmss.location == "uksouth"
    assert vmss["properties"]["orchestrationMode"] == "Flexible"
    assert vmss["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["id"] == VERSION_ID
    assert list(vmss["identity"]["userAssignedIdentities"]) == [uami["id"]]
    register = vmss["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"][1]["properties"]
    assert register["type"] == "CustomScriptExtension"
    assert vmss["tags"]["avd-ops-host-pool-id"].endswith(
        "/resourceGroups/AVDDR/providers/Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"
    )
    # the registration script presents AVD-Join's application id (read from Graph by the bot)
    join_app = next(o for o in dr_azure.graph.values() if o.get("displayName") == "AVD-Join" and "appId" in o)
    assert vmss["tags"]["avd-ops-join-app-id"] == join_app["appId"]
    remembered = dr_scale_set(store, "dr")
    assert remembered is not None and remembered.created and remembered.name == "EntraDR"

    # 4. /avd scale EntraDR 2: scale out without approval, 2 session hosts Available in EntraAuthDR.
    job = run_command(dr_chat, dr_bot, "/avd scale EntraDR 2", approver=None)
    assert job["status"] == jobs.DONE, job
    assert dr_azure.scale_set("VMSSDR", "EntraDR").capacity == 2  # type: ignore[union-attr]
    hosts = dr_azure.session_hosts("AVDDR", "EntraAuthDR")
    assert [h.status for h in hosts] == ["Available", "Available"]

    # 5. Each command again: the jobs finish with every step "already done" and Azure sees no write.
    mark = len(dr_azure.journal)
    assert run_command(dr_chat, dr_bot, "/avd identity create dr")["status"] == jobs.DONE
    view = open_form(dr_chat, slack_sim)
    before = job_ids(store)
    submit_form(dr_chat, view)
    job = wait(lambda: [j for j in jobs.recent_jobs(store) if j["id"] not in before])[0]
    approve(dr_chat, store, int(job["id"]))
    assert finished(store, int(job["id"]))["status"] == jobs.DONE
    assert run_command(dr_chat, dr_bot, "/avd scale EntraDR 2", approver=None)["status"] == jobs.DONE
    assert writes_since(dr_azure, mark) == []
    assert len(dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]) == 2

    # 6. The registration token never left Azure's side: not in Slack, logs or the SQLite files.
    tokens = issued_tokens(dr_azure)
    assert tokens
    slack, out = slack_text(slack_sim), capfd.readouterr()
    logs = caplog.text + out.out + out.err
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("avd.db*"))
    for token in tokens:
        assert token not in slack
        assert token not in logs
        assert token.encode() not in db_bytes
