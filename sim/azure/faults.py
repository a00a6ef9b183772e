"""Fault injection: failing, slow or reset requests, failed LROs and partitioned regions.

Rules match an HTTP method (``"*"`` for any) and a regular expression searched in the request path
(case-insensitive). ``count`` is how many matching requests the rule affects (``None``: until cleared);
``skip`` lets that many matching requests through first (a test knob: "fail the second PATCH").
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.azure.ids import region_key

KINDS = ("error", "latency", "reset", "lro_failure")


@dataclass
class Fault:
    kind: str
    method: str = "*"
    path: str = ".*"
    count: int | None = 1
    status: int = 500
    code: str = "InternalServerError"
    message: str = "The server encountered an internal error. Please retry the request."
    retry_after: int | None = None
    seconds: float = 0.0
    skip: int = 0
    id: int = 0
    hits: int = 0
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def matches(self, method: str, path: str) -> bool:
        if self._regex is None:
            self._regex = re.compile(self.path, re.IGNORECASE)
        return self.method in ("*", method) and bool(self._regex.search(path))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_regex", None)
        return out


@dataclass
class Partition:
    region: str
    mode: str = "hang"  # hang: hold the request then drop the connection; "503": ServiceUnavailable
    seconds: float = 30.0


class Faults:
    """The in-process API; ``POST /_sim/faults`` takes the same fields as JSON."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self.partitions: dict[str, Partition] = {}
        self.healed = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, kind: str, method: str = "*", path: str = ".*", **fields: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        rule = Fault(kind=kind, method=method.upper(), path=path, **fields)
        re.compile(rule.path)
        with self._lock:
            rule.id = next(self._ids)
            self.rules.append(rule)
        return rule

    def fail(
        self,
        method: str,
        path: str,
        status: int = 500,
        code: str = "InternalServerError",
        message: str | None = None,
        count: int | None = 1,
        retry_after: int | None = None,
    ) -> Fault:
        """Answer the next ``count`` matching requests with ``status`` and an ARM error body."""
        extra: dict[str, Any] = {"message": message} if message else {}
        return self.add(
            "error", method, path, status=status, code=code, count=count, retry_after=retry_after, **extra
        )

    def latency(self, method: str, path: str, seconds: float, count: int | None = None) -> Fault:
        """Delay matching requests by ``seconds`` of real time."""
        return self.add("latency", method, path, seconds=seconds, count=count)

    def reset(self, method: str, path: str, count: int | None = 1) -> Fault:
        """Drop the connection of matching requests without an answer."""
        return self.add("reset", method, path, count=count)

    def fail_lro(
        self,
        method: str,
        path: str,
        code: str,
        message: str | None = None,
        count: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        """Make the next matching long-running operation end ``Failed`` with ``code``."""
        extra: dict[str, Any] = {"message": message} if message else {}
        return self.add("lro_failure", method, path, code=code, count=count, skip=skip, **extra)

    def partition(self, region: str, mode: str = "hang", seconds: float = 30.0) -> None:
        """Every request for a resource in ``region`` hangs (then resets) or answers 503."""
        if mode not in ("hang", "503"):
            raise ValueError("mode must be 'hang' or '503'")
        with self._lock:
            self.partitions[region_key(region)] = Partition(region_key(region), mode, float(seconds))
            self.healed.clear()

    def heal(self, region: str | None = None) -> None:
        """End one partition (or all) and release requests hanging on it."""
        with self._lock:
            if region is None:
                self.partitions.clear()
            else:
                self.partitions.pop(region_key(region), None)
            self.healed.set()

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
        self.heal()

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """The first matching rule of ``kind``, consuming one use of it."""
        with self._lock:
            for rule in self.rules:
                if rule.kind == kind and rule.matches(method, path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        continue
                    rule.hits += 1
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def partition_for(self, region: str | None) -> Partition | None:
        if not region:
            return None
        with self._lock:
            return self.partitions.get(region_key(region))

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [r.to_json() for r in self.rules],
                "partitions": [asdict(p) for p in self.partitions.values()],
            }
