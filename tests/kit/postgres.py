"""A real PostgreSQL server for tests: ``initdb`` in a temporary folder, a free loopback port, stopped after.

PostgreSQL 15 comes from Debian's packages (``.ci/run`` installs them); ``pg_config --bindir`` names the
binaries. The server refuses to run as root, so as root every binary runs as the ``postgres`` user
(``runuser``) in a folder that user owns. ``PgServer.standby()`` makes a streaming standby of it
(``pg_basebackup -R``), which ``promote()`` turns into a primary: the failover tests.

    with PgServer.started() as server:
        url = server.create_database("t1")    # postgresql://postgres@127.0.0.1:PORT/t1
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

USER = "postgres"
# Test servers only: no fsync (a crash loses a throwaway folder), short checkpoints, room for a standby.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


def durable() -> dict[str, str]:
    """The settings a production server keeps (for benchmarks): every commit flushed to disk."""
    return {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def bindir() -> Path | None:
    """PostgreSQL's binaries (``pg_config --bindir``), or ``None`` when it is not installed."""
    if not shutil.which("pg_config"):
        return None
    out = subprocess.run(
        ["pg_config", "--bindir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    path = Path(out)
    return path if (path / "initdb").exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *argv] if os.geteuid() == 0 else argv


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, USER, USER)


class PgServer:
    """One PostgreSQL cluster in ``root/data`` on ``port``."""

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        found = bindir()
        if found is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql (or run .ci/run)")
        self.bin, self.root, self.port = found, root, port or free_port()
        self.data = root / "data"
        self.settings = {**SETTINGS, **(settings or {})}

    def _run(self, *argv: str, timeout: float = 120) -> None:
        subprocess.run(
            _as_server_user([str(self.bin / argv[0]), *argv[1:]]),
            check=True,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    @classmethod
    @contextmanager
    def started(cls, **settings: str) -> Iterator[PgServer]:
        """A new cluster in a new temporary folder, started; stopped and removed after. ``settings`` override
        ``SETTINGS`` (``durable()``: fsync and synchronous commit on, as in production)."""
        root = Path(tempfile.mkdtemp(prefix="avd-pg-"))
        _own(root)
        server = cls(root, settings=settings)
        try:
            server.init()
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self._configure()

    def _configure(self) -> None:
        conf = dict(self.settings, port=str(self.port), unix_socket_directories=f"'{self.root}'")
        with (self.data / "postgresql.auto.conf").open("a", encoding="utf-8") as fh:
            fh.writelines(f"{key} = {value}\n" for key, value in conf.items())
        with (self.data / "pg_hba.conf").open("a", encoding="utf-8") as fh:
            fh.write("host replication all 127.0.0.1/32 trust\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def crash(self) -> None:
        """Stop at once, as a lost machine does (``-m immediate``: no checkpoint, no goodbye to the standby)."""
        self.stop("immediate")

    def kill(self) -> None:
        """SIGKILL the postmaster and every one of its processes at once (a machine that vanished: a stopped
        WAL sender never sends what it holds)."""
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return
        postmaster = int(pidfile.read_text(encoding="utf-8").split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in (postmaster, *map(int, children)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pidfile.unlink()

    def walsender_pids(self) -> list[int]:
        """On a primary: the processes sending WAL to its standbys (SIGSTOP them to make a standby lag)."""
        return [int(str(row[0])) for row in self.admin("select pid from pg_stat_replication")]

    def promote(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "promote")

    def standby(self, root: Path, **settings: str) -> PgServer:
        """A streaming standby of this server in ``root`` (``pg_basebackup -R``), started. ``settings`` are
        appended to the standby's own configuration (``synchronous_standby_names="''"``: a promoted standby
        must not wait for a standby of its own that does not exist)."""
        _own(root)
        other = PgServer(root, settings=settings)
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-D", str(other.data), "-R",
            "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        auto = other.data / "postgresql.auto.conf"
        text = auto.read_text(encoding="utf-8").replace(f"port = {self.port}\n", f"port = {other.port}\n")
        text = text.replace(f"unix_socket_directories = '{self.root}'", f"unix_socket_directories = '{root}'")
        text += "".join(f"{key} = {value}\n" for key, value in settings.items())  # the last line wins
        auto.write_text(text, encoding="utf-8")
        other.start()
        return other

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run ``sql`` as the superuser (autocommit) and return its rows."""
        with psycopg.connect(self.url(database), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql.encode())
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        self.admin(f'create database "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'drop database if exists "{name}" with (force)')
