"""Snapshot replication scenarios over signed Slack requests, the real bot and the ARM simulator."""

from __future__ import annotations

import pytest

from bot.storage import jobs
from sim.azure import AzureSim
from tests.kit.snapshots import (  # noqa: F401 - arm_fixture, bot_fixture: the fixtures arm and bot
    REQUESTER,
    SUB1,
    SUB2,
    Bot,
    arm_fixture,
    bot_fixture,
    names,
    snapshot,
)

TAGGED = {"snap-gold-os-20260522", "snap-gold-data-20260522", "snap-gold-os-20260515"}


@pytest.mark.parametrize(
    ("profile", "sub", "rg", "route"),
    [
        ("gold-to-dr", SUB2, "SNAPDR", "CopyStart"),
        ("same-region", SUB2, "SNAPWEU", "Copy"),
        ("same-sub", SUB1, "SNAPUKS", "CopyStart"),
    ],
)
def test_sync_copies_tagged_snapshots_in_every_mode(
    bot: Bot, arm: AzureSim, profile: str, sub: str, rg: str, route: str
) -> None:
    job_id = bot.request(f"/avd snapshots sync {profile}")
    card = bot.chat.last_message()
    assert card is not None and "Copy snap-gold-os-20260522" in str(card["blocks"])
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    assert names(arm, sub, rg) == TAGGED  # Other=Replicate and untagged snapshots stay behind
    replica = snapshot(arm, sub, rg, "snap-gold-os-20260522")
    source = snapshot(arm, SUB1, "GOLD-VDA", "snap-gold-os-20260522")
    assert replica.tags["avdops-source-id"].lower() == source["id"].lower()
    assert replica.tags["SnapReplicate"] == "Replicate"
    assert replica.creation_data["createOption"] == route
    assert (replica.os_type, replica.hyper_v_generation, replica["sku"]["name"]) == (
        "Windows",
        "V2",
        "Standard_LRS",
    )
    summary = jobs.get_steps(bot.store, job_id)[-1]
    assert summary["output"].startswith("copied 3, skipped 0, deleted 0, failed 0")


def test_second_sync_skips_by_provenance_and_dry_run_changes_nothing(bot: Bot, arm: AzureSim) -> None:
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    writes = len(arm.writes())
    assert bot.chat.slash("/avd snapshots sync gold-to-dr --dry-run").status == 200
    reply = bot.chat.wait_for_ephemeral(REQUESTER, "Dry run")
    assert "Keep snap-gold-os-20260522: already replicated" in reply["text"]
    assert len(arm.writes()) == writes


def test_mode_that_does_not_match_azure_is_refused(bot: Bot, arm: AzureSim) -> None:
    assert bot.chat.slash("/avd snapshots sync wrong-mode").status == 200
    reply = bot.chat.wait_for_ephemeral(REQUESTER, "mode")
    assert "westeurope" in reply["text"] and "DifferentSubDifferentRegion" in reply["text"]
    assert arm.writes() == []


def test_copy_one_full_snapshot_through_private_staging(
    bot: Bot, arm: AzureSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    job_id = bot.request("/avd snapshots copy snap-gold-manual gold-to-dr")
    bot.wait(job_id, jobs.DONE)
    assert names(arm, SUB2, "SNAPDR") == {"snap-gold-manual"}
    replica = snapshot(arm, SUB2, "SNAPDR", "snap-gold-manual")
    assert replica.creation_data["createOption"] == "Import" and replica.incremental is False
    account_puts = [
        e
        for e in arm.writes("Microsoft.Storage/storageAccounts")
        if e.method == "PUT" and "/blobServices/" not in e.path and "/roleAssignments/" not in e.path
    ]
    assert len(account_puts) == 1
    # the bot gives itself Storage Blob Data Contributor on the account before copying, and removes it after
    roles = [e for e in arm.writes("/roleAssignments/")]
    assert [e.method for e in roles] == ["PUT", "DELETE"]
    assert roles[0].body["properties"]["roleDefinitionId"].endswith("ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    assert roles[0].path.lower().startswith(account_puts[0].path.lower())
    order = [(e.method, e.path.startswith("/blob/") or "/roleAssignments/" in e.path) for e in arm.journal]
    first_role = next(i for i, e in enumerate(arm.journal) if "/roleAssignments/" in e.path)
    first_copy = next(
        i for i, e in enumerate(arm.journal) if e.method == "PUT" and e.path.startswith("/blob/")
    )
    assert first_role < first_copy and arm.journal[first_copy].status == 202, order
    body = account_puts[0].body
    assert body["properties"]["allowBlobPublicAccess"] is False
    assert body["tags"]["avdops-managed-by"] == "avd-ops" and body["location"] == "uksouth"
    arm.tick()  # deletes whose operations ended are applied, as before any request
    assert not arm.store.of_type("Microsoft.Storage/storageAccounts")  # staging removed
    assert snapshot(arm, SUB1, "GOLD-VDA", "snap-gold-manual").disk_state == "Unattached"  # SAS revoked
    assert [e.method for e in arm.writes("snap-gold-manual/endGetAccess")] == ["POST"]
    dump = "\n".join(
        str(r) for table in ("jobs", "steps", "audit") for r in bot.store.db.query(f"select * from {table}")
    )
    assert "sig=" not in dump and "sig=" not in caplog.text


def test_sync_deletes_a_replica_whose_source_is_gone_after_approval(bot: Bot, arm: AzureSim) -> None:
    first = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(first)
    bot.wait(first, jobs.DONE)
    foreign = f"/subscriptions/{SUB2}/resourceGroups/SNAPDR/providers/Microsoft.Compute/snapshots/hand-made"
    from sim.azure.providers import disks

    arm.store.put(
        disks.make_snapshot(
            arm,
            foreign,
            "uksouth",
            8,
            incremental=False,
            creation={"createOption": "Empty"},
            tags={"SnapReplicate": "Replicate"},
        )
    )
    arm.store.delete(
        f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/"
        "snap-gold-data-20260522"
    )
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    card = bot.chat.last_message()
    assert card is not None and "Delete snap-gold-data-20260522" in str(card["blocks"])
    assert "hand-made" not in str(card["blocks"])
    assert not arm.writes("SNAPDR/providers/Microsoft.Compute/snapshots/snap-gold-data")[1:]  # only the PUT
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    assert names(arm, SUB2, "SNAPDR") == (TAGGED - {"snap-gold-data-20260522"}) | {"hand-made"}
    assert jobs.get_steps(bot.store, job_id)[-1]["output"].startswith(
        "copied 0, skipped 2, deleted 1, failed 0"
    )


def test_failed_source_listing_deletes_nothing(bot: Bot, arm: AzureSim) -> None:
    first = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(first)
    bot.wait(first, jobs.DONE)
    arm.store.delete(
        f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/"
        "snap-gold-data-20260522"
    )
    arm.faults.fail("GET", r"GOLD-VDA/providers/Microsoft\.Compute/snapshots$", status=500, count=None)
    assert bot.chat.slash("/avd snapshots sync gold-to-dr").status == 200
    reply = bot.chat.wait_for_ephemeral(REQUESTER, "internal error")
    assert "GOLD-VDA" in reply["text"]
    assert [e for e in arm.writes() if e.method == "DELETE"] == []
    assert names(arm, SUB2, "SNAPDR") == TAGGED


def test_empty_source_deletes_nothing_without_allow_empty_source(bot: Bot, arm: AzureSim) -> None:
    first = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(first)
    bot.wait(first, jobs.DONE)
    for name in (
        "snap-gold-os-20260522",
        "snap-gold-data-20260522",
        "snap-gold-os-20260515",
        "snap-gold-scratch",
        "snap-gold-manual",
    ):
        arm.store.delete(
            f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/{name}"
        )
    assert bot.chat.slash("/avd snapshots sync gold-to-dr --dry-run").status == 200
    reply = bot.chat.wait_for_ephemeral(REQUESTER, "Dry run")
    assert "nothing will be deleted" in reply["text"] and "Delete" not in reply["text"]


def snapdr_puts(arm: AzureSim) -> list[tuple[str, int]]:
    return [
        (e.path.rsplit("/", 1)[-1], e.status)
        for e in arm.writes("/snapshots/")
        if e.method == "PUT" and "/resourcegroups/snapdr/" in e.path.lower()
    ]


def test_sync_copies_a_disks_snapshots_one_at_a_time_in_creation_order(bot: Bot, arm: AzureSim) -> None:
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    assert snapdr_puts(arm) == [  # one family: none refused (409 Conflict) for overlapping or out of order
        ("snap-gold-os-20260515", 202),
        ("snap-gold-data-20260522", 202),
        ("snap-gold-os-20260522", 202),
    ]


def test_sync_skips_a_snapshot_older_than_a_replica_of_its_disk(bot: Bot, arm: AzureSim) -> None:
    job_id = bot.request("/avd snapshots copy snap-gold-os-20260522 gold-to-dr")
    bot.wait(job_id, jobs.DONE)
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    card = bot.chat.last_message()
    assert card is not None and "Skip snap-gold-os-20260515: snap-gold-os-20260515 is older than" in str(
        card["blocks"]
    )
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    assert snapdr_puts(arm) == [("snap-gold-os-20260522", 202)]
    summary = jobs.get_steps(bot.store, job_id)[-1]
    assert "not copied: snap-gold-data-20260522 is older than snap-gold-os-20260522" in summary["description"]
