"""The DR scale set to create, before it exists: ``ScaleSetSpec``, its create body and the preflight checks.

The body is built from a gallery image version's replica in the spec's location, with the site's user-assigned
identity (and, for an Entra join, the system-assigned identity AADLoginForWindows needs), and extensions that
join Entra ID (or an AD domain) and then register with the site's host pool through the DR identity chain: the
Custom Script extension ``AVD-Register`` runs ``deploy/scripts/register-session-host.ps1``, which gets a token of
the user-assigned identity (AVDManage), exchanges it for one of the join app (AVD-Join, federated credential),
retrieves the host pool's registration token with AVD-Join's role and installs the AVD agent. The registration
token the bot fetched is passed as the script's fallback (for when a link of the chain is missing), so instances
added by the portal or autoscale register through the chain after it expired. ``scale_set_body`` holds secrets
(registration token, passwords): send it, never keep or log it. The preflight refuses what Azure would refuse (no Completed replica, missing subnet, VM size not offered).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AzureError, AzureNotFound
from azureops import gallery
from azureops.clients import NETWORK_API_VERSION, AzureClients
from azureops.errors import translated

VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
POOL_TYPE = "Microsoft.DesktopVirtualization/hostPools"
REGISTER_EXTENSION = "AVD-Register"
REGISTER_SCRIPT = "register-session-host.ps1"
# Where the scale set's instances download deploy/scripts/register-session-host.ps1 from: publish the file there
# (or pass ``script_uri``); the Custom Script extension needs a URI the instance can read.
SCRIPT_URI = f"https://raw.githubusercontent.com/avd-ops/avd-ops/main/deploy/scripts/{REGISTER_SCRIPT}"
# The chain's parameters the product reads back (Azure never returns protected settings): tags on the scale set.
TAG_POOL_ID = "avd-ops-host-pool-id"
TAG_JOIN_APP = "avd-ops-join-app-id"


OS_DISK_TYPE = "Premium_LRS"  # Premium SSD: the size needs the PremiumIO capability (check_vm_size)


def scale_set_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{VMSS_TYPE}/{name}"


@dataclass(frozen=True)
class ScaleSetSpec:
    """Everything the create step sends, as plain values (no secrets)."""

    subscription: str
    resource_group: str
    name: str
    location: str
    image_id: str  # a gallery image version id
    vm_size: str
    subnet_id: str
    capacity: int
    join_type: str  # entra | domain
    identity_id: str
    host_pool: str
    host_pool_resource_group: str
    domain: str = ""
    domain_user: str = ""
    orchestration: str = "Flexible"
    join_app_id: str = ""  # AVD-Join's application (client) id; without it only the fallback token registers
    script_uri: str = SCRIPT_URI
    security_type: str = ""  # the image definition's SecurityType feature (with_security_type)

    @property
    def id(self) -> str:
        return scale_set_id(self.subscription, self.resource_group, self.name)

    @property
    def host_pool_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.host_pool_resource_group}/providers/"
            f"{POOL_TYPE}/{self.host_pool}"
        )

    @property
    def computer_name_prefix(self) -> str:
        return (re.sub(r"[^a-z0-9]", "", self.name.lower()) or "avd")[:9]


def register_command(identity_id: str, join_app_id: str, host_pool_id: str, token: str) -> str:
    """The Custom Script extension's ``commandToExecute`` (protected settings: it carries the fallback token)."""
    args = [f"-IdentityId '{identity_id}'", f"-HostPoolId '{host_pool_id}'", f"-RegistrationToken '{token}'"]
    if join_app_id:
        args.insert(1, f"-AppId '{join_app_id}'")
    return f"powershell -ExecutionPolicy Unrestricted -File {REGISTER_SCRIPT} " + " ".join(args)


def register_extension(
    identity_id: str, join_app_id: str, host_pool_id: str, token: str, after: str, script_uri: str
) -> dict[str, Any]:
    """``AVD-Register``: the Custom Script extension that runs the registration script after ``after``."""
    return {
        "name": REGISTER_EXTENSION,
        "properties": {
            "publisher": "Microsoft.Compute",
            "type": "CustomScriptExtension",
            "typeHandlerVersion": "1.10",
            "autoUpgradeMinorVersion": True,
            "provisionAfterExtensions": [after],
            "settings": {"fileUris": [script_uri]},
            "protectedSettings": {
                "commandToExecute": register_command(identity_id, join_app_id, host_pool_id, token)
            },
        },
    }


def extensions(spec: ScaleSetSpec, token: str, domain_password: str | None) -> list[dict[str, Any]]:
    """The join extension, then ``AVD-Register`` (the registration script) chained after it in
    ``provisionAfterExtensions``, so it runs only once the join succeeded."""
    entra = spec.join_type == "entra"
    if entra:
        join: dict[str, Any] = {
            "name": "AADLoginForWindows",
            "properties": {
                "publisher": "Microsoft.Azure.ActiveDirectory",
                "type": "AADLoginForWindows",
                "typeHandlerVersion": "2.0",
                "autoUpgradeMinorVersion": True,
                "settings": {"mdmId": ""},
            },
        }
    else:
        join = {
            "name": "DomainJoin",
            "properties": {
                "publisher": "Microsoft.Compute",
                "type": "JsonADDomainExtension",
                "typeHandlerVersion": "1.3",
                "autoUpgradeMinorVersion": True,
                "settings": {
                    "Name": spec.domain,
                    "User": spec.domain_user,
                    "Restart": "true",
                    "Options": "3",
                },
                "protectedSettings": {"Password": domain_password or ""},
            },
        }
    register = register_extension(
        spec.identity_id, spec.join_app_id, spec.host_pool_id, token, join["name"], spec.script_uri
    )
    return [join, register]


TRUSTED_LAUNCH_IMAGES = ("trustedlaunch", "trustedlaunchsupported", "trustedlaunchandconfidentialvmsupported")


def security_profile(spec: ScaleSetSpec) -> dict[str, Any] | None:
    """The scale set's ``securityProfile`` for its image definition's security type: Trusted Launch (Secure Boot
    and vTPM on) for an image that requires or supports it, nothing for a Standard (Gen1 or untyped) image."""
    if spec.security_type.lower() in TRUSTED_LAUNCH_IMAGES:
        return {
            "securityType": "TrustedLaunch",
            "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
        }
    return None


def with_security_type(clients: AzureClients, spec: ScaleSetSpec) -> ScaleSetSpec:
    """``spec`` with its image definition's security type; a Confidential VM image is refused (avd-ops builds no
    Confidential VM scale sets: they need DC/EC sizes and disk encryption settings)."""
    ref = gallery.parse_image_id(spec.image_id)
    if ref is None:
        return spec
    kind = gallery.security_type(clients, ref)
    if kind.lower() in ("confidentialvm", "confidentialvmsupported"):
        raise AzureError(
            f"image definition {ref.image} is a {kind} image: avd-ops builds Trusted Launch or Standard "
            "scale sets only",
            code="BadRequest",
            resource_id=ref.image_id,
            next_step="choose an image definition with security type TrustedLaunch or TrustedLaunchSupported",
        )
    return dataclasses.replace(spec, security_type=kind)


def identity(spec: ScaleSetSpec) -> dict[str, Any]:
    """The site's user-assigned identity, plus the system-assigned one an Entra join needs: Microsoft's Entra VM
    sign-in page requires the system-assigned managed identity before AADLoginForWindows is installed."""
    kind = "SystemAssigned, UserAssigned" if spec.join_type == "entra" else "UserAssigned"
    return {"type": kind, "userAssignedIdentities": {spec.identity_id: {}}}


def scale_set_body(
    spec: ScaleSetSpec, *, token: str, admin_password: str, domain_password: str | None
) -> dict[str, Any]:
    """The PUT body (REST camelCase). Holds secrets: send it, never keep or log it."""
    props: dict[str, Any] = {
        "orchestrationMode": spec.orchestration,
        "virtualMachineProfile": {
            "storageProfile": {
                "imageReference": {"id": spec.image_id},
                "osDisk": {
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": OS_DISK_TYPE},
                },
            },
            "osProfile": {
                "computerNamePrefix": spec.computer_name_prefix,
                "adminUsername": "avdadmin",
                "adminPassword": admin_password,
            },
            "networkProfile": {
                "networkApiVersion": "2020-11-01",
                "networkInterfaceConfigurations": [
                    {
                        "name": f"{spec.name}-nic",
                        "properties": {
                            "primary": True,
                            "ipConfigurations": [
                                {"name": "ipconfig1", "properties": {"subnet": {"id": spec.subnet_id}}}
                            ],
                        },
                    }
                ],
            },
            "licenseType": "Windows_Client",
            "extensionProfile": {"extensions": extensions(spec, token, domain_password)},
        },
    }
    secure = security_profile(spec)
    if secure is not None:
        props["virtualMachineProfile"]["securityProfile"] = secure
    if spec.orchestration == "Flexible":
        props.update(platformFaultDomainCount=1, singlePlacementGroup=False)
    else:
        props["upgradePolicy"] = {"mode": "Manual"}
    return {
        "location": spec.location,
        "sku": {"name": spec.vm_size, "tier": "Standard", "capacity": spec.capacity},
        "identity": identity(spec),
        "tags": {
            "avd-ops-role": "dr-capacity",
            "avd-ops-host-pool": spec.host_pool,
            TAG_POOL_ID: spec.host_pool_id,
            **({TAG_JOIN_APP: spec.join_app_id} if spec.join_app_id else {}),
        },
        "properties": props,
    }


def admin_password() -> str:
    """A throwaway local administrator password nobody needs (sign-in is through Entra ID or the domain)."""
    return f"Av1!{secrets.token_urlsafe(24)}"


# ---- preflight ----------------------------------------------------------------------------------


def check_replica(clients: AzureClients, image_id: str, location: str, retry_hint: str) -> None:
    """The image version must have a Completed replica in ``location`` (else Azure's own refusal, explained)."""
    ref = gallery.parse_image_id(image_id)
    if ref is None or not ref.version:
        raise AzureNotFound(
            f"{image_id} is not a gallery image version id",
            resource_id=image_id,
            next_step="choose the gallery, image definition and version again",
        )
    replica = gallery.read_replicas(clients, ref).region(location)
    if replica is not None and replica.state == "Completed":
        return
    region = gallery.region_key(location)
    if replica is not None and replica.state in ("Replicating", "Unknown"):
        step = (
            f"replication of {ref.label} to {region} is still in progress ({replica.progress}%): wait until "
            f"`/avd replicas {ref.label}` shows it Completed, then {retry_hint}"
        )
    else:
        step = (
            f"add the replica with `/avd replicas add {region}` (about 5-15 min), wait until it is Completed, "
            f"then {retry_hint}"
        )
    raise AzureNotFound(
        f"The gallery image {ref.id} is not available in {region} region. Please contact image "
        "owner to replicate to this region, or change your requested region.",
        code="GalleryImageNotFound",
        resource_id=ref.id,
        next_step=step,
    )


def check_subnet(clients: AzureClients, subscription: str, subnet_id: str) -> None:
    with translated(subnet_id, "choose an existing vnet/subnet of the site, or create it first"):
        clients.resources(subscription).resources.get_by_id(subnet_id, api_version=NETWORK_API_VERSION)


def _capability(sku: dict[str, Any], name: str) -> str:
    return next((str(c.get("value", "")) for c in sku.get("capabilities") or () if c.get("name") == name), "")


def _check_premium_io(sku: dict[str, Any], vm_size: str, region: str, skus: list[dict[str, Any]]) -> None:
    """The OS disk is Premium SSD: the size must report ``PremiumIO`` True (Microsoft Learn "Azure managed disk
    types"), else Compute refuses the PUT with 400 ``InvalidParameter``. Names same-sized sizes that do."""
    if _capability(sku, "PremiumIO").lower() != "false":
        return
    cpus = _capability(sku, "vCPUs")
    fits = sorted(
        str(s.get("name"))
        for s in skus
        if s.get("resourceType") == "virtualMachines"
        and _capability(s, "PremiumIO").lower() == "true"
        and _capability(s, "vCPUs") == cpus
        and not any(r.get("type") == "Location" for r in s.get("restrictions") or ())
    )
    hint = f" (for example {', '.join(fits[:3])})" if fits else " (an 's' size, for example Standard_D4s_v5)"
    raise AzureError(
        f"VM size {vm_size} cannot take the scale set's {OS_DISK_TYPE} (Premium SSD) OS disk in {region}: "
        "it lacks the PremiumIO capability",
        code="InvalidParameter",
        next_step=f"choose a size that supports Premium storage{hint}",
    )


def check_vm_size(clients: AzureClients, subscription: str, vm_size: str, location: str) -> str:
    """Refuse a size not offered (or restricted) in ``location``; returns a note when it could not be checked."""
    try:
        with translated(f"/subscriptions/{subscription}/providers/Microsoft.Compute/skus"):
            skus = [
                s.as_dict()
                for s in clients.compute(subscription).resource_skus.list(filter=f"location eq '{location}'")
            ]
    except AzureError as err:
        if clients.simulated and err.code == "InvalidResourceType":
            return "VM size not checked (this simulator has no resourceSkus provider)"
        raise
    region = gallery.region_key(location)
    for sku in skus:
        if (
            sku.get("resourceType") != "virtualMachines"
            or str(sku.get("name", "")).lower() != vm_size.lower()
        ):
            continue
        if region not in {gallery.region_key(str(x)) for x in sku.get("locations") or ()}:
            continue
        blocked = [
            r
            for r in sku.get("restrictions") or ()
            if r.get("type") == "Location"
            and region in {gallery.region_key(str(v)) for v in r.get("values") or ()}
        ]
        if not blocked:
            _check_premium_io(sku, vm_size, region, skus)
            return f"{vm_size} is offered in {region}"
        raise AzureNotFound(
            f"VM size {vm_size} is restricted in {region} for this subscription "
            f"({blocked[0].get('reasonCode', 'NotAvailableForSubscription')})",
            code="SkuNotAvailable",
            next_step="choose another VM size or request quota/access",
        )
    raise AzureNotFound(
        f"VM size {vm_size} is not offered in {region}",
        code="SkuNotAvailable",
        next_step="choose a VM size offered in the region (for example Standard_D4s_v5)",
    )
