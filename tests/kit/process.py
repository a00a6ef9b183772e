"""``avd-bot`` as a real subprocess (crash, chaos, leader, job-lease, role and region-loss tests; bench/takeover).

``Bot(env, ...)`` is one child: ``avd-bot serve`` (or ``python -m tests.kit.serve MODULES serve`` with
``modules`` overlaid on the product's capability table), with a ``--role``, its stderr kept in ``log_path``, and,
with ``own_host``, in a PID namespace of its own (``unshare --pid``, as root) so that two bots are two hosts to
each other. ``start()`` waits for its first line ("serving on URL", or "worker NAME running"; ``start(wait=False)``
then ``ready()`` to start several at once); ``kill()``, ``pause(db)``/``resume()`` and ``stop()`` (SIGTERM,
or SIGKILL through ``unshare``) end or freeze it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from tests.kit.serve import command
from tests.kit.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
AVD_BOT = Path(sys.executable).with_name("avd-bot")


def serve_command(modules: str, *args: str) -> list[str]:
    """``avd-bot ARGS``, with ``modules`` overlaid on the product's capability table when given."""
    return command(modules, *args) if modules else [str(AVD_BOT), *args]


def child_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without its ``SLACK_``/``AVD_``/``AZURE_`` settings, then ``base``, this
    tree on ``PYTHONPATH`` (for ``tests.kit.serve``) and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    env.update(base, PYTHONPATH=str(ROOT), **extra)
    return env


def own_host() -> list[str]:
    """The prefix that runs a command in a PID namespace of its own (killed with its ``unshare``), as root."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--pid", "--kill-child=SIGKILL", "--"]
    return []


def writable(db: Path | str) -> bool:
    """Whether a write transaction can start on ``db`` now: no process holds SQLite's write lock, or, for a
    PostgreSQL URL, the advisory lock every writer of ``bot.storage.postgres`` takes."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            held = "select 1 from pg_locks where locktype = 'advisory' and granted"
            return pg.execute(held.encode()).fetchone() is None
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
    """One ``avd-bot`` child at a time.

    * ``modules``: overlaid on the product's capability table (``tests.kit.serve``); "" runs ``avd-bot``.
    * ``role``: ``web`` or ``worker`` (``--role``); "" is the all-in-one process.
    * ``mode``: ``serve``, or ``socket`` (Socket Mode; no port).
    * ``log_path``: where its stderr goes (``log()`` reads it); ``None`` discards it.
    * ``agent``: its name to the ARM simulator (``AZURE_HTTP_USER_AGENT``: azure-core appends it to every
      request's User-Agent and the simulator's journal records it).
    * ``own_host``: run it in a PID namespace of its own (see ``own_host()``).

    After ``start()``: ``url`` (where it serves Slack) or ``name`` (a worker's claim name).
    """

    def __init__(
        self,
        env: dict[str, str],
        modules: str = "",
        *,
        role: str = "",
        mode: str = "serve",
        log_path: Path | None = None,
        agent: str = "",
        own_host: bool = False,
    ) -> None:
        self.env = {**env, "AZURE_HTTP_USER_AGENT": agent} if agent else env
        self.modules, self.role, self.mode, self.log_path = modules, role, mode, log_path
        self.own_host = own_host
        self.prefix: list[str] = []  # ``unshare ...`` when it runs in a PID namespace of its own
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.name = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait: bool = True) -> Bot:
        """Runs it and (unless ``wait`` is false: then call ``ready()``) waits for its first line."""
        args = ["--port", "0"] if self.mode == "serve" else []
        self.spawn(self.mode, *args, *(["--role", self.role] if self.role else []))
        return self.ready() if wait else self

    def ready(self) -> Bot:
        """Reads its first line: the URL it serves on, or a worker's name."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if self.role == "worker":
            assert line.startswith("avd-bot worker ") and line.rstrip().endswith(" running"), (
                line + self.log()
            )
            self.name = line.split()[2]
        elif self.mode == "socket":
            assert line.startswith("avd-bot connected over Socket Mode"), line + self.log()
        else:
            assert line.startswith("avd-bot serving on "), line + self.log()
            self.url = line.split()[-1]
        return self

    def spawn(self, *args: str) -> Bot:
        """Runs ``avd-bot ARGS`` without waiting for anything (``snapshots sync ...``)."""
        self.prefix = own_host() if self.own_host else []
        argv = [*self.prefix, *serve_command(self.modules, *args)]
        log: IO[str] | int = subprocess.DEVNULL
        if self.log_path is not None:
            log = self.log_path.open("w", encoding="utf-8")
        try:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, text=True, stdout=subprocess.PIPE, stderr=log
            )
        finally:
            if not isinstance(log, int):
                log.close()
        return self

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8")

    def owner(self) -> str:
        """The lease owner id this process leads as, once its log says it leads (else "")."""
        found = re.findall(r"leader: (\S+) leads", self.log())
        return str(found[-1]) if found else ""

    def signal(self, sig: int) -> None:
        """``sig`` to the bot: in its own PID namespace, to the process ``unshare`` runs (``unshare`` passes
        no signal on; it is SIGKILLed with it)."""
        assert self.proc is not None
        if self.prefix and self.proc.poll() is None:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            with suppress(OSError):  # ended meanwhile
                for child in children.read_text(encoding="utf-8").split():
                    os.kill(int(child), sig)
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, reaped (as its container's runtime would: no zombie that looks alive)."""
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=30)
        self.close()

    def pause(self, db: Path | str) -> None:
        """SIGSTOP, outside a write transaction (``db``: the SQLite file or the PostgreSQL URL): the write lock
        held by a stopped process would stop every other writer too."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.signal(signal.SIGSTOP)
            if writable(db):
                return
            self.resume()
            time.sleep(0.02)  # let it finish the write it was stopped in (back to back, it never got to)
        raise AssertionError("the process held the write lock at every try for 60 s")

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM (a paused one resumed first), or SIGKILL in its own PID namespace (``unshare`` passes
        SIGTERM to a PID 1 that does not handle it): a leader's lease then expires."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.own_host:
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
        self.proc.wait(timeout=30)
        self.close()

    def close(self) -> None:
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
