"""Two regions on one machine: a PostgreSQL primary and its streaming standby, and bots reaching them through one
multi-host URL (``postgresql://h:p1,h:p2/avd?target_session_attrs=read-write``), for the region-loss test and
``bench/takeover.py``.

* ``pair(sync=...)``: the primary (with ``synchronous_standby_names`` and ``synchronous_commit`` when ``sync``)
  and a standby made by ``pg_basebackup -R``, which runs without standbys of its own once promoted.
* ``region_bot``: ``avd-bot serve`` (with ``tests.kit.leaders``' timer target) as a real process
  (``tests.kit.process.Bot``), its log kept; as root, in a PID namespace of its own (``unshare --pid``), so the
  bots are two hosts to each other: the leader's shortcut for a dead process of the same host
  (``bot.engine.leader.ended``) does not apply and a standby waits for the lease to expire, as one in another
  region does.
* ``query``/``leader_pid``: the test's reads, through the same multi-host URL (they follow the promotion, and
  answer ``[]``/``None`` while no primary is reachable).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.kit.postgres import PgServer, _own
from tests.kit.process import Bot
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


def region_bot(
    env: dict[str, str], log_path: Path, *, modules: str = "tests.kit.leaders", role: str = ""
) -> Bot:
    """A bot of a region of its own: ``modules`` overlaid, its log kept, its own PID namespace (as root)."""
    return Bot(env, modules, role=role, log_path=log_path, own_host=True)
