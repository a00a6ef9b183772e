"""``/avd help | jobs | job N [retry|cancel] | audit [N]``: the bot's own records and the engine's actions."""

from __future__ import annotations

from bot.capabilities.snapshots import schedule_lines
from bot.runtime import Capability, CommandContext, Runtime
from bot.slack import cards, render
from bot.storage import audit, jobs
from commands import ops
from commands.help import help_text


def show_help(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    """Help is answered inside the ack (``bot.slack.listeners``); this is the same answer after it."""
    assert isinstance(op, ops.Help)
    return render.help_reply(help_text(op.topic))


def show_audit(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.Audit)
    return render.audit_list(audit.recent(runtime.store, op.count), simulated=runtime.simulated_azure)


def show_jobs(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    return render.jobs_list(
        jobs.recent_jobs(runtime.store), simulated=runtime.simulated_azure, schedules=schedule_lines(runtime)
    )


def show_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobShow)
    if jobs.get_job(runtime.store, op.job_id) is None:
        return render.job_not_found(op.job_id)
    text, blocks = cards.render_job(
        runtime.store, op.job_id, None, now=runtime.clock(), simulated=runtime.simulated_azure
    )
    return render.Reply(text=text, blocks=blocks)


def retry_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobRetry)
    return render.Reply(text=runtime.engine.retry(op.job_id, ctx.user_id))


def cancel_job(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply:
    assert isinstance(op, ops.JobCancel)
    return render.Reply(text=runtime.engine.cancel(op.job_id, ctx.user_id))


CAPABILITY = Capability(
    name="jobs",
    handlers={
        ops.Help: show_help,
        ops.Audit: show_audit,
        ops.Jobs: show_jobs,
        ops.JobShow: show_job,
        ops.JobRetry: retry_job,
        ops.JobCancel: cancel_job,
    },
)
