"""The call journal: one ``Call`` per request the double served (Web API, response_url, upload), in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request the double served."""

    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float
