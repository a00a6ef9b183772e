"""``/avd scale SCALESET|SITE N``: set a scale set's capacity and follow it until N session hosts are Available.

A site means its DR capacity (the scale set ``/avd scaleset create`` remembered, else the config's). Scaling out
is verb ``scale out`` (approval only if the policy says so); scaling in is verb ``scale in`` and always waits
for an approver: its card lists the instances Azure removes (the newest) and the sessions on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from avdcore.errors import NotAllowed
from azureops import hostpools, scale_plans
from azureops.plan import Plan
from azureops.scale_plans import SCALE_IN, ScaleTarget
from bot.capabilities.scaleset import WAIT_TIMEOUT, domain_password
from bot.config.siteconfig import Site
from bot.runtime import Capability, Runtime
from bot.storage.records import dr_scale_set
from commands import ops

KIND = "scale"


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
        return Target(
            site, site.scale_set_resource_group, site.scale_set, site.host_pool_resource_group, site.host_pool
        )
    for candidate in cfg.sites.values():
        dr = dr_scale_set(runtime.store, candidate.name)
        if dr is not None and dr.name.lower() == target.lower():
            return Target(candidate, dr.resource_group, dr.name, dr.host_pool_resource_group, dr.host_pool)
    for candidate in cfg.sites.values():
        if candidate.scale_set.lower() == target.lower():
            return Target(
                candidate,
                candidate.scale_set_resource_group,
                candidate.scale_set,
                candidate.host_pool_resource_group,
                candidate.host_pool,
            )
    raise NotAllowed(f"no site or scale set named {target!r} in the config")


def build_plan(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    t = resolve(runtime, op.target)
    azure, sub = runtime.azure, t.site.subscription
    required = runtime.settings.config.policy.require_approval

    def token(pool: str) -> str:
        return hostpools.registration_token(azure, sub, t.pool_resource_group, pool, runtime.clock())

    return scale_plans.scale_plan(
        azure,
        ScaleTarget(t.site.name, sub, t.resource_group, t.name, t.pool_resource_group, t.pool),
        op.count,
        kind=KIND,
        token=token,
        domain_password=domain_password,
        timeout=WAIT_TIMEOUT,
        scale_in_approved=SCALE_IN in required or op.verb in required,
    )


CAPABILITY = Capability(name="scale", jobs={ops.Scale: KIND}, plans={KIND: build_plan})
