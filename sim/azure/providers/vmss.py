"""Microsoft.Compute virtual machine scale sets (Flexible and Uniform) and their VMs.

PUT answers 201 (new) / 200 (existing) + Azure-AsyncOperation, never 202; PATCH answers 200 +
Azure-AsyncOperation. A provisioned scale set reports ``provisioningState: "succeeded"`` in lower case, as
the official Get example does. Instances: see ``instances``.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from sim.azure import lro
from sim.azure.clock import iso
from sim.azure.ids import guid, key, region_key
from sim.azure.providers import instances, skus
from sim.azure.providers.common import body_dict, check_location, get_or_404, page, tags_of
from sim.azure.providers.replication import VERSION_TYPE, completed_in
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import merge, public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2026-04-01",
    "2025-04-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-09-01",
    "2023-07-01",
    "2023-03-01",
    "2022-11-01",
    "2022-08-01",
)
VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
READY = "succeeded"


def image_not_found(image_id: str, location: str) -> ArmError:
    """404 GalleryImageNotFound; the message keeps the observed quirk of literal surrounding double quotes."""
    return ArmError(
        404,
        "GalleryImageNotFound",
        f'"The gallery image {image_id} is not available in {region_key(location)} region. Please contact '
        'image owner to replicate to this region, or change your requested region."',
        "imageReference",
    )


def check_image(sim: State, vmss_props: dict[str, Any], location: str) -> None:
    """A gallery image (version or definition = latest) must have a Completed replica in ``location``."""
    ref = ((vmss_props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get(
        "imageReference"
    ) or {}
    image_id = ref.get("id") if isinstance(ref, dict) else None
    if not image_id or "/galleries/" not in image_id.lower():
        return
    version = sim.store.get(image_id) if "/versions/" in image_id.lower() else None
    if "/versions/" not in image_id.lower():  # an image definition: its latest version
        candidates = [
            v
            for v in sim.store.children(image_id + "/versions")
            if not v["properties"]["publishingProfile"].get("excludeFromLatest")
        ]
        version = max(candidates, key=lambda v: [int(p) for p in re.findall(r"\d+", v["name"])], default=None)
    if version is None or version.get("type") != VERSION_TYPE or not completed_in(version, location):
        raise image_not_found(image_id, location)


def image_security_type(sim: State, vmss_props: dict[str, Any]) -> str:
    """The ``SecurityType`` feature of the gallery image definition the scale set boots from ("" when none)."""
    ref = ((vmss_props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get(
        "imageReference"
    ) or {}
    image_id = str(ref.get("id") or "") if isinstance(ref, dict) else ""
    if "/galleries/" not in image_id.lower():
        return ""
    definition = sim.store.get(re.split(r"/versions/", image_id, flags=re.IGNORECASE)[0])
    features = ((definition or {}).get("properties") or {}).get("features") or []
    return next(
        (str(f.get("value") or "") for f in features if str(f.get("name", "")).lower() == "securitytype"), ""
    )


def check_security_type(sim: State, vmss_props: dict[str, Any]) -> None:
    """The image definition's security type must match the scale set's ``securityProfile.securityType``
    (Microsoft Learn "Trusted launch for Azure virtual machines"). A ``TrustedLaunch`` or ``ConfidentialVM``
    definition boots only that type: 400 ``BadRequest`` "The provided gallery image only supports creation of VMs
    and VM Scale Sets with 'TrustedLaunch' security type." (Compute's reply as public reports show it, e.g.
    hashicorp/terraform-provider-azurerm#23148; for ConfidentialVM the same text with that type is the
    simulator's). ``TrustedLaunchSupported`` takes Standard (no profile) or TrustedLaunch (Azure/azure-cli#26632);
    a ConfidentialVM scale set on it is refused in the simulator's words."""
    required = image_security_type(sim, vmss_props).lower()
    vmp = vmss_props.get("virtualMachineProfile") or {}
    requested = str((vmp.get("securityProfile") or {}).get("securityType") or "Standard")
    if required in ("trustedlaunch", "confidentialvm") and requested.lower() != required:
        wanted = "TrustedLaunch" if required == "trustedlaunch" else "ConfidentialVM"
        raise ArmError(
            400,
            "BadRequest",
            "The provided gallery image only supports creation of VMs and VM Scale Sets with "
            f"'{wanted}' security type.",
        )
    if required == "trustedlaunchsupported" and requested.lower() == "confidentialvm":
        raise ArmError(
            400,
            "BadRequest",
            "The provided gallery image does not support creation of VMs and VM Scale Sets with "
            "'ConfidentialVM' security type.",
        )


def has_system_identity(identity: dict[str, Any] | None) -> bool:
    """``type`` is ``SystemAssigned`` or ``SystemAssigned, UserAssigned`` (the spec's ResourceIdentityType)."""
    kinds = str((identity or {}).get("type") or "").replace(" ", "").lower().split(",")
    return "systemassigned" in kinds


def _identity(sim: State, identity: Any, before: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The stored identity; a system-assigned one gets ``principalId``/``tenantId`` (kept across updates)."""
    if not isinstance(identity, dict):
        return None
    out: dict[str, Any] = {"type": identity.get("type", "None")}
    if has_system_identity(out):
        kept = before if has_system_identity(before) else {}
        out["principalId"] = (kept or {}).get("principalId") or guid(sim.rng)
        out["tenantId"] = sim.tenant_id
    uamis = identity.get("userAssignedIdentities") or {}
    if uamis:
        out["userAssignedIdentities"] = {}
    for uid in uamis:
        doc = sim.store.get(uid)
        if doc is None or doc.get("type") != UAMI_TYPE:
            inner = f'{{"error":{{"code":"NotFound","message":"Resource \'{uid}\' was not found."}}}}'
            raise ArmError(
                400,
                "FailedIdentityOperation",
                f"Identity operation for resource '{uid}' failed with error 'Failed to perform resource "
                f"identity operation. Status: 'NotFound'. Response: '{inner}'.'.",
            )
        out["userAssignedIdentities"][uid] = {
            "principalId": doc["properties"]["principalId"],
            "clientId": doc["properties"]["clientId"],
        }
    return out


def _validate(props: dict[str, Any], sku: dict[str, Any]) -> None:
    mode = props.get("orchestrationMode", "Uniform")
    if mode not in ("Uniform", "Flexible"):
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value '{mode}' of orchestrationMode is not valid.",
            "orchestrationMode",
        )
    if mode == "Flexible":
        if props.get("singlePlacementGroup") is True:
            raise ArmError(
                400,
                "InvalidParameter",
                "singlePlacementGroup must be false for scale sets with Flexible orchestration mode.",
                "singlePlacementGroup",
            )
        if "platformFaultDomainCount" not in props:
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'platformFaultDomainCount' is missing (null).",
                "platformFaultDomainCount",
            )
        net = (props.get("virtualMachineProfile") or {}).get("networkProfile") or {}
        if net.get("networkInterfaceConfigurations") and not net.get("networkApiVersion"):
            raise ArmError(
                400,
                "InvalidParameter",
                "networkApiVersion is required for scale sets with Flexible "
                "orchestration mode that define network interface configurations.",
                "networkProfile.networkApiVersion",
            )
    capacity = sku.get("capacity", 0)
    if not isinstance(capacity, int) or capacity < 0 or capacity > 1000:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value {capacity} of parameter 'sku.capacity' is out of "
            "range. The value must be between 0 and 1000, inclusive.",
            "sku.capacity",
        )


def _image_os(sim: State, props: dict[str, Any]) -> str | None:
    """The OS type of a gallery image reference (definition, or a version's definition), else None."""
    ref = ((props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get("imageReference") or {}
    image_id = str(ref.get("id") or "") if isinstance(ref, dict) else ""
    if "/galleries/" not in image_id.lower():
        return None
    definition = sim.store.get(re.split(r"/versions/", image_id, flags=re.IGNORECASE)[0])
    return str((definition or {}).get("properties", {}).get("osType") or "") or None


def _server_profile(sim: State, props: dict[str, Any], flexible: bool) -> None:
    """What Compute adds to a stored profile: secrets are never returned, the OS configuration follows the
    gallery image's OS type, Uniform NIC configurations get their network defaults, and the profile its
    creation time (read-only input is dropped first)."""
    for field in ("provisioningState", "uniqueId", "timeCreated"):
        props.pop(field, None)
    vmp = props.get("virtualMachineProfile")
    if not isinstance(vmp, dict):
        return
    vmp["timeCreated"] = iso(sim.clock.seconds())
    osp = vmp.get("osProfile")
    if isinstance(osp, dict):
        password = osp.pop("adminPassword", None)
        osp.pop("customData", None)
        os_type = _image_os(sim, props)
        if os_type == "Linux" and "linuxConfiguration" not in osp:
            osp.setdefault("secrets", [])
            osp["linuxConfiguration"] = {"disablePasswordAuthentication": password is None}
        elif os_type == "Windows" and "windowsConfiguration" not in osp:
            osp.setdefault("secrets", [])
            osp["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
    if flexible:  # Flexible NICs go through the Network API as sent (networkApiVersion)
        return
    for nic in (vmp.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []:
        nic_props = nic.setdefault("properties", {})
        nic_props.setdefault("dnsSettings", {"dnsServers": []})
        nic_props.setdefault("enableAcceleratedNetworking", False)
        for ipc in nic_props.get("ipConfigurations") or []:
            ipc.setdefault("properties", {}).setdefault("privateIPAddressVersion", "IPv4")


def _bump_etag(doc: dict[str, Any]) -> None:
    """Compute's scale-set etag: a quoted counter, one more on every write."""
    doc["etag"] = f'"{int(str(doc.get("etag") or "0").strip(chr(34)) or 0) + 1}"'


def _put(sim: State, req: Request) -> Response:
    body = body_dict(req)
    existing = sim.store.get(req.path)
    if existing is not None:
        return _change(sim, req, existing, body, status=200)[0]
    doc = make_scale_set(sim, req.path, body)
    op = lro.begin(sim, req, duration=0.0, location=doc["location"])
    op["end"] = max(instances.create(sim, doc, doc["sku"]["capacity"], bool(op["error"])), op["start"] + 30.0)
    doc["_sim"].update(readyAt=op["end"], failed=bool(op["error"]), readyState=READY)
    return Response(201, public(doc), lro.headers(sim, op))


def _check_size(vid: str, size: str, location: str) -> None:
    """A size the catalogue (``skus``) restricts in ``location``: 409 ``SkuNotAvailable`` with Compute's text
    (Microsoft Learn "Resolve errors for SKU not available"; the 409 and the scale set wording as public replies
    show them). Sizes the catalogue does not list are accepted (it is small, not Azure's)."""
    if size and skus.restricted(size, location):
        sub = vid.split("/")[2]
        raise ArmError(
            409,
            "SkuNotAvailable",
            f"The requested size for resource '{vid}' is currently not available in location '{location}' "
            f"zones '' for subscription '{sub}'. Please try another size or deploy to a different location or "
            "zones. See https://aka.ms/azureskunotavailable for details.",
        )


PREMIUM_DISKS = ("premium_lrs", "premium_zrs")


def _check_premium_io(props: dict[str, Any], size: str) -> None:
    """A Premium SSD disk on a size without the ``PremiumIO`` capability: 400 ``InvalidParameter`` with Compute's
    text (Microsoft Learn "Azure managed disk types": Premium SSDs need a size that supports premium storage; the
    code and wording as public replies show them, e.g. MicrosoftLearning/20533-Implementing...#345). Sizes the
    catalogue does not list are accepted."""
    storage = (props.get("virtualMachineProfile") or {}).get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    for disk in disks:
        kind = str(((disk or {}).get("managedDisk") or {}).get("storageAccountType") or "")
        if kind.lower() in PREMIUM_DISKS and skus.premium_io(size) is False:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Requested operation cannot be performed because storage account type '{kind}' is not "
                f"supported for VM size '{size}'.",
            )


def _check_subnets(sim: State, vid: str, props: dict[str, Any], location: str) -> None:
    """A NIC configuration's subnet must be in the scale set's region: 400 ``InvalidResourceReference`` with
    Network's text (public replies; "resources in a virtual network must be in the same region"). Checked only
    for a virtual network the simulator holds (examples name subnets the seed does not have)."""
    net = (props.get("virtualMachineProfile") or {}).get("networkProfile") or {}
    for nic in net.get("networkInterfaceConfigurations") or []:
        for ip in (nic.get("properties") or {}).get("ipConfigurations") or []:
            subnet = str(((ip.get("properties") or {}).get("subnet") or {}).get("id") or "")
            vnet = sim.store.get(re.split(r"/subnets/", subnet, flags=re.IGNORECASE)[0]) if subnet else None
            if vnet is not None and region_key(str(vnet.get("location", ""))) != location:
                raise ArmError(
                    400,
                    "InvalidResourceReference",
                    f"Resource {subnet} referenced by resource {vid} was not found. Please make sure that the "
                    "referenced resource exists, and that both resources are in the same region.",
                )


def make_scale_set(sim: State, vid: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new scale set from a PUT body, checked as Compute checks it, stored ``Creating`` with no instances."""
    location = check_location(body.get("location"), VMSS_TYPE)
    props = copy.deepcopy(dict(body.get("properties") or {}))
    sku = dict(body.get("sku") or {})
    _validate(props, sku)
    _check_size(vid, str(sku.get("name") or ""), location)
    _check_premium_io(props, str(sku.get("name") or ""))
    _check_subnets(sim, vid, props, location)
    identity = _identity(sim, body.get("identity"))
    check_image(sim, props, location)
    check_security_type(sim, props)
    flexible = props.get("orchestrationMode") == "Flexible"
    _server_profile(sim, props, flexible)
    if not flexible:
        props.setdefault("singlePlacementGroup", True)
    props.update(uniqueId=guid(sim.rng), timeCreated=iso(sim.clock.seconds()), provisioningState="Creating")
    sku.setdefault("capacity", 0)
    sku.setdefault("tier", "Standard")
    doc: dict[str, Any] = {
        "id": vid,
        "name": vid.rsplit("/", 1)[-1],
        "type": VMSS_TYPE,
        "location": location,
        "tags": tags_of(body) or {},
        "sku": sku,
        "properties": props,
        "_sim": {},
    }
    for field in ("zones", "plan", "extendedLocation"):
        if body.get(field):
            doc[field] = copy.deepcopy(body[field])
    if identity:
        doc["identity"] = identity
    _bump_etag(doc)
    return sim.store.put(doc)


def _change(
    sim: State, req: Request, doc: dict[str, Any], body: dict[str, Any], status: int, zone: str | None = None
) -> tuple[Response, dict[str, Any]]:
    props = {
        k: v
        for k, v in (body.get("properties") or {}).items()
        if k not in ("provisioningState", "uniqueId", "timeCreated")
    }
    sku = body.get("sku") or {}
    _validate({**doc["properties"], **props}, {**doc["sku"], **sku})
    if "name" in sku or "virtualMachineProfile" in props:
        after = copy.deepcopy(doc["properties"])
        merge(after, copy.deepcopy(props))
        _check_premium_io(after, str(sku.get("name") or doc["sku"].get("name") or ""))
    identity = _identity(sim, body.get("identity"), doc.get("identity")) if "identity" in body else None
    new_cap = sku.get("capacity", doc["sku"].get("capacity", 0))
    old_cap = len([v for v in instances.of_scale_set(sim, doc) if "deleteAt" not in v["_sim"]])
    merged = {**doc["properties"], **props}
    error = None
    if new_cap > old_cap:
        try:
            check_image(sim, merged, doc["location"])
        except ArmError as exc:
            error = {"code": exc.code, "message": exc.message}
    vmp = props.get("virtualMachineProfile")
    if isinstance(vmp, dict) and isinstance(vmp.get("osProfile"), dict):
        vmp["osProfile"] = {
            k: v for k, v in vmp["osProfile"].items() if k not in ("adminPassword", "customData")
        }
    merge(doc["properties"], props)
    merge(doc["sku"], sku)
    if identity:
        doc["identity"] = identity
    if tags_of(body) is not None:
        doc["tags"] = tags_of(body)
    _bump_etag(doc)
    op = lro.begin(sim, req, duration=0.0, location=doc["location"])
    op["error"] = op["error"] or error
    end = op["start"] + sim.rng.uniform(30.0, 60.0)
    if new_cap > old_cap:
        end = max(end, instances.create(sim, doc, new_cap - old_cap, bool(op["error"]), zone=zone))
    elif new_cap < old_cap:
        end = op["start"] + sim.rng.uniform(60.0, 120.0)
        instances.remove(sim, doc, old_cap - new_cap, end)
    op["end"] = end
    doc["properties"]["provisioningState"] = "Updating"
    doc["_sim"].update(readyAt=end, failed=bool(op["error"]), readyState=READY)
    return Response(status, public(doc), lro.headers(sim, op)), op


def _scale_out(sim: State, req: Request) -> Response:
    """POST ``.../scaleOut`` ``{"capacity": N, "properties": {"zone": "1"}}``: add instances (optionally in one
    of the scale set's zones); 202 + ``Location`` (the example's headers), the result is empty."""
    doc = get_or_404(sim, req, VMSS_TYPE, req.path.rsplit("/", 1)[0])
    body = body_dict(req)
    capacity = body.get("capacity")
    current = int(doc["sku"].get("capacity", 0))
    if not isinstance(capacity, int) or capacity < current:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value {capacity} of parameter 'capacity' must be at least "
            f"the current capacity {current} for a scale-out.",
            "capacity",
        )
    zone = (body.get("properties") or {}).get("zone")
    if zone is not None and str(zone) not in [str(z) for z in doc.get("zones") or []]:
        raise ArmError(
            400,
            "InvalidParameter",
            f"Zone '{zone}' is not one of the scale set's zones {doc.get('zones') or []}.",
            "properties.zone",
        )
    _, op = _change(sim, req, doc, {"sku": {"capacity": capacity}}, 202, zone=str(zone) if zone else None)
    return Response(202, None, lro.headers(sim, op, async_op=False, location=True))


def _patch(sim: State, req: Request) -> Response:
    return _change(sim, req, get_or_404(sim, req, VMSS_TYPE), body_dict(req), status=200)[0]


def _delete(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        return Response(204)
    op = lro.begin(sim, req, duration=sim.rng.uniform(120.0, 300.0), location=doc["location"])
    instances.remove(sim, doc, len(instances.of_scale_set(sim, doc)), op["end"])
    lro.mark_deleting(doc, op)
    return Response(202, None, lro.headers(sim, op, location=True))


def _get(sim: State, req: Request) -> Response:
    return Response(200, public(get_or_404(sim, req, VMSS_TYPE)))


def _list(sim: State, req: Request) -> Response:
    return page(sim, req, sim.store.of_type(VMSS_TYPE, req.path.lower().split("/providers/")[0]))


def _vmss_vms(sim: State, req: Request) -> Response:
    doc = get_or_404(sim, req, VMSS_TYPE, req.path.rsplit("/", 1)[0])
    return page(sim, req, instances.of_scale_set(sim, doc))


def _vms(sim: State, req: Request) -> Response:
    found = sim.store.of_type(instances.VM_TYPE, req.path.lower().split("/providers/")[0])
    m = re.search(r"virtualMachineScaleSet/id'?\s+eq\s+'([^']+)'", req.q("$filter") or "", re.IGNORECASE)
    if m:
        found = [v for v in found if v.get("_sim", {}).get("scaleSet") == key(m.group(1))]
    return page(sim, req, found)


def _vm(sim: State, req: Request) -> Response:
    kind = instances.UNIFORM_VM_TYPE if "/virtualmachinescalesets/" in req.path.lower() else instances.VM_TYPE
    doc = get_or_404(sim, req, kind)
    out = public(doc) or {}
    if "instanceview" in (req.q("$expand") or "").lower():
        out["properties"]["instanceView"] = instances.instance_view(sim, doc)
    return Response(200, out)


def _vm_instance_view(sim: State, req: Request) -> Response:
    path = req.path.rsplit("/", 1)[0]
    kind = instances.UNIFORM_VM_TYPE if "/virtualmachinescalesets/" in path.lower() else instances.VM_TYPE
    return Response(200, instances.instance_view(sim, get_or_404(sim, req, kind, path)))


def register(router: Router) -> None:
    router.on_tick(instances.advance)
    base = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Compute"
    router.add(
        "GET", "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachineScaleSets", _list, VERSIONS
    )
    router.add("GET", base + "/virtualMachineScaleSets", _list, VERSIONS)
    one = base + "/virtualMachineScaleSets/{name}"
    router.add("GET", one, _get, VERSIONS)
    router.add("PUT", one, _put, VERSIONS)
    router.add("PATCH", one, _patch, VERSIONS)
    router.add("DELETE", one, _delete, VERSIONS)
    router.add("POST", one + "/scaleOut", _scale_out, VERSIONS)
    router.add("GET", one + "/virtualMachines", _vmss_vms, VERSIONS)
    router.add("GET", one + "/virtualMachines/{instance}", _vm, VERSIONS)
    router.add("GET", base + "/virtualMachines", _vms, VERSIONS)
    router.add("GET", base + "/virtualMachines/{vm}", _vm, VERSIONS)
    router.add("GET", one + "/virtualMachines/{instance}/instanceView", _vm_instance_view, VERSIONS)
    router.add("GET", base + "/virtualMachines/{vm}/instanceView", _vm_instance_view, VERSIONS)
