"""The DR scale set's steps in failover, failback and drill plans: set its capacity, wait for its session hosts.

Each reads Azure first (``check``), writes only what differs (``apply``) and re-attaches after a restart
(``resume``, from the continuation token it saved before waiting). A scale-out renews the host pool's
registration token in the instances' model when the AVD extension registers with one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from azure.mgmt.compute.models import VirtualMachineScaleSetUpdate

from avdcore.errors import AzureError, AzureUnavailable
from azureops import hostpools, scalesets, sessions
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.plan import ArmRef, Step, StepContext, follow, format_seconds
from azureops.recovery import Clock
from azureops.sessions import HostPoolRef

RESUMED = VirtualMachineScaleSetUpdate(
    {}
)  # the body of a re-attach: with a continuation token nothing is sent
SCALE_OPERATIONS: dict[
    str, str
] = {}  # scale set id (lower) -> continuation token of this process's last scale-out


@dataclass(frozen=True)
class ScaleSetRef(ArmRef):
    TYPE = "Microsoft.Compute/virtualMachineScaleSets"


def read_scale_set(clients: AzureClients, vmss: ScaleSetRef) -> Any:
    """The scale set as Azure returns it (the SDK's ``VirtualMachineScaleSet``); ``AzureNotFound`` when it is not
    there. ``scalesets.get_scale_set`` reads it into a ``ScaleSetState`` instead (``None`` when missing)."""
    with translated(vmss.id):
        return clients.compute(vmss.subscription).virtual_machine_scale_sets.get(
            vmss.resource_group, vmss.name
        )


def _scale_patch(
    clients: AzureClients, vmss: ScaleSetRef, count: int, pool: HostPoolRef | None, clock: Clock | None
) -> dict[str, Any]:
    """``{"sku": {"capacity": N}}``, plus a fresh host-pool registration token in the instances' model when the
    scale set's AVD extension registers with one (an expired token would leave the new hosts unregistered)."""
    patch: dict[str, Any] = {"sku": {"capacity": count}}
    if count == 0 or pool is None or clock is None:
        return patch
    state = scalesets.get_scale_set(clients, vmss.subscription, vmss.resource_group, vmss.name)
    if state is not None and state.registers_with_token and state.join_type != "domain":
        token = hostpools.registration_token(
            clients, pool.subscription, pool.resource_group, pool.name, clock()
        )
        exts = scalesets.refreshed_extensions(state, token, None)
        patch["properties"] = {"virtualMachineProfile": {"extensionProfile": {"extensions": exts}}}
    return patch


def scale_step(
    clients: AzureClients,
    vmss: ScaleSetRef,
    count: int,
    *,
    name: str,
    wait: bool,
    estimate: int = 30,
    pool: HostPoolRef | None = None,
    clock: Clock | None = None,
) -> Step:
    """Set the scale set's capacity. Scale-out returns once Azure accepted it (the host wait follows);
    scale-in follows the operation to its end."""
    ops = clients.compute(vmss.subscription).virtual_machine_scale_sets

    def check(ctx: StepContext) -> bool:
        found = read_scale_set(clients, vmss)
        state = str(found.provisioning_state or "").lower()
        if found.sku.capacity != count or state == "failed":  # a Failed scale set is re-driven by apply
            return False
        return not wait or state == "succeeded"

    def attach(ctx: StepContext, poller: Any) -> str:
        if wait:
            follow(ctx, poller, tick=0.05)
        elif poller.done():
            poller.result()  # raises Azure's error if the scale-out already failed
        return f"capacity {count}"

    def apply(ctx: StepContext) -> str:
        found = read_scale_set(clients, vmss)
        failed = str(found.provisioning_state or "").lower() == "failed"
        if found.sku.capacity == count and not failed:  # already asked for: follow it without writing again
            return "capacity already set" + (_settle(clients, vmss) if wait else "")
        with translated(vmss.id):
            poller = ops.begin_update(  # type: ignore[call-overload]  # a JSON patch, sent as is
                vmss.resource_group, vmss.name, _scale_patch(clients, vmss, count, pool, clock)
            )
            ctx.save_token(poller.continuation_token())
            SCALE_OPERATIONS[vmss.id.lower()] = poller.continuation_token()
            return attach(ctx, poller)

    def resume(ctx: StepContext, token: str) -> str:
        SCALE_OPERATIONS[vmss.id.lower()] = token
        with translated(vmss.id):
            return (
                attach(
                    ctx, ops.begin_update(vmss.resource_group, vmss.name, RESUMED, continuation_token=token)
                )
                + " (re-attached)"
            )

    return Step(
        name=name,
        resource_id=vmss.id,
        description=f"Scale {vmss.name} to {count}",
        apply=apply,
        check=check,
        resume=resume,
        estimate_seconds=estimate,
        intent={"capacity": count},
    )


def _settle(clients: AzureClients, vmss: ScaleSetRef, tick: float = 0.05) -> str:
    while (state := str(read_scale_set(clients, vmss).provisioning_state or "").lower()) in (
        "updating",
        "creating",
    ):
        time.sleep(tick)
    if state == "failed":
        raise AzureError(
            f"scale set {vmss.name} ended in provisioning state Failed",
            resource_id=vmss.id,
            next_step="read the scale set's activity log, fix the cause, then Retry",
        )
    return ""


def available_hosts_step(
    clients: AzureClients,
    pool: HostPoolRef,
    vmss: ScaleSetRef,
    count: int,
    *,
    name: str,
    tick: float,
    timeout: float = 3600.0,
) -> Step:
    """Wait until ``count`` session hosts are Available in ``pool`` (any of them; reads only); a Failed scale set
    is reported with Azure's own code when this process started the scale-out, and an instance whose extension
    failed (``VMExtensionProvisioningError`` in its instance view) fails the wait at once, naming the extension:
    such an instance never registers, so waiting out ``timeout`` would only hide why
    (``scalesets.failed_extension``; ``scaleset_steps.hosts_step`` waits for one scale set's own instances and
    their hosts, reading it the same way)."""

    def check(ctx: StepContext) -> bool:
        return sessions.available_hosts(clients, pool) >= count

    def apply(ctx: StepContext) -> str:
        begun = time.monotonic()
        deadline, polls, seen = begun + timeout, 0, 0
        while (ready := sessions.available_hosts(clients, pool)) < count:
            seen = _arrivals(ctx, seen, ready, count, begun)
            if polls % 5 == 0 and (
                failed := scalesets.failed_extension(
                    clients, vmss.subscription, vmss.resource_group, vmss.name
                )
            ):
                raise failed
            polls += 1
            if (
                polls % 20 == 0
                and str(read_scale_set(clients, vmss).provisioning_state or "").lower() == "failed"
            ):
                _raise_scale_error(clients, vmss)
                raise AzureError(
                    f"scale set {vmss.name} failed while adding instances",
                    resource_id=vmss.id,
                    next_step="read the scale set's activity log (replica missing? quota?), then Retry",
                )
            if time.monotonic() > deadline:
                raise AzureUnavailable(
                    f"only {ready} of {count} session hosts Available in {pool.name} after "
                    f"{format_seconds(timeout)}",
                    resource_id=pool.id,
                )
            ctx.progress(100.0 * ready / count, f"{ready}/{count} Available")
            time.sleep(tick)
        _arrivals(ctx, seen, min(ready, count), count, begun)
        return f"{ready} session host(s) Available"

    return Step(
        name=name,
        resource_id=pool.id,
        description=f"Wait for {count} session hosts Available in {pool.name}",
        apply=apply,
        check=check,
        resume=lambda ctx, token: apply(ctx),
        estimate_seconds=360,
        intent={"available": count},
    )


def _arrivals(ctx: StepContext, seen: int, ready: int, count: int, begun: float) -> int:
    """Note each session host as it comes up (``2/3 Available after 4m10s``): a drill's measurements as they
    happen. The job's figures are read from the step rows, not from these notes."""
    if ready > seen:
        ctx.note(f"{ready}/{count} Available after {format_seconds(time.monotonic() - begun)}")
    return max(seen, ready)


def _raise_scale_error(clients: AzureClients, vmss: ScaleSetRef) -> None:
    """Raise Azure's own error (code, message) of this process's scale-out of ``vmss``, when it is known."""
    token = SCALE_OPERATIONS.get(vmss.id.lower())
    if token:
        with translated(vmss.id, "fix what Azure names (quota? capacity? replica?), then Retry"):
            clients.compute(vmss.subscription).virtual_machine_scale_sets.begin_update(
                vmss.resource_group, vmss.name, RESUMED, continuation_token=token
            ).result()
