"""Takeover time: the leader bot lost to the standby bot running its jobs again, over N trials.

Each trial starts a fresh database and two ``avd-bot serve`` processes, A then B (this module's ``CAPABILITY``
overlaid: kind ``bench-hold``, three steps of ``--step-seconds`` each, no Azure). Two jobs are queued in the
database before A starts; A leads and runs them; once a step of each runs, A is SIGKILLed. The figure is the
time from the kill (a seeded random delay of 0 to lease/3 s after both run: anywhere between two of A's lease
renewals) to B's ``job resume`` audit rows for both jobs (read by polling the database every 10 ms),
with the time to B holding the lease beside it. Setups:

* ``postgresql region``: primary + synchronous standby (``tests.kit.region.pair``), the bots on the multi-host
  URL; A and the primary are lost together (A SIGKILLed, the primary stopped `-m immediate`), the standby promoted.
* ``postgresql bot``: the same pair, only A lost.
* ``sqlite``: two processes on one SQLite file.

The bots run in PID namespaces of their own (``unshare --pid``, as root), so B waits for A's lease to expire as
a bot on another machine does; ``--same-host`` lets B see that A's process ended (``bot.engine.leader.ended``),
as two processes of one host do, and take over at its next try.

    .venv/bin/python bench/takeover.py [--trials 5] [--lease 3] [--job-lease 2] [--step-seconds 2] [--same-host]

A job whose lease (``AVD_JOB_LEASE_SECONDS``) is still held when B takes the lead is resumed by the leader's
sweep (every 30 s) once it expires: ``--job-lease 3`` with ``--lease 3`` shows that cost.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azureops.plan import Plan, Step, StepContext  # noqa: E402
from bench.harness import Report, add_json_option, figure, machine  # noqa: E402
from bot.runtime import Capability  # noqa: E402
from bot.storage import jobs, open_store  # noqa: E402
from commands import ops  # noqa: E402
from tests.kit.waiting import wait_until  # noqa: E402

KIND = "bench-hold"
STEP_SECONDS = float(os.environ.get("BENCH_STEP_SECONDS", "2"))


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    rid = f"/subscriptions/bench/resourceGroups/BENCH/providers/Bench.Hold/items/{op.target}"

    def hold(ctx: StepContext) -> str:
        time.sleep(STEP_SECONDS)
        return "ok"

    steps = tuple(
        Step(name=f"hold{i}", resource_id=f"{rid}-{i}", description="Hold", apply=hold, estimate_seconds=1)
        for i in range(3)
    )
    return Plan(kind=KIND, title=f"Hold {op.target}", steps=steps)


CAPABILITY = Capability(name=KIND, plans={KIND: build_plan})


def queue_jobs(where: str, count: int = 2) -> None:
    store = open_store(where)
    try:
        store.migrate()
        now = datetime.now(UTC)
        for n in range(count):
            op = ops.Scale(target=f"hold-{n}", count=1)
            jobs.create_job(
                store,
                plan=build_plan(None, op, now),
                op=op,
                requested_by="U0OPS1",
                channel="C0INCIDENT",
                status=jobs.QUEUED,
                now=now,
                kind=KIND,
            )
    finally:
        store.close()


def trial(
    setup: str, lease: int, job_lease: int, same_host: bool, slack_url: str, tmp: Path, delay: float
) -> tuple[float, float]:
    """(seconds to B holding the lease, seconds to B resuming both jobs), from A's SIGKILL, which comes
    ``delay`` seconds after both jobs were seen running."""
    from tests.kit.bots import bot_env
    from tests.kit.process import child_env
    from tests.kit.process import rows as sqlite_rows
    from tests.kit.region import leader, pair, query, region_bot

    def env_for(db: str) -> dict[str, str]:
        env = child_env(
            bot_env(tmp, slack_url),
            AVD_DB=db,
            AVD_LEADER_LEASE_SECONDS=str(lease),
            AVD_JOB_LEASE_SECONDS=str(job_lease),
            BENCH_STEP_SECONDS=str(STEP_SECONDS),
        )
        return env

    def run(
        db: str, read: Callable[[str], list[Any]], owner: Callable[[], str], lose: Callable[[], None]
    ) -> Any:
        queue_jobs(db)
        a = region_bot(env_for(db), tmp / "a.log", modules="bench.takeover")
        b = region_bot(env_for(db), tmp / "b.log", modules="bench.takeover")
        a.own_host = b.own_host = not same_host
        try:
            a.start()
            b.start()
            running = "select count(distinct job_id) as n from steps where status = 'running'"
            wait(lambda: int((read(running) or [{"n": 0}])[0]["n"]) == 2, 60)
            resumes = "select count(*) as n from audit where action = 'job resume'"
            before = int(read(resumes)[0]["n"])
            time.sleep(delay)  # the loss lands anywhere between two of A's renewals (every lease / 3)
            lost = time.monotonic()
            a.kill()  # reaped, as its container's runtime would: no zombie that looks alive
            lose()
            led = wait(lambda: b.owner() and owner() == b.owner(), lease + 60) and time.monotonic() - lost
            wait(lambda: int((read(resumes) or [{"n": 0}])[0]["n"]) >= before + 2, 120)
            return led, time.monotonic() - lost
        finally:
            a.stop()
            b.stop()

    if setup == "sqlite":
        db = str(tmp / "avd.db")

        def read_sqlite(sql: str) -> list[Any]:
            return [dict(r) for r in sqlite_rows(Path(db), sql)]

        def owner_sqlite() -> str:
            found = read_sqlite("select owner from leases where name = 'leader'")
            return str(found[0]["owner"]) if found else ""

        return run(db, read_sqlite, owner_sqlite, lambda: None)  # type: ignore[no-any-return]
    with pair(sync=True) as servers:
        url = servers.url
        lose = servers.lose_primary_and_promote if setup == "postgresql region" else (lambda: None)
        return run(  # type: ignore[no-any-return]
            url, lambda sql: query(url, sql), lambda: (leader(url) or ("", 0))[0], lose
        )


def wait(predicate: Callable[[], Any], timeout: float) -> Any:
    return wait_until(predicate, timeout, interval=0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lease", type=int, default=3, help="AVD_LEADER_LEASE_SECONDS")
    parser.add_argument(
        "--job-lease",
        type=int,
        default=2,
        help="AVD_JOB_LEASE_SECONDS (the jobs resume at the takeover when shorter)",
    )
    parser.add_argument("--step-seconds", type=float, default=2.0)
    parser.add_argument("--setups", default="postgresql region,postgresql bot,sqlite")
    parser.add_argument("--same-host", action="store_true", help="B may see that A's process ended")
    add_json_option(parser)
    args = parser.parse_args(argv)
    global STEP_SECONDS
    STEP_SECONDS = args.step_seconds
    from sim.slack import SlackSim
    from tests.kit.bots import BOT_TOKEN

    print(
        f"bench/takeover.py: {args.trials} trials per setup, leader lease {args.lease} s, "
        f"job lease {args.job_lease} s, "
        f"{'same host' if args.same_host else 'a PID namespace per bot'}; {machine()}",
        flush=True,
    )
    report = Report("takeover")
    rng = random.Random(16)  # the kill's phase against A's renewals, the same in every run
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
    slack.start()
    try:
        for setup in args.setups.split(","):
            led, ran = [], []
            for n in range(args.trials):
                with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp:
                    delay = rng.uniform(0, args.lease / 3)
                    lease_s, run_s = trial(
                        setup, args.lease, args.job_lease, args.same_host, slack.url, Path(tmp), delay
                    )
                print(
                    f"  {setup} trial {n + 1}: B leads {lease_s:.2f} s, B runs the jobs {run_s:.2f} s",
                    flush=True,
                )
                led.append(lease_s)
                ran.append(run_s)
            report.add(figure(f"{setup}: B leads, median", statistics.median(led), "s"))
            report.add(figure(f"{setup}: B runs the jobs, median", statistics.median(ran), "s"))
            report.add(figure(f"{setup}: B runs the jobs, max", max(ran), "s", at_most=args.lease + 5))
    finally:
        slack.stop()
    return report.emit(args.json)


if __name__ == "__main__":
    sys.exit(main())
