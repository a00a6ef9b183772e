"""``/avd status``: DR readiness of every site pair, red/amber/green per line, each with one next action.

Azure's side comes from ``azureops.readiness``; the bot's own records add a line each: the DR capacity scale
set remembered for the site (``scaleset_records.dr_scale_set``), every snapshot profile's last sync and schedule
(``snapshots.schedules``) and the drill history with its trend (``drill.drill_history``).

Also home of ``in_background``: read-only capabilities hand their Azure reads to a small reader pool so
Bolt's listener threads never wait on Azure; the answer is the single update after the (empty) ack.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from avdcore.errors import AzureError
from azureops import readiness
from azureops.errors import project_error
from azureops.gallery import ImageRef, user_terms
from azureops.plan import format_seconds
from azureops.readiness import AMBER, GREEN, RED, Line
from bot.capabilities import drill, snapshots
from bot.config.siteconfig import Site, SiteConfig
from bot.runtime import Capability, CommandContext, Runtime
from bot.slack import render
from bot.storage import jobs
from bot.storage import records as scaleset_records
from commands import ops

log = logging.getLogger(__name__)
ACK_MAX_AGE = 60.0  # the ack shows the last read if it started less than this ago; a fresh read follows
T = TypeVar("T")
DRILL_STALE = timedelta(days=90)  # rehearse at least quarterly
EXAMPLE_CRON = "0 2 * * *"
ICON = {
    readiness.GREEN: ":large_green_circle:",
    readiness.AMBER: ":large_orange_circle:",
    readiness.RED: ":red_circle:",
}


# ---- background answers --------------------------------------------------------------------------


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

    runtime.readers.submit(run)


# ---- config -> plain values ----------------------------------------------------------------------


def site_refs(site: Site) -> readiness.SiteRefs:
    return readiness.SiteRefs(
        site.name,
        site.subscription,
        site.location,
        site.scale_set_resource_group,
        site.scale_set,
        site.identity,
        site.host_pool_resource_group,
        site.host_pool,
        site.dr_capacity,
    )


def pairs(cfg: SiteConfig) -> list[readiness.PairRefs]:
    out = []
    for site in cfg.sites.values():
        if site.role != "secondary":
            continue
        primary = cfg.primary_of(site)
        image = ImageRef(
            primary.subscription,
            primary.master_resource_group,
            primary.gallery,
            primary.image,
            primary.image_version,
        )
        out.append(
            readiness.PairRefs(
                site_refs(primary),
                site_refs(site),
                image,
                cfg.join_app_object_id,
                cfg.join_app_name,
                cfg.tenant_id,
            )
        )
    return out


def last_syncs(runtime: Runtime) -> dict[str, dict[str, Any] | None]:
    """The newest ``snapshots sync`` job per configured profile (``None``: never)."""
    found: dict[str, dict[str, Any] | None] = {p: None for p in runtime.settings.config.snapshot_profiles}
    for row in jobs.latest_of_verb(runtime.store, "snapshots sync"):
        profile = json.loads(row["op_json"] or "{}").get("profile")
        if profile in found and found[profile] is None:
            found[profile] = row
    return found


# ---- lines from the bot's own records (pure) -----------------------------------------------------


def capacity_line(
    site: readiness.SiteRefs, remembered: scaleset_records.DrScaleSet | None, in_azure: Any
) -> Line:
    """Which scale set is the site's DR capacity (recorded by ``/avd scaleset create``) and whether it is built."""
    topic, create = "DR capacity", f"`/avd scaleset create {site.name}`"
    if remembered is None:
        if isinstance(in_azure, dict):
            return Line(
                topic,
                AMBER,
                f"{site.scale_set} exists but is not recorded as the DR capacity of {site.name}",
                f"{create} records it (finds it and changes nothing)",
            )
        return Line(topic, RED, f"no DR capacity recorded for {site.name}", create)
    where = f"{remembered.name} ({remembered.resource_group}, {remembered.location})"
    if not remembered.created:
        return Line(
            topic,
            AMBER,
            f"{where} was requested but is not built yet",
            f"`/avd jobs` shows the scaleset create job; or {create} again",
        )
    if (remembered.name.lower(), remembered.resource_group.lower()) != (
        site.scale_set.lower(),
        site.scale_set_resource_group.lower(),
    ):
        return Line(
            topic,
            AMBER,
            f"{where} is recorded, but failover and drills scale "
            f"{site.scale_set_resource_group}/{site.scale_set} from avd.toml",
            f'set scale_set = "{remembered.name}" under [sites.{site.name}] in avd.toml, or {create}',
        )
    if in_azure is None:
        return Line(topic, RED, f"{where} was built but is gone from Azure", create)
    return Line(
        topic,
        GREEN,
        f"{where} is the DR capacity of {site.name}: a failover scales it to "
        f"{site.dr_capacity}, `/avd scale {site.name} N` by hand",
    )


def schedule_line(profile: str, schedule: snapshots.Schedule | None) -> Line:
    topic, cmd = f"Snapshot schedule {profile}", f"`/avd snapshots schedule {profile} {EXAMPLE_CRON}`"
    if schedule is None:
        return Line(topic, AMBER, "not scheduled: it syncs only when someone runs it", cmd)
    if schedule.next_run is None:
        return Line(
            topic,
            AMBER,
            f"`{schedule.cron}` UTC is paused",
            f"`/avd snapshots schedule {profile} {schedule.cron}` resumes it",
        )
    return Line(topic, GREEN, f"`{schedule.cron}` UTC, next {schedule.next_run:%Y-%m-%d %H:%M} UTC")


def drill_line(
    site: str, history: list[dict[str, Any]], now: datetime, failover: dict[str, Any] | None = None
) -> Line:
    """The site's drills (newest first): the last one's time to capacity, the trend, and the last failover."""
    topic, cmd = "DR drills", f"`/avd drill {site}` (DR side only; the primary is not touched)"
    real = ""
    if failover is not None:
        took = (
            format_seconds(float(failover["seconds"])) if failover.get("seconds") is not None else "unknown"
        )
        real = f"; last failover {str(failover['at'])[:16].replace('T', ' ')} UTC, recovery time {took}"
    if not history:
        return Line(topic, AMBER, f"no drill on record for {site}{real}", cmd)
    last = history[0]
    when = datetime.fromisoformat(str(last["at"]))
    times = [float(r["seconds"]) for r in reversed(history) if r.get("seconds") is not None]
    trend = f"; trend over {len(times)} drills {drill.trend(times)}" if len(times) > 1 else ""
    text = f"last drill {when:%Y-%m-%d %H:%M} UTC"
    if last.get("seconds") is None:
        return Line(
            topic,
            AMBER,
            f"{text} measured no time to capacity{trend}{real}",
            f"`/avd job {last.get('job_id')}` says why; then {cmd}",
        )
    text += f", time to capacity {format_seconds(float(last['seconds']))}{trend}{real}"
    if now - when > DRILL_STALE:
        return Line(topic, AMBER, f"{text} ({(now - when).days} days ago)", cmd)
    return Line(topic, GREEN, text)


def record_lines(
    runtime: Runtime, pair: readiness.PairRefs, dr_vmss: Any, now: datetime
) -> dict[str, list[Line]]:
    """The lines from the bot's records, keyed by where they go: ``capacity`` (after the scale set line),
    ``snapshots`` and ``drills`` (at the end)."""
    s = pair.secondary
    profiles = runtime.settings.config.snapshot_profiles
    syncs = last_syncs(runtime)
    mine = [n for n in profiles if profiles[n].target_region == s.location] or list(profiles)
    try:
        found = {sch.profile: sch for sch in snapshots.schedules(runtime)}
    except Exception:  # noqa: BLE001 - a scheduler without the persistent store: report, do not fail
        log.warning("snapshot schedules not readable", exc_info=True)
        found = {}
    snaps: list[Line] = []
    for name in mine:
        snaps += [readiness.snapshot_line(name, syncs.get(name), now), schedule_line(name, found.get(name))]
    return {
        "capacity": [capacity_line(s, scaleset_records.dr_scale_set(runtime.store, s.name), dr_vmss)],
        "snapshots": snaps,
        "drills": [
            drill_line(
                s.name,
                drill.drill_history(runtime, s.name),
                now,
                next(iter(scaleset_records.runs(runtime.store, kind="failover", site=s.name, limit=1)), None),
            )
        ],
    }


# ---- reply (pure) --------------------------------------------------------------------------------


def line_text(line: readiness.Line) -> str:
    action = f"\n      → {line.action}" if line.action else ""
    return f"{ICON[line.colour]} *{line.topic}*: {line.text}{action}"


def status_reply(
    results: list[readiness.PairReadiness], *, simulated: bool = False, read_at: datetime | None = None
) -> render.Reply:
    """One section per site pair, worst colour first in its heading."""
    blocks: list[Block] = [HeaderBlock(text="DR readiness")]
    summary = []
    for n, pair in enumerate(results):
        if n:
            blocks.append(DividerBlock())
        head = f"{ICON[pair.colour]} *{pair.primary} → {pair.secondary}*: {pair.colour}"
        summary.append(f"{pair.primary} -> {pair.secondary}: {pair.colour}")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=head)))
        blocks += render.sections("\n".join(line_text(line) for line in pair.lines))
    if not results:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text="No secondary site is configured in avd.toml."))
        )
    when = f"Read from Azure at {read_at:%H:%M:%S} UTC. " if read_at is not None else ""
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{when}Every line names one next action; "
                    "`/avd doctor` checks config and permissions."
                )
            ]
        )
    )
    return render.Reply(
        text="DR readiness: " + ("; ".join(summary) or "no site pairs"),
        blocks=render.card(blocks, simulated=simulated),
    )


# ---- handler -------------------------------------------------------------------------------------


def readiness_of(runtime: Runtime, now: datetime) -> list[readiness.PairReadiness]:
    results = []
    for pair in pairs(runtime.settings.config):
        reads = readiness.read_pair(runtime.azure, pair)
        lines = readiness.assess(reads, pair, now)
        extra = record_lines(runtime, pair, reads.dr_vmss, now)
        at = next((n + 1 for n, line in enumerate(lines) if line.topic == "DR scale set"), len(lines))
        lines[at:at] = extra["capacity"]
        lines += extra["snapshots"] + extra["drills"]
        results.append(readiness.PairReadiness(pair.primary.name, pair.secondary.name, tuple(lines)))
    return results


_READ_AT = re.compile(r"Read from Azure at \d\d:\d\d:\d\d UTC\. ")


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two status replies that differ at most in when they were read."""
    return _READ_AT.sub("", json.dumps(a, sort_keys=True)) == _READ_AT.sub("", json.dumps(b, sort_keys=True))


def last_answer(runtime: Runtime, op: ops.Operation) -> dict[str, Any] | None:
    """For the ack: the last status read (it says when it was read); a fresh read follows and is posted
    only if anything changed."""
    reply: dict[str, Any] | None = runtime.status_read.last(ACK_MAX_AGE)
    return reply


def show_status(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    shared = runtime.status_read

    def read() -> dict[str, Any]:
        return status_reply(
            readiness_of(runtime, ctx.now), simulated=runtime.simulated_azure, read_at=ctx.now
        ).to_dict()

    def run() -> None:
        got: list[dict[str, Any]] = []
        failed = answer(runtime, lambda: got.append(shared.get(read)))
        reply = got[0] if got else {}
        if failed is not None:
            ctx.respond(**failed.to_dict())
        elif ctx.acked is None or (reply is not ctx.acked and not same_answer(ctx.acked, reply)):
            ctx.respond(**reply)

    runtime.readers.submit(run)


CAPABILITY = Capability(
    name="status", handlers={ops.Status: show_status}, ack_answers={ops.Status: last_answer}
)
