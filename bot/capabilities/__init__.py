"""Capabilities: the glue between a parsed operation, the config, and an ``azureops`` plan.

Each module here exposes ``register(runtime)``: it adds ``runtime.handlers`` entries for read-only
commands (answered directly) and calls ``bot.runner.register_capability`` for commands that run as
jobs. ``register_all`` imports every module of this package, so adding a capability is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import Runtime


def register_all(runtime: Runtime) -> list[str]:
    """Import every capability module and call its ``register(runtime)``; returns their names."""
    names = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(runtime)
            names.append(info.name)
    return names
