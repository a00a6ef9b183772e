"""Benchmark: ``replicas add`` on one and on five regions against the ARM simulator.

Runs the real plan (``azureops.replicas.plan_add``: check, PATCH, follow with one GET per cycle) through the
real SDK and prints the ARM requests it made and the orchestration overhead: wall time minus the simulated
Azure time (the slowest new replica's virtual duration divided by the time scale).

    .venv/bin/python bench/replicas.py [--time-scale 600] [--poll 0.25] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azureops.clients import AzureClients  # noqa: E402
from azureops.gallery import ImageRef, read_replicas  # noqa: E402
from azureops.replicas import plan_add  # noqa: E402
from bench.harness import Report, add_json_option, figure, machine  # noqa: E402
from sim.azure import AzureSim  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000001"
REF = ImageRef(SUB, "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
FIVE = ("uksouth", "northeurope", "francecentral", "germanywestcentral", "swedencentral")


class Context:
    """A StepContext that only counts progress reports."""

    def __init__(self) -> None:
        self.reports = 0

    def save_token(self, token: str) -> None:
        return None

    def progress(self, percent: float | None, text: str = "") -> None:
        self.reports += 1

    def note(self, text: str) -> None:
        return None


def run(regions: tuple[str, ...], time_scale: float, poll: float) -> dict[str, Any]:
    sim = AzureSim(scenario="seed", time_scale=time_scale, poll_retry_after=None)
    sim.start()
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=poll, retry_total=0)
    try:
        start_requests = len(sim.journal)
        wall0 = time.perf_counter()
        plan = plan_add(clients, read_replicas(clients, REF), regions)
        ctx = Context()
        for step in plan.steps:
            if not step.check(ctx):
                step.apply(ctx)
        wall = time.perf_counter() - wall0
        arm = [e for e in sim.journal[start_requests:] if not e.path.startswith("/_sim")]
        doc = sim.store.get(REF.id)
        assert doc is not None
        spans = [r["end"] - r["start"] for k, r in doc["_sim"]["replicas"].items() if k in regions]
        azure = max(spans) / time_scale
        return {
            "regions": len(regions),
            "requests": len(arm),
            "writes": sum(e.method != "GET" for e in arm),
            "wall": wall,
            "azure": azure,
            "overhead": wall - azure,
            "reports": ctx.reports,
        }
    finally:
        clients.compute(SUB).close()
        sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--time-scale", type=float, default=600.0)
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between replication reads")
    add_json_option(parser)
    args = parser.parse_args(argv)
    print(f"replicas add, time scale {args.time_scale:g}, poll every {args.poll:g}s; {machine()}")
    report = Report("replicas add orchestration overhead (bench/replicas.py)")
    print(
        f"{'regions':>7} {'ARM requests':>12} {'writes':>6} {'wall s':>7} {'Azure s':>7} {'overhead s':>10}"
        f" {'overhead/poll':>13}"
    )
    for regions in (FIVE[:1], FIVE):
        r = run(regions, args.time_scale, args.poll)
        print(
            f"{r['regions']:>7} {r['requests']:>12} {r['writes']:>6} {r['wall']:>7.2f} {r['azure']:>7.2f}"
            f" {r['overhead']:>10.2f} {r['overhead'] / args.poll:>13.2f}"
        )
        report.add(
            figure(
                f"replicas add {r['regions']} region(s): overhead over Azure time",
                r["overhead"],
                "s",
                note=f"{r['overhead'] / args.poll:.2f} poll intervals, {r['requests']} ARM requests",
            )
        )
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
