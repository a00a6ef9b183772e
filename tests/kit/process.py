"""``avd-bot serve`` as a real subprocess over one database (crash, chaos and failover-crash tests)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.kit.serve import command
from tests.kit.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
AVD_BOT = Path(sys.executable).with_name("avd-bot")


def serve_command(modules: str, *args: str) -> list[str]:
    """``avd-bot ARGS``, with ``modules`` overlaid on the product's capability table when given."""
    return command(modules, *args) if modules else [str(AVD_BOT), *args]


class Bot:
    """One ``avd-bot serve`` process at a time over the same database."""

    def __init__(self, env: dict[str, str], capabilities: str = "") -> None:
        self.env = env
        self.capabilities = capabilities  # modules overlaid on the product's table (tests.kit.serve)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(
            serve_command(self.capabilities, "serve", "--port", "0"),
            cwd=ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("avd-bot serving on "), line
        self.url = line.split()[-1]
        return self.url

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def wait(predicate: Any, timeout: float, what: str) -> Any:
    return wait_until(predicate, timeout, what, interval=0.01)
