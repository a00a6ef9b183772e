"""``/avd scale SCALESET|SITE N``: set a scale set's capacity and follow it until N session hosts are Available.

A site means its DR capacity (the scale set ``/avd scaleset create`` remembered, else the config's). Scaling out
is verb ``scale out`` (approval only if the policy says so); scaling in is verb ``scale in`` and always waits
for an approver: its card lists the instances Azure removes (the newest) and the sessions on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from avdcore.errors import AzureNotFound, NotAllowed
from azureops import hostpools, scaleset_spec, scalesets
from azureops.plan import Plan
from bot.capabilities.scaleset import WAIT_TIMEOUT, domain_password
from bot.config.siteconfig import Site
from bot.runtime import Capability, Runtime
from bot.storage.records import dr_scale_set
from commands import ops

KIND = "scale"
SCALE_IN, SCALE_OUT = "scale in", "scale out"
MAX_LISTED = 10


@dataclass(frozen=True)
class Target:
    site: Site
    resource_group: str
    name: str
    pool_resource_group: str
    pool: str


def resolve(runtime: Runtime, target: str) -> Target:
    """A site (its DR scale set) or a scale set by name, with the host pool its instances join."""
    cfg = runtime.settings.config
    site = next((s for s in cfg.sites.values() if target.lower() in (s.name.lower(), s.location)), None)
    if site is not None:
        dr = dr_scale_set(runtime.store, site.name)
        if dr is not None and dr.created:
            return Target(site, dr.resource_group, dr.name, dr.host_pool_resource_group, dr.host_pool)
        return Target(site, site.scale_set_resource_group, site.scale_set, site.host_pool_resource_group,
                      site.host_pool)
    for candidate in cfg.sites.values():
        dr = dr_scale_set(runtime.store, candidate.name)
        if dr is not None and dr.name.lower() == target.lower():
            return Target(candidate, dr.resource_group, dr.name, dr.host_pool_resource_group, dr.host_pool)
    for candidate in cfg.sites.values():
        if candidate.scale_set.lower() == target.lower():
            return Target(candidate, candidate.scale_set_resource_group, candidate.scale_set,
                          candidate.host_pool_resource_group, candidate.host_pool)
    raise NotAllowed(f"no site or scale set named {target!r} in the config")


def affected_sessions(runtime: Runtime, t: Target, state: scalesets.ScaleSetState, count: int) -> str:
    """What a scale-in to ``count`` removes: the newest instances, their session hosts and signed-in users.

    Instances created together tie: Azure picks among them, so every tied candidate is listed."""
    azure, sub = runtime.azure, t.site.subscription
    newest = scalesets.list_instances(azure, sub, t.resource_group, state)
    k = max(0, state.capacity - count)
    if not k or not newest:
        return "no instances to remove"
    boundary = newest[min(k, len(newest)) - 1].created
    candidates = [v for v in newest if v.created >= boundary]
    hosts = hostpools.hosts_of(hostpools.session_hosts(azure, sub, t.pool_resource_group, t.pool),
                               [v.id for v in candidates])
    by_vm = {h.resource_id: h for h in hosts}
    parts, total = [], 0
    for vm in candidates[:MAX_LISTED]:
        host = by_vm.get(vm.id)
        if host is None or not host.sessions:
            parts.append(f"{vm.name} (no sessions)")
            continue
        users = hostpools.user_principals(azure, sub, t.pool_resource_group, t.pool, host.name)
        total += len(users) or host.sessions
        parts.append(f"{vm.name} ({host.sessions} session(s): {', '.join(users[:MAX_LISTED]) or 'unknown users'})")
    more = f" and {len(candidates) - MAX_LISTED} more" if len(candidates) > MAX_LISTED else ""
    if len(candidates) == k:
        return f"removes {', '.join(parts)}{more}; {total} session(s) would be signed out"
    return (f"removes {k} of {', '.join(parts)}{more} (created together: Azure picks which); up to "
            f"{total} session(s) would be signed out")


def build_plan(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    t = resolve(runtime, op.target)
    azure, sub = runtime.azure, t.site.subscription
    state = scalesets.get_scale_set(azure, sub, t.resource_group, t.name)
    if state is None:
        raise AzureNotFound(f"scale set {t.name} does not exist in {t.resource_group}",
                            resource_id=scaleset_spec.scale_set_id(sub, t.resource_group, t.name),
                            next_step=f"create it with `/avd scaleset create {t.site.name}`")
    pool = state.host_pool or t.pool
    scale_in = op.count < state.capacity
    verb = SCALE_IN if scale_in else SCALE_OUT
    required = runtime.settings.config.policy.require_approval
    if scale_in and SCALE_IN not in required and op.verb not in required:
        raise NotAllowed('scale-in removes capacity and always needs an approver, but [policy] require_approval '
                         'does not list "scale in": add it to avd.toml')
    change = f"Scale {t.name} {'in' if scale_in else 'out'} from {state.capacity} to {op.count}"
    if scale_in:
        change += f": {affected_sessions(runtime, t, state, op.count)}"
    elif op.count == state.capacity:
        change = f"Keep {t.name} at {op.count} instance(s)"
    interval = float(azure.polling_interval)

    def token() -> str:
        return hostpools.registration_token(azure, sub, t.pool_resource_group, pool, runtime.clock())

    capacity = scalesets.capacity_step(azure, sub, t.resource_group, state, op.count, token=token,
                                       domain_password=domain_password, interval=interval, timeout=WAIT_TIMEOUT,
                                       description=change)
    hosts = scalesets.hosts_step(azure, sub, t.resource_group, t.name, op.count, pool_subscription=sub,
                                 pool_resource_group=t.pool_resource_group, pool=pool, interval=interval,
                                 timeout=WAIT_TIMEOUT)
    return Plan(kind=KIND, title=f"Scale {t.name} to {op.count} (site {t.site.name})", steps=(capacity, hosts),
                verb=verb, summary=change)


CAPABILITY = Capability(name="scale", jobs={ops.Scale: KIND}, plans={KIND: build_plan})
