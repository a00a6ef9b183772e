"""``/avd replicas`` scenarios over signed HTTP: the real bot, the Slack double and the ARM simulator."""

from __future__ import annotations

import copy
from typing import Any

from bot.storage import jobs
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat
from tests.kit.replicas import (  # noqa: F401 - fixtures
    IMAGE,
    LEAD,
    OPS,
    bot_fixture,
    chat_fixture,
    fast_azure_fixture,
    finished,
    job_ids,
    new_job,
    replica_state,
    replicate_directly,
    version_patches,
    wait,
)

WEST_EUROPE = {
    "name": "West Europe",
    "regionalReplicaCount": 1,
    "storageAccountType": "Standard_LRS",
    "excludeFromLatest": False,
}


def seed_targets(sim: AzureSim) -> list[dict[str, Any]]:
    view = sim.image_version(*IMAGE)
    assert view is not None
    return copy.deepcopy(view["properties"]["publishingProfile"]["targetRegions"])


def card_texts(slack: SlackSim, channel: str, ts: str) -> list[str]:
    """Every version of a card (history, then current) flattened to text."""
    message = slack.message(channel, ts)
    assert message is not None
    versions = [*message["history"], {"blocks": message["blocks"]}]
    return [str(v["blocks"]) for v in versions]


def test_add_follows_progress_to_completed_and_keeps_existing_region(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim, slack_sim: SlackSim
) -> None:
    store = bot.runtime.store
    before = job_ids(store)
    assert chat.slash("/avd replicas add UK South", user=OPS).status == 200
    job = new_job(store, before)
    done = finished(store, int(job["id"]))
    assert done["status"] == jobs.DONE, done.get("error")
    assert replica_state(fast_azure, "UK South") == "Completed"
    patches = version_patches(fast_azure)
    assert len(patches) == 1
    assert patches[0]["properties"]["publishingProfile"]["targetRegions"] == [
        WEST_EUROPE,
        {"name": "uksouth", "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"},
    ]
    card = wait(lambda: (jobs.get_job(store, int(job["id"])) or {}).get("card_ts"))
    texts = wait(lambda: (t := card_texts(slack_sim, "C0INCIDENT", card)) and "done" in t[-1] and t)
    assert any("running" in t and "%" in t for t in texts), texts
    steps = jobs.get_steps(store, int(job["id"]))
    assert [s["status"] for s in steps] == ["done", "done"]
    assert "uksouth: Completed" in steps[1]["output"]


def test_add_again_writes_nothing(chat: Chat, bot: BotHandle, fast_azure: AzureSim) -> None:
    replicate_directly(fast_azure)
    writes = len(version_patches(fast_azure))
    before = job_ids(bot.runtime.store)
    chat.slash("/avd replicas add uksouth", user=OPS)
    done = finished(bot.runtime.store, int(new_job(bot.runtime.store, before)["id"]))
    assert done["status"] == jobs.DONE
    assert len(version_patches(fast_azure)) == writes
    outputs = [s["output"] for s in jobs.get_steps(bot.runtime.store, int(done["id"]))]
    assert outputs[0] == "already done"


def test_add_with_count_and_storage_keeps_custom_existing_regions(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim
) -> None:
    replicate_directly(fast_azure, "northeurope")
    existing = seed_targets(fast_azure)
    before = job_ids(bot.runtime.store)
    chat.slash("/avd replicas add uksouth --count 2 --storage Standard_ZRS", user=OPS)
    assert finished(bot.runtime.store, int(new_job(bot.runtime.store, before)["id"]))["status"] == jobs.DONE
    sent = version_patches(fast_azure)[-1]["properties"]["publishingProfile"]["targetRegions"]
    assert sent[:-1] == existing
    assert sent[-1] == {"name": "uksouth", "regionalReplicaCount": 2, "storageAccountType": "Standard_ZRS"}


def test_remove_while_locked_is_explained_and_changes_nothing(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim
) -> None:
    replicate_directly(fast_azure)
    writes = len(fast_azure.writes())
    before = job_ids(bot.runtime.store)
    chat.slash("/avd replicas remove uksouth", user=OPS)
    said = chat.wait_for_ephemeral(OPS, contains="Lock deleting Replicated Locations")
    assert "Win11MultiS/2026.0522.1719" in said["text"] and "nothing was changed" in said["text"]
    assert chat.find_button("Allow deletion, then remove", OPS, "C0INCIDENT")
    assert len(fast_azure.writes()) == writes
    assert job_ids(bot.runtime.store) == before
    assert replica_state(fast_azure, "UK South") == "Completed"


def test_unlock_plan_needs_its_own_approval_then_removes(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim
) -> None:
    replicate_directly(fast_azure)
    kept = [t for t in seed_targets(fast_azure) if t["name"] == "West Europe"]
    store = bot.runtime.store
    chat.slash("/avd replicas remove uksouth", user=OPS)
    chat.wait_for_ephemeral(OPS, contains="Lock deleting Replicated Locations")
    before = job_ids(store)
    chat.click("Allow deletion, then remove", user=OPS)
    job = new_job(store, before)
    assert job["status"] == jobs.AWAITING and job["kind"] == "replicas unlock-remove"
    wait(lambda: (jobs.get_job(store, int(job["id"])) or {}).get("card_ts"))
    chat.click("Approve", user=OPS)  # two-person rule: the requester cannot approve
    assert (jobs.get_job(store, int(job["id"])) or {}).get("status") == jobs.AWAITING
    chat.click("Approve", user=LEAD)
    done = finished(store, int(job["id"]))
    assert done["status"] == jobs.DONE, done.get("error")
    assert replica_state(fast_azure, "UK South") is None
    view = fast_azure.image_version(*IMAGE)
    assert (
        view is not None
        and view["properties"]["safetyProfile"]["allowDeletionOfReplicatedLocations"] is False
    )
    bodies = version_patches(fast_azure)[1:]  # after the setup's add
    assert [b["properties"].get("safetyProfile") for b in bodies] == [
        {"allowDeletionOfReplicatedLocations": True},
        None,
        {"allowDeletionOfReplicatedLocations": False},
    ]
    assert bodies[1]["properties"]["publishingProfile"]["targetRegions"] == kept


def test_a_failed_removal_still_turns_the_deletion_lock_back_on(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim
) -> None:
    """The unlock plan's re-lock is an always-step: a removal that fails leaves the safety switch on."""
    replicate_directly(fast_azure)
    store = bot.runtime.store
    # the first PATCH (lock off) passes; the second (the removal) ends Failed
    fast_azure.faults.fail_lro("PATCH", "versions/2026.0522.1719", code="InternalExecutionError", skip=1)
    chat.slash("/avd replicas remove uksouth", user=OPS)
    chat.wait_for_ephemeral(OPS, contains="Lock deleting Replicated Locations")
    before = job_ids(store)
    chat.click("Allow deletion, then remove", user=OPS)
    job = new_job(store, before)
    wait(lambda: (jobs.get_job(store, int(job["id"])) or {}).get("card_ts"))
    chat.click("Approve", user=LEAD)
    done = finished(store, int(job["id"]))
    assert done["status"] == jobs.FAILED and "InternalExecutionError" in (done.get("error") or "")
    steps = {s["name"]: s["status"] for s in jobs.get_steps(store, int(job["id"]))}
    assert steps == {"allow-deletion": "done", "remove-region": "failed", "restore-lock": "done"}
    view = fast_azure.image_version(*IMAGE)
    assert (
        view is not None
        and view["properties"]["safetyProfile"]["allowDeletionOfReplicatedLocations"] is False
    )


def test_replication_failure_fails_the_job_with_azure_code_and_next_step(
    chat: Chat, bot: BotHandle, fast_azure: AzureSim, slack_sim: SlackSim
) -> None:
    fast_azure.faults.fail_lro(
        "PATCH",
        "versions/2026.0522.1719",
        code="ReplicationQuotaExceeded",
        message="Replica quota for Standard_LRS in uksouth exceeded.",
    )
    before = job_ids(bot.runtime.store)
    chat.slash("/avd replicas add uksouth", user=OPS)
    done = finished(bot.runtime.store, int(new_job(bot.runtime.store, before)["id"]))
    assert done["status"] == jobs.FAILED
    detail = jobs.error_detail(done)
    assert detail["code"] == "ReplicationQuotaExceeded"
    assert "Replica quota" in detail["message"] and "uksouth" in detail["message"]
    assert "/avd replicas remove uksouth" in detail["next_step"]
    reply = wait(
        lambda: [m for m in slack_sim.messages("C0INCIDENT") if "ReplicationQuotaExceeded" in m["text"]]
    )
    assert "Next:" in reply[0]["text"]


def test_list_shows_every_region_and_the_lock(chat: Chat, fast_azure: AzureSim) -> None:
    chat.slash("/avd replicas", user=OPS)
    said = chat.wait_for_ephemeral(OPS, contains="Replicas of Win11MultiS/2026.0522.1719")
    blocks = str(said.get("blocks"))
    assert "West Europe" in blocks and "home region" in blocks and "Standard_LRS" in blocks
    assert "'Lock deleting Replicated Locations' is on" in blocks


def test_removing_the_home_region_is_refused(chat: Chat, bot: BotHandle, fast_azure: AzureSim) -> None:
    writes = len(fast_azure.writes())
    chat.slash("/avd replicas remove westeurope", user=OPS)
    said = chat.wait_for_ephemeral(OPS, contains="home region")
    assert "cannot be removed" in said["text"]
    assert len(fast_azure.writes()) == writes


def test_dry_run_add_previews_without_writing(chat: Chat, fast_azure: AzureSim) -> None:
    chat.slash("/avd replicas add uksouth --dry-run", user=OPS)
    said = chat.wait_for_ephemeral(OPS, contains="Dry run")
    assert "Add uksouth to the target regions" in said["text"] and "Follow replication" in said["text"]
    assert fast_azure.writes() == []
