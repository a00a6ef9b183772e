"""Shared helpers for the ARM simulator tests: a started simulator and SDK clients built by AzureClients."""

from __future__ import annotations

import importlib
import json
import re
import ssl
import sys
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azureops.clients import AzureClients
from sim.azure import AzureSim

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
GOLD = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute"
VERSION_ID = f"{GOLD}/galleries/AVDGallery/images/Win11MultiS/versions/2026.0522.1719"
IMAGE = ("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")


@contextmanager
def running(**kwargs: Any) -> Iterator[tuple[AzureSim, AzureClients]]:
    """A seeded simulator at a high time scale, and clients that poll quickly and never retry."""
    kwargs.setdefault("time_scale", 6000.0)
    retry_total = kwargs.pop("retry_total", 0)
    sim = AzureSim(**kwargs)
    url = sim.start()
    try:
        yield sim, AzureClients(url, sim.ca_path, polling_interval=0.01, retry_total=retry_total)
    finally:
        sim.stop()


def raw(
    sim_url: str, ca: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTPS request without the SDK (control endpoint, api-version checks)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        sim_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            text = resp.read()
            return resp.status, dict(resp.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        status, hdrs = err.code, dict(err.headers)
        err.close()
        return status, hdrs, json.loads(text) if text else None


# -- SDK models: what a reply may hold ---------------------------------------------------------------------------
# The azure-mgmt packages pinned in requirements.lock come in two generations: msrest models (AVD, MSI, locks:
# ``_attribute_map`` with dotted keys for flattened ``properties``) and TypeSpec models (compute, resources, ASR:
# ``_attr_to_rest_field`` with type annotations). ``undeclared(body, model)`` walks a JSON reply against either
# and returns the paths of the keys the model does not declare, at every depth.

_MSREST_PRIMITIVES = {
    "str",
    "int",
    "long",
    "float",
    "bool",
    "object",
    "iso-8601",
    "rfc-1123",
    "duration",
    "date",
}


def undeclared(body: Any, model: Any, path: str = "") -> list[str]:
    """Paths (``properties.foo.bar``) of the keys of ``body`` that ``model`` (an SDK model class, a typing
    annotation or an msrest type string) does not declare."""
    if isinstance(model, str):
        return _msrest_type(body, model, path)
    if hasattr(model, "_attribute_map"):
        return _msrest_model(body, model, path)
    if isinstance(model, type) and getattr(model, "_is_model", False):
        return _typespec_model(body, model, path)
    return _annotation(body, model, path)


def _msrest_type(body: Any, kind: str, path: str) -> list[str]:
    if kind in _MSREST_PRIMITIVES or body is None:
        return []
    if kind.startswith("[") and isinstance(body, list):
        return [p for i, item in enumerate(body) for p in _msrest_type(item, kind[1:-1], f"{path}[{i}]")]
    if kind.startswith("{") and isinstance(body, dict):
        return [p for k, v in body.items() for p in _msrest_type(v, kind[1:-1], f"{path}.{k}")]
    for module in _MSREST_MODULES:
        cls = getattr(importlib.import_module(module), kind, None)
        if cls is not None:
            return _msrest_model(body, cls, path)
    return [f"{path} (unknown SDK type {kind})"]


_MSREST_MODULES = (
    "azure.mgmt.desktopvirtualization.models",
    "azure.mgmt.msi.models",
    "azure.mgmt.resource.locks.models",
)


def _msrest_model(body: Any, cls: Any, path: str) -> list[str]:
    if not isinstance(body, dict):
        return []
    cls = _msrest_subtype(body, cls)
    tree: dict[str, Any] = {}
    for spec in cls._attribute_map.values():
        keys = [k.replace("\\.", ".") for k in _split_key(spec["key"])]
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = spec["type"]
    return _msrest_tree(body, tree, path)


def _split_key(key: str) -> list[str]:
    return re.split(r"(?<!\\)\.", key)


def _msrest_tree(body: dict[str, Any], tree: dict[str, Any], path: str) -> list[str]:
    found: list[str] = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in tree:
            found.append(where)
        elif isinstance(tree[key], dict):
            found += _msrest_tree(value, tree[key], where) if isinstance(value, dict) else []
        else:
            found += _msrest_type(value, tree[key], where)
    return found


def _msrest_subtype(body: dict[str, Any], cls: Any) -> Any:
    mapping = getattr(cls, "_subtype_map", None) or {}
    for attr, subtypes in mapping.items():
        rest = cls._attribute_map[attr]["key"]
        sub = subtypes.get(body.get(rest))
        if sub is not None:
            for module in _MSREST_MODULES:
                found = getattr(importlib.import_module(module), sub, None)
                if found is not None:
                    return _msrest_subtype(body, found)
    return cls


def _typespec_hints(cls: type) -> dict[str, Any]:
    module = sys.modules[cls.__module__]
    namespace = dict(vars(module))
    namespace["_models"] = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if getattr(klass, "_is_model", False) and klass.__module__ == cls.__module__:
            hints.update(typing.get_type_hints(klass, globalns=namespace))
    return hints


def _typespec_model(body: Any, cls: type, path: str) -> list[str]:
    if not isinstance(body, dict):
        return []
    cls = _typespec_subtype(body, cls)
    fields = cls()._attr_to_rest_field  # type: ignore[attr-defined]
    hints = _typespec_hints(cls)
    by_rest = {field._rest_name: hints.get(attr, Any) for attr, field in fields.items()}
    found: list[str] = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in by_rest:
            found.append(where)
        else:
            found += _annotation(value, by_rest[key], where)
    return found


def _typespec_subtype(body: dict[str, Any], cls: type) -> type:
    mapping = getattr(cls, "__mapping__", None) or {}
    if not mapping:
        return cls
    discriminator = next(
        (f._rest_name for f in cls()._attr_to_rest_field.values() if f._is_discriminator),  # type: ignore[attr-defined]
        None,
    )
    sub = mapping.get(body.get(discriminator)) if discriminator else None
    return _typespec_subtype(body, sub) if sub is not None and sub is not cls else cls


def _annotation(body: Any, hint: Any, path: str) -> list[str]:
    if body is None or hint is Any:
        return []
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if typing.get_origin(a) in (list, dict) or getattr(a, "_is_model", False)]
        return _annotation(body, inner[0], path) if inner else []
    if origin is list and isinstance(body, list):
        return [p for i, item in enumerate(body) for p in _annotation(item, args[0], f"{path}[{i}]")]
    if origin is dict and isinstance(body, dict):
        return [p for k, v in body.items() for p in _annotation(v, args[1], f"{path}.{k}")]
    if isinstance(hint, type) and getattr(hint, "_is_model", False):
        return _typespec_model(body, hint, path)
    return []
