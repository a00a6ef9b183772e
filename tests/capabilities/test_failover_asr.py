"""A site with an Azure Site Recovery recovery plan: the failover runs the plan's failover (following its
replication job to Succeeded) and the failback commits, reprotects, fails back and reprotects home; plus the
simulator's recovery-plan state machine through the real SDK: the active side lives on the protected items,
the plan's allowedOperations gate every action, A2A offers no planned failover."""

from __future__ import annotations

import time
from typing import Any

import pytest

from avdcore.errors import AzureError
from azureops import asr
from azureops.clients import AzureClients
from tests.kit.failover import SUB, Harness, failover_config, harness_factory, make_sim  # noqa: F401

PLAN_ID = (
    f"/subscriptions/{SUB}/resourceGroups/ASRDR/providers/Microsoft.RecoveryServices/vaults/avd-asr/"
    "replicationRecoveryPlans/avd-personal"
)
ITEM_ID = (
    f"/subscriptions/{SUB}/resourceGroups/ASRDR/providers/Microsoft.RecoveryServices/vaults/avd-asr/"
    "replicationFabrics/asr-a2a-westeurope/replicationProtectionContainers/asr-a2a-container-westeurope/"
    "replicationProtectedItems/avd-personal-0"
)
REF = asr.RecoveryPlanRef(SUB, "ASRDR", "avd-asr", "avd-personal")


def test_recovery_plan_cycle_through_the_sdk() -> None:
    sim = make_sim(6000)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02)
    try:
        state = asr.read_state(clients, REF)
        assert (asr.stage(state, asr.PRIMARY_TO_RECOVERY), state.active, state.providers) == (
            0,
            "Primary",
            ("A2A",),
        )
        with pytest.raises(AzureError, match="Conflict"):  # A2A: no planned failover
            asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=True)
        token = asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False).continuation_token()
        plan = asr.reattach(clients, REF, "failover", token).result()
        assert plan.properties.allowed_operations == ["Commit", "ChangePit"]
        state = asr.read_state(clients, REF)
        assert (state.phase, state.active, asr.job_state(clients, REF, state.job)) == (
            asr.FAILED_OVER,
            "Recovery",
            "Succeeded",
        )
        with pytest.raises(AzureError, match="Conflict"):
            asr.begin_reprotect(clients, REF)
        for begin in (asr.begin_commit, asr.begin_reprotect):
            begin(clients, REF).result()
        assert asr.stage(asr.read_state(clients, REF), asr.PRIMARY_TO_RECOVERY) == 3
        with pytest.raises(AzureError, match="BadRequest"):
            asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False)
    finally:
        asr.client(clients, SUB).close()
        sim.stop()


def test_simulator_refuses_what_allowed_operations_does_not_allow() -> None:
    # at 6000 the failover's job could end before the commit is sent on a loaded machine
    sim = make_sim(600)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02)
    try:
        for begin in (asr.begin_commit, asr.begin_reprotect):  # protected: only failovers
            with pytest.raises(AzureError, match="Conflict") as err:
                begin(clients, REF)
            assert "UnplannedFailover, TestFailover" in str(err.value)
        poller = asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False)
        with pytest.raises(AzureError, match="Conflict"):  # a job is in progress: nothing allowed
            asr.begin_commit(clients, REF)
        poller.result()
        body = [e.body for e in sim.writes("/replicationRecoveryPlans/") if e.path.endswith("Failover")][0]
        assert body["properties"]["sourceSiteOperations"] == "Required"
        raw = asr.client(clients, SUB).replication_recovery_plans.get("ASRDR", "avd-asr", "avd-personal")
        assert "activeLocation" not in raw.properties.as_dict()
    finally:
        asr.client(clients, SUB).close()
        sim.stop()


def test_active_side_comes_from_the_protected_items() -> None:
    sim = make_sim(6000)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02)
    try:
        sides = []
        for begin in (
            lambda: asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False),
            lambda: asr.begin_commit(clients, REF),
            lambda: asr.begin_reprotect(clients, REF),
            lambda: asr.begin_failover(clients, REF, asr.RECOVERY_TO_PRIMARY, planned=False),
        ):
            begin().result()
            item = sim.resource(ITEM_ID)
            assert item is not None
            sides.append((item.active_location, asr.read_state(clients, REF).active))
        assert sides == [("Recovery", "Recovery")] * 3 + [("Primary", "Primary")]
        assert sim.resource(ITEM_ID).allowed_operations == ["Commit", "ChangePit"]  # type: ignore[union-attr]
    finally:
        asr.client(clients, SUB).close()
        sim.stop()


@pytest.mark.parametrize(
    ("planned", "allowed", "up", "kind", "body"),
    [
        (False, ("UnplannedFailover",), True, "unplanned failover (source VMs shut down first)", "Required"),
        (False, ("UnplannedFailover",), False, "unplanned failover (source region down", "NotRequired"),
        (True, ("UnplannedFailover", "TestFailover"), True, "unplanned failover (source VMs", "Required"),
        (True, ("PlannedFailover", "UnplannedFailover"), True, "planned failover", None),
    ],
)
def test_failover_kind_and_source_site_operations(
    planned: bool, allowed: tuple[str, ...], up: bool, kind: str, body: str | None
) -> None:
    state = asr.PlanState(asr.PROTECTED, "Primary", "", "", allowed=allowed, providers=("A2A",))
    notes: list[str] = []
    chosen = asr.failover_kind(state, planned, up, notes.append)
    assert chosen.startswith(kind)
    props = asr.failover_input("PrimaryToRecovery", chosen.startswith("planned"), source_up=up)["properties"]
    assert props.get("sourceSiteOperations") == body
    assert bool(notes) is (planned and "PlannedFailover" not in allowed)


@pytest.mark.parametrize(
    ("stage", "target", "done"),
    [
        (0, 1, False),
        (1, 1, True),
        (3, 1, True),
        (0, 2, True),
        (1, 2, False),
        (3, 4, False),
        (5, 5, True),
        (5, 6, False),
        (0, 6, True),
    ],
)
def test_cycle_stage_reached(stage: int, target: int, done: bool) -> None:
    assert asr.reached(stage, target) is done


def test_failover_and_failback_run_the_recovery_plan(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(asr=True, config=failover_config(asr=True, capacity=1))
    h.chat.slash("/avd failover start dr --now", user="U0OPS1")
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=5)
    h.chat.click("Approve", user="U0LEAD1")
    h.wait_job(1, timeout=30)
    steps = {s["name"]: s for s in h.steps(1)}
    assert "unplanned failover (source VMs shut down first)" in steps["asr-failover"]["output"]
    item = h.sim.resource(ITEM_ID)
    assert item is not None and item.active_location == "Recovery"
    assert h.sim.resource(PLAN_ID).allowed_operations == ["Commit", "ChangePit"]  # type: ignore[union-attr]
    jobs = [e for e in h.sim.writes("/replicationRecoveryPlans/") if e.path.endswith("unplannedFailover")]
    assert len(jobs) == 1 and jobs[0].body["properties"]["failoverDirection"] == "PrimaryToRecovery"
    assert jobs[0].body["properties"]["sourceSiteOperations"] == "Required"
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 1

    h.chat.slash("/avd failback start dr", user="U0OPS1")
    h.chat.wait_for(lambda: h.job(2).get("card_ts"), timeout=5)
    h.chat.click("Approve", user="U0LEAD2")
    h.wait_job(2, timeout=40)
    failback = {s["name"]: s for s in h.steps(2)}
    for name in ("asr-commit", "asr-reprotect", "asr-failback", "asr-failback-commit", "asr-reprotect-home"):
        assert failback[name]["status"] == "done" and "already done" not in (
            failback[name]["output"] or ""
        ), name
    item = h.sim.resource(ITEM_ID)
    assert item is not None and item.active_location == "Primary"
    assert "UnplannedFailover" in h.sim.resource(PLAN_ID).allowed_operations  # type: ignore[union-attr]
    writes = [e for e in h.sim.writes("/replicationRecoveryPlans/")]
    assert [e.path.rsplit("/", 1)[-1].lower() for e in writes] == [
        "unplannedfailover",
        "failovercommit",
        "reprotect",
        "unplannedfailover",
        "failovercommit",
        "reprotect",
    ]
    assert writes[3].body["properties"]["failoverDirection"] == "RecoveryToPrimary"
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0


def test_unanswered_primary_fails_over_without_shutting_the_source_down(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(asr=True, config=failover_config(asr=True, capacity=1))
    h.sim.faults.partition("westeurope", mode="hang", seconds=30)
    h.chat.slash("/avd failover start dr --now", user="U0OPS1")
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=5)
    h.chat.click("Approve", user="U0LEAD1")
    h.wait_job(1, timeout=40)
    body = [
        e.body for e in h.sim.writes("/replicationRecoveryPlans/") if e.path.endswith("unplannedFailover")
    ]
    assert [b["properties"]["sourceSiteOperations"] for b in body] == ["NotRequired"]
    h.sim.faults.heal()
    time.sleep(0)
