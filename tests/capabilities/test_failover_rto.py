"""A failover end to end on the simulator, with the engine running the plan's branches at once: DR comes up during
the grace period (the card shows it), the summary and ``dr_runs`` carry the three RTO figures (no outage when DR
was ready first), and a primary that does not answer gives up in its own branch while DR comes up: when it stops
answering mid-way (its drain), and when the whole region never answers (the primary probe, the gallery included:
DR's scale-out needs only the DR preflight); a failback's summary and ``dr_runs`` row carry its own figures (the
primary taking users again, DR's users signed out, the outage between).

Orderings, not timings, are asserted: at time scale 600 the DR hosts boot in about 0.5 s, against a grace period
or a primary timeout of 3 s."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.storage import records
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

OPS, LEAD, LEAD2 = "U0OPS1", "U0LEAD1", "U0LEAD2"


def start(h: Harness) -> None:
    assert h.chat.slash("/avd failover start dr", user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=LEAD).status == 200


def ended(h: Harness, job_id: int) -> dict[str, datetime]:
    return {s["name"]: datetime.fromisoformat(s["finished_at"]) for s in h.steps(job_id) if s["finished_at"]}


def texts(value: Any) -> list[str]:
    """Every ``text`` string in a message's blocks."""
    if isinstance(value, dict):
        return [
            t for k, v in value.items() for t in ([v] if k == "text" and isinstance(v, str) else texts(v))
        ]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def card_lines(h: Harness) -> list[str]:
    job = h.job(1)
    return [
        line
        for t in texts(h.slack.message(job["channel"], job["card_ts"])["blocks"])
        for line in t.splitlines()
    ]


def test_dr_comes_up_during_the_grace_period_and_the_summary_gives_the_figures(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(grace=3))
    h.quick_cards()
    start(h)

    def both_branches() -> list[str]:  # the card while users still have their grace period
        lines = card_lines(h)
        grace = [
            x for x in lines if "Message active users in EntraAuth" in x and ":arrows_counterclockwise:" in x
        ]
        dr = [x for x in lines if "session hosts Available in EntraAuthDR" in x and ":white_check_mark:" in x]
        return grace + dr if grace and dr else []

    assert len(h.chat.wait_for(both_branches, timeout=15)) == 2
    assert h.chat.slash("/avd failover status dr", user=OPS).status == 200
    status = h.chat.wait_for(
        lambda: [r for r in h.slack.calls_to("response_url") if "Failover status" in str(r)], timeout=10
    )
    assert "is *running*, at step" in str(status[-1]) and "`notify-users`" in str(status[-1])
    assert "Checks: DR preflight 4 check(s) passed (DR's scale-out waits only for it)" in str(status[-1])
    assert "primary probe 2 check(s) passed (the primary's steps and ASR wait for it)" in str(status[-1])
    h.wait_job(1, timeout=30)
    end = ended(h, 1)
    assert end["dr-hosts-available"] < end["notify-users"] < end["log-off-users"]
    assert h.sim.user_sessions("AVD", "EntraAuth") == []
    run = records.runs(h.runtime.store, kind="failover")[0]
    assert 0 < run["to_capacity"] < run["signed_out"] and run["outage"] == 0
    summary = h.chat.wait_for(lambda: [t for t in h.thread(1) if "recovery time" in t], timeout=15)[0]
    assert (
        "after approval" in summary
        and "outage *0s* (DR was ready before the users were signed out)" in summary
    )
    h.chat.slash("/avd failover status dr", user=OPS)
    after = h.chat.wait_for(
        lambda: [r for r in h.slack.calls_to("response_url") if "failover (job 1)" in str(r)], timeout=10
    )
    assert "outage 0s" in str(after[-1]) and "No failover, failback or rollback is running" in str(after[-1])


def test_an_unanswered_primary_gives_up_in_its_branch_and_never_delays_dr(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(grace=3, timeout=3))
    # the primary answers its probe, then stops answering its drain (every try of it)
    h.sim.faults.latency("PATCH", r"/hostPools/EntraAuth/sessionHosts/", seconds=8)
    start(h)
    h.wait_job(1, timeout=40)
    steps = {s["name"]: s for s in h.steps(1)}
    for name in ("primary-drain", "notify-users", "log-off-users"):
        assert "skipped: the primary region westeurope did not answer" in steps[name]["output"], name
    end = ended(h, 1)
    assert end["dr-hosts-available"] < end["primary-drain"]  # DR was Available before the primary gave up
    assert len([x for x in h.sim.session_hosts("AVDDR", "EntraAuthDR") if x.status == "Available"]) == 2
    run = records.runs(h.runtime.store, kind="failover")[0]
    assert run["to_capacity"] > 0 and run["signed_out"] is None and run["outage"] is None
    summary = h.chat.wait_for(lambda: [t for t in h.thread(1) if "recovery time" in t], timeout=15)[0]
    assert "not signed out by this job" in summary and "the primary region did not answer" in summary
    h.sim.faults.clear()


# every resource group of the primary region: its host pool and scaling plan, the gallery (GOLD-VDA), its scale set
PRIMARY_REGION = r"/resourceGroups/(AVD|GOLD-VDA|VMSS)/"


def test_a_primary_region_that_never_answers_does_not_delay_drs_scale_out(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(grace=3, timeout=3))
    before = len(h.sim.journal)
    # the real disaster: nothing in westeurope answers, the gallery's replica status included (a request is
    # journaled when it is answered: 30 s from now, long after the job)
    cut = h.sim.faults.latency("*", PRIMARY_REGION, seconds=30)
    start(h)
    h.wait_job(1, timeout=40)
    journal = h.sim.journal[before:]
    dr_patch = [
        n
        for n, e in enumerate(journal)
        if e.method == "PATCH" and e.path.lower().endswith("/virtualmachinescalesets/entradr")
    ]
    primary = [n for n, e in enumerate(journal) if re.search(PRIMARY_REGION, e.path, re.IGNORECASE)]
    assert dr_patch and 200 <= journal[dr_patch[0]].status < 300  # Azure accepted DR's scale-out ...
    assert (
        primary == []
    )  # ... and the whole job ended while the primary's one request still waits for an answer
    assert cut.hits == 1  # the probe's read; the replica read and the primary's steps gave up without asking
    steps = {s["name"]: s for s in h.steps(1)}
    at = {n: datetime.fromisoformat(s["finished_at"]) for n, s in steps.items() if s["finished_at"]}
    began = {n: datetime.fromisoformat(s["started_at"]) for n, s in steps.items() if s["started_at"]}
    assert began["primary-probe"] <= began["dr-scale-out"]  # the probe was already waiting on the primary
    assert at["dr-scale-out"] < at["primary-probe"]  # DR's scale-out was sent before the probe gave up
    assert at["dr-hosts-available"] < at["primary-probe"]  # DR was even Available
    probe = steps["primary-probe"]["output"]
    assert "warning: primary region" in probe and "no answer within 3s" in probe
    assert "replica: not read: the gallery is homed in westeurope" in probe
    for name in ("primary-autoscale-off", "primary-drain", "notify-users", "log-off-users"):
        assert "skipped: the primary region westeurope did not answer" in steps[name]["output"], name
        assert began[name] >= at["primary-probe"] and at[name] <= at["summary"], name
    run = records.runs(h.runtime.store, kind="failover")[0]
    assert run["to_capacity"] > 0 and run["signed_out"] is None and run["outage"] is None
    h.sim.faults.clear()


def test_failback_records_its_own_figures_from_its_step_rows(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(grace=1))
    start(h)
    h.wait_job(1, timeout=30)
    assert h.chat.slash("/avd failback start dr", user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(2).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=LEAD2).status == 200
    h.wait_job(2, timeout=30)
    end = ended(h, 2)
    assert end["primary-undrain"] < end["dr-log-off-users"]  # the primary took users before DR's left
    run = records.runs(h.runtime.store, kind="failback")[0]
    assert run["job_id"] == 2 and 0 < run["to_capacity"] < run["signed_out"] and run["outage"] == 0
    summary = h.chat.wait_for(lambda: [t for t in h.thread(2) if "failback time" in t], timeout=15)[0]
    assert "the primary takes users again *" in summary and "after approval" in summary
    assert "DR's users signed out *" in summary
    assert "outage *0s* (the primary was ready before the users were signed out)" in summary
    h.chat.slash("/avd failover status dr", user=OPS)
    status = h.chat.wait_for(
        lambda: [r for r in h.slack.calls_to("response_url") if "failback (job 2)" in str(r)], timeout=10
    )
    assert "primary taking users after" in str(status[-1])
