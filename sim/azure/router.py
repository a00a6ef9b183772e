"""Requests, responses, ARM errors and the case-insensitive route table providers register into."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.azure.state import State

ANY_VERSION = frozenset({"*"})  # api-version required, any value accepted (operation monitors)


@dataclass
class Request:
    """One parsed HTTP request. ``path`` keeps the caller's case; ``params`` are the route's captures."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    params: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    def q(self, name: str, default: str | None = None) -> str | None:
        """Query parameter by case-insensitive name."""
        for k, v in self.query.items():
            if k.lower() == name.lower():
                return v
        return default


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ArmError(Exception):
    """An error reply: ``{"error": {"code", "message", "target"?}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.target = status, code, message, target
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        return {"error": err}


Handler = Callable[["State", Request], Response]
Ticker = Callable[["State", float], None]


@dataclass
class Route:
    methods: frozenset[str]
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    versions: frozenset[str] | None  # None: no api-version (Graph, control)
    lockable: bool
    needs_rg: bool


def _compile(pattern: str) -> re.Pattern[str]:
    out = ""
    for piece in re.split(r"(\{[a-z_]+\*?\})", pattern):
        if piece.startswith("{") and piece.endswith("*}"):
            out += f"(?P<{piece[1:-2]}>.+?)"
        elif piece.startswith("{"):
            out += f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            out += re.escape(piece)
    return re.compile(f"^{out}$", re.IGNORECASE)


class Router:
    """Routes matched in registration order; ``{name}`` is one segment, ``{name*}`` several."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.tickers: list[Ticker] = []
        self.versions: dict[str, frozenset[str]] = {}

    def add(
        self,
        methods: str,
        pattern: str,
        handler: Handler,
        versions: Iterable[str] | None,
        *,
        lockable: bool = True,
    ) -> None:
        """Register ``handler`` for space-separated ``methods`` on ``pattern``."""
        vs = frozenset(versions) if versions is not None else None
        self.routes.append(
            Route(
                frozenset(methods.upper().split()),
                pattern,
                _compile(pattern),
                handler,
                vs,
                lockable,
                "{rg}" in pattern,
            )
        )

    def on_tick(self, ticker: Ticker) -> None:
        """Register a function run (under the sim lock) before each request with the virtual now."""
        self.tickers.append(ticker)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                return route, {k: v for k, v in m.groupdict().items() if v is not None}
            allowed = True
        if allowed:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."
            )
        raise ArmError(
            404, "InvalidResourceType", f"The resource type could not be found for the request path '{path}'."
        )
