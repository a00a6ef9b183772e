"""Locks, a copy failing mid-way and its retry, schedules across a restart, and the command line."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from azureops.clients import AzureClients
from azureops.locks import Lock
from bot.capabilities import snapshots as cap
from bot.config.settings import load_settings
from bot.snapshot_cli import EXIT_APPROVAL, EXIT_DONE, EXIT_FAILED, run_sync
from bot.storage import jobs
from bot.storage.records import LiftedLockRecord
from sim.azure import AzureSim
from tests.kit.bots import bot_env
from tests.kit.snapshots import (  # noqa: F401 - arm_fixture, bot_fixture: the fixtures arm and bot
    REQUESTER,
    SUB1,
    SUB2,
    Bot,
    arm_fixture,
    bot_fixture,
    config_text,
    names,
    source,
)

RG2 = f"/subscriptions/{SUB2}/resourceGroups/SNAPDR"
LOCK = "/providers/Microsoft.Authorization/locks/"
SRC = f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/"


def put_lock(arm: AzureSim, scope: str, name: str, level: str, notes: str) -> None:
    arm.store.put(
        {
            "id": f"{scope}{LOCK}{name}",
            "type": "Microsoft.Authorization/locks",
            "name": name,
            "properties": {"level": level, "notes": notes},
        }
    )


def test_readonly_lock_is_reported_lifted_and_restored_exactly(bot: Bot, arm: AzureSim) -> None:
    put_lock(arm, RG2, "dr-freeze", "ReadOnly", "change board CAB-42")
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    card = bot.chat.last_message()
    assert card is not None and "ReadOnly lock 'dr-freeze' on SNAPDR" in str(card["blocks"])
    assert names(arm, SUB2, "SNAPDR") == set()
    bot.approve(job_id)
    bot.wait(job_id, jobs.DONE)
    assert len(names(arm, SUB2, "SNAPDR")) == 3
    lock = arm.store.get(f"{RG2}{LOCK}dr-freeze")
    assert lock is not None and lock["properties"] == {"level": "ReadOnly", "notes": "change board CAB-42"}
    assert [e.method for e in arm.writes("locks/dr-freeze")] == ["DELETE", "PUT"]
    assert (
        bot.store.db.execute("select count(*) from meta where key like 'snapshots:lifted:%'").fetchone()[0]
        == 0
    )


def test_a_lock_lifted_by_a_run_that_died_is_restored_when_the_job_resumes(bot: Bot, arm: AzureSim) -> None:
    """The run lifted 'dr-freeze' (recorded first) and was killed; the resumed job's rebuilt plan no longer sees
    the lock, but its stored always-step restores every recorded lock before the job can end done."""
    put_lock(arm, RG2, "dr-freeze", "ReadOnly", "change board CAB-42")
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    assert "restore-locks" in [s["name"] for s in jobs.get_steps(bot.store, job_id)]
    # the state a SIGKILL leaves: the lock recorded as lifted and gone from Azure, the job still to run
    LiftedLockRecord(bot.store).remember(Lock(RG2, "dr-freeze", "ReadOnly", "change board CAB-42"))
    arm.store.delete(f"{RG2}{LOCK}dr-freeze")
    jobs.update_job(
        bot.store, job_id, started_at=jobs.iso(datetime.now(UTC))
    )  # a resumed job: no re-plan check
    bot.approve(job_id)
    job = bot.wait(job_id, jobs.DONE)
    assert job["status"] == jobs.DONE
    back = arm.store.get(f"{RG2}{LOCK}dr-freeze")
    assert back is not None and back["properties"] == {"level": "ReadOnly", "notes": "change board CAB-42"}
    assert LiftedLockRecord(bot.store).leftover(SUB2, "SNAPDR") == []
    restore = next(s for s in jobs.get_steps(bot.store, job_id) if s["name"] == "restore-locks")
    assert restore["status"] == jobs.STEP_DONE and "dr-freeze" in (restore["output"] or "")


def test_lock_is_restored_even_when_the_action_fails(bot: Bot, arm: AzureSim) -> None:
    first = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(first)
    bot.wait(first, jobs.DONE)
    target = f"{RG2}/providers/Microsoft.Compute/snapshots/snap-gold-data-20260522"
    put_lock(arm, target, "keep", "CanNotDelete", "")
    arm.store.delete(SRC + "snap-gold-data-20260522")
    arm.faults.fail("DELETE", "snapshots/snap-gold-data-20260522$", status=400, code="OperationNotAllowed")
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    assert "lifts and restores CanNotDelete lock 'keep'" in str(bot.chat.last_message())
    bot.approve(job_id)
    job = bot.wait(job_id, jobs.FAILED)
    assert "OperationNotAllowed" in (job["error_json"] or "")
    lock = arm.store.get(f"{target}{LOCK}keep")
    assert lock is not None and lock["properties"]["level"] == "CanNotDelete"
    assert "snap-gold-data-20260522" in names(arm, SUB2, "SNAPDR")


def test_copy_failing_midway_fails_the_job_removes_staging_and_retry_copies_the_rest_once(
    bot: Bot, arm: AzureSim
) -> None:
    """The full snapshot's family fails; the other family's chain finishes the copy it is in and starts no
    new one (the engine's rule for a failed branch); the retry copies what is left, each snapshot once."""
    source(arm, "snap-gold-manual")["tags"] = {"SnapReplicate": "Replicate"}  # a full snapshot joins
    arm.faults.fail_lro(
        "PUT",
        "SNAPDR/providers/Microsoft.Compute/snapshots/snap-gold-manual$",
        code="InternalDiskManagementError",
        message="import failed half way",
    )
    job_id = bot.request("/avd snapshots sync gold-to-dr")
    bot.approve(job_id)
    job = bot.wait(job_id, jobs.FAILED)
    assert "import failed half way" in job["error"] and "1 failed" in job["error"]
    steps = {s["name"]: s["status"] for s in jobs.get_steps(bot.store, job_id)}
    assert steps["copy:snap-gold-manual"] == jobs.STEP_FAILED
    assert steps["restore-locks"] == jobs.STEP_DONE and steps["summary"] == jobs.STEP_PENDING
    others = [v for k, v in steps.items() if k.startswith("copy:") and k != "copy:snap-gold-manual"]
    assert jobs.STEP_RUNNING not in others and jobs.STEP_FAILED not in others
    arm.tick()  # deletes whose operations ended are applied, as before any request
    assert not arm.store.of_type("Microsoft.Storage/storageAccounts")
    assert source(arm, "snap-gold-manual")["properties"]["diskState"] == "Unattached"
    assert bot.chat.slash(f"/avd job {job_id} retry", user=REQUESTER).status == 200
    bot.wait(job_id, jobs.DONE)
    puts = [
        e.path.rsplit("/", 1)[-1]
        for e in arm.writes("SNAPDR/providers/Microsoft.Compute/snapshots/")
        if e.method == "PUT"
    ]
    assert sorted(puts) == sorted(
        [
            "snap-gold-manual",
            "snap-gold-manual",
            *(k[5:] for k in steps if k.startswith("copy:") and k != "copy:snap-gold-manual"),
        ]
    )  # the failed import again; every other snapshot exactly once
    assert names(arm, SUB2, "SNAPDR") == {
        "snap-gold-os-20260522",
        "snap-gold-data-20260522",
        "snap-gold-os-20260515",
        "snap-gold-manual",
    }


def test_schedule_survives_a_restart_and_fires(bot: Bot, arm: AzureSim) -> None:
    assert bot.chat.slash("/avd snapshots schedule gold-to-dr 0 2 * * 0").status == 200
    bot.chat.wait_for_ephemeral(REQUESTER, "now syncs on")
    [sched] = cap.schedules(bot.runtime)
    assert (sched.profile, sched.cron) == ("gold-to-dr", "0 2 * * 0")
    assert sched.next_run is not None and sched.next_run.weekday() == 6  # cron 0 = Sunday
    bot.stop()
    bot.start()
    [again] = cap.schedules(bot.runtime)
    assert again.profile == "gold-to-dr" and again.requested_by == REQUESTER
    bot.runtime.scheduler.modify_job("schedule:snapshots:gold-to-dr", next_run_time=datetime.now(UTC))
    fired = bot.chat.wait_for(
        lambda: [j for j in jobs.recent_jobs(bot.store) if j["kind"] == cap.SYNC], timeout=10
    )
    assert fired[0]["requested_by"] == REQUESTER and fired[0]["status"] == jobs.AWAITING
    assert bot.chat.slash("/avd snapshots schedule gold-to-dr off").status == 200
    bot.chat.wait_for_ephemeral(REQUESTER, "removed")
    assert cap.schedules(bot.runtime) == []


@pytest.fixture
def cli_settings(tmp_path: Path, arm: AzureSim) -> tuple[object, AzureClients]:
    env = bot_env(tmp_path, "http://127.0.0.1:9/api/", arm=arm.url, ca=arm.ca_path, config_text=config_text())
    return load_settings(env), AzureClients(arm.url, arm.ca_path, polling_interval=0.02, retry_total=0)


def test_cli_sync_copies_and_exits_zero_then_refuses_deletions(
    cli_settings: tuple[object, AzureClients], arm: AzureSim
) -> None:
    settings, azure = cli_settings
    out = io.StringIO()
    assert run_sync(settings, "gold-to-dr", out=out, azure=azure) == EXIT_DONE  # type: ignore[arg-type]
    assert "copied 3, skipped 0" in out.getvalue() and len(names(arm, SUB2, "SNAPDR")) == 3
    arm.store.delete(SRC + "snap-gold-data-20260522")
    assert run_sync(settings, "gold-to-dr", out=io.StringIO(), azure=azure) == EXIT_APPROVAL  # type: ignore[arg-type]
    assert (
        run_sync(
            settings,
            "gold-to-dr",
            copies_only=True,
            out=io.StringIO(),  # type: ignore[arg-type]
            azure=azure,
        )
        == EXIT_DONE
    )
    assert len(names(arm, SUB2, "SNAPDR")) == 3
    source(arm, "snap-gold-manual")["tags"] = {"SnapReplicate": "Replicate"}
    arm.faults.fail_lro("PUT", "snapshots/snap-gold-manual$", code="InternalDiskManagementError")
    out = io.StringIO()
    assert (
        run_sync(
            settings,
            "gold-to-dr",
            copies_only=True,
            out=out,  # type: ignore[arg-type]
            azure=azure,
        )
        == EXIT_FAILED
    )
    assert "[failed] Copy snap-gold-manual" in out.getvalue()
