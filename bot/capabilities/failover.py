"""``/avd failover plan|start|status|cancel`` and ``/avd failback plan|start``: config -> ``azureops.failover``.

Jobs: ``failover`` (FailoverStart), ``failback`` (FailbackStart), ``failover rollback`` (offered after a cancel,
op FailoverCancel) and ``dr scale-down`` (offered by the post-incident reminder, op Scale(site, 0)). Each plan
ends with a bot-side summary step that posts the measured time (first step start to last step end) in the
card's thread and records the run (``bot.capabilities.drill`` keeps the history table). The plans' inputs from the config
come from ``bot.capabilities.failover_config``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond
from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from avdcore.errors import AvdError, NotAllowed
from azureops import failover as fo
from azureops.errors import project_error
from azureops.plan import Plan, StepContext, format_seconds
from azureops.recovery import PrimaryGate, callback_step
from bot import approvals, audit, jobs, render, schedules
from bot.capabilities import drill as history
from bot.capabilities.failover_config import estimates, measured, options, sites, spec
from bot.runner import CAPABILITIES, Engine, register_capability
from bot.siteconfig import Site
from commands import ops

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.listeners import CommandContext

log = logging.getLogger(__name__)
FAILOVER, FAILBACK, ROLLBACK, SCALE_DOWN = "failover", "failback", "failover rollback", "dr scale-down"
ROLLBACK_ACTION, SCALE_DOWN_ACTION = "avd_failover_rollback", "avd_dr_scale_down"
REMINDER_AFTER = timedelta(hours=4)


# ---- the summary step -------------------------------------------------------------------------------


def summary_text(kind: str, title: str, seconds: float | None, steps: list[dict[str, Any]]) -> str:
    """The thread summary: measured time, then each step's time and output (warnings first)."""
    label = {FAILOVER: "recovery time", FAILBACK: "failback time"}.get(kind, "time")
    took = format_seconds(seconds) if seconds is not None else "unknown"
    lines = [f":stopwatch: *{title}*: {label} *{took}* (first step start to last step end)"]
    warnings = [s for s in steps if ":warning:" in (s.get("output") or "")]
    if warnings:
        lines.append(":warning: the primary region did not answer: its steps were skipped "
                     f"({', '.join(s['name'] for s in warnings)}); users there were not messaged or signed out.")
    for s in steps:
        if s["status"] != jobs.STEP_DONE or not s.get("started_at") or not s.get("finished_at"):
            continue
        spent = (datetime.fromisoformat(s["finished_at"]) - datetime.fromisoformat(s["started_at"])).total_seconds()
        out = (s.get("output") or "").splitlines()
        lines.append(f"• {s['name']} {format_seconds(spent)}: {out[-1] if out else ''}".rstrip(": "))
    return "\n".join(lines)


def summary_step(runtime: Runtime, kind: str, site: Site, title: str) -> Any:
    def post(ctx: StepContext) -> str:
        job_id = int(getattr(ctx, "job_id", 0))
        steps = [s for s in jobs.get_steps(runtime.store, job_id) if s["name"] != "summary"]
        seconds = measured(steps)
        engine: Engine = runtime.extensions["engine"]
        engine.progress.reply(job_id, summary_text(kind, title, seconds, steps))
        history.record_run(runtime, kind=kind, site=site.name, job_id=job_id, seconds=seconds,
                           capacity=site.dr_capacity, at=runtime.clock())
        if kind == FAILOVER:
            job = jobs.get_job(runtime.store, job_id) or {}
            schedule_reminder(runtime, site.name, str(job.get("channel") or ""), runtime.clock() + REMINDER_AFTER)
        return f"{title}: {format_seconds(seconds) if seconds is not None else 'unknown'}"

    return callback_step("summary", "Post the summary with the measured time in the thread", post)


# ---- plans --------------------------------------------------------------------------------------------


def build_failover(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.FailoverStart)
    primary, dr = sites(runtime, op.site)
    title = f"Failover {primary.name} -> {dr.name}"
    return fo.failover_plan(runtime.azure, spec(primary, primary), spec(dr, primary),
                            options(runtime, primary, dr, now=op.now), runtime.clock,
                            final=[summary_step(runtime, FAILOVER, dr, title)], estimates=estimates(runtime, FAILOVER))


def build_failback(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, (ops.FailbackStart, ops.FailbackPlan))
    primary, dr = sites(runtime, op.site)
    title = f"Failback {dr.name} -> {primary.name}"
    return fo.failback_plan(runtime.azure, spec(primary, primary), spec(dr, primary), options(runtime, primary, dr),
                            runtime.clock, final=[summary_step(runtime, FAILBACK, dr, title)],
                            estimates=estimates(runtime, FAILBACK))


def build_rollback(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.FailoverCancel)
    primary, dr = sites(runtime, op.site)
    return fo.rollback_plan(runtime.azure, spec(primary, primary), spec(dr, primary), options(runtime, primary, dr))


def build_scale_down(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    primary, dr = sites(runtime, op.target)
    return fo.scale_down_plan(runtime.azure, spec(dr, primary), options(runtime, primary, dr))


def request_kind(runtime: Runtime, kind: str, op: ops.Operation, user: str, channel: str) -> str:
    """Plan ``op`` as capability ``kind`` and open its approval (or start it); returns what to tell the user."""
    engine: Engine = runtime.extensions["engine"]
    now = engine.now()
    plan = CAPABILITIES[kind](runtime, op, now)
    approval = approvals.needs_approval(engine, op, plan)
    try:
        job_id = jobs.create_job(runtime.store, plan=plan, op=op, requested_by=user, channel=channel,
                                 status=jobs.AWAITING if approval else jobs.QUEUED, now=now, kind=kind)
    except AvdError as err:
        return str(err)
    audit.record(runtime.store, actor=user, action="job requested", target=f"job {job_id}",
                 detail={"verb": plan.policy_verb, "plan_hash": plan.hash(), "approval": approval}, at=now)
    if approval:
        approvals.open_approval(engine, job_id, plan, user, channel, now, fresh=False)
        return f"{plan.title}: job {job_id} waits for an approver."
    engine.progress.post_card(job_id, channel)
    engine.submit(job_id)
    return f"{plan.title}: job {job_id} started."


# ---- read-only commands ----------------------------------------------------------------------------


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


def plan_text(plan: Plan, checks: list[fo.Check], start: str, runs: int) -> str:
    marks = {True: ":white_check_mark:", False: ":x:", None: ":warning:"}
    lines = [f"*{plan.title}* ({plan.summary})", *plan.preview(),
             f"Total ~{format_seconds(plan.estimate_seconds)}"
             + (f" (estimates from {runs} past run(s))" if runs else " (default estimates: no past runs)"),
             "*Preflight*", *[f"{marks[c.ok]} {c.name}: {c.detail}" for c in checks]]
    blocked = any(c.ok is False for c in checks)
    lines.append(":no_entry: fix the failed checks first." if blocked else f"Start it with `{start}`.")
    return "\n".join(lines)


def show_failover_plan(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverPlan)
    primary, dr = sites(runtime, op.site)
    plan = build_failover(runtime, ops.FailoverStart(site=op.site), ctx.now)
    opt = options(runtime, primary, dr)
    checks = fo.preflight(runtime.azure, spec(primary, primary), spec(dr, primary), opt,
                          PrimaryGate(primary.location, opt.primary_timeout))
    runs = len(history.runs(runtime, kind=FAILOVER))
    text = plan_text(plan, checks, f"/avd failover start {dr.name}", runs)
    return render.Reply(text=text, blocks=render.card(render._sections(text), simulated=runtime.simulated_azure))


def show_failback_plan(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailbackPlan)
    plan = build_failback(runtime, op, ctx.now)
    text = "\n".join([f"*{plan.title}* ({plan.summary})", *plan.preview(),
                      f"Start it with `/avd failback start {sites(runtime, op.site)[1].name}`."])
    return render.Reply(text=text, blocks=render.card(render._sections(text), simulated=runtime.simulated_azure))


def show_status(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverStatus)
    primary, dr = sites(runtime, op.site)
    lines = [f"*Failover status: {primary.name} -> {dr.name}*"]
    job = active_job(runtime, (FAILOVER, FAILBACK, ROLLBACK), dr)
    if job is not None:
        steps = jobs.get_steps(runtime.store, int(job["id"]))
        current = next((s for s in steps if s["status"] in (jobs.STEP_RUNNING, jobs.STEP_PENDING)), None)
        lines.append(f"Job {job['id']} ({job['kind']}) is *{job['status']}*"
                     + (f", at step `{current['name']}`: {current['description']}" if current else ""))
    else:
        lines.append("No failover, failback or rollback is running.")
    for run in history.runs(runtime, site=dr.name, limit=3):
        took = format_seconds(run["seconds"]) if run["seconds"] is not None else "?"
        lines.append(f"• {run['at'][:16]}Z {run['kind']} (job {run['job_id']}): {took}")
    text = "\n".join(lines)
    return render.Reply(text=text, blocks=render.card(render._sections(text), simulated=runtime.simulated_azure))


def cancel(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.FailoverCancel)
    primary, dr = sites(runtime, op.site)
    job = active_job(runtime, (FAILOVER,), dr)
    if job is None:
        raise NotAllowed(f"no failover of {primary.name} -> {dr.name} is waiting or running")
    engine: Engine = runtime.extensions["engine"]
    said = engine.cancel(int(job["id"]), ctx.user_id)
    text = (f"{said} A rollback (undrain {primary.host_pool}, scale {dr.scale_set} back to 0) runs as its own "
            "approved job: press *Plan rollback* once the failover has stopped.")
    button = ButtonElement(text="Plan rollback", action_id=ROLLBACK_ACTION, value=dr.name)
    blocks = [*render._sections(text), ActionsBlock(block_id=f"rollback:{dr.name}", elements=[button])]
    return render.Reply(text=text, blocks=blocks, in_channel=True)


# ---- the post-incident reminder ---------------------------------------------------------------------


def schedule_reminder(runtime: Runtime, site: str, channel: str, when: datetime) -> None:
    runtime.scheduler.add_job("bot.capabilities.failover:remind", "date", run_date=when, args=[site, channel],
                              id=f"dr-reminder:{site}", jobstore=schedules.PERSISTENT, executor="light",
                              replace_existing=True, misfire_grace_time=None)


def reminder_text(site: Site, capacity: int) -> str:
    return (f":moneybag: The DR scale set {site.scale_set} ({site.name}, {site.location}) still runs {capacity} "
            f"instance(s) after the failover. When the incident is over, run `/avd failback start {site.name}`, or "
            "scale DR back to 0 (approval needed; refused while users are still on it).")


def remind(site: str, channel: str) -> bool:
    """Scheduler entry point: post the reminder if the DR scale set still runs; True when posted."""
    if not schedules._ENGINES:
        return False
    runtime = schedules._ENGINES[0].runtime
    primary, dr = sites(runtime, site)
    ref = spec(dr, primary).vmss
    capacity = int(runtime.azure.compute(ref.subscription).virtual_machine_scale_sets.get(
        ref.resource_group, ref.name).sku.capacity or 0)
    if capacity == 0:
        return False
    text = reminder_text(dr, capacity)
    button = ButtonElement(text="Scale DR to 0", action_id=SCALE_DOWN_ACTION, value=dr.name, style="danger")
    blocks = [*render._sections(text), ActionsBlock(block_id=f"scale-down:{dr.name}", elements=[button])]
    runtime.client.chat_postMessage(channel=channel, text=text, blocks=[b.to_dict() for b in blocks])
    return True


# ---- wiring ----------------------------------------------------------------------------------------


def register_capabilities() -> None:
    register_capability(FAILOVER, build_failover, op_type=ops.FailoverStart)
    register_capability(FAILBACK, build_failback, op_type=ops.FailbackStart)
    register_capability(ROLLBACK, build_rollback)
    register_capability(SCALE_DOWN, build_scale_down)


def register(runtime: Runtime) -> None:
    from bot.engine_listeners import run_capability

    register_capabilities()
    history.ensure_schema(runtime)
    if runtime.extensions.get("failover.actions"):
        return
    runtime.extensions["failover.actions"] = True
    runtime.handlers.update({ops.FailoverPlan: show_failover_plan, ops.FailbackPlan: show_failback_plan,
                             ops.FailoverStatus: show_status, ops.FailoverCancel: cancel,
                             ops.FailoverStart: run_capability, ops.FailbackStart: run_capability})

    def press(kind: str, op_of: Any) -> Any:
        def handler(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()
            runtime.after_ack(pressed, body, respond, respond=respond)

        def pressed(body: dict[str, Any], respond: Respond) -> None:
            user = (body.get("user") or {}).get("id", "")
            channel = (body.get("container") or {}).get("channel_id", "")
            site = str(((body.get("actions") or [{}])[0]).get("value", ""))
            refusal = runtime.authz.refusal(user, channel)
            try:
                text = refusal[-1] if refusal else request_kind(runtime, kind, op_of(site), user, channel)
            except Exception as exc:  # an unknown site in the value, Azure unreadable: say so, not an incident
                err = project_error(exc)
                if err is None:
                    raise
                text = f":no_entry: {err}"
            respond(text=text, response_type="ephemeral", replace_original=False)
        return handler

    runtime.app.action(ROLLBACK_ACTION)(press(ROLLBACK, lambda site: ops.FailoverCancel(site=site)))
    runtime.app.action(SCALE_DOWN_ACTION)(press(SCALE_DOWN, lambda site: ops.Scale(target=site, count=0)))
