"""Parallel snapshot copies: 20 incremental snapshots, each taking a simulated copy time T, at concurrency 5
versus one at a time, in the same run, against the ARM simulator (real SDK, real token buckets).

    .venv/bin/python bench/snapshots.py [--copy-seconds T] [--count 20] [--concurrency 5] [--json FILE]

Prints both wall times, their ratio, the goal (parallel wall <= 1.1 x ceil(count/concurrency) x T) and the
number of ARM 429 answers (goal 0).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azureops import snapshot_copies as copies  # noqa: E402
from azureops import snapshots as snaps  # noqa: E402
from azureops.clients import AzureClients  # noqa: E402
from bench.harness import Report, add_json_option, figure, machine  # noqa: E402
from sim.azure import AzureSim  # noqa: E402
from sim.azure.providers import disks, resources  # noqa: E402

SUB1 = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
SIZE_GB = 100


def run(sim: AzureSim, clients: AzureClients, rg: str, concurrency: int, poll: float) -> float:
    """Copy every BENCH snapshot into ``rg``; returns the wall time."""
    sources = [s for s in snaps.list_snapshots(clients.compute(SUB1), SUB1, "BENCH")]
    target = copies.Target(SUB1, SUB2, rg, "uksouth", clients, snaps.Budget(), poll_seconds=poll)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for replica in pool.map(lambda s: copies.copy_snapshot(target, s, lambda p, t: None), sources):
            assert replica.usable
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copy-seconds", type=float, default=1.0, help="simulated copy time T per snapshot")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=5)
    add_json_option(ap)
    args = ap.parse_args(argv)
    time_scale = SIZE_GB * disks.SECONDS_PER_GIB / args.copy_seconds
    sim = AzureSim(scenario="empty", time_scale=time_scale, poll_retry_after=None)
    resources.make_group(sim, SUB1, "BENCH", "westeurope")
    for rg in ("PARALLEL", "SERIAL"):
        resources.make_group(sim, SUB2, rg, "uksouth")
    for n in range(args.count):
        sid = f"/subscriptions/{SUB1}/resourceGroups/BENCH/providers/Microsoft.Compute/snapshots/snap-{n:02d}"
        sim.store.put(
            disks.make_snapshot(
                sim,
                sid,
                "westeurope",
                SIZE_GB,
                incremental=True,
                creation={"createOption": "Empty"},
                tags={"SnapReplicate": "Replicate"},
            )
        )
    sim.start()
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02, retry_total=0)
    try:
        poll = args.copy_seconds / 4
        parallel = run(sim, clients, "PARALLEL", args.concurrency, poll)
        serial = run(sim, clients, "SERIAL", 1, poll)
    finally:
        for sub in (SUB1, SUB2):
            clients.compute(sub).close()
        sim.stop()
    throttled = sum(1 for e in sim.journal if e.status == 429)
    waves = math.ceil(args.count / args.concurrency)
    target = 1.1 * waves * args.copy_seconds
    print(
        f"{args.count} snapshots, copy time T={args.copy_seconds:.2f}s, concurrency {args.concurrency}, ARM simulator "
        f"time scale {time_scale:.0f}; {machine()}"
    )
    report = Report("snapshot sync parallel vs serial (bench/snapshots.py)")
    report.add(
        figure(
            f"{args.count} copies at concurrency {args.concurrency}: wall",
            parallel,
            "s",
            at_most=round(target, 2),
            note=f"1.1 x {waves} waves x T",
        )
    )
    report.add(figure(f"{args.count} copies one at a time: wall", serial, "s"))
    report.add(
        figure("speed-up serial/parallel", serial / parallel, "x", note=f"ideal {args.count / waves:.1f}x")
    )
    report.add(figure("ARM 429 answers (both runs)", throttled, "", at_most=0))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
