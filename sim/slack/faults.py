"""Injected failures: ``SlackSim.fail_next`` queues an error answer for the next calls of one method."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class Failure:
    """A failure queued by ``fail_next``: the Slack ``error`` (HTTP ``status``), for ``remaining`` more calls."""

    error: str
    status: int
    retry_after: int
    remaining: int


class Faults:
    """Failures queued per method (``"upload"`` for the upload POST), used in order."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Failure]] = {}

    def add(self, method: str, failure: Failure) -> None:
        self.queues.setdefault(method, deque()).append(failure)

    def take(self, method: str) -> Failure | None:
        """The failure for this call of ``method`` (counted down), or None."""
        queue = self.queues.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def clear(self) -> None:
        self.queues.clear()
