"""Failover edge paths: one failover per site at a time (lock), a primary region that does not answer (its
branch gives up, DR's does not wait for it), and a cancel during the grace period followed by the offered
rollback job."""

from __future__ import annotations

import time
from typing import Any

from sim.azure.scenarios import VERSION_ID
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

OPS, OPS2, LEAD, LEAD2 = "U0OPS1", "U0OPS2", "U0LEAD1", "U0LEAD2"


def approve(h: Harness, job_id: int, user: str = LEAD) -> None:
    h.chat.wait_for(lambda: h.job(job_id).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=user).status == 200
    h.chat.wait_for(lambda: h.job(job_id)["status"] != "awaiting_approval", timeout=15)


def test_second_failover_of_the_same_site_is_refused(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(prepared=False)
    assert h.chat.slash("/avd failover start dr", user=OPS).status == 200
    assert h.chat.slash("/avd failover start uksouth", user=OPS2).status == 200
    refusals = h.chat.wait_for(
        lambda: [
            e
            for user in (OPS, OPS2)
            for e in h.chat.ephemerals(user)
            if "busy: job 1 holds" in (e.get("text") or "")
        ],
        timeout=15,
    )
    assert len(refusals) == 1 and "hostpools/entraauth" in refusals[0]["text"].lower()
    assert [r["id"] for r in h.runtime.store.db.query("select id from jobs")] == [1]


def test_unanswered_primary_is_skipped_with_a_warning_and_dr_still_runs(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    h.sim.faults.partition("westeurope", mode="hang", seconds=30)
    started = time.monotonic()
    h.chat.slash("/avd failover start dr", user=OPS)
    approve(h, 1)
    h.wait_job(1, timeout=30)
    assert time.monotonic() - started < 15
    steps = {s["name"]: s for s in h.steps(1)}
    for name in ("primary-autoscale-off", "primary-drain", "notify-users", "log-off-users"):
        assert "skipped: the primary region westeurope did not answer" in steps[name]["output"], name
    assert "warning: primary region" in steps["primary-probe"]["output"]
    assert "did not answer: its steps are skipped, DR is not delayed" in steps["primary-probe"]["output"]
    assert (
        "warning: replica: not read: the gallery is homed in westeurope" in steps["primary-probe"]["output"]
    )
    assert "westeurope" not in steps["dr-preflight"]["output"]
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    assert len([x for x in h.sim.session_hosts("AVDDR", "EntraAuthDR") if x.status == "Available"]) == 2
    summary = h.chat.wait_for(lambda: [t for t in h.thread(1) if "recovery time" in t], timeout=15)[0]
    assert "the primary region did not answer" in summary
    h.sim.faults.heal()
    assert not [e for e in h.sim.writes() if "/resourcegroups/avd/" in e.path.lower() and e.status]


def test_cancel_stops_at_a_step_boundary_and_offers_a_rollback(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(grace=3))
    h.chat.slash("/avd failover start dr", user=OPS)
    approve(h, 1)
    h.chat.wait_for(
        lambda: any(s["name"] == "notify-users" and s["status"] == "running" for s in h.steps(1)), 10
    )
    assert h.chat.slash("/avd failover cancel dr", user=OPS).status == 200
    h.wait_job(1, "cancelled", timeout=10)
    h.chat.wait_for(
        lambda: {s["name"]: s["status"] for s in h.steps(1)}["log-off-users"] == "skipped", timeout=15
    )
    steps = {s["name"]: s["status"] for s in h.steps(1)}
    assert steps["notify-users"] == "done" and steps["summary"] == "skipped"
    assert steps["dr-scale-out"] == "done"  # DR was asked for beside the grace period, not after it
    assert all(x.allow_new_session is False for x in h.sim.session_hosts("AVD", "EntraAuth"))
    assert len(h.sim.user_sessions("AVD", "EntraAuth")) == 3  # nobody was signed out
    h.chat.click("Plan rollback", user=OPS)
    h.chat.wait_for(lambda: h.job(2).get("card_ts"), timeout=15)
    assert h.job(2)["kind"] == "failover rollback" and h.job(2)["status"] == "awaiting_approval"
    approve(h, 2, LEAD2)
    h.wait_job(2)
    assert all(x.allow_new_session is True for x in h.sim.session_hosts("AVD", "EntraAuth"))
    plan = h.sim.resource(
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/AVD/providers/"
        "Microsoft.DesktopVirtualization/scalingPlans/EntraAuth-Scaling"
    )
    assert plan is not None and plan.host_pool_references[0]["scalingPlanEnabled"] is True
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0


def test_failover_plan_shows_steps_and_preflight(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    h.chat.slash("/avd failover plan dr", user=OPS)
    shown = h.chat.wait_for(
        lambda: [r for r in h.slack.calls_to("response_url") if "Preflight" in str(r)], timeout=10
    )
    text = str(shown[-1])
    assert "Drain EntraAuth" in text and "Scale EntraDR to 2" in text and "replica" in text
    assert "Preflight, DR region" in text and "Preflight, primary region" in text
    assert "/avd failover start dr" in text


def test_a_replica_read_as_not_completed_stops_the_failover_before_the_primary_is_touched(
    harness_factory: Any,  # noqa: F811
) -> None:
    h: Harness = harness_factory()
    with h.sim.lock:  # the gallery answers: the replica in uksouth failed
        h.sim.store.get(VERSION_ID)["_sim"]["replicas"]["uksouth"]["state"] = "Failed"
    h.chat.slash("/avd failover start dr", user=OPS)
    approve(h, 1)
    h.wait_job(1, "failed", timeout=30)
    assert (
        "primary-probe failed: replica: the replica of 2026.0522.1719 in uksouth is Failed"
        in h.job(1)["error"]
    )
    assert "/avd replicas add uksouth" in h.job(1)["error"]
    steps = {s["name"]: s["status"] for s in h.steps(1)}
    assert steps["dr-preflight"] == "done" and steps["primary-probe"] == "failed"
    assert all(steps[n] == "pending" for n in ("primary-autoscale-off", "primary-drain", "notify-users"))
    assert not [e for e in h.sim.writes() if "/resourcegroups/avd/" in e.path.lower()]
    assert all(x.allow_new_session for x in h.sim.session_hosts("AVD", "EntraAuth"))
    # DR's scale-out may have been sent beside the probe: Azure refuses it without a Completed replica
    assert not [x for x in h.sim.session_hosts("AVDDR", "EntraAuthDR") if x.status == "Available"]
