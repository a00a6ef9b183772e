"""``avd-bot sandbox`` as a subprocess, with the environment cleared of SLACK_*/AVD_*/AZURE_*."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_sandbox(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "sandbox", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
