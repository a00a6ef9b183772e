"""``avd-bot serve --role web|worker`` as real subprocesses over one SQLite file (tests/roles), and a capability
that holds ``/avd jobs`` open so a test can kill the worker running it.

``python -m tests.kit.serve tests.kit.roles serve --role worker`` overlays ``HELD``: ``/avd jobs`` answers
``held jobs answered by PID`` once the file named by ``AVD_TEST_HOLD`` is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from bot.runtime import Capability, CommandContext, Runtime
from bot.slack.render import Reply
from commands import ops
from tests.kit.process import ROOT, serve_command

HELD_TEXT = "held jobs answered by"


def held_jobs(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> Reply:
    hold = os.environ.get("AVD_TEST_HOLD", "")
    while hold and os.path.exists(hold):
        time.sleep(0.02)
    return Reply(f"{HELD_TEXT} {os.getpid()}")


CAPABILITY = Capability(name="roles-hold", handlers={ops.Jobs: held_jobs})


class Proc:
    """One ``avd-bot serve --role ROLE`` child; ``start()`` returns its URL (web) or worker name (worker)."""

    def __init__(self, env: dict[str, str], role: str, capabilities: str = "", mode: str = "serve") -> None:
        self.env = env
        self.role = role
        self.mode = mode  # serve, or socket
        self.capabilities = capabilities
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.name = ""

    def start(self) -> str:
        port = ["--port", "0"] if self.mode == "serve" else []
        argv = serve_command(self.capabilities, self.mode, *port, "--role", self.role)
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if self.role == "worker":
            assert line.startswith("avd-bot worker ") and line.rstrip().endswith(" running"), line
            self.name = line.split()[2]
            return self.name
        if self.mode == "socket":
            assert line.startswith("avd-bot connected over Socket Mode"), line
            return line
        assert line.startswith("avd-bot serving on "), line
        self.url = line.split()[-1]
        return self.url

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def role_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    env.update(base, PYTHONPATH=str(ROOT), **extra)
    return env
