"""An operation routed to a plan kind (``Capability.jobs``): requested as a job after the ack."""

from __future__ import annotations

from bot.runtime import CommandContext, Runtime
from bot.slack.render import escape
from commands.ops import Operation


def run_as_job(runtime: Runtime, ctx: CommandContext, op: Operation) -> None:
    """Hand a capability request to the planner pool; the card (or a refusal, escaped: it carries Azure's
    names and messages) follows."""

    def say(text: str) -> None:
        ctx.respond(text=escape(text), response_type="ephemeral")

    if runtime.role == "worker":  # on the inbox row's thread: the row is done once the job is recorded
        runtime.engine.request(op, ctx.user_id, ctx.channel_id, say)
        return
    runtime.scheduler.add_job(
        runtime.engine.request,
        args=[op, ctx.user_id, ctx.channel_id, say],
        executor="light",
        misfire_grace_time=None,
    )
