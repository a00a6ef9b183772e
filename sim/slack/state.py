"""The simulated Slack workspace: people, channels, groups, messages, views, triggers and hooks."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

BOT_USER = "U0AVDBOT"
BOT_ID = "B0AVDBOT"
BOT_NAME = "avd-ops"
APP_ID = "A0AVDOPS"
TEAM_NAME = "AVD Ops Sandbox"
TEAM_URL = "https://avd-ops-sandbox.slack.com/"

DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "usergroups:read",
    "users:read",
    "channels:read",
    "groups:read",
    "files:write",
)

DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "U0OPS1": {"name": "ops1", "real_name": "Ola Operator", "is_admin": False},
    "U0OPS2": {"name": "ops2", "real_name": "Omar Operator", "is_admin": False},
    "U0LEAD1": {"name": "lead1", "real_name": "Lena Lead", "is_admin": True},
    "U0LEAD2": {"name": "lead2", "real_name": "Luis Lead", "is_admin": True},
    "U0GUEST": {"name": "guest", "real_name": "Gwen Guest", "is_admin": False},
}

DEFAULT_USERGROUPS: dict[str, list[str]] = {
    "S0LEADS": ["U0LEAD1", "U0LEAD2"],
    "S0OPS": ["U0OPS1", "U0OPS2", "U0LEAD1", "U0LEAD2"],
}

# C0OUTSIDE is public but the bot has not joined it; C0LEADS is private and the bot is not in it.
DEFAULT_CHANNELS: dict[str, dict[str, Any]] = {
    "C0INCIDENT": {"name": "incident", "is_private": False, "is_member": True},
    "C0RANDOM": {"name": "random", "is_private": False, "is_member": True},
    "C0OUTSIDE": {"name": "watercooler", "is_private": False, "is_member": False},
    "C0LEADS": {"name": "leads-only", "is_private": True, "is_member": False},
}

TRIGGER_TTL = 3.0
HOOK_TTL = 30 * 60.0
HOOK_USES = 5


@dataclass
class Hook:
    """One response_url: where it posts, for whom, and how often it was used."""

    channel: str
    user: str
    created: float
    message_ts: str | None = None
    uses: int = 0


@dataclass
class Workspace:
    """Mutable state behind the Web API; callers hold the simulator's lock."""

    team_id: str
    users: dict[str, dict[str, Any]]
    usergroups: dict[str, list[str]]
    channels: dict[str, dict[str, Any]]
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, tuple[float, bool]] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)
    last_micros: int = 0

    def clear(self) -> None:
        """Forget every message, ephemeral, view, trigger and hook."""
        self.messages.clear()
        self.ephemerals.clear()
        self.views.clear()
        self.triggers.clear()
        self.hooks.clear()

    def next_ts(self) -> str:
        """A unique, increasing message timestamp such as ``1700000000.000100``."""
        micros = max(int(time.time() * 1_000_000), self.last_micros + 1)
        self.last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def resolve(self, channel: str) -> str | None:
        """A channel id from an id, ``name`` or ``#name`` (chat methods accept names); None if unknown."""
        if channel in self.channels:
            return channel
        name = channel.removeprefix("#")
        return next((cid for cid, spec in self.channels.items() if spec.get("name") == name), None)

    def is_member(self, channel: str, user: str) -> bool:
        """Whether a person is in a channel (every person, unless the channel lists ``members``)."""
        members = self.channels[channel].get("members")
        return user in self.users and (members is None or user in members)

    def bot_message(self, text: str, blocks: list[Any], thread_ts: str | None) -> dict[str, Any]:
        """A message as the bot posts it, in the shape chat.postMessage returns."""
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "username": BOT_NAME,
            "team": self.team_id,
            "ts": self.next_ts(),
            "blocks": blocks,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "deleted": False,
                "team_id": self.team_id,
            },
            "history": [],
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message

    def store(self, channel: str, message: dict[str, Any]) -> None:
        """Keep a message and count it as a reply on its thread parent."""
        self.messages.setdefault(channel, {})[message["ts"]] = message
        parent = self.messages[channel].get(message.get("thread_ts") or "")
        if parent is not None and parent is not message:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1

    def edit(self, message: dict[str, Any], text: str, blocks: list[Any], editor: str) -> None:
        """Replace a message's content, keeping the previous version in its history."""
        message["history"].append({"text": message["text"], "blocks": message["blocks"]})
        message["text"] = text
        message["blocks"] = blocks
        message["edited"] = {"user": editor, "ts": self.next_ts()}

    def find_ephemeral(self, channel: str, ts: str | None) -> dict[str, Any] | None:
        """An ephemeral message by channel and ts."""
        for item in self.ephemerals:
            if item["channel"] == channel and item["ts"] == ts:
                return item
        return None

    def new_trigger(self, now: float) -> str:
        """Issue a trigger id valid for 3 seconds and usable once."""
        trigger_id = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = (now, False)
        return trigger_id

    def new_hook(self, channel: str, user: str, message_ts: str | None, now: float) -> str:
        """Issue a response_url token."""
        token = secrets.token_urlsafe(18)
        self.hooks[token] = Hook(channel=channel, user=user, created=now, message_ts=message_ts)
        return token

    def user_info(self, user_id: str) -> dict[str, Any]:
        """A user object shaped like users.info."""
        if user_id == BOT_USER:
            person: dict[str, Any] = {
                "name": BOT_NAME,
                "real_name": BOT_NAME,
                "is_admin": False,
                "is_bot": True,
            }
        else:
            person = self.users[user_id]
        name = person.get("name", user_id.lower())
        real_name = person.get("real_name", name)
        image = f"https://avatars.example.invalid/{user_id}.png"
        profile: dict[str, Any] = {
            "avatar_hash": "g0000000000",
            "display_name": name,
            "display_name_normalized": name,
            "email": person.get("email", f"{name}@avd-ops.example.com"),
            "real_name": real_name,
            "real_name_normalized": real_name,
            "status_emoji": "",
            "status_text": "",
            "team": self.team_id,
        }
        profile.update(
            {f"image_{size}": image for size in ("24", "32", "48", "72", "192", "512", "original")}
        )
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": "Europe/London",
            "tz_label": "British Summer Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": bool(person.get("is_admin", False)),
            "is_owner": bool(person.get("is_owner", False)),
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": bool(person.get("is_bot", False)),
            "is_app_user": False,
            "has_2fa": False,
            "updated": 1700000000,
        }

    def channel_info(self, channel_id: str) -> dict[str, Any]:
        """A channel object shaped like conversations.info."""
        spec = self.channels[channel_id]
        name = spec.get("name", channel_id.lower())
        private = bool(spec.get("is_private", False))
        return {
            "id": channel_id,
            "name": name,
            "name_normalized": name,
            "created": 1700000000,
            "creator": "U0LEAD1",
            "is_channel": not private,
            "is_group": private,
            "is_im": False,
            "is_mpim": False,
            "is_private": private,
            "is_archived": bool(spec.get("is_archived", False)),
            "is_general": name == "general",
            "is_member": bool(spec.get("is_member", False)),
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "is_read_only": False,
            "unlinked": 0,
            "parent_conversation": None,
            "last_read": "0000000000.000000",
            "locale": "en-GB",
            "previous_names": [],
            "topic": {"value": spec.get("topic", ""), "creator": "", "last_set": 0},
            "purpose": {"value": spec.get("purpose", ""), "creator": "", "last_set": 0},
        }


def public(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the Web API returns it (no simulator bookkeeping)."""
    return {k: copy.deepcopy(v) for k, v in message.items() if k != "history"}


def journal_view(message: dict[str, Any]) -> dict[str, Any]:
    """A message for test assertions: the API shape plus ``edits`` and ``history``."""
    view = copy.deepcopy(message)
    view.setdefault("history", [])
    view.setdefault("thread_ts", None)
    view["edits"] = len(view["history"])
    return view
