"""``/avd scale``: a missing scale set explained, scale-in waits for an approver and names the sessions it
affects, a site selects its remembered DR scale set, and a policy without "scale in" is refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from avdcore.errors import NotAllowed
from bot.capabilities import scale
from bot.storage import jobs
from commands import ops
from sim.azure import AzureSim
from sim.azure.providers import sessions
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat
from tests.kit.scale import (  # noqa: F401 - fixtures
    LEAD,
    OPS,
    approve,
    dr_azure_fixture,
    dr_bot_fixture,
    dr_chat_fixture,
    finished,
    job_ids,
    new_job,
    open_form,
    replicate,
    run_command,
    submit_form,
    wait,
)


def build_dr_site(chat: Chat, bot: BotHandle, sim: AzureSim, slack: SlackSim) -> None:
    """The walkthrough up to an empty EntraDR (identity, replica, scale set through the modal)."""
    assert run_command(chat, bot, "/avd identity create dr")["status"] == jobs.DONE
    replicate(sim)
    view = open_form(chat, slack)
    before = job_ids(bot.runtime.store)
    submit_form(chat, view)
    job = new_job(bot.runtime.store, before)
    approve(chat, bot.runtime.store, int(job["id"]))
    assert finished(bot.runtime.store, int(job["id"]))["status"] == jobs.DONE


def test_scaling_a_missing_scale_set_says_how_to_create_it(dr_chat: Chat, dr_bot: BotHandle) -> None:
    before = job_ids(dr_bot.runtime.store)
    assert dr_chat.slash("/avd scale EntraDR 2", user=OPS).status == 200
    text = dr_chat.wait_for_ephemeral(OPS, contains="EntraDR")["text"]
    assert "scale set EntraDR does not exist in VMSSDR" in text and "/avd scaleset create dr" in text
    assert job_ids(dr_bot.runtime.store) == before


def test_scale_in_waits_for_an_approver_and_lists_affected_sessions(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim, slack_sim: SlackSim
) -> None:
    build_dr_site(dr_chat, dr_bot, dr_azure, slack_sim)
    assert run_command(dr_chat, dr_bot, "/avd scale dr 2", approver=None)["status"] == jobs.DONE
    hosts = dr_azure.session_hosts("AVDDR", "EntraAuthDR")
    assert len(hosts) == 2
    vms = sorted(
        dr_azure.store.of_type(
            "Microsoft.Compute/virtualMachines",
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/VMSSDR",
        ),
        key=lambda v: v["_sim"]["seq"],
    )
    newest = vms[-1]
    host = next(
        h
        for h in dr_azure.store.of_type("Microsoft.DesktopVirtualization/hostPools/sessionhosts")
        if h["properties"]["resourceId"].lower() == newest["id"].lower()
    )
    sessions.make_user_session(dr_azure, host, 1, "dave@contoso.com")

    store = dr_bot.runtime.store
    before = job_ids(store)
    assert dr_chat.slash("/avd scale EntraDR 1", user=OPS).status == 200
    job = new_job(store, before)
    assert job["status"] == jobs.AWAITING and job["verb"] == "scale in"
    step = jobs.get_steps(store, int(job["id"]))[0]
    assert f"{newest['name']} (1 session(s): dave@contoso.com)" in step["description"]
    assert "1 session(s) would be signed out" in step["description"]
    assert step["description"].startswith("Scale EntraDR in from 2 to 1: removes ")
    approve(dr_chat, store, int(job["id"]), LEAD)
    assert finished(store, int(job["id"]))["status"] == jobs.DONE
    assert dr_azure.scale_set("VMSSDR", "EntraDR").capacity == 1  # type: ignore[union-attr]
    left = dr_azure.session_hosts("AVDDR", "EntraAuthDR")
    assert [h.status for h in left] == ["Available"]
    assert left[0]["properties"]["resourceId"].lower() == vms[0]["id"].lower()


def test_scale_in_is_refused_when_the_policy_would_not_ask_an_approver(
    dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    runtime = dr_bot.runtime
    cfg = runtime.settings.config
    lax = dataclasses.replace(
        cfg,
        policy=dataclasses.replace(
            cfg.policy, require_approval=tuple(v for v in cfg.policy.require_approval if v != "scale in")
        ),
    )
    fake = SimpleNamespace(
        settings=dataclasses.replace(runtime.settings, config=lax),
        store=runtime.store,
        azure=runtime.azure,
        clock=runtime.clock,
    )
    with pytest.raises(NotAllowed, match='does not list "scale in"'):
        scale.build_plan(fake, ops.Scale(target="Entra", count=1), datetime.now(UTC))  # type: ignore[arg-type]
    plan = scale.build_plan(fake, ops.Scale(target="Entra", count=3), datetime.now(UTC))  # type: ignore[arg-type]
    assert plan.policy_verb == "scale out"
    assert [s.name for s in plan.steps] == ["set-capacity", "wait-session-hosts"]
    assert plan.steps[1].description.endswith("Available in EntraAuth")
