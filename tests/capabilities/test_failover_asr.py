"""A site with an Azure Site Recovery recovery plan: the failover runs the plan's failover (following its
replication job to Succeeded) and the failback commits, reprotects, fails back and reprotects home; plus the
simulator's recovery-plan state machine through the real SDK."""

from __future__ import annotations

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
REF = asr.RecoveryPlanRef(SUB, "ASRDR", "avd-asr", "avd-personal")


def test_recovery_plan_cycle_through_the_sdk() -> None:
    sim = make_sim(6000, asr=True)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02)
    try:
        assert asr.stage(asr.read_state(clients, REF), asr.PRIMARY_TO_RECOVERY) == 0
        token = asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False).continuation_token()
        plan = asr.reattach(clients, REF, "failover", token).result()
        assert plan.properties.allowed_operations == ["FailoverCommit", "CancelFailover"]
        state = asr.read_state(clients, REF)
        assert (state.phase, state.active, asr.job_state(clients, REF, state.job)) == (
            asr.FAILED_OVER,
            "Recovery",
            "Succeeded",
        )
        with pytest.raises(AzureError, match="RecoveryPlanActionNotAllowed"):
            asr.begin_reprotect(clients, REF)
        for begin in (asr.begin_commit, asr.begin_reprotect):
            begin(clients, REF).result()
        assert asr.stage(asr.read_state(clients, REF), asr.PRIMARY_TO_RECOVERY) == 3
        with pytest.raises(AzureError, match="use 'RecoveryToPrimary'"):
            asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=True)
    finally:
        asr.client(clients, SUB).close()
        sim.stop()


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
    assert "unplanned failover" in steps["asr-failover"]["output"]
    plan = h.sim.resource(PLAN_ID)
    assert plan is not None and plan.active_location == "Recovery"
    assert plan.allowed_operations == ["FailoverCommit", "CancelFailover"]
    jobs = [e for e in h.sim.writes("/replicationRecoveryPlans/") if e.path.endswith("unplannedFailover")]
    assert len(jobs) == 1 and jobs[0].body["properties"]["failoverDirection"] == "PrimaryToRecovery"
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 1

    h.chat.slash("/avd failback start dr", user="U0OPS1")
    h.chat.wait_for(lambda: h.job(2).get("card_ts"), timeout=5)
    h.chat.click("Approve", user="U0LEAD2")
    h.wait_job(2, timeout=40)
    plan = h.sim.resource(PLAN_ID)
    assert (
        plan is not None
        and plan.active_location == "Primary"
        and "UnplannedFailover" in plan.allowed_operations
    )
    actions = [e.path.rsplit("/", 1)[-1].lower() for e in h.sim.writes("/replicationRecoveryPlans/")]
    assert actions == [
        "unplannedfailover",
        "failovercommit",
        "reprotect",
        "unplannedfailover",
        "failovercommit",
        "reprotect",
    ]
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0
