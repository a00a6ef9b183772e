"""response_url hooks: what Bolt's ``respond()`` posts to.

A hook takes JSON (``text``, ``blocks``, ``response_type``, ``replace_original``, ``delete_original``,
``thread_ts``), works at most 5 times within 30 minutes, and answers errors with plain-text bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sim.slack.blocks import validate_blocks
from sim.slack.methods import MAX_TEXT, flag
from sim.slack.state import BOT_USER, HOOK_TTL, HOOK_USES, Hook, Workspace


@dataclass(frozen=True)
class HookReply:
    """The HTTP answer to a hook POST, and what it did."""

    status: int
    body: str
    payload: dict[str, Any]

    def journal(self) -> dict[str, Any]:
        """The reply as a journal entry's response dict."""
        if self.status == 200:
            return {"ok": True}
        return {"ok": False, "error": self.body}


OK_BODY = json.dumps({"ok": True})


def reject(status: int, error: str, payload: dict[str, Any] | None = None) -> HookReply:
    """A plain-text failure."""
    return HookReply(status=status, body=error, payload=payload or {})


def handle_hook(ws: Workspace, token: str, raw: bytes, now: float) -> HookReply:
    """Apply one POST to a response_url."""
    hook = ws.hooks.get(token)
    if hook is None:
        return reject(404, "no_service")
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        return reject(400, "invalid_payload")
    if now - hook.created > HOOK_TTL:
        return reject(404, "expired_url", payload)
    if hook.uses >= HOOK_USES:
        return reject(404, "used_url", payload)
    hook.uses += 1
    if flag(payload, "delete_original"):
        return delete_original(ws, hook, payload)
    text = payload.get("text")
    text = "" if text is None else str(text)
    blocks = payload.get("blocks")
    if blocks is not None and validate_blocks(blocks):
        return reject(400, "invalid_blocks", payload)
    if not text and not blocks and not payload.get("attachments"):
        return reject(400, "no_text", payload)
    if len(text) > MAX_TEXT:
        return reject(400, "msg_too_long", payload)
    if flag(payload, "replace_original") and hook.message_ts:
        return replace_original(ws, hook, text, blocks or [], payload)
    if payload.get("response_type") == "in_channel":
        message = ws.bot_message(text, blocks or [], payload.get("thread_ts") or None)
        ws.store(hook.channel, message)
    else:
        ws.ephemerals.append(
            {
                "channel": hook.channel,
                "user": hook.user,
                "ts": ws.next_ts(),
                "text": text,
                "blocks": blocks or [],
                "thread_ts": payload.get("thread_ts") or None,
                "source": "response_url",
                "edits": 0,
            }
        )
    return HookReply(status=200, body=OK_BODY, payload=payload)


def replace_original(
    ws: Workspace, hook: Hook, text: str, blocks: list[Any], payload: dict[str, Any]
) -> HookReply:
    """Edit the message the interaction came from (the only way to edit an ephemeral)."""
    ephemeral = ws.find_ephemeral(hook.channel, hook.message_ts)
    if ephemeral is not None:
        ephemeral.update(text=text, blocks=blocks)
        ephemeral["edits"] += 1
        return HookReply(status=200, body=OK_BODY, payload=payload)
    message = ws.messages.get(hook.channel, {}).get(hook.message_ts or "")
    if message is None:
        return reject(404, "message_not_found", payload)
    ws.edit(message, text, blocks, BOT_USER)
    return HookReply(status=200, body=OK_BODY, payload=payload)


def delete_original(ws: Workspace, hook: Hook, payload: dict[str, Any]) -> HookReply:
    """Remove the message the interaction came from."""
    ephemeral = ws.find_ephemeral(hook.channel, hook.message_ts)
    if ephemeral is not None:
        ws.ephemerals.remove(ephemeral)
        return HookReply(status=200, body=OK_BODY, payload=payload)
    if ws.messages.get(hook.channel, {}).pop(hook.message_ts or "", None) is None:
        return reject(404, "message_not_found", payload)
    return HookReply(status=200, body=OK_BODY, payload=payload)
