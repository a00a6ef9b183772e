"""Slack Web API rate limits as token buckets (capacity, refill per second).

Slack's tiers: Tier 2 is 20/min, Tier 3 50/min, Tier 4 100/min, per method per workspace per app.
``chat.postMessage`` is special: about one message per second per channel with short bursts, plus a
workspace-wide cap (key ``chat.postMessage:workspace``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

Limit = tuple[float, float]

TIER2: Limit = (20, 20 / 60)
TIER3: Limit = (50, 50 / 60)
TIER4: Limit = (100, 100 / 60)

DEFAULT_LIMITS: dict[str, Limit] = {
    "chat.postMessage": (3, 1.0),
    "chat.postMessage:workspace": (30, 100 / 60),
    "chat.update": TIER3,
    "chat.delete": TIER3,
    "chat.postEphemeral": TIER4,
    "views.open": TIER4,
    "views.update": TIER4,
    "users.info": TIER4,
    "usergroups.users.list": TIER2,
    "conversations.info": TIER3,
}

EPSILON = 1e-9  # float slack so a caller who waits exactly Retry-After seconds gets through

# Methods whose bucket is kept per channel rather than per workspace.
PER_CHANNEL = frozenset({"chat.postMessage"})


class RateLimiter:
    """Token buckets keyed by method (and channel where Slack limits per channel)."""

    def __init__(self, limits: dict[str, Limit], clock: Callable[[], float]) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self.lock = threading.Lock()

    def take(self, method: str, channel: str | None = None) -> int:
        """Spend one token for this call; 0 if allowed, else the Retry-After seconds (no token spent)."""
        keys = []
        if method in self.limits:
            keys.append(f"{method}:{channel}" if method in PER_CHANNEL and channel else method)
        if f"{method}:workspace" in self.limits:
            keys.append(f"{method}:workspace")
        with self.lock:
            now = self.clock()
            levels = {key: self.level(key, now) for key in keys}
            waits = [self.wait(key, levels[key]) for key in keys]
            if any(waits):
                return max(waits)
            for key in keys:
                self.buckets[key] = (levels[key] - 1.0, now)
        return 0

    def limit_of(self, key: str) -> Limit:
        """The (capacity, refill) of a bucket key such as ``chat.postMessage:C0INCIDENT``."""
        if key in self.limits:
            return self.limits[key]
        return self.limits[key.rsplit(":", 1)[0]]

    def level(self, key: str, now: float) -> float:
        """Tokens in a bucket after refilling up to ``now``."""
        capacity, refill = self.limit_of(key)
        tokens, last = self.buckets.get(key, (float(capacity), now))
        return min(float(capacity), tokens + max(0.0, now - last) * refill)

    def wait(self, key: str, tokens: float) -> int:
        """Whole seconds until the bucket holds one token (at least 1 when empty)."""
        if tokens >= 1.0 - EPSILON:
            return 0
        refill = self.limit_of(key)[1]
        if refill <= 0:
            return 60
        return max(1, math.ceil((1.0 - tokens) / refill))

    def reset(self) -> None:
        """Refill every bucket."""
        with self.lock:
            self.buckets.clear()
