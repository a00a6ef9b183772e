"""Approvals over signed HTTP against both doubles: who may approve, exactly-once starts, expiry, reject,
drift, locks, and a failed step's card. The capability is ``tests.kit.engine`` (real SDK -> ARM simulator)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.storage import audit, jobs
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat, clean_env, start_bot
from tests.kit import engine as engine_kit

REQUESTER, LEAD, LEAD2, OPS2, GUEST = "U0OPS1", "U0LEAD1", "U0LEAD2", "U0OPS2", "U0GUEST"
VMSS_PATH = "virtualMachineScaleSets/Entra"


class Clock:
    """The runtime's clock, moved by the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def bot(
    tmp_path: Path, slack_sim: SlackSim, azure_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[BotHandle, Clock]]:
    clean_env(monkeypatch)
    clock = Clock()
    handle = start_bot(
        tmp_path,
        slack_sim.url,
        arm=azure_sim.url,
        ca=azure_sim.ca_path,
        config_text=engine_kit.engine_config(),
        capabilities=engine_kit.CAPABILITIES,
    )
    handle.runtime.clock = clock
    handle.runtime.engine.progress.min_interval = 0.2  # the burst test covers the real 10 s
    try:
        yield handle, clock
    finally:
        handle.stop()
        engine_kit.close_clients(handle.runtime)


@pytest.fixture
def chat(bot: tuple[BotHandle, Clock], slack_sim: SlackSim) -> Chat:
    return Chat(bot[0].url, slack_sim, bot[0].signing_secret)


def request(chat: Chat, store: Any, count: int = 3, user: str = REQUESTER) -> int:
    before = {j["id"] for j in jobs.recent_jobs(store)}
    assert chat.slash(f"/avd scale Entra {count}", user=user).status == 200
    job = chat.wait_for(
        lambda: [j for j in jobs.recent_jobs(store) if j["id"] not in before and j["card_ts"]]
    )
    return int(job[0]["id"])


def job_status(store: Any, job_id: int, status: str, timeout: float = 15.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job = jobs.get_job(store, job_id)
        return job if job and job["status"] == status else None

    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = reached()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} is {jobs.get_job(store, job_id)}, not {status}")


def actions(store: Any, job_id: int) -> list[tuple[str, str, str]]:
    return [
        (r["actor"], r["action"], r["outcome"])
        for r in reversed(audit.recent(store, 200))
        if r["target"] == f"job {job_id}"
    ]


def test_second_person_approves_and_the_job_runs_once(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    card = chat.last_message()
    assert card is not None and "Approval needed" in card["text"] + str(card["blocks"])
    assert "Set capacity of Entra from 2 to 3" in str(card["blocks"])
    assert chat.click("Approve", user=LEAD).status == 200
    job = job_status(store, job_id, jobs.DONE)
    assert azure_sim.scale_set("VMSS", "Entra").capacity == 3
    assert len(azure_sim.writes(VMSS_PATH)) == 1
    assert len(azure_sim.writes("snapshots/snap-gold-manual")) == 2
    assert (LEAD, "approval approved", "ok") in actions(store, job_id)
    final = chat.wait_for(
        lambda: (m := chat.slack.message("C0INCIDENT", job["card_ts"])) and m["text"].endswith("done") and m
    )
    assert "Approve" not in str(final["blocks"])


def test_press_that_races_the_recording_of_the_card_ts_is_accepted_and_binds(
    bot: tuple[BotHandle, Clock], chat: Chat
) -> None:
    """Slack shows the card as soon as chat.postMessage returns; the bot stores its ts just after. A press in
    between finds the approval unbound: it is accepted from the request's channel and binds the approval to the
    pressed card, so a later press from another message is refused."""
    store = bot[0].runtime.store
    job_id = request(chat, store)
    with store.transaction() as db:
        db.execute("update approvals set message_ts = null where job_id = ?", [job_id])
    card = chat.last_message()
    assert card is not None
    assert chat.click("Approve", user=LEAD).status == 200
    job_status(store, job_id, jobs.DONE)
    row = next(iter(store.db.query("select * from approvals where job_id = ?", [job_id])))
    assert (row["status"], row["decided_by"], row["message_ts"]) == ("approved", LEAD, card["ts"])
    assert (LEAD, "approval approved", "ok") in actions(store, job_id)


def test_self_approval_is_refused_under_the_two_person_rule(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store, user=LEAD)
    chat.click("Approve", user=LEAD)
    chat.wait_for_ephemeral(LEAD, "two-person rule")
    assert jobs.get_job(store, job_id)["status"] == jobs.AWAITING
    assert (LEAD, "approval refused", "refused") in actions(store, job_id)
    chat.click("Approve", user=LEAD2)
    job_status(store, job_id, jobs.DONE)


@pytest.mark.parametrize("user", [OPS2, GUEST])
def test_non_approver_is_refused(bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any, user: str) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    chat.click("Approve", user=user)
    chat.wait_for_ephemeral(user, "only an approver")
    assert jobs.get_job(store, job_id)["status"] == jobs.AWAITING
    assert azure_sim.writes(VMSS_PATH) == []
    assert (user, "approval refused", "refused") in actions(store, job_id)


def test_expired_approval_is_refused_and_its_card_updated(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    bot[1].offset = timedelta(minutes=16)
    chat.click("Approve", user=LEAD)
    chat.wait_for_ephemeral(LEAD, "expired")
    job = job_status(store, job_id, jobs.EXPIRED)
    card = chat.wait_for(
        lambda: (
            (m := chat.slack.message("C0INCIDENT", job["card_ts"])) and "approval expired" in m["text"] and m
        )
    )
    assert "Approve" not in str(card["blocks"])
    assert ("avd-bot", "approval expired", "expired") in actions(store, job_id)
    assert azure_sim.writes(VMSS_PATH) == []


def test_scheduled_sweep_expires_pending_approvals(bot: tuple[BotHandle, Clock], chat: Chat) -> None:
    handle, clock = bot
    job_id = request(chat, handle.runtime.store)
    clock.offset = timedelta(minutes=16)
    handle.runtime.scheduler.modify_job("engine-sweep", next_run_time=datetime.now(UTC))
    job = job_status(handle.runtime.store, job_id, jobs.EXPIRED, timeout=5)
    chat.wait_for(lambda: "approval expired" in chat.slack.message("C0INCIDENT", job["card_ts"])["text"])


def test_concurrent_double_click_starts_the_job_once(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    barrier = threading.Barrier(2)

    def press(user: str) -> None:
        barrier.wait()
        chat.click("Approve", user=user)

    threads = [threading.Thread(target=press, args=(u,)) for u in (LEAD, LEAD2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job_status(store, job_id, jobs.DONE)
    decided = [a for a in actions(store, job_id) if a[1] == "approval approved"]
    assert len(decided) == 1
    assert len(azure_sim.writes(VMSS_PATH)) == 1
    assert sum(1 for a in actions(store, job_id) if a[1] == "approval refused") == 1


def test_reject_is_recorded_and_nothing_runs(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    chat.click("Reject", user=LEAD)
    job_status(store, job_id, jobs.REJECTED, timeout=5)
    assert (LEAD, "approval rejected", "ok") in actions(store, job_id)
    assert azure_sim.writes() == []
    assert jobs.holder_of(store, engine_kit.scale_set_id("VMSS", "Entra")) is None


def test_drifted_plan_asks_again(bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any) -> None:
    handle = bot[0]
    store = handle.runtime.store
    job_id = request(chat, store)
    first = jobs.get_job(store, job_id)
    compute = engine_kit.compute_client(handle.runtime)
    compute.virtual_machine_scale_sets.begin_update(
        "VMSS", "Entra", {"sku": {"capacity": 4}}, polling_interval=0.05
    ).result()
    chat.click("Approve", user=LEAD)
    chat.wait_for(
        lambda: (
            (j := jobs.get_job(store, job_id))
            and j["card_ts"] != first["card_ts"]
            and j["status"] == jobs.AWAITING
        )
    )
    assert ("avd-bot", "plan drifted", "ok") in actions(store, job_id)
    assert len(azure_sim.writes(VMSS_PATH)) == 1  # only the test's own change
    assert "from 4 to 3" in str(chat.last_message()["blocks"])
    chat.click("Approve", user=LEAD2)
    job_status(store, job_id, jobs.DONE)
    assert azure_sim.scale_set("VMSS", "Entra").capacity == 3


def test_second_job_on_the_same_resource_is_busy(bot: tuple[BotHandle, Clock], chat: Chat) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    chat.slash("/avd scale Entra 5", user=OPS2)
    refusal = chat.wait_for_ephemeral(OPS2, "busy:")
    assert f"busy: job {job_id} holds" in refusal["text"]


def test_the_same_request_again_is_refused_before_any_azure_read(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    reads = len(azure_sim.journal)
    chat.slash("/avd scale Entra 3", user=OPS2)
    refusal = chat.wait_for_ephemeral(OPS2, "busy:")
    assert refusal["text"].startswith(f"busy: job {job_id} holds")
    assert (
        "this same request (awaiting approval)" in refusal["text"]
        and f"`/avd job {job_id}`" in refusal["text"]
    )
    assert len(azure_sim.journal) == reads  # answered from the store: no plan was built
    assert [j["id"] for j in jobs.recent_jobs(store)] == [job_id]
    chat.slash("/avd scale Entra 3 --dry-run", user=OPS2)  # a dry run is not a request: it still plans
    chat.wait_for_ephemeral(OPS2, "Dry run")


def test_failed_step_shows_azure_code_and_retry(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    azure_sim.faults.fail_lro("PATCH", VMSS_PATH, "OperationNotAllowed", "Quota exceeded for Standard_D4s_v5")
    job_id = request(chat, store, count=3)
    chat.click("Approve", user=LEAD)
    job = job_status(store, job_id, jobs.FAILED)
    card = chat.wait_for(
        lambda: (m := chat.slack.message("C0INCIDENT", job["card_ts"])) and m["text"].endswith("failed") and m
    )
    shown = str(card["blocks"])
    assert "OperationNotAllowed" in shown and "virtualMachineScaleSets/Entra" in shown
    assert f"/avd job {job_id} retry" in shown
    chat.slash(f"/avd job {job_id} retry", user=REQUESTER)
    # the failed update still set the model's capacity (as Azure may): the plan changed, so it asks again
    asked_again(chat, store, job_id, job["card_ts"])
    chat.click("Approve", user=LEAD2)
    job_status(store, job_id, jobs.DONE)
    steps = {s["name"]: s for s in jobs.get_steps(store, job_id)}
    assert steps["tag-start"]["output"] == "already done"  # the new plan's first step checked Azure first
    assert azure_sim.scale_set("VMSS", "Entra").capacity == 3


def test_cancel_stops_at_the_next_step_boundary(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = request(chat, store)
    chat.click("Approve", user=LEAD)
    chat.wait_for(lambda: [s for s in jobs.get_steps(store, job_id) if s["status"] == jobs.STEP_RUNNING])
    chat.slash(f"/avd job {job_id} cancel", user=REQUESTER)
    job_status(store, job_id, jobs.CANCELLED)
    # the engine marks the job cancelled, then skips its pending steps: wait for both writes
    statuses = chat.wait_for(
        lambda: (st := [s["status"] for s in jobs.get_steps(store, job_id)])[-1] == jobs.STEP_SKIPPED and st
    )
    assert statuses[0] == jobs.STEP_DONE
    assert jobs.holder_of(store, engine_kit.scale_set_id("VMSS", "Entra")) is None


# ---- retry of an approved job: the approval covers one plan for the policy's time-to-live ------------------


def failed_job(chat: Chat, store: Any, azure_sim: Any, *, fault: str = "PATCH") -> int:
    """An approved scale of Entra to 3 whose first write fails (the model is left as it was)."""
    azure_sim.faults.fail_lro(fault, "snapshots/snap-gold-manual", "OperationNotAllowed", "Disk is busy")
    job_id = request(chat, store, count=3)
    chat.click("Approve", user=LEAD)
    job_status(store, job_id, jobs.FAILED)
    return job_id


def asked_again(chat: Chat, store: Any, job_id: int, card_ts: str) -> dict[str, Any]:
    """Wait until the job waits for a new approval on a new card."""
    return chat.wait_for(
        lambda: (
            (j := jobs.get_job(store, job_id))
            and j["status"] == jobs.AWAITING
            and j["card_ts"]
            and j["card_ts"] != card_ts
            and j
        )
    )


def test_retry_within_the_time_to_live_of_the_same_plan_runs_without_asking(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    store = bot[0].runtime.store
    job_id = failed_job(chat, store, azure_sim)
    chat.slash(f"/avd job {job_id} retry", user=REQUESTER)
    job_status(store, job_id, jobs.DONE)
    assert [
        r["status"] for r in store.db.query("select status from approvals where job_id = ?", [job_id])
    ] == ["approved"]


def test_retry_after_the_approvals_time_to_live_asks_again(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    handle, clock = bot
    store = handle.runtime.store
    job_id = failed_job(chat, store, azure_sim)
    first = jobs.get_job(store, job_id)
    writes = len(azure_sim.writes(VMSS_PATH))
    clock.offset += timedelta(minutes=16)  # the example's approval_ttl_minutes is 15
    chat.slash(f"/avd job {job_id} retry", user=REQUESTER)
    asked_again(chat, store, job_id, first["card_ts"])
    assert len(azure_sim.writes(VMSS_PATH)) == writes  # nothing ran unapproved
    assert (REQUESTER, "job retry", "ok") in actions(store, job_id)
    assert "Approve" in str(chat.last_message()["blocks"])
    chat.click("Approve", user=REQUESTER)  # the retrier is the new requester: two-person rule
    assert jobs.get_job(store, job_id)["status"] == jobs.AWAITING
    chat.click("Approve", user=LEAD2)
    job_status(store, job_id, jobs.DONE)
    assert azure_sim.scale_set("VMSS", "Entra").capacity == 3


def test_retry_whose_plan_changed_asks_again_with_the_new_plan(
    bot: tuple[BotHandle, Clock], chat: Chat, azure_sim: Any
) -> None:
    handle = bot[0]
    store = handle.runtime.store
    job_id = failed_job(chat, store, azure_sim)
    first = jobs.get_job(store, job_id)
    compute = engine_kit.compute_client(handle.runtime)
    compute.virtual_machine_scale_sets.begin_update(
        "VMSS", "Entra", {"sku": {"capacity": 4}}, polling_interval=0.05
    ).result()
    writes = len(azure_sim.writes(VMSS_PATH))
    chat.slash(f"/avd job {job_id} retry", user=REQUESTER)
    job = asked_again(chat, store, job_id, first["card_ts"])
    assert job["plan_hash"] != first["plan_hash"]
    assert "from 4 to 3" in str(chat.last_message()["blocks"])
    assert len(azure_sim.writes(VMSS_PATH)) == writes
    chat.click("Approve", user=LEAD2)
    job_status(store, job_id, jobs.DONE)
    assert azure_sim.scale_set("VMSS", "Entra").capacity == 3
