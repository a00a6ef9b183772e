"""``avd-bot`` with a test capability table, as a real process: ``python -m tests.kit.serve MODULES ARGS...``.

``MODULES`` is a comma-separated list of modules that each export ``CAPABILITY``; they take over what they
claim of the product's table (``bot.engine.registry.overlay``); ``ARGS`` are ``avd-bot``'s own (``serve --port 0``).
"""

from __future__ import annotations

import importlib
import sys

from bot.capabilities import CAPABILITIES
from bot.cli import main
from bot.engine.registry import overlay
from bot.runtime import Capability


def table(modules: str) -> tuple[Capability, ...]:
    extra = [importlib.import_module(name).CAPABILITY for name in modules.split(",") if name]
    return overlay(CAPABILITIES, *extra)


def command(modules: str, *args: str) -> list[str]:
    """The argv that runs ``avd-bot ARGS`` with ``modules`` overlaid."""
    return [sys.executable, "-m", "tests.kit.serve", modules, *args]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[2:], capabilities=table(sys.argv[1])))
