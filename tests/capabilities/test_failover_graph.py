"""The failover, failback, rollback and drill plans as graphs (built offline: a step talks to Azure only when it
runs): DR's scale-out needs only the DR preflight (the primary probe gates the primary's and ASR's branches),
post-steps need every branch, no DR step waits for a primary step or the primary region, failback scales DR in only after its sessions are gone, a drill reports beside its teardown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azureops import failover as fo
from azureops.asr import RecoveryPlanRef
from azureops.plan import Plan, Step
from azureops.recovery import callback_step
from tests.kit.failover import GROUP, SUB, offline_clients, seed_sites

PRIMARY_BRANCH = ("primary-autoscale-off", "primary-drain", "notify-users", "log-off-users")
ASR = RecoveryPlanRef.from_config(
    SUB, {"vault_resource_group": "ASRDR", "vault": "avd-asr", "recovery_plan": "avd-personal"}
)


def now() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def summary() -> Step:
    return callback_step("summary", "Post the summary", lambda ctx: "posted")


def failover_plan(**options: Any) -> Plan:
    primary, dr = seed_sites(tuple(options.get("app_group_principals", ())))
    opt = fo.Options(**options)
    return fo.failover_plan(offline_clients(), primary, dr, opt, now, final=[summary()])


def upstream(plan: Plan, name: str) -> set[str]:
    """Every step ``name`` waits for, directly or not."""
    seen: set[str] = set()
    todo = list(plan.needs(name))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(plan.needs(n))
    return seen


def test_failover_runs_dr_beside_the_primary_branch_and_post_steps_after_both() -> None:
    plan = failover_plan(app_group_principals=(GROUP,), asr=ASR, grace_seconds=300)
    assert not plan.is_line
    assert plan.needs("dr-preflight") == () and plan.needs("primary-probe") == ()
    assert plan.needs("dr-scale-out") == ("dr-preflight",)  # DR's scale-out: the DR preflight only
    assert plan.needs("dr-hosts-available") == ("dr-scale-out",)
    assert plan.needs("asr-failover") == ("dr-preflight", "primary-probe")  # planned or not: the probe says
    assert plan.needs("primary-autoscale-off") == ("dr-preflight", "primary-probe")
    assert [plan.needs(n) for n in PRIMARY_BRANCH[1:]] == [(n,) for n in PRIMARY_BRANCH[:-1]]
    assert set(plan.needs("dr-assign-app-group")) == {"log-off-users", "asr-failover", "dr-hosts-available"}
    assert plan.needs("summary") == ("dr-assign-app-group",)
    for name in ("dr-scale-out", "dr-hosts-available"):  # DR never waits for the primary region
        assert upstream(plan, name) == {"dr-preflight"} | (
            {"dr-scale-out"} if name == "dr-hosts-available" else set()
        )
    assert upstream(plan, "asr-failover") == {"dr-preflight", "primary-probe"}
    # a one-at-a-time runner (list order) still asks for DR before the probe and the grace period, and waits
    # for its hosts after them
    names = [s.name for s in plan.steps]
    assert names[:3] == ["dr-preflight", "dr-scale-out", "primary-probe"]
    assert names.index("notify-users") < names.index("dr-hosts-available")
    preview = "\n".join(plan.preview())
    assert "after 4, 8, 9" in preview and "· after 1, 3" in preview
    assert (
        "2. Scale EntraDR to 2 on `VMSSDR/virtualMachineScaleSets/EntraDR` (~30s) · after 1\n"
        in preview + "\n"
    )


def test_the_dr_preflight_reads_the_dr_region_only_and_the_probe_the_primary() -> None:
    plan = failover_plan(capacity=2)
    dr_pre, probe = plan.step("dr-preflight"), plan.step("primary-probe")
    assert "uksouth" in dr_pre.description and "westeurope" not in dr_pre.description
    assert "westeurope" in probe.description and "the replica in uksouth" in probe.description
    assert dr_pre.resource_id == probe.resource_id == "" and not dr_pre.intent and not probe.intent


def test_failover_estimate_is_the_longer_branch_not_the_sum() -> None:
    plan = failover_plan(grace_seconds=300)
    grace = plan.step("notify-users").estimate_seconds
    boot = plan.step("dr-scale-out").estimate_seconds + plan.step("dr-hosts-available").estimate_seconds
    primary = sum(plan.step(n).estimate_seconds for n in PRIMARY_BRANCH)
    assert grace > 300 and boot == 390
    line = sum(s.estimate_seconds for s in plan.steps)
    checks = max(plan.step("dr-preflight").estimate_seconds, plan.step("primary-probe").estimate_seconds)
    assert plan.estimate_seconds == checks + max(primary, boot) + 1
    assert plan.estimate_seconds < line


def test_failover_without_post_steps_or_asr_ends_in_both_branches() -> None:
    plan = failover_plan()
    assert set(plan.needs("summary")) == {"log-off-users", "dr-hosts-available"}
    assert "asr-failover" not in [s.name for s in plan.steps]


def test_the_graph_is_in_the_plan_hash() -> None:
    plan = failover_plan()
    line = Plan(
        plan.kind, plan.title, tuple(s.__class__(**{**s.__dict__, "after": None}) for s in plan.steps)
    )
    assert plan.hash() != line.hash()
    assert plan.hash() == failover_plan().hash()


def test_failback_drains_dr_while_it_undrains_the_primary_and_scales_in_after_the_sessions() -> None:
    primary, dr = seed_sites((GROUP,))
    opt = fo.Options(app_group_principals=(GROUP,), asr=ASR)
    plan = fo.failback_plan(offline_clients(), primary, dr, opt, now, final=[summary()])
    assert plan.needs("dr-drain") == ("preflight",) and plan.needs("primary-undrain") == ("preflight",)
    assert plan.needs("primary-autoscale-on") == ("primary-undrain",)
    assert set(plan.needs("dr-unassign-app-group")) == {"dr-drain", "primary-undrain"}
    assert plan.needs("dr-notify-users") == ("dr-unassign-app-group",)
    assert plan.needs("dr-sessions-gone") == ("dr-log-off-users",)
    assert plan.needs("dr-scale-in") == ("dr-sessions-gone",)
    assert {"dr-log-off-users", "primary-undrain", "dr-drain"} <= upstream(plan, "dr-scale-in")
    assert plan.needs("asr-commit") == ("preflight",)
    assert set(plan.needs("asr-failback")) == {"asr-reprotect", "dr-log-off-users"}
    assert set(plan.needs("summary")) == {"primary-autoscale-on", "dr-scale-in", "asr-reprotect-home"}


def test_rollback_scales_dr_in_after_the_primary_takes_users_again() -> None:
    primary, dr = seed_sites()
    plan = fo.rollback_plan(offline_clients(), primary, dr, fo.Options())
    assert plan.needs("primary-undrain") == ()
    assert plan.needs("primary-autoscale-on") == ("primary-undrain",)
    assert plan.needs("dr-sessions-gone") == ("primary-undrain",)
    assert plan.needs("dr-scale-in") == ("dr-sessions-gone",)


def test_drill_reports_beside_the_teardown() -> None:
    primary, dr = seed_sites()
    measure = callback_step("measure", "Record", lambda ctx: "")
    report = callback_step("report", "Report", lambda ctx: "")
    plan = fo.drill_plan(
        offline_clients(), primary, dr, fo.Options(capacity=1), now, measure=[measure], final=[report]
    )
    assert [s.name for s in plan.steps] == [
        "preflight",
        "drill-scale-out",
        "drill-hosts-available",
        "measure",
        "drill-scale-in",
        "report",
    ]
    assert plan.needs("measure") == ("drill-hosts-available",)
    assert plan.needs("drill-scale-in") == ("measure",) and plan.needs("report") == ("measure",)
