"""No simulator conventions: every field of every reply the simulator sends while the bot works is declared by the
SDK model of that operation and api-version (the packages pinned in requirements.lock).

The bot runs the seed story in process (``examples/dr-walkthrough.txt``: status, replicas, identity, scale set,
scale, drills, failover, failback; then doctor, a snapshot sync and the staged copy of a full snapshot), and the
seeded ASR recovery plan goes through a whole cycle, with ``journal_log.keep_replies`` on. Each JSON reply is then walked, at every depth, against its model:
ARM resources by their ``type`` (lists item by item), the other replies by the operation that sent them. Error
replies must have ARM's error shape (``ErrorDetail`` of the common types) and a code from ``ERROR_CODES``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.compute import models as compute
from azure.mgmt.desktopvirtualization import models as avd
from azure.mgmt.msi import models as msi
from azure.mgmt.recoveryservicessiterecovery import models as asr
from azure.mgmt.resource.locks import models as locks
from azure.mgmt.resource.resources import models as resources

from azureops import asr as azure_asr
from bot.sandbox import SCRIPT_CARD_INTERVAL, Sandbox
from bot.slack.progress import Progress
from sim.azure import seed
from sim.azure.journal import Entry
from sim.slack.console import Console
from tests.kit.azure import IMAGE, SUB, running, undeclared
from tests.kit.sandbox import REPO
from tests.sim.test_azure_error_codes import SOURCES

# ARM resource type (lower case) -> the SDK model of the api-version the product pins.
MODELS: dict[str, Any] = {
    "microsoft.compute/snapshots": compute.Snapshot,
    "microsoft.compute/disks": compute.Disk,
    "microsoft.compute/galleries": compute.Gallery,
    "microsoft.compute/galleries/images": compute.GalleryImage,
    "microsoft.compute/galleries/images/versions": compute.GalleryImageVersion,
    "microsoft.compute/virtualmachinescalesets": compute.VirtualMachineScaleSet,
    "microsoft.compute/virtualmachinescalesets/virtualmachines": compute.VirtualMachineScaleSetVM,
    "microsoft.compute/virtualmachines": compute.VirtualMachine,
    "microsoft.managedidentity/userassignedidentities": msi.Identity,
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": msi.FederatedIdentityCredential,
    "microsoft.desktopvirtualization/hostpools": avd.HostPool,
    "microsoft.desktopvirtualization/hostpools/sessionhosts": avd.SessionHost,
    "microsoft.desktopvirtualization/hostpools/sessionhosts/usersessions": avd.UserSession,
    "microsoft.desktopvirtualization/applicationgroups": avd.ApplicationGroup,
    "microsoft.desktopvirtualization/workspaces": avd.Workspace,
    "microsoft.desktopvirtualization/scalingplans": avd.ScalingPlan,
    "microsoft.authorization/locks": locks.ManagementLockObject,
    "microsoft.resources/resourcegroups": resources.ResourceGroup,
    # read through resources.get_by_id: the generic envelope, properties free-form
    "microsoft.network/virtualnetworks": resources.GenericResource,
    "microsoft.network/virtualnetworks/subnets": resources.GenericResource,
    "microsoft.storage/storageaccounts": resources.GenericResource,
    "microsoft.recoveryservices/vaults/replicationrecoveryplans": asr.RecoveryPlan,
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/replicationprotecteditems": (
        asr.ReplicationProtectedItem
    ),
    "microsoft.recoveryservices/vaults/replicationjobs": asr.Job,
}

# ARM's asynchronous operation resource (Azure-AsyncOperation / Location monitors): the ARM RPC contract,
# Azure/azure-resource-manager-rpc v1.0/async-api-reference.md ("Azure-AsyncOperation resource format").
MONITOR_FIELDS = {"id", "name", "status", "startTime", "endTime", "percentComplete", "properties", "error"}
# ARM's error response (common-types ErrorResponse / ErrorDetail), Azure/azure-rest-api-specs
# specification/common-types/resource-management/v5/types.json.
ERROR_FIELDS = {"code", "message", "target", "details", "additionalInfo"}
# Error codes the run meets must be ones Azure uses for the case, with a source (test_azure_error_codes.SOURCES).
ERROR_CODES = set(SOURCES)
# Operations whose reply is not an ARM resource: (method, path regex) -> model.
OPERATIONS: list[tuple[str, str, Any]] = [
    ("POST", r"/hostpools/[^/]+/retrieveregistrationtoken$", avd.RegistrationInfo),
    ("POST", r"/hostpools/[^/]+/listregistrationtokens$", avd.RegistrationTokenList),
    ("POST", r"/snapshots/[^/]+/begingetaccess$", compute.AccessUri),
    ("GET", r"/providers/microsoft\.compute/skus$", compute.ResourceSku),
    ("GET", r"/providers/microsoft\.authorization/permissions$", "permissions"),
    (".", r"/providers/microsoft\.authorization/roleassignments", "role assignments"),
]
# RoleAssignment (Microsoft.Authorization 2022-04-01; no azure-mgmt-authorization pinned): the spec's definition,
# specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json
ROLE_ASSIGNMENT_FIELDS = {"id", "name", "type", "properties"}
ROLE_ASSIGNMENT_PROPERTIES = {
    "scope",
    "roleDefinitionId",
    "principalId",
    "principalType",
    "description",
    "condition",
    "conditionVersion",
    "createdOn",
    "updatedOn",
    "createdBy",
    "updatedBy",
    "delegatedManagedIdentityResourceId",
}
# Permission (Microsoft.Authorization 2022-04-01, specification/authorization/.../common-types Permission)
PERMISSION_FIELDS = {
    "actions",
    "notActions",
    "dataActions",
    "notDataActions",
    "conditionVersion",
    "condition",
}

SCRIPT_TAIL = """
/avd doctor
/avd snapshots sync gold-to-dr
as U0LEAD1
click Approve
wait -> SNAPDR (uksouth)) finished
as U0OPS1
/avd snapshots copy snap-gold-manual gold-to-dr
wait 1 to copy, 0 replicated, 0 to delete -> SNAPDR (uksouth)) finished
"""


@pytest.fixture(scope="module")
def replies() -> Iterator[list[Entry]]:
    sandbox = Sandbox(time_scale=3000, card_interval=SCRIPT_CARD_INTERVAL)
    chat = sandbox.start()
    assert sandbox.azure_sim is not None and sandbox.runtime is not None
    sandbox.azure_sim.journal_log.keep_replies = True
    try:
        progress = sandbox.runtime.engine.progress
        assert isinstance(progress, Progress)
        console = Console(chat, out=io.StringIO(), json_mode=True, idle=progress.wait_idle)
        script = (REPO / "examples" / "dr-walkthrough.txt").read_text(encoding="utf-8") + SCRIPT_TAIL
        assert console.run_script(io.StringIO(script)) == 0
        yield [e for e in sandbox.azure_sim.journal if e.reply is not None and not e.path.startswith("/_sim")]
    finally:
        sandbox.stop()


def problems(entry: Entry) -> list[str]:
    """What of ``entry.reply`` no SDK model declares, or why it cannot be checked."""
    body = entry.reply
    path = entry.path.lower()
    if not isinstance(body, dict):
        return []
    if "/graph/" in path or "/blob" in path:
        return []  # Microsoft Graph and Storage data plane: no azure-mgmt model (docs/simulator.md)
    if "error" in body and entry.status >= 400:
        error = body["error"]
        found = [f"error.{k}" for k in error if k not in ERROR_FIELDS]
        return found + ([] if error.get("code") in ERROR_CODES else [f"error code {error.get('code')}"])
    if "/operations/" in path and "status" in body:
        return [k for k in body if k not in MONITOR_FIELDS]
    if "/operations/" in path and "type" not in body:
        # a Location monitor's final answer is the operation's result (grant access: AccessUri)
        return undeclared(body, compute.AccessUri) if "accessSAS" in body else [f"result {sorted(body)}"]
    for method, pattern, model in OPERATIONS:
        if re.match(method, entry.method) and re.search(pattern, path):
            if model == "permissions":
                return [f"value.{k}" for p in body.get("value", []) for k in p if k not in PERMISSION_FIELDS]
            if model == "role assignments":
                items = body["value"] if isinstance(body.get("value"), list) else [body]
                return [k for k in body if "value" in body and k not in ("value", "nextLink")] + [
                    p
                    for item in items
                    for p in [k for k in item if k not in ROLE_ASSIGNMENT_FIELDS]
                    + [
                        f"properties.{k}"
                        for k in item.get("properties", {})
                        if k not in ROLE_ASSIGNMENT_PROPERTIES
                    ]
                ]
            if isinstance(body.get("value"), list):
                extra = [k for k in body if k not in ("value", "nextLink")]
                return extra + [p for item in body["value"] for p in undeclared(item, model)]
            return undeclared(body, model)
    if "value" in body and isinstance(body["value"], list):
        extra = [k for k in body if k not in ("value", "nextLink")]
        return extra + [p for item in body["value"] for p in problems(_as_entry(entry, item))]
    kind = str(body.get("type", "")).lower()
    if kind not in MODELS:
        return [f"no model for {entry.method} {entry.path} (type {kind or '-'})"]
    return undeclared(body, MODELS[kind])


def _as_entry(entry: Entry, body: Any) -> Entry:
    return Entry("GET", entry.path + "/item", {}, None, entry.status, entry.at, body)


def test_every_reply_field_is_declared_by_the_sdk_model(replies: list[Entry]) -> None:
    found = {(e.method, re.sub(r"/subscriptions/[^/]+", "", e.path)): problems(e) for e in replies}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_run_covers_the_operations_of_the_flows(replies: list[Entry]) -> None:
    kinds = {str(e.reply.get("type", "")).lower() for e in replies if isinstance(e.reply, dict)}
    for item in (e.reply.get("value") for e in replies if isinstance(e.reply, dict)):
        kinds |= {str(i.get("type", "")).lower() for i in item or [] if isinstance(i, dict)}
    for kind in (
        "microsoft.compute/snapshots",
        "microsoft.compute/galleries/images/versions",
        "microsoft.compute/virtualmachinescalesets",
        "microsoft.managedidentity/userassignedidentities",
        "microsoft.desktopvirtualization/hostpools",
        "microsoft.desktopvirtualization/hostpools/sessionhosts",
        "microsoft.desktopvirtualization/hostpools/sessionhosts/usersessions",
        "microsoft.desktopvirtualization/scalingplans",
        "microsoft.storage/storageaccounts",
    ):
        assert kind in kinds


def test_the_seeded_recovery_plan_cycle_replies_only_declared_fields() -> None:
    """The seed's ASR vault and recovery plan (personal host pool EntraPersonal) through a whole cycle as the
    product drives it: failover, commit, reprotect, failback, commit, reprotect; every reply walked."""
    with running(scenario="seed") as (sim, clients):
        sim.journal_log.keep_replies = True
        plan = azure_asr.RecoveryPlanRef(SUB, seed.ASR_RG, seed.ASR_VAULT, seed.ASR_PLAN)
        try:
            assert azure_asr.read_state(clients, plan).active == azure_asr.PRIMARY
            for direction in (azure_asr.PRIMARY_TO_RECOVERY, azure_asr.RECOVERY_TO_PRIMARY):
                azure_asr.begin_failover(clients, plan, direction, planned=False).result()
                azure_asr.begin_commit(clients, plan).result()
                azure_asr.begin_reprotect(clients, plan).result()
                state = azure_asr.read_state(clients, plan)
                assert azure_asr.job_state(clients, plan, state.job) == "Succeeded"
            assert azure_asr.read_state(clients, plan).active == azure_asr.PRIMARY
        finally:
            azure_asr.client(clients, SUB).close()
        entries = [e for e in sim.journal if e.reply is not None and not e.path.startswith("/_sim")]
    assert {e.path for e in entries if "replicationRecoveryPlans" in e.path}
    assert {(e.method, e.path): problems(e) for e in entries if problems(e)} == {}


def test_the_dr_ready_scenario_replies_only_declared_fields() -> None:
    """``dr-ready`` builds its secondary site in process (``scenarios.prepare_dr``), not through ARM: its scale set,
    identity and replica are read back through the SDK and walked like the rest."""
    with running(scenario="dr-ready") as (sim, clients):
        sim.journal_log.keep_replies = True
        compute = clients.compute(SUB)
        compute.virtual_machine_scale_sets.get("VMSSDR", "EntraDR")
        list(compute.virtual_machine_scale_sets.list("VMSSDR"))
        list(compute.virtual_machines.list("VMSSDR"))
        compute.gallery_image_versions.get(*IMAGE, expand="ReplicationStatus")
        clients.msi(SUB).user_assigned_identities.get("VMSSDR", "AVDManage")
        avd = clients.avd(SUB)
        avd.host_pools.get("AVDDR", "EntraAuthDR")
        avd.host_pools.get("AVD", "EntraPersonal")
        list(avd.session_hosts.list("AVD", "EntraPersonal"))
        entries = [e for e in sim.journal if e.reply is not None and not e.path.startswith("/_sim")]
    assert len(entries) >= 8
    assert {(e.method, e.path): problems(e) for e in entries if problems(e)} == {}
