"""``avd-bot snapshots sync PROFILE [--dry-run] [--copies-only]``: the same plan, engine, store and audit as
``/avd snapshots sync``, for cron and automation users, without Slack.

The job is recorded in the bot's database (so ``/avd jobs`` shows it and its resource locks keep a Slack
run and a CLI run apart) and runs in this process under its job lease (``bot.engine.tenure``), so a bot
starting meanwhile on the same database leaves it alone; progress goes to stdout. A plan that would delete
snapshots or lift locks needs a second person, so the CLI refuses it (exit 3) unless ``--copies-only``
leaves those steps out. Exit codes: 0 done, 1 failed, 2 bad config or plan refused, 3 needs approval,
4 busy (another job holds the target).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from datetime import datetime
from typing import TextIO

from slack_sdk import WebClient

from avdcore.errors import AvdError
from azureops.clients import AzureClients
from azureops.snapshot_plans import destructive
from bot.app import build_app
from bot.capabilities import snapshots as cap
from bot.config.settings import Settings, load_settings
from bot.runtime import Runtime
from bot.storage import Store, audit, jobs, open_store
from commands import ops

EXIT_DONE, EXIT_FAILED, EXIT_REFUSED, EXIT_APPROVAL, EXIT_BUSY = 0, 1, 2, 3, 4


class ConsoleProgress:
    """The engine's ``Progress`` interface, printing each step's status change as one line (the steps of a
    graph report from several threads: one at a time here)."""

    def __init__(self, store: Store, out: TextIO) -> None:
        self.store, self.out = store, out
        self.seen: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def touch(self, job_id: int, *, final: bool = False) -> None:
        with self._lock:
            self._print_changes(job_id)

    def _print_changes(self, job_id: int) -> None:
        for step in jobs.get_steps(self.store, job_id):
            key, status = (job_id, int(step["idx"])), str(step["status"])
            if status != jobs.STEP_PENDING and self.seen.get(key) != status:
                self.seen[key] = status
                detail = step.get("error") or (str(step.get("output") or "").splitlines() or [""])[-1]
                self.out.write(
                    f"  [{status}] {step.get('description') or step['name']}"
                    + (f" - {detail}" if detail and status != jobs.STEP_RUNNING else "")
                    + "\n"
                )
        self.out.flush()

    def reply(self, job_id: int, text: str, *, broadcast: bool = False) -> None:
        with self._lock:
            self.out.write(text + "\n")

    def finish(self, job_id: int) -> None:
        self.touch(job_id, final=True)

    def post_card(self, job_id: int, channel: str, *, fresh: bool = False) -> None:
        return None

    def known(self, job_id: int, channel: str, ts: str | None, updated_wall: float | None) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def run_sync(
    settings: Settings,
    profile: str,
    *,
    dry_run: bool = False,
    copies_only: bool = False,
    out: TextIO = sys.stdout,
    azure: AzureClients | None = None,
    now: datetime | None = None,
) -> int:
    """Plan and run one profile's sync in this process; returns the exit code."""
    store = open_store(settings.db_path)
    runtime = build_app(
        settings,
        store=store,
        azure=azure,
        progress=ConsoleProgress(store, out),
        headless=True,
        web_client=WebClient(token=settings.slack_bot_token or None),
    )
    try:
        return sync(runtime, profile, dry_run=dry_run, copies_only=copies_only, out=out, now=now)
    finally:
        runtime.stop()


def sync(
    runtime: Runtime, profile: str, *, dry_run: bool, copies_only: bool, out: TextIO, now: datetime | None
) -> int:
    actor = f"cli:{getpass.getuser()}"
    op = ops.SnapshotsSync(profile=profile, dry_run=dry_run)
    now = now or runtime.clock()
    store = runtime.store
    try:
        plan = cap.build(runtime, profile, None, "snapshots sync", cap.COPIES, deletions=not copies_only)
    except AvdError as err:
        audit.record(
            store,
            actor=actor,
            action="plan refused",
            detail={"verb": op.verb, "error": str(err)},
            outcome="failed",
            at=now,
        )
        out.write(f"refused: {err}\n")
        return EXIT_REFUSED
    out.write(f"{plan.title}\n" + "".join(f"  {line}\n" for line in plan.preview()))
    if dry_run:
        audit.record(
            store, actor=actor, action="dry run", detail={"verb": op.verb, "plan_hash": plan.hash()}, at=now
        )
        return EXIT_DONE
    if destructive(plan):
        out.write(
            "This sync deletes snapshots or lifts locks, which needs an approver: run it from Slack "
            "(/avd snapshots sync), or pass --copies-only.\n"
        )
        return EXIT_APPROVAL
    said: list[str] = []
    # approval=False: the preview above showed no deletion and no lock lift; the job runs in this thread
    job_id = runtime.engine.request(op, actor, "", said.append, kind=cap.COPIES, plan=plan, approval=False)
    if job_id is None:
        text = said[-1] if said else "not requested"
        out.write(f"{text}\n")
        return EXIT_BUSY if text.startswith("busy") else EXIT_REFUSED
    job = jobs.get_job(store, job_id) or {}
    if (
        job.get("status") == jobs.RUNNING
    ):  # this process lost the job's lease (paused past it): it runs elsewhere
        out.write(f"job {job_id} was taken over by another process; `/avd job {job_id}` follows it\n")
    return EXIT_DONE if job.get("status") == jobs.DONE else EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avd-bot snapshots", description="snapshot replication without Slack")
    sub = p.add_subparsers(dest="action", required=True)
    sync = sub.add_parser("sync", help="bring a profile's target in line with its source")
    sync.add_argument("profile")
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.add_argument("--copies-only", action="store_true", help="leave deletions (and lock lifts) out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings(mode="serve")
    if settings.config_problems:
        sys.stderr.write("avd-bot cannot run:\n" + "".join(f"  - {p}\n" for p in settings.config_problems))
        return EXIT_REFUSED
    return run_sync(settings, args.profile, dry_run=args.dry_run, copies_only=args.copies_only)
