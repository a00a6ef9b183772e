"""Virtual machine scale sets for a site's DR capacity, as read from Azure: ``ScaleSetState``, its instances
(``InstanceInfo``), its extensions with fresh protected settings, and the failed extension of an instance.

``refreshed_extensions`` puts the registration token (and a domain password) only into the extensions'
``protectedSettings``, for the caller to send and never keep. The steps that create, scale and wait for a
scale set live in ``azureops.scaleset_steps``; the spec, the create body and the preflight in
``azureops.scaleset_spec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AzureError, AzureNotFound
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.scaleset_spec import (
    REGISTER_SCRIPT,
    TAG_JOIN_APP,
    TAG_POOL_ID,
    register_command,
    scale_set_id,
)


@dataclass(frozen=True)
class ScaleSetState:
    id: str
    name: str
    location: str
    capacity: int
    provisioning_state: str  # lower-cased: Azure's own example says "succeeded"
    vm_size: str
    flexible: bool
    image_id: str
    subnet_id: str
    host_pool: str  # from the DSC extension (or the AVD-HostPool tag)
    join_type: str  # entra | domain | ""
    raw_extensions: tuple[dict[str, Any], ...]
    identity_type: str = ""
    user_identities: tuple[str, ...] = ()  # ARM ids of the user-assigned identities
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def ready(self) -> bool:
        return self.provisioning_state == "succeeded"

    @property
    def registers_with_token(self) -> bool:
        """The model carries a registration token (the DSC extension's, or the chain script's fallback)."""
        return any(_ext_type(e) == "dsc" or _is_register(e) for e in self.raw_extensions)

    @property
    def registers_through_chain(self) -> bool:
        return any(_is_register(e) for e in self.raw_extensions)

    def tag(self, name: str) -> str:
        return next((v for k, v in self.tags if k.lower() == name.lower()), "")


def _is_register(ext: dict[str, Any]) -> bool:
    """The Custom Script extension that runs the registration script (``scaleset_spec.REGISTER_SCRIPT``)."""
    if _ext_type(ext) != "customscriptextension":
        return False
    uris = ((ext.get("properties") or {}).get("settings") or {}).get("fileUris") or []
    return any(str(u).split("?")[0].rsplit("/", 1)[-1].lower() == REGISTER_SCRIPT for u in uris)


@dataclass(frozen=True)
class InstanceInfo:
    id: str  # lower-cased VM id
    name: str
    provisioning_state: str
    created: str


def _ext_type(ext: dict[str, Any]) -> str:
    return str((ext.get("properties") or {}).get("type", "")).lower()


def get_scale_set(
    clients: AzureClients, subscription: str, resource_group: str, name: str
) -> ScaleSetState | None:
    """The scale set's state, or ``None`` when it does not exist."""
    try:
        with translated(scale_set_id(subscription, resource_group, name)):
            body = (
                clients.compute(subscription).virtual_machine_scale_sets.get(resource_group, name).as_dict()
            )
    except AzureNotFound:
        return None
    props = body.get("properties") or {}
    vmp = props.get("virtualMachineProfile") or {}
    exts = tuple(dict(e) for e in (vmp.get("extensionProfile") or {}).get("extensions") or ())
    pool = next(
        (
            str(
                ((e.get("properties") or {}).get("settings") or {})
                .get("properties", {})
                .get("hostPoolName", "")
            )
            for e in exts
            if _ext_type(e) == "dsc"
        ),
        "",
    )
    tags = body.get("tags") or {}
    tag = next((v for k, v in tags.items() if k.lower() in ("avd-hostpool", TAG_POOL_ID)), "")
    types = {_ext_type(e) for e in exts}
    nics = (vmp.get("networkProfile") or {}).get("networkInterfaceConfigurations") or [{}]
    ipc = ((nics[0].get("properties") or {}).get("ipConfigurations") or [{}])[0]
    return ScaleSetState(
        id=str(body.get("id", "")),
        name=str(body.get("name", name)),
        location=str(body.get("location", "")),
        capacity=int((body.get("sku") or {}).get("capacity") or 0),
        provisioning_state=str(props.get("provisioningState") or "").lower(),
        vm_size=str((body.get("sku") or {}).get("name") or ""),
        flexible=props.get("orchestrationMode") == "Flexible",
        image_id=str(((vmp.get("storageProfile") or {}).get("imageReference") or {}).get("id") or ""),
        subnet_id=str(((ipc.get("properties") or {}).get("subnet") or {}).get("id") or ""),
        host_pool=pool or str(tag).rsplit("/", 1)[-1],
        join_type="domain"
        if "jsonaddomainextension" in types
        else "entra"
        if types & {"aadloginforwindows", "dsc"}
        else "",
        raw_extensions=exts,
        identity_type=str((body.get("identity") or {}).get("type") or ""),
        user_identities=tuple(
            str(k)
            for k in (
                (body.get("identity") or {}).get("userAssignedIdentities")
                or (body.get("identity") or {}).get("user_assigned_identities")
                or {}
            )
        ),
        tags=tuple((str(k), str(v)) for k, v in tags.items()),
    )


def list_instances(
    clients: AzureClients, subscription: str, resource_group: str, state: ScaleSetState
) -> list[InstanceInfo]:
    """The scale set's VMs, newest first (Azure's default scale-in policy removes the newest)."""
    compute = clients.compute(subscription)
    with translated(state.id):
        if state.flexible:
            found = [
                v.as_dict()
                for v in compute.virtual_machines.list(
                    resource_group, filter=f"'virtualMachineScaleSet/id' eq '{state.id}'"
                )
            ]
        else:
            found = [
                v.as_dict() for v in compute.virtual_machine_scale_set_vms.list(resource_group, state.name)
            ]
    out = [
        InstanceInfo(
            id=str(v.get("id", "")).lower(),
            name=str(v.get("name", "")),
            provisioning_state=str((v.get("properties") or {}).get("provisioningState") or ""),
            created=str((v.get("properties") or {}).get("timeCreated") or ""),
        )
        for v in found
    ]
    return sorted(out, key=lambda i: (i.created, i.name), reverse=True)


def refreshed_extensions(
    state: ScaleSetState, token: str, domain_password: str | None
) -> list[dict[str, Any]]:
    """The scale set's extensions with fresh protected settings (Azure never returns them on GET)."""
    out = []
    for ext in state.raw_extensions:
        props = dict(ext.get("properties") or {})
        if _ext_type(ext) == "dsc":
            props["protectedSettings"] = {"properties": {"registrationInfoToken": token}}
        elif _is_register(ext):
            identity = next(iter(state.user_identities), "")
            command = register_command(identity, state.tag(TAG_JOIN_APP), state.tag(TAG_POOL_ID), token)
            props["protectedSettings"] = {"commandToExecute": command}
        elif _ext_type(ext) == "jsonaddomainextension":
            props["protectedSettings"] = {"Password": domain_password or ""}
        out.append({**ext, "properties": props})
    return out


EXTENSION_FAILED = "VMExtensionProvisioningError"
EXTENSION_NEXT_STEPS: dict[str, str] = {
    "aadloginforwindows": "enable the scale set's system-assigned managed identity (AADLoginForWindows needs it), "
    "delete the failed instances, then Retry",
}
_EXTENSION_NEXT = (
    "fix what the extension reports (for the registration script: the missing link of the DR identity chain, "
    "which /avd doctor checks), delete or reimage the failed instances, then Retry"
)


def failed_extension(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    name: str,
    *,
    state: ScaleSetState | None = None,
    vms: Sequence[InstanceInfo] | None = None,
) -> AzureError | None:
    """The first Failed instance of scale set ``name`` whose instance view says an extension failed, as an error
    naming the extension and Compute's message (``ProvisioningState/failed/VMExtensionProvisioningError``), for a
    host wait to raise; else ``None``. ``state`` and ``vms``: the scale set and its instances when the caller has
    just read them (else they are read here); only the Failed instances' views are read. A read that fails
    (throttled, a VM gone meanwhile) is no verdict (``None``): the wait goes on and looks again at its next check.

    Only Flexible instances are read (``virtualMachines`` of the resource group); the DR scale sets are Flexible.
    """
    try:
        if state is None:
            state = get_scale_set(clients, subscription, resource_group, name)
        if state is None or not state.flexible:
            return None
        listed = list_instances(clients, subscription, resource_group, state) if vms is None else vms
        compute = clients.compute(subscription)
        for vm in listed:
            if vm.provisioning_state.lower() != "failed":
                continue
            with translated(vm.id):
                view = compute.virtual_machines.instance_view(resource_group, vm.name)
            wrapper = next(
                (s for s in view.statuses or [] if str(s.code or "").endswith("/" + EXTENSION_FAILED)), None
            )
            if wrapper is not None:
                return _extension_error(state, vm, wrapper, view.extensions or [])
    except AzureError:
        return None
    return None


def _extension_error(
    state: ScaleSetState, vm: InstanceInfo, wrapper: Any, extensions: list[Any]
) -> AzureError:
    """The error naming the failed extension of ``vm`` (its instance view's ``extensions``) and the fix."""
    failed = next(
        (
            e
            for e in extensions
            if any(str(s.code or "").lower() == "provisioningstate/failed" for s in e.statuses or [])
        ),
        None,
    )
    ext = str(failed.name) if failed is not None and failed.name else "an extension"
    kind = str(failed.type or "").rsplit(".", 1)[-1].lower() if failed is not None else ""
    return AzureError(
        f"extension {ext} failed on instance {vm.name} of {state.name}, so it will never register as a "
        f"session host: {wrapper.message or wrapper.display_status or 'no message'}",
        code=EXTENSION_FAILED,
        resource_id=vm.id,
        next_step=EXTENSION_NEXT_STEPS.get(kind, EXTENSION_NEXT_STEPS.get(ext.lower(), _EXTENSION_NEXT)),
    )
