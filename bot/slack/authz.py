"""Who may run commands, and where: operators, approvers and channels from the policy.

Policy entries starting with ``S`` are Slack user groups, resolved through ``usergroups.users.list``
(Tier 2). A permission check never calls Slack: it answers from the cache, and when the cached members are
older than ``ttl`` (60 s) it starts one background refresh per group (a 429 or an error delays only that
refresh, never a check or an ack). Only the very first check of a group, with nothing cached yet, waits
for that first fetch, at most ``FIRST_WAIT_SECONDS`` (1 s), and then fails closed. When Slack keeps failing,
the last known members are used until they are ``max_age`` old (``GROUP_MAX_AGE_SECONDS``, 10 minutes):
past that the group grants nothing (fail closed), so a member removed in Slack loses the right within
10 minutes even while Slack cannot be asked.

``RequestGuard`` runs before every listener: a request from another workspace (its team id is not the
bot's, as ``auth.test`` reported it) and a replay of a slash command or button press already handled
(same ``trigger_id``, even re-signed with a fresh timestamp) are refused with an answer and an audit row.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.siteconfig import Policy
from bot.slack import render
from bot.storage import audit, interactions
from bot.storage.store import Store

log = logging.getLogger(__name__)
GROUP_TTL_SECONDS = 60.0
GROUP_MAX_AGE_SECONDS = 600.0  # past this, cached members grant nothing (fail closed)
FIRST_WAIT_SECONDS = 1.0  # the first check of a group waits this long for its first fetch
BATCH_SECONDS = 0.2  # replay keys claimed within this window are written together
REPLAY_MEMORY = timedelta(hours=24)  # far longer than Slack's 5-minute signature window
MAX_PENDING_WRITES = 1024  # refusals' audit rows waiting for the writer; a flood past it is dropped, logged
COMMAND_BURST = 10  # /avd commands a user may send at once ...
COMMAND_EVERY_SECONDS = 3.0  # ... and then one more each this many seconds (20 a minute)
PRUNE_ABOVE = 4096  # users counted before the rate limit forgets those whose bucket is full again


def is_group(entry: str) -> bool:
    return entry.startswith("S")


class Authz:
    """Membership checks against the policy; user groups answered from a cache refreshed in the background."""

    def __init__(
        self,
        policy: Policy,
        client: WebClient,
        *,
        ttl: float = GROUP_TTL_SECONDS,
        max_age: float = GROUP_MAX_AGE_SECONDS,
        first_wait: float = FIRST_WAIT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.client = client
        self.ttl = ttl
        self.max_age = max_age
        self.first_wait = first_wait
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()  # guards the dicts only: never held across a Slack call
        self._refreshing: dict[str, threading.Thread] = {}

    def group_members(self, group_id: str) -> frozenset[str]:
        """The group's members from the cache (empty once older than ``max_age``); never calls Slack here."""
        now = self._monotonic()
        cached = self._cache.get(group_id)
        if cached is None or now - cached[0] >= self.ttl:
            refresh = self._start_refresh(group_id)
            if cached is None and refresh is not None:
                refresh.join(self.first_wait)  # nothing known yet: wait briefly for the first answer
                cached = self._cache.get(group_id)
        if cached is None:
            return frozenset()
        age = now - cached[0]
        if age > self.max_age:
            log.warning(
                "members of %s are %.0f s old (limit %.0f s): the group grants nothing",
                group_id,
                age,
                self.max_age,
            )
            return frozenset()
        return cached[1]

    def refresh(self, group_id: str) -> bool:
        """Ask Slack for the group's members now and cache them; ``False`` when Slack did not answer."""
        try:
            resp = self.client.usergroups_users_list(usergroup=group_id)
            members = frozenset(resp.get("users") or ())
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("usergroups.users.list %s failed (%s); keeping the last known members", group_id, exc)
            return False
        with self._lock:
            self._cache[group_id] = (self._monotonic(), members)
        return True

    def flush(self) -> None:
        """Wait for the background refreshes in flight (tests, shutdown)."""
        with self._lock:
            running = list(self._refreshing.values())
        for thread in running:
            thread.join()

    def _start_refresh(self, group_id: str) -> threading.Thread | None:
        """Start one background refresh of ``group_id`` unless one is in flight; returns the refresh."""

        def run() -> None:
            try:
                self.refresh(group_id)
            finally:
                with self._lock:
                    self._refreshing.pop(group_id, None)

        with self._lock:
            running = self._refreshing.get(group_id)
            if running is not None:
                return running
            thread = threading.Thread(target=run, name=f"avd-group-{group_id}", daemon=True)
            self._refreshing[group_id] = thread
            thread.start()  # inside the lock: whoever finds it in ``_refreshing`` may join it
        return thread

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


Later = Callable[..., object]  # ``later(fn, *args)``: run after the ack (``ReplayMemory.later``)


def audit_refusal(store: Store, later: Later | None, **row: Any) -> None:
    """The audit row of a refusal, written after the ack when ``later`` is given (its time is now's)."""
    row.setdefault("at", datetime.now(UTC))
    if later is None:
        audit.record(store, **row)
    else:
        later(functools.partial(audit.record, store, **row))


class OperatorCheck(Middleware):
    """Bolt listener middleware: refuse non-operators and other channels with an ephemeral answer; the audit
    row is written after the ack through ``later`` (inline without it). A ``Middleware`` of its own rather
    than a function: Bolt builds a function middleware's every possible argument on each request, on the ack
    path (docs/benchmarks.md)."""

    def __init__(self, authz: Authz, store: Store, later: Later | None = None) -> None:
        self.authz, self.store, self.later = authz, store, later

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        body, context = req.body, req.context
        user_id = context.user_id or ""
        channel_id = context.channel_id or ""
        refusal = self.authz.refusal(user_id, channel_id)
        if refusal is None:
            next()
            return None
        reason, text_answer = refusal
        what = body.get("command") or body.get("type") or "request"
        text = body.get("text")
        audit_refusal(
            self.store,
            self.later,
            actor=user_id or "unknown",
            action="refused",
            target=f"{what} {text}".strip() if text else str(what),
            detail={"channel": channel_id, "reason": reason},
            outcome="refused",
        )
        return BoltResponse(
            status=200, body=text_answer, headers={"content-type": "text/plain;charset=utf-8"}
        )


class RateLimit:
    """A token bucket per user: ``burst`` commands at once, then one every ``every`` seconds.

    ``take`` reads and writes one dict entry and takes no lock (it runs on the ack path): two requests of
    one user racing may both get the last token, which costs one extra command, never a wait.
    """

    def __init__(
        self,
        burst: int = COMMAND_BURST,
        every: float = COMMAND_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.every = every
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (tokens, when counted)
        self._pruned = float("-inf")  # when users with a full bucket were last forgotten

    def take(self, user: str) -> float:
        """0 when ``user`` may run a command now (one token taken), else the seconds until they may."""
        now = self._monotonic()
        tokens, then = self._buckets.get(user, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) / self.every)
        if tokens >= 1.0:
            self._buckets[user] = (tokens - 1.0, now)
            # forget users whose bucket has filled up again; at most once per ``every`` seconds, so a crowd of
            # users still refilling does not make every ack copy them all
            if len(self._buckets) > PRUNE_ABOVE and now - self._pruned >= self.every:
                self._pruned = now
                self._buckets = {
                    u: b for u, b in self._buckets.items() if b[0] + (now - b[1]) / self.every < self.burst
                }
            return 0.0
        self._buckets[user] = (tokens, now)
        return (1.0 - tokens) * self.every

    def __len__(self) -> int:
        """Users counted now."""
        return len(self._buckets)


def rate_limited(wait: float, limit: RateLimit) -> str:
    """The ack's answer to a user past their rate limit: when to try again, and the limit."""
    return (
        f":hourglass: Too many commands: try again in {max(1, math.ceil(wait))} s "
        f"(up to {limit.burst} at once, then one every {limit.every:g} s)."
    )


# ---- every request: workspace and replay --------------------------------------------------------


class ReplayMemory:
    """Interactions seen within ``REPLAY_MEMORY``: answered from memory, so the replay check adds no I/O
    before the ack; each new key is written to SQLite on a background thread, and the table is read back
    when the memory is built, so a restarted bot still refuses a replay."""

    def __init__(self, store: Store, now: datetime | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avd-replay")
        self._pending: list[tuple[str, datetime]] = []
        self._scheduled = False
        self._waiting = 0
        self.dropped = 0
        cutoff = (now or datetime.now(UTC)) - REPLAY_MEMORY
        # oldest first (the order keys are claimed in), so the expired ones are forgotten from the front
        self._seen: OrderedDict[str, datetime] = OrderedDict(interactions.seen_since(store, cutoff))

    def claim(self, key: str, now: datetime | None = None) -> bool:
        """``True`` the first time ``key`` is seen within ``REPLAY_MEMORY``, ``False`` for a replay."""
        now = now or datetime.now(UTC)
        cutoff = now - REPLAY_MEMORY
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen >= cutoff:
                return False
            self._seen.pop(key, None)  # an expired key goes to the end, with its new time
            self._seen[key] = now
            self._forget(cutoff)
            self._pending.append((key, now))
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            self._writer.submit(self._persist)
        return True

    def __len__(self) -> int:
        """Keys remembered now."""
        return len(self._seen)

    def _forget(self, cutoff: datetime) -> None:
        """Drop the keys seen before ``cutoff``, oldest first: O(1) per key dropped, no scan of the rest (a
        busy workspace keeps thousands of keys for a day, and this runs before every ack). Call with the lock."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at >= cutoff:
                return
            del self._seen[oldest]

    def later(self, fn: Callable[[], object]) -> bool:
        """Run ``fn`` on the writer thread, after the ack (refusals' audit rows); at most
        ``MAX_PENDING_WRITES`` wait at once: past that the write is dropped and logged."""
        with self._lock:
            if self._waiting >= MAX_PENDING_WRITES:
                self.dropped += 1
                dropped = self.dropped
            else:
                self._waiting += 1
                dropped = 0
        if dropped:
            log.warning("%d write(s) dropped: %d already wait for the writer", dropped, MAX_PENDING_WRITES)
            return False
        self._writer.submit(self._run_later, fn)
        return True

    def _run_later(self, fn: Callable[[], object]) -> None:
        with self._lock:
            self._waiting -= 1
        try:
            fn()
        except Exception:  # noqa: BLE001 - the answer stands; the row is lost, and said so
            log.exception("a write after the ack failed")

    def flush(self) -> None:
        """Wait until every claimed key and every write handed to ``later`` is on disk (tests, shutdown)."""
        self._writer.submit(lambda: None).result()

    def close(self) -> None:
        """Write what is pending and stop the writer (before the store closes its connections)."""
        self._writer.shutdown(wait=True)

    def _persist(self) -> None:
        """Write the keys claimed since the last write in one transaction (a burst costs one write)."""
        time.sleep(BATCH_SECONDS)
        with self._lock:
            batch, self._pending, self._scheduled = self._pending, [], False
        if not batch:
            return
        try:
            interactions.record(self.store, batch, batch[-1][1] - REPLAY_MEMORY)
        except Exception:  # noqa: BLE001 - memory still refuses the replay; only a restart could miss it
            log.exception("could not record %d interaction(s)", len(batch))


def _first(items: Any) -> Mapping[str, Any]:
    """The first element of a JSON list when it is an object, else ``{}`` (payloads are not trusted in shape)."""
    first = items[0] if isinstance(items, list) and items else None
    return first if isinstance(first, Mapping) else {}


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def interaction_key(body: Mapping[str, Any]) -> str | None:
    """What identifies one slash command or one button press (``trigger_id`` is unique per interaction)."""
    trigger = body.get("trigger_id")
    if not trigger or not isinstance(trigger, str):
        return None
    if body.get("command"):
        return f"command:{trigger}"
    if body.get("type") == "block_actions":
        action = _first(body.get("actions"))
        return f"action:{trigger}:{action.get('action_id', '')}:{action.get('action_ts', '')}"
    return None


def answer(body: Mapping[str, Any], text: str, respond: Callable[..., Any] | None = None) -> BoltResponse:
    """Refuse ``body`` the way its kind of request can show: the ack's text for a slash command, an
    ephemeral reply for a button, an ``errors`` response on the first input of a submitted modal."""
    if body.get("command"):
        return BoltResponse(status=200, body=text, headers={"content-type": "text/plain;charset=utf-8"})
    kind = body.get("type")
    if kind == "view_submission":
        blocks = _obj(body.get("view")).get("blocks")
        inputs = [
            str(b["block_id"])
            for b in (blocks if isinstance(blocks, list) else [])
            if isinstance(b, dict) and b.get("type") == "input" and b.get("block_id")
        ]
        if inputs:
            return BoltResponse(
                status=200,
                body=json.dumps({"response_action": "errors", "errors": {inputs[0]: text}}),
                headers={"content-type": "application/json;charset=utf-8"},
            )
    elif kind == "block_actions" and respond is not None and body.get("response_url"):
        try:
            respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:  # noqa: BLE001 - the refusal stands whether or not the reply lands
            log.warning("could not answer a refused %s", kind)
    return BoltResponse(status=200, body="")


def _what(body: Mapping[str, Any]) -> str:
    if body.get("command"):
        return f"{body.get('command')} {body.get('text') or ''}".strip()
    action = _first(body.get("actions")) if body.get("type") == "block_actions" else {}
    named = action.get("action_id") or _obj(body.get("view")).get("callback_id") or ""
    return " ".join(str(x) for x in (body.get("type") or "request", named) if x)[:200]


class RequestGuard(Middleware):
    """Bolt global middleware: refuse another workspace's requests and replayed interactions (audited after
    the ack, on the replay memory's writer). A ``Middleware`` of its own, as ``OperatorCheck``."""

    def __init__(self, store: Store, memory: ReplayMemory) -> None:
        self.store, self.memory = store, memory

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        body, context = req.body, req.context
        authorized = context.authorize_result
        ours = authorized.team_id if authorized is not None else None
        user = context.user_id or "unknown"
        reason = text = ""
        if ours and context.team_id != ours:
            reason, text = (
                "foreign_team",
                render.not_allowed("avd-ops does not answer requests from another workspace."),
            )
        elif (key := interaction_key(body)) is not None and not self.memory.claim(key):
            reason, text = "replay", ":no_entry: This request was already handled; nothing was run again."
        if not reason:
            next()
            return None
        audit_refusal(
            self.store,
            self.memory.later,
            actor=user,
            action="refused",
            target=_what(body),
            detail={"channel": context.channel_id or "", "team": context.team_id or "", "reason": reason},
            outcome="refused",
        )
        log.warning("refused a %s request from %s (%s)", body.get("type") or "slash command", user, reason)
        return answer(body, text, context.respond)
