"""Scale-set instances: boot on the virtual clock, host-pool registration as AVD session hosts, scale-in.

A new VM provisions in 3-5 virtual minutes (Azure's Windows VM deployments typically take a few minutes),
and its AVD agent registers with the host pool 1-2 minutes later. The scale set names its host pool in one of
three ways:

0. a Custom Script extension running ``register-session-host.ps1`` (the DR identity chain, ``joinchain``): the
   instance registers only when every link of the chain holds or its fallback token is the pool's current one;
   otherwise the extension fails and says which link is missing (this way wins over the two below);
1. a tag ``AVD-HostPool`` whose value is the host pool's ARM id (no token check), or
2. the AVD DSC extension (``virtualMachineProfile.extensionProfile.extensions[].properties`` with
   ``type: DSC``) whose ``settings.properties.hostPoolName`` names a host pool in the same subscription; when
   ``protectedSettings.properties.registrationInfoToken`` is present it must be the pool's current, unexpired
   registration token, otherwise the agent never registers (the host does not appear).

Extensions run on each new instance when it is provisioned. ``AADLoginForWindows`` fails on an instance whose
scale set has no system-assigned identity (Microsoft's Entra VM sign-in page: the system-assigned managed
identity must be enabled before the extension is installed); an extension whose ``provisionAfterExtensions``
names a failed (or never run) extension never runs (scale-set extension sequencing). A failed extension ends the
instance ``provisioningState: Failed`` with ``ProvisioningState/failed/VMExtensionProvisioningError`` in its
instance view (``$expand=instanceView`` or ``GET .../instanceView``), and the instance never registers as a
session host.
"""

from __future__ import annotations

import string
import time
from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid, key, resource_group_id, subscription_of
from sim.azure.providers import avd, joinchain, sessions
from sim.azure.providers.common import new_doc
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

VM_TYPE = "Microsoft.Compute/virtualMachines"
UNIFORM_VM_TYPE = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
HOST_TYPE = "Microsoft.DesktopVirtualization/hostPools/sessionhosts"
POOL_TYPE = "Microsoft.DesktopVirtualization/hostPools"
AAD_LOGIN = "aadloginforwindows"
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


def _system_identity(vmss: dict[str, Any]) -> bool:
    kinds = str((vmss.get("identity") or {}).get("type") or "").replace(" ", "").lower().split(",")
    return "systemassigned" in kinds


def run_extensions(vmss: dict[str, Any]) -> list[dict[str, Any]]:
    """What each model extension does on a new instance: ``state`` succeeded | failed | (absent: never ran)."""
    vmp = vmss["properties"].get("virtualMachineProfile") or {}
    exts = [e for e in (vmp.get("extensionProfile") or {}).get("extensions") or [] if isinstance(e, dict)]
    by_name = {str(e.get("name", "")).lower(): e for e in exts}
    outcome: dict[str, str] = {}

    def state(name: str, seen: frozenset[str] = frozenset()) -> str:
        if name in outcome:
            return outcome[name]
        p = by_name[name].get("properties") or {}
        result = "succeeded"
        for before in p.get("provisionAfterExtensions") or []:
            b = str(before).lower()
            if b in seen or b not in by_name or state(b, seen | {name}) != "succeeded":
                result = "skipped"
        if (
            result == "succeeded"
            and str(p.get("type", "")).lower() == AAD_LOGIN
            and not _system_identity(vmss)
        ):
            result = "failed"
        outcome[name] = result
        return result

    out = []
    for name, ext in by_name.items():
        p = ext.get("properties") or {}
        out.append(
            {
                "name": ext.get("name"),
                "type": f"{p.get('publisher', '')}.{p.get('type', '')}".strip("."),
                "typeHandlerVersion": p.get("typeHandlerVersion"),
                "state": state(name),
            }
        )
    return out


def extension_error(name: str, stderr: str = "") -> str:
    """Compute's wrapper text for a failed extension. For the Custom Script extension the inner text is the
    extension's own ("Command execution finished, but failed because it returned a non-zero exit code of: '1'.
    The command had an error output of: ...") with the script's stderr; for AADLoginForWindows it is the
    simulator's wording."""
    if stderr:
        inner = (
            "Command execution finished, but failed because it returned a non-zero exit code of: '1'. "
            f"The command had an error output of: '{stderr}'"
        )
        return f"VM has reported a failure when processing extension '{name}'. Error message: \"{inner}\"."
    return (
        f"VM has reported a failure when processing extension '{name}'. Error message: \"The VM has no "
        'system-assigned managed identity: enable it before installing AADLoginForWindows.".'
    )


def _run_chain(sim: State, vmss: dict[str, Any], exts: list[dict[str, Any]]) -> str | None:
    """The registration script's run (see ``joinchain``): fills its extension's output; the pool id or None."""
    ext = joinchain.register_extension(vmss)
    if ext is None:
        return None
    entry = next((e for e in exts if str(e["name"]).lower() == str(ext.get("name", "")).lower()), None)
    if entry is None or entry["state"] != "succeeded":
        return None
    outcome = joinchain.walk(sim, vmss, ext, avd.issue_token)
    entry.update(stdout=outcome.stdout, stderr=outcome.stderr, missing=outcome.missing)
    if not outcome.succeeded:
        entry["state"] = "failed"
        return None
    return str((outcome.pool or {}).get("id"))


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
        exts = run_extensions(vmss)
        chained_pool = _run_chain(sim, vmss, exts)
        broken = any(e["state"] == "failed" for e in exts)
        if vmss.get("identity"):
            doc["identity"] = {k: v for k, v in vmss["identity"].items()}
        doc["_sim"] = {
            "scaleSet": key(vmss["id"]),
            "seq": seq,
            "readyAt": ready,
            "failed": failed or broken,
            "extensions": exts,
        }
        if chained_pool:
            doc["_sim"]["pool"] = chained_pool
        if not failed and not broken and not _dsc_skipped(exts) and (chained_pool or not _script(vmss)):
            doc["_sim"]["registerAt"] = ready + sim.rng.uniform(*REGISTER_SECONDS)
        sim.store.put(doc)
    return last


def _script(vmss: dict[str, Any]) -> bool:
    return joinchain.register_extension(vmss) is not None


def _dsc_skipped(exts: list[dict[str, Any]]) -> bool:
    return any(e["type"].lower().endswith(".dsc") and e["state"] != "succeeded" for e in exts)


def instance_view(sim: State, vm: dict[str, Any]) -> dict[str, Any]:
    """``VirtualMachineInstanceView``: computerName, the extensions that ran, provisioning and power state."""
    props = vm.get("properties") or {}
    state = str(props.get("provisioningState", "Succeeded"))
    s = vm.get("_sim") or {}
    when = iso(s.get("readyAt") or sim.clock.seconds())
    view: dict[str, Any] = {"computerName": (props.get("osProfile") or {}).get("computerName")}
    ran = [e for e in s.get("extensions") or [] if e["state"] != "skipped"]
    if state in ("Succeeded", "Failed") and ran:
        view["extensions"] = [
            {
                "name": e["name"],
                "type": e["type"],
                "typeHandlerVersion": e["typeHandlerVersion"],
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                    }
                    if e["state"] == "succeeded"
                    else {
                        "code": "ProvisioningState/failed",
                        "level": "Error",
                        "displayStatus": "Provisioning failed",
                        "message": extension_error(e["name"], e.get("stderr", "")),
                    }
                ],
                **_substatuses(e),
            }
            for e in ran
        ]
    failed = next((e for e in ran if e["state"] == "failed"), None)
    if state == "Failed" and failed is not None:
        status = {
            "code": "ProvisioningState/failed/VMExtensionProvisioningError",
            "level": "Error",
            "displayStatus": "Provisioning failed",
            "message": extension_error(failed["name"], failed.get("stderr", "")),
            "time": when,
        }
    elif state == "Failed":
        status = {
            "code": "ProvisioningState/failed",
            "level": "Error",
            "displayStatus": "Provisioning failed",
        }
    else:
        status = {
            "code": f"ProvisioningState/{state.lower()}",
            "level": "Info",
            "displayStatus": "Provisioning succeeded" if state == "Succeeded" else state,
        }
    view["statuses"] = [status]
    if state in ("Succeeded", "Failed"):
        view["statuses"].append(
            {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"}
        )
    return view


def _substatuses(ext: dict[str, Any]) -> dict[str, Any]:
    """The Custom Script extension's StdOut/StdErr substatuses (Microsoft's CSE troubleshooting output)."""
    if "stdout" not in ext:
        return {}
    return {
        "substatuses": [
            {
                "code": f"ComponentStatus/{stream}/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": ext[field],
            }
            for stream, field in (("StdOut", "stdout"), ("StdErr", "stderr"))
        ]
    }


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
        chained = sim.store.get(s["pool"]) if s.get("pool") else None
        pool = chained or (host_pool_for(sim, vmss) if vmss and not s.get("pool") else None)
        if pool is not None and vm["properties"].get("provisioningState") == "Succeeded":
            register_host(sim, pool, vm)


def render(doc: dict[str, Any]) -> dict[str, Any]:
    return public(doc) or {}
