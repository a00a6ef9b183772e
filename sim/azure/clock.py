"""The virtual clock: real elapsed time multiplied by ``time_scale``, plus manual advances."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class VirtualClock:
    """``now()`` runs ``time_scale`` virtual seconds per real second from ``start``."""

    def __init__(self, time_scale: float = 120.0, start: datetime | None = None) -> None:
        base = start or datetime.now(UTC).replace(microsecond=0)
        self.time_scale = float(time_scale)
        self._lock = threading.Lock()
        self._origin_virtual = base.timestamp()
        self._origin_real = time.monotonic()
        self._offset = 0.0

    def seconds(self) -> float:
        """Virtual now as POSIX seconds."""
        with self._lock:
            real = time.monotonic() - self._origin_real
            return self._origin_virtual + real * self.time_scale + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds(), UTC)

    def advance(self, seconds: float) -> None:
        """Jump the virtual clock forward (tests, ``POST /_sim/clock``)."""
        with self._lock:
            self._offset += float(seconds)

    def real_seconds(self, virtual: float) -> float:
        """How long ``virtual`` seconds take in real time."""
        return virtual / self.time_scale if self.time_scale > 0 else virtual

    def reset(self, virtual_now: float) -> None:
        """Restart the clock at ``virtual_now`` (state loaded from a file)."""
        with self._lock:
            self._origin_virtual = virtual_now
            self._origin_real = time.monotonic()
            self._offset = 0.0


def iso(ts: float) -> str:
    """ARM's timestamp format: ``2026-05-22T17:19:00.0000000Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"
