"""The engine's APScheduler 3 set-up, and ``Timers``: what runs later, kept as data in the bot's own table.

Executors: ``default`` (``WORKERS`` threads) runs job plans; ``light`` (2 threads) plans new requests and
runs the sweeps, so a full pool of long jobs never delays an approval card. Both are bounded
(``bot.runtime.BoundedPool``): at most ``JOB_QUEUE`` job runs and ``LIGHT_QUEUE`` requests and sweeps held at
once; one more is refused (APScheduler logs "Error submitting job"; a refused job run stays in the jobs table
and ``resume_all`` picks it up at the next start). The sweep also runs ``bot.storage.retention`` once a day. The only job store is in memory:
one-off runs are re-created from the jobs table by ``resume_all`` at start-up, and recurring or timed work
(snapshot syncs, the post-failover reminder) from the ``schedules`` table by ``Timers.load``. A schedule row
names a target (``request``: ask for a job as its creator; or a capability's ``Capability.timers`` entry)
and its arguments as JSON, never code, so the database cannot make the bot run anything else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.engine import approvals
from bot.engine.runner import Engine
from bot.runtime import BoundedPool, Runtime, Timer, TimerTarget
from bot.storage import jobs, retention
from bot.storage import schedules as rows
from commands import ops
from commands.cron import trigger_fields

log = logging.getLogger(__name__)
WORKERS = 4
JOB_QUEUE = 64  # job runs held by the default pool (each job also holds its resources' locks)
LIGHT_QUEUE = 128  # requests being planned, sweeps and timers held by the light pool
SWEEP_SECONDS = 30
REQUEST = "request"  # the built-in target: request a job as the schedule's creator (approval rules apply)


class BoundedExecutor(BasePoolExecutor):  # type: ignore[misc]
    """APScheduler's thread-pool executor over a ``BoundedPool``: a submission past ``limit`` is refused."""

    def __init__(self, workers: int, *, limit: int, name: str) -> None:
        super().__init__(BoundedPool(workers, limit=limit, thread_name_prefix=name))


def configure(
    scheduler: BaseScheduler,
    *,
    workers: int = WORKERS,
    jobs_held: int = JOB_QUEUE,
    light_held: int = LIGHT_QUEUE,
) -> None:
    """Give a not-yet-started scheduler the engine's executors (the job store is the default, in memory)."""
    scheduler.configure(
        timezone=UTC,
        executors={
            "default": BoundedExecutor(workers, limit=jobs_held, name="avd-jobs"),
            "light": BoundedExecutor(2, limit=light_held, name="avd-light"),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )


class Timers:
    """Schedules as rows of ``schedules``, each mirrored by an in-memory scheduler job that calls ``fire``."""

    def __init__(self, engine: Engine, targets: Mapping[str, TimerTarget]) -> None:
        self.engine = engine
        self.runtime: Runtime = engine.runtime
        self.targets: dict[str, TimerTarget] = {REQUEST: request_target, **targets}

    def request(self, schedule_id: str, op: ops.Operation, cron: str, *, user: str, channel: str) -> None:
        """Request ``op`` as ``user`` in ``channel`` on the cron ``cron`` (UTC)."""
        self.put(schedule_id, REQUEST, {"op": jobs.op_to_json(op)}, cron=cron, user=user, channel=channel)

    def put(
        self,
        schedule_id: str,
        target: str,
        args: dict[str, Any],
        *,
        cron: str | None = None,
        run_at: datetime | None = None,
        user: str,
        channel: str,
    ) -> None:
        """Add or replace a schedule: recurring (``cron``) or once (``run_at``)."""
        if target not in self.targets:
            raise ValueError(f"no timer target {target!r}")
        if (cron is None) == (run_at is None):
            raise ValueError("a schedule has either a cron or a run_at time")
        rows.put(
            self.runtime.store,
            schedule_id,
            target=target,
            args=args,
            cron=cron,
            run_at=run_at,
            created_by=user,
            channel=channel,
            now=self.runtime.clock(),
        )
        self._arm(schedule_id, cron, run_at)

    def remove(self, schedule_id: str) -> bool:
        with contextlib.suppress(JobLookupError):
            self.runtime.scheduler.remove_job(schedule_id)
        return rows.delete(self.runtime.store, schedule_id)

    def get(self, schedule_id: str) -> Timer | None:
        row = rows.get(self.runtime.store, schedule_id)
        return None if row is None else self._timer(row)

    def listed(self, prefix: str = "") -> list[Timer]:
        return [self._timer(row) for row in rows.listed(self.runtime.store, prefix)]

    def load(self) -> int:
        """At start-up: arm every stored schedule; a one-off whose time passed runs now. Returns how many."""
        loaded = 0
        for row in rows.listed(self.runtime.store):
            try:
                self._arm(str(row["id"]), row.get("cron"), _parse(row.get("run_at")))
                loaded += 1
            except (
                ValueError
            ) as err:  # a cron the validator no longer accepts: /avd doctor and status show it
                log.warning("schedule %s not armed: %s", row["id"], err)
        return loaded

    def fire(self, schedule_id: str) -> None:
        """The scheduler's callback: run the row's target (a one-off row is removed first: at most once)."""
        row = rows.get(self.runtime.store, schedule_id)
        if row is None:
            return
        if row.get("run_at") and not rows.delete(self.runtime.store, schedule_id):
            return  # another process fired it
        target = self.targets.get(str(row["target"]))
        if target is None:
            log.warning("schedule %s names an unknown target %r; skipped", schedule_id, row["target"])
            return
        target(self.runtime, rows.args_of(row) | {"user": row["created_by"], "channel": row["channel"]})

    def _arm(self, schedule_id: str, cron: str | None, run_at: datetime | None) -> None:
        trigger: CronTrigger | DateTrigger
        if cron:
            trigger = CronTrigger(timezone=UTC, **trigger_fields(cron))
        elif run_at is not None:
            trigger = DateTrigger(run_date=run_at, timezone=UTC)
        else:
            raise ValueError("a schedule has either a cron or a run_at time")
        self.runtime.scheduler.add_job(
            self.fire,
            trigger,
            args=[schedule_id],
            id=schedule_id,
            name=cron or "once",
            executor="light",
            replace_existing=True,
            misfire_grace_time=None if run_at is not None else 300,
        )

    def _timer(self, row: dict[str, Any]) -> Timer:
        job = self.runtime.scheduler.get_job(str(row["id"]))
        return Timer(
            id=str(row["id"]),
            target=str(row["target"]),
            args=rows.args_of(row),
            cron=row.get("cron"),
            run_at=_parse(row.get("run_at")),
            created_by=str(row.get("created_by") or ""),
            channel=str(row.get("channel") or ""),
            next_run=getattr(job, "next_run_time", None) if job is not None else None,
        )


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def request_target(runtime: Runtime, args: dict[str, Any]) -> None:
    """A recurring request is due: ask for the job as if its creator typed it (approval rules apply)."""
    runtime.engine.request(
        jobs.op_from_json(str(args["op"])),
        str(args["user"]),
        str(args["channel"]),
        lambda text: log.info("schedule: %s", text),
    )


def sweep(engine: Engine) -> None:
    try:
        approvals.expire_due(engine)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("approval sweep failed")
    try:
        store, now = engine.runtime.store, engine.now()
        if retention.due(store, now):
            pruned = retention.prune(store, now=now, days=engine.runtime.settings.retention_days)
            if pruned.audit_rows or pruned.jobs:
                log.info("retention: %d audit rows and %d jobs pruned", pruned.audit_rows, pruned.jobs)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("retention sweep failed")


def _on_scheduler(engine: Engine, event: SchedulerEvent) -> None:
    if event.code == EVENT_SCHEDULER_STARTED:
        engine.progress.start()
        engine.runtime.scheduler.add_job(
            engine.resume_all,
            id="engine-resume",
            executor="light",
            replace_existing=True,
            misfire_grace_time=None,
        )
    elif event.code == EVENT_SCHEDULER_SHUTDOWN:
        engine.progress.stop()


def install(engine: Engine, targets: Mapping[str, TimerTarget]) -> Timers:
    """Give the runtime's (not yet started) scheduler the engine: executors, the card writer's start and stop,
    the approval sweep, the resume of unfinished jobs at start-up, and the stored schedules."""
    scheduler = engine.runtime.scheduler
    if not scheduler.running:
        configure(scheduler)
    scheduler.add_listener(
        lambda event: _on_scheduler(engine, event), EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_SHUTDOWN
    )
    scheduler.add_job(
        sweep,
        "interval",
        args=[engine],
        seconds=SWEEP_SECONDS,
        id="engine-sweep",
        executor="light",
        replace_existing=True,
    )
    timers = Timers(engine, targets)
    timers.load()
    return timers
