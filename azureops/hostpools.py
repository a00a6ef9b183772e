"""Azure Virtual Desktop host pools: reads, the registration token for new hosts, session hosts and waits.

``registration_token`` returns a token valid for a while longer, issuing a new one only when needed
(PATCH ``registrationInfo`` + POST ``retrieveRegistrationToken``). The token is a secret: callers put it
straight into an Azure request body and must never log, store, render or return it anywhere else.
``wait_for_hosts`` polls the pool's session hosts until a condition holds, reporting progress as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.mgmt.desktopvirtualization.models import HostPoolPatch, RegistrationInfoPatch

from avdcore.errors import AzureNotFound, AzureUnavailable
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.plan import StepContext

POOL_TYPE = "Microsoft.DesktopVirtualization/hostPools"
TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_MIN_LEFT = timedelta(hours=2)
AVAILABLE = "Available"
Opts = Mapping[str, Any]  # per-call request options, e.g. {"timeout": 60, "read_timeout": 60}


def host_pool_id(subscription: str, resource_group: str, pool: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{POOL_TYPE}/{pool}"


@dataclass(frozen=True)
class HostPoolInfo:
    id: str
    name: str
    location: str
    pool_type: str
    load_balancer: str
    max_sessions: int | None


@dataclass(frozen=True)
class SessionHostInfo:
    """One session host; ``name`` is the host's FQDN (the last segment of Azure's ``pool/host`` name)."""

    name: str
    status: str
    sessions: int
    allow_new_session: bool
    resource_id: str  # the VM behind it (lower-cased for comparisons)

    @property
    def available(self) -> bool:
        return self.status == AVAILABLE


def get_host_pool(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    pool: str,
    opts: Opts | None = None,
    *,
    config_hint: bool = True,
) -> HostPoolInfo:
    """The host pool, or ``AzureNotFound`` (``hostPoolDoesNotExist``) with a next step.

    With ``config_hint`` every error's next step is "create it or fix the config" (setting a scale set up);
    without it, the next step Azure's code implies (failover's "does the region answer?" probes).
    """
    with translated(
        host_pool_id(subscription, resource_group, pool),
        f"create host pool {pool} in {resource_group} or fix host_pool in the config" if config_hint else "",
    ):
        found = clients.avd(subscription).host_pools.get(resource_group, pool, **dict(opts or {}))
    return HostPoolInfo(
        id=str(found.id),
        name=str(found.name),
        location=str(found.location or ""),
        pool_type=str(found.host_pool_type or ""),
        load_balancer=str(found.load_balancer_type or ""),
        max_sessions=found.max_session_limit,
    )


def registration_token(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    pool: str,
    now: datetime,
    *,
    lifetime: timedelta = TOKEN_LIFETIME,
    min_left: timedelta = TOKEN_MIN_LEFT,
) -> str:
    """A registration token valid at least ``min_left`` from ``now``: the current one, else a new one.

    SECRET: never log, store or show the returned value.
    """
    avd = clients.avd(subscription)
    with translated(host_pool_id(subscription, resource_group, pool)):
        current = avd.host_pools.retrieve_registration_token(resource_group, pool)
        if current.token and current.expiration_time and current.expiration_time - now >= min_left:
            return str(current.token)
        expires = (now + lifetime).replace(microsecond=0)
        avd.host_pools.update(
            resource_group,
            pool,
            host_pool=HostPoolPatch(
                registration_info=RegistrationInfoPatch(
                    expiration_time=expires, registration_token_operation="Update"
                )
            ),
        )
        issued = avd.host_pools.retrieve_registration_token(resource_group, pool)
    if not issued.token:
        raise AzureUnavailable(
            f"host pool {pool} issued no registration token",
            resource_id=host_pool_id(subscription, resource_group, pool),
            next_step="retry; if it persists, check the pool in the Azure portal",
        )
    return str(issued.token)


def session_hosts(
    clients: AzureClients, subscription: str, resource_group: str, pool: str, opts: Opts | None = None
) -> list[SessionHostInfo]:
    """Every session host of the pool (all pages)."""
    with translated(host_pool_id(subscription, resource_group, pool)):
        found = list(clients.avd(subscription).session_hosts.list(resource_group, pool, **dict(opts or {})))
    return [
        SessionHostInfo(
            name=str(h.name or "").rsplit("/", 1)[-1],
            status=str(h.status or ""),
            sessions=int(h.sessions or 0),
            allow_new_session=bool(h.allow_new_session),
            resource_id=str(h.resource_id or "").lower(),
        )
        for h in found
    ]


def user_principals(
    clients: AzureClients, subscription: str, resource_group: str, pool: str, host: str
) -> list[str]:
    """The user principal names signed in to one session host."""
    with translated(f"{host_pool_id(subscription, resource_group, pool)}/sessionHosts/{host}"):
        found = list(clients.avd(subscription).user_sessions.list(resource_group, pool, host))
    return [str(s.user_principal_name or s.name or "") for s in found]


def hosts_of(hosts: Iterable[SessionHostInfo], vm_ids: Iterable[str]) -> list[SessionHostInfo]:
    """The session hosts running on the given VMs."""
    wanted = {v.lower() for v in vm_ids}
    return [h for h in hosts if h.resource_id in wanted]


Condition = Callable[[list[SessionHostInfo]], "tuple[bool, str, float | None]"]


def wait_for_hosts(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    pool: str,
    condition: Condition,
    ctx: StepContext,
    *,
    interval: float,
    timeout: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Poll the pool until ``condition(hosts)`` is ``(True, text, percent)``; each new text is reported."""
    deadline = monotonic() + timeout
    last = ""
    while True:
        done, text, percent = condition(session_hosts(clients, subscription, resource_group, pool))
        if text != last:
            ctx.progress(percent, text)
            last = text
        if done:
            return text
        if monotonic() >= deadline:
            raise AzureNotFound(
                f"{what} did not happen within {int(timeout)} s: {text}",
                resource_id=host_pool_id(subscription, resource_group, pool),
                next_step="check the instances' AVD agent and the pool's registration token, then retry the job",
            )
        sleep(interval)
