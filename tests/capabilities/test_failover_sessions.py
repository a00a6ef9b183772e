"""Sessions that remain after sign-out (``sim.azure.lingering``: a forced log-off answers 200 but the session
stays). With ``recheck_sessions = true`` the log-off step signs out twice, then stops the failover to ask again
before its post-steps and summary (DR's branch came up beside the grace period); Retry signs the rest out and the failover completes. With ``false`` it goes on and says how
many remain."""

from __future__ import annotations

from typing import Any

from sim.azure.providers import lingering
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

OPS, LEAD = "U0OPS1", "U0LEAD1"
BOB = "bob@contoso.com"


def start(h: Harness) -> None:
    assert h.chat.slash("/avd failover start dr", user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=LEAD).status == 200


def log_offs(h: Harness, session_id: str) -> int:
    return len(
        [e for e in h.sim.writes("/usersessions/") if e.method == "DELETE" and e.path.lower() == session_id]
    )


def test_sessions_left_after_sign_out_stop_the_failover_until_retry(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(first=(lingering,))
    assert lingering.linger(h.sim, BOB, times=2) == 1
    bob = next(
        str(s["id"]).lower() for s in h.sim.user_sessions("AVD", "EntraAuth") if s.user_principal_name == BOB
    )
    start(h)
    job = h.wait_job(1, "failed", timeout=20)
    assert "1 session(s) remain in EntraAuth after sign-out (bob@contoso.com): press Retry" in job["error"]
    steps = {s["name"]: s["status"] for s in h.steps(1)}
    assert steps["log-off-users"] == "failed" and steps["summary"] == "pending"
    assert steps["dr-scale-out"] == "done"  # DR's branch does not wait for the primary's users
    assert [s.user_principal_name for s in h.sim.user_sessions("AVD", "EntraAuth")] == [BOB]
    assert log_offs(h, bob) == 2  # signed out, then asked again once, before stopping
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2

    h.chat.wait_for(
        lambda: "Retry" in str(h.slack.message(job["channel"], job["card_ts"])["blocks"]), timeout=15
    )
    assert h.chat.click("Retry", user=OPS).status == 200  # acked at once; the retry itself follows the ack
    h.chat.wait_for(lambda: h.job(1)["status"] != "failed", timeout=15)
    h.wait_job(1, timeout=20)
    assert h.sim.user_sessions("AVD", "EntraAuth") == []
    assert log_offs(h, bob) == 3 and h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    out = {s["name"]: s["output"] for s in h.steps(1)}["log-off-users"]
    assert out == "1 session(s) logged off"


def test_without_recheck_the_failover_goes_on_and_reports_what_remains(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory(config=failover_config(recheck=False), first=(lingering,))
    lingering.linger(h.sim, BOB, times=5)
    start(h)
    h.wait_job(1, timeout=20)
    out = {s["name"]: s["output"] for s in h.steps(1)}["log-off-users"]
    assert out == "3 session(s) logged off; 1 session(s) remain"
    assert [s.user_principal_name for s in h.sim.user_sessions("AVD", "EntraAuth")] == [BOB]
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2
