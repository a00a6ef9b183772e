"""Two regions on one machine: a PostgreSQL primary and its streaming standby, and bots reaching them through one
multi-host URL (``postgresql://h:p1,h:p2/avd?target_session_attrs=read-write``), for the region-loss test and
``bench/takeover.py``.

* ``pair(sync=...)``: the primary (with ``synchronous_standby_names`` and ``synchronous_commit`` when ``sync``)
  and a standby made by ``pg_basebackup -R``, which runs without standbys of its own once promoted.
* ``Bot``: ``avd-bot serve`` (with ``tests.kit.leaders``' timer target) as a real process, its log kept, its URL
  read from its first line; as root, in a PID namespace of its own (``unshare --pid``), so the bots are two
  hosts to each other: the leader's shortcut for a dead process of the same host (``bot.engine.leader.ended``)
  does not apply and a standby waits for the lease to expire, as one in another region does.
* ``query``/``leader_pid``: the test's reads, through the same multi-host URL (they follow the promotion, and
  answer ``[]``/``None`` while no primary is reachable).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.kit import leaders
from tests.kit.postgres import PgServer, _own
from tests.kit.process import ROOT, serve_command
from tests.kit.waiting import wait_until

DATABASE = "avd"
# The setting docs/deploy.md recommends for a self-managed standby (measured in bench/standby.py): a commit
# returns once the standby has flushed it, so whatever the bot acknowledged survives the primary's loss.
SYNC = {"synchronous_standby_names": "'*'", "synchronous_commit": "on"}
ASYNC = {"synchronous_standby_names": "''", "synchronous_commit": "local"}


@dataclass
class Pair:
    primary: PgServer
    standby: PgServer

    @property
    def url(self) -> str:
        """Both servers; a client connects to whichever accepts writes (the primary, then the promoted one)."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/{DATABASE}"
            "?target_session_attrs=read-write&connect_timeout=2"
        )

    def lose_primary_and_promote(self) -> None:
        """The primary's region is gone (immediate stop: no checkpoint, no goodbye), the standby promoted."""
        self.primary.crash()
        self.standby.promote()


@contextmanager
def pair(*, sync: bool = True, durable: bool = False) -> Iterator[Pair]:
    """A primary with database ``avd`` and a streaming standby, both stopped and removed after."""
    settings = {k: v for k, v in (SYNC if sync else ASYNC).items() if k != "synchronous_standby_names"}
    if durable:
        settings.update(fsync="on", full_page_writes="on")
    root = Path(tempfile.mkdtemp(prefix="avd-region-"))
    _own(root)
    primary = PgServer(root / "primary", settings=settings)
    (root / "primary").mkdir()
    _own(root / "primary")
    standby: PgServer | None = None
    try:
        primary.init()
        primary.start()
        primary.admin(f'create database "{DATABASE}"')
        (root / "standby").mkdir()
        standby = primary.standby(root / "standby", synchronous_standby_names="''")
        streaming = "select 1 from pg_stat_replication where state = 'streaming'"
        wait_until(lambda: primary.admin(streaming), 60, "the standby to stream", interval=0.05)
        if sync:  # named once the standby streams (a commit before it would wait for it)
            primary.admin(f"alter system set synchronous_standby_names = {SYNC['synchronous_standby_names']}")
            primary.admin("select pg_reload_conf()")
            primary.admin("create table replicated_check (n int); drop table replicated_check")
        yield Pair(primary, standby)
    finally:
        for server in (standby, primary):
            if server is not None:
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def query(url: str, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` (``%s`` placeholders) on the current primary; ``[]`` when none is reachable."""
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return list(conn.execute(sql.encode(), list(args)).fetchall())
    except psycopg.Error:
        return []


def leader(url: str) -> tuple[str, int] | None:
    """(owner, epoch) of the leader lease while a process holds it, else ``None``."""
    found = query(url, "select owner, epoch from leases where name = 'leader'")
    if not found or not found[0]["owner"]:
        return None
    return str(found[0]["owner"]), int(found[0]["epoch"])


def own_host() -> list[str]:
    """The prefix that runs a command in a PID namespace of its own (killed with its ``unshare``), as root."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--pid", "--kill-child=SIGKILL", "--"]
    return []


class Bot(leaders.Bot):
    """``avd-bot serve`` with ``tests.kit.leaders``' timer target; ``url`` is where it serves Slack."""

    url = ""

    def __init__(self, env: dict[str, str], log_path: Path, *, modules: str = "tests.kit.leaders") -> None:
        super().__init__(env, log_path)
        self.modules = modules  # overlaid on the product's capability table (tests.kit.serve)
        self.own_host = True  # False: an ordinary process of this host

    def start(self) -> Bot:
        with self.log_path.open("w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [
                    *(own_host() if self.own_host else []),
                    *serve_command(self.modules, "serve", "--port", "0"),
                ],
                cwd=ROOT,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("avd-bot serving on "), line + self.log()
        self.url = line.split()[-1]
        return self

    def stop(self) -> None:
        """SIGKILL (its ``unshare`` passes SIGTERM to a PID 1 that does not handle it): the lease expires."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        super().stop()

    def owner(self) -> str:
        """The lease owner id this process leads as, once its log says it leads (else "")."""
        found = re.findall(r"leader: (\S+) leads", self.log())
        return str(found[-1]) if found else ""
