"""The ``/avd`` listener and the error handler: ack first, then hand off through the handler table.

Help and usage errors are answered inside the ack (ephemeral, milliseconds), and so is what a capability
answers from memory (``Capability.ack_answers``). Every other operation is acked empty and handed to
``Runtime.after_ack``: recorded in the audit trail and passed to ``runtime.registry.handlers[type(op)]`` (the
capabilities' table, complete by construction); its ``Reply`` goes back through ``respond()``.

Before any of that, a user past the per-user rate limit (``authz.RateLimit``: by default 10 commands at once,
then 20 a minute; ``AVD_COMMAND_BURST``, ``AVD_COMMANDS_PER_MINUTE``) is answered in the ack with when to try again, and a command that the full work pool could not take
(``Runtime.WORK_QUEUE``) is answered "busy, try again" instead of being queued.

In the web role (``avd-bot serve --role web``) the hand-off records a ``command`` row in the inbox instead
(``command_payload``: the text and where to answer, no token); a worker rebuilds the context from it
(``context_of``, answering through the ``response_url`` as Bolt's ``respond()`` does), parses the same text and
runs the same ``dispatch``.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_bolt.context.respond import Respond as RespondTo
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient

from avdcore.errors import AvdError
from bot.runtime import BUSY_TEXT, CommandContext, Runtime, run_reporting
from bot.slack import authz, render
from bot.slack.requests import run_as_job
from bot.storage import audit
from commands import UsageError, ops, parse
from commands.help import help_text

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def help_ack(topic: str | None) -> dict[str, Any]:
    """The serialized ``/avd help [topic]`` reply (pure, so computed once per topic)."""
    return render.help_reply(help_text(topic)).to_dict()


def answer_in_ack(text: str, runtime: Runtime) -> dict[str, Any] | ops.Operation:
    """Parse; help and usage errors become the ack's reply (``ack(**reply)``), anything else is handed off."""
    try:
        op = parse(text, runtime.vocab)
        if isinstance(op, ops.Help):
            return help_ack(op.topic)
    except UsageError as err:
        return render.usage_error(err, text).to_dict()
    return op


def dispatch(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    """Run the operation's handler after the ack and send its reply."""
    audit.record(
        runtime.store,
        actor=ctx.user_id,
        action=op.verb,
        target=ctx.text.strip(),
        detail={"channel": ctx.channel_id},
        outcome="accepted",
        at=ctx.now,
    )
    handler = runtime.registry.handlers.get(
        type(op), run_as_job
    )  # the table is complete: checked at start-up
    try:
        reply = handler(runtime, ctx, op)
    except AvdError as err:
        reply = render.user_error(err)
    if reply is not None:
        ctx.respond(**reply.to_dict())


def fallback_respond(respond: Respond, client: WebClient, channel: str, user: str) -> Callable[..., Any]:
    """``respond()`` that falls back to ``chat.postEphemeral`` when the response_url refuses the answer.

    Bolt's ``respond()`` never raises on an HTTP error (a response_url expires after 30 minutes and takes
    at most 5 answers), so an answer could silently vanish; the user sees it in the channel instead.
    """

    def send(**reply: Any) -> Any:
        try:
            result = respond(**reply)
            if getattr(result, "status_code", 200) < 300:
                return result
            reason = f"HTTP {getattr(result, 'status_code', '?')} {getattr(result, 'body', '')}".strip()
        except Exception as exc:  # noqa: BLE001 - a network error must not lose the answer either
            reason = type(exc).__name__
        log.warning("response_url refused the answer (%s): posting it as an ephemeral message", reason)
        args = {k: reply[k] for k in ("text", "blocks") if reply.get(k) is not None}
        return client.chat_postEphemeral(channel=channel, user=user, **args)

    return send


COMMAND = "command"  # the inbox kind of a ``/avd`` command handed to a worker


def command_payload(command: dict[str, Any], shown: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """What a worker needs of a ``/avd`` command (``context_of``): no token, no signature."""
    return {
        "text": command.get("text") or "",
        "user_id": command.get("user_id", ""),
        "channel_id": command.get("channel_id", ""),
        "team_id": command.get("team_id", ""),
        "response_url": command.get("response_url", ""),
        "trigger_id": command.get("trigger_id", ""),
        "acked": shown,
        "at": at.isoformat(),
    }


def context_of(runtime: Runtime, payload: dict[str, Any]) -> CommandContext:
    """The ``CommandContext`` of a recorded command, answering through its ``response_url``."""
    channel, user = str(payload.get("channel_id", "")), str(payload.get("user_id", ""))
    respond = RespondTo(response_url=str(payload.get("response_url") or "") or None)
    return CommandContext(
        user_id=user,
        channel_id=channel,
        team_id=str(payload.get("team_id", "")),
        text=str(payload.get("text", "")),
        response_url=str(payload.get("response_url", "")),
        trigger_id=str(payload.get("trigger_id", "")),
        respond=cast(Respond, fallback_respond(respond, runtime.client, channel, user)),
        client=runtime.client,
        now=datetime.fromisoformat(payload["at"]) if payload.get("at") else runtime.clock(),
        acked=payload.get("acked"),
    )


def run_command(runtime: Runtime, payload: dict[str, Any]) -> None:
    """A worker's half of ``/avd``: the same text parsed with the same vocabulary, then ``dispatch``."""
    ctx = context_of(runtime, payload)
    try:
        op = parse(ctx.text, runtime.vocab)
    except UsageError as err:  # the web process parsed it: only a changed avd.toml gets here
        ctx.respond(**render.usage_error(err, ctx.text).to_dict())
        return
    run_reporting(dispatch, runtime, ctx, op, respond=ctx.respond)


UNHANDLED = ":grey_question: avd-ops does not know this button or form (an old message?); nothing was done."


def unhandled(body: dict[str, Any], respond: Respond | None) -> BoltResponse:
    """A request no listener matched (an unknown action id, another slash command): a plain ack, no incident."""
    log.warning("no listener for a %s request", body.get("type") or body.get("command") or "unknown")
    if body.get("command"):
        return authz.answer(
            body, f":grey_question: avd-ops only answers `/avd`, not `{str(body['command'])[:40]}`."
        )
    if body.get("type") in ("block_actions", "view_submission"):
        return authz.answer(body, UNHANDLED, respond)
    return BoltResponse(status=200, body="")


def register(app: App, runtime: Runtime) -> None:
    """Register the request guard, ``/avd`` (behind the operator middleware) and the one error handler."""
    app.use(authz.RequestGuard(runtime.store, runtime.replay))
    # The operator check writes its refusals' audit rows after the ack, on the replay memory's writer.
    middleware = (
        [authz.OperatorCheck(runtime.authz, runtime.store, runtime.replay.later)]
        if runtime.require_operator
        else []
    )
    limit = authz.RateLimit(runtime.settings.command_burst, 60.0 / runtime.settings.commands_per_minute)
    runtime.inbox_handlers[COMMAND] = functools.partial(run_command, runtime)

    @app.command("/avd", middleware=middleware)
    def avd(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        text = command.get("text") or ""
        wait = limit.take(command.get("user_id", ""))
        if wait:
            ack(text=authz.rate_limited(wait, limit))
            return
        answer = answer_in_ack(text, runtime)
        if isinstance(answer, dict):
            ack(**answer)
            return
        if not runtime.workers.has_room():
            ack(text=BUSY_TEXT)
            return
        from_memory = runtime.registry.ack_answers.get(type(answer))
        shown = from_memory(runtime, answer) if from_memory is not None else None
        ctx = CommandContext(
            user_id=command.get("user_id", ""),
            channel_id=command.get("channel_id", ""),
            team_id=command.get("team_id", ""),
            text=text,
            response_url=command.get("response_url", ""),
            trigger_id=command.get("trigger_id", ""),
            respond=cast(
                Respond,
                fallback_respond(respond, client, command.get("channel_id", ""), command.get("user_id", "")),
            ),
            client=client,
            now=runtime.clock(),
            acked=shown,
        )
        # Queued before the ack (the work waits for the ack through the gate), so a full pool is said in it.
        # In the web role: recorded in the inbox for a worker (committed before the ack).
        payload = command_payload(command, shown, ctx.now) if runtime.defer is not None else {}
        if runtime.hand_off(COMMAND, payload, dispatch, runtime, ctx, answer, respond=ctx.respond):
            ack(**(shown or {}))
        else:
            ack(text=BUSY_TEXT)

    @app.error
    def on_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None, respond: Respond | None
    ) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):  # needs App(raise_error_for_unhandled_request=True)
            return unhandled(body, respond)
        incident = uuid.uuid4().hex[:8]
        log.error("incident %s: unhandled %s", incident, type(error).__name__, exc_info=error)
        text = render.internal_error(incident)
        if response is not None:  # before the ack: the HTTP response itself carries the message
            return BoltResponse(status=200, body=text, headers={"content-type": "text/plain;charset=utf-8"})
        if respond is not None and body.get("response_url"):
            try:
                respond(text=text, response_type="ephemeral")
            except Exception:  # noqa: BLE001 - the error path must not raise
                log.exception("incident %s: could not tell the user", incident)
        return None
