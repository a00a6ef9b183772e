"""Resources keyed by lower-cased ARM id. Each document is the JSON Azure would return, plus a private
``_sim`` dict (timings, hidden state) that is stripped before it leaves the simulator."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from sim.azure.ids import is_under, key


class Store:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, arm_id: str) -> dict[str, Any] | None:
        return self.items.get(key(arm_id))

    def put(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.items[key(doc["id"])] = doc
        return doc

    def delete(self, arm_id: str) -> None:
        """Delete a resource and everything below it (children, locks at its scope)."""
        for k in [k for k in self.items if is_under(k, arm_id)]:
            del self.items[k]

    def children(self, collection: str) -> list[dict[str, Any]]:
        """Direct children of a collection path, e.g. ``.../providers/Microsoft.Compute/snapshots``."""
        prefix = key(collection) + "/"
        out = [d for k, d in self.items.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        return sorted(out, key=lambda d: str(d.get("id", "")).lower())

    def of_type(self, rtype: str, scope: str = "/") -> list[dict[str, Any]]:
        """Every resource of ``rtype`` (case-insensitive) below ``scope``."""
        t = rtype.lower()
        out = [
            d
            for d in self.items.values()
            if str(d.get("type", "")).lower() == t and (scope == "/" or is_under(d["id"], scope))
        ]
        return sorted(out, key=lambda d: str(d["id"]).lower())

    def active(self) -> Iterator[dict[str, Any]]:
        """Documents with simulator bookkeeping (snapshot of the list: tickers may delete)."""
        return iter([d for d in self.items.values() if d.get("_sim")])


# Write-only properties ARM stores but never returns (extension secrets, passwords).
SECRET_KEYS = frozenset({"protectedSettings", "protectedSettingsFromKeyVault", "adminPassword", "customData"})


def public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy as ARM returns it: no ``_sim`` bookkeeping and no write-only secrets."""
    if doc is None:
        return None
    out: dict[str, Any] = _without_secrets(copy.deepcopy(doc))
    out.pop("_sim", None)
    return out


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        for key in SECRET_KEYS & value.keys():
            del value[key]
        for sub in value.values():
            _without_secrets(sub)
    elif isinstance(value, list):
        for item in value:
            _without_secrets(item)
    return value


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge-patch: nested dicts merge, everything else (lists included) replaces."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(target.get(k), dict) and k != "tags":
            merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
