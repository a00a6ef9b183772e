"""The seed story end to end over signed Slack requests and the ARM simulator: replica, identity and EntraDR
ready, users in EntraAuth; ``/avd failover start`` -> a second person approves -> the primary is drained, its
users messaged and signed out, EntraDR scaled to 2, two session hosts Available in EntraAuthDR, a summary with
the recovery time in the thread; then ``/avd failback start`` puts everything back."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.kit.failover import Harness, harness_factory  # noqa: F401 - fixture

OPS, LEAD, LEAD2 = "U0OPS1", "U0LEAD1", "U0LEAD2"


def approve(h: Harness, job_id: int, user: str) -> None:
    h.chat.wait_for(lambda: h.job(job_id).get("card_ts"), timeout=15)
    assert h.chat.click("Approve", user=user).status == 200
    h.chat.wait_for(lambda: h.job(job_id)["status"] != "awaiting_approval", timeout=15)


def written(h: Harness) -> Counter[tuple[str, str]]:
    return Counter((e.method, e.path.lower()) for e in h.sim.writes())


def test_seed_story_failover_then_failback(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    assert len(h.sim.user_sessions("AVD", "EntraAuth")) == 3
    before = written(h)

    assert h.chat.slash("/avd failover start dr", user=OPS).status == 200
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=15)
    assert h.job(1)["status"] == "awaiting_approval"
    h.chat.click("Approve", user=OPS)  # an operator who is not an approver cannot approve
    assert h.chat.wait_for_ephemeral(OPS, "only an approver")
    approve(h, 1, LEAD)
    h.wait_job(1)

    hosts = h.sim.session_hosts("AVD", "EntraAuth")
    assert hosts and all(host.allow_new_session is False for host in hosts)
    assert h.sim.user_sessions("AVD", "EntraAuth") == []
    assert sorted(m["user"] for m in h.sim.messages) == [
        "alice@contoso.com",
        "bob@contoso.com",
        "carol@contoso.com",
    ]
    assert all("1 seconds" in m["body"] and m["title"] == "AVD failover" for m in h.sim.messages)
    plan = h.sim.resource(
        f"/subscriptions/{'0' * 8}-0000-0000-0000-{'0' * 11}1/resourceGroups/AVD/providers/"
        "Microsoft.DesktopVirtualization/scalingPlans/EntraAuth-Scaling"
    )
    assert plan is not None and plan.host_pool_references[0]["scalingPlanEnabled"] is False
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    dr_hosts = h.sim.session_hosts("AVDDR", "EntraAuthDR")
    assert len([x for x in dr_hosts if x.status == "Available"]) == 2
    thread = h.chat.wait_for(lambda: [t for t in h.thread(1) if "recovery time" in t], timeout=15)
    assert "Failover primary -> dr" in thread[0]
    assert "DR capacity Available" in thread[0] and "outage" in thread[0]
    steps = [(s["name"], s["status"]) for s in h.steps(1)]
    assert steps == [  # list order: DR is asked for before the probe and the grace period, its hosts after
        ("dr-preflight", "done"),
        ("dr-scale-out", "done"),
        ("primary-probe", "done"),
        ("primary-autoscale-off", "done"),
        ("primary-drain", "done"),
        ("notify-users", "done"),
        ("log-off-users", "done"),
        ("dr-hosts-available", "done"),
        ("summary", "done"),
    ]
    failover_writes = written(h) - before
    assert (
        failover_writes[
            (
                "PATCH",
                "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/vmssdr/"
                "providers/microsoft.compute/virtualmachinescalesets/entradr",
            )
        ]
        == 1
    )
    assert all(n == 1 for n in failover_writes.values()), failover_writes

    # a second failover of the same site is refused while ... nothing runs: it would plan again; failback now
    assert h.chat.slash("/avd failback start dr", user=OPS).status == 200
    approve(h, 2, LEAD2)
    h.wait_job(2)
    assert all(host.allow_new_session is True for host in h.sim.session_hosts("AVD", "EntraAuth"))
    plan = h.sim.resource(plan["id"])
    assert plan is not None and plan.host_pool_references[0]["scalingPlanEnabled"] is True
    assert "avd-ops-autoscale" not in (plan.get("tags") or {})
    assert h.sim.scale_set("VMSSDR", "EntraDR").capacity == 0
    assert h.chat.wait_for(lambda: [t for t in h.thread(2) if "failback time" in t], timeout=15)
    assert all(n == 1 for n in (written(h) - before - failover_writes).values())
