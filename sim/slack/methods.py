"""Web API methods: each takes the workspace, the call's arguments and the clock reading.

A method returns the success body (without ``ok``) or raises ``ApiError``, which becomes
HTTP 200 ``{"ok": false, "error": ...}`` like Slack's.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from sim.slack.blocks import validate_blocks, validate_view
from sim.slack.state import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER,
    TEAM_NAME,
    TEAM_URL,
    TRIGGER_TTL,
    Workspace,
    public,
)

MAX_TEXT = 40_000


class ApiError(Exception):
    """A Slack ``ok: false`` answer; ``extra`` adds fields such as ``needed`` or ``response_metadata``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The response body."""
        return {"ok": False, "error": self.error, **self.extra}


def missing(name: str) -> ApiError:
    """Slack's answer for a required argument left out."""
    return ApiError(
        "invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]}
    )


def required(args: dict[str, Any], name: str) -> str:
    """A required string argument."""
    value = args.get(name)
    if value in (None, ""):
        raise missing(name)
    return str(value)


def json_arg(args: dict[str, Any], name: str, error: str) -> Any:
    """An argument that is JSON in a form body and already decoded in a JSON body."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    return value


def flag(args: dict[str, Any], name: str) -> bool:
    """A boolean argument sent as true/false, 1/0 or a JSON boolean."""
    value = args.get(name)
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def content(args: dict[str, Any]) -> tuple[str, list[Any], list[Any] | None]:
    """Validated text, blocks and attachments of a message."""
    text = args.get("text")
    text = "" if text is None else str(text)
    blocks = json_arg(args, "blocks", "invalid_blocks_format")
    attachments = json_arg(args, "attachments", "invalid_attachments")
    if blocks is not None:
        problems = validate_blocks(blocks)
        if problems:
            raise ApiError("invalid_blocks", errors=problems, response_metadata={"messages": problems})
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    if len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    numbered = [{**a, "id": i + 1} for i, a in enumerate(attachments)] if attachments else None
    return text, blocks or [], numbered


def check_member(ws: Workspace, channel: str) -> None:
    """Slack's answer when the bot may not post in ``channel``: unknown (or private without the bot), archived,
    or not a member."""
    spec = ws.channels.get(channel)
    if spec is None or (spec.get("is_private") and not spec.get("is_member")):
        raise ApiError("channel_not_found")
    if spec.get("is_archived"):
        raise ApiError("is_archived")
    if not spec.get("is_member"):
        raise ApiError("not_in_channel")


def member_channel(ws: Workspace, args: dict[str, Any]) -> str:
    """The ``channel`` argument, which must exist and have the bot as a member."""
    channel = ws.resolve(required(args, "channel")) or ""
    check_member(ws, channel)
    return channel


def auth_test(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """auth.test: who the token belongs to."""
    return {
        "url": TEAM_URL,
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": ws.team_id,
        "user_id": BOT_USER,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def post_message(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """chat.postMessage: a new message or thread reply from the bot."""
    channel = member_channel(ws, args)
    text, blocks, attachments = content(args)
    thread_ts = args.get("thread_ts") or None
    message = ws.bot_message(text, blocks, str(thread_ts) if thread_ts else None)
    if attachments:
        message["attachments"] = attachments
    if thread_ts and flag(args, "reply_broadcast"):
        message["reply_broadcast"] = True
    ws.store(channel, message)
    return {"channel": channel, "ts": message["ts"], "message": public(message)}


def own_message(ws: Workspace, channel: str, ts: str, denied: str) -> dict[str, Any]:
    """A stored message of the bot's; ephemerals and unknown ts are not found."""
    message = ws.messages.get(channel, {}).get(ts)
    if message is None:
        raise ApiError("message_not_found")
    if message.get("bot_id") != BOT_ID:
        raise ApiError(denied)
    return message


def update_message(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """chat.update: replace the text and blocks of one of the bot's messages (text alone drops blocks)."""
    channel = member_channel(ws, args)
    ts = required(args, "ts")
    message = own_message(ws, channel, ts, "cant_update_message")
    text, blocks, attachments = content(args)
    ws.edit(message, text, blocks, BOT_USER)
    if attachments:
        message["attachments"] = attachments
    shown = public(message)
    return {"channel": channel, "ts": ts, "text": text, "message": shown}


def delete_message(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """chat.delete: remove one of the bot's messages."""
    channel = member_channel(ws, args)
    ts = required(args, "ts")
    own_message(ws, channel, ts, "cant_delete_message")
    del ws.messages[channel][ts]
    return {"channel": channel, "ts": ts}


def post_ephemeral(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """chat.postEphemeral: a message only ``user`` sees."""
    channel = member_channel(ws, args)
    user = required(args, "user")
    if user not in ws.users:
        raise ApiError("user_not_found")
    if not ws.is_member(channel, user):
        raise ApiError("user_not_in_channel")
    text, blocks, _ = content(args)
    ts = ws.next_ts()
    ws.ephemerals.append(
        {
            "channel": channel,
            "user": user,
            "ts": ts,
            "text": text,
            "blocks": blocks,
            "thread_ts": args.get("thread_ts") or None,
            "source": "chat.postEphemeral",
            "edits": 0,
        }
    )
    return {"message_ts": ts}


def modal(
    ws: Workspace, args: dict[str, Any], view_id: str, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """A validated view in the shape views.open and views.update return."""
    view = json_arg(args, "view", "invalid_arguments")
    if view in (None, ""):
        raise missing("view")
    problems = validate_view(view)
    if problems:
        raise ApiError("invalid_arguments", response_metadata={"messages": problems})
    return {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "blocks": copy.deepcopy(view["blocks"]),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": view.get("title"),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": previous["root_view_id"] if previous else view_id,
        "app_id": APP_ID,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": ws.team_id,
        "bot_id": BOT_ID,
    }


def open_view(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """views.open: a modal for a trigger id issued less than 3 s ago and not used before."""
    trigger_id = required(args, "trigger_id")
    issued = ws.triggers.get(trigger_id)
    if issued is None:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["invalid `trigger_id`"]})
    at, used = issued
    if used:
        raise ApiError("exchanged_trigger_id")
    if now - at > TRIGGER_TTL:
        raise ApiError("expired_trigger_id")
    view_id = "V" + secrets.token_hex(5).upper()
    view = modal(ws, args, view_id, None)
    ws.triggers[trigger_id] = (at, True)
    ws.views[view_id] = {"id": view_id, "trigger_id": trigger_id, "view": view, "updates": 0}
    return {"view": copy.deepcopy(view)}


def update_view(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """views.update: replace an open view, by id or external id, optionally guarded by its hash."""
    view_id = args.get("view_id")
    if not view_id and args.get("external_id"):
        view_id = next(
            (k for k, v in ws.views.items() if v["view"]["external_id"] == args["external_id"]), None
        )
        if view_id is None:
            raise ApiError("not_found")
    if not view_id:
        raise missing("view_id")
    entry = ws.views.get(str(view_id))
    if entry is None:
        raise ApiError("not_found")
    if args.get("hash") and args["hash"] != entry["view"]["hash"]:
        raise ApiError("hash_conflict")
    entry["view"] = modal(ws, args, entry["id"], entry["view"])
    entry["updates"] += 1
    return {"view": copy.deepcopy(entry["view"])}


def user_info(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """users.info."""
    user = required(args, "user")
    if user not in ws.users and user != BOT_USER:
        raise ApiError("user_not_found")
    return {"user": ws.user_info(user)}


def usergroup_users(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """usergroups.users.list."""
    group = required(args, "usergroup")
    if group not in ws.usergroups:
        raise ApiError("no_such_subteam")
    return {"users": list(ws.usergroups[group])}


def conversation_info(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """conversations.info: public channels need channels:read, private ones groups:read and membership."""
    channel = required(args, "channel")
    spec = ws.channels.get(channel)
    if spec is None or (spec.get("is_private") and not spec.get("is_member")):
        raise ApiError("channel_not_found")
    needed = "groups:read" if spec.get("is_private") else "channels:read"
    if needed not in ws.scopes:
        raise ApiError("missing_scope", needed=needed, provided=",".join(ws.scopes))
    return {"channel": ws.channel_info(channel)}


Method = Callable[[Workspace, dict[str, Any], float], dict[str, Any]]

# method name -> (handler, scope it needs or None)
METHODS: dict[str, tuple[Method, str | None]] = {
    "auth.test": (auth_test, None),
    "chat.postMessage": (post_message, "chat:write"),
    "chat.update": (update_message, "chat:write"),
    "chat.delete": (delete_message, "chat:write"),
    "chat.postEphemeral": (post_ephemeral, "chat:write"),
    "views.open": (open_view, None),
    "views.update": (update_view, None),
    "users.info": (user_info, "users:read"),
    "usergroups.users.list": (usergroup_users, "usergroups:read"),
    "conversations.info": (conversation_info, None),
}
