"""Microsoft.RecoveryServices (Azure Site Recovery): vaults, recovery plans and the replication jobs they run.

A recovery plan has a phase and an active side. ``plannedFailover`` / ``unplannedFailover`` (direction must
leave the active side) -> ``failedOver``; ``failoverCommit`` -> ``committed``; ``reprotect`` -> ``protected``
again, now replicating the other way. Each action answers 202 with ``Azure-AsyncOperation`` (the generic
operation monitor) and ``Location`` (the plan itself, so the SDK's final GET returns the ``RecoveryPlan``),
and creates a ``replicationJobs/{id}`` resource that goes InProgress -> Succeeded|Failed on the virtual clock.
Simulator conventions (not documented by Azure): ``properties.activeLocation`` (Primary|Recovery) on the plan,
and the error code ``RecoveryPlanActionNotAllowed`` for an action the plan's state does not allow.

Listed in ``providers.PROVIDERS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure import lro
from sim.azure.clock import iso
from sim.azure.ids import guid, region_display, region_key
from sim.azure.providers.common import body_dict, new_doc, page
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2025-08-01", "2025-01-01", "2024-10-01", "2024-04-01", "2023-08-01", "2023-06-01", "2023-02-01")
NS = "Microsoft.RecoveryServices"
VAULT_TYPE = f"{NS}/vaults"
PLAN_TYPE = f"{NS}/vaults/replicationRecoveryPlans"
JOB_TYPE = f"{NS}/vaults/replicationJobs"
# action -> (phase required, phase after, virtual duration range, scenario name, flips the active side)
ACTIONS: dict[str, tuple[str, str, tuple[float, float], str, bool]] = {
    "plannedfailover": ("protected", "failedOver", (300.0, 480.0), "PlannedFailover", True),
    "unplannedfailover": ("protected", "failedOver", (180.0, 300.0), "UnplannedFailover", True),
    "failovercommit": ("failedOver", "committed", (30.0, 60.0), "CommitFailover", False),
    "reprotect": ("committed", "protected", (300.0, 600.0), "Reprotect", False),
}
ALLOWED = {
    "protected": ["PlannedFailover", "UnplannedFailover", "TestFailover"],
    "failedOver": ["FailoverCommit", "CancelFailover"],
    "committed": ["ReProtect"],
}


def make_vault(sim: State, sub: str, rg: str, name: str, location: str) -> dict[str, Any]:
    vid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{VAULT_TYPE}/{name}"
    doc = new_doc(vid, VAULT_TYPE, region_key(location), {"provisioningState": "Succeeded"}, {})
    doc["sku"] = {"name": "RS0", "tier": "Standard"}
    return sim.store.put(doc)


def make_recovery_plan(
    sim: State, vault: dict[str, Any], name: str, primary: str, recovery: str, items: list[str] | None = None
) -> dict[str, Any]:
    """A protected A2A recovery plan from ``primary`` to ``recovery`` over the VM ids ``items``."""
    props = {
        "friendlyName": name,
        "primaryFabricId": f"{vault['id']}/replicationFabrics/asr-a2a-{region_key(primary)}",
        "primaryFabricFriendlyName": region_display(primary),
        "recoveryFabricId": f"{vault['id']}/replicationFabrics/asr-a2a-{region_key(recovery)}",
        "recoveryFabricFriendlyName": region_display(recovery),
        "failoverDeploymentModel": "ResourceManager",
        "replicationProviders": ["A2A"],
        "allowedOperations": list(ALLOWED["protected"]),
        "currentScenario": None,
        "currentScenarioStatus": "Succeeded",
        "currentScenarioStatusDescription": "",
        "lastPlannedFailoverTime": None,
        "lastUnplannedFailoverTime": None,
        "lastTestFailoverTime": None,
        "activeLocation": "Primary",
        "groups": [
            {
                "groupType": "Boot",
                "replicationProtectedItems": [{"id": i} for i in items or []],
                "startGroupActions": [],
                "endGroupActions": [],
            }
        ],
    }
    doc = new_doc(f"{vault['id']}/replicationRecoveryPlans/{name}", PLAN_TYPE, None, props)
    doc["_sim"] = {"phase": "protected"}
    return sim.store.put(doc)


def _plan(sim: State, req: Request) -> dict[str, Any]:
    parts = req.path.split("/")
    idx = [p.lower() for p in parts].index("replicationrecoveryplans")
    doc = sim.store.get("/".join(parts[: idx + 2]))
    if doc is None:
        raise ArmError(
            404,
            "RecoveryPlanNotFound",
            f"The recovery plan '{parts[idx + 1]}' could not be found in the vault.",
        )
    return doc


def _vault(sim: State, req: Request) -> dict[str, Any]:
    parts = req.path.split("/")
    idx = [p.lower() for p in parts].index("vaults")
    doc = sim.store.get("/".join(parts[: idx + 2]))
    if doc is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{VAULT_TYPE}/{parts[idx + 1]}' under resource group "
            f"'{req.params.get('rg', '')}' was not found.",
        )
    return doc


def _action(sim: State, req: Request) -> Response:
    vault, plan = _vault(sim, req), _plan(sim, req)
    action = req.path.rsplit("/", 1)[-1].lower()
    need, after, duration, scenario, flips = ACTIONS[action]
    s = plan["_sim"]
    if "pending" in s or s["phase"] != need:
        state = "busy running " + s["pending"]["scenario"] if "pending" in s else s["phase"]
        raise ArmError(
            400,
            "RecoveryPlanActionNotAllowed",
            f"The operation '{scenario}' is not allowed on recovery plan '{plan['name']}' in its current "
            f"state ({state}). Allowed operations: {', '.join(plan['properties']['allowedOperations'])}.",
        )
    if flips:
        direction = str(((body_dict(req).get("properties") or {}).get("failoverDirection")) or "")
        active = plan["properties"]["activeLocation"]
        wanted = "PrimaryToRecovery" if active == "Primary" else "RecoveryToPrimary"
        if direction != wanted:
            raise ArmError(
                400,
                "RecoveryPlanActionNotAllowed",
                f"Failover direction '{direction}' is not valid: the plan is active on {active}; use "
                f"'{wanted}'.",
            )
    op = lro.begin(sim, req, duration=sim.rng.uniform(*duration), location=vault["location"], namespace=NS)
    now = sim.clock.seconds()
    job_id = f"{vault['id']}/replicationJobs/{op['id']}"
    tasks = [
        {"taskId": f"{scenario}Task", "name": f"{scenario}Task", "state": "InProgress", "startTime": iso(now)}
    ]
    sim.store.put(
        new_doc(
            job_id,
            JOB_TYPE,
            None,
            {
                "activityId": guid(sim.rng),
                "scenarioName": scenario,
                "friendlyName": f"{scenario} of {plan['name']}",
                "state": "InProgress",
                "stateDescription": "InProgress",
                "tasks": tasks,
                "errors": [],
                "startTime": iso(now),
                "endTime": None,
                "allowedActions": ["Cancel"],
                "targetObjectId": plan["id"],
                "targetObjectName": plan["name"],
                "targetInstanceType": "RecoveryPlan",
            },
        )
    )
    s["pending"] = {
        "op": op["id"],
        "job": job_id,
        "after": after,
        "flips": flips,
        "scenario": scenario,
        "end": op["end"],
        "failed": bool(op["error"]),
    }
    props = plan["properties"]
    props.update(
        currentScenario={"scenarioName": scenario, "jobId": op["id"], "startTime": iso(now)},
        currentScenarioStatus="InProgress",
        allowedOperations=[],
    )
    headers = lro.headers(sim, op)
    headers["Location"] = f"{sim.url}{plan['id']}?api-version={req.api_version}"
    return Response(202, None, headers)


def settle(sim: State, now: float) -> None:
    """Finish the recovery-plan jobs whose operation ended: job state, plan phase and active side."""
    for plan in sim.store.of_type(PLAN_TYPE):
        s = plan.get("_sim") or {}
        pending = s.get("pending")
        if not pending or now < pending["end"]:
            continue
        del s["pending"]
        props = plan["properties"]
        job = sim.store.get(pending["job"])
        outcome = "Failed" if pending["failed"] else "Succeeded"
        if job is not None:
            jp = job["properties"]
            jp.update(
                state=outcome,
                stateDescription="Completed" if outcome == "Succeeded" else "Failed",
                endTime=iso(pending["end"]),
                allowedActions=["Restart"] if outcome == "Failed" else [],
            )
            for task in jp["tasks"]:
                task.update(state=outcome, endTime=iso(pending["end"]))
            if outcome == "Failed":
                jp["errors"] = [
                    {
                        "serviceErrorDetails": {
                            "code": "RecoveryPlanJobFailed",
                            "message": f"{pending['scenario']} failed.",
                        }
                    }
                ]
        if outcome == "Succeeded":
            s["phase"] = pending["after"]
            if pending["flips"]:
                props["activeLocation"] = "Recovery" if props["activeLocation"] == "Primary" else "Primary"
                stamp = (
                    "lastPlannedFailoverTime"
                    if pending["scenario"] == "PlannedFailover"
                    else "lastUnplannedFailoverTime"
                )
                props[stamp] = iso(pending["end"])
        props.update(currentScenarioStatus=outcome, allowedOperations=list(ALLOWED[s["phase"]]))


def _get_plan(sim: State, req: Request) -> Response:
    return Response(200, public(_plan(sim, req)))


def _list_plans(sim: State, req: Request) -> Response:
    _vault(sim, req)
    return page(sim, req, sim.store.children(req.path))


def _get_job(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        raise ArmError(404, "JobNotFound", f"The job '{req.path.rsplit('/', 1)[-1]}' could not be found.")
    return Response(200, public(doc))


def _list_jobs(sim: State, req: Request) -> Response:
    _vault(sim, req)
    return page(sim, req, sim.store.children(req.path))


def _get_vault(sim: State, req: Request) -> Response:
    return Response(200, public(_vault(sim, req)))


def register(router: Router) -> None:
    router.on_tick(settle)
    vault = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}"
    router.add("GET", vault, _get_vault, VERSIONS)
    router.add("GET", vault + "/replicationRecoveryPlans", _list_plans, VERSIONS)
    router.add("GET", vault + "/replicationRecoveryPlans/{plan}", _get_plan, VERSIONS)
    for action in ("plannedFailover", "unplannedFailover", "failoverCommit", "reProtect"):
        router.add("POST", vault + "/replicationRecoveryPlans/{plan}/" + action, _action, VERSIONS)
    router.add("GET", vault + "/replicationJobs", _list_jobs, VERSIONS)
    router.add("GET", vault + "/replicationJobs/{job}", _get_job, VERSIONS)
