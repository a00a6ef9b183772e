"""Replica plans: add region(s), remove a region, and "allow deletion of replicated locations, then remove".

Every write is a PATCH of the version with the COMPLETE ``targetRegions`` list, built from the raw dicts
Azure returned (name, regionalReplicaCount, storageAccountType, excludeFromLatest, encryption untouched),
plus or minus one entry. Steps check Azure first: a region already listed is "already done", so running
``replicas add`` twice writes once. Following replication is one ``GET ...?$expand=ReplicationStatus``
per cycle, paced by the server's Retry-After or ``clients.polling_interval``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.core.rest import HttpRequest

from avdcore.errors import AzureConflict, AzureError, AzureNotFound, AzureUnavailable
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.gallery import (
    REPLICA_MINUTES,
    ImageRef,
    VersionReplicas,
    check_region,
    read_replicas,
    region_key,
)
from azureops.plan import Plan, Step, StepContext, follow, run_lro

ADD, REMOVE, UNLOCK_REMOVE = "replicas add", "replicas remove", "replicas unlock-remove"
FOLLOW_TIMEOUT = 3 * 3600.0  # "sometimes an hour": give up (the replica keeps going) after three
LOCK_NAME = "Lock deleting Replicated Locations"
Sleep = Callable[[float], None]


class ReplicaLocked(AzureConflict):
    """Removal refused up front: the version's safety profile blocks deleting replicated locations."""

    def __init__(self, vr: VersionReplicas, region: str) -> None:
        super().__init__(
            lock_explanation(vr, region),
            code="AllowDeletionOfReplicatedLocationsFalse",
            resource_id=vr.ref.id,
            next_step="approve the separate plan "
            f'"allow deletion of replicated locations, then remove" for {region}',
        )
        self.replicas = vr
        self.region = region_key(region)


def lock_explanation(vr: VersionReplicas, region: str) -> str:
    return (
        f"the image version {vr.ref.label} has '{LOCK_NAME}' on, so Azure refuses to remove its replica in "
        f"{region_key(region)}; nothing was changed"
    )


def _patch(
    clients: AzureClients,
    ref: ImageRef,
    properties: dict[str, Any],
    *,
    wait: bool,
    hook: Callable[[Any], None] | None = None,
) -> Any:
    versions: Any = clients.compute(
        ref.subscription
    ).gallery_image_versions  # dict bodies go as-is (camelCase)
    extra: dict[str, Any] = {"raw_response_hook": hook} if hook else {}
    return versions.begin_update(
        ref.resource_group,
        ref.gallery,
        ref.image,
        ref.version,
        {"properties": properties},
        polling=wait,
        **extra,
    )


def _targets_body(targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"publishingProfile": {"targetRegions": targets}}


def _failure(clients: AzureClients, vr: VersionReplicas, region: str, monitor: str | None) -> AzureError:
    """Azure's code (from the PATCH's operation monitor when known) and the replica's details."""
    r = vr.region(region)
    details = r.details if r and r.details else "no details from Azure"
    code = "ReplicationFailed"
    if monitor:
        try:
            resp = clients.compute(vr.ref.subscription).send_request(HttpRequest("GET", monitor))
            code = str(((resp.json() or {}).get("error") or {}).get("code") or code)
        except Exception:  # noqa: BLE001 - the replica's own details still say what happened
            pass
    return AzureError(
        f"replication of {vr.ref.label} to {region} failed: {details}",
        code=code,
        resource_id=vr.ref.id,
        next_step=f"fix the cause Azure names (quota, storage type in {region}, image size), then retry this job; "
        f"or remove the failed region with `/avd replicas remove {region}`",
    )


def add_step(
    clients: AzureClients,
    ref: ImageRef,
    regions: tuple[str, ...],
    count: int | None,
    storage: str | None,
    shared: dict[str, str],
) -> Step:
    def check(ctx: StepContext) -> bool:
        vr = read_replicas(clients, ref)
        return all(vr.has_target(r) for r in regions)

    def apply(ctx: StepContext) -> str:
        vr = read_replicas(clients, ref)
        missing = [r for r in regions if not vr.has_target(r)]
        if not missing:
            return "already target regions"
        targets = [dict(t) for t in vr.raw_targets]  # every existing region exactly as Azure returned it
        targets += [
            {
                "name": r,
                "regionalReplicaCount": count or vr.default_count,
                "storageAccountType": storage or vr.default_storage,
            }
            for r in missing
        ]

        def hook(response: Any) -> None:
            monitor = response.http_response.headers.get("Azure-AsyncOperation")
            if monitor and response.http_request.method == "PATCH":
                shared["monitor"] = monitor

        with translated(ref.id):
            _patch(clients, ref, _targets_body(targets), wait=False, hook=hook)
        kept = ", ".join(region_key(str(t["name"])) for t in vr.raw_targets)
        return f"added {', '.join(missing)}; kept {kept} unchanged"

    what = ", ".join(regions)
    return Step(
        name="add-region",
        resource_id=ref.id,
        apply=apply,
        check=check,
        estimate_seconds=15,
        description=f"Add {what} to the target regions of {ref.label} (existing regions kept as they are)",
        intent={"add": list(regions), "count": count, "storage": storage},
    )


def follow_step(
    clients: AzureClients,
    ref: ImageRef,
    regions: tuple[str, ...],
    shared: dict[str, str],
    *,
    sleep: Sleep = time.sleep,
    timeout: float = FOLLOW_TIMEOUT,
) -> Step:
    def states(vr: VersionReplicas) -> dict[str, str]:
        out = {}
        for r in regions:
            rep = vr.region(r)
            if rep is None:
                raise AzureNotFound(
                    f"{r} is no longer a target region of {ref.label}",
                    resource_id=ref.id,
                    next_step=f"add it again with `/avd replicas add {r}`",
                )
            if rep.state == "Failed":
                raise _failure(clients, vr, r, shared.get("monitor"))
            out[r] = rep.state
        return out

    def check(ctx: StepContext) -> bool:
        return set(states(read_replicas(clients, ref)).values()) == {"Completed"}

    def apply(ctx: StepContext) -> str:
        started = time.monotonic()
        while True:
            vr = read_replicas(clients, ref)
            now = states(vr)
            reps = [rep for r in regions if (rep := vr.region(r)) is not None]
            if set(now.values()) == {"Completed"}:
                return "; ".join(
                    f"{rep.region}: Completed ({rep.replica_count} x {rep.storage})" for rep in reps
                )
            ctx.progress(
                sum(rep.progress for rep in reps) / len(reps),
                ", ".join(f"{rep.region} {rep.state} {rep.progress}%" for rep in reps),
            )
            if time.monotonic() - started > timeout:
                raise AzureUnavailable(
                    f"{ref.label} is still replicating to {', '.join(regions)}",
                    resource_id=ref.id,
                    next_step="the replica keeps going in Azure: follow it with `/avd replicas`",
                )
            sleep(vr.retry_after or clients.polling_interval)

    return Step(
        name="follow-replication",
        resource_id=ref.id,
        apply=apply,
        check=check,
        estimate_seconds=600,
        description=f"Follow replication to {', '.join(regions)} until Completed ({REPLICA_MINUTES})",
        intent={"follow": list(regions)},
    )


def remove_step(clients: AzureClients, ref: ImageRef, region: str) -> Step:
    def check(ctx: StepContext) -> bool:
        return not read_replicas(clients, ref).has_target(region)

    def apply(ctx: StepContext) -> str:
        vr = read_replicas(clients, ref)
        if not vr.has_target(region):
            return f"{region} was already gone"
        check_region(vr, region, removing=True)
        if vr.locked:
            raise ReplicaLocked(vr, region)
        targets = [dict(t) for t in vr.raw_targets if region_key(str(t.get("name", ""))) != region]
        with translated(ref.id):
            run_lro(ctx, _patch(clients, ref, _targets_body(targets), wait=True))
        return f"removed {region}; kept {', '.join(region_key(str(t['name'])) for t in targets)} unchanged"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(ref.id):
            versions: Any = clients.compute(ref.subscription).gallery_image_versions
            follow(
                ctx,
                versions.begin_update(
                    ref.resource_group, ref.gallery, ref.image, ref.version, {}, continuation_token=token
                ),
            )
        return f"removed {region} (re-attached)"

    return Step(
        name="remove-region",
        resource_id=ref.id,
        apply=apply,
        check=check,
        resume=resume,
        estimate_seconds=60,
        description=f"Remove {region} from the target regions of {ref.label}",
        intent={"remove": region},
    )


def safety_step(clients: AzureClients, ref: ImageRef, allow: bool) -> Step:
    def check(ctx: StepContext) -> bool:
        return read_replicas(clients, ref).allow_deletion == allow

    def apply(ctx: StepContext) -> str:
        body = {"safetyProfile": {"allowDeletionOfReplicatedLocations": allow}}
        with translated(ref.id):
            run_lro(ctx, _patch(clients, ref, body, wait=True))
        return f"'{LOCK_NAME}' {'off' if allow else 'on'}"

    return Step(
        name="allow-deletion" if allow else "restore-lock",
        resource_id=ref.id,
        apply=apply,
        check=check,
        estimate_seconds=30,
        intent={"allowDeletionOfReplicatedLocations": allow},
        description=f"Turn '{LOCK_NAME}' {'off' if allow else 'back on'} for {ref.label}",
        always=not allow,  # the lock comes back however the job ends (a failed removal included)
    )


def plan_add(
    clients: AzureClients,
    vr: VersionReplicas,
    regions: tuple[str, ...],
    *,
    count: int | None = None,
    storage: str | None = None,
    sleep: Sleep = time.sleep,
    timeout: float = FOLLOW_TIMEOUT,
) -> Plan:
    """Add ``regions`` (kept as typed, lower-case) and follow them to Completed."""
    keys = tuple(dict.fromkeys(region_key(r) for r in regions))
    shared: dict[str, str] = {}
    ref = vr.ref
    already = [r for r in keys if vr.has_target(r)]
    summary = (
        f"{', '.join(already)} already a target region: nothing to write, the job only follows it"
        if len(already) == len(keys)
        else f"{ref.label}: keeps {', '.join(r.region for r in vr.regions)}, adds "
        f"{', '.join(r for r in keys if r not in already)}"
    )
    steps = (
        add_step(clients, ref, keys, count, storage, shared),
        follow_step(clients, ref, keys, shared, sleep=sleep, timeout=timeout),
    )
    return Plan(kind=ADD, title=f"Replicate {ref.label} to {', '.join(keys)}", steps=steps, summary=summary)


def plan_remove(clients: AzureClients, vr: VersionReplicas, region: str) -> Plan:
    """Remove one region; raises ``ReplicaLocked`` when the safety profile would refuse it."""
    key = region_key(region)
    check_region(vr, key, removing=True)
    if vr.has_target(key) and vr.locked:
        raise ReplicaLocked(vr, key)
    return Plan(
        kind=REMOVE,
        title=f"Remove the {key} replica of {vr.ref.label}",
        verb=REMOVE,
        steps=(remove_step(clients, vr.ref, key),),
        summary=f"{vr.ref.label}: removes {key}",
    )


def plan_unlock_remove(clients: AzureClients, vr: VersionReplicas, region: str) -> Plan:
    """Allow deletion of replicated locations, remove ``region``, then turn the lock back on."""
    key = region_key(region)
    check_region(vr, key, removing=True)
    steps = (
        safety_step(clients, vr.ref, True),
        remove_step(clients, vr.ref, key),
        safety_step(clients, vr.ref, False),
    )
    return Plan(
        kind=UNLOCK_REMOVE,
        title=f"Allow deletion of replicated locations, then remove {key} from {vr.ref.label}",
        verb=REMOVE,
        steps=steps,
        summary=f"{vr.ref.label}: lock off, remove {key}, lock back on",
    )
