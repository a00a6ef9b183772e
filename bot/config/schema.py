"""Strict checks of TOML tables against the config's dataclasses: a wrong type or an unknown key is a problem.

``checked(where, body, cls, problems)`` keeps the keys of ``body`` that ``cls`` declares with a value of the
declared type (lists become tuples) and appends one sentence per other key, naming the key and the fix. Nothing
is coerced: ``require_approval = "failover start"`` is a problem, never a tuple of characters.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

# the field types the config's dataclasses use (string annotations), what they accept, and an example
_KINDS: dict[str, tuple[str, str]] = {
    "str": ("a string", '"text"'),
    "int": ("an integer", "15"),
    "bool": ("true or false", "true"),
    "tuple[str, ...]": ("a list of strings", '["a", "b"]'),
    "Mapping[str, str]": ("a table of strings", '{ key = "value" }'),
}


def describe(value: Any) -> str:
    """The TOML name of ``value``'s type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def conforms(value: Any, kind: str) -> Any:
    """``value`` converted to ``kind`` (lists to tuples), or ``None`` when it is not of that kind."""
    if kind == "str":
        return value if isinstance(value, str) else None
    if kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "tuple[str, ...]":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else None
    if kind == "Mapping[str, str]":
        ok = isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
        return dict(value) if ok else None
    raise AssertionError(f"no schema for field type {kind}")


def unknown_key(where: str, key: str, known: Iterable[str]) -> str:
    """The sentence for a key the table does not have, with a did-you-mean when one is close."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the keys are {', '.join(known)}"
    return f"{where} has unknown key {key!r}: {hint} (remove it or fix its name)."


def checked(
    where: str,
    body: Mapping[str, Any],
    cls: type,
    problems: list[str],
    *,
    skip: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> dict[str, Any]:
    """The keys of ``body`` that ``cls`` declares, type-checked; ``skip``: keys checked by the caller;
    ``exclude``: fields that are not keys (a site's ``name`` is its table's name)."""
    skip = set(skip)
    declared = {f.name: str(f.type) for f in fields(cls) if f.name not in set(exclude)}
    defaults = {f.name: f.default for f in fields(cls)}
    good: dict[str, Any] = {}
    for key, value in body.items():
        if key in skip:
            continue
        if key not in declared:
            problems.append(unknown_key(where, key, set(declared) | skip))
            continue
        kind = declared[key]
        converted = conforms(value, kind)
        if converted is None:
            what, example = _KINDS[kind]
            default = defaults.get(key)
            if isinstance(default, int | bool) and conforms(default, kind) is not None:
                example = str(default).lower()
            problems.append(f"{where} {key} must be {what} (e.g. {key} = {example}), not {describe(value)}.")
            continue
        good[key] = converted
    return good


def table(where: str, value: Any, problems: list[str]) -> Mapping[str, Any]:
    """``value`` when it is a TOML table; else a problem and an empty table."""
    if isinstance(value, Mapping):
        return value
    problems.append(f"{where} must be a table (write it as {where}), not {describe(value)}.")
    return {}
