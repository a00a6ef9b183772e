"""``/avd drill``: DR scaled to the drill capacity, hosts Available, torn down to 0, time to capacity measured
and kept in the history; the primary is never touched."""

from __future__ import annotations

from typing import Any

from bot.capabilities import drill
from tests.kit.failover import Harness, harness_factory  # noqa: F401 - fixture


def test_drill_scales_out_measures_and_tears_down_without_touching_the_primary(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    before = len(h.sim.journal)
    for job_id in (1, 2):
        assert h.chat.slash("/avd drill dr", user="U0OPS1").status == 200
        h.chat.wait_for(lambda j=job_id: h.job(j).get("status"), timeout=5)
        h.wait_job(job_id, timeout=30)
        assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0
        report = h.chat.wait_for(
            lambda j=job_id: [t for t in h.thread(j) if "time to capacity" in t], timeout=15
        )
        assert f"Trend over {job_id} drill(s)" in report[0]
    assert [s["name"] for s in h.steps(1)] == [
        "preflight",
        "drill-scale-out",
        "drill-hosts-available",
        "measure",
        "drill-scale-in",
        "report",
    ]
    history = drill.drill_history(h.runtime)
    assert [r["job_id"] for r in history] == [2, 1] and all(r["seconds"] > 0 for r in history)
    assert all(r["to_capacity"] >= r["seconds"] for r in history)  # from the job's start, not the scale-out's
    steps = {s["name"]: s for s in h.steps(1)}
    assert "1/1 Available after" in steps["drill-hosts-available"]["output"]  # noted as the host came up
    touched = [
        e for e in h.sim.journal[before:] if e.method != "GET" and "/resourcegroups/avd/" in e.path.lower()
    ]
    assert touched == []
    assert all(x.allow_new_session for x in h.sim.session_hosts("AVD", "EntraAuth"))
    assert len(h.sim.user_sessions("AVD", "EntraAuth")) == 3


def test_drill_refuses_when_dr_already_runs(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    h.chat.slash("/avd drill dr", user="U0OPS1")
    h.wait_job(1, timeout=30)
    h.runtime.azure.compute("00000000-0000-0000-0000-000000000001").virtual_machine_scale_sets.begin_update(
        "VMSSDR", "EntraDR", {"sku": {"capacity": 1}}
    ).result()
    h.chat.slash("/avd drill dr", user="U0OPS1")
    h.wait_job(2, "failed", timeout=10)
    assert "already runs 1 instance" in h.job(2)["error"]


def test_drill_report_gives_the_trend_of_past_failovers_figures(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    h.chat.slash("/avd failover start dr --now", user="U0OPS1")
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=15)
    h.chat.click("Approve", user="U0LEAD1")
    h.wait_job(1, timeout=30)
    h.runtime.azure.compute("00000000-0000-0000-0000-000000000001").virtual_machine_scale_sets.begin_update(
        "VMSSDR", "EntraDR", {"sku": {"capacity": 0}}
    ).result()
    h.chat.slash("/avd drill dr", user="U0OPS1")
    h.wait_job(2, timeout=30)
    report = h.chat.wait_for(lambda: [t for t in h.thread(2) if "time to capacity" in t], timeout=15)[0]
    assert "RTO users felt over 1 failover(s):" in report
    assert "• DR capacity Available after approval:" in report and "• outage:" in report


def test_a_drill_reads_the_replica_within_the_primary_timeout_and_goes_on_when_it_gets_no_answer(
    harness_factory: Any,  # noqa: F811
) -> None:
    h: Harness = harness_factory()  # primary timeout 1 s
    gallery = h.sim.faults.latency("GET", r"/resourceGroups/GOLD-VDA/", seconds=30)  # homed in westeurope
    assert h.chat.slash("/avd drill dr", user="U0OPS1").status == 200
    h.wait_job(1, timeout=30)
    preflight = {s["name"]: s for s in h.steps(1)}["preflight"]["output"]
    assert "warning: replica: not read: the gallery is homed in westeurope" in preflight
    assert "ok: DR scale set: EntraDR exists" in preflight and "(with warnings)" in preflight
    assert gallery.hits == 1 and not [e for e in h.sim.journal if "/gold-vda/" in e.path.lower()]
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0
    h.sim.faults.clear()
