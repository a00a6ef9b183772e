"""Engine overhead of a graph: a 50-step plan of 10 parallel branches (5 steps each, after one start step's
worth of nothing) run by the real engine over a real store, against the same steps' simulated durations.

    .venv/bin/python bench/graph.py [--branches 10] [--length 5] [--step-seconds 5.0] [--json FILE]

Each step sleeps its simulated duration D (a stand-in for an Azure operation); the longest chain of steps that
wait for each other is ``length`` x D. The job runs headless (``build_app(..., headless=True)``: the engine in
this thread, each step recorded in SQLite as in the bot: running, output, done; the card writer is a no-op).
Prints the job's wall time (its own started/finished, from the store), the critical path, their ratio (goal
<= 1.02), the overhead per level of the graph in milliseconds (absolute: about the same at any D, so the ratio
depends on D; Azure operations take seconds to minutes, hence D=5 s by default), what the same steps take as a
line (the sum, computed), and the widest the engine ran at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk import WebClient  # noqa: E402

from azureops.plan import Plan, Step, StepContext  # noqa: E402
from bench.harness import Report, add_json_option, bot_env, figure, machine, workdir  # noqa: E402
from bot.app import build_app  # noqa: E402
from bot.capabilities import CAPABILITIES  # noqa: E402
from bot.config.settings import load_settings  # noqa: E402
from bot.engine.registry import overlay  # noqa: E402
from bot.runtime import Capability  # noqa: E402
from bot.storage import jobs  # noqa: E402
from bot.storage.sqlite import Store  # noqa: E402
from commands import ops  # noqa: E402

KIND = "bench-graph"


class Quiet:
    """A ``ProgressSink`` that sends nothing (the engine's own work is what is measured)."""

    def post_card(self, job_id: int, channel: str, *, fresh: bool = False) -> None: ...

    def known(self, job_id: int, channel: str, ts: str | None, updated_wall: float | None) -> None: ...

    def touch(self, job_id: int, *, final: bool = False) -> None: ...

    def reply(self, job_id: int, text: str, *, broadcast: bool = False) -> None: ...

    def finish(self, job_id: int) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def graph(branches: int, length: int, seconds: float) -> Plan:
    def work(name: str) -> Step:
        def apply(ctx: StepContext) -> str:
            ctx.progress(0.0, f"{name} under way")
            time.sleep(seconds)
            return f"{name} done"

        return Step(
            name=name,
            resource_id=f"/subscriptions/s/resourceGroups/BENCH/providers/Test.Bench/items/{name}",
            description=f"Simulated operation {name} ({seconds:.2f}s)",
            apply=apply,
            estimate_seconds=max(1, round(seconds)),
            after=(f"b{name[1:].split('-')[0]}-{int(name.split('-')[1]) - 1}",)
            if not name.endswith("-0")
            else (),
        )

    steps = tuple(work(f"b{b}-{n}") for n in range(length) for b in range(branches))
    return Plan(kind=KIND, title=f"{branches} branches x {length} steps", steps=steps, concurrency=branches)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--branches", type=int, default=10)
    ap.add_argument("--length", type=int, default=5)
    ap.add_argument("--step-seconds", type=float, default=5.0, help="simulated duration D of each step")
    add_json_option(ap)
    args = ap.parse_args(argv)
    plan = graph(args.branches, args.length, args.step_seconds)

    def build(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
        return plan

    where = workdir("avd-bench-graph-")
    settings = load_settings(
        bot_env(where, "http://127.0.0.1:9/api/", arm="https://127.0.0.1:9"), mode="serve"
    )
    store = Store(settings.db_path)
    runtime = build_app(
        settings,
        store=store,
        progress=Quiet(),
        headless=True,
        web_client=WebClient(token="xoxb-bench"),
        capabilities=overlay(CAPABILITIES, Capability(name=KIND, plans={KIND: build})),
    )
    said: list[str] = []
    try:
        start = time.monotonic()
        job_id = runtime.engine.request(
            ops.Scale(target="bench", count=1), "bench", "", said.append, kind=KIND, approval=False
        )
        outside = time.monotonic() - start
        assert job_id is not None, said
        job = jobs.get_job(store, job_id) or {}
        steps = jobs.get_steps(store, job_id)
    finally:
        runtime.stop()
    assert job.get("status") == jobs.DONE, (job.get("status"), job.get("error"))
    assert all(s["status"] == jobs.STEP_DONE for s in steps)
    wall = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()
    critical = args.length * args.step_seconds
    starts = sorted(datetime.fromisoformat(s["started_at"]) for s in steps)
    ends = sorted(datetime.fromisoformat(s["finished_at"]) for s in steps)
    widest = max(sum(1 for a in starts if a <= t) - sum(1 for b in ends if b <= t) for t in starts)
    print(
        f"{len(plan.steps)} steps: {args.branches} branches of {args.length}, D={args.step_seconds:.2f}s each, "
        f"engine width {runtime.engine.width(plan)}; {machine()}"  # type: ignore[attr-defined]
    )
    report = Report("engine overhead of a graph (bench/graph.py)")
    report.add(figure("job wall (started -> finished, from the store)", wall, "s"))
    report.add(figure("critical path (length x D)", critical, "s"))
    report.add(figure("job wall / critical path", wall / critical, "x", at_most=1.02))
    report.add(
        figure(
            "overhead per level of the graph", (wall - critical) / args.length * 1000, "ms", note="absolute"
        )
    )
    report.add(figure("request -> job done, planning included", outside, "s"))
    report.add(figure("the same steps as a line (sum of D)", len(plan.steps) * args.step_seconds, "s"))
    report.add(figure("steps running at once (most)", widest, "", note=f"of {args.branches} branches"))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
