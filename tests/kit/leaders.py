"""Bots competing for the lead: a timer target that records which process fired it, and ``avd-bot serve``
subprocesses whose log is kept (``python -m tests.kit.serve tests.kit.leaders serve``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from bot.runtime import Capability, Runtime
from bot.storage.leases import LEADER, Lease
from bot.storage.sqlite import Store
from tests.kit.process import ROOT, rows, serve_command

RECORD = "record"


def record(runtime: Runtime, args: dict[str, Any]) -> None:
    """A schedule fired in this process: one row in ``test_fires`` naming the process."""
    with runtime.store.transaction() as db:
        db.execute("create table if not exists test_fires (pid integer not null, schedule text not null)")
        db.execute("insert into test_fires values (?, ?)", [os.getpid(), str(args.get("name", ""))])


CAPABILITY = Capability(name="leader-test", timers={RECORD: record})


def fired(db: Path) -> list[tuple[int, str]]:
    return [(int(r["pid"]), str(r["schedule"])) for r in rows(db, "select * from test_fires order by rowid")]


def lease(db: Path) -> Lease | None:
    found = rows(db, "select * from leases where name = ?", (LEADER,))
    if not found:
        return None
    row = found[0]
    return Lease(row["name"], row["owner"], row["epoch"], row["expires_at"], row["acquired_at"])


def led_by(db: Path, pid: int) -> Lease | None:
    """The lease while the process ``pid`` holds it (its owner id is ``host:pid:random``)."""
    held = lease(db)
    return held if held is not None and held.owner.split(":")[1] == str(pid) else None


def store(db: Path) -> Store:
    return Store(db)


def writable(db: Path) -> bool:
    """Whether a write transaction can start on ``db`` now (no process holds SQLite's write lock)."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=0.5)
    try:
        conn.execute("begin immediate")
        conn.execute("rollback")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


class Bot:
    """``avd-bot serve`` with this module's timer target; its log goes to ``log_path`` for the test to read."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Bot:
        with self.log_path.open("w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                serve_command("tests.kit.leaders", "serve", "--port", "0"),
                cwd=ROOT,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("avd-bot serving on "), line + self.log()
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def pause(self, db: Path) -> None:
        """SIGSTOP, outside a write transaction: SQLite's write lock held by a stopped process would stop
        every other writer too (PostgreSQL ends such a session; SQLite cannot)."""
        for _ in range(20):
            self.signal(signal.SIGSTOP)
            if writable(db):
                return
            self.signal(signal.SIGCONT)
        raise AssertionError("the process held the write lock at every try")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
