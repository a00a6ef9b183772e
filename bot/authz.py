"""Who may run commands, and where: operators, approvers and channels from the policy.

Policy entries starting with ``S`` are Slack user groups, resolved through ``usergroups.users.list``
(Tier 2) and cached for ``ttl`` seconds. When Slack cannot be asked, the last known members are used,
and with none known the group grants nothing (fail closed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import audit, render
from bot.settings import Policy
from bot.store import Store

log = logging.getLogger(__name__)
GROUP_TTL_SECONDS = 60.0


def is_group(entry: str) -> bool:
    return entry.startswith("S")


class Authz:
    """Membership checks against the policy, with user groups cached for ``ttl`` seconds."""

    def __init__(self, policy: Policy, client: WebClient, *, ttl: float = GROUP_TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.client = client
        self.ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def group_members(self, group_id: str) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(group_id)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
            try:
                resp = self.client.usergroups_users_list(usergroup=group_id)
                members = frozenset(resp.get("users") or ())
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("usergroups.users.list %s failed (%s); using the last known members", group_id, exc)
                return cached[1] if cached else frozenset()
            self._cache[group_id] = (now, members)
            return members

    def _member(self, user_id: str, entries: Iterable[str]) -> bool:
        entries = tuple(entries)
        if user_id in entries:
            return True
        return any(user_id in self.group_members(e) for e in entries if is_group(e))

    def is_operator(self, user_id: str) -> bool:
        """Operators, and approvers (who are operators too)."""
        return self._member(user_id, self.policy.operators) or self._member(user_id, self.policy.approvers)

    def is_approver(self, user_id: str) -> bool:
        return self._member(user_id, self.policy.approvers)

    def channel_allowed(self, channel_id: str) -> bool:
        return channel_id in self.policy.allowed_channels

    def refusal(self, user_id: str, channel_id: str) -> tuple[str, str] | None:
        """``None`` when the user may run commands here, else ``(reason code, text to answer with)``."""
        if not user_id or not self.is_operator(user_id):
            return "not_operator", render.not_operator(user_id or "unknown")
        if not channel_id or not self.channel_allowed(channel_id):
            return "channel_not_allowed", render.channel_not_allowed(channel_id or "unknown")
        return None


def operator_middleware(authz: Authz, store: Store) -> Callable[..., BoltResponse | None]:
    """Bolt listener middleware: refuse non-operators and other channels with an ephemeral answer + audit row."""

    def require_operator(body: dict[str, Any], context: Any, next: Callable[[], None]) -> BoltResponse | None:
        user_id = context.user_id or ""
        channel_id = context.channel_id or ""
        refusal = authz.refusal(user_id, channel_id)
        if refusal is None:
            next()
            return None
        reason, answer = refusal
        what = body.get("command") or body.get("type") or "request"
        text = body.get("text")
        audit.record(store, actor=user_id or "unknown", action="refused",
                     target=f"{what} {text}".strip() if text else str(what),
                     detail={"channel": channel_id, "reason": reason}, outcome="refused")
        return BoltResponse(status=200, body=answer, headers={"content-type": "text/plain;charset=utf-8"})

    return require_operator
