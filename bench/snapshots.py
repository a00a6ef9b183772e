"""Parallel snapshot copies: 20 incremental snapshots of F disks (families), each taking a simulated copy
time T, at concurrency 5 versus one at a time, in the same run, against the ARM simulator (real SDK, real
token buckets). Azure copies one incremental snapshot of a disk at a time, in creation order ("Copy an
incremental snapshot to a new region"), so the copies run as the product runs them: families in parallel,
each family's copies in order (``azureops.snapshots.families``).

    .venv/bin/python bench/snapshots.py [--copy-seconds T] [--count 20] [--families 5] [--concurrency 5]
                                        [--json FILE]

Prints the copies grouped by family, both wall times, their ratio, the goal (parallel wall <= 1.1 x
ceil(families/concurrency) x longest family x T), and the number of ARM 429 and 409 answers (goal 0: a 409
is Azure refusing a copy that overlaps another of its family or comes out of order).
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


def run(clients: AzureClients, rg: str, region: str, concurrency: int, poll: float) -> float:
    """Copy every BENCH snapshot into ``rg`` in ``region`` (each run its own region: Azure copies a family to a
    region in creation order only), families in parallel, each in creation order; returns the wall time."""
    sources = [s for s in snaps.list_snapshots(clients.compute(SUB1), SUB1, "BENCH")]
    target = copies.Target(SUB1, SUB2, rg, region, clients, snaps.Budget(), poll_seconds=poll)

    def family(group: list[snaps.Snap]) -> None:
        for src in group:
            assert copies.copy_snapshot(target, src, lambda p, t: None).usable

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(family, snaps.families(sources)))
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copy-seconds", type=float, default=1.0, help="simulated copy time T per snapshot")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument(
        "--families", type=int, default=5, help="disks the snapshots are of (incremental families)"
    )
    ap.add_argument("--concurrency", type=int, default=5)
    add_json_option(ap)
    args = ap.parse_args(argv)
    time_scale = SIZE_GB * disks.SECONDS_PER_GIB / args.copy_seconds
    sim = AzureSim(scenario="empty", time_scale=time_scale, poll_retry_after=None)
    resources.make_group(sim, SUB1, "BENCH", "westeurope")
    for rg in ("PARALLEL", "SERIAL"):
        resources.make_group(sim, SUB2, rg, "uksouth")
    fams = max(1, min(args.families, args.count))
    now = sim.clock.seconds()
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
                family=f"00000000-0000-0000-0000-{n % fams:012d}",
                created=now - 3600 * (args.count - n),
            )
        )
    sim.start()
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02, retry_total=0)
    try:
        poll = args.copy_seconds / 4
        groups = snaps.families(snaps.list_snapshots(clients.compute(SUB1), SUB1, "BENCH"))
        parallel = run(clients, "PARALLEL", "uksouth", args.concurrency, poll)
        serial = run(clients, "SERIAL", "northeurope", 1, poll)
    finally:
        for sub in (SUB1, SUB2):
            clients.compute(sub).close()
        sim.stop()
    throttled = sum(1 for e in sim.journal if e.status == 429)
    refused = sum(1 for e in sim.journal if e.status == 409)
    longest = max(len(g) for g in groups)
    waves = math.ceil(len(groups) / args.concurrency) * longest
    target = 1.1 * waves * args.copy_seconds
    print(
        f"{args.count} snapshots of {len(groups)} disks, copy time T={args.copy_seconds:.2f}s, concurrency "
        f"{args.concurrency}, ARM simulator time scale {time_scale:.0f}; {machine()}"
    )
    for group in groups:
        print(
            f"  family {group[0].family[-4:]}: {len(group)} copies in order: {', '.join(s.name for s in group)}"
        )
    report = Report("snapshot sync parallel vs serial (bench/snapshots.py)")
    report.add(
        figure(
            f"{args.count} copies at concurrency {args.concurrency}: wall",
            parallel,
            "s",
            at_most=round(target, 2),
            note=f"1.1 x {waves} copies in a row x T ({len(groups)} families, longest {longest})",
        )
    )
    report.add(figure(f"{args.count} copies one at a time: wall", serial, "s"))
    report.add(
        figure("speed-up serial/parallel", serial / parallel, "x", note=f"ideal {args.count / waves:.1f}x")
    )
    report.add(figure("ARM 429 answers (both runs)", throttled, "", at_most=0))
    report.add(figure("ARM 409 answers: copies Azure refuses (both runs)", refused, "", at_most=0))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
