"""Processes competing for a job (``tests.kit.process.Bot`` with an ``agent`` name, ``serve`` or ``snapshots
sync``) over one SQLite file: who holds a job's lease, and which requests the ARM simulator saw from whom."""

from __future__ import annotations

from pathlib import Path

from sim.azure import AzureSim
from sim.azure.journal import Entry
from tests.kit.process import rows


def job_lease_owner(db: Path, job_id: int) -> tuple[str, int] | None:
    """(pid, epoch) of the process holding ``job:<id>`` (its owner id is ``host:pid:random``), if any."""
    found = rows(db, "select owner, epoch from leases where name = ?", (f"job:{job_id}",))
    if not found or not found[0]["owner"]:
        return None
    return str(found[0]["owner"]).split(":")[1], int(found[0]["epoch"])


def requests_of(sim: AzureSim, name: str, since: int = 0) -> list[Entry]:
    """The journal's requests sent by the process named ``name``, from entry ``since`` on."""
    return [e for e in sim.journal_log.snapshot()[since:] if name in e.agent]
