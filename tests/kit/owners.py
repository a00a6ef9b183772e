"""Processes competing for a job: ``avd-bot`` subprocesses (``serve`` or ``snapshots sync``) over one SQLite
file, each naming itself to the ARM simulator by ``AZURE_HTTP_USER_AGENT`` (azure-core appends it to every
request's User-Agent; the simulator's journal records it), with their log kept for the test to read."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from sim.azure import AzureSim
from sim.azure.journal import Entry
from tests.kit.leaders import writable
from tests.kit.process import ROOT, rows, serve_command


def job_lease_owner(db: Path, job_id: int) -> tuple[str, int] | None:
    """(pid, epoch) of the process holding ``job:<id>`` (its owner id is ``host:pid:random``), if any."""
    found = rows(db, "select owner, epoch from leases where name = ?", (f"job:{job_id}",))
    if not found or not found[0]["owner"]:
        return None
    return str(found[0]["owner"]).split(":")[1], int(found[0]["epoch"])


def requests_of(sim: AzureSim, name: str, since: int = 0) -> list[Entry]:
    """The journal's requests sent by the process named ``name``, from entry ``since`` on."""
    return [e for e in sim.journal_log.snapshot()[since:] if name in e.agent]


class Process:
    """One ``avd-bot ARGS`` process with ``modules`` overlaid (``tests.kit.serve``); stderr goes to ``log``."""

    def __init__(self, env: dict[str, str], name: str, log_path: Path, modules: str = "") -> None:
        self.env = {**env, "AZURE_HTTP_USER_AGENT": name}
        self.name, self.log_path, self.modules = name, log_path, modules
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def serve(self) -> Process:
        self.spawn("serve", "--port", "0")
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("avd-bot serving on "), line + self.log()
        self.url = line.split()[-1]
        return self

    def spawn(self, *args: str) -> Process:
        with self.log_path.open("w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                serve_command(self.modules, *args),
                cwd=ROOT,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def pause(self, db: Path) -> None:
        """SIGSTOP outside a write transaction (a stopped process holding SQLite's write lock stops all)."""
        for _ in range(50):
            self.signal(signal.SIGSTOP)
            if writable(db):
                return
            self.signal(signal.SIGCONT)
        raise AssertionError("the process held the write lock at every try")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
