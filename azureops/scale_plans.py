"""Scale-set plans, assembled here like failover's: create a site's DR scale set, and scale one to N.

``create_plan`` preflights everything the new scale set needs (the image replicated in its location, the
identity, the subnet, the VM size, the host pool), then creates it and, for a non-zero capacity, waits for its
session hosts; ``final`` steps (the bot's own records) come last. ``scale_plan`` reads the scale set, names
what a scale-in removes (the newest instances, their session hosts and signed-in users) and sets the capacity,
then waits for that many Available session hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from avdcore.errors import AzureNotFound, NotAllowed
from azureops import hostpools, identities, scaleset_spec, scaleset_steps, scalesets
from azureops.clients import AzureClients
from azureops.plan import Plan, Step
from azureops.scaleset_spec import ScaleSetSpec

Secret = Callable[[], str]
MAX_LISTED = 10
SCALE_IN, SCALE_OUT = "scale in", "scale out"


@dataclass(frozen=True)
class ScaleTarget:
    """A scale set and the host pool its instances join, in one subscription."""

    site: str
    subscription: str
    resource_group: str
    name: str
    pool_resource_group: str
    pool: str


def preflight(
    clients: AzureClients,
    spec: ScaleSetSpec,
    *,
    site: str,
    identity_resource_group: str,
    identity: str,
    domain_password: Secret,
) -> None:
    """Everything that must already be true before the scale set is created; raises the first problem."""
    again = f"submit `/avd scaleset create {site}` again"
    scaleset_spec.check_replica(clients, spec.image_id, spec.location, again)
    identities.require_identity(
        clients,
        spec.subscription,
        identity_resource_group,
        identity,
        f"create it with `/avd identity create {site}`, then {again}",
    )
    scaleset_spec.check_subnet(clients, spec.subscription, spec.subnet_id)
    scaleset_spec.check_vm_size(clients, spec.subscription, spec.vm_size, spec.location)
    hostpools.get_host_pool(clients, spec.subscription, spec.host_pool_resource_group, spec.host_pool)
    if spec.join_type == "domain" and not domain_password():
        raise NotAllowed(
            "domain join needs the join account's password in AVD_DOMAIN_JOIN_PASSWORD on the bot host"
        )


def create_plan(
    clients: AzureClients,
    spec: ScaleSetSpec,
    *,
    kind: str,
    site: str,
    token: Secret,
    domain_password: Secret,
    timeout: float,
    final: Sequence[Step] = (),
) -> Plan:
    """Create ``spec`` (already preflighted) and wait for its hosts when it starts with instances."""
    interval = float(clients.polling_interval)
    steps = [
        scaleset_steps.create_step(
            clients, spec, token=token, domain_password=domain_password, interval=interval, timeout=timeout
        )
    ]
    if spec.capacity:
        steps.append(
            scaleset_steps.hosts_step(
                clients,
                spec.subscription,
                spec.resource_group,
                spec.name,
                spec.capacity,
                pool_subscription=spec.subscription,
                pool_resource_group=spec.host_pool_resource_group,
                pool=spec.host_pool,
                interval=interval,
                timeout=timeout,
            )
        )
    steps.extend(final)
    return Plan(
        kind=kind,
        title=f"Create scale set {spec.name} in {spec.location} (site {site})",
        steps=tuple(steps),
        summary=f"{spec.capacity} x {spec.vm_size}",
    )


def affected_sessions(
    clients: AzureClients, t: ScaleTarget, state: scalesets.ScaleSetState, count: int
) -> str:
    """What a scale-in to ``count`` removes: the newest instances, their session hosts and signed-in users.

    Instances created together tie: Azure picks among them, so every tied candidate is listed."""
    sub = t.subscription
    newest = scalesets.list_instances(clients, sub, t.resource_group, state)
    k = max(0, state.capacity - count)
    if not k or not newest:
        return "no instances to remove"
    boundary = newest[min(k, len(newest)) - 1].created
    candidates = [v for v in newest if v.created >= boundary]
    hosts = hostpools.hosts_of(
        hostpools.session_hosts(clients, sub, t.pool_resource_group, t.pool), [v.id for v in candidates]
    )
    by_vm = {h.resource_id: h for h in hosts}
    parts, total = [], 0
    for vm in candidates[:MAX_LISTED]:
        host = by_vm.get(vm.id)
        if host is None or not host.sessions:
            parts.append(f"{vm.name} (no sessions)")
            continue
        users = hostpools.user_principals(clients, sub, t.pool_resource_group, t.pool, host.name)
        total += len(users) or host.sessions
        parts.append(
            f"{vm.name} ({host.sessions} session(s): {', '.join(users[:MAX_LISTED]) or 'unknown users'})"
        )
    more = f" and {len(candidates) - MAX_LISTED} more" if len(candidates) > MAX_LISTED else ""
    if len(candidates) == k:
        return f"removes {', '.join(parts)}{more}; {total} session(s) would be signed out"
    return (
        f"removes {k} of {', '.join(parts)}{more} (created together: Azure picks which); up to "
        f"{total} session(s) would be signed out"
    )


def scale_plan(
    clients: AzureClients,
    t: ScaleTarget,
    count: int,
    *,
    kind: str,
    token: Callable[[str], str],
    domain_password: Secret,
    timeout: float,
    scale_in_approved: bool,
) -> Plan:
    """Scale ``t`` to ``count``. ``token(pool)`` renews the host pool's registration token for a scale-out;
    ``scale_in_approved`` says whether the policy makes a scale-in wait for an approver (refused otherwise)."""
    state = scalesets.get_scale_set(clients, t.subscription, t.resource_group, t.name)
    if state is None:
        raise AzureNotFound(
            f"scale set {t.name} does not exist in {t.resource_group}",
            resource_id=scaleset_spec.scale_set_id(t.subscription, t.resource_group, t.name),
            next_step=f"create it with `/avd scaleset create {t.site}`",
        )
    pool = state.host_pool or t.pool
    scale_in = count < state.capacity
    if scale_in and not scale_in_approved:
        raise NotAllowed(
            "scale-in removes capacity and always needs an approver, but [policy] require_approval "
            'does not list "scale in": add it to avd.toml'
        )
    change = f"Scale {t.name} {'in' if scale_in else 'out'} from {state.capacity} to {count}"
    if scale_in:
        change += f": {affected_sessions(clients, t, state, count)}"
    elif count == state.capacity:
        change = f"Keep {t.name} at {count} instance(s)"
    interval = float(clients.polling_interval)
    capacity = scaleset_steps.capacity_step(
        clients,
        t.subscription,
        t.resource_group,
        state,
        count,
        token=lambda: token(pool),
        domain_password=domain_password,
        interval=interval,
        timeout=timeout,
        description=change,
    )
    hosts = scaleset_steps.hosts_step(
        clients,
        t.subscription,
        t.resource_group,
        t.name,
        count,
        pool_subscription=t.subscription,
        pool_resource_group=t.pool_resource_group,
        pool=pool,
        interval=interval,
        timeout=timeout,
    )
    return Plan(
        kind=kind,
        title=f"Scale {t.name} to {count} (site {t.site})",
        steps=(capacity, hosts),
        verb=SCALE_IN if scale_in else SCALE_OUT,
        summary=change,
    )
