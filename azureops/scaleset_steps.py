"""The steps of a site's DR scale set: create it, set its capacity, wait for its instances' session hosts.

The registration token is fetched by the step that sends it (``token()``), goes only into the extension's
``protectedSettings`` and is never returned, logged or saved: steps that send it do not save a continuation
token (the response could echo the model), they resume by reading the scale set instead. The reads live in
``azureops.scalesets``; the spec, the create body and the preflight in ``azureops.scaleset_spec``;
``azureops.scale_plans`` assembles the steps into plans.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.mgmt.compute.models import VirtualMachineScaleSet, VirtualMachineScaleSetUpdate

from avdcore.errors import AzureError, AzureNotFound
from azureops import gallery
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.hostpools import SessionHostInfo, hosts_of, session_hosts, wait_for_hosts
from azureops.plan import Step, StepContext, follow
from azureops.scaleset_spec import ScaleSetSpec, admin_password, scale_set_body, scale_set_id
from azureops.scalesets import (
    ScaleSetState,
    failed_extension,
    get_scale_set,
    list_instances,
    refreshed_extensions,
)

Secret = Callable[[], str]


def _scale_sets(clients: AzureClients, subscription: str) -> Any:
    """The scale-set operations of ``subscription``'s compute client."""
    return clients.compute(subscription).virtual_machine_scale_sets


def _write(ctx: StepContext, resource_id: str, start: Callable[[], Any], interval: float) -> None:
    """Send a scale-set write (``start()`` returns its poller) and follow it to its end; a missing gallery
    replica is said in the user's terms, with the command that adds it."""
    try:
        with translated(resource_id):
            follow(ctx, start(), tick=min(interval, 0.5))
    except AzureError as err:
        raise gallery.user_terms(err) from err


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
            _write(
                ctx,
                spec.id,
                lambda: _scale_sets(clients, spec.subscription).begin_update(
                    spec.resource_group,
                    spec.name,
                    VirtualMachineScaleSetUpdate({"sku": {"capacity": existing.capacity}}),
                ),
                interval,
            )
        elif existing is None:
            body = scale_set_body(
                spec,
                token=token(),
                admin_password=admin_password(),
                domain_password=domain_password() if spec.join_type == "domain" else None,
            )
            _write(
                ctx,
                spec.id,
                lambda: _scale_sets(clients, spec.subscription).begin_create_or_update(
                    spec.resource_group, spec.name, VirtualMachineScaleSet(body)
                ),
                interval,
            )
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
            _write(
                ctx,
                state.id,
                lambda: _scale_sets(clients, subscription).begin_update(
                    resource_group, name, VirtualMachineScaleSetUpdate(patch)
                ),
                interval,
            )
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
