"""A failover end to end on the simulator, with the engine running the plan's branches at once: DR comes up during
the grace period (the card shows it), the summary and ``dr_runs`` carry the three RTO figures (no outage when DR
was ready first), and a primary that does not answer gives up in its own branch while DR comes up.

Orderings, not timings, are asserted: at time scale 600 the DR hosts boot in about 0.5 s, against a grace period
or a primary timeout of 3 s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.capabilities.drill import runs
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

OPS, LEAD = "U0OPS1", "U0LEAD1"


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
    h.wait_job(1, timeout=30)
    end = ended(h, 1)
    assert end["dr-hosts-available"] < end["notify-users"] < end["log-off-users"]
    assert h.sim.user_sessions("AVD", "EntraAuth") == []
    run = runs(h.runtime, kind="failover")[0]
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
    # the primary answers the preflight, then stops answering its drain (every try of it)
    h.sim.faults.latency("PATCH", r"/hostPools/EntraAuth/sessionHosts/", seconds=8)
    start(h)
    h.wait_job(1, timeout=40)
    steps = {s["name"]: s for s in h.steps(1)}
    for name in ("primary-drain", "notify-users", "log-off-users"):
        assert "skipped: the primary region westeurope did not answer" in steps[name]["output"], name
    end = ended(h, 1)
    assert end["dr-hosts-available"] < end["primary-drain"]  # DR was Available before the primary gave up
    assert len([x for x in h.sim.session_hosts("AVDDR", "EntraAuthDR") if x.status == "Available"]) == 2
    run = runs(h.runtime, kind="failover")[0]
    assert run["to_capacity"] > 0 and run["signed_out"] is None and run["outage"] is None
    summary = h.chat.wait_for(lambda: [t for t in h.thread(1) if "recovery time" in t], timeout=15)[0]
    assert "not signed out by this job" in summary and "the primary region did not answer" in summary
    h.sim.faults.clear()
