"""Microsoft.RecoveryServices (Azure Site Recovery): vaults, recovery plans, the replication protected items
they group, and the replication jobs their actions run.

Only fields the SDK models declare (``RecoveryPlanProperties``, ``ReplicationProtectedItemProperties`` of
azure-mgmt-recoveryservicessiterecovery 2.0.0, api-version 2025-08-01). The active side is where Azure keeps
it: ``activeLocation`` (Primary|Recovery) of each protected item; a plan has none. Operation names in
``allowedOperations`` are the spec's ``ReplicationProtectedItemOperation`` values. The A2A cycle, for the plan
and each of its items: protected (``UnplannedFailover``, ``TestFailover``; no ``PlannedFailover``: the spec
has no A2A planned-failover provider input) -> ``unplannedFailover`` (direction must leave the active side)
-> failed over (``Commit``, ``ChangePit``) -> ``failoverCommit`` -> committed (``ReverseReplicate``) ->
``reProtect`` -> protected again, replicating the other way. An action the plan's ``allowedOperations`` does
not list is refused with ARM's generic 409 ``Conflict`` (the ASR-specific code is not documented publicly).
Each action answers 202 with ``Azure-AsyncOperation`` and ``Location`` (the plan itself, so the SDK's final
GET returns the ``RecoveryPlan``) and creates a ``replicationJobs/{id}`` that goes InProgress ->
Succeeded|Failed on the virtual clock. An unplanned failover must say ``sourceSiteOperations``
(``Required``: shut the source VMs down first, or ``NotRequired``), as the spec requires.

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
ITEM_TYPE = f"{NS}/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"
JOB_TYPE = f"{NS}/vaults/replicationJobs"
# route -> (operation in allowedOperations, phase after, virtual duration range, scenario name, flips the side)
ACTIONS: dict[str, tuple[str, str, tuple[float, float], str, bool]] = {
    "plannedfailover": ("PlannedFailover", "failedOver", (300.0, 480.0), "PlannedFailover", True),
    "unplannedfailover": ("UnplannedFailover", "failedOver", (180.0, 300.0), "UnplannedFailover", True),
    "failovercommit": ("Commit", "committed", (30.0, 60.0), "CommitFailover", False),
    "reprotect": ("ReverseReplicate", "protected", (300.0, 600.0), "Reprotect", False),
}
# allowedOperations per phase (values of the spec's ReplicationProtectedItemOperation enum), A2A provider
PLAN_ALLOWED = {
    "protected": ["UnplannedFailover", "TestFailover"],
    "failedOver": ["Commit", "ChangePit"],
    "committed": ["ReverseReplicate"],
}
ITEM_ALLOWED = {
    "protected": ["UnplannedFailover", "TestFailover", "DisableProtection"],
    "failedOver": ["Commit", "ChangePit"],
    "committed": ["ReverseReplicate", "DisableProtection"],
}
DIRECTIONS = {"Primary": "PrimaryToRecovery", "Recovery": "RecoveryToPrimary"}
SOURCE_SITE_OPERATIONS = ("Required", "NotRequired")


def make_vault(sim: State, sub: str, rg: str, name: str, location: str) -> dict[str, Any]:
    vid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{VAULT_TYPE}/{name}"
    doc = new_doc(vid, VAULT_TYPE, region_key(location), {"provisioningState": "Succeeded"}, {})
    doc["sku"] = {"name": "RS0", "tier": "Standard"}
    return sim.store.put(doc)


def _fabric(vault: dict[str, Any], region: str) -> str:
    return f"{vault['id']}/replicationFabrics/asr-a2a-{region_key(region)}"


def make_protected_item(
    sim: State, vault: dict[str, Any], vm_id: str, primary: str, recovery: str
) -> dict[str, Any]:
    """An A2A replication protected item of the VM ``vm_id``, protected and active on its primary side."""
    vm = vm_id.rstrip("/").rsplit("/", 1)[-1]
    fabric = _fabric(vault, primary)
    container = f"{fabric}/replicationProtectionContainers/asr-a2a-container-{region_key(primary)}"
    recovery_fabric = _fabric(vault, recovery)
    props = {
        "friendlyName": vm,
        "protectedItemType": "A2A",
        "primaryFabricFriendlyName": region_display(primary),
        "recoveryFabricFriendlyName": region_display(recovery),
        "recoveryFabricId": recovery_fabric,
        "primaryProtectionContainerFriendlyName": f"asr-a2a-container-{region_key(primary)}",
        "recoveryProtectionContainerFriendlyName": f"asr-a2a-container-{region_key(recovery)}",
        "recoveryContainerId": (
            f"{recovery_fabric}/replicationProtectionContainers/asr-a2a-container-{region_key(recovery)}"
        ),
        "protectionState": "Protected",
        "protectionStateDescription": "Protected",
        "activeLocation": "Primary",
        "allowedOperations": list(ITEM_ALLOWED["protected"]),
        "replicationHealth": "Normal",
        "testFailoverState": "None",
        "testFailoverStateDescription": "None",
        "providerSpecificDetails": {"instanceType": "A2A"},
    }
    doc = new_doc(f"{container}/replicationProtectedItems/{vm}", ITEM_TYPE, None, props)
    doc["_sim"] = {"vm": vm_id}
    return sim.store.put(doc)


def make_recovery_plan(
    sim: State, vault: dict[str, Any], name: str, primary: str, recovery: str, items: list[str] | None = None
) -> dict[str, Any]:
    """A protected A2A recovery plan from ``primary`` to ``recovery`` over the VM ids ``items`` (one protected
    item each; by default one personal session host, ``avd-personal-0``)."""
    vms = items or [
        f"/subscriptions/{vault['id'].split('/')[2]}/resourceGroups/AVD/providers/Microsoft.Compute/"
        "virtualMachines/avd-personal-0"
    ]
    made = [make_protected_item(sim, vault, vm, primary, recovery) for vm in vms]
    props = {
        "friendlyName": name,
        "primaryFabricId": _fabric(vault, primary),
        "primaryFabricFriendlyName": region_display(primary),
        "recoveryFabricId": _fabric(vault, recovery),
        "recoveryFabricFriendlyName": region_display(recovery),
        "failoverDeploymentModel": "ResourceManager",
        "replicationProviders": ["A2A"],
        "allowedOperations": list(PLAN_ALLOWED["protected"]),
        "groups": [
            {
                "groupType": "Shutdown",
                "replicationProtectedItems": [],
                "startGroupActions": [],
                "endGroupActions": [],
            },
            {
                "groupType": "Failover",
                "replicationProtectedItems": [],
                "startGroupActions": [],
                "endGroupActions": [],
            },
            {
                "groupType": "Boot",
                "replicationProtectedItems": [
                    {"id": item["id"], "virtualMachineId": vm} for item, vm in zip(made, vms, strict=True)
                ],
                "startGroupActions": [],
                "endGroupActions": [],
            },
        ],
    }
    doc = new_doc(f"{vault['id']}/replicationRecoveryPlans/{name}", PLAN_TYPE, None, props)
    doc["_sim"] = {"phase": "protected", "items": [item["id"] for item in made]}
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


def _items(sim: State, plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for i in plan["_sim"].get("items", []) if (doc := sim.store.get(i)) is not None]


def _refuse_direction(plan: dict[str, Any], items: list[dict[str, Any]], direction: str) -> None:
    sides = sorted({str(i["properties"].get("activeLocation")) for i in items})
    wanted = sorted({DIRECTIONS[s] for s in sides if s in DIRECTIONS})
    if direction not in wanted:
        raise ArmError(
            400,
            "BadRequest",
            f"Failover direction '{direction}' is not valid for recovery plan '{plan['name']}': its protected "
            f"items are active on {', '.join(sides) or 'no side'}; use '{', '.join(wanted)}'.",
            "properties.failoverDirection",
        )


def _action(sim: State, req: Request) -> Response:
    vault, plan = _vault(sim, req), _plan(sim, req)
    route = req.path.rsplit("/", 1)[-1].lower()
    operation, after, duration, scenario, flips = ACTIONS[route]
    props = plan["properties"]
    allowed = list(props.get("allowedOperations") or [])
    if operation not in allowed:
        raise ArmError(
            409,
            "Conflict",
            f"The operation '{operation}' is not allowed on recovery plan '{plan['name']}' in its current "
            f"state. Allowed operations: {', '.join(allowed) or 'none (a job is in progress)'}.",
        )
    items = _items(sim, plan)
    sent = body_dict(req).get("properties") or {}
    if flips:
        _refuse_direction(plan, items, str(sent.get("failoverDirection") or ""))
    if route == "unplannedfailover" and sent.get("sourceSiteOperations") not in SOURCE_SITE_OPERATIONS:
        raise ArmError(
            400,
            "BadRequest",
            "The property 'sourceSiteOperations' is required: Required or NotRequired.",
            "properties.sourceSiteOperations",
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
    plan["_sim"]["pending"] = {
        "op": op["id"],
        "job": job_id,
        "after": after,
        "flips": flips,
        "scenario": scenario,
        "end": op["end"],
        "failed": bool(op["error"]),
        "sourceSiteOperations": sent.get("sourceSiteOperations"),
    }
    scenario_doc = {"scenarioName": scenario, "jobId": job_id, "startTime": iso(now)}
    props.update(currentScenario=scenario_doc, currentScenarioStatus="InProgress", allowedOperations=[])
    for item in items:
        item["properties"].update(currentScenario=dict(scenario_doc), allowedOperations=[])
    headers = lro.headers(sim, op)
    headers["Location"] = f"{sim.url}{plan['id']}?api-version={req.api_version}"
    return Response(202, None, headers)


def _finish_job(sim: State, pending: dict[str, Any], outcome: str) -> None:
    job = sim.store.get(pending["job"])
    if job is None:
        return
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
            {"serviceErrorDetails": {"code": "InternalError", "message": f"{pending['scenario']} failed."}}
        ]


def settle(sim: State, now: float) -> None:
    """Finish the recovery-plan jobs whose operation ended: the job, the plan's phase, and each protected
    item's active side, allowed operations and protection state."""
    for plan in sim.store.of_type(PLAN_TYPE):
        s = plan.get("_sim") or {}
        pending = s.get("pending")
        if not pending or now < pending["end"]:
            continue
        del s["pending"]
        outcome = "Failed" if pending["failed"] else "Succeeded"
        _finish_job(sim, pending, outcome)
        props = plan["properties"]
        if outcome == "Succeeded":
            s["phase"] = pending["after"]
            if pending["flips"]:
                stamp = (
                    "lastPlannedFailoverTime"
                    if pending["scenario"] == "PlannedFailover"
                    else "lastUnplannedFailoverTime"
                )
                props[stamp] = iso(pending["end"])
        props.update(currentScenarioStatus=outcome, allowedOperations=list(PLAN_ALLOWED[s["phase"]]))
        for item in _items(sim, plan):
            ip = item["properties"]
            if outcome == "Succeeded" and pending["flips"]:
                ip["activeLocation"] = "Recovery" if ip.get("activeLocation") == "Primary" else "Primary"
                ip["lastSuccessfulFailoverTime"] = iso(pending["end"])
            ip["allowedOperations"] = list(ITEM_ALLOWED[s["phase"]])
            if s["phase"] == "protected":
                ip.update(protectionState="Protected", protectionStateDescription="Protected")
            else:  # the service's own state names for these phases are not in the spec's examples
                ip.pop("protectionState", None)
                ip.pop("protectionStateDescription", None)


def _get_plan(sim: State, req: Request) -> Response:
    return Response(200, public(_plan(sim, req)))


def _list_plans(sim: State, req: Request) -> Response:
    _vault(sim, req)
    return page(sim, req, sim.store.children(req.path))


def _get_item(sim: State, req: Request) -> Response:
    _vault(sim, req)
    doc = sim.store.get(req.path)
    if doc is None or doc.get("type") != ITEM_TYPE:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{ITEM_TYPE}/{req.path.rsplit('/', 1)[-1]}' under resource group "
            f"'{req.params.get('rg', '')}' was not found.",
        )
    return Response(200, public(doc))


def _list_items(sim: State, req: Request) -> Response:
    vault = _vault(sim, req)
    scope = req.path.rsplit("/", 1)[0] if "/replicationfabrics/" in req.path.lower() else vault["id"]
    return page(sim, req, sim.store.of_type(ITEM_TYPE, scope))


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
    container = vault + "/replicationFabrics/{fabric}/replicationProtectionContainers/{container}"
    router.add("GET", vault, _get_vault, VERSIONS)
    router.add("GET", vault + "/replicationRecoveryPlans", _list_plans, VERSIONS)
    router.add("GET", vault + "/replicationRecoveryPlans/{plan}", _get_plan, VERSIONS)
    for action in ("plannedFailover", "unplannedFailover", "failoverCommit", "reProtect"):
        router.add("POST", vault + "/replicationRecoveryPlans/{plan}/" + action, _action, VERSIONS)
    router.add("GET", vault + "/replicationProtectedItems", _list_items, VERSIONS)
    router.add("GET", container + "/replicationProtectedItems", _list_items, VERSIONS)
    router.add("GET", container + "/replicationProtectedItems/{item}", _get_item, VERSIONS)
    router.add("GET", vault + "/replicationJobs", _list_jobs, VERSIONS)
    router.add("GET", vault + "/replicationJobs/{job}", _get_job, VERSIONS)
