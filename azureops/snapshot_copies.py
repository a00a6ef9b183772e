"""Snapshot copies: make (or finish) one replica in a target and wait until it is usable; delete replicas.

``copy_snapshot`` takes the route ``azureops.snapshots.route_for`` names (the staging route is passed in as
``stage``, see ``azureops.staging``) and is idempotent by provenance. ``put_replica`` returns once Azure
accepted the PUT; ``wait_usable`` follows the replica's own provisioning state and copy fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AzureError
from azureops.clients import AzureClients
from azureops.errors import NEXT_STEPS, translated
from azureops.snapshots import Budget, Snap, get_snapshot, is_replica_of, replica_body, route_for, snapshot_id

Progress = Callable[[float | None, str], None]


@dataclass(frozen=True)
class Target:
    """Where replicas go, and how to reach Azure for them."""

    source_sub: str
    target_sub: str
    target_rg: str
    region: str
    clients: AzureClients
    budget: Budget
    poll_seconds: float = 15.0


def wait_usable(
    t: Target, name: str, progress: Progress, *, deadline_s: float = 6 * 3600, started: Started | None = None
) -> Snap:
    """Poll the replica until it is usable; ``copyCompletionError`` or a failed state raise ``AzureError``.

    ``started`` (monotonic time of the accepted PUT) means the copy is known to be at 0 %: wait before reading.
    """
    compute = t.clients.compute(t.target_sub)
    rid = snapshot_id(t.target_sub, t.target_rg, name)
    give_up = time.monotonic() + deadline_s
    first: tuple[float, float] | None = (started.at, 0.0) if started is not None else None
    if started is not None:
        time.sleep(t.poll_seconds)
    while True:
        snap = get_snapshot(compute, t.target_sub, t.target_rg, name, t.budget)
        if snap is None:
            raise AzureError(
                f"the replica {name} disappeared while copying",
                code="NotFound",
                resource_id=rid,
                next_step="retry the job; if it repeats, check who deletes snapshots in the target",
            )
        if snap.copy_error or snap.provisioning == "Failed":
            if not snap.copy_error:
                operation_error(t, name, started)
            raise AzureError(
                f"copying {name} failed: {snap.copy_error or 'provisioningState Failed'}",
                code=snap.copy_error.split(":")[0] or "CopyFailed",
                resource_id=rid,
                next_step="keep the source until the copy is done, then retry the job",
            )
        if snap.usable:
            return snap
        progress(snap.percent, f"{name} {snap.percent or 0:.0f}%")
        now, percent = time.monotonic(), snap.percent or 0.0
        if now > give_up:
            raise AzureError(
                f"copying {name} did not finish in time",
                code="CopyTimeout",
                resource_id=rid,
                next_step="check the copy in the portal, then retry the job",
            )
        first = first or (now, percent)
        time.sleep(next_poll(first, now, percent, t.poll_seconds))


def next_poll(first: tuple[float, float], now: float, percent: float, ceiling: float) -> float:
    """Seconds to the next progress read: the estimated time left when it is shorter than ``ceiling``."""
    t0, p0 = first
    if percent <= p0 or now <= t0:
        return ceiling
    eta = (100.0 - percent) / ((percent - p0) / (now - t0))
    return min(ceiling, max(0.01, eta * 1.02))


@dataclass(frozen=True)
class Started:
    """An accepted PUT: when (monotonic), and its operation monitor URL (to read Azure's error)."""

    at: float
    monitor: str


def put_replica(t: Target, name: str, body: dict[str, Any], progress: Progress) -> Started:
    """PUT the replica; returns once Azure accepted it. ``wait_usable`` follows the resource's own
    provisioningState and copy fields, so no operation polling is spent on a copy that goes well."""
    compute = t.clients.compute(t.target_sub)
    seen: dict[str, str] = {}

    def hook(response: Any) -> None:
        seen["monitor"] = str(response.http_response.headers.get("Azure-AsyncOperation") or "")

    with translated(snapshot_id(t.target_sub, t.target_rg, name)):
        t.budget.take(t.target_sub, "writes")
        compute.snapshots.begin_create_or_update(  # type: ignore[call-overload]  # a JSON body, sent as is
            t.target_rg, name, body, polling=False, raw_response_hook=hook
        )
    return Started(time.monotonic(), seen.get("monitor", ""))


def operation_error(t: Target, name: str, started: Started | None) -> None:
    """Raise Azure's own error code and message for a failed create operation (when it reports one)."""
    from azure.core.rest import HttpRequest

    if started is None or not started.monitor:
        return
    rid = snapshot_id(t.target_sub, t.target_rg, name)
    with translated(rid):
        t.budget.take(t.target_sub, "reads")
        body = t.clients.compute(t.target_sub).send_request(HttpRequest("GET", started.monitor)).json()
    err = body.get("error") if isinstance(body, dict) and body.get("status") == "Failed" else None
    if isinstance(err, dict) and err.get("message"):
        code = str(err.get("code") or "OperationFailed")
        raise AzureError(
            f"creating {name} failed: {err['message']}",
            code=code,
            resource_id=rid,
            next_step=NEXT_STEPS.get(code, "read Azure's message, fix the cause, then retry the job"),
        )


def copy_snapshot(
    t: Target, source: Snap, progress: Progress, stage: Callable[[Target, Snap, Progress], Snap] | None = None
) -> Snap:
    """Make (or finish) ``source``'s replica in the target; returns it, usable. Idempotent by provenance."""
    existing = get_snapshot(t.clients.compute(t.target_sub), t.target_sub, t.target_rg, source.name, t.budget)
    if existing is not None and is_replica_of(existing, source):
        if existing.usable:
            return existing
        if not (existing.copy_error or existing.provisioning == "Failed"):
            return wait_usable(t, source.name, progress)
        delete_snapshot(t, existing.name)  # a failed replica of ours: make it again
    elif existing is not None:
        raise AzureError(
            f"{t.target_rg}/{source.name} exists and is not a replica of {source.id}",
            code="NameTaken",
            resource_id=existing.id,
            next_step="rename or remove that snapshot, then retry",
        )
    route = route_for(source, t.region)
    if route == "Staging":
        if stage is None:
            raise AzureError(
                f"{source.name} is a full snapshot in another region: it needs the staging route",
                code="StagingUnavailable",
                resource_id=source.id,
                next_step="make an incremental snapshot of the disk instead, or enable staging",
            )
        return stage(t, source, progress)
    started = put_replica(t, source.name, replica_body(source, t.region, route), progress)
    return wait_usable(t, source.name, progress, started=started)


def delete_snapshot(t: Target, name: str) -> None:
    compute = t.clients.compute(t.target_sub)
    with translated(snapshot_id(t.target_sub, t.target_rg, name)):
        t.budget.take(t.target_sub, "writes")
        poller = compute.snapshots.begin_delete(t.target_rg, name)
        while not poller.done():
            poller.wait(timeout=t.poll_seconds)
        poller.result()


def source_gone(t: Target, replica: Snap, sources: Iterable[Snap] = ()) -> bool:
    """Re-check just before deleting: True only when Azure answers 404 for the source (or it was recreated)."""
    parts = replica.source_id.split("/")
    if len(parts) < 9:
        return False
    sub, rg, name = parts[2], parts[4], parts[-1]
    current = get_snapshot(t.clients.compute(sub), sub, rg, name, t.budget)
    return current is None or not is_replica_of(replica, current)
