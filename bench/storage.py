"""Write latency of the storage backends: SQLite (WAL, a local file) against PostgreSQL (a local server).

One "job write" is what the engine writes for a small job: ``jobs.create_job`` (the job, its 5 steps and their
locks), ``transition`` queued -> running, each step marked running then done (``update_step`` x 10),
``transition`` running -> done (locks released) and one ``audit.record``: 14 write transactions. Both backends
are durable as in production (SQLite ``synchronous`` FULL in WAL mode, its default here; PostgreSQL ``fsync``
and ``synchronous_commit`` on), one writer thread, the PostgreSQL server started for the run
(``tests.kit.postgres``, 127.0.0.1 over TCP). Medians and p95 per job write and per operation.

    .venv/bin/python bench/storage.py [--jobs 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azureops.plan import Plan, Step, StepContext  # noqa: E402
from bench.harness import Report, add_json_option, figure, machine, pct  # noqa: E402
from bot.storage import Store, audit, jobs, open_store  # noqa: E402
from commands import ops  # noqa: E402
from tests.kit.postgres import PgServer, durable  # noqa: E402

STEPS = 5


def noop(ctx: StepContext) -> str:
    return ""


def plan(n: int) -> Plan:
    rid = f"/subscriptions/s/resourceGroups/BENCH/providers/Test.Bench/items/job{n}"
    steps = tuple(
        Step(name=f"step{i}", resource_id=f"{rid}-{i}", description=f"Step {i}", apply=noop)
        for i in range(STEPS)
    )
    return Plan(kind="bench", title=f"Bench {n}", steps=steps)


def timed(samples: dict[str, list[float]], name: str, fn: Callable[[], object]) -> None:
    start = time.perf_counter()
    fn()
    samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)


def job_write(store: Store, n: int, samples: dict[str, list[float]]) -> None:
    now = datetime.now(UTC)
    start = time.perf_counter()
    box: list[int] = []
    timed(
        samples,
        "create_job",
        lambda: box.append(
            jobs.create_job(
                store,
                plan=plan(n),
                op=ops.Help(topic=str(n)),
                requested_by="U0OPS1",
                channel="C0",
                status=jobs.QUEUED,
                now=now,
            )
        ),
    )
    job_id = box[0]
    timed(samples, "transition", lambda: jobs.transition(store, job_id, jobs.QUEUED, jobs.RUNNING, now))
    for i in range(STEPS):
        timed(
            samples,
            "update_step",
            lambda i=i: jobs.update_step(store, job_id, i, status="running", started_at=jobs.iso(now)),
        )
        timed(
            samples,
            "update_step",
            lambda i=i: jobs.update_step(
                store, job_id, i, status="done", finished_at=jobs.iso(now), output="ok"
            ),
        )
    timed(samples, "transition", lambda: jobs.transition(store, job_id, jobs.RUNNING, jobs.DONE, now))
    timed(
        samples,
        "audit.record",
        lambda: audit.record(store, actor="U0OPS1", action="bench", target=f"job {job_id}"),
    )
    samples.setdefault("job write", []).append((time.perf_counter() - start) * 1000)


def measure(store: Store, count: int) -> dict[str, list[float]]:
    store.migrate()
    samples: dict[str, list[float]] = {}
    for n in range(5):  # warm-up: connections, prepared statements, file pages
        job_write(store, -1 - n, {})
    for n in range(count):
        job_write(store, n, samples)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="job writes per backend")
    add_json_option(parser)
    args = parser.parse_args(argv)
    print(f"bench/storage.py: {args.jobs} job writes per backend; {machine()}", flush=True)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        store = open_store(str(Path(tmp) / "avd.db"))
        try:
            results["sqlite"] = measure(store, args.jobs)
        finally:
            store.close()
    with PgServer.started(**durable()) as server:
        store = open_store(server.create_database("avd"))
        try:
            results["postgresql"] = measure(store, args.jobs)
        finally:
            store.close()
    report = Report("storage")
    for backend, samples in results.items():
        for name in ("job write", "create_job", "update_step", "transition", "audit.record"):
            values = samples[name]
            report.add(figure(f"{backend} {name} p50", statistics.median(values), "ms"))
            report.add(figure(f"{backend} {name} p95", pct(values, 0.95), "ms"))
    ratio = statistics.median(results["postgresql"]["job write"]) / statistics.median(
        results["sqlite"]["job write"]
    )
    report.add(figure("postgresql / sqlite job write p50", ratio, "x"))
    return report.emit(args.json)


if __name__ == "__main__":
    sys.exit(main())
