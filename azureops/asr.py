"""Azure Site Recovery recovery plans (azure-mgmt-recoveryservicessiterecovery): read a plan's state, run a
planned/unplanned failover, commit it and reprotect, each as an LRO whose continuation token the caller saves.

A plan's state is read from Azure, never remembered: ``allowedOperations`` says which phase it is in
(protected: failovers allowed; failed over: commit allowed; committed: reprotect allowed; running: none),
``activeLocation`` (when the service reports it) or the last failover scenario says which side is active.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.polling import LROPoller
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.plan import Step, StepContext, follow, run_lro

PRIMARY_TO_RECOVERY, RECOVERY_TO_PRIMARY = "PrimaryToRecovery", "RecoveryToPrimary"
PROTECTED, FAILED_OVER, COMMITTED, RUNNING = "protected", "failed over", "committed", "running"


@dataclass(frozen=True)
class RecoveryPlanRef:
    subscription: str
    resource_group: str
    vault: str
    name: str
    direction: str = PRIMARY_TO_RECOVERY  # the failover direction; failback uses the other one

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.RecoveryServices/vaults/{self.vault}/replicationRecoveryPlans/{self.name}"
        )

    @classmethod
    def from_config(cls, subscription: str, asr: Mapping[str, str]) -> RecoveryPlanRef:
        """From a site's ``asr = {vault_resource_group, vault, recovery_plan, direction}`` table."""
        return cls(
            subscription=str(asr.get("subscription") or subscription),
            resource_group=str(asr["vault_resource_group"]),
            vault=str(asr["vault"]),
            name=str(asr["recovery_plan"]),
            direction=str(asr.get("direction") or PRIMARY_TO_RECOVERY),
        )


@dataclass(frozen=True)
class PlanState:
    phase: str  # protected | failed over | committed | running
    active: str  # Primary | Recovery
    scenario: str  # the current (or last) scenario's name
    job: str  # its job name

    def failed_over_from(self, direction: str) -> bool:
        """True once a failover in ``direction`` has happened (whatever commit/reprotect followed)."""
        return self.active == ("Recovery" if direction == PRIMARY_TO_RECOVERY else "Primary")


def client(clients: AzureClients, subscription: str) -> SiteRecoveryManagementClient:
    """The Site Recovery client of ``clients`` (same endpoint, CA and polling as the others)."""
    return clients.asr(subscription)


def _ops(clients: AzureClients, ref: RecoveryPlanRef) -> Any:
    return client(clients, ref.subscription).replication_recovery_plans


def read_state(clients: AzureClients, ref: RecoveryPlanRef) -> PlanState:
    with translated(ref.id):
        plan = _ops(clients, ref).get(ref.resource_group, ref.vault, ref.name)
    props: Any = plan.properties
    allowed = {str(a).lower() for a in (props.allowed_operations or [])}
    current = props.current_scenario
    scenario = str(current.scenario_name or "") if current is not None else ""
    job = str(current.job_id or "") if current is not None else ""
    if str(props.current_scenario_status or "").lower() == "inprogress" or not allowed:
        phase = RUNNING
    elif "failovercommit" in allowed:
        phase = FAILED_OVER
    elif "reprotect" in allowed:
        phase = COMMITTED
    else:
        phase = PROTECTED
    active = str(props.get("activeLocation") or "") if hasattr(props, "get") else ""
    if not active:
        active = "Recovery" if phase in (FAILED_OVER, COMMITTED) else "Primary"
    return PlanState(phase=phase, active=active, scenario=scenario, job=job)


def _failover_input(direction: str, planned: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"failoverDirection": direction}
    if not planned:
        props.update(
            sourceSiteOperations="NotRequired",
            providerSpecificDetails=[{"instanceType": "A2A", "recoveryPointType": "Latest"}],
        )
    return {"properties": props}


def begin_failover(
    clients: AzureClients, ref: RecoveryPlanRef, direction: str, *, planned: bool
) -> LROPoller[Any]:
    """Start a planned (source shut down cleanly) or unplanned failover of the plan in ``direction``."""
    ops = _ops(clients, ref)
    begin = ops.begin_planned_failover if planned else ops.begin_unplanned_failover
    with translated(ref.id):
        return begin(ref.resource_group, ref.vault, ref.name, _failover_input(direction, planned))  # type: ignore[no-any-return]


def begin_commit(clients: AzureClients, ref: RecoveryPlanRef) -> LROPoller[Any]:
    with translated(ref.id):
        return _ops(clients, ref).begin_failover_commit(ref.resource_group, ref.vault, ref.name)  # type: ignore[no-any-return]


def begin_reprotect(clients: AzureClients, ref: RecoveryPlanRef) -> LROPoller[Any]:
    with translated(ref.id):
        return _ops(clients, ref).begin_reprotect(ref.resource_group, ref.vault, ref.name)  # type: ignore[no-any-return]


def reattach(clients: AzureClients, ref: RecoveryPlanRef, action: str, token: str) -> LROPoller[Any]:
    """Re-attach to an action started before a restart (``action``: failover | commit | reprotect)."""
    ops = _ops(clients, ref)
    with translated(ref.id):
        if action == "failover":
            return ops.begin_unplanned_failover(  # type: ignore[no-any-return]
                ref.resource_group, ref.vault, ref.name, {}, continuation_token=token
            )
        begin = ops.begin_failover_commit if action == "commit" else ops.begin_reprotect
        return begin(ref.resource_group, ref.vault, ref.name, continuation_token=token)  # type: ignore[no-any-return]


def job_state(clients: AzureClients, ref: RecoveryPlanRef, job: str) -> str:
    """The replication job's state (InProgress, Succeeded, Failed, ...)."""
    with translated(f"{ref.id}/../../replicationJobs/{job}"):
        found = client(clients, ref.subscription).replication_jobs.get(ref.resource_group, ref.vault, job)
    props: Any = found.properties
    return str(getattr(props, "state", "") or "")


# ---- plan steps ------------------------------------------------------------------------------------
# A failover and its failback walk one cycle of stages: 0 protected at home, 1 failed over, 2 committed,
# 3 reprotected (replicating back), 4 failed back, 5 committed, and back to 0.
ACTIONS = {1: "failover", 2: "commit", 3: "reprotect", 4: "failover", 5: "commit", 6: "reprotect"}


def stage(state: PlanState, direction: str) -> int:
    home = "Primary" if direction == PRIMARY_TO_RECOVERY else "Recovery"
    if state.active == home:
        return {PROTECTED: 0, FAILED_OVER: 4, COMMITTED: 5}.get(state.phase, 0)
    return {FAILED_OVER: 1, COMMITTED: 2, PROTECTED: 3}.get(state.phase, 1)


def reached(current: int, target: int) -> bool:
    if target == 1:
        return current in (1, 2, 3)
    return current == 0 or (target < 6 and current >= target)


def settled(clients: AzureClients, ref: RecoveryPlanRef, tick: float) -> PlanState:
    """The plan's state once no job is running on it."""
    while (state := read_state(clients, ref)).phase == RUNNING:
        time.sleep(tick)
    return state


def asr_step(
    clients: AzureClients,
    ref: RecoveryPlanRef,
    target: int,
    *,
    name: str,
    planned: Callable[[], bool],
    tick: float,
) -> Step:
    """Move the plan to cycle stage ``target`` with one action, following its job to the end."""
    action = ACTIONS[target]
    direction = (
        ref.direction
        if target < 4
        else (RECOVERY_TO_PRIMARY if ref.direction == PRIMARY_TO_RECOVERY else PRIMARY_TO_RECOVERY)
    )
    label = {
        "failover": f"Run recovery plan {ref.name}: failover {direction}",
        "commit": f"Commit the failover of recovery plan {ref.name}",
        "reprotect": f"Reprotect recovery plan {ref.name} (replicate back)",
    }[action]

    def check(ctx: StepContext) -> bool:
        state = read_state(clients, ref)
        return state.phase != RUNNING and reached(stage(state, ref.direction), target)

    def apply(ctx: StepContext) -> str:
        if reached(stage(settled(clients, ref, tick), ref.direction), target):
            return "already done"
        if action == "failover":
            kind = "planned" if planned() else "unplanned"
            ctx.note(f"{kind} failover")
            poller = begin_failover(clients, ref, direction, planned=kind == "planned")
        else:
            poller = begin_commit(clients, ref) if action == "commit" else begin_reprotect(clients, ref)
        with translated(ref.id):
            run_lro(ctx, poller, tick=tick)
        return f"{action} done ({read_state(clients, ref).scenario} job Succeeded)"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(ref.id):
            follow(ctx, reattach(clients, ref, action, token), tick=tick)
        return f"{action} done (re-attached)"

    return Step(
        name=name,
        resource_id=ref.id,
        description=label,
        apply=apply,
        check=check,
        resume=resume,
        estimate_seconds={"failover": 300, "commit": 60, "reprotect": 600}[action],
        intent={"stage": target, "direction": direction},
    )
