"""Virtual machine scale sets for a site's DR capacity: reads, and the create, capacity and host-wait steps.

The registration token is fetched by the step that sends it (``token()``), goes only into the extension's
``protectedSettings`` and is never returned, logged or saved: steps that send it do not save a continuation
token (the response could echo the model), they resume by reading the scale set instead. The spec, the create
body and the preflight live in ``azureops.scaleset_spec``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from azure.mgmt.compute.models import VirtualMachineScaleSet, VirtualMachineScaleSetUpdate

from avdcore.errors import AzureError, AzureNotFound
from azureops import gallery
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.hostpools import SessionHostInfo, hosts_of, session_hosts, wait_for_hosts
from azureops.plan import Step, StepContext, follow
from azureops.scaleset_spec import (
    REGISTER_SCRIPT,
    TAG_JOIN_APP,
    TAG_POOL_ID,
    ScaleSetSpec,
    admin_password,
    register_command,
    scale_set_body,
    scale_set_id,
)

Secret = Callable[[], str]


# ---- reads --------------------------------------------------------------------------------------


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


# ---- steps --------------------------------------------------------------------------------------


def _wait_ready(
    clients: AzureClients,
    spec_sub: str,
    rg: str,
    name: str,
    ctx: StepContext,
    interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> ScaleSetState:
    """Follow a scale set already being changed (by us before a restart, or by someone else) to its end."""
    deadline = time.monotonic() + timeout
    while True:
        state = get_scale_set(clients, spec_sub, rg, name)
        if state is None:
            raise AzureNotFound(f"scale set {name} disappeared", resource_id=scale_set_id(spec_sub, rg, name))
        if state.ready or state.provisioning_state == "failed":
            if state.provisioning_state == "failed":
                raise AzureError(
                    f"scale set {name} is in state Failed",
                    resource_id=state.id,
                    next_step="read the scale set's activity log in the portal, fix it, then retry",
                )
            return state
        ctx.progress(None, f"{name}: {state.provisioning_state}")
        if time.monotonic() >= deadline:
            raise AzureError(
                f"scale set {name} is still {state.provisioning_state}",
                resource_id=state.id,
                next_step="wait for the current operation, then retry the job",
            )
        sleep(interval)


def create_step(
    clients: AzureClients,
    spec: ScaleSetSpec,
    *,
    token: Secret,
    domain_password: Secret,
    interval: float,
    timeout: float,
) -> Step:
    """Create the scale set unless it exists (then wait for it to be provisioned)."""

    def check(ctx: StepContext) -> bool:
        state = get_scale_set(clients, spec.subscription, spec.resource_group, spec.name)
        return state is not None and state.ready

    def apply(ctx: StepContext) -> str:
        existing = get_scale_set(clients, spec.subscription, spec.resource_group, spec.name)
        if existing is not None and existing.provisioning_state == "failed":  # an update re-applies the model
            with translated(spec.id):
                follow(
                    ctx,
                    clients.compute(spec.subscription).virtual_machine_scale_sets.begin_update(
                        spec.resource_group,
                        spec.name,
                        VirtualMachineScaleSetUpdate({"sku": {"capacity": existing.capacity}}),
                    ),
                    tick=min(interval, 0.5),
                )
        elif existing is None:
            body = scale_set_body(
                spec,
                token=token(),
                admin_password=admin_password(),
                domain_password=domain_password() if spec.join_type == "domain" else None,
            )
            try:
                with translated(spec.id):
                    poller = clients.compute(
                        spec.subscription
                    ).virtual_machine_scale_sets.begin_create_or_update(
                        spec.resource_group, spec.name, VirtualMachineScaleSet(body)
                    )
                    follow(ctx, poller, tick=min(interval, 0.5))
            except AzureError as err:
                raise gallery.user_terms(err) from err
        state = _wait_ready(
            clients, spec.subscription, spec.resource_group, spec.name, ctx, interval, timeout
        )
        return f"{state.name}: {state.capacity} x {state.vm_size}, {spec.orchestration}, in {state.location}"

    return Step(
        name="create-scale-set",
        resource_id=spec.id,
        apply=apply,
        check=check,
        estimate_seconds=60,
        description=(
            f"Create scale set {spec.name} ({spec.orchestration}, {spec.capacity} x {spec.vm_size}) in "
            f"{spec.location} from {_image_label(spec.image_id)}, identity "
            f"{spec.identity_id.rsplit('/', 1)[-1]}, subnet {_subnet_label(spec.subnet_id)}, joining "
            f"{'Entra ID' if spec.join_type == 'entra' else 'domain ' + spec.domain} and host pool "
            f"{spec.host_pool} through AVD-Register (new instances fetch their own registration token as the "
            "join app; the registration token fetched when this step runs is the fallback)"
        ),
        intent={
            "location": spec.location,
            "image": spec.image_id.lower(),
            "size": spec.vm_size,
            "capacity": spec.capacity,
            "subnet": spec.subnet_id.lower(),
            "join": spec.join_type,
            "identity": spec.identity_id.lower(),
            "host_pool": spec.host_pool.lower(),
            "orchestration": spec.orchestration,
            "domain": spec.domain,
        },
    )


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


def capacity_step(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    state: ScaleSetState,
    count: int,
    *,
    token: Secret,
    domain_password: Secret,
    interval: float,
    timeout: float,
    description: str,
) -> Step:
    """Set ``sku.capacity``; a scale-out also renews the registration token in the instances' model."""
    name = state.name

    def check(ctx: StepContext) -> bool:
        now = get_scale_set(clients, subscription, resource_group, name)
        return now is not None and now.capacity == count and now.ready

    def apply(ctx: StepContext) -> str:
        now = get_scale_set(clients, subscription, resource_group, name)
        if now is None:
            raise AzureNotFound(f"scale set {name} does not exist", resource_id=state.id)
        if now.capacity != count or now.provisioning_state == "failed":  # an update re-drives a Failed one
            patch: dict[str, Any] = {"sku": {"capacity": count}}
            if count > now.capacity and now.registers_with_token:
                exts = refreshed_extensions(
                    now, token(), domain_password() if now.join_type == "domain" else None
                )
                patch["properties"] = {"virtualMachineProfile": {"extensionProfile": {"extensions": exts}}}
            try:
                with translated(state.id):
                    poller = clients.compute(subscription).virtual_machine_scale_sets.begin_update(
                        resource_group, name, VirtualMachineScaleSetUpdate(patch)
                    )
                    follow(ctx, poller, tick=min(interval, 0.5))
            except AzureError as err:
                raise gallery.user_terms(err) from err
        _wait_ready(clients, subscription, resource_group, name, ctx, interval, timeout)
        return f"capacity {count}"

    return Step(
        name="set-capacity",
        resource_id=state.id,
        apply=apply,
        check=check,
        estimate_seconds=90,
        description=description,
        intent={"capacity": count, "from": state.capacity},
    )


def hosts_step(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    name: str,
    count: int,
    *,
    pool_subscription: str,
    pool_resource_group: str,
    pool: str,
    interval: float,
    timeout: float,
) -> Step:
    """Wait until scale set ``name`` has ``count`` provisioned instances and as many Available session hosts; an
    instance whose extension failed fails the wait at once, naming the extension (``failed_extension``, as the DR
    wait does): it never registers, so waiting out ``timeout`` would only hide why."""
    rid = scale_set_id(subscription, resource_group, name)

    def condition(hosts: list[SessionHostInfo], waiting: bool = False) -> tuple[bool, str, float | None]:
        state = get_scale_set(clients, subscription, resource_group, name)
        vms = list_instances(clients, subscription, resource_group, state) if state is not None else []
        provisioned = [v for v in vms if v.provisioning_state == "Succeeded"]
        available = [h for h in hosts_of(hosts, [v.id for v in vms]) if h.available]
        done = len(vms) == count and len(provisioned) == count and len(available) == count
        if waiting and not done and state is not None:
            failed = failed_extension(clients, subscription, resource_group, name, state=state, vms=vms)
            if failed is not None:
                raise failed
        percent = (
            100.0 * (min(len(provisioned), count) + min(len(available), count)) / (2 * count)
            if count
            else None
        )
        return (
            done,
            (
                f"{len(provisioned)}/{count} instances provisioned, {len(available)}/{count} session hosts "
                f"Available in {pool}" + ("" if len(vms) <= count else f" ({len(vms) - count} leaving)")
            ),
            percent,
        )

    def check(ctx: StepContext) -> bool:
        return condition(session_hosts(clients, pool_subscription, pool_resource_group, pool))[0]

    def apply(ctx: StepContext) -> str:
        return wait_for_hosts(
            clients,
            pool_subscription,
            pool_resource_group,
            pool,
            lambda hosts: condition(hosts, waiting=True),
            ctx,
            interval=interval,
            timeout=timeout,
            what=f"{count} session hosts of {name}",
        )

    return Step(
        name="wait-session-hosts",
        resource_id=rid,
        apply=apply,
        check=check,
        estimate_seconds=420 if count else 120,
        description=f"Wait for {count} instance(s) of {name} provisioned and {count} session host(s) "
        f"Available in {pool}",
        intent={"hosts": count, "pool": pool.lower()},
    )


def _image_label(image_id: str) -> str:
    ref = gallery.parse_image_id(image_id)
    return f"{ref.gallery}/{ref.image}/{ref.version}" if ref else image_id


def _subnet_label(subnet_id: str) -> str:
    parts = subnet_id.split("/")
    return f"{parts[-3]}/{parts[-1]}" if len(parts) >= 3 else subnet_id
