"""A snapshot sync is a graph: one chain per incremental family in creation order, families side by side,
deletions after their family's copies, restore-locks after everything (and at any end), the summary last;
each copy says how it ended in the card's thread."""

from __future__ import annotations

import json

from azureops.locks import Lock
from bot.storage import jobs
from bot.storage.records import LiftedLockRecord
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit.snapshots import (  # noqa: F401 - arm_fixture, bot_fixture: the fixtures arm and bot
    SUB1,
    SUB2,
    Bot,
    arm_fixture,
    bot_fixture,
    source,
)

CHAIN = ["copy:snap-gold-os-20260515", "copy:snap-gold-data-20260522", "copy:snap-gold-os-20260522"]


def needs(bot: Bot, job_id: int) -> dict[str, list[str]]:
    return {s["name"]: json.loads(s["needs"]) for s in jobs.get_steps(bot.store, job_id)}


def test_families_are_chains_side_by_side_and_the_summary_comes_last(
    bot: Bot, arm: AzureSim, slack_sim: SlackSim
) -> None:
    source(arm, "snap-gold-manual")["tags"] = {
        "SnapReplicate": "Replicate"
    }  # a full snapshot: its own family
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    graph = needs(bot, job_id)
    assert graph[CHAIN[0]] == [] and graph["copy:snap-gold-manual"] == []  # both families start at once
    assert graph[CHAIN[1]] == [CHAIN[0]] and graph[CHAIN[2]] == [CHAIN[1]]  # creation order, one at a time
    assert sorted(graph["restore-locks"]) == sorted([CHAIN[2], "copy:snap-gold-manual"])
    assert graph["summary"] == ["restore-locks"]
    card = bot.chat.last_message()
    assert card is not None and "· after" in str(card["blocks"])
    bot.approve(job_id)
    job = bot.wait(job_id, jobs.DONE)
    assert jobs.get_steps(bot.store, job_id)[-1]["output"].startswith(
        "copied 4, skipped 0, deleted 0, failed 0"
    )

    def copy_replies() -> list[str] | None:
        thread = slack_sim.thread(job["channel"], job["card_ts"])
        said = [m["text"] for m in thread if "Copy snap-gold-" in m["text"] and " - done: " in m["text"]]
        return said if len(said) >= 4 else None

    replies = bot.chat.wait_for(copy_replies, timeout=20)
    assert len(replies) == 4  # each copy's end in the thread, with its route and size


def test_a_deletion_waits_for_its_familys_copies(bot: Bot, arm: AzureSim) -> None:
    first = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(first)
    bot.wait(first, jobs.DONE)
    arm.store.delete(
        f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/snap-gold-data-20260522"
    )
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    graph = needs(bot, job_id)
    chain = [n for n in graph if n.startswith("copy:")]
    assert graph["delete:snap-gold-data-20260522"] == [chain[-1]]  # the same disk's copies first
    assert sorted(graph["restore-locks"]) == sorted([chain[-1], "delete:snap-gold-data-20260522"])
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)


def test_a_lock_an_interrupted_run_left_lifted_stays_lifted_for_the_copies_then_comes_back(
    bot: Bot, arm: AzureSim
) -> None:
    """Restoring a leftover ReadOnly group lock before the copies would stop them: it stays lifted (the
    preview says so) and restore-locks puts it back after them."""
    rg2 = f"/subscriptions/{SUB2}/resourceGroups/SNAPDR"
    LiftedLockRecord(bot.store).remember(Lock(rg2, "dr-freeze", "ReadOnly", "CAB-42"))  # lifted, then a crash
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    steps = {s["name"]: s for s in jobs.get_steps(bot.store, job_id)}
    assert not any(n.startswith("restore-lock:") for n in steps)
    assert (
        "'dr-freeze' on SNAPDR lifted by an interrupted run stays lifted"
        in steps["lift-locks"]["description"]
    )
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    lock = arm.store.get(f"{rg2}/providers/Microsoft.Authorization/locks/dr-freeze")
    assert lock is not None and lock["properties"] == {"level": "ReadOnly", "notes": "CAB-42"}
    assert LiftedLockRecord(bot.store).leftover(SUB2, "SNAPDR") == []


def test_a_retry_lifts_the_locks_the_failed_run_put_back(bot: Bot, arm: AzureSim) -> None:
    """restore-locks put the group's ReadOnly lock back when the first run failed; the retry's lift-locks row is
    done, so its first copy lifts the lock again, and restore-locks puts it back once more at the end."""
    rg2 = f"/subscriptions/{SUB2}/resourceGroups/SNAPDR"
    freeze = f"{rg2}/providers/Microsoft.Authorization/locks/dr-freeze"
    arm.store.put(
        {
            "id": freeze,
            "type": "Microsoft.Authorization/locks",
            "name": "dr-freeze",
            "properties": {"level": "ReadOnly", "notes": "CAB-42"},
        }
    )
    source(arm, "snap-gold-manual")["tags"] = {"SnapReplicate": "Replicate"}
    arm.faults.fail_lro("PUT", "SNAPDR/providers/Microsoft.Compute/snapshots/snap-gold-manual$", code="Boom")
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(job_id)
    bot.wait(job_id, jobs.FAILED)
    lock = arm.store.get(freeze)
    assert lock is not None and lock["properties"] == {"level": "ReadOnly", "notes": "CAB-42"}
    assert bot.chat.slash(f"/avd job {job_id} retry", user="U0OPS1").status == 200
    bot.wait(job_id, jobs.DONE)
    lock = arm.store.get(freeze)
    assert lock is not None and lock["properties"] == {"level": "ReadOnly", "notes": "CAB-42"}
    assert [e.method for e in arm.writes("locks/dr-freeze")] == ["DELETE", "PUT", "DELETE", "PUT"]
    assert LiftedLockRecord(bot.store).leftover(SUB2, "SNAPDR") == []
