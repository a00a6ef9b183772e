"""Snapshot sync through the engine: F disks (families) of k incremental snapshots each, every copy taking a
simulated time T, synced by the real plan (``azureops.snapshot_plans``: one chain per family, families side by
side) and the real engine (``avd-bot snapshots sync --copies-only``'s path, a headless runtime over SQLite),
at concurrency C and, in the same run, at concurrency 1, against the ARM simulator (real SDK, real token
buckets). Azure copies one incremental snapshot of a disk at a time, in creation order ("Copy an incremental
snapshot to a new region").

    .venv/bin/python bench/snapshots.py [--copy-seconds T] [--families 5] [--per-family 4] [--concurrency 5]
                                        [--json FILE]

Prints the copies grouped by family, both jobs' wall times (started -> finished, from the store), the goal
(wall <= 1.1 x ceil(F/C) x k x T), the ratio to the ideal, and the number of ARM 429 and 409 answers (goal 0:
a 409 is Azure refusing a copy that overlaps another of its family or comes out of order).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azureops import snapshots as snaps  # noqa: E402
from azureops.clients import AzureClients  # noqa: E402
from bench.harness import Report, add_json_option, bot_env, figure, machine, workdir  # noqa: E402
from bot.config.settings import load_settings  # noqa: E402
from bot.sandbox import example_config  # noqa: E402
from bot.snapshot_cli import EXIT_DONE, run_sync  # noqa: E402
from bot.storage import jobs  # noqa: E402
from bot.storage.sqlite import Store  # noqa: E402
from sim.azure import AzureSim  # noqa: E402
from sim.azure.providers import disks, resources  # noqa: E402

SUB1 = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
SIZE_GB = 100


PROFILE = """
[snapshot_profiles.{name}]
source_subscription = "{sub1}"
source_resource_group = "BENCH"
target_subscription = "{sub2}"
target_resource_group = "{rg}"
target_region = "{region}"
mode = "DifferentSubDifferentRegion"
tag_filter = "SnapReplicate=Replicate"
sync = false
concurrency = {concurrency}
"""


def run(sim: AzureSim, name: str, poll: float) -> float:
    """Sync the profile ``name`` as ``avd-bot snapshots sync NAME --copies-only`` does (each profile its own
    region: Azure copies a family to a region in creation order only); returns the job's wall time."""
    where = workdir(f"avd-bench-snapshots-{name}-")
    config = Path(example_config()).read_text(encoding="utf-8") + "".join(
        PROFILE.format(name=n, sub1=SUB1, sub2=SUB2, rg=rg, region=region, concurrency=c)
        for n, rg, region, c in PROFILES
    )
    settings = load_settings(
        bot_env(where, "http://127.0.0.1:9/api/", arm=sim.url, ca=sim.ca_path, config_text=config),
        mode="serve",
    )
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=poll, retry_total=0)
    out = io.StringIO()
    try:
        code = run_sync(settings, name, copies_only=True, out=out, azure=clients)
    finally:
        for sub in (SUB1, SUB2):
            clients.compute(sub).close()
    assert code == EXIT_DONE, out.getvalue()
    store = Store(settings.db_path)
    try:
        job = jobs.recent_jobs(store, 1)[0]
    finally:
        store.close()
    return (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()


PROFILES: list[tuple[str, str, str, int]] = []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copy-seconds", type=float, default=1.0, help="simulated copy time T per snapshot")
    ap.add_argument(
        "--families", type=int, default=5, help="disks the snapshots are of (incremental families)"
    )
    ap.add_argument("--per-family", type=int, default=4, help="snapshots of each disk (k)")
    ap.add_argument("--concurrency", type=int, default=5)
    add_json_option(ap)
    args = ap.parse_args(argv)
    args.count = args.families * args.per_family
    PROFILES[:] = [
        ("bench-parallel", "PARALLEL", "uksouth", args.concurrency),
        ("bench-serial", "SERIAL", "northeurope", 1),
    ]
    time_scale = SIZE_GB * disks.SECONDS_PER_GIB / args.copy_seconds
    sim = AzureSim(scenario="empty", time_scale=time_scale, poll_retry_after=None)
    resources.make_group(sim, SUB1, "BENCH", "westeurope")
    for rg in ("PARALLEL", "SERIAL"):
        resources.make_group(sim, SUB2, rg, "uksouth")
    fams = args.families
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
        groups = snaps.families(snaps.list_snapshots(clients.compute(SUB1), SUB1, "BENCH"))
    finally:
        clients.compute(SUB1).close()
    try:
        poll = args.copy_seconds / 4
        parallel = run(sim, "bench-parallel", poll)
        serial = run(sim, "bench-serial", poll)
    finally:
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
    report = Report("snapshot sync through the engine, parallel vs serial (bench/snapshots.py)")
    report.add(
        figure(
            f"sync of {args.count} at concurrency {args.concurrency}: job wall",
            parallel,
            "s",
            at_most=round(target, 2),
            note=f"1.1 x {waves} copies in a row x T ({len(groups)} families, longest {longest})",
        )
    )
    report.add(
        figure(
            "wall / (ceil(F/C) x k x T)",
            parallel / (waves * args.copy_seconds),
            "x",
            at_most=1.1,
        )
    )
    report.add(figure(f"sync of {args.count} at concurrency 1: job wall", serial, "s"))
    report.add(
        figure("speed-up serial/parallel", serial / parallel, "x", note=f"ideal {args.count / waves:.1f}x")
    )
    report.add(figure("ARM 429 answers (both runs)", throttled, "", at_most=0))
    report.add(figure("ARM 409 answers: copies Azure refuses (both runs)", refused, "", at_most=0))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
