"""Failback as a graph, end to end: DR is drained while the primary is undrained, DR's users are messaged and signed
out once both are done, and DR is scaled in only after its sessions are gone (the simulator's journal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sim.azure.providers import sessions
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

OPS, LEAD, LEAD2 = "U0OPS1", "U0LEAD1", "U0LEAD2"


def run(h: Harness, line: str, job_id: int, approver: str) -> None:
    assert h.chat.slash(line, user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(job_id).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=approver).status == 200
    h.wait_job(job_id, timeout=30)


def test_failback_drains_dr_beside_the_primary_and_scales_in_after_dr_sessions_are_gone(
    harness_factory: Any,  # noqa: F811
) -> None:
    h: Harness = harness_factory(config=failover_config(grace=1))
    run(h, "/avd failover start dr", 1, LEAD)
    host = next(
        x
        for x in h.sim.store.of_type("Microsoft.DesktopVirtualization/hostPools/sessionhosts")
        if "/avddr/" in x["id"].lower()
    )
    sessions.make_user_session(h.sim, host, 1, "dave@contoso.com")  # a user working on DR
    before = len(h.sim.journal)
    run(h, "/avd failback start dr", 2, LEAD2)

    rows = {s["name"]: s for s in h.steps(2)}
    started = {n: datetime.fromisoformat(r["started_at"]) for n, r in rows.items() if r["started_at"]}
    ended = {n: datetime.fromisoformat(r["finished_at"]) for n, r in rows.items() if r["finished_at"]}
    assert max(ended["dr-drain"], ended["primary-undrain"]) <= started["dr-notify-users"]
    assert ended["dr-sessions-gone"] <= started["dr-scale-in"]
    journal = h.sim.journal[before:]
    sign_out = [
        n
        for n, e in enumerate(journal)
        if e.method == "DELETE" and "/hostpools/entraauthdr/" in e.path.lower()
    ]
    scale_in = [
        n for n, e in enumerate(journal) if e.method == "PATCH" and e.path.lower().endswith("/entradr")
    ]
    assert sign_out and scale_in and max(sign_out) < min(scale_in)
    assert h.sim.user_sessions("AVDDR", "EntraAuthDR") == []
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0
    assert all(x.allow_new_session is True for x in h.sim.session_hosts("AVD", "EntraAuth"))
    assert all(x.allow_new_session is False for x in h.sim.session_hosts("AVDDR", "EntraAuthDR"))


def test_failback_waits_for_both_regions_and_touches_neither_while_the_primary_does_not_answer(
    harness_factory: Any,  # noqa: F811
) -> None:
    h: Harness = harness_factory(config=failover_config(grace=1, timeout=2))
    run(h, "/avd failover start dr", 1, LEAD)
    before = len(h.sim.journal)
    cut = h.sim.faults.latency("*", r"/resourceGroups/AVD/", seconds=30)  # the primary does not answer
    assert h.chat.slash("/avd failback start dr", user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(2).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=LEAD2).status == 200
    h.wait_job(2, "failed", timeout=30)
    steps = {s["name"]: s["status"] for s in h.steps(2)}
    assert steps["preflight"] == "failed" and steps["dr-drain"] == "pending"  # DR keeps its users
    assert cut.hits == 1  # one bounded read of the primary, never retried past the timeout
    assert not [e for e in h.sim.journal[before:] if e.method != "GET"]
    assert all(x.allow_new_session is False for x in h.sim.session_hosts("AVD", "EntraAuth"))
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    h.sim.faults.clear()
