"""Crash test: ``avd-bot serve`` as a real subprocess, SIGKILLed in the middle of each step of a three-step
job (while its Azure operation runs), restarted each time: the job completes, no Azure write is issued twice
(the simulator's request journal), and the card ends showing the job done."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat, wait_until
from tests.kit.bots import bot_env
from tests.kit.serve import command

ROOT = Path(__file__).resolve().parent.parent
AVD_BOT = Path(sys.executable).with_name("avd-bot")


def serve_command(modules: str, *args: str) -> list[str]:
    """``avd-bot ARGS``, with ``modules`` overlaid on the product's capability table when given."""
    return command(modules, *args) if modules else [str(AVD_BOT), *args]


@pytest.fixture
def slow_azure() -> Iterator[AzureSim]:
    """The seed scenario at time scale 30: each step's operation lasts a few seconds."""
    sim = AzureSim(scenario="seed", time_scale=30)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


class Bot:
    """One ``avd-bot serve`` process at a time over the same database."""

    def __init__(self, env: dict[str, str], capabilities: str = "") -> None:
        self.env = env
        self.capabilities = capabilities  # modules overlaid on the product's table (tests.kit.serve)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(serve_command(self.capabilities, "serve", "--port", "0"), cwd=ROOT, env=self.env,
                                     text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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


def test_sigkill_mid_step_resumes_without_repeating_azure_writes(tmp_path: Path, slack_sim: SlackSim,
                                                                 slow_azure: AzureSim) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    env.update(bot_env(tmp_path, slack_sim.url, arm=slow_azure.url, ca=slow_azure.ca_path),
               PYTHONPATH=str(ROOT))
    db = tmp_path / "avd.db"
    bot = Bot(env, "tests.engine_kit")
    try:
        chat = Chat(bot.start(), slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd scale Entra 3", user="U0OPS1").status == 200
        for idx in range(3):  # kill while step idx waits on its Azure operation (token saved), then restart
            wait(lambda i=idx: rows(db, "select 1 from steps where job_id = 1 and idx = ? and status = 'running'"
                                        " and continuation_token is not null", (i,)), 30, f"step {idx} mid-LRO")
            bot.kill()
            bot.start()
        job = wait(lambda: [r for r in rows(db, "select * from jobs where id = 1") if r["status"] == "done"],
                   40, "the job to finish")[0]
        steps = rows(db, "select name, status, output from steps where job_id = 1 order by idx")
        assert [(s["name"], s["status"]) for s in steps] == [
            ("tag-start", "done"), ("set-capacity", "done"), ("tag-done", "done")]
        assert all("re-attached" in s["output"] for s in steps)
        writes = [(e.method, e.path.split("/")[-1]) for e in slow_azure.writes()]
        assert writes == [("PATCH", "snap-gold-manual"), ("PATCH", "Entra"), ("PATCH", "snap-gold-manual")]
        assert slow_azure.scale_set("VMSS", "Entra").capacity == 3
        card = wait(lambda: (m := slack_sim.message(job["channel"], job["card_ts"])) and
                    m["text"].endswith(": done") and m, 25, "the card to show done")
        assert "Cancel" not in str(card["blocks"])
        assert len(rows(db, "select 1 from audit where action = 'job resume'")) == 3
    finally:
        bot.stop()
