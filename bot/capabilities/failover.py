"""``/avd failover plan|start|status|cancel`` and ``/avd failback plan|start``: config -> ``azureops.failover``.

Jobs: ``failover`` (FailoverStart), ``failback`` (FailbackStart), ``failover rollback`` (offered after a cancel, op FailoverCancel) and ``dr
scale-down`` (offered by the post-incident reminder, op Scale(site, 0)). Each plan
ends with a bot-side summary step that posts the measured time (first step start to last step end) in the
card's thread and records the run (``bot.storage.records``' ``dr_runs``); a failover's and a
failback's summary also give the three RTO figures users feel (``failover_config.figures``, counted from the
approval): for a failover DR capacity Available, the primary's users signed out and the outage between the two;
for a failback the primary taking users again (undrained, and ASR's failback done), DR's users signed out and the
outage between. The plans' inputs from the config come from ``bot.capabilities.failover_config``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from avdcore.errors import AvdError, NotAllowed
from azureops import failover as fo
from azureops import failover_checks as fc
from azureops.errors import project_error
from azureops.plan import Plan, StepContext, format_seconds
from azureops.recovery import PrimaryGate, callback_step
from bot.capabilities.failover_config import Figures, estimates, figures, measured, options, sites, spec
from bot.config.siteconfig import Site
from bot.runtime import ButtonHandler, Capability, CommandContext, Runtime
from bot.slack import render
from bot.storage import jobs, records
from commands import ops

log = logging.getLogger(__name__)
FAILOVER, FAILBACK, ROLLBACK, SCALE_DOWN = "failover", "failback", "failover rollback", "dr scale-down"
ROLLBACK_ACTION, SCALE_DOWN_ACTION = "avd_failover_rollback", "avd_dr_scale_down"
REMINDER_AFTER = timedelta(hours=4)
REMINDER = "dr-reminder"  # the timer target of the post-incident reminder


# ---- the summary step -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measures:
    """What a kind's RTO figures are read from (``ready``, ``signed_out``: step names) and how they are told."""

    ready: tuple[str, ...]
    signed_out: str
    capacity: str  # the target side has capacity: "DR capacity Available"
    users: str  # whose users the job signs out: "primary's users"
    first: str  # the target was ready first: "DR was ready"
    short: str  # in ``/avd failover status``'s history: "DR Available"


MEASURES = {
    FAILOVER: Measures(
        fo.DR_READY_STEPS,
        fo.SIGNED_OUT_STEP,
        "DR capacity Available",
        "primary's users",
        "DR was ready",
        "DR Available",
    ),
    FAILBACK: Measures(
        fo.PRIMARY_READY_STEPS,
        fo.DR_SIGNED_OUT_STEP,
        "the primary takes users again",
        "DR's users",
        "the primary was ready",
        "primary taking users",
    ),
}


def figures_text(fig: Figures, approved: bool, kind: str = FAILOVER) -> str:
    """The RTO users feel, one line: ``DR capacity Available *5m02s* after approval · ...``."""
    said = MEASURES[kind]

    def at(value: float | None) -> str:
        return f"*{format_seconds(value)}*" if value is not None else "*not measured*"

    since = "after approval" if approved else "after the job started"
    out = (
        f"{said.users} signed out {at(fig.signed_out)}"
        if fig.signed_out is not None
        else f"{said.users} *not signed out by this job*"
    )
    if fig.outage is None:
        outage = "outage *not measured*"
    elif fig.outage == 0:
        outage = f"outage *0s* ({said.first} before the users were signed out)"
    else:
        outage = f"outage *{format_seconds(fig.outage)}* (signed out until {said.capacity})"
    return f":busts_in_silhouette: {said.capacity} {at(fig.to_capacity)} {since} · {out} · {outage}"


def summary_text(
    kind: str,
    title: str,
    seconds: float | None,
    steps: list[dict[str, Any]],
    fig: Figures | None = None,
    approved: bool = True,
) -> str:
    """The thread summary: measured time, the RTO figures (a failover, a failback), then each step's time and
    output."""
    label = {FAILOVER: "recovery time", FAILBACK: "failback time"}.get(kind, "time")
    took = format_seconds(seconds) if seconds is not None else "unknown"
    lines = [f":stopwatch: *{title}*: {label} *{took}* (first step start to last step end)"]
    if fig is not None:
        lines.append(figures_text(fig, approved, kind))
    warnings = [s for s in steps if ":warning:" in (s.get("output") or "")]
    if warnings:
        lines.append(
            ":warning: the primary region did not answer: its steps were skipped "
            f"({', '.join(s['name'] for s in warnings)}); users there were not messaged or signed out."
        )
    for s in steps:
        if s["status"] != jobs.STEP_DONE or not s.get("started_at") or not s.get("finished_at"):
            continue
        spent = (
            datetime.fromisoformat(s["finished_at"]) - datetime.fromisoformat(s["started_at"])
        ).total_seconds()
        out = (s.get("output") or "").splitlines()
        lines.append(f"• {s['name']} {format_seconds(spent)}: {out[-1] if out else ''}".rstrip(": "))
    return "\n".join(lines)


def summary_step(runtime: Runtime, kind: str, site: Site, title: str) -> Any:
    def post(ctx: StepContext) -> str:
        job_id = ctx.job_id
        steps = [s for s in jobs.get_steps(runtime.store, job_id) if s["name"] != "summary"]
        seconds = measured(steps)
        start, approved = records.job_start(runtime.store, job_id)
        said = MEASURES.get(kind)
        fig = figures(steps, start, ready=said.ready, signed_out=said.signed_out) if said else None
        engine = runtime.engine
        engine.progress.reply(job_id, summary_text(kind, title, seconds, steps, fig, approved))
        records.record_run(
            runtime.store,
            kind=kind,
            site=site.name,
            job_id=job_id,
            seconds=seconds,
            capacity=site.dr_capacity,
            at=runtime.clock(),
            figures=fig.as_row() if fig is not None else None,
        )
        if kind == FAILOVER:
            job = jobs.get_job(runtime.store, job_id) or {}
            schedule_reminder(
                runtime, site.name, str(job.get("channel") or ""), runtime.clock() + REMINDER_AFTER
            )
        return f"{title}: {format_seconds(seconds) if seconds is not None else 'unknown'}"

    return callback_step("summary", "Post the summary with the measured time in the thread", post)


# ---- plans --------------------------------------------------------------------------------------------


def build_failover(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.FailoverStart)
    primary, dr = sites(runtime, op.site)
    title = f"Failover {primary.name} -> {dr.name}"
    return fo.failover_plan(
        runtime.azure,
        spec(primary, primary),
        spec(dr, primary),
        options(runtime, primary, dr, now=op.now),
        runtime.clock,
        final=[summary_step(runtime, FAILOVER, dr, title)],
        estimates=estimates(runtime, FAILOVER),
    )


def build_failback(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, (ops.FailbackStart, ops.FailbackPlan))
    primary, dr = sites(runtime, op.site)
    title = f"Failback {dr.name} -> {primary.name}"
    return fo.failback_plan(
        runtime.azure,
        spec(primary, primary),
        spec(dr, primary),
        options(runtime, primary, dr),
        runtime.clock,
        final=[summary_step(runtime, FAILBACK, dr, title)],
        estimates=estimates(runtime, FAILBACK),
    )


def build_rollback(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.FailoverCancel)
    primary, dr = sites(runtime, op.site)
    return fo.rollback_plan(
        runtime.azure, spec(primary, primary), spec(dr, primary), options(runtime, primary, dr)
    )


def build_scale_down(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    primary, dr = sites(runtime, op.target)
    return fo.scale_down_plan(runtime.azure, spec(dr, primary), options(runtime, primary, dr))


def request_kind(runtime: Runtime, kind: str, op: ops.Operation, user: str, channel: str) -> str:
    """Request ``op`` as the plan ``kind`` (approval per policy); returns what to tell the user."""
    said: list[str] = []
    job_id = runtime.engine.request(op, user, channel, said.append, kind=kind)
    if job_id is None:
        return f":no_entry: {said[-1]}" if said else ":no_entry: nothing was requested"
    job = jobs.get_job(runtime.store, job_id) or {}
    waits = job.get("status") == jobs.AWAITING
    return f"{job.get('title') or kind}: job {job_id} {'waits for an approver' if waits else 'started'}."


def active_job(runtime: Runtime, kinds: tuple[str, ...], dr: Site) -> dict[str, Any] | None:
    for job in reversed(jobs.jobs_in(runtime.store, jobs.ACTIVE)):
        if job["kind"] in kinds and _job_site(runtime, job) == dr.name:
            return dict(job)
    return None


def _job_site(runtime: Runtime, job: dict[str, Any]) -> str:
    op = jobs.op_from_json(job["op_json"])
    try:
        return sites(runtime, getattr(op, "site", None) or getattr(op, "target", None))[1].name
    except AvdError:
        return ""


def plan_text(
    plan: Plan, checks: list[fc.Check], start: str, runs: int, primary: list[fc.Check] | None = None
) -> str:
    """The plan, then its checks: ``checks`` (the DR preflight, or every check when ``primary`` is None) and
    ``primary`` (the primary probe) under their own heading, each saying what waits for it."""
    marks = {True: ":white_check_mark:", False: ":x:", None: ":warning:"}
    lines = [
        f"*{plan.title}* ({plan.summary})",
        *plan.preview(),
        f"Total ~{format_seconds(plan.estimate_seconds)}"
        + (f" (estimates from {runs} past run(s))" if runs else " (default estimates: no past runs)"),
        "*Preflight*" if primary is None else "*Preflight, DR region* (DR's scale-out waits only for this)",
        *[f"{marks[c.ok]} {c.name}: {c.detail}" for c in checks],
    ]
    if primary is not None:
        lines += [
            "*Preflight, primary region* (the primary's steps and ASR wait for it; DR does not)",
            *[f"{marks[c.ok]} {c.name}: {c.detail}" for c in primary],
        ]
    blocked = any(c.ok is False for c in [*checks, *(primary or [])])
    lines.append(":no_entry: fix the failed checks first." if blocked else f"Start it with `{start}`.")
    return "\n".join(lines)


def show_failover_plan(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverPlan)
    primary, dr = sites(runtime, op.site)
    plan = build_failover(runtime, ops.FailoverStart(site=op.site), ctx.now)
    opt = options(runtime, primary, dr)
    p_spec, dr_spec = spec(primary, primary), spec(dr, primary)
    gate = PrimaryGate(primary.location, opt.primary_timeout)
    runs = len(records.runs(runtime.store, kind=FAILOVER))
    text = plan_text(
        plan,
        fc.dr_checks(runtime.azure, dr_spec, opt),
        f"/avd failover start {dr.name}",
        runs,
        fc.primary_checks(runtime.azure, p_spec, dr_spec, gate),
    )
    return render.Reply(
        text=text, blocks=render.card(render.sections(text), simulated=runtime.simulated_azure)
    )


def show_failback_plan(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailbackPlan)
    plan = build_failback(runtime, op, ctx.now)
    text = "\n".join(
        [
            f"*{plan.title}* ({plan.summary})",
            *plan.preview(),
            f"Start it with `/avd failback start {sites(runtime, op.site)[1].name}`.",
        ]
    )
    return render.Reply(
        text=text, blocks=render.card(render.sections(text), simulated=runtime.simulated_azure)
    )


def checks_line(steps: list[dict[str, Any]]) -> str | None:
    """A failover's two checks and what waits for each (``None`` for a job without them)."""
    rows = {s["name"]: s for s in steps}
    pre, probe = rows.get(fo.DR_PREFLIGHT), rows.get(fo.PRIMARY_PROBE)
    if pre is None or probe is None:
        return None

    def said(row: dict[str, Any]) -> str:
        if row["status"] != jobs.STEP_DONE:
            return f"*{row['status']}*"
        out = (row.get("output") or "").splitlines()
        return out[-1] if out else "done"

    return (
        f"Checks: DR preflight {said(pre)} (DR's scale-out waits only for it) · primary probe "
        f"{said(probe)} (the primary's steps and ASR wait for it)"
    )


def show_status(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverStatus)
    primary, dr = sites(runtime, op.site)
    lines = [f"*Failover status: {primary.name} -> {dr.name}*"]
    job = active_job(runtime, (FAILOVER, FAILBACK, ROLLBACK), dr)
    if job is not None:
        steps = jobs.get_steps(runtime.store, int(job["id"]))
        running = [s for s in steps if s["status"] == jobs.STEP_RUNNING]  # a graph's branches run at once
        current = running or [s for s in steps if s["status"] == jobs.STEP_PENDING][:1]
        at = "; ".join(f"`{s['name']}`: {s['description']}" for s in current)
        lines.append(
            f"Job {job['id']} ({job['kind']}) is *{job['status']}*"
            + (f", at step{'s' if len(current) > 1 else ''} {at}" if current else "")
        )
        checks = checks_line(steps)
        if checks:
            lines.append(checks)
    else:
        lines.append("No failover, failback or rollback is running.")
    for run in records.runs(runtime.store, site=dr.name, limit=3):
        took = format_seconds(run["seconds"]) if run["seconds"] is not None else "?"
        felt = (
            f"; {MEASURES[run['kind']].short} after {format_seconds(run['to_capacity'])}, outage "
            + (format_seconds(run["outage"]) if run.get("outage") is not None else "not measured")
            if run["kind"] in MEASURES and run.get("to_capacity") is not None
            else ""
        )
        lines.append(f"• {run['at'][:16]}Z {run['kind']} (job {run['job_id']}): {took}{felt}")
    text = "\n".join(lines)
    return render.Reply(
        text=text, blocks=render.card(render.sections(text), simulated=runtime.simulated_azure)
    )


def cancel(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverCancel)
    primary, dr = sites(runtime, op.site)
    job = active_job(runtime, (FAILOVER,), dr)
    if job is None:
        raise NotAllowed(f"no failover of {primary.name} -> {dr.name} is waiting or running")
    engine = runtime.engine
    said = engine.cancel(int(job["id"]), ctx.user_id)
    text = (
        f"{said} A rollback (undrain {primary.host_pool}, scale {dr.scale_set} back to 0) runs as its own "
        "approved job: press *Plan rollback* once the failover has stopped."
    )
    button = ButtonElement(text="Plan rollback", action_id=ROLLBACK_ACTION, value=dr.name)
    blocks = [*render.sections(text), ActionsBlock(block_id=f"rollback:{dr.name}", elements=[button])]
    return render.Reply(text=text, blocks=blocks, in_channel=True)


# ---- the post-incident reminder ---------------------------------------------------------------------


def schedule_reminder(runtime: Runtime, site: str, channel: str, when: datetime) -> None:
    runtime.timers.put(
        f"dr-reminder:{site}", REMINDER, {"site": site}, run_at=when, user="avd-bot", channel=channel
    )


def reminder_text(site: Site, capacity: int) -> str:
    return (
        f":moneybag: The DR scale set {site.scale_set} ({site.name}, {site.location}) still runs {capacity} "
        f"instance(s) after the failover. When the incident is over, run `/avd failback start {site.name}`, or "
        "scale DR back to 0 (approval needed; refused while users are still on it)."
    )


def remind(runtime: Runtime, args: dict[str, Any]) -> bool:
    """The reminder's timer: post it if the DR scale set still runs; True when posted."""
    site, channel = str(args["site"]), str(args["channel"])
    primary, dr = sites(runtime, site)
    ref = spec(dr, primary).vmss
    sku = (
        runtime.azure.compute(ref.subscription)
        .virtual_machine_scale_sets.get(ref.resource_group, ref.name)
        .sku
    )
    capacity = int(sku.capacity or 0) if sku is not None else 0
    if capacity == 0:
        return False
    text = reminder_text(dr, capacity)
    button = ButtonElement(text="Scale DR to 0", action_id=SCALE_DOWN_ACTION, value=dr.name, style="danger")
    blocks = [*render.sections(text), ActionsBlock(block_id=f"scale-down:{dr.name}", elements=[button])]
    runtime.client.chat_postMessage(channel=channel, text=text, blocks=[b.to_dict() for b in blocks])
    return True


# ---- wiring ----------------------------------------------------------------------------------------


def pressed(kind: str, op_of: Callable[[str], ops.Operation]) -> ButtonHandler:
    """A Plan rollback / Scale DR to 0 press: request that job for the site the button names."""

    def handle(runtime: Runtime, user: str, channel: str, site: str) -> str:
        refusal = runtime.authz.refusal(user, channel)
        if refusal:
            return refusal[-1]
        try:
            return request_kind(runtime, kind, op_of(site), user, channel)
        except Exception as exc:  # an unknown site in the value, Azure unreadable: say so, not an incident
            err = project_error(exc)
            if err is None:
                raise
            return f":no_entry: {err}"

    return handle


CAPABILITY = Capability(
    name="failover",
    handlers={
        ops.FailoverPlan: show_failover_plan,
        ops.FailbackPlan: show_failback_plan,
        ops.FailoverStatus: show_status,
        ops.FailoverCancel: cancel,
    },
    jobs={ops.FailoverStart: FAILOVER, ops.FailbackStart: FAILBACK},
    plans={
        FAILOVER: build_failover,
        FAILBACK: build_failback,
        ROLLBACK: build_rollback,
        SCALE_DOWN: build_scale_down,
    },
    timers={REMINDER: remind},
    buttons={
        ROLLBACK_ACTION: pressed(ROLLBACK, lambda site: ops.FailoverCancel(site=site)),
        SCALE_DOWN_ACTION: pressed(SCALE_DOWN, lambda site: ops.Scale(target=site, count=0)),
    },
)
