"""``/avd doctor``: the config checked against Azure, the bot identity's permissions per resource group, its
Microsoft Graph right to write the join app's federated credentials, and each DR site's identity chain (the
scale set's identity, the join app's federated credential for it, the join app's role on the host pool's
resource group, the registration token fallback), each missing link with its fix; and whether the users of each
Entra-joined DR site's desktop may sign in to its hosts (Virtual Machine User Login on the scale set's group)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from avdcore.errors import UsageError
from azureops import assignments, doctor, identities, joinchain
from azureops.clients import AzureClients
from azureops.graphaccess import GraphAccess
from bot.capabilities.status import in_background
from bot.config.siteconfig import Policy, SiteConfig
from bot.runtime import Capability, CommandContext, Runtime
from bot.slack import render
from bot.storage import leases, schedules
from commands import ops
from commands.cron import MIN_INTERVAL_MINUTES, shortest_gap

ICON = {
    "ok": ":white_check_mark:",
    "todo": ":large_orange_circle:",
    "unchecked": ":large_orange_circle:",
    "missing": ":x:",
    "error": ":x:",
}


def groups(cfg: SiteConfig) -> list[doctor.Group]:
    """Every resource group the config names, with its purposes (in first-seen order)."""
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def add(sub: str, rg: str, purpose: str) -> None:
        if sub and rg:
            _, purposes = found.setdefault((sub.lower(), rg.lower()), (rg, []))
            if purpose not in purposes:
                purposes.append(purpose)

    for site in cfg.sites.values():
        add(site.subscription, site.network_resource_group, "network")
        add(site.subscription, site.master_resource_group, "master")
        add(site.subscription, site.scale_set_resource_group, "scaleset")
        add(site.subscription, site.host_pool_resource_group, "hostpool")
        if site.role == "secondary" and cfg.failover.app_group_principals:
            add(site.subscription, site.host_pool_resource_group, "appaccess")  # post-step role assignments
    for prof in cfg.snapshot_profiles.values():
        add(prof.source_subscription, prof.source_resource_group, "snapshots")
        add(prof.target_subscription, prof.target_resource_group, "snapshots")
    return [doctor.Group(sub, rg, tuple(p)) for (sub, _), (rg, p) in found.items()]


def checks(clients: AzureClients, cfg: SiteConfig) -> list[doctor.Check]:
    out = [doctor.group_check(clients, g) for g in groups(cfg)]
    for site in cfg.sites.values():
        sub = site.subscription
        if site.network_resource_group and site.vnet and site.subnet:
            out.append(doctor.subnet_check(clients, sub, site.network_resource_group, site.vnet, site.subnet))
        if site.master_resource_group and site.gallery:
            out += doctor.gallery_checks(
                clients, sub, site.master_resource_group, site.gallery, site.image, site.image_version
            )
        out.append(doctor.host_pool_check(clients, sub, site.host_pool_resource_group, site.host_pool))
        secondary = site.role == "secondary"
        out.append(
            doctor.identity_check(
                clients,
                sub,
                site.scale_set_resource_group,
                site.identity,
                f"`/avd identity create {site.name}`" if secondary else "",
            )
        )
        out.append(
            doctor.scale_set_check(
                clients,
                sub,
                site.scale_set_resource_group,
                site.scale_set,
                f"`/avd scaleset create {site.name}`" if secondary else "",
            )
        )
    return out


def graph_lines(g: GraphAccess) -> list[str]:
    """The Graph group: may the bot write the join app's credentials, how many are used, or what to grant."""
    used = f" · {g.used} of {identities.FIC_LIMIT} credentials used" if g.used is not None else ""
    if g.ok:
        return [f":white_check_mark: can write federated credentials ({g.how}){used}"]
    if g.status == "missing":
        return [
            f":x: cannot write federated credentials: missing {' and '.join(g.missing)}{used}",
            f"      → {g.next_step}",
        ]
    if g.status == "unknown":
        return [f":large_orange_circle: not checked: {g.detail} → {g.next_step}"]
    return [f":x: cannot read the bot's Graph rights: {g.detail}", f"      → {g.next_step}"]


def join_app(cfg: SiteConfig) -> identities.JoinApp | None:
    if not cfg.join_app_object_id:
        return None
    return identities.JoinApp(
        object_id=cfg.join_app_object_id, name=cfg.join_app_name, tenant_id=cfg.tenant_id
    )


def policy_lines(policy: Policy) -> list[str]:
    """The approval policy: every destructive verb the config lets run without a second person."""
    if not policy.exempted:
        return [":white_check_mark: every destructive verb waits for an approver"]
    return [
        f":warning: `{verb}` runs without approval ([policy] exempt_from_approval)"
        for verb in policy.exempted
    ]


def doctor_reply(
    report: doctor.Report,
    *,
    simulated: bool = False,
    policy: Policy | None = None,
    bot: list[str] | None = None,
) -> render.Reply:
    """Config findings, then per resource group exactly which actions are missing and the role to assign."""
    lines = [*(bot or []), *(policy_lines(policy) if policy is not None else [])]
    for f in report.findings:
        detail = f": {f.detail}" if f.detail else ""
        nxt = f" → {f.next_step}" if f.next_step and f.status != "ok" else ""
        lines.append(f"{ICON[f.status]} {f.what}{detail}{nxt}")
    perms = []
    for a in report.access:
        roles = ", ".join(f"`{r}`" for r in a.role_files)
        if a.error:
            perms.append(f":x: *{a.group.name}*: cannot read permissions: {a.error}")
        elif a.missing:
            perms.append(
                f":x: *{a.group.name}* ({', '.join(a.group.purposes)}) is missing {len(a.missing)} action(s); "
                f"assign {roles}:"
            )
            perms += [
                f"      • `{action}` (needed by {', '.join(users)})" for action, users in a.missing.items()
            ]
        else:
            perms.append(
                f":white_check_mark: *{a.group.name}* ({', '.join(a.group.purposes)}): every needed action"
            )
    verdict = "everything checks out" if report.healthy else "problems found"
    blocks: list[Block] = [
        HeaderBlock(text="avd-ops doctor"),
        SectionBlock(text=MarkdownTextObject(text=f"*Config against Azure* · {verdict}")),
    ]
    blocks += render.sections("\n".join(lines) or "(nothing configured)")
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Permissions of the bot's identity*")))
    blocks += render.sections("\n".join(perms) or "(no resource groups)")
    graph = graph_lines(report.graph) if report.graph is not None else []
    if report.graph is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Microsoft Graph: {report.graph.app}*")))
        blocks += render.sections("\n".join(graph))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Custom roles: `deploy/roles/*.json` (least privilege, one per resource group purpose). "
                    "Graph: `deploy/graph/avd-ops-graph-permission.json` (Application.ReadWrite.OwnedBy + app owner)."
                )
            ]
        )
    )
    titled = [f"Microsoft Graph: {report.graph.app}", *graph] if report.graph is not None else []
    text = f"avd-ops doctor: {verdict}\n" + "\n".join(lines + perms + titled)
    return render.Reply(text=text[:3000], blocks=render.card(blocks, simulated=simulated))


def chains(cfg: SiteConfig) -> list[joinchain.SiteChain]:
    """The DR identity chain of every secondary site (docs/simulator.md, "Rules: the DR identity chain")."""
    return [
        joinchain.SiteChain(
            site.name,
            site.subscription,
            site.scale_set_resource_group,
            site.scale_set,
            site.identity,
            site.host_pool_resource_group,
            site.host_pool,
        )
        for site in cfg.sites.values()
        if site.role == "secondary"
    ]


def login_findings(clients: AzureClients, cfg: SiteConfig) -> list[doctor.Finding]:
    """Each Entra-joined secondary site: may the DR desktop's users sign in to its hosts?"""
    out = []
    for site in cfg.sites.values():
        if site.role != "secondary" or site.join_type != "entra":
            continue
        primary = cfg.sites.get(site.pair)
        groups = [
            assignments.AppGroupRef(s.subscription, s.host_pool_resource_group, s.application_group)
            for s in (site, primary)
            if s is not None and s.application_group
        ]
        vm_group = assignments.ScopeRef(
            site.subscription, site.scale_set_resource_group, site.scale_set_resource_group
        )
        out.append(
            doctor.login_finding(clients, site.name, vm_group, groups, cfg.failover.app_group_principals)
        )
    return out


def diagnose(runtime: Runtime, now: datetime) -> doctor.Report:
    """The config, permission and Graph checks, then each secondary site's DR identity chain."""
    cfg = runtime.settings.config
    app = join_app(cfg)
    report = doctor.diagnose(
        runtime.azure,
        checks(runtime.azure, cfg),
        groups(cfg),
        join_app=app,
        client_id=runtime.settings.azure_client_id,
    )
    found = [f for c in chains(cfg) for f in doctor.chain_findings(runtime.azure, c, app, now)]
    found += login_findings(runtime.azure, cfg)
    return replace(report, findings=report.findings + tuple(found))


def run_doctor(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    cfg = runtime.settings.config
    in_background(
        runtime,
        ctx,
        lambda: doctor_reply(
            diagnose(runtime, ctx.now),
            simulated=runtime.simulated_azure,
            policy=cfg.policy,
            bot=bot_lines(runtime, runtime.clock()),
        ),
    )


# ---- the bot's own processes (leader branch: bot.engine.leader) -----------------------------------


def bot_lines(runtime: Runtime, now: datetime) -> list[str]:
    """Which process leads (arms schedules, sweeps approvals), and schedules stored before the minimum."""
    lease = leases.current(runtime.store, leases.LEADER)
    if lease is None or not lease.owner or lease.expires_at <= now.timestamp():
        out = [":warning: no bot process leads now: a standby takes over within AVD_LEADER_LEASE_SECONDS"]
    else:
        since = datetime.fromtimestamp(lease.acquired_at, UTC)
        out = [f":white_check_mark: leader `{lease.owner}` since {since:%Y-%m-%d %H:%M:%S} UTC"]
    for row in schedules.listed(runtime.store):
        cron = str(row.get("cron") or "")
        with contextlib.suppress(UsageError):  # a cron no longer valid is not armed (logged at start-up)
            if not cron or shortest_gap(cron) >= MIN_INTERVAL_MINUTES:
                continue
            out.append(
                f":warning: schedule `{row['id']}` (`{cron}`) predates the {MIN_INTERVAL_MINUTES}-minute minimum:"
                f" it fires at most every {MIN_INTERVAL_MINUTES} minutes → set it again"
            )
    return out


CAPABILITY = Capability(name="doctor", handlers={ops.Doctor: run_doctor})
