"""Conformance: every official example in examples/azure/ replayed through the real SDK against the simulator.

Files are discovered, not listed: a new example without a driver fails. Each driver issues the example's own
request (its body, placeholders mapped onto the seed scenario: regions, image/subnet/source ids) through the SDK
method the examples README names. Read examples first create the resource from the example's documented
response (its writable fields, through the SDK's create call where one exists; else through the simulator's
in-process makers with the example's user-settable values), so both sides hold the same user data and the
simulator must produce the server-side fields itself.

Compared: the reply the example documents. For an LRO that is the *initial* reply (the examples show
``Creating``/``Updating`` bodies under the initial status codes), captured with azure-core's
``raw_response_hook`` while the SDK poller still runs to completion; when the example documents no body for the
served status (a bare 202) it is the SDK's final result. The served status must be one the example documents.
Both bodies are deserialized into the SDK's return type of the call (the documented body must fit that model:
nothing lost in the round trip), serialized back to REST names, and their sets of non-null fields (dotted
paths, list items merged under ``[]``) must be equal at every depth. Values never count (ids, names, times
differ), tag keys are user data (only ``tags`` presence counts), and the ARM envelope ``id``/``name``/``type``
is identity, not content (several examples trim it; every served resource must carry all three).
``EXCEPTIONS`` lists, per example, each field allowed to differ and why; an unused entry fails.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from sim.azure import AzureSim
from sim.azure.providers import disks, gallery, instances, sessions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "azure"
FILES = sorted(EXAMPLES.glob("*/*.json"))
SUB, SUB2 = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
RG_ID = f"/subscriptions/{SUB}/resourceGroups"
GALLERY = ("GOLD-VDA", "AVDGallery", "Win11MultiS")
GALLERY_ID = f"{RG_ID}/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery"
SUBNET_ID = f"{RG_ID}/INFRA/providers/Microsoft.Network/virtualNetworks/vnet-avd-weu/subnets/snet-avd"
DISK_ID = f"{RG_ID}/GOLD-VDA/providers/Microsoft.Compute/disks/vm-gold-master_OsDisk"
SNAP_SOURCE = (
    f"subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/snap-gold-os-20260522"
)
SOURCE_VM = f"{RG_ID}/GOLD-VDA/providers/Microsoft.Compute/virtualMachines/vm-conformance-source"
POOLS = f"{RG_ID}/AVD/providers/Microsoft.DesktopVirtualization/hostPools"
RENAMES = {
    "West US": "West Europe",
    "westus": "westeurope",
    "East US": "UK South",
    "eastus": "uksouth",
    "centralus": "westeurope",
}
ENVELOPE = {"id", "name", "type"}
OS_SERVER = {"provisioningState", "uniqueId", "timeCreated"}
_LATER = (
    "the Create examples predate these read-only fields; VirtualMachineScaleSet_Get (2025-04-01) shows "
    "etag, timeCreated and virtualMachineProfile.timeCreated, which Azure stamps on every scale set"
)
_NIC = (
    "VirtualMachineScaleSet_Get's NIC configuration is trimmed; the Uniform Create example shows the network "
    "defaults Compute adds (dnsSettings, enableAcceleratedNetworking, privateIPAddressVersion)"
)
EXCEPTIONS: dict[str, dict[str, str]] = {
    "VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage": {
        "etag": _LATER,
        "properties.timeCreated": _LATER,
        "properties.virtualMachineProfile.timeCreated": _LATER,
    },
    "VirtualMachineScaleSet_Create_WithPriorityMixPolicy": {
        "etag": _LATER,
        "properties.timeCreated": _LATER,
        "properties.virtualMachineProfile.timeCreated": _LATER,
        "properties.provisioningState": "the Flexible example's reply omits it; every other scale-set reply shows it",
        "properties.uniqueId": "the Flexible example's reply omits it; the Uniform Create example shows it",
    },
    "VirtualMachineScaleSet_Get": {
        "properties.uniqueId": "the Get example omits it; the Create example shows Azure's uniqueId",
        **{
            f"properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[].properties.{f}": _NIC
            for f in (
                "dnsSettings",
                "enableAcceleratedNetworking",
                "ipConfigurations[].properties.privateIPAddressVersion",
            )
        },
    },
    "VirtualMachineScaleSet_Update_MinimumSet_Gen": {
        f: "generated minimum-set example: its reply lists only the required location; a PATCH answers with the "
        "whole scale set (compare VirtualMachineScaleSet_Get)"
        for f in ("etag", "sku", "tags", "properties")
    },
    "GalleryImageVersion_Update": {
        "properties.safetyProfile": "the Update example's reply omits safetyProfile, which the Create and Get "
        "replies show for the same version"
    },
    "Snapshot_Get": {
        f"properties.{f}": "Snapshot_Get is trimmed: Snapshot_GetIncrementalSnapshot (same "
        "api-version) shows these read-only fields Azure sets on every snapshot"
        for f in ("diskSizeBytes", "diskState", "uniqueId")
    },
    "UserSession_List": {
        f"systemData.{f}": "the two user-session list examples disagree; UserSession_ListByHostPool shows systemData "
        "with only createdAt (the service, not an ARM caller, creates sessions), as simulated"
        for f in ("createdBy", "createdByType", "lastModifiedAt", "lastModifiedBy", "lastModifiedByType")
    },
}


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def mapped(value: Any) -> Any:
    """A deep copy with the example's region names mapped onto the seed scenario's."""
    raw = json.dumps(value)
    for old, new in RENAMES.items():
        raw = raw.replace(f'"{old}"', f'"{new}"')
    return json.loads(raw)


def request(ex: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(mapped(ex["parameters"][name]))


def documented(ex: dict[str, Any]) -> dict[str, Any]:
    """The example's 200 body (the final view a read example documents), region names mapped."""
    return dict(mapped(ex["responses"]["200"]["body"]))


def without(body: dict[str, Any], *paths: str) -> dict[str, Any]:
    """``body`` minus read-only ``paths`` (dotted), for creating a resource from a documented reply."""
    out = copy.deepcopy(body)
    for path in (*paths, "id", "name", "type", "systemData", "etag"):
        *parents, leaf = path.split(".")
        node = out
        for p in parents:
            node = node.get(p) or {}
        node.pop(leaf, None)
    return out


def future(days: int = 1) -> str:
    """A registration-token expiry inside the service's window (examples use 2008/2020 dates, which the real
    service and the simulator refuse as past)."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -------------------------------------------------------------------------------------------- SDK calls
@dataclass
class Outcome:
    result: Any  # the SDK's return value (a model, a list of models, or None)
    status: int  # the status of the example's own request
    initial: Any  # the body of that first reply


class Capture:
    """``raw_response_hook``: remembers the first reply of one SDK call (the request the example documents)."""

    def __init__(self) -> None:
        self.status = 0
        self.body: Any = None

    def __call__(self, pipeline_response: Any) -> None:
        if self.status:
            return
        http = pipeline_response.http_response
        http.read()
        self.status = http.status_code
        self.body = json.loads(http.content) if http.content else None


def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Run one SDK call (an LRO poller to completion, a pager to the end) and keep its first reply."""
    hook = Capture()
    result = method(*args, raw_response_hook=hook, **kwargs)
    if hasattr(result, "result") and hasattr(result, "status"):
        result = result.result()
    elif isinstance(result, Iterator) or hasattr(result, "by_page"):
        result = list(result)
    return Outcome(result, hook.status, hook.body)


# -------------------------------------------------------------------------------------------- field sets
def fields(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every non-null field; list items are merged under ``name[]``."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            if sub is None or sub == {} or sub == []:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            if path != "tags":  # tag keys are user data
                out |= fields(sub, path)
    elif isinstance(value, list):
        for item in value:
            out |= fields(item, f"{prefix}[]")
    return out


def rest(model: Any) -> dict[str, Any]:
    """A model back in REST names (msrest models serialize; TypeSpec models are REST mappings)."""
    if hasattr(model, "serialize"):
        return dict(model.serialize(keep_readonly=True))
    return dict(model.as_dict())


def as_model(cls: type[Any], body: dict[str, Any]) -> Any:
    return cls.deserialize(body) if hasattr(cls, "deserialize") else cls(body)


def content(cls: type[Any], body: dict[str, Any], label: str) -> set[str]:
    """The body's field set once deserialized into ``cls``; it must survive the round trip unchanged."""
    back = fields(rest(as_model(cls, body)))
    lost = fields(body) - back
    assert not lost, f"{label}: fields the SDK model {cls.__name__} does not know: {sorted(lost)}"
    return back - ENVELOPE


def items(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["value"]) if isinstance(body.get("value"), list) else [body]


def covered(path: str, allowed: dict[str, str]) -> bool:
    return any(path == a or path.startswith(a + ".") or path.startswith(a + "[]") for a in allowed)


def compare(name: str, ex: dict[str, Any], out: Outcome) -> None:
    responses = {code: r for code, r in ex["responses"].items() if code[0] == "2"}
    assert str(out.status) in responses, f"{name}: served {out.status}, documented {sorted(responses)}"
    reply = responses[str(out.status)]
    body = reply.get("body") if isinstance(reply, dict) else None
    listed = isinstance(out.result, list)
    results = out.result if listed else [out.result]
    if body is None:  # a bare 202/204 (or a reply without a body wrapper): the SDK's final result counts
        body = next(
            (r["body"] for _, r in sorted(responses.items()) if isinstance(r.get("body"), dict)), None
        )
        if body is None:
            assert out.result is None, f"{name}: the example documents an empty reply, got {out.result!r}"
            return
        served = [rest(r) for r in results if r is not None]
    elif listed:
        served = [rest(r) for r in results]
    else:  # the example documents this very reply (for an LRO: the initial one)
        served = items(out.initial)
    assert results and results[0] is not None and served, (
        f"{name}: nothing served; the example documents a body"
    )
    cls = type(results[0])
    want = set().union(*(content(cls, mapped(i), name) for i in items(body)))
    got = set().union(*(content(cls, b, f"{name} (served)") for b in served))
    if ENVELOPE & fields(items(body)[0]):
        for b in served:
            assert set(b) >= ENVELOPE, f"{name}: a served resource lacks part of id/name/type: {sorted(b)}"
    allowed = EXCEPTIONS.get(name, {})
    missing = sorted(f for f in want - got if not covered(f, allowed))
    extra = sorted(f for f in got - want if not covered(f, allowed))
    assert not missing and not extra, f"{name}: missing {missing}, extra {extra}"
    unused = [a for a in allowed if not any(covered(f, {a: ""}) for f in want ^ got)]
    assert not unused, f"{name}: listed exceptions that no longer differ: {unused}"


# -------------------------------------------------------------------------------------------- the world
@pytest.fixture(scope="module")
def azure() -> Iterator[AzureSim]:
    sim = AzureSim(scenario="seed", time_scale=50_000, page_size=5)
    sim.start()
    with (
        sim.lock
    ):  # an image source with an OS and a data disk, reported by Azure's scanner like the examples'
        os_disk = disks.make_disk(
            sim, f"{SOURCE_VM}_OsDisk".replace("virtualMachines", "disks"), "westeurope", 10
        )
        data = disks.make_disk(
            sim, f"{SOURCE_VM}_Data1".replace("virtualMachines", "disks"), "westeurope", 10
        )
        instances.make_vm(
            sim,
            SOURCE_VM,
            "westeurope",
            {"managedDisk": {"id": os_disk["id"]}, "caching": "ReadOnly"},
            [{"lun": 1, "managedDisk": {"id": data["id"]}, "caching": "None"}],
        )
        gallery.flag_source(sim, SOURCE_VM, "ImageFlaggedUnsafe", "This is the policy violation details.")
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def clients(azure: AzureSim) -> AzureClients:
    return AzureClients(azure.url, azure.ca_path, polling_interval=0.01, retry_total=0)


Driver = Callable[[AzureClients, AzureSim, dict[str, Any]], Outcome]


def settle(sim: AzureSim, seconds: float = 3600.0) -> None:
    """Let every background operation (replicas, instance boots) finish on the virtual clock."""
    sim.clock.advance(seconds)
    sim.tick()


# -- gallery
def _version_body(ex: dict[str, Any]) -> dict[str, Any]:
    body = request(ex, "galleryImageVersion")
    body["properties"].setdefault("storageProfile", {})["source"] = {"id": SOURCE_VM}
    return body


def _new_version(c: AzureClients, sim: AzureSim, version: str, body: dict[str, Any]) -> None:
    c.compute(SUB).gallery_image_versions.begin_create_or_update(*GALLERY, version, body).result()
    settle(sim)


def _gallery(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        ops = c.compute(SUB).gallery_image_versions
        create = load(EXAMPLES / "gallery" / "GalleryImageVersion_Create.json")
        if name == "Create":
            return call(ops.begin_create_or_update, *GALLERY, "1.0.0", _version_body(ex))
        if name == "Get_WithReplicationStatus":
            body = without(
                documented(ex),
                "properties.publishingProfile.publishedDate",
                "properties.provisioningState",
                "properties.replicationStatus",
                "properties.storageProfile.osDiskImage",
                "properties.storageProfile.dataDiskImages",
            )
            body["properties"]["storageProfile"]["source"] = {"id": SOURCE_VM}
            _new_version(c, sim, "1.0.1", body)
            return call(ops.get, *GALLERY, "1.0.1", expand="ReplicationStatus")
        version = "1.0.2" if name == "Update" else "1.0.3"
        _new_version(c, sim, version, _version_body(create))
        if name == "Update":
            return call(ops.begin_update, *GALLERY, version, _version_body(ex))
        return call(ops.begin_delete, *GALLERY, version)

    return run


# -- scale sets
def _vmss_body(body: dict[str, Any]) -> dict[str, Any]:
    profile = body["properties"]["virtualMachineProfile"]
    for nic in profile.get("networkProfile", {}).get("networkInterfaceConfigurations", []):
        for ipc in nic["properties"]["ipConfigurations"]:
            ipc["properties"]["subnet"] = {"id": SUBNET_ID}
    return body


def _linux_image(c: AzureClients, sim: AzureSim) -> str:
    """A Linux image definition with a replica in westeurope, like the example's generalized shared image."""
    image = c.compute(SUB).gallery_images
    image.begin_create_or_update(
        GALLERY[0],
        GALLERY[1],
        "conformance-linux",
        {
            "location": "westeurope",
            "properties": {
                "osType": "Linux",
                "osState": "Generalized",
                "hyperVGeneration": "V2",
                "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
            },
        },
    ).result()
    version = _version_body(load(EXAMPLES / "gallery" / "GalleryImageVersion_Create.json"))
    version["properties"]["publishingProfile"]["targetRegions"] = [{"name": "West Europe"}]
    c.compute(SUB).gallery_image_versions.begin_create_or_update(
        GALLERY[0], GALLERY[1], "conformance-linux", "1.0.0", version
    ).result()
    settle(sim)
    return f"{GALLERY_ID}/images/conformance-linux"


def _get_body() -> dict[str, Any]:
    ex = load(EXAMPLES / "compute" / "VirtualMachineScaleSet_Get.json")
    return _vmss_body(
        without(
            documented(ex),
            *(f"properties.{f}" for f in OS_SERVER),
            "properties.virtualMachineProfile.timeCreated",
        )
    )


def _vmss(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        ops = c.compute(SUB).virtual_machine_scale_sets
        rg, vmss = "VMSS", f"conformance-{name.lower()}"
        if name.startswith("Create"):
            body = _vmss_body(request(ex, "parameters"))
            ref = body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
            if "id" in ref:
                ref["id"] = _linux_image(c, sim)
            return call(ops.begin_create_or_update, rg, vmss, body)
        body = _get_body()
        if name == "ScaleOut":
            body["zones"] = ["1", "2", "3"]
        ops.begin_create_or_update(rg, vmss, body).result()
        settle(sim)
        if name == "Get":
            return call(ops.get, rg, vmss)
        if name == "ScaleOut":
            return call(ops.begin_scale_out, rg, vmss, request(ex, "parameters"))
        return call(ops.begin_update, rg, vmss, request(ex, "parameters"))

    return run


# -- snapshots
def _copy(c: AzureClients, sim: AzureSim, name: str) -> None:
    body = {
        "location": "westeurope",
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": SNAP_SOURCE}},
    }
    c.compute(SUB).snapshots.begin_create_or_update("GOLD-VDA", name, body).result()
    settle(sim)


def _snapshot(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        ops, target = c.compute(SUB).snapshots, f"conformance-{name.lower()}"
        if name.startswith("Create"):
            body = request(ex, "snapshot")
            body["properties"]["creationData"]["sourceResourceId"] = SNAP_SOURCE
            if name.endswith("InDifferentRegion"):  # the example's point: a region other than the source's
                body["location"] = "UK South"
            return call(ops.begin_create_or_update, "GOLD-VDA", target, body)
        if name.startswith("Get"):
            body = without(
                documented(ex),
                "properties.creationData.sourceUniqueId",
                *(f"properties.{f}" for f in sorted(disks.READ_ONLY)),
            )
            body["properties"]["creationData"]["sourceResourceId"] = DISK_ID
            ops.begin_create_or_update("GOLD-VDA", target, body).result()
            settle(sim)
            return call(ops.get, "GOLD-VDA", target)
        _copy(c, sim, target)
        if name == "Update":
            return call(ops.begin_update, "GOLD-VDA", target, request(ex, "snapshot"))
        if name == "BeginGetAccess":
            return call(ops.begin_grant_access, "GOLD-VDA", target, request(ex, "grantAccessData"))
        if name == "EndGetAccess":
            ops.begin_grant_access("GOLD-VDA", target, {"access": "Read", "durationInSeconds": 300}).result()
            return call(ops.begin_revoke_access, "GOLD-VDA", target)
        return call(ops.begin_delete, "GOLD-VDA", target)

    return run


# -- AVD
def _pool(c: AzureClients, name: str, props: dict[str, Any] | None = None, **body: Any) -> str:
    """A host pool created through the SDK (minimal required fields unless ``props`` are given)."""
    base = {"hostPoolType": "Pooled", "loadBalancerType": "BreadthFirst", "preferredAppGroupType": "Desktop"}
    c.avd(SUB).host_pools.create_or_update(
        "AVD", name, {"location": "westeurope", **body, "properties": props or base}
    )
    return name


def _hosts(c: AzureClients, sim: AzureSim, ex_name: str, pool_name: str) -> list[dict[str, Any]]:
    """Session hosts (and one user session each) seeded in process with the example's user-settable values:
    AVD has no ARM call that creates them (the agent registers a VM)."""
    ex = load(EXAMPLES / "desktopvirtualization" / f"{ex_name}.json")
    listed = (
        ex["responses"]["200"]["body"]["value"]
        if ex_name == "SessionHost_List"
        else [{"name": "sessionHost1.microsoft.com", "properties": {}}]
    )
    _pool(c, pool_name)
    out = []
    with sim.lock:
        pool = sim.store.get(f"{POOLS}/{pool_name}")
        assert pool is not None
        for n, item in enumerate(listed):
            settable = {k: v for k, v in item["properties"].items() if k in sessions.HOST_FIELDS}
            vm = f"{RG_ID}/AVD/providers/Microsoft.Compute/virtualMachines/{item['name'].split('.')[0]}"
            host = sessions.make_host(
                sim, pool, item["name"], vm, f"00000000-0000-0000-0000-00000000000{n}", **settable
            )
            for number in (1, 2):
                sessions.make_user_session(sim, host, number, "user1@microsoft.com", "WVDARM\\user1")
            out.append(host)
    return out


def _avd(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        avd, pool = c.avd(SUB), f"conformance-{name.lower().replace('_', '-')}"
        if name == "HostPool_Get":
            body = without(
                documented(ex),
                "properties.objectId",
                "properties.cloudPcResource",
                "properties.registrationInfo.token",
            )
            body["properties"]["registrationInfo"]["expirationTime"] = future()
            _pool(c, pool, body["properties"], tags=body["tags"])
            return call(avd.host_pools.get, "AVD", pool)
        if name == "HostPool_Update":
            patch = request(ex, "hostPool")
            patch["properties"]["registrationInfo"]["expirationTime"] = future()
            return call(avd.host_pools.update, "AVD", _pool(c, pool), host_pool=patch)
        if name == "HostPools_RetrieveRegistrationToken_Post":
            _pool(c, pool)
            avd.host_pools.update(
                "AVD",
                pool,
                host_pool={
                    "properties": {
                        "registrationInfo": {
                            "expirationTime": future(),
                            "registrationTokenOperation": "Update",
                        }
                    }
                },
            )
            return call(avd.host_pools.retrieve_registration_token, "AVD", pool)
        if name == "ScalingPlan_Get":
            body = without(documented(ex), "properties.objectId")
            body["properties"]["hostPoolReferences"][0]["hostPoolArmPath"] = f"{POOLS}/{_pool(c, pool)}"
            avd.scaling_plans.create("AVD", pool, body)
            return call(avd.scaling_plans.get, "AVD", pool)
        source = "SessionHost_List" if name == "SessionHost_List" else "SessionHost_Update"
        host = _hosts(c, sim, source, pool)[0]["name"].split("/")[-1]
        if name == "SessionHost_List":
            return call(avd.session_hosts.list, "AVD", pool, page_size=10, is_descending=True, initial_skip=0)
        if name == "SessionHost_Update":
            return call(
                avd.session_hosts.update,
                "AVD",
                pool,
                host,
                force=True,
                session_host=request(ex, "sessionHost"),
            )
        if name == "UserSession_List":
            return call(
                avd.user_sessions.list, "AVD", pool, host, page_size=10, is_descending=True, initial_skip=0
            )
        if name == "UserSession_ListByHostPool":
            return call(
                avd.user_sessions.list_by_host_pool,
                "AVD",
                pool,
                filter=ex["parameters"]["$filter"],
                page_size=10,
                is_descending=True,
                initial_skip=0,
            )
        if name == "UserSession_Disconnect_Post":
            return call(avd.user_sessions.disconnect, "AVD", pool, host, "1")
        if name == "UserSession_SendMessage_Post":
            return call(
                avd.user_sessions.send_message,
                "AVD",
                pool,
                host,
                "1",
                send_message=request(ex, "sendMessage"),
            )
        return call(avd.user_sessions.delete, "AVD", pool, host, "1", force=True)

    return run


# -- locks (ReadOnly as in the examples, on scopes of their own, removed again)
LOCK_RG = f"subscriptions/{SUB2}/resourceGroups/CONFORMANCE-LOCKS"


def _locks(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        locks = c.locks(SUB2).management_locks
        c.resources(SUB2).resource_groups.create_or_update("CONFORMANCE-LOCKS", {"location": "uksouth"})
        body = (
            request(ex, "parameters")
            if "parameters" in ex["parameters"]
            else {"properties": {"level": "ReadOnly"}}
        )
        if name == "CreateOrUpdateAtScope":
            out = call(locks.create_or_update_by_scope, LOCK_RG, "testlock", body)
        elif name == "ListAtScope":
            locks.create_or_update_by_scope(LOCK_RG, "testlock", body)
            out = call(locks.list_by_scope, LOCK_RG)
        elif name == "DeleteAtScope":
            locks.create_or_update_by_scope(LOCK_RG, "testlock", body)
            return call(locks.delete_by_scope, LOCK_RG, "testlock")
        else:  # at resource level: a snapshot of the seed, unlocked again afterwards
            snap = ("GOLD-VDA", "Microsoft.Compute", "", "snapshots", "snap-gold-scratch", "testlock")
            c.locks(SUB).management_locks.create_or_update_at_resource_level(*snap, body)
            method = (
                c.locks(SUB).management_locks.get_at_resource_level
                if name == "GetAtResourceLevel"
                else c.locks(SUB).management_locks.delete_at_resource_level
            )
            out = call(method, *snap)
            c.locks(SUB).management_locks.delete_at_resource_level(*snap)
            return out
        locks.delete_by_scope(LOCK_RG, "testlock")
        return out

    return run


# -- managed identities
def _msi(name: str) -> Driver:
    def run(c: AzureClients, sim: AzureSim, ex: dict[str, Any]) -> Outcome:
        msi = c.msi(SUB)
        identity = f"conformance-{name.lower()}"
        if name == "IdentityCreate":
            return call(
                msi.user_assigned_identities.create_or_update, "VMSSDR", identity, request(ex, "parameters")
            )
        body = without(documented(ex), "properties") if name == "IdentityGet" else {"location": "uksouth"}
        msi.user_assigned_identities.create_or_update("VMSSDR", identity, body)
        if name == "IdentityGet":
            return call(msi.user_assigned_identities.get, "VMSSDR", identity)
        return call(
            msi.federated_identity_credentials.create_or_update,
            "VMSSDR",
            identity,
            "ficResourceName",
            request(ex, "parameters"),
        )

    return run


def _named(prefix: str, make: Callable[[str], Driver], *names: str) -> dict[str, Driver]:
    return {f"{prefix}{n}": make(n) for n in names}


DRIVERS: dict[str, Driver] = {
    **_named("GalleryImageVersion_", _gallery, "Create", "Update", "Get_WithReplicationStatus", "Delete"),
    **_named(
        "VirtualMachineScaleSet_",
        _vmss,
        "Create_FromAGeneralizedSharedImage",
        "Create_WithPriorityMixPolicy",
        "Get",
        "Update_MinimumSet_Gen",
        "ScaleOut",
    ),
    **_named(
        "Snapshot_",
        _snapshot,
        "Get",
        "GetIncrementalSnapshot",
        "Create_FromAnExistingSnapshot",
        "Create_FromAnExistingSnapshotInDifferentRegion",
        "Update",
        "BeginGetAccess",
        "EndGetAccess",
        "Delete",
    ),
    **_named(
        "",
        _avd,
        "HostPool_Get",
        "HostPool_Update",
        "HostPools_RetrieveRegistrationToken_Post",
        "ScalingPlan_Get",
        "SessionHost_List",
        "SessionHost_Update",
        "UserSession_List",
        "UserSession_ListByHostPool",
        "UserSession_Disconnect_Post",
        "UserSession_SendMessage_Post",
        "UserSessions_Delete",
    ),
    **_named(
        "ManagementLocks_",
        _locks,
        "CreateOrUpdateAtScope",
        "ListAtScope",
        "GetAtResourceLevel",
        "DeleteAtScope",
        "DeleteAtResourceLevel",
    ),
    **_named("", _msi, "IdentityCreate", "IdentityGet", "FederatedIdentityCredentialCreate"),
}


def test_every_example_has_a_driver() -> None:
    assert len(FILES) >= 36, f"examples not found under {EXAMPLES}"
    stems = {p.stem for p in FILES}
    assert not stems - DRIVERS.keys(), (
        f"examples without a conformance driver: {sorted(stems - DRIVERS.keys())}"
    )
    assert not EXCEPTIONS.keys() - stems, (
        f"exceptions for unknown examples: {sorted(EXCEPTIONS.keys() - stems)}"
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_conforms(path: Path, clients: AzureClients, azure: AzureSim) -> None:
    example = load(path)
    compare(path.stem, example, DRIVERS[path.stem](clients, azure, example))
