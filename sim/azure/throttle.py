"""ARM's per-subscription token buckets (on real time): reads 250 @ 25/s, writes 200 @ 10/s, deletes 200 @ 10/s."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping

DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "reads": (250, 25.0),
    "writes": (200, 10.0),
    "deletes": (200, 10.0),
}


def kind_of(method: str) -> str:
    """The bucket an HTTP method draws from."""
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


class Throttle:
    """Token buckets keyed by (subscription, kind). ``take`` answers (allowed, remaining, retry_after_s)."""

    def __init__(self, limits: Mapping[str, tuple[int, float]] | None = None) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, subscription: str, kind: str) -> tuple[bool, int, int]:
        size, rate = self.limits[kind]
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((subscription, kind), (float(size), now))
            tokens = min(float(size), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[(subscription, kind)] = (tokens - 1.0, now)
                return True, int(tokens - 1.0), 0
            self._buckets[(subscription, kind)] = (tokens, now)
            wait = (1.0 - tokens) / rate if rate > 0 else 60.0
            return False, 0, max(1, math.ceil(wait))
