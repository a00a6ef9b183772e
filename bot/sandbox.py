"""``avd-bot sandbox``: the Slack double, the ARM simulator (seed scenario) and the bot, in one process.

It writes a temporary ``avd.toml`` from ``avd.example.toml`` (which already names the sandbox
identities), builds the app with the same ``build_app`` as production but loopback endpoints, serves
it on 127.0.0.1 and hands a ``Chat`` to the console.

Time scale: the simulator runs ``time_scale`` Azure seconds per real second: 120 interactively (a 10-minute
operation takes 5 s), 600 for ``--script`` and piped input so a replay finishes quickly. The example config
is tuned for 120, so at another scale the sandbox's copy scales the failover's wall-clock waits
(``user_grace_seconds``, ``primary_timeout_seconds``) by ``120 / time_scale`` (at least 1 s): at 600 the
30 s grace period takes 6 s. Approval expiry stays in real minutes. A job card is edited at most every 2 s
(0.5 s in a script; the bot's production pacing is 10 s), so the console shows progress as it happens.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from bot.app import build_app
from bot.config.settings import Settings, load_settings
from bot.runtime import Runtime
from bot.slack.progress import Progress
from bot.slack.server import BotServer, serve_runtime
from sim.azure import AzureSim
from sim.slack import SlackSim
from sim.slack.chat import Chat
from sim.slack.console import Console

log = logging.getLogger(__name__)
BOT_TOKEN = "xoxb-sandbox-token"
NO_SIMULATOR = "https://127.0.0.1:9"  # a loopback placeholder when sim.azure is not installed
TIME_SCALE, SCRIPT_TIME_SCALE = 120.0, 600.0
SCALED_WAITS = ("user_grace_seconds", "primary_timeout_seconds")
CARD_INTERVAL, SCRIPT_CARD_INTERVAL = 2.0, 0.5  # seconds between edits of one card (real Slack: 10)


def example_config() -> Path:
    """``avd.example.toml`` next to the package (source checkout) or in the working directory."""
    for candidate in (
        Path(__file__).resolve().parent.parent / "avd.example.toml",
        Path.cwd() / "avd.example.toml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("avd.example.toml not found: run avd-bot sandbox from the avd-ops checkout")


def scaled_config(text: str, time_scale: float) -> str:
    """The example config with its failover waits scaled from the 120x it is tuned for to ``time_scale``."""
    if time_scale == TIME_SCALE:
        return text

    def scale(m: re.Match[str]) -> str:
        return f"{m[1]}{max(1, math.ceil(int(m[2]) * TIME_SCALE / time_scale))}"

    pattern = rf"(?m)^(\s*(?:{'|'.join(SCALED_WAITS)})\s*=\s*)(\d+)"
    return re.sub(pattern, scale, text)


class Sandbox:
    """Start with ``start()`` (returns the ``Chat``), stop with ``stop()``; also a context manager."""

    def __init__(
        self, *, with_azure: bool = True, time_scale: float = TIME_SCALE, card_interval: float = CARD_INTERVAL
    ) -> None:
        self.with_azure = with_azure
        self.time_scale = time_scale
        self.card_interval = card_interval
        self.workdir = Path(tempfile.mkdtemp(prefix="avd-sandbox-"))
        self.signing_secret = secrets.token_hex(16)
        self.slack: Any = None
        self.azure_sim: AzureSim | None = None
        self.runtime: Runtime | None = None
        self.server: BotServer | None = None
        self.settings: Settings | None = None

    def _start_azure(self) -> tuple[str, str]:
        if not self.with_azure:
            return NO_SIMULATOR, ""
        self.azure_sim = AzureSim(scenario="seed", time_scale=self.time_scale)
        return str(self.azure_sim.start()), str(self.azure_sim.ca_path)

    def start(self) -> Chat:
        self.slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
        api_url = self.slack.start()
        arm, ca = self._start_azure()
        config = self.workdir / "avd.toml"
        config.write_text(
            scaled_config(example_config().read_text(encoding="utf-8"), self.time_scale), encoding="utf-8"
        )
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": api_url,
            "AVD_CONFIG": str(config),
            "AVD_DB": str(self.workdir / "avd.db"),
            "AZURE_ARM_ENDPOINT": arm,
            "AZURE_CA_BUNDLE": ca,
        }
        self.settings = load_settings(env, mode="sandbox")
        problems = self.settings.problems()
        if problems:
            self.stop()
            raise RuntimeError("sandbox settings are invalid:\n" + "\n".join(problems))
        self.runtime = build_app(self.settings)
        progress = self.runtime.engine.progress
        if isinstance(
            progress, Progress
        ):  # the double is the only reader: keep cards live (real Slack: 10 s)
            progress.min_interval = self.card_interval
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


def run(
    script: str | None = None,
    *,
    json_mode: bool = False,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    time_scale: float | None = None,
) -> int:
    """The ``avd-bot sandbox`` command: replay ``script``, or read stdin, or run the interactive console.

    ``time_scale`` defaults to 120 for the console and 600 for a script or piped input.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    interactive = script is None and stdin.isatty()
    if time_scale is None:
        time_scale = TIME_SCALE if interactive else SCRIPT_TIME_SCALE
    if time_scale <= 0:
        sys.stderr.write("--time-scale must be positive\n")
        return 2
    sandbox = Sandbox(
        time_scale=time_scale, card_interval=CARD_INTERVAL if interactive else SCRIPT_CARD_INTERVAL
    )
    try:
        chat = sandbox.start()
    except (RuntimeError, FileNotFoundError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        progress = sandbox.runtime.engine.progress if sandbox.runtime is not None else None
        console = Console(
            chat,
            out=out,
            json_mode=json_mode,
            idle=progress.wait_idle if isinstance(progress, Progress) else None,
        )
        if script is not None:
            with open(script, encoding="utf-8") as fh:
                return console.run_script(fh)
        if not interactive:
            return console.run_script(stdin)
        return console.interact(stdin)
    finally:
        sandbox.stop()
