"""Start the real bot (``build_app`` + the threaded WSGI server) on loopback against the doubles."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import build_app
from bot.capabilities import CAPABILITIES
from bot.config.settings import Settings, load_settings
from bot.roles import start_all
from bot.runtime import Capability, Runtime
from bot.sandbox import example_config
from bot.slack.server import BotServer, serve_runtime

BOT_TOKEN = "xoxb-sandbox-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NO_ARM = "https://127.0.0.1:9"  # loopback placeholder when a test does not need the ARM simulator
_ENV_PREFIXES = ("SLACK_", "AVD_", "AZURE_ARM_ENDPOINT", "AZURE_CA_BUNDLE")


def clean_env(monkeypatch: Any) -> None:
    """Remove every variable the bot or Bolt reads (SLACK_*, AVD_*, the ARM endpoint) for this test."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@dataclass
class BotHandle:
    runtime: Runtime
    server: BotServer
    settings: Settings
    signing_secret: str

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
        self.runtime.stop()


def bot_env(
    workdir: Path,
    slack_url: str,
    *,
    arm: str = NO_ARM,
    ca: str = "",
    config_text: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment for a bot under test: a temp DB and a copy of avd.example.toml (or ``config_text``)."""
    config = workdir / "avd.toml"
    if config_text is None:
        shutil.copyfile(example_config(), config)
    else:
        config.write_text(config_text, encoding="utf-8")
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "AVD_CONFIG": str(config),
        "AVD_DB": str(workdir / "avd.db"),
        "AZURE_ARM_ENDPOINT": arm,
        "AZURE_CA_BUNDLE": ca,
        # Scenarios, fuzzing and bench/ack.py send bursts as one user: the per-user rate limit is lifted here
        # and tested at its default in tests/slack/test_limits.py.
        "AVD_COMMAND_BURST": "100000",
        **extra,
    }


def start_bot(
    workdir: Path,
    slack_url: str,
    *,
    arm: str = NO_ARM,
    ca: str = "",
    start_scheduler: bool = True,
    capabilities: Sequence[Capability] = CAPABILITIES,
    **extra: str,
) -> BotHandle:
    """Build the app exactly as ``avd-bot serve`` does and serve it on 127.0.0.1, port 0."""
    settings = load_settings(bot_env(workdir, slack_url, arm=arm, ca=ca, **extra), mode="serve")
    problems = settings.problems()
    if problems:
        raise AssertionError("test settings are invalid: " + "; ".join(problems))
    runtime = build_app(settings, capabilities=capabilities)
    if start_scheduler:
        start_all(runtime)  # as `avd-bot serve` starts the all role (on PostgreSQL: its inbox worker too)
    server = serve_runtime(runtime).start()
    return BotHandle(runtime=runtime, server=server, settings=settings, signing_secret=SIGNING_SECRET)
