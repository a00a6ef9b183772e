"""``SharedRead``: one Azure read shared by everyone who asks at once (used by ``/avd status``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
# A read is reused for STATUS_FRESH seconds after it started: in an incident twenty operators asking at once
# cost one set of ARM reads (ARM refills a subscription's read budget at 25/s, and the failover needs it).
STATUS_FRESH = 3.0


class SharedRead:
    """One read shared by everyone who asks while it runs and for ``fresh`` seconds after it started: twenty
    people typing `/avd status` at once in an incident make one set of Azure reads, not twenty. ``last`` keeps
    the newest successful result for the next ack to show. Errors are not kept."""

    def __init__(self, fresh: float = STATUS_FRESH, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fresh = fresh
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._future: Future[Any] | None = None
        self._at = 0.0
        self._last: tuple[float, Any] | None = None

    def get(self, work: Callable[[], T]) -> T:
        with self._lock:
            future, owner = self._future, False
            if future is None or (future.done() and self._monotonic() - self._at >= self.fresh):
                future, owner = Future(), True
                self._future, self._at = future, self._monotonic()
        if owner:
            try:
                value = work()
            except BaseException as exc:
                with self._lock:
                    self._future = None
                future.set_exception(exc)
            else:
                with self._lock:
                    self._last = (self._at, value)
                future.set_result(value)
        result: T = future.result()
        return result

    def last(self, max_age: float) -> Any | None:
        """The newest successful result if its read started less than ``max_age`` seconds ago; never waits."""
        with self._lock:
            last = self._last
        return last[1] if last is not None and self._monotonic() - last[0] < max_age else None
