"""``avd-bot sandbox``: the Slack double, the ARM simulator (seed scenario) and the bot, in one process.

It writes a temporary ``avd.toml`` from ``avd.example.toml`` (which already names the sandbox
identities), builds the app with the same ``build_app`` as production but loopback endpoints, serves
it on 127.0.0.1 and hands a ``Chat`` to the console.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from bot.app import Runtime, build_app
from bot.chat import Chat
from bot.console import Console
from bot.server import BotServer, serve_runtime
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)
BOT_TOKEN = "xoxb-sandbox-token"
NO_SIMULATOR = "https://127.0.0.1:9"  # a loopback placeholder when sim.azure is not installed


def example_config() -> Path:
    """``avd.example.toml`` next to the package (source checkout) or in the working directory."""
    for candidate in (Path(__file__).resolve().parent.parent / "avd.example.toml", Path.cwd() / "avd.example.toml"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("avd.example.toml not found: run avd-bot sandbox from the avd-ops checkout")


class Sandbox:
    """Start with ``start()`` (returns the ``Chat``), stop with ``stop()``; also a context manager."""

    def __init__(self, *, with_azure: bool = True, time_scale: float = 120.0) -> None:
        self.with_azure = with_azure
        self.time_scale = time_scale
        self.workdir = Path(tempfile.mkdtemp(prefix="avd-sandbox-"))
        self.signing_secret = secrets.token_hex(16)
        self.slack: Any = None
        self.azure_sim: Any = None
        self.runtime: Runtime | None = None
        self.server: BotServer | None = None
        self.settings: Settings | None = None

    def _start_azure(self) -> tuple[str, str]:
        if not self.with_azure:
            return NO_SIMULATOR, ""
        try:
            from sim.azure import AzureSim  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            log.warning("sim.azure is not available: the sandbox runs without the ARM simulator")
            return NO_SIMULATOR, ""
        self.azure_sim = AzureSim(scenario="seed", time_scale=self.time_scale)
        return str(self.azure_sim.start()), str(self.azure_sim.ca_path)

    def start(self) -> Chat:
        from sim.slack import SlackSim

        self.slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
        api_url = self.slack.start()
        arm, ca = self._start_azure()
        config = self.workdir / "avd.toml"
        shutil.copyfile(example_config(), config)
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": self.signing_secret, "SLACK_API_URL": api_url,
            "AVD_CONFIG": str(config), "AVD_DB": str(self.workdir / "avd.db"), "AZURE_ARM_ENDPOINT": arm,
            "AZURE_CA_BUNDLE": ca,
        }
        self.settings = load_settings(env, mode="sandbox")
        problems = self.settings.problems()
        if problems:
            self.stop()
            raise RuntimeError("sandbox settings are invalid:\n" + "\n".join(problems))
        self.runtime = build_app(self.settings)
        self.runtime.start()
        self.server = serve_runtime(self.runtime).start()
        return Chat(self.server.url, self.slack, self.signing_secret)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.runtime is not None:
            self.runtime.stop()
        if self.azure_sim is not None:
            self.azure_sim.stop()
        if self.slack is not None:
            self.slack.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Chat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(script: str | None = None, *, json_mode: bool = False, stdin: TextIO | None = None,
        out: TextIO | None = None) -> int:
    """The ``avd-bot sandbox`` command: replay ``script``, or read stdin, or run the interactive console."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    sandbox = Sandbox()
    try:
        chat = sandbox.start()
    except (RuntimeError, FileNotFoundError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        console = Console(chat, out=out, json_mode=json_mode)
        if script is not None:
            with open(script, encoding="utf-8") as fh:
                return console.run_script(fh)
        if not stdin.isatty():
            return console.run_script(stdin)
        return console.interact(stdin)
    finally:
        sandbox.stop()
