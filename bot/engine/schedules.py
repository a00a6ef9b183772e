"""The engine's APScheduler 3 set-up, and ``Timers``: what runs later, kept as data in the bot's own table.

Executors: ``default`` (``WORKERS`` threads) runs job plans; ``light`` (2 threads) plans new requests and
runs the sweeps, so a full pool of long jobs never delays an approval card. Both are bounded
(``bot.runtime.BoundedPool``): at most ``JOB_QUEUE`` job runs and ``LIGHT_QUEUE`` requests and sweeps held at
once; one more is refused (APScheduler logs "Error submitting job"; a refused job run stays in the jobs table
and ``resume_all`` picks it up at the next takeover). The sweep also runs ``bot.storage.retention`` once a
day. The only job store is in memory: one-off runs are re-created from the jobs table by ``resume_all``, and
recurring or timed work (snapshot syncs, the post-failover reminder) from the ``schedules`` table by
``Timers.load``. A schedule row names a target (``request``: ask for a job as its creator; or a capability's
``Capability.timers`` entry) and its arguments as JSON, never code, so the database cannot make the bot run
anything else.

Of the processes sharing a database only the leader (``bot.engine.leader``) arms the schedules, sweeps and
resumes: ``install`` gives its ``Leader`` ``lead`` and ``step_down``. A recurring occurrence fires where its
record in ``schedule_fires`` is written under the lease (``bot.storage.leases.claim_fire``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.engine import approvals
from bot.engine.leader import Leader
from bot.engine.runner import Engine
from bot.runtime import BoundedPool, Runtime, Timer, TimerTarget
from bot.storage import jobs, leases, retention
from bot.storage import schedules as rows
from commands import ops
from commands.cron import MIN_INTERVAL_MINUTES, shortest_gap, trigger_fields

log = logging.getLogger(__name__)
WORKERS = 4
JOB_QUEUE = 64  # job runs held by the default pool (each job also holds its resources' locks)
LIGHT_QUEUE = 128  # requests being planned, sweeps and timers held by the light pool
SWEEP_SECONDS = 30
MISFIRE_SECONDS = 300  # a recurring schedule still fires this late (after a pause or a handover)
MIN_GAP = timedelta(minutes=MIN_INTERVAL_MINUTES)
FIRES_KEPT = timedelta(days=1)  # schedule occurrences remembered (a handover looks back MISFIRE_SECONDS)
SWEEP, RESUME = "engine-sweep", "engine-resume"  # the leader's scheduler jobs
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
    """Schedules as rows of ``schedules``; in the leader's process each is mirrored by an in-memory scheduler
    job that calls ``fire``. A standby keeps none armed (``load`` arms them when it takes over) and writes
    rows only: the leader arms a row written elsewhere at its next renewal."""

    def __init__(self, engine: Engine, targets: Mapping[str, TimerTarget], leader: Leader) -> None:
        self.engine = engine
        self.runtime: Runtime = engine.runtime
        self.targets: dict[str, TimerTarget] = {REQUEST: request_target, **targets}
        self.leader = leader
        self._armed: dict[str, tuple[str | None, str | None]] = {}  # schedule id -> (cron, run_at) armed
        self._lock = threading.RLock()
        self._too_often: set[str] = set()  # rows stored before the minimum interval (logged once)

    def leading(self) -> leases.Lease | None:
        """The leader's lease while this process leads (and may arm and fire), else ``None``."""
        return self.leader.acting()

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
        _trigger(cron, run_at)  # a bad cron is refused before it is stored
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
        if self.leading():
            with self._lock:
                self._arm(schedule_id, cron, run_at)

    def remove(self, schedule_id: str) -> bool:
        with self._lock:
            self._disarm(schedule_id)
        return rows.delete(self.runtime.store, schedule_id)

    def get(self, schedule_id: str) -> Timer | None:
        row = rows.get(self.runtime.store, schedule_id)
        return None if row is None else self._timer(row)

    def listed(self, prefix: str = "") -> list[Timer]:
        return [self._timer(row) for row in rows.listed(self.runtime.store, prefix)]

    def load(self) -> int:
        """Arm every stored schedule (a one-off whose time passed runs now) and disarm those whose row is
        gone; the leader calls it when it takes over and at each renewal. Returns how many are armed."""
        with self._lock:
            stored = rows.listed(self.runtime.store)
            for schedule_id in set(self._armed) - {str(row["id"]) for row in stored}:
                self._disarm(schedule_id)
            for row in stored:
                schedule_id, cron, run_at = str(row["id"]), row.get("cron"), row.get("run_at")
                if self._armed.get(schedule_id) == (cron, run_at):
                    continue
                try:
                    self._arm(schedule_id, cron, _parse(run_at), catch_up=self._missed(row))
                except ValueError as err:  # a cron the validator no longer accepts: /avd status shows it
                    log.warning("schedule %s not armed: %s", schedule_id, err)
            return len(self._armed)

    def renewed(self) -> None:
        """At each renewal of the leader's lease: arm rows written by other processes, drop deleted ones."""
        self.load()

    def disarm(self) -> None:
        """Remove every armed schedule from this process's scheduler (the lease is lost or the bot stops)."""
        with self._lock:
            for schedule_id in list(self._armed):
                self._disarm(schedule_id)

    def armed(self) -> list[str]:
        with self._lock:
            return sorted(self._armed)

    def fire(self, schedule_id: str) -> None:
        """The scheduler's callback: run the row's target once per occurrence, and only while leading. A
        one-off row is removed first (the delete that wins fires it); an occurrence of a recurring one is
        recorded first (``bot.storage.leases.claim_fire``: the insert that wins, under the lease, fires it)."""
        lease = self.leading()
        if lease is None:
            log.info("schedule %s not fired: this process does not lead", schedule_id)
            return
        row = rows.get(self.runtime.store, schedule_id)
        if row is None:
            return
        if row.get("run_at"):
            if not rows.delete(self.runtime.store, schedule_id):
                return  # another process fired it
        else:
            cron = str(row["cron"])
            at = occurrence(cron, self.runtime.clock())
            gap = MIN_GAP if shortest_gap(cron) < MIN_INTERVAL_MINUTES else timedelta(0)
            if not leases.claim_fire(
                self.runtime.store, lease, schedule_id, at, self.leader.wall(), min_gap=gap
            ):
                log.info(
                    "schedule %s: the occurrence %s was fired already (or the lease lost)", schedule_id, at
                )
                return
        target = self.targets.get(str(row["target"]))
        if target is None:
            log.warning("schedule %s names an unknown target %r; skipped", schedule_id, row["target"])
            return
        target(self.runtime, rows.args_of(row) | {"user": row["created_by"], "channel": row["channel"]})

    def _missed(self, row: dict[str, Any]) -> bool:
        """A recurring row's latest time passed less than ``MISFIRE_SECONDS`` ago, after the row was stored,
        and nobody fired it (the leader was lost just before it): the new leader fires it when it arms it."""
        cron = row.get("cron")
        if not cron:
            return False
        with contextlib.suppress(ValueError):
            at = latest(str(cron), self.runtime.clock())
            stored = _parse(row.get("updated_at"))
            if at is not None and stored is not None and stored < at:
                return not leases.fired(self.runtime.store, str(row["id"]), at)
        return False

    def _arm(
        self, schedule_id: str, cron: str | None, run_at: datetime | None, *, catch_up: bool = False
    ) -> None:
        trigger = _trigger(cron, run_at)
        if cron and shortest_gap(cron) < MIN_INTERVAL_MINUTES and schedule_id not in self._too_often:
            self._too_often.add(schedule_id)
            log.warning(
                "schedule %s (%s) was stored before the %d-minute minimum: it fires at most every %d minutes;"
                " set it again to choose its times",
                schedule_id,
                cron,
                MIN_INTERVAL_MINUTES,
                MIN_INTERVAL_MINUTES,
            )
        self.runtime.scheduler.add_job(
            self.fire,
            trigger,
            args=[schedule_id],
            id=schedule_id,
            name=cron or "once",
            executor="light",
            replace_existing=True,
            misfire_grace_time=None if run_at is not None else MISFIRE_SECONDS,
            **({"next_run_time": self.runtime.clock()} if catch_up else {}),
        )
        self._armed[schedule_id] = (cron, jobs.iso(run_at) if run_at is not None else None)

    def _disarm(self, schedule_id: str) -> None:
        self._armed.pop(schedule_id, None)
        with contextlib.suppress(JobLookupError):
            self.runtime.scheduler.remove_job(schedule_id)

    def _timer(self, row: dict[str, Any]) -> Timer:
        job = self.runtime.scheduler.get_job(str(row["id"]))
        next_run = getattr(job, "next_run_time", None) if job is not None else None
        if job is None and not self.leading():  # a standby: when the leader will fire it
            with contextlib.suppress(ValueError):
                next_run = _trigger(row.get("cron"), _parse(row.get("run_at"))).get_next_fire_time(
                    None, self.runtime.clock()
                )
        return Timer(
            id=str(row["id"]),
            target=str(row["target"]),
            args=rows.args_of(row),
            cron=row.get("cron"),
            run_at=_parse(row.get("run_at")),
            created_by=str(row.get("created_by") or ""),
            channel=str(row.get("channel") or ""),
            next_run=next_run,
        )


def _trigger(cron: str | None, run_at: datetime | None) -> CronTrigger | DateTrigger:
    if cron:
        return CronTrigger(timezone=UTC, **trigger_fields(cron))
    if run_at is not None:
        return DateTrigger(run_date=run_at, timezone=UTC)
    raise ValueError("a schedule has either a cron or a run_at time")


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def latest(cron: str, now: datetime) -> datetime | None:
    """The latest time of ``cron`` at or before ``now`` within the misfire window, if any."""
    trigger = CronTrigger(timezone=UTC, **trigger_fields(cron))
    now = now.astimezone(UTC)
    found = None
    at = trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_SECONDS))
    while at is not None and at <= now:
        found = at
        at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
    return None if found is None else found.astimezone(UTC)


def occurrence(cron: str, now: datetime) -> datetime:
    """The occurrence of ``cron`` being fired at ``now``: its latest time within the misfire window (a run
    started by hand, off the schedule, is keyed by its minute)."""
    return latest(cron, now) or now.astimezone(UTC).replace(second=0, microsecond=0)


def request_target(runtime: Runtime, args: dict[str, Any]) -> None:
    """A recurring request is due: ask for the job as if its creator typed it (approval rules apply)."""
    runtime.engine.request(
        jobs.op_from_json(str(args["op"])),
        str(args["user"]),
        str(args["channel"]),
        lambda text: log.info("schedule: %s", text),
    )


def renewed(engine: Engine, timers: Timers) -> None:
    """At each renewal of the lead (every lease/3): schedules written by a standby, and running jobs whose
    process stopped renewing their job lease, so a lost process's jobs resume one job lease after the loss
    rather than at the next sweep."""
    timers.renewed()
    try:
        engine.resume_orphans()
    except Exception:  # noqa: BLE001 - the next renewal or sweep tries again
        log.exception("orphan look failed")


def sweep(engine: Engine, leader: Leader) -> None:
    """The leader's sweep: expire approvals, and once a day prune old rows (retention, schedule occurrences)."""
    if leader.acting() is None:
        return
    try:
        approvals.expire_due(engine)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("approval sweep failed")
    try:
        engine.resume_orphans()  # running jobs whose process stopped renewing their lease
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("orphan sweep failed")
    try:
        store, now = engine.runtime.store, engine.now()
        if retention.due(store, now):
            pruned = retention.prune(store, now=now, days=engine.runtime.settings.retention_days)
            leases.prune_fires(store, before=leader.wall() - FIRES_KEPT.total_seconds())
            if pruned.audit_rows or pruned.jobs:
                log.info("retention: %d audit rows and %d jobs pruned", pruned.audit_rows, pruned.jobs)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("retention sweep failed")


def resume(engine: Engine, leader: Leader) -> None:
    """The new leader continues the jobs left queued or running that no live process holds (job leases)."""
    if leader.acting() is not None:
        engine.resume_all()


def lead(engine: Engine, timers: Timers) -> None:
    """This process took the lease: arm the schedules, start the sweep, resume unfinished jobs."""
    scheduler = engine.runtime.scheduler
    scheduler.add_job(
        sweep,
        "interval",
        args=[engine, timers.leader],
        seconds=SWEEP_SECONDS,
        id=SWEEP,
        executor="light",
        replace_existing=True,
    )
    scheduler.add_job(
        resume,
        args=[engine, timers.leader],
        id=RESUME,
        executor="light",
        replace_existing=True,
        misfire_grace_time=None,
    )
    timers.load()  # last: if the database fails here, the next renewal arms them


def step_down(engine: Engine, timers: Timers) -> None:
    """The lease is lost (or the bot stops): nothing of the leader's stays armed in this process."""
    for job_id in (SWEEP, RESUME):
        with contextlib.suppress(JobLookupError):
            engine.runtime.scheduler.remove_job(job_id)
    timers.disarm()


def _on_scheduler(engine: Engine, leader: Leader, event: SchedulerEvent) -> None:
    if event.code == EVENT_SCHEDULER_STARTED:
        engine.progress.start()
        leader.start()
    elif event.code == EVENT_SCHEDULER_SHUTDOWN:
        leader.stop()
        engine.progress.stop()


def install(engine: Engine, targets: Mapping[str, TimerTarget]) -> Timers:
    """Give the runtime's (not yet started) scheduler the engine: executors, the card writer's start and stop,
    and the process's ``Leader``, which (while this process leads) arms the stored schedules, runs the sweep
    and resumes unfinished jobs (``bot.engine.leader``)."""
    scheduler = engine.runtime.scheduler
    if not scheduler.running:
        configure(scheduler)
    leader = Leader(engine.runtime.store, ttl=engine.runtime.settings.leader_lease_seconds)
    timers = Timers(engine, targets, leader)
    leader.on_gain = lambda: lead(engine, timers)
    leader.on_loss = lambda: step_down(engine, timers)
    leader.on_renew = lambda: renewed(engine, timers)
    scheduler.add_listener(
        lambda event: _on_scheduler(engine, leader, event), EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_SHUTDOWN
    )
    return timers
