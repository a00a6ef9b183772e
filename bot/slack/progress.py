"""Job cards on Slack within Slack's limits: one sender thread, coalesced ``chat.update``.

Every engine write to Slack goes through ``Progress``: ``post_card`` (chat.postMessage once per card),
``touch`` (the card changed: chat.update with the FULL block list, rendered at send time from the store),
and ``reply`` (a thread reply; ``broadcast`` for the final result). Pacing:

* a card is edited at most once per ``min_interval`` (10 s); a non-final change waits ``debounce`` more so
  bursts of step changes become one edit; the final state is never dropped, only delayed;
* at most ``update_budget`` (40) chat.update per minute across all cards (Slack Tier 3 is ~50);
* chat.postMessage follows Slack's ~1/s per channel (burst 3) and a workspace cap.

Pacing uses a monotonic clock (physical time); job timestamps come from the runtime's clock.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)
Renderer = Callable[[int, "str | None"], tuple[str, list[Any]]]  # (job_id, card ts) -> text, blocks
Posted = Callable[[int, str, str, float], None]  # job_id, channel, ts, wall time of the post or edit


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float = -1.0
    at: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        if self.tokens < 0:
            self.tokens, self.at = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self.wait(now)
        self.tokens -= 1.0


@dataclass
class Card:
    job_id: int
    channel: str
    ts: str | None = None
    last_sent: float | None = None
    dirty: bool = False
    final: bool = False
    due: float = 0.0


@dataclass
class Post:
    job_id: int
    channel: str
    kind: str  # card | reply
    text: str = ""
    broadcast: bool = False
    card: Card | None = None
    not_before: float = 0.0


@dataclass
class Stats:
    updates: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, ts)
    posts: int = 0
    rate_limited: int = 0


class Progress:
    """The engine's Slack writer (see module docstring)."""

    def __init__(
        self,
        client: WebClient,
        render: Renderer,
        on_posted: Posted,
        on_updated: Posted,
        *,
        final: Callable[[int], str | None] = lambda job_id: None,
        monotonic: Callable[[], float] = time.monotonic,
        min_interval: float = 10.0,
        debounce: float = 1.0,
        update_budget: int = 40,
        post_burst: float = 2.0,
        post_rate: float = 0.9,
        workspace_burst: float = 25.0,
        workspace_rate: float = 1.6,
    ) -> None:
        self.client = client
        self.render = render
        self.on_posted = on_posted
        self.on_updated = on_updated
        self.final = final
        self.mono = monotonic
        self.min_interval = min_interval
        self.debounce = debounce
        self.update_budget = update_budget
        self._post_bucket = (post_burst, post_rate)
        self._workspace = Bucket(workspace_burst, workspace_rate)
        self._channels: dict[str, Bucket] = {}
        self._cards: dict[int, Card] = {}  # job id -> current card
        self._old: list[Card] = []  # superseded cards owed one last edit
        self._posts: collections.deque[Post] = collections.deque()
        self._window: collections.deque[float] = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self.stats = Stats()
        self._thread = threading.Thread(target=self._loop, name="avd-progress", daemon=True)

    # ---- producer side ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def known(self, job_id: int, channel: str, ts: str | None, updated_wall: float | None) -> None:
        """Adopt a card posted before a restart (``updated_wall``: time.time() of its last edit)."""
        with self._cond:
            if job_id in self._cards:
                return
            card = Card(job_id, channel, ts)
            if updated_wall is not None:
                card.last_sent = self.mono() - max(0.0, time.time() - updated_wall)
            self._cards[job_id] = card

    def post_card(self, job_id: int, channel: str, *, fresh: bool = False) -> None:
        """Queue the job's card; ``fresh`` posts a new message and gives the old one a last edit."""
        with self._cond:
            old = self._cards.get(job_id)
            if old is not None and not fresh:
                self._touch_locked(old, final=False)
                return
            if old is not None:
                self._touch_locked(old, final=True)
                self._old.append(old)
            card = Card(job_id, channel)
            self._cards[job_id] = card
            self._posts.append(Post(job_id, channel, "card", card=card))
            self._cond.notify_all()

    def touch(self, job_id: int, *, final: bool = False) -> None:
        """The job changed: edit its card (coalesced; ``final`` is never dropped)."""
        with self._cond:
            card = self._cards.get(job_id)
            if card is None:
                return
            self._touch_locked(card, final=final)

    def reply(self, job_id: int, text: str, *, broadcast: bool = False) -> None:
        with self._cond:
            card = self._cards.get(job_id)
            if card is None:
                return
            self._posts.append(Post(job_id, card.channel, "reply", text=text, broadcast=broadcast, card=card))
            self._cond.notify_all()

    def finish(self, job_id: int) -> None:
        """The job ended: a last edit of its card and its final result in the thread, broadcast."""
        self.touch(job_id, final=True)
        text = self.final(job_id)
        if text:
            self.reply(job_id, text, broadcast=True)

    def idle(self) -> bool:
        with self._cond:
            return (
                not self._busy
                and not self._posts
                and not any(c.dirty for c in [*self._cards.values(), *self._old])
            )

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.05)
        return self.idle()

    def _touch_locked(self, card: Card, *, final: bool) -> None:
        now = self.mono()
        card.final = card.final or final
        due = now if final else now + self.debounce
        card.due = min(card.due, due) if card.dirty else due
        card.dirty = True
        self._cond.notify_all()

    # ---- sender side -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                action, wait = self._next_locked(self.mono())
                if action is None:
                    self._cond.wait(timeout=min(wait, 1.0))
                    continue
                self._busy = True
            try:
                action()
            except Exception:  # noqa: BLE001 - the sender must survive any one bad message
                log.exception("progress: sending to Slack failed")
            finally:
                with self._cond:
                    self._busy = False

    def _next_locked(self, now: float) -> tuple[Callable[[], None] | None, float]:
        wait = 1.0
        blocked: set[str] = set()
        for post in list(self._posts):
            if post.channel in blocked:
                continue
            blocked.add(post.channel)  # keep each channel's messages in order
            if post.kind == "reply" and (post.card is None or post.card.ts is None):
                continue
            bucket = self._channels.setdefault(post.channel, Bucket(*self._post_bucket))
            delay = max(bucket.wait(now), self._workspace.wait(now), post.not_before - now)
            if delay > 0:
                wait = min(wait, delay)
                continue
            bucket.take(now)
            self._workspace.take(now)
            self._posts.remove(post)
            return (lambda p=post: self._send_post(p)), 0.0
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        ready: list[Card] = []
        for card in [*self._old, *self._cards.values()]:
            if not card.dirty or card.ts is None:
                continue
            due = card.due if card.last_sent is None else max(card.due, card.last_sent + self.min_interval)
            if due > now:
                wait = min(wait, due - now)
                continue
            ready.append(card)
        if ready:
            if len(self._window) >= self.update_budget:
                return None, max(0.01, min(wait, 60.0 - (now - self._window[0])))
            ready.sort(key=lambda c: (not c.final, c.due))
            card = ready[0]
            card.dirty = False
            self._window.append(now)
            return (lambda c=card: self._send_update(c)), 0.0
        return None, max(0.01, wait)

    def _retry_after(self, exc: SlackApiError) -> float | None:
        if exc.response.status_code != 429:
            return None
        self.stats.rate_limited += 1
        try:
            return float(exc.response.headers.get("Retry-After", 1))
        except (TypeError, ValueError):
            return 1.0

    def _send_post(self, post: Post) -> None:
        kwargs: dict[str, Any] = {"channel": post.channel}
        if post.kind == "card":
            text, blocks = self.render(post.job_id, None)
            kwargs.update(text=text, blocks=[b.to_dict() if hasattr(b, "to_dict") else b for b in blocks])
        else:
            assert post.card is not None and post.card.ts is not None
            kwargs.update(text=post.text, thread_ts=post.card.ts, reply_broadcast=post.broadcast or None)
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            resp = self.client.chat_postMessage(**kwargs)
        except SlackApiError as exc:
            retry = self._retry_after(exc)
            if retry is None:
                log.warning(
                    "progress: chat.postMessage for job %s failed: %s", post.job_id, exc.response.get("error")
                )
                return
            with self._cond:
                post.not_before = self.mono() + retry
                self._posts.appendleft(post)
            return
        except SlackClientError as exc:
            log.warning("progress: chat.postMessage for job %s failed: %s", post.job_id, exc)
            return
        self.stats.posts += 1
        if post.kind == "card" and post.card is not None:
            ts = str(resp["ts"])
            with self._cond:
                post.card.ts = ts
                post.card.channel = str(resp.get("channel") or post.channel)
                post.card.last_sent = self.mono()
                self._cond.notify_all()
            self.on_posted(post.job_id, post.card.channel, ts, time.time())

    def _send_update(self, card: Card) -> None:
        assert card.ts is not None
        text, blocks = self.render(card.job_id, card.ts)
        payload = [b.to_dict() if hasattr(b, "to_dict") else b for b in blocks]
        try:
            self.client.chat_update(channel=card.channel, ts=card.ts, text=text, blocks=payload)
        except SlackApiError as exc:
            retry = self._retry_after(exc)
            with self._cond:
                card.last_sent = self.mono()
                if retry is not None:
                    card.dirty, card.due = True, self.mono() + retry
            if retry is None:
                log.warning(
                    "progress: chat.update for job %s failed: %s", card.job_id, exc.response.get("error")
                )
            return
        except SlackClientError as exc:
            log.warning("progress: chat.update for job %s failed: %s", card.job_id, exc)
            return
        with self._cond:
            card.last_sent = self.mono()
            self.stats.updates.append((card.last_sent, card.ts))
            if card.final and not card.dirty:
                card.final = False
            if card in self._old and not card.dirty:
                self._old.remove(card)
        self.on_updated(card.job_id, card.channel, card.ts, time.time())
