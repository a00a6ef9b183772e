"""Scale-set instances: boot on the virtual clock, host-pool registration as AVD session hosts, scale-in.

A new VM provisions in 3-5 virtual minutes (Azure's Windows VM deployments typically take a few minutes),
and its AVD agent registers with the host pool 1-2 minutes later. The scale set names its host pool in one of
two ways (first match wins):

1. a tag ``AVD-HostPool`` whose value is the host pool's ARM id (no token check), or
2. the AVD DSC extension (``virtualMachineProfile.extensionProfile.extensions[].properties`` with
   ``type: DSC``) whose ``settings.properties.hostPoolName`` names a host pool in the same subscription; when
   ``protectedSettings.properties.registrationInfoToken`` is present it must be the pool's current, unexpired
   registration token, otherwise the agent never registers (the host does not appear).
"""

from __future__ import annotations

import string
import time
from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid, key, resource_group_id, subscription_of
from sim.azure.providers import sessions
from sim.azure.providers.common import new_doc
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VM_TYPE = "Microsoft.Compute/virtualMachines"
UNIFORM_VM_TYPE = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
HOST_TYPE = "Microsoft.DesktopVirtualization/hostPools/sessionhosts"
POOL_TYPE = "Microsoft.DesktopVirtualization/hostPools"
BOOT_SECONDS = (180.0, 300.0)
REGISTER_SECONDS = (60.0, 120.0)


def of_scale_set(sim: State, vmss: dict[str, Any]) -> list[dict[str, Any]]:
    """The scale set's instances, oldest first."""
    k = key(vmss["id"])
    found = [
        d
        for d in sim.store.items.values()
        if d.get("type") in (VM_TYPE, UNIFORM_VM_TYPE) and d.get("_sim", {}).get("scaleSet") == k
    ]
    return sorted(found, key=lambda d: d["_sim"]["seq"])


def create(sim: State, vmss: dict[str, Any], count: int, failed: bool, zone: str | None = None) -> float:
    """Add ``count`` booting instances (in ``zone`` when given); returns when the last one is provisioned."""
    now = sim.clock.seconds()
    last = now
    flexible = vmss["properties"].get("orchestrationMode") == "Flexible"
    vmp = vmss["properties"].get("virtualMachineProfile") or {}
    prefix = ((vmp.get("osProfile") or {}).get("computerNamePrefix") or vmss["name"][:9]).lower()
    s = vmss.setdefault("_sim", {})
    for _ in range(count):
        seq = s.get("nextSeq", 0)
        s["nextSeq"] = seq + 1
        if flexible:
            suffix = "".join(sim.rng.choice(string.ascii_lowercase + string.digits) for _ in range(6))
            vid = f"{resource_group_id(vmss['id'])}/providers/{VM_TYPE}/{vmss['name']}_{suffix[:8]}"
            computer, rtype = f"{prefix}{suffix}", VM_TYPE
        else:
            vid, rtype = f"{vmss['id']}/virtualMachines/{seq}", UNIFORM_VM_TYPE
            computer = f"{prefix}{seq:06x}"
        ready = now + sim.rng.uniform(*BOOT_SECONDS)
        last = max(last, ready)
        props: dict[str, Any] = {
            "vmId": guid(sim.rng),
            "provisioningState": "Creating",
            "timeCreated": iso(now),
            "hardwareProfile": {"vmSize": (vmss.get("sku") or {}).get("name", "Standard_D4s_v5")},
            "osProfile": {"computerName": computer},
            "storageProfile": vmp.get("storageProfile") or {},
        }
        doc: dict[str, Any] = {
            "id": vid,
            "name": vid.rsplit("/", 1)[-1],
            "type": rtype,
            "location": vmss["location"],
            "properties": props,
        }
        if zone:
            doc["zones"] = [zone]
        if flexible:
            props["virtualMachineScaleSet"] = {"id": vmss["id"]}
        else:
            doc["instanceId"] = str(seq)
            doc["sku"] = {"name": props["hardwareProfile"]["vmSize"], "tier": "Standard"}
        doc["_sim"] = {"scaleSet": key(vmss["id"]), "seq": seq, "readyAt": ready, "failed": failed}
        if not failed:
            doc["_sim"]["registerAt"] = ready + sim.rng.uniform(*REGISTER_SECONDS)
        sim.store.put(doc)
    return last


def make_vm(
    sim: State,
    vm_id: str,
    location: str,
    os_disk: dict[str, Any],
    data_disks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A standalone VM (a master VM, an image source): ``os_disk``/``data_disks`` are storageProfile entries
    (``managedDisk.id``, ``caching``, ``lun``, ``diskSizeGB``)."""
    storage: dict[str, Any] = {"osDisk": {"createOption": "FromImage", **os_disk}}
    if data_disks:
        storage["dataDisks"] = [{"createOption": "Empty", **d} for d in data_disks]
    return sim.store.put(
        new_doc(
            vm_id,
            VM_TYPE,
            location,
            {
                "vmId": guid(sim.rng),
                "provisioningState": "Succeeded",
                "timeCreated": iso(sim.clock.seconds()),
                "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                "osProfile": {"computerName": vm_id.rsplit("/", 1)[-1]},
                "storageProfile": storage,
            },
            {},
        )
    )


def remove(sim: State, vmss: dict[str, Any], count: int, at: float) -> None:
    """Scale in: the newest ``count`` instances and their session hosts go away at ``at``."""
    for vm in list(reversed(of_scale_set(sim, vmss)))[:count]:
        vm["properties"]["provisioningState"] = "Deleting"
        vm["_sim"]["deleteAt"] = at
        vm["_sim"].pop("registerAt", None)
        for host in hosts_of(sim, vm):
            host.setdefault("_sim", {})["deleteAt"] = at


def hosts_of(sim: State, vm: dict[str, Any]) -> list[dict[str, Any]]:
    k = key(vm["id"])
    return [d for d in sim.store.of_type(HOST_TYPE) if key(d["properties"].get("resourceId", "")) == k]


def host_pool_for(sim: State, vmss: dict[str, Any]) -> dict[str, Any] | None:
    """The host pool a scale set's instances register with (see the module docstring)."""
    for k, v in (vmss.get("tags") or {}).items():
        if k.lower() == "avd-hostpool":
            return sim.store.get(v)
    vmp = vmss["properties"].get("virtualMachineProfile") or {}
    for ext in (vmp.get("extensionProfile") or {}).get("extensions") or []:
        p = ext.get("properties") or {}
        if str(p.get("type", "")).lower() != "dsc":
            continue
        name = ((p.get("settings") or {}).get("properties") or {}).get("hostPoolName")
        token = ((p.get("protectedSettings") or {}).get("properties") or {}).get("registrationInfoToken")
        sub = subscription_of(vmss["id"]) or ""
        for pool in sim.store.of_type(POOL_TYPE, f"/subscriptions/{sub}"):
            if str(pool["name"]).lower() != str(name).lower():
                continue
            reg = pool.get("_sim", {}).get("registration") or {}
            if token and (token != reg.get("token") or time.time() > reg.get("expires", 0)):
                return None
            return pool
    return None


def register_host(sim: State, pool: dict[str, Any], vm: dict[str, Any]) -> dict[str, Any]:
    return sessions.make_host(
        sim, pool, vm["properties"]["osProfile"]["computerName"], vm["id"], vm["properties"]["vmId"]
    )


def advance(sim: State, now: float) -> None:
    """Ticker: provisioned instances whose scale set names a host pool register as session hosts."""
    for vm in sim.store.active():
        s = vm["_sim"]
        if "registerAt" not in s or now < s["registerAt"] or "readyAt" in s:
            continue
        del s["registerAt"]
        vmss = sim.store.get(s["scaleSet"])
        pool = host_pool_for(sim, vmss) if vmss else None
        if pool is not None and vm["properties"].get("provisioningState") == "Succeeded":
            register_host(sim, pool, vm)


def render(doc: dict[str, Any]) -> dict[str, Any]:
    return public(doc) or {}
