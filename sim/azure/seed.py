"""The seed world (the BRIEF's, same names as avd.example.toml) and the tenant's two subscriptions (...0001
primary/DR, ...0002 snapshot target). ``scenarios`` names what a simulator starts from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid
from sim.azure.providers import (
    asr,
    avd,
    disks,
    gallery,
    graph,
    instances,
    msi,
    network,
    resources,
    roleassignments,
    sessions,
)
from sim.azure.providers.common import new_doc

if TYPE_CHECKING:
    from sim.azure.state import State

SUB1 = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
JOIN_APP = "11111111-2222-3333-4444-555555555555"
JOIN_SP = "11111111-2222-3333-4444-5555555555a0"  # AVD-Join's service principal (object id)
HOST_POOL_CONTRIBUTOR = "e307426c-f9b6-4e81-87de-d99efb3c32bc"  # Desktop Virtualization Host Pool Contributor
# fixed assignment names (GUIDs), so seeding them draws nothing from the rng
JOIN_ROLE_NAMES = {
    "AVD": "5eed0001-0000-4000-8000-00000000a7d1",
    "AVDDR": "5eed0001-0000-4000-8000-00000000a7d2",
}
VERSION = "2026.0522.1719"
USERS = ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")
PERSONAL_USER = "dave@contoso.com"
ASR_RG, ASR_VAULT, ASR_PLAN, PERSONAL_VM = "ASRDR", "avd-asr", "avd-personal", "avd-personal-0"


def subscriptions(sim: State) -> None:
    """The tenant's two subscriptions (every scenario has them)."""
    for sub, name in ((SUB1, "AVD Production"), (SUB2, "AVD Snapshots DR")):
        sim.subscriptions[sub] = {
            "subscriptionId": sub,
            "displayName": name,
            "state": "Enabled",
            "tenantId": sim.tenant_id,
        }


def _rg(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def seed(sim: State) -> None:
    for sub, rg, loc in (
        (SUB1, "INFRA", "westeurope"),
        (SUB1, "INFRADR", "uksouth"),
        (SUB1, "GOLD-VDA", "westeurope"),
        (SUB1, "VMSS", "westeurope"),
        (SUB1, "VMSSDR", "uksouth"),
        (SUB1, "AVD", "westeurope"),
        (SUB1, "AVDDR", "uksouth"),
        (SUB2, "SNAPDR", "uksouth"),
    ):
        resources.make_group(sim, sub, rg, loc)
    network.make_vnet(
        sim, SUB1, "INFRA", "vnet-avd-weu", "westeurope", "10.10.0.0/16", {"snet-avd": "10.10.1.0/24"}
    )
    network.make_vnet(
        sim, SUB1, "INFRADR", "vnet-avd-uks", "uksouth", "10.20.0.0/16", {"snet-avd": "10.20.1.0/24"}
    )
    version_id = _gold(sim)
    pool = _hostpool(sim, "AVD", "EntraAuth", "westeurope", "EntraAuth-DAG", "AVD-Workspace")
    _hostpool(sim, "AVDDR", "EntraAuthDR", "uksouth", "EntraAuthDR-DAG", "AVD-Workspace-DR")
    identity = msi.make_identity(
        sim, f"{_rg(SUB1, 'VMSS')}/providers/{msi.UAMI_TYPE}/AVDManage", "westeurope"
    )
    _scale_set(sim, version_id, identity, pool)
    plan_id = f"{_rg(SUB1, 'AVD')}/providers/{avd.PLAN}/EntraAuth-Scaling"
    avd.make(
        sim,
        plan_id,
        avd.PLAN,
        "westeurope",
        {
            "friendlyName": "EntraAuth scaling",
            "timeZone": "W. Europe Standard Time",
            "hostPoolType": "Pooled",
            "exclusionTag": "avd-ops-exclude",
            "schedules": [
                {
                    "name": "weekdays",
                    "daysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                    "rampUpStartTime": {"hour": 7, "minute": 0},
                    "peakStartTime": {"hour": 9, "minute": 0},
                    "rampDownStartTime": {"hour": 18, "minute": 0},
                    "offPeakStartTime": {"hour": 20, "minute": 0},
                    "rampUpLoadBalancingAlgorithm": "BreadthFirst",
                    "peakLoadBalancingAlgorithm": "BreadthFirst",
                    "rampDownLoadBalancingAlgorithm": "DepthFirst",
                    "offPeakLoadBalancingAlgorithm": "DepthFirst",
                    "rampUpMinimumHostsPct": 20,
                    "rampUpCapacityThresholdPct": 60,
                    "rampDownMinimumHostsPct": 10,
                    "rampDownCapacityThresholdPct": 90,
                    "rampDownForceLogoffUsers": False,
                    "rampDownWaitTimeMinutes": 30,
                    "rampDownNotificationMessage": "You will be signed out soon.",
                }
            ],
            "hostPoolReferences": [{"hostPoolArmPath": pool["id"], "scalingPlanEnabled": True}],
        },
    )
    graph.add_application(sim, JOIN_APP, "AVD-Join")
    graph.add_credential(
        sim,
        JOIN_APP,
        "AVDManage-westeurope",
        f"https://login.microsoftonline.com/{sim.tenant_id}/v2.0",
        identity["properties"]["principalId"],
        "AVDManage (primary, westeurope)",
    )
    _personal(sim)
    _join_rbac(sim)


def join_role_id(rg: str) -> str:
    """The id of AVD-Join's seeded Host Pool Contributor assignment on ``rg`` (AVD or AVDDR)."""
    return f"{_rg(SUB1, rg)}/providers/{roleassignments.TYPE}/{JOIN_ROLE_NAMES[rg]}"


def _join_rbac(sim: State) -> None:
    """The seed's RBAC table: AVD-Join (its service principal) holds Desktop Virtualization Host Pool Contributor on
    the host pool resource groups AVD and AVDDR, the role the DR identity chain uses to fetch a registration token.
    Fixed names, made last: the rest of the seed keeps its generated ids."""
    graph.add_service_principal(sim, JOIN_SP, str(sim.graph[JOIN_APP]["appId"]), "AVD-Join")
    for rg, name in JOIN_ROLE_NAMES.items():
        roleassignments.make_assignment(
            sim, _rg(SUB1, rg), JOIN_SP, HOST_POOL_CONTRIBUTOR, name=name, principal_type="ServicePrincipal"
        )


def _personal(sim: State) -> None:
    """The personal host pool EntraPersonal (AVD, westeurope) with one assigned session host, the VM
    ``avd-personal-0``, which Azure Site Recovery protects: vault ``avd-asr`` in ASRDR (uksouth) and the A2A
    recovery plan ``avd-personal`` from westeurope to uksouth (the BCDR seed: ASR for personal host pools).
    Made last, so the rest of the seed keeps its generated ids."""
    base = f"{_rg(SUB1, 'AVD')}/providers/Microsoft.DesktopVirtualization"
    pool_id, dag_id = f"{base}/hostPools/EntraPersonal", f"{base}/applicationGroups/EntraPersonal-DAG"
    pool = avd.make(
        sim,
        pool_id,
        avd.POOL,
        "westeurope",
        _entra_pool(
            "EntraPersonal",
            dag_id,
            description="EntraPersonal (Entra ID joined, personal, protected by Azure Site Recovery)",
            hostPoolType="Personal",
            personalDesktopAssignmentType="Automatic",
            maxSessionLimit=999999,
            loadBalancerType="Persistent",
        ),
    )
    avd.make(
        sim,
        dag_id,
        avd.APPGROUP,
        "westeurope",
        {"hostPoolArmPath": pool_id, "applicationGroupType": "Desktop", "friendlyName": "Desktop"},
    )
    vm_id = f"{_rg(SUB1, 'AVD')}/providers/{instances.VM_TYPE}/{PERSONAL_VM}"
    vm_guid = guid(sim.rng)
    sim.store.put(
        new_doc(
            vm_id,
            instances.VM_TYPE,
            "westeurope",
            {
                "vmId": vm_guid,
                "provisioningState": "Succeeded",
                "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                "osProfile": {"computerName": PERSONAL_VM},
            },
            {},
        )
    )
    sessions.make_host(sim, pool, f"{PERSONAL_VM}.contoso.com", vm_id, vm_guid, assignedUser=PERSONAL_USER)
    resources.make_group(sim, SUB1, ASR_RG, "uksouth")
    vault = asr.make_vault(sim, SUB1, ASR_RG, ASR_VAULT, "uksouth")
    asr.make_recovery_plan(sim, vault, ASR_PLAN, "westeurope", "uksouth", [vm_id])


def _gold(sim: State) -> str:
    rg = _rg(SUB1, "GOLD-VDA")
    disk = disks.make_disk(sim, f"{rg}/providers/{disks.DISK_TYPE}/vm-gold-master_OsDisk", "westeurope", 127)
    vm_id = f"{rg}/providers/{instances.VM_TYPE}/vm-gold-master"
    sim.store.put(
        new_doc(
            vm_id,
            instances.VM_TYPE,
            "westeurope",
            {
                "vmId": guid(sim.rng),
                "provisioningState": "Succeeded",
                "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                "osProfile": {"computerName": "vm-gold-master"},
                "storageProfile": {"osDisk": {"name": disk["name"], "managedDisk": {"id": disk["id"]}}},
            },
            {},
        )
    )
    gid = f"{rg}/providers/{gallery.GALLERY_TYPE}/AVDGallery"
    gallery.make_gallery(sim, gid, "westeurope")
    gallery.make_image(sim, f"{gid}/images/Win11MultiS", "westeurope")
    vid = f"{gid}/images/Win11MultiS/versions/{VERSION}"
    doc = gallery.make_version(
        sim,
        vid,
        "westeurope",
        {
            "storageProfile": {"source": {"id": vm_id}},
            "safetyProfile": {"allowDeletionOfReplicatedLocations": False},
        },
    )
    doc["properties"]["publishingProfile"]["publishedDate"] = "2026-05-22T17:19:00.0000000Z"
    doc["properties"]["publishingProfile"]["targetRegions"] = [
        {
            "name": "West Europe",
            "regionalReplicaCount": 1,
            "storageAccountType": "Standard_LRS",
            "excludeFromLatest": False,
        }
    ]
    doc["properties"]["provisioningState"] = "Succeeded"
    doc["_sim"] = {
        "replicas": {
            "westeurope": {"start": 0.0, "end": 0.0, "state": "Completed", "progress": 100, "details": ""}
        }
    }
    sim.store.put(doc)
    family = guid(sim.rng)
    now = sim.clock.seconds()
    # the incremental ones are one family (one disk), created in this order: scratch, 0515, 0522 data, 0522 os
    for name, size, tags, incremental, age_h in (
        ("snap-gold-os-20260522", 127, {"SnapReplicate": "Replicate"}, True, 3.0),
        ("snap-gold-data-20260522", 64, {"SnapReplicate": "Replicate"}, True, 4.0),
        ("snap-gold-os-20260515", 127, {"SnapReplicate": "Replicate"}, True, 7 * 24.0),
        ("snap-gold-scratch", 32, {"Other": "Replicate"}, True, 10 * 24.0),
        ("snap-gold-manual", 127, {}, False, 2.0),
    ):
        creation = {
            "createOption": "Copy",
            "sourceResourceId": disk["id"],
            "sourceUniqueId": disk["properties"]["uniqueId"],
        }
        sim.store.put(
            disks.make_snapshot(
                sim,
                f"{rg}/providers/{disks.SNAP_TYPE}/{name}",
                "westeurope",
                size,
                incremental=incremental,
                creation=creation,
                tags=tags,
                family=family if incremental else None,
                created=now - age_h * 3600,
            )
        )
    return vid


def _hostpool(sim: State, rg: str, name: str, location: str, dag: str, workspace: str) -> dict[str, Any]:
    base = f"{_rg(SUB1, rg)}/providers/Microsoft.DesktopVirtualization"
    pool_id, dag_id, ws_id = (
        f"{base}/hostPools/{name}",
        f"{base}/applicationGroups/{dag}",
        f"{base}/workspaces/{workspace}",
    )
    pool = avd.make(
        sim,
        pool_id,
        avd.POOL,
        location,
        _entra_pool(name, dag_id),
    )
    avd.make(
        sim,
        dag_id,
        avd.APPGROUP,
        location,
        {
            "hostPoolArmPath": pool_id,
            "applicationGroupType": "Desktop",
            "friendlyName": "Desktop",
            "workspaceArmPath": ws_id,
        },
    )
    avd.make(
        sim,
        ws_id,
        avd.WORKSPACE,
        location,
        {"friendlyName": workspace, "applicationGroupReferences": [dag_id], "publicNetworkAccess": "Enabled"},
    )
    return pool


def _scale_set(sim: State, version_id: str, identity: dict[str, Any], pool: dict[str, Any]) -> None:
    vid = f"{_rg(SUB1, 'VMSS')}/providers/Microsoft.Compute/virtualMachineScaleSets/Entra"
    created = iso(sim.clock.seconds())
    subnet = f"{_rg(SUB1, 'INFRA')}/providers/Microsoft.Network/virtualNetworks/vnet-avd-weu/subnets/snet-avd"
    doc: dict[str, Any] = {
        "id": vid,
        "name": "Entra",
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": "westeurope",
        "etag": '"1"',
        "tags": {"AVD-HostPool": pool["id"]},
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 2},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                identity["id"]: {
                    "principalId": identity["properties"]["principalId"],
                    "clientId": identity["properties"]["clientId"],
                }
            },
        },
        "properties": {
            "orchestrationMode": "Flexible",
            "platformFaultDomainCount": 1,
            "singlePlacementGroup": False,
            "uniqueId": guid(sim.rng),
            "provisioningState": "succeeded",
            "timeCreated": created,
            "virtualMachineProfile": {
                "timeCreated": created,
                "storageProfile": {
                    "imageReference": {"id": version_id},
                    "osDisk": {
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": {"storageAccountType": "Premium_LRS"},
                    },
                },
                "osProfile": {"computerNamePrefix": "entra", "adminUsername": "avdadmin"},
                "networkProfile": {
                    "networkApiVersion": "2020-11-01",
                    "networkInterfaceConfigurations": [
                        {
                            "name": "entra-nic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [
                                    {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}
                                ],
                            },
                        }
                    ],
                },
                "extensionProfile": {
                    "extensions": [
                        {
                            "name": "AVD-DSC",
                            "properties": {
                                "publisher": "Microsoft.Powershell",
                                "type": "DSC",
                                "typeHandlerVersion": "2.73",
                                "settings": {"properties": {"hostPoolName": pool["name"], "aadJoin": True}},
                            },
                        }
                    ]
                },
            },
        },
        "_sim": {},
    }
    sim.store.put(doc)
    instances.create(sim, doc, 2, failed=False)
    for n, vm in enumerate(instances.of_scale_set(sim, doc)):
        vm["_sim"].pop("readyAt", None)
        vm["_sim"].pop("registerAt", None)
        vm["properties"]["provisioningState"] = "Succeeded"
        host = instances.register_host(sim, pool, vm)
        for upn in USERS[:2] if n == 0 else USERS[2:]:
            sessions.make_user_session(
                sim, host, len(sim.store.children(host["id"] + "/userSessions")) + 1, upn
            )


def _entra_pool(name: str, dag_id: str, **overrides: Any) -> dict[str, Any]:
    """An Entra ID joined host pool's properties (pooled, breadth-first, 10 sessions unless ``overrides``)."""
    return {
        "friendlyName": name,
        "description": f"{name} (Entra ID joined)",
        "hostPoolType": "Pooled",
        "personalDesktopAssignmentType": None,
        "customRdpProperty": "targetisaadjoined:i:1;enablerdsaadauth:i:1;",
        "maxSessionLimit": 10,
        "loadBalancerType": "BreadthFirst",
        "validationEnvironment": False,
        "preferredAppGroupType": "Desktop",
        "startVMOnConnect": False,
        "publicNetworkAccess": "Enabled",
        "registrationInfo": {"expirationTime": None, "token": None, "registrationTokenOperation": "None"},
        "applicationGroupReferences": [dag_id],
        "cloudPcResource": False,
        **overrides,
    }
