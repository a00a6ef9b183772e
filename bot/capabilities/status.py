"""``/avd status``: DR readiness of every site pair, red/amber/green per line, each with one next action.

Also home of ``in_background``: read-only capabilities hand their Azure reads to a small reader pool so
Bolt's listener threads never wait on Azure; the answer is the single update after the (empty) ack.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from azureops import readiness
from azureops.errors import project_error
from azureops.gallery import ImageRef, user_terms
from bot import render
from bot.settings import Site, SiteConfig
from commands import ops
from commands.errors import AzureError

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.listeners import CommandContext

log = logging.getLogger(__name__)
READERS = 4
ICON = {readiness.GREEN: ":large_green_circle:", readiness.AMBER: ":large_orange_circle:",
        readiness.RED: ":red_circle:"}


# ---- background answers --------------------------------------------------------------------------


def readers(runtime: Runtime) -> ThreadPoolExecutor:
    pool: ThreadPoolExecutor | None = runtime.extensions.get("readers")
    if pool is None:
        pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="avd-reader")
        runtime.extensions["readers"] = pool
    return pool


def answer(runtime: Runtime, work: Callable[[], render.Reply | None]) -> render.Reply | None:
    """Run ``work``; project errors become their reply (Azure errors in the user's terms), bugs an incident."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - every outcome is answered
        err = project_error(exc)
        if err is None:
            incident = uuid.uuid4().hex[:8]
            log.error("incident %s: background read failed", incident, exc_info=exc)
            return render.Reply(text=render.internal_error(incident))
        return render.user_error(user_terms(err) if isinstance(err, AzureError) else err)


def in_background(runtime: Runtime, ctx: CommandContext, work: Callable[[], render.Reply | None]) -> None:
    """Answer ``ctx`` from the reader pool with ``work()``'s reply (``None``: ``work`` answered itself)."""
    def run() -> None:
        reply = answer(runtime, work)
        if reply is not None:
            ctx.respond(**reply.to_dict())

    readers(runtime).submit(run)


# ---- config -> plain values ----------------------------------------------------------------------


def site_refs(site: Site) -> readiness.SiteRefs:
    return readiness.SiteRefs(site.name, site.subscription, site.location, site.scale_set_resource_group,
                              site.scale_set, site.identity, site.host_pool_resource_group, site.host_pool,
                              site.dr_capacity)


def pairs(cfg: SiteConfig) -> list[readiness.PairRefs]:
    out = []
    for site in cfg.sites.values():
        if site.role != "secondary":
            continue
        primary = cfg.primary_of(site)
        image = ImageRef(primary.subscription, primary.master_resource_group, primary.gallery, primary.image,
                         primary.image_version)
        out.append(readiness.PairRefs(site_refs(primary), site_refs(site), image, cfg.join_app_object_id,
                                      cfg.join_app_name))
    return out


def last_syncs(runtime: Runtime) -> dict[str, dict[str, Any] | None]:
    """The newest ``snapshots sync`` job per configured profile (``None``: never)."""
    found: dict[str, dict[str, Any] | None] = {p: None for p in runtime.settings.config.snapshot_profiles}
    try:
        rows = list(runtime.store.db.query(
            "select id, status, op_json, created_at, finished_at from jobs where verb = 'snapshots sync' or "
            "kind = 'snapshots sync' order by id desc limit 500"))
    except Exception:  # noqa: BLE001 - no jobs table (or no engine columns) yet: "never"
        return found
    for row in rows:
        profile = json.loads(row["op_json"] or "{}").get("profile")
        if profile in found and found[profile] is None:
            found[profile] = row
    return found


# ---- reply (pure) --------------------------------------------------------------------------------


def line_text(line: readiness.Line) -> str:
    action = f"\n      → {line.action}" if line.action else ""
    return f"{ICON[line.colour]} *{line.topic}*: {line.text}{action}"


def status_reply(results: list[readiness.PairReadiness], *, simulated: bool = False) -> render.Reply:
    """One section per site pair, worst colour first in its heading."""
    blocks: list[Block] = [HeaderBlock(text="DR readiness")]
    summary = []
    for n, pair in enumerate(results):
        if n:
            blocks.append(DividerBlock())
        head = f"{ICON[pair.colour]} *{pair.primary} → {pair.secondary}*: {pair.colour}"
        summary.append(f"{pair.primary} -> {pair.secondary}: {pair.colour}")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=head)))
        blocks += render._sections("\n".join(line_text(line) for line in pair.lines))
    if not results:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No secondary site is configured in avd.toml.")))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Every line names one next action; "
                                                                 "`/avd doctor` checks config and permissions.")]))
    return render.Reply(text="DR readiness: " + ("; ".join(summary) or "no site pairs"),
                        blocks=render.card(blocks, simulated=simulated))


# ---- handler -------------------------------------------------------------------------------------


def readiness_of(runtime: Runtime, now: datetime) -> list[readiness.PairReadiness]:
    syncs = last_syncs(runtime)
    results = []
    for pair in pairs(runtime.settings.config):
        lines = readiness.assess(readiness.read_pair(runtime.azure, pair), pair)
        profiles = runtime.settings.config.snapshot_profiles
        mine = [n for n in syncs if profiles[n].target_region == pair.secondary.location] or list(syncs)
        lines += [readiness.snapshot_line(name, syncs[name], now) for name in mine]
        results.append(readiness.PairReadiness(pair.primary.name, pair.secondary.name, tuple(lines)))
    return results


def show_status(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    in_background(runtime, ctx, lambda: status_reply(readiness_of(runtime, ctx.now),
                                                     simulated=runtime.simulated_azure))


def register(runtime: Runtime) -> None:
    readers(runtime)
    runtime.handlers[ops.Status] = show_status
