"""DR readiness of a site pair: concurrent reads, then one red/amber/green line per check with a next action.

``read_pair(clients, pair)`` reads the primary scale set and the replica of the image version it uses, the DR
identity and the join app's federated credentials (Graph), the DR scale set and both host pools with their
session hosts, on a small thread pool; ``assess`` turns the results into ``Line``s (pure). Snapshot sync
history lives in the bot's jobs table, so the bot adds those lines with ``snapshot_line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from avdcore.errors import AvdError, AzureNotFound, AzureUnavailable
from azureops import identities, joinchain
from azureops.clients import AzureClients
from azureops.errors import project_error, translated
from azureops.gallery import (
    REPLICA_MINUTES,
    ImageRef,
    VersionReplicas,
    parse_image_id,
    read_replicas,
    resolve,
)

GREEN, AMBER, RED = "green", "amber", "red"
ORDER = {GREEN: 0, AMBER: 1, RED: 2}
FIC_LIMIT = 20
READ_TIMEOUT = 20.0


@dataclass(frozen=True)
class SiteRefs:
    name: str
    subscription: str
    location: str
    scale_set_resource_group: str
    scale_set: str
    identity: str
    host_pool_resource_group: str
    host_pool: str
    dr_capacity: int = 0


@dataclass(frozen=True)
class PairRefs:
    primary: SiteRefs
    secondary: SiteRefs
    image: ImageRef  # the configured image version, used when the primary scale set names none
    join_app_object_id: str = ""
    join_app_name: str = "AVD-Join"
    tenant_id: str = ""

    @property
    def join_app(self) -> identities.JoinApp:
        return identities.JoinApp(self.join_app_object_id, self.join_app_name, self.tenant_id)


@dataclass(frozen=True)
class Line:
    topic: str
    colour: str
    text: str
    action: str = ""


@dataclass(frozen=True)
class PairReadiness:
    primary: str
    secondary: str
    lines: tuple[Line, ...]

    @property
    def colour(self) -> str:
        return worst(line.colour for line in self.lines)


def worst(colours: Any) -> str:
    return max(colours, key=lambda c: ORDER[c], default=GREEN)


@dataclass(frozen=True)
class Reads:
    """What ``read_pair`` found; each value is the result, ``None`` (not found) or the ``AvdError``."""

    replicas: VersionReplicas | AvdError | None
    primary_vmss: dict[str, Any] | AvdError | None
    dr_vmss: dict[str, Any] | AvdError | None
    identity: dict[str, Any] | AvdError | None
    credentials: list[dict[str, Any]] | AvdError | None
    primary_pool: tuple[dict[str, Any], list[dict[str, Any]]] | AvdError | None
    dr_pool: tuple[dict[str, Any], list[dict[str, Any]]] | AvdError | None
    join_role: joinchain.JoinRole | AvdError | None = None  # AVD-Join's role on the DR host pool's group


def prop(body: Mapping[str, Any] | None, camel: str) -> Any:
    """A field from REST JSON (``properties.camelCase``) or an msrest ``as_dict()`` (flattened snake_case)."""
    body = body or {}
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    for where in (body.get("properties") or {}, body):
        for key in (camel, snake):
            if key in where:
                return where[key]
    return None


def _vmss_id(s: SiteRefs) -> str:
    return (
        f"/subscriptions/{s.subscription}/resourceGroups/{s.scale_set_resource_group}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{s.scale_set}"
    )


def _optional(fn: Callable[[], Any], resource_id: str) -> Any:
    """``fn()``; ``None`` when Azure says 404; the project error for any other failure."""
    try:
        with translated(resource_id):
            return fn()
    except AzureNotFound:
        return None


def image_of(vmss: Mapping[str, Any] | None) -> str:
    props = (vmss or {}).get("properties") or {}
    ref = ((props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get("imageReference") or {}
    return str(ref.get("id") or "")


def read_pair(clients: AzureClients, pair: PairRefs, *, timeout: float = READ_TIMEOUT) -> Reads:
    p, s = pair.primary, pair.secondary

    def vmss(site: SiteRefs) -> Any:
        return _optional(
            lambda: (
                clients.compute(site.subscription)
                .virtual_machine_scale_sets.get(site.scale_set_resource_group, site.scale_set)
                .as_dict()
            ),
            _vmss_id(site),
        )

    def replicas_and_primary() -> tuple[Any, Any]:
        primary = vmss(p)
        ref = parse_image_id(image_of(primary)) or pair.image
        return read_replicas(clients, resolve(clients, ref)), primary

    def identity() -> Any:
        rid = (
            f"/subscriptions/{s.subscription}/resourceGroups/{s.scale_set_resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{s.identity}"
        )
        return _optional(
            lambda: (
                clients.msi(s.subscription)
                .user_assigned_identities.get(s.scale_set_resource_group, s.identity)
                .as_dict()
            ),
            rid,
        )

    def credentials() -> Any:
        if not pair.join_app_object_id:
            return None
        with translated(f"graph: application {pair.join_app_name}"):
            return clients.graph.list_federated_credentials(pair.join_app_object_id)

    def pool(site: SiteRefs) -> Any:
        avd = clients.avd(site.subscription)
        rid = (
            f"/subscriptions/{site.subscription}/resourceGroups/{site.host_pool_resource_group}/providers/"
            f"Microsoft.DesktopVirtualization/hostPools/{site.host_pool}"
        )

        def read() -> Any:
            body = avd.host_pools.get(site.host_pool_resource_group, site.host_pool).as_dict()
            hosts = [
                h.as_dict() for h in avd.session_hosts.list(site.host_pool_resource_group, site.host_pool)
            ]
            return body, hosts

        return _optional(read, rid)

    def join_role() -> Any:
        if not pair.join_app_object_id:
            return None
        return joinchain.read_role(clients, pair.join_app, s.subscription, s.host_pool_resource_group)

    tasks: dict[str, Callable[[], Any]] = {
        "join_role": join_role,
        "replicas": replicas_and_primary,
        "dr_vmss": lambda: vmss(s),
        "identity": identity,
        "credentials": credentials,
        "primary_pool": lambda: pool(p),
        "dr_pool": lambda: pool(s),
    }
    out: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="avd-readiness") as pool_:
        futures = {name: pool_.submit(fn) for name, fn in tasks.items()}
        for name, fut in futures.items():
            try:
                out[name] = fut.result(timeout=timeout)
            except FutureTimeout:
                out[name] = AzureUnavailable(
                    f"no answer from Azure within {timeout:.0f}s",
                    next_step="run /avd status again in a minute",
                )
            except Exception as exc:  # noqa: BLE001 - each check reports its own failure
                err = project_error(exc)
                if err is None:
                    raise
                out[name] = err
    both = out.pop("replicas")
    replicas, primary = (both, both) if isinstance(both, AvdError) else both
    return Reads(replicas=replicas, primary_vmss=primary, **out)


def replica_line(reads: Reads, pair: PairRefs) -> Line:
    region = pair.secondary.location
    vr = reads.replicas
    if isinstance(vr, AvdError) or vr is None:
        return Line("Image replica", RED, f"cannot read the image version: {vr}", _next(vr))
    rep = vr.region(region)
    label = vr.ref.label
    if rep is None:
        return Line(
            "Image replica",
            RED,
            f"no replica of {label} in {region}",
            f"`/avd replicas add {region}` ({REPLICA_MINUTES})",
        )
    if rep.state == "Completed":
        return Line(
            "Image replica", GREEN, f"{label} in {region}: Completed ({rep.replica_count} x {rep.storage})"
        )
    if rep.state == "Failed":
        return Line(
            "Image replica",
            RED,
            f"replica of {label} in {region} Failed: {rep.details[:150]}",
            f"see `/avd replicas`; fix the cause, then `/avd replicas remove {region}` and add it again",
        )
    return Line(
        "Image replica",
        AMBER,
        f"{label} in {region}: {rep.state} {rep.progress}%",
        f"wait ({REPLICA_MINUTES}); follow with `/avd replicas`",
    )


def identity_line(reads: Reads, pair: PairRefs) -> Line:
    s = pair.secondary
    create = f"`/avd identity create {s.name}`"
    if isinstance(reads.identity, AvdError):
        return Line(
            "DR identity", RED, f"cannot read identity {s.identity}: {reads.identity}", _next(reads.identity)
        )
    if reads.identity is None:
        return Line("DR identity", RED, f"no identity {s.identity} in {s.scale_set_resource_group}", create)
    if isinstance(reads.credentials, AvdError):
        return Line(
            "DR identity",
            AMBER,
            f"{s.identity} exists; cannot read {pair.join_app_name}'s federated "
            f"credentials: {reads.credentials.message}",
            _next(reads.credentials),
        )
    creds = reads.credentials or []
    principal = str(prop(reads.identity, "principalId") or "")
    used = f"{len(creds)} of {FIC_LIMIT} slots used"
    if not any(str(c.get("subject", "")) == principal for c in creds):
        return Line(
            "DR identity",
            RED,
            f"{s.identity} has no federated credential on {pair.join_app_name} ({used})",
            create,
        )
    colour = AMBER if len(creds) >= FIC_LIMIT - 2 else GREEN
    action = f"free slots on {pair.join_app_name} before adding sites" if colour == AMBER else ""
    return Line("DR identity", colour, f"{s.identity} federated on {pair.join_app_name} ({used})", action)


def scale_set_line(reads: Reads, pair: PairRefs) -> Line:
    s = pair.secondary
    dr = reads.dr_vmss
    if isinstance(dr, AvdError):
        return Line("DR scale set", RED, f"cannot read {s.scale_set}: {dr}", _next(dr))
    if dr is None:
        return Line(
            "DR scale set",
            RED,
            f"no scale set {s.scale_set} in {s.scale_set_resource_group}",
            f"`/avd scaleset create {s.name}`",
        )
    capacity = int((dr.get("sku") or {}).get("capacity") or 0)
    dr_ref = parse_image_id(image_of(dr))
    primary = reads.primary_vmss if isinstance(reads.primary_vmss, dict) else None
    p_ref = parse_image_id(image_of(primary))
    have = f"capacity {capacity} (a failover brings {s.dr_capacity})"
    if dr_ref is None or p_ref is None or dr_ref.id.lower() != p_ref.id.lower():
        theirs = p_ref.label if p_ref else "unknown"
        return Line(
            "DR scale set",
            AMBER,
            f"{s.scale_set} uses {dr_ref.label if dr_ref else 'another image'}, "
            f"primary uses {theirs}; {have}",
            f"rebuild {s.scale_set} from {theirs}",
        )
    return Line("DR scale set", GREEN, f"{s.scale_set}: same image {dr_ref.label}; {have}")


def pool_line(topic: str, site: SiteRefs, found: Any, *, primary: bool) -> Line:
    if isinstance(found, AvdError):
        return Line(topic, RED, f"cannot read {site.host_pool}: {found}", _next(found))
    if found is None:
        return Line(
            topic,
            RED,
            f"no host pool {site.host_pool} in {site.host_pool_resource_group}",
            "fix the name in avd.toml or create the host pool; `/avd doctor` checks the config",
        )
    _, hosts = found
    draining = sum(1 for h in hosts if prop(h, "allowNewSession") is False)
    unavailable = sum(1 for h in hosts if prop(h, "status") not in ("Available", None))
    available = sum(
        1 for h in hosts if prop(h, "status") == "Available" and prop(h, "allowNewSession") is not False
    )
    sessions = sum(int(prop(h, "sessions") or 0) for h in hosts)
    text = (
        f"{site.host_pool}: {available} available, {draining} draining, {unavailable} unavailable; "
        f"{sessions} active session(s)"
    )
    if primary and hosts and not available:
        return Line(topic, RED, text, f"no host takes new sessions: `/avd failover plan {site.name}`")
    if unavailable:
        return Line(topic, AMBER, text, f"check the unavailable session hosts of {site.host_pool}")
    return Line(topic, GREEN, text)


def drift_line(reads: Reads) -> Line:
    p = reads.primary_pool[0] if isinstance(reads.primary_pool, tuple) else None
    d = reads.dr_pool[0] if isinstance(reads.dr_pool, tuple) else None
    pv = reads.primary_vmss if isinstance(reads.primary_vmss, dict) else None
    dv = reads.dr_vmss if isinstance(reads.dr_vmss, dict) else None
    if p is None or d is None or pv is None or dv is None:
        return Line(
            "Drift",
            AMBER,
            "cannot compare primary and DR: a scale set or host pool is missing",
            "fix the red lines first",
        )
    diffs = []
    pi, di = parse_image_id(image_of(pv)), parse_image_id(image_of(dv))
    if (pi.id.lower() if pi else "") != (di.id.lower() if di else ""):
        diffs.append(f"image version {pi.label if pi else '?'} vs {di.label if di else '?'}")
    for key, label in (
        ("hostPoolType", "host pool type"),
        ("loadBalancerType", "load balancing"),
        ("maxSessionLimit", "max sessions"),
    ):
        a, b = prop(p, key), prop(d, key)
        if a != b:
            diffs.append(f"{label} {a} vs {b}")
    if diffs:
        return Line(
            "Drift", AMBER, "primary vs DR: " + "; ".join(diffs), "align the DR site with the primary"
        )
    return Line("Drift", GREEN, "none: image version, host pool type, load balancing and max sessions match")


def snapshot_line(profile: str, last: Mapping[str, Any] | None, now: datetime) -> Line:
    """From the newest ``snapshots sync`` job of ``profile`` (``status``, ``finished_at``), or None."""
    topic = f"Snapshots {profile}"
    action = f"`/avd snapshots sync {profile}`"
    if not last:
        return Line(topic, AMBER, "never synced", action)
    when = str(last.get("finished_at") or last.get("created_at") or "")
    if last.get("status") == "failed":
        return Line(topic, RED, f"last sync failed ({when[:16]})", f"`/avd job {last.get('id')}` says why")
    if last.get("status") != "done":
        return Line(topic, AMBER, f"a sync is {last.get('status')}", "wait for it: `/avd jobs`")
    age = (now - datetime.fromisoformat(when)).total_seconds() / 3600 if when else None
    text = f"last synced {when[:16].replace('T', ' ')} UTC"
    return Line(
        topic, AMBER if age is None or age > 7 * 24 else GREEN, text, action if age and age > 168 else ""
    )


def chain_links(reads: Reads, pair: PairRefs, now: datetime) -> list[joinchain.Link]:
    """Each link of the DR identity chain (``azureops.joinchain``) from what ``read_pair`` found."""
    s = pair.secondary
    ident_id = identities.identity_id(s.subscription, s.scale_set_resource_group, s.identity)
    vmss = reads.dr_vmss if isinstance(reads.dr_vmss, dict) else None
    identity = reads.identity if isinstance(reads.identity, dict) else None
    pool = reads.dr_pool[0] if isinstance(reads.dr_pool, tuple) else None
    return [
        joinchain.identity_link(vmss, ident_id, s.name, s.scale_set),
        joinchain.credential_link(identity, reads.credentials, pair.join_app, s.name, s.identity),
        joinchain.role_link(reads.join_role, pair.join_app_name, s.subscription, s.host_pool_resource_group),
        joinchain.fallback_link(pool, s.host_pool, now, s.name),
    ]


def chain_line(reads: Reads, pair: PairRefs, now: datetime) -> Line:
    """One line: can a DR instance added outside the bot register on its own?"""
    links = chain_links(reads, pair, now)
    topic = "DR registration chain"
    if links[0].status == joinchain.TODO:
        return Line(topic, AMBER, f"checked once {pair.secondary.scale_set} exists", links[0].fix)
    chain = [link for link in links if link.name != "fallback"]
    broken = [link for link in chain if link.status != joinchain.OK]
    fallback = links[-1]
    if not broken:
        return Line(topic, GREEN, "identity, federated credential and AVD-Join's role hold: " + fallback.text)
    first = broken[0]
    unknown = all(link.status == joinchain.UNKNOWN for link in broken)
    colour = AMBER if unknown or fallback.status == joinchain.OK else RED
    also = "" if fallback.status == joinchain.OK else f"; {fallback.text}"
    return Line(topic, colour, f"{first.name}: {first.text}{also}", first.fix or _next(None))


def assess(reads: Reads, pair: PairRefs, now: datetime | None = None) -> list[Line]:
    lines = [
        replica_line(reads, pair),
        identity_line(reads, pair),
        scale_set_line(reads, pair),
        pool_line("Primary host pool", pair.primary, reads.primary_pool, primary=True),
        pool_line("DR host pool", pair.secondary, reads.dr_pool, primary=False),
        drift_line(reads),
    ]
    if now is not None:
        lines.insert(3, chain_line(reads, pair, now))
    return lines


def _next(err: AvdError | None) -> str:
    return str(getattr(err, "next_step", "") or "run `/avd doctor`")
