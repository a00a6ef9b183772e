"""Bots competing for the lead: a timer target that records which process fired it (a process overlays it
with ``tests.kit.process.Bot(env, "tests.kit.leaders", ...)``), and the leader lease as the test reads it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bot.runtime import Capability, Runtime
from bot.storage.leases import LEADER, Lease
from bot.storage.sqlite import Store
from tests.kit.process import rows

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
