"""Wires the job engine into the app: handlers for ``/avd jobs|job N [retry|cancel]`` and capability
operations, the Approve/Reject/Retry/Cancel buttons, the scheduler's executors, the approval sweep and the
start-up resume. ``bot.app.build_app`` calls ``register(app, runtime)``.

Listeners ack first and never call Azure: a capability request is planned on the scheduler's ``light``
pool (``approvals.request_job``), approvals and retries only touch SQLite and hand the job to the pool.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED, SchedulerEvent
from slack_bolt import Ack, App, Respond

from avdcore.errors import AvdError, NotAllowed
from bot import approvals, cards, jobs, render, schedules
from bot.runner import CAPABILITIES, OP_KINDS, Engine, kind_of
from commands import ops

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.listeners import CommandContext

log = logging.getLogger(__name__)
SWEEP_SECONDS = 30


def engine_of(runtime: Runtime) -> Engine:
    engine: Engine = runtime.extensions["engine"]
    return engine


# ---- /avd handlers (run on Bolt's listener pool after the ack) -----------------------------------


def show_jobs(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    from bot.capabilities.snapshots import schedule_lines

    lines = schedule_lines(runtime) if "snapshot-schedules" in runtime.extensions else []
    return render.jobs_list(jobs.recent_jobs(runtime.store), simulated=runtime.simulated_azure, schedules=lines)


def show_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobShow)
    if jobs.get_job(runtime.store, op.job_id) is None:
        return render.job_not_found(op.job_id)
    text, blocks = engine_of(runtime).render_card(op.job_id, None)
    return render.Reply(text=text, blocks=blocks)


def retry_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobRetry)
    return render.Reply(text=engine_of(runtime).retry(op.job_id, ctx.user_id))


def cancel_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobCancel)
    return render.Reply(text=engine_of(runtime).cancel(op.job_id, ctx.user_id))


def run_capability(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply | None:
    """Hand a capability request to the planner pool; the card (or a refusal) follows."""
    if kind_of(op) not in CAPABILITIES:
        return render.coming_soon(op.verb, simulated=runtime.simulated_azure)

    def say(text: str) -> None:
        ctx.respond(text=text, response_type="ephemeral")

    runtime.scheduler.add_job(approvals.request_job, args=[engine_of(runtime), op, ctx.user_id, ctx.channel_id,
                                                           say], executor="light", misfire_grace_time=None)
    return None


# ---- buttons ------------------------------------------------------------------------------------


def _press(body: dict[str, Any]) -> tuple[str, str, str, str]:
    container = body.get("container") or {}
    action = (body.get("actions") or [{}])[0]
    return ((body.get("user") or {}).get("id", ""), container.get("channel_id", ""),
            container.get("message_ts", ""), str(action.get("value", "")))


def _tell(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:  # noqa: BLE001 - the decision is recorded whether or not the reply lands
        log.warning("could not answer a button press: %s", text)


def on_card(runtime: Runtime, body: dict[str, Any], channel: str, ts: str, value: str) -> int:
    """The job a Retry/Cancel press names, refused unless the button is on that job's card (or on the
    ephemeral ``/avd job N`` answer, which is the command's own reply)."""
    job = jobs.get_job(runtime.store, int(value)) if value.isascii() and value.isdigit() and len(value) < 19 else None
    if job is None:
        raise NotAllowed("this button does not name a job this bot knows")
    ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
    if not ephemeral and (channel != job["channel"] or ts != (job.get("card_ts") or "")):
        raise NotAllowed(f"this button is not on job {job['id']}'s card")
    return int(job["id"])


def register_buttons(app: App, runtime: Runtime) -> None:
    engine = engine_of(runtime)

    def decide(body: dict[str, Any], respond: Respond, approve: bool) -> None:
        user, channel, ts, approval_id = _press(body)
        try:
            text = approvals.decide(engine, approval_id, user, approve=approve, channel=channel, message_ts=ts)
        except AvdError as err:
            text = f":no_entry: {err}"
        _tell(respond, text)

    @app.action(cards.APPROVE)
    def on_approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(decide, body, respond, True, respond=respond)

    @app.action(cards.REJECT)
    def on_reject(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(decide, body, respond, False, respond=respond)

    def job_action(body: dict[str, Any], respond: Respond, verb: str) -> None:
        user, channel, ts, value = _press(body)
        try:
            refusal = runtime.authz.refusal(user, channel)
            if refusal:
                raise NotAllowed(refusal[-1])
            job_id = on_card(runtime, body, channel, ts, value)
            text = engine.retry(job_id, user) if verb == "retry" else engine.cancel(job_id, user)
        except AvdError as err:
            text = f":no_entry: {err}"
        _tell(respond, text)

    @app.action(cards.RETRY)
    def on_retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(job_action, body, respond, "retry", respond=respond)

    @app.action(cards.CANCEL)
    def on_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(job_action, body, respond, "cancel", respond=respond)


# ---- scheduler ----------------------------------------------------------------------------------


def sweep(engine: Engine) -> None:
    try:
        approvals.expire_due(engine)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("approval sweep failed")


def _on_scheduler(engine: Engine, event: SchedulerEvent) -> None:
    if event.code == EVENT_SCHEDULER_STARTED:
        engine.progress.start()
        engine.runtime.scheduler.add_job(engine.resume_all, id="engine-resume", executor="light",
                                         replace_existing=True, misfire_grace_time=None)
    elif event.code == EVENT_SCHEDULER_SHUTDOWN:
        engine.progress.stop()


def load_capabilities() -> None:
    """Import the modules named in ``AVD_CAPABILITIES`` (comma-separated) and call their
    ``register_capabilities()``; they load after bot/capabilities, so they win (tests plug in here)."""
    for name in filter(None, (n.strip() for n in os.environ.get("AVD_CAPABILITIES", "").split(","))):
        module = importlib.import_module(name)
        plug = getattr(module, "register_capabilities", None)
        if callable(plug):
            plug()


def register(app: App, runtime: Runtime) -> None:
    """Install the engine on ``runtime`` (before ``runtime.start()``)."""
    runtime.store.migrate()  # the engine's own migration registers on import of bot.jobs
    engine = Engine(runtime)
    engine.on_drift = lambda job_id, plan, now: approvals.reopen(engine, job_id, plan, now)
    runtime.extensions["engine"] = engine
    if not runtime.scheduler.running:
        schedules.configure(runtime.scheduler, runtime.settings.db_path)
    schedules.attach(engine)
    runtime.scheduler.add_listener(lambda event: _on_scheduler(engine, event),
                                   EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_SHUTDOWN)
    runtime.scheduler.add_job(sweep, "interval", args=[engine], seconds=SWEEP_SECONDS, id="engine-sweep",
                              executor="light", replace_existing=True)
    runtime.handlers.update({ops.Jobs: show_jobs, ops.JobShow: show_job, ops.JobRetry: retry_job,
                             ops.JobCancel: cancel_job})
    # Capability modules (bot/capabilities/*.py) add their plans and any custom handlers (a modal, a
    # read-only answer); a custom handler wins over the engine's generic "run it as a job". Modules named
    # in AVD_CAPABILITIES load after them, so a drill or test capability can take a verb over.
    from bot.capabilities import register_all

    register_all(runtime)
    load_capabilities()
    for op_type in OP_KINDS:
        runtime.handlers.setdefault(op_type, run_capability)
    for op_type in ops._CHANGING:
        runtime.handlers.setdefault(op_type, run_capability)
    register_buttons(app, runtime)
