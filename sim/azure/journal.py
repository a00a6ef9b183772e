"""The request journal: one entry per request, for assertions and ``GET /_sim/journal``.

``Journal.keep_replies`` (off by default; ``sim.journal_log.keep_replies = True``) also keeps a copy of every JSON
reply body, so a test can check each one against the SDK model of its operation and api-version.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass
from typing import Any

WRITE_METHODS = ("PUT", "PATCH", "POST", "DELETE")


@dataclass
class Entry:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    at: str
    reply: Any = None
    agent: str = ""  # the request's User-Agent (tests tell processes apart by AZURE_HTTP_USER_AGENT)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.keep_replies = False
        self._lock = threading.Lock()

    def record(self, entry: Entry, reply: Any = None) -> None:
        if self.keep_replies and reply is not None:
            entry.reply = copy.deepcopy(reply)
        with self._lock:
            self.entries.append(entry)

    def snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self.entries)

    def writes(self, path_contains: str = "") -> list[Entry]:
        """Changing requests (PUT/PATCH/POST/DELETE), without control calls and operation polls."""
        needle = path_contains.lower()
        return [
            e
            for e in self.snapshot()
            if e.method in WRITE_METHODS
            and not e.path.startswith("/_sim")
            and "/operations/" not in e.path.lower()
            and needle in e.path.lower()
        ]
