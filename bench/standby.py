"""What a PostgreSQL standby costs per write, and what an asynchronous one can lose.

Write cost: one primary and one streaming standby on this machine (``pg_basebackup -R``, both durable: fsync,
full_page_writes), the storage write path of ``bench/storage.py`` (one "job write": ``create_job``, the
transitions, 10 ``update_step``, one ``audit.record``: 14 write transactions) through the store's pool, with the
primary's replication setting switched between rounds (``ALTER SYSTEM`` + reload, a fresh store each round):

* ``async``: ``synchronous_standby_names = ''`` (a commit waits for the primary's own disk only);
* ``sync remote_write``: the standby has written the WAL (to its OS, not flushed);
* ``sync on``: the standby has flushed it to disk;
* ``sync remote_apply``: the standby has replayed it (readers there see it).

Loss: an approval row decided on the primary while the standby lags (the primary's WAL sender stopped:
the link to the other region is slower than the commit), then the primary's machine lost (every PostgreSQL
process SIGKILLed) and the standby promoted. Asynchronous: the commit returned, so the bot would have
acknowledged, and the approval is not on the promoted standby. Synchronous: the commit does not return while
the standby lags (nothing to acknowledge), and with the standby caught up a commit followed at once by the
loss is kept.

    .venv/bin/python bench/standby.py [--jobs 120] [--rounds 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Report, add_json_option, figure, machine, pct  # noqa: E402
from bench.storage import job_write  # noqa: E402
from bot.storage import approvals, open_store  # noqa: E402
from tests.kit.region import DATABASE, Pair, pair  # noqa: E402

MODES = {
    "async": ("''", "on"),
    "sync remote_write": ("'*'", "remote_write"),
    "sync on": ("'*'", "on"),
    "sync remote_apply": ("'*'", "remote_apply"),
}
OPS = ("job write", "create_job", "update_step", "transition", "audit.record")


def set_mode(servers: Pair, mode: str) -> None:
    names, commit = MODES[mode]
    servers.primary.admin(f"alter system set synchronous_standby_names = {names}")
    servers.primary.admin(f"alter system set synchronous_commit = '{commit}'")
    servers.primary.admin("select pg_reload_conf()")


def write_cost(jobs: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    with pair(sync=False, durable=True) as servers:
        store = open_store(servers.primary.url(DATABASE))
        store.migrate()
        store.close()
        per_round = max(1, jobs // rounds)
        for r in range(rounds):
            order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
            for mode in order:
                set_mode(servers, mode)
                store = open_store(servers.primary.url(DATABASE))
                try:
                    for n in range(3):  # warm-up: the pool's connections
                        job_write(store, -1 - n, {})
                    for n in range(per_round):
                        job_write(store, r * per_round + n, samples[mode])
                finally:
                    store.close()
    return samples


def approval_row(approval_id: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": approval_id,
        "job_id": None,
        "requester": "U0OPS1",
        "status": "pending",
        "expires_at": (now + timedelta(hours=1)).isoformat(),
        "channel": "C0INCIDENT",
        "created_at": now.isoformat(),
    }


APPROVE = "update approvals set status = 'approved', decided_by = 'U0LEAD1' where id = %s"


def lose_region(*, sync: bool, lagging: bool) -> tuple[bool, float | None, bool]:
    """(commit returned, its latency in ms, approval on the promoted standby)."""
    with pair(sync=sync, durable=True) as servers:
        store = open_store(servers.primary.url(DATABASE))
        try:
            store.migrate()
            approvals.insert(store, approval_row("A1"))
        finally:
            store.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the row reached the standby (it is the state before the press)
            with psycopg.connect(servers.standby.url(DATABASE), autocommit=True) as conn:
                try:
                    if conn.execute("select 1 from approvals where id = 'A1'").fetchone():
                        break
                except psycopg.errors.UndefinedTable:
                    pass  # the migrations are not replayed there yet
            time.sleep(0.05)
        stopped = servers.primary.walsender_pids() if lagging else []
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        result: dict[str, float] = {}

        def press() -> None:
            try:
                with psycopg.connect(servers.primary.url(DATABASE)) as conn:
                    started = time.perf_counter()
                    conn.execute(APPROVE, ["A1"])
                    conn.commit()
                    result["ms"] = (time.perf_counter() - started) * 1000
            except psycopg.Error:
                pass  # the primary died while the commit waited: never acknowledged

        thread = threading.Thread(target=press, daemon=True)
        thread.start()
        thread.join(timeout=2.0)
        servers.primary.kill()  # the machine is gone, WAL sender and all
        servers.standby.promote()
        thread.join(timeout=30)
        with psycopg.connect(servers.standby.url(DATABASE), autocommit=True) as conn:
            row = conn.execute("select status from approvals where id = 'A1'").fetchone()
        kept = row is not None and row[0] == "approved"
        return "ms" in result, result.get("ms"), kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=120, help="job writes per mode")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, the modes interleaved")
    add_json_option(parser)
    args = parser.parse_args(argv)
    print(f"bench/standby.py: {args.jobs} job writes per mode; {machine()}", flush=True)
    report = Report("standby")
    samples = write_cost(args.jobs, args.rounds)
    base = statistics.median(samples["async"]["job write"])
    for mode, ops in samples.items():
        for name in OPS:
            report.add(figure(f"{mode} {name} p50", statistics.median(ops[name]), "ms"))
            report.add(figure(f"{mode} {name} p95", pct(ops[name], 0.95), "ms"))
        report.add(figure(f"{mode} job write p50 / async", statistics.median(ops["job write"]) / base, "x"))
    for sync, lagging, label in (
        (False, True, "async, standby lagging"),
        (True, True, "sync on, standby lagging"),
        (False, False, "async, standby caught up"),
        (True, False, "sync on, standby caught up"),
    ):
        acked, ms, kept = lose_region(sync=sync, lagging=lagging)
        shown = f"{ms:.1f} ms" if ms is not None else "did not return"
        state = "kept" if kept else ("LOST" if acked else "absent (never acknowledged)")
        print(f"  loss: {label}: commit {shown}; after promotion the approval is {state}", flush=True)
        report.add(figure(f"loss {label}: acknowledged", 1.0 if acked else 0.0))
        report.add(figure(f"loss {label}: kept", 1.0 if kept else 0.0))
        report.add(
            figure(f"loss {label}: acknowledged and lost", 1.0 if acked and not kept else 0.0, at_most=0)
            if sync
            else figure(f"loss {label}: acknowledged and lost", 1.0 if acked and not kept else 0.0)
        )
    return report.emit(args.json)


if __name__ == "__main__":
    sys.exit(main())
