"""``AckGate``: requests being acked go before work that runs after an ack.

Slack gives the bot 3 s to ack and then fails the user's command; the answer that follows an ack has no such
deadline. In one Python process both compete for the interpreter, so a burst of slow answers (Azure reads,
approvals) would delay the next ack. The HTTP server counts the requests in flight; ``Runtime.after_ack``
work waits until none is, or at most ``max_wait`` seconds, so it is delayed a little, never starved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT = 0.25  # seconds post-ack work yields to acks in a burst; then it runs regardless


class AckGate:
    def __init__(self, max_wait: float = MAX_WAIT) -> None:
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request from arrival until its ack is handed to the server."""
        with self._cond:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                if not self._in_flight:
                    self._cond.notify_all()

    def wait(self) -> bool:
        """Wait until no request is in flight (``True``) or ``max_wait`` has passed (``False``)."""
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True
