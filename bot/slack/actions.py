"""Buttons and forms: the engine's Approve / Reject / Retry / Cancel, and the capabilities' own
(``Capability.buttons``, ``Capability.form``).

Listeners ack first and hand the press to ``Runtime.after_ack``; the decision is made from the store (the
approval's policy in ``bot.engine.approvals``, the job's own card for Retry / Cancel) and answered ephemerally.
In the web role the press is recorded as an inbox row ``action:<action_id>`` (``press_payload``: who, where,
the button's value and the ``response_url``, no token) and a worker runs the same function on it
(``on_inbox``), answering through the ``response_url``.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_bolt.context.respond import Respond as RespondTo

from avdcore.errors import AvdError, NotAllowed
from bot.engine import approvals
from bot.runtime import BUSY_TEXT, ButtonHandler, Runtime, run_reporting
from bot.slack import cards, modals
from bot.storage import jobs

log = logging.getLogger(__name__)


# ---- buttons ------------------------------------------------------------------------------------


def _press(body: dict[str, Any]) -> tuple[str, str, str, str]:
    container = body.get("container") or {}
    action = (body.get("actions") or [{}])[0]
    return (
        (body.get("user") or {}).get("id", ""),
        container.get("channel_id", ""),
        container.get("message_ts", ""),
        str(action.get("value", "")),
    )


def _tell(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:  # noqa: BLE001 - the decision is recorded whether or not the reply lands
        log.warning("could not answer a button press: %s", text)


def on_card(runtime: Runtime, body: dict[str, Any], channel: str, ts: str, value: str) -> int:
    """The job a Retry/Cancel press names, refused unless the button is on that job's card (or on the
    ephemeral ``/avd job N`` answer, which is the command's own reply)."""
    job = (
        jobs.get_job(runtime.store, int(value))
        if value.isascii() and value.isdigit() and len(value) < 19
        else None
    )
    if job is None:
        raise NotAllowed("this button does not name a job this bot knows")
    ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
    if not ephemeral and (channel != job["channel"] or ts != (job.get("card_ts") or "")):
        raise NotAllowed(f"this button is not on job {job['id']}'s card")
    return int(job["id"])


def press_payload(body: dict[str, Any]) -> dict[str, Any]:
    """What a worker needs of a button press (the fields ``_press`` and ``on_card`` read), without tokens."""
    container = body.get("container") or {}
    action = (body.get("actions") or [{}])[0]
    user = str((body.get("user") or {}).get("id", ""))
    channel = str((body.get("channel") or {}).get("id", ""))
    return {
        "user": {"id": user},
        "channel": {"id": channel},
        "container": {
            "channel_id": container.get("channel_id", ""),
            "message_ts": container.get("message_ts", ""),
            "is_ephemeral": bool(container.get("is_ephemeral")),
        },
        "actions": [{"action_id": action.get("action_id", ""), "value": str(action.get("value", ""))}],
        "response_url": body.get("response_url", ""),
        "user_id": user,
        "channel_id": container.get("channel_id") or channel,
    }


def hand_off(
    runtime: Runtime, action_id: str, body: dict[str, Any], respond: Respond, fn: Any, *args: Any
) -> None:
    """Hand ``fn(body, respond, *args)`` to the work pool (or, in the web role, to a worker through the inbox);
    a full pool (overload) is told to the presser instead of dropped."""
    payload = press_payload(body) if runtime.defer is not None else {}
    if not runtime.hand_off(f"action:{action_id}", payload, fn, body, respond, *args, respond=respond):
        _tell(respond, BUSY_TEXT)


def on_inbox(runtime: Runtime, action_id: str, fn: Any, *args: Any) -> None:
    """A worker's half of a press: ``fn(payload, respond, *args)``, answering through the ``response_url``."""

    def run(payload: dict[str, Any]) -> None:
        respond = RespondTo(response_url=str(payload.get("response_url") or "") or None)
        run_reporting(fn, payload, respond, *args, respond=respond)

    runtime.inbox_handlers[f"action:{action_id}"] = run


Press = tuple[Any, tuple[Any, ...]]  # what a press runs after the ack: fn(body, respond, *args)


def capability_press(runtime: Runtime, handler: ButtonHandler) -> Press:
    """A capability's button: after the ack, answer the presser with ``handler(runtime, user, channel, value)``."""

    def pressed(body: dict[str, Any], respond: Respond) -> None:
        user, channel, _ts, value = _press(body)
        channel = channel or (body.get("channel") or {}).get("id", "")
        _tell(respond, handler(runtime, user, channel, value))

    return pressed, ()


def register_presses(app: App, runtime: Runtime, presses: dict[str, Press]) -> None:
    """One Bolt listener for every button in ``presses`` (action_id -> what it runs after the ack): it acks and
    hands the press off by its action_id. One matcher instead of one per button: Bolt tries each listener's
    matcher in turn, building its arguments, for every request (docs/benchmarks.md, the ack of Approve)."""
    pattern = re.compile("^(?:" + "|".join(re.escape(action_id) for action_id in presses) + ")$")

    @app.action(pattern)
    def on_press(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        action_id = str(((body.get("actions") or [{}])[0]).get("action_id", ""))
        fn, args = presses[action_id]
        hand_off(runtime, action_id, body, respond, fn, *args)

    for action_id, (fn, args) in presses.items():
        on_inbox(runtime, action_id, fn, *args)


def register(app: App, runtime: Runtime) -> None:
    """Register the four job buttons, the capabilities' buttons (one listener for all of them) and their form."""
    engine = runtime.engine

    def decide(body: dict[str, Any], respond: Respond, approve: bool) -> None:
        user, channel, ts, approval_id = _press(body)
        try:
            text = approvals.decide(
                engine, approval_id, user, approve=approve, channel=channel, message_ts=ts
            )
        except AvdError as err:
            text = f":no_entry: {err}"
        _tell(respond, text)

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

    presses: dict[str, Press] = {
        cards.APPROVE: (decide, (True,)),
        cards.REJECT: (decide, (False,)),
        cards.RETRY: (job_action, ("retry",)),
        cards.CANCEL: (job_action, ("cancel",)),
    }
    for action_id, handler in runtime.registry.buttons.items():
        if action_id in presses:
            raise ValueError(f"button {action_id!r} is the engine's: a capability names its own")
        presses[action_id] = capability_press(runtime, handler)
    register_presses(app, runtime, presses)
    for form in runtime.registry.forms:
        modals.register_view(runtime, functools.partial(form, runtime))
