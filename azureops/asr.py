"""Azure Site Recovery recovery plans (azure-mgmt-recoveryservicessiterecovery): read a plan's state, run its
failover, commit it and reprotect, each as an LRO whose continuation token the caller saves.

A plan's state is read from Azure, never remembered. The plan's ``allowedOperations`` (values of the spec's
``ReplicationProtectedItemOperation``) says which phase it is in (protected: ``UnplannedFailover``; failed
over: ``Commit``; committed: ``ReverseReplicate``; a job running: none). The active side is not on the plan:
``RecoveryPlanProperties`` has no such field. It is ``activeLocation`` (Primary|Recovery) of the replication
protected items the plan's groups list, read one by one. A planned failover is asked for only where the plan
allows ``PlannedFailover`` (never for A2A, Azure to Azure: the spec has no A2A planned-failover input); an
unplanned one shuts the source VMs down (``sourceSiteOperations = Required``) whenever the source answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.polling import LROPoller
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from avdcore.errors import AzureError
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.plan import Step, StepContext, follow, run_lro

PRIMARY_TO_RECOVERY, RECOVERY_TO_PRIMARY = "PrimaryToRecovery", "RecoveryToPrimary"
PROTECTED, FAILED_OVER, COMMITTED, RUNNING = "protected", "failed over", "committed", "running"
PRIMARY, RECOVERY = "Primary", "Recovery"


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
    active: str  # Primary | Recovery: the protected items' activeLocation ("" while they disagree)
    scenario: str  # the current (or last) scenario's name
    job: str  # its job name
    allowed: tuple[str, ...] = ()  # the plan's allowedOperations, as Azure spells them
    providers: tuple[str, ...] = ()  # the plan's replicationProviders (A2A for Azure to Azure)

    def failed_over_from(self, direction: str) -> bool:
        """True once a failover in ``direction`` has happened (whatever commit/reprotect followed)."""
        return self.active == (RECOVERY if direction == PRIMARY_TO_RECOVERY else PRIMARY)

    def allows(self, operation: str) -> bool:
        return operation.lower() in {a.lower() for a in self.allowed}


def client(clients: AzureClients, subscription: str) -> SiteRecoveryManagementClient:
    """The Site Recovery client of ``clients`` (same endpoint, CA and polling as the others)."""
    return clients.asr(subscription)


def _ops(clients: AzureClients, ref: RecoveryPlanRef) -> Any:
    return client(clients, ref.subscription).replication_recovery_plans


def protected_item_ids(plan: Any) -> list[str]:
    """The replication protected items the plan's groups list (their ARM ids)."""
    props: Any = plan.properties
    return [
        str(item.id)
        for group in props.groups or []
        for item in group.replication_protected_items or []
        if item.id
    ]


def _item(clients: AzureClients, ref: RecoveryPlanRef, item_id: str) -> Any:
    parts = item_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    try:
        fabric = parts[lower.index("replicationfabrics") + 1]
        container = parts[lower.index("replicationprotectioncontainers") + 1]
        name = parts[lower.index("replicationprotecteditems") + 1]
    except (ValueError, IndexError):
        raise AzureError(
            f"recovery plan {ref.name} lists {item_id!r}, which is not a replication protected item id",
            code="InvalidProtectedItem",
            resource_id=ref.id,
            next_step="check the recovery plan's groups in the portal",
        ) from None
    with translated(item_id):
        return client(clients, ref.subscription).replication_protected_items.get(
            ref.resource_group, ref.vault, fabric, container, name
        )


def _phase(allowed: set[str], status: str) -> str:
    if status == "inprogress" or not allowed:
        return RUNNING
    if "commit" in allowed:
        return FAILED_OVER
    if "reversereplicate" in allowed:
        return COMMITTED
    return PROTECTED


def read_state(clients: AzureClients, ref: RecoveryPlanRef) -> PlanState:
    """The plan's phase (its ``allowedOperations``) and active side (its protected items' ``activeLocation``)."""
    with translated(ref.id):
        plan = _ops(clients, ref).get(ref.resource_group, ref.vault, ref.name)
    props: Any = plan.properties
    allowed = tuple(str(a) for a in props.allowed_operations or [])
    current = props.current_scenario
    scenario = str(current.scenario_name or "") if current is not None else ""
    job = str(current.job_id or "").rstrip("/").rsplit("/", 1)[-1] if current is not None else ""
    ids = protected_item_ids(plan)
    if not ids:
        raise AzureError(
            f"recovery plan {ref.name} has no protected items: Azure keeps the active side on them",
            code="RecoveryPlanEmpty",
            resource_id=ref.id,
            next_step="add the session hosts' replicated VMs to the recovery plan, then retry",
        )
    items = [_item(clients, ref, i).properties for i in ids]
    phase = _phase({a.lower() for a in allowed}, str(props.current_scenario_status or "").lower())
    if any(not (i.allowed_operations or []) for i in items):
        phase = RUNNING
    sides = {str(i.active_location or "") for i in items}
    active = sides.pop() if len(sides) == 1 else ""
    if phase != RUNNING and active not in (PRIMARY, RECOVERY):
        raise AzureError(
            f"the protected items of recovery plan {ref.name} are not active on one side "
            f"({', '.join(sorted(str(i.active_location) for i in items))})",
            code="ProtectedItemsSplit",
            resource_id=ref.id,
            next_step="finish or fail over the items left behind in the portal, then retry",
        )
    providers = tuple(str(p) for p in props.replication_providers or [])
    return PlanState(
        phase=phase, active=active, scenario=scenario, job=job, allowed=allowed, providers=providers
    )


def failover_input(direction: str, planned: bool, *, source_up: bool = True) -> dict[str, Any]:
    """The failover body: an unplanned one shuts the source VMs down (``Required``) when the source answers
    and skips that (``NotRequired``) only when it does not."""
    props: dict[str, Any] = {"failoverDirection": direction}
    if not planned:
        props.update(
            sourceSiteOperations="Required" if source_up else "NotRequired",
            providerSpecificDetails=[{"instanceType": "A2A", "recoveryPointType": "Latest"}],
        )
    return {"properties": props}


def begin_failover(
    clients: AzureClients, ref: RecoveryPlanRef, direction: str, *, planned: bool, source_up: bool = True
) -> LROPoller[Any]:
    """Start a planned (source shut down cleanly) or unplanned failover of the plan in ``direction``."""
    ops = _ops(clients, ref)
    begin = ops.begin_planned_failover if planned else ops.begin_unplanned_failover
    body = failover_input(direction, planned, source_up=source_up)
    with translated(ref.id):
        return begin(ref.resource_group, ref.vault, ref.name, body)  # type: ignore[no-any-return]


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
    home = PRIMARY if direction == PRIMARY_TO_RECOVERY else RECOVERY
    if state.active == home:
        return {PROTECTED: 0, FAILED_OVER: 4, COMMITTED: 5}.get(state.phase, 0)
    return {FAILED_OVER: 1, COMMITTED: 2, PROTECTED: 3}.get(state.phase, 1)


def reached(current: int, target: int) -> bool:
    if target == 1:
        return current in (1, 2, 3)
    return current == 0 or (target < 6 and current >= target)


def failover_kind(state: PlanState, planned: bool, source_up: bool, note: Callable[[str], None]) -> str:
    """Which failover to run: planned only where the plan allows it (A2A never does); an unplanned one says
    whether the source VMs are shut down first."""
    if planned and state.allows("PlannedFailover") and source_up:
        return "planned failover"
    if planned:
        why = (
            "the source region does not answer"
            if not source_up
            else f"the plan does not allow it ({'/'.join(state.providers) or 'its provider'}: "
            "Azure-to-Azure supports unplanned failover only)"
        )
        note(f"planned failover skipped: {why}")
    if source_up:
        return "unplanned failover (source VMs shut down first)"
    return "unplanned failover (source region down: source VMs left as they are)"


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
    source_up: Callable[[], bool] = lambda: True,
) -> Step:
    """Move the plan to cycle stage ``target`` with one action, following its job to the end. ``planned``:
    the config asks for a planned failover; ``source_up``: the side failed over from answers."""
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
        state = settled(clients, ref, tick)
        if reached(stage(state, ref.direction), target):
            return "already done"
        kind = action
        if action == "failover":
            kind = failover_kind(state, planned(), source_up(), ctx.note)
            poller = begin_failover(
                clients, ref, direction, planned=kind.startswith("planned"), source_up=source_up()
            )
        else:
            poller = begin_commit(clients, ref) if action == "commit" else begin_reprotect(clients, ref)
        with translated(ref.id):
            run_lro(ctx, poller, tick=tick)
        return f"{kind} done ({read_state(clients, ref).scenario} job Succeeded)"

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
