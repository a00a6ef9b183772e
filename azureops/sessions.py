"""Host-pool session operations: drain/undrain session hosts, message users, log off sessions, and
switch a host pool's scaling plan off (and back on) so autoscale does not fight a failover.

Every function takes plain values (``HostPoolRef``, ``AzureClients``) and optional per-call request options
(``opts``, e.g. ``{"timeout": 60, "read_timeout": 60}`` to bound a call to a region that may not answer).
Writes are made only where Azure is not already in the wanted state, so each function is idempotent.
Reading the pool and its session hosts (``SessionHostInfo``) is ``azureops.hostpools``' job.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient
from azure.mgmt.desktopvirtualization.models import (
    ScalingHostPoolReference,
    ScalingPlanPatch,
    SendMessage,
    SessionHostPatch,
)

from avdcore.errors import AzureNotFound
from azureops import hostpools
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.hostpools import Opts, SessionHostInfo
from azureops.plan import ArmRef

MARK_TAG = "avd-ops-autoscale"  # set on a scaling plan this bot switched off; its value is the host pool id


@dataclass(frozen=True)
class HostPoolRef(ArmRef):
    TYPE = "Microsoft.DesktopVirtualization/hostPools"


@dataclass(frozen=True)
class UserSessionInfo:
    host: str
    id: str
    user: str
    state: str


def _avd(clients: AzureClients, pool: HostPoolRef) -> DesktopVirtualizationMgmtClient:
    return clients.avd(pool.subscription)


def session_hosts(
    clients: AzureClients, pool: HostPoolRef, opts: Opts | None = None
) -> list[SessionHostInfo]:
    """``hostpools.session_hosts`` for a ``HostPoolRef``."""
    return hostpools.session_hosts(clients, pool.subscription, pool.resource_group, pool.name, opts)


def available_hosts(clients: AzureClients, pool: HostPoolRef, opts: Opts | None = None) -> int:
    """Session hosts that are Available and accept new sessions."""
    return sum(
        1
        for h in session_hosts(clients, pool, opts)
        if h.status.lower() == hostpools.AVAILABLE.lower() and h.allow_new_session
    )


def set_drain(clients: AzureClients, pool: HostPoolRef, drain: bool, opts: Opts | None = None) -> list[str]:
    """``allowNewSession = not drain`` on every host that differs; returns the hosts changed."""
    changed = []
    for host in session_hosts(clients, pool, opts):
        if host.allow_new_session == (not drain):
            continue
        with translated(f"{pool.id}/sessionHosts/{host.name}"):
            _avd(clients, pool).session_hosts.update(
                pool.resource_group,
                pool.name,
                host.name,
                session_host=SessionHostPatch(allow_new_session=not drain),
                **dict(opts or {}),
            )
        changed.append(host.name)
    return changed


def is_drained(
    clients: AzureClients, pool: HostPoolRef, drain: bool = True, opts: Opts | None = None
) -> bool:
    return all(h.allow_new_session == (not drain) for h in session_hosts(clients, pool, opts))


def user_sessions(
    clients: AzureClients, pool: HostPoolRef, opts: Opts | None = None
) -> list[UserSessionInfo]:
    with translated(pool.id):
        found = list(
            _avd(clients, pool).user_sessions.list_by_host_pool(
                pool.resource_group, pool.name, **dict(opts or {})
            )
        )
    out = []
    for s in found:
        parts = str(s.id).split("/")
        lowered = [p.lower() for p in parts]
        host = parts[lowered.index("sessionhosts") + 1] if "sessionhosts" in lowered else ""
        out.append(
            UserSessionInfo(
                host=host,
                id=parts[-1],
                user=str(s.user_principal_name or ""),
                state=str(s.session_state or ""),
            )
        )
    return out


def message_user(
    clients: AzureClients,
    pool: HostPoolRef,
    session: UserSessionInfo,
    title: str,
    body: str,
    opts: Opts | None = None,
) -> None:
    with translated(f"{pool.id}/sessionHosts/{session.host}/userSessions/{session.id}"):
        _avd(clients, pool).user_sessions.send_message(
            pool.resource_group,
            pool.name,
            session.host,
            session.id,
            send_message=SendMessage(message_title=title, message_body=body),
            **dict(opts or {}),
        )


def log_off(
    clients: AzureClients, pool: HostPoolRef, session: UserSessionInfo, opts: Opts | None = None
) -> bool:
    """Log one session off (forced); False when it was already gone."""
    try:
        with translated(f"{pool.id}/sessionHosts/{session.host}/userSessions/{session.id}"):
            _avd(clients, pool).user_sessions.delete(
                pool.resource_group, pool.name, session.host, session.id, force=True, **dict(opts or {})
            )
    except AzureNotFound:
        return False
    return True


def log_off_all(clients: AzureClients, pool: HostPoolRef, opts: Opts | None = None) -> int:
    """Log off every session still listed; returns how many were logged off."""
    return sum(1 for s in user_sessions(clients, pool, opts) if log_off(clients, pool, s, opts))


# ---- scaling plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingPlanInfo:
    id: str
    resource_group: str
    name: str
    enabled: bool  # for this host pool
    marked: bool  # switched off by this bot


def _pool_key(arm_id: str) -> str:
    return arm_id.strip("/").lower()


def scaling_plans(
    clients: AzureClients, pool: HostPoolRef, opts: Opts | None = None
) -> list[ScalingPlanInfo]:
    with translated(pool.id):
        found = list(
            _avd(clients, pool).scaling_plans.list_by_host_pool(
                pool.resource_group, pool.name, **dict(opts or {})
            )
        )
    out = []
    for plan in found:
        refs = [
            r
            for r in plan.host_pool_references or []
            if _pool_key(r.host_pool_arm_path or "") == _pool_key(pool.id)
        ]
        rg = str(plan.id).split("/")[4]
        out.append(
            ScalingPlanInfo(
                id=str(plan.id),
                resource_group=rg,
                name=str(plan.name),
                enabled=any(bool(r.scaling_plan_enabled) for r in refs),
                marked=_pool_key((plan.tags or {}).get(MARK_TAG, "")) == _pool_key(pool.id),
            )
        )
    return out


def set_autoscale(
    clients: AzureClients, pool: HostPoolRef, enabled: bool, opts: Opts | None = None
) -> list[str]:
    """Switch the pool's scaling plans off (tagging them), or back on (only those this bot switched off).

    Returns the names of the plans changed."""
    changed = []
    for info in scaling_plans(clients, pool, opts):
        if (enabled and not info.marked) or (not enabled and not info.enabled):
            continue
        client = _avd(clients, pool)
        with translated(info.id):
            plan = client.scaling_plans.get(info.resource_group, info.name, **dict(opts or {}))
            refs = [
                ScalingHostPoolReference(
                    host_pool_arm_path=r.host_pool_arm_path,
                    scaling_plan_enabled=enabled
                    if _pool_key(r.host_pool_arm_path or "") == _pool_key(pool.id)
                    else r.scaling_plan_enabled,
                )
                for r in plan.host_pool_references or []
            ]
            tags = {k: v for k, v in (plan.tags or {}).items() if k != MARK_TAG}
            if not enabled:
                tags[MARK_TAG] = pool.id
            client.scaling_plans.update(
                info.resource_group,
                info.name,
                scaling_plan=ScalingPlanPatch(tags=tags, host_pool_references=refs),
                **dict(opts or {}),
            )
        changed.append(info.name)
    return changed


def autoscale_settled(
    clients: AzureClients, pool: HostPoolRef, enabled: bool, opts: Opts | None = None
) -> bool:
    """True when ``set_autoscale(enabled)`` would change nothing."""
    for info in scaling_plans(clients, pool, opts):
        if enabled and info.marked:
            return False
        if not enabled and info.enabled:
            return False
    return True
