"""The TOML site config (``avd.toml``): sites, policy, failover policy, snapshot profiles, and their validation.

``load_site_config(path)`` and ``parse_site_config(raw)`` never raise for a bad value: they return the config
and one clear sentence per problem, so start-up can print them all at once (see ``bot.config.settings``).
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from avdcore.errors import UsageError
from bot.config.policy import Policy as Policy  # re-exported: bot.slack.authz, bot.engine.approvals
from bot.config.policy import parse_policy
from bot.config.schema import checked, describe, table, unknown_key
from commands.regions import canonical_region

SNAPSHOT_MODES = ("DifferentSubDifferentRegion", "DifferentSubSameRegion", "SameSubDifferentRegion")
POST_STEP_KINDS = ("assign_app_group",)


@dataclass(frozen=True)
class Site:
    name: str
    role: str  # primary | secondary
    subscription: str
    location: str
    scale_set_resource_group: str
    scale_set: str
    identity: str
    host_pool_resource_group: str
    host_pool: str
    network_resource_group: str = ""
    vnet: str = ""
    subnet: str = ""
    master_resource_group: str = ""
    gallery: str = ""
    image: str = ""
    image_version: str = ""
    application_group: str = ""
    workspace: str = ""
    vm_size: str = "Standard_D4s_v5"
    join_type: str = "entra"
    pair: str = ""
    dr_capacity: int = 2
    drill_capacity: int = 1
    scaling_plan: str = ""
    asr: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PostStep:
    """One ``[[failover.post_steps]]`` entry. ``assign_app_group``: ``principals`` (Entra object ids of users
    or groups) get Desktop Virtualization User on the DR site's application group; failback removes it."""

    kind: str
    principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class FailoverPolicy:
    user_grace_seconds: int = 300
    message_title: str = "AVD failover"
    message_body: str = (
        "This desktop is moving to the disaster-recovery site. You will be signed out in {seconds} seconds."
    )
    recheck_sessions: bool = True
    primary_timeout_seconds: int = 60
    post_steps: tuple[PostStep, ...] = ()

    @property
    def app_group_principals(self) -> tuple[str, ...]:
        """Every principal of every ``assign_app_group`` post-step, once each, in config order."""
        found = [p for step in self.post_steps if step.kind == "assign_app_group" for p in step.principals]
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class SnapshotProfile:
    name: str
    source_subscription: str
    source_resource_group: str
    target_subscription: str
    target_resource_group: str
    target_region: str
    mode: str = "DifferentSubDifferentRegion"
    tag_filter: str = ""
    sync: bool = False
    schedule: str = ""
    concurrency: int = 5
    allow_empty_source: bool = False

    @property
    def tag(self) -> tuple[str, str] | None:
        if not self.tag_filter:
            return None
        key, _, value = self.tag_filter.partition("=")
        return key, value


@dataclass(frozen=True)
class SiteConfig:
    tenant_id: str = ""
    join_app_name: str = "AVD-Join"
    join_app_object_id: str = ""
    register_script_uri: str = ""  # where DR instances download register-session-host.ps1 ("" = the default)
    sites: Mapping[str, Site] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    failover: FailoverPolicy = field(default_factory=FailoverPolicy)
    snapshot_profiles: Mapping[str, SnapshotProfile] = field(default_factory=dict)

    def site(self, name_or_location: str | None, *, role: str = "secondary") -> Site:
        """The site named (or located) so; ``None`` picks the first site with ``role``."""
        if name_or_location is None:
            for site in self.sites.values():
                if site.role == role:
                    return site
            raise KeyError(f"no {role} site configured")
        key = name_or_location.lower()
        for site in self.sites.values():
            if site.name.lower() == key:
                return site
        for site in self.sites.values():
            if site.location == canonical_region(name_or_location, strict=False):
                return site
        raise KeyError(name_or_location)

    def primary_of(self, site: Site) -> Site:
        if site.role == "primary":
            return site
        return self.sites[site.pair] if site.pair else self.site(None, role="primary")


def load_site_config(path: str | Path) -> tuple[SiteConfig, list[str]]:
    """Parse and validate the TOML site config; returns the config and its problems."""
    p = Path(path)
    if not p.exists():
        return SiteConfig(), [f"config file {p} not found: copy avd.example.toml to {p} (or set AVD_CONFIG)."]
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return SiteConfig(), [f"{p}: not valid TOML ({exc})."]
    return parse_site_config(raw, source=str(p))


TOP_KEYS = ("tenant_id", "join_app", "sites", "policy", "failover", "snapshot_profiles")
SITE_REQUIRED = (
    "subscription",
    "location",
    "scale_set_resource_group",
    "scale_set",
    "identity",
    "host_pool_resource_group",
    "host_pool",
)
PROFILE_REQUIRED = (
    "source_subscription",
    "source_resource_group",
    "target_subscription",
    "target_resource_group",
    "target_region",
)


def parse_site_config(raw: Mapping[str, Any], *, source: str = "config") -> tuple[SiteConfig, list[str]]:
    """Validate strictly: a wrong type, an unknown key or an unknown verb is a problem naming the key and the
    fix; the value is then left at its default, never coerced."""
    problems: list[str] = []
    problems += [unknown_key(f"{source}:", key, TOP_KEYS) for key in raw if key not in TOP_KEYS]
    sites = parse_sites(table(f"{source}: [sites]", raw.get("sites", {}), problems), source, problems)
    policy = parse_policy(raw.get("policy", {}), source, problems)

    fo = table(f"{source}: [failover]", raw.get("failover", {}), problems)
    post_steps, post_problems = parse_post_steps(fo.get("post_steps", []), sites, source)
    problems += post_problems
    failover = FailoverPolicy(
        **checked(f"{source}: [failover]", fo, FailoverPolicy, problems, skip=("post_steps",)),
        post_steps=post_steps,
    )
    for key in ("user_grace_seconds", "primary_timeout_seconds"):
        if getattr(failover, key) < 0:
            problems.append(f"{source}: [failover] {key} must be 0 or more.")

    profiles: dict[str, SnapshotProfile] = {}
    raw_profiles = table(f"{source}: [snapshot_profiles]", raw.get("snapshot_profiles", {}), problems)
    for name, body in raw_profiles.items():
        prof = parse_profile(
            name, table(f"{source}: [snapshot_profiles.{name}]", body, problems), source, problems
        )
        if prof is not None:
            profiles[name] = prof

    jo = checked(
        f"{source}: [join_app]",
        table(f"{source}: [join_app]", raw.get("join_app", {}), problems),
        _JoinApp,
        problems,
    )
    tenant = raw.get("tenant_id", "")
    if not isinstance(tenant, str):
        problems.append(
            f'{source}: tenant_id must be a string (e.g. tenant_id = "<GUID>"), not {describe(tenant)}.'
        )
        tenant = ""
    config = SiteConfig(
        tenant_id=tenant,
        join_app_name=jo.get("name", "AVD-Join"),
        join_app_object_id=jo.get("app_object_id", ""),
        register_script_uri=register_script_uri(jo.get("register_script_uri", ""), source, problems),
        sites=sites,
        policy=policy,
        failover=failover,
        snapshot_profiles=profiles,
    )
    return config, problems


@dataclass(frozen=True)
class _JoinApp:
    """``[join_app]``'s keys (the schema only)."""

    name: str = "AVD-Join"
    app_object_id: str = ""
    register_script_uri: str = ""


def register_script_uri(value: str, source: str, problems: list[str]) -> str:
    """An https URL the DR instances can read (the Custom Script extension downloads it); "" keeps the default."""
    if value and not value.startswith("https://"):
        problems.append(
            f"{source}: [join_app] register_script_uri must be an https:// URL the DR instances can read "
            f"(publish deploy/scripts/register-session-host.ps1 there), not {value!r}."
        )
        return ""
    return value


def parse_sites(raw_sites: Mapping[str, Any], source: str, problems: list[str]) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    if not raw_sites:
        problems.append(f"{source}: no [sites.*] tables: describe at least a primary and a secondary site.")
    for name, raw_body in raw_sites.items():
        where = f"{source}: [sites.{name}]"
        body = table(where, raw_body, problems)
        good = checked(where, body, Site, problems, exclude=("name",))
        missing = [k for k in SITE_REQUIRED if body.get(k) in (None, "")]
        if missing:
            problems.append(f"{where} is missing {', '.join(missing)}.")
        if missing or any(k not in good for k in SITE_REQUIRED):
            continue
        try:
            good["location"] = canonical_region(good["location"])
        except UsageError as exc:
            problems.append(f"{where} location: {exc.message} {exc.hint}".strip())
        good.setdefault("role", "primary" if not sites else "secondary")
        if good["role"] not in ("primary", "secondary"):
            problems.append(f"{where} role must be primary or secondary, not {good['role']!r}.")
        for key in ("dr_capacity", "drill_capacity"):
            if good.get(key, 0) < 0:
                problems.append(f"{where} {key} must be 0 or more.")
        sites[name] = Site(name=name, **good)
    roles = [s.role for s in sites.values()]
    if sites and "primary" not in roles:
        problems.append(f'{source}: no site has role = "primary".')
    if sites and "secondary" not in roles:
        problems.append(f'{source}: no site has role = "secondary": add the DR site (e.g. [sites.dr]).')
    for site in sites.values():
        if site.pair and site.pair not in sites:
            problems.append(f"{source}: [sites.{site.name}] pair = {site.pair!r} names a missing site.")
    return sites


def parse_profile(
    name: str, body: Mapping[str, Any], source: str, problems: list[str]
) -> SnapshotProfile | None:
    where = f"{source}: [snapshot_profiles.{name}]"
    good = checked(where, body, SnapshotProfile, problems, exclude=("name",))
    missing = [k for k in PROFILE_REQUIRED if k not in good and k not in body]
    if missing:
        problems.append(f"{where} is missing {', '.join(missing)}.")
    if any(k not in good for k in PROFILE_REQUIRED):
        return None
    prof = SnapshotProfile(name=name, **good)
    try:
        prof = replace(prof, target_region=canonical_region(prof.target_region))
    except UsageError as exc:
        problems.append(f"{where} target_region: {exc.message} {exc.hint}".strip())
    if prof.mode not in SNAPSHOT_MODES:
        problems.append(f"{where} mode must be one of {', '.join(SNAPSHOT_MODES)}.")
    if prof.tag_filter and ("=" not in prof.tag_filter or prof.tag_filter.startswith("=")):
        problems.append(f"{where} tag_filter must be exact key=value.")
    if prof.concurrency < 1:
        problems.append(f"{where} concurrency must be at least 1.")
    return prof


def parse_post_steps(
    raw: Any, sites: Mapping[str, Site], source: str
) -> tuple[tuple[PostStep, ...], list[str]]:
    """``[[failover.post_steps]]`` -> ``PostStep``s; one problem per bad entry (kind, principals, keys)."""
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) for entry in raw):
        return (), [
            f"{source}: [failover] post_steps must be an array of tables: write [[failover.post_steps]]."
        ]
    steps: list[PostStep] = []
    problems: list[str] = []
    for number, entry in enumerate(raw, 1):
        where = f"{source}: [[failover.post_steps]] #{number}"
        kind = entry.get("kind")
        if kind not in POST_STEP_KINDS:
            said = f"unknown kind {kind!r}" if kind is not None else "no kind"
            problems.append(f"{where}: {said}; the kinds are {', '.join(POST_STEP_KINDS)}.")
            continue
        unknown = sorted(set(entry) - {"kind", "principals"})
        principals = entry.get("principals")
        if unknown:
            problems.append(f"{where} ({kind}) has unknown keys {', '.join(unknown)}.")
        elif not principals or not isinstance(principals, list):
            problems.append(
                f"{where} ({kind}) has no principals: list the Entra object ids of the users or "
                'groups to assign, e.g. principals = ["<group object id>"].'
            )
        elif bad := [str(p) for p in principals if not _is_guid(p)]:
            problems.append(
                f"{where} ({kind}): {', '.join(bad)} not an Entra object id (a GUID); use the object "
                "id, not a name or UPN."
            )
        else:
            steps.append(PostStep(kind=kind, principals=tuple(str(p).lower() for p in principals)))
    if any(step.kind == "assign_app_group" for step in steps):
        for site in sites.values():
            if site.role == "secondary" and not site.application_group:
                problems.append(
                    f"{source}: [sites.{site.name}] has no application_group: the post-step "
                    "assign_app_group assigns users to it."
                )
    return tuple(steps), problems


def _is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
