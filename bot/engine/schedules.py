"""The engine's APScheduler 3 set-up: a bounded worker pool and a persistent store for recurring schedules.

Executors: ``default`` (``WORKERS`` threads) runs job plans; ``light`` (2 threads) plans new requests and
runs the sweeps, so a full pool of long jobs never delays an approval card. Job stores: ``default`` is in
memory (one-off runs are re-created from the jobs table by ``resume_all`` at start-up); ``persistent`` is a
``SQLAlchemyJobStore`` on the bot's own SQLite file for recurring schedules (snapshot syncs), which must
name a module-level function: snapshot schedules point at ``fire``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler

from bot.engine import approvals
from bot.engine.runner import Engine
from bot.runtime import JobEngine
from bot.storage import jobs

log = logging.getLogger(__name__)
WORKERS = 4
SWEEP_SECONDS = 30
PERSISTENT = "persistent"
_ENGINES: list[JobEngine] = []  # the engine that recurring jobs fire into (one per process)


def configure(scheduler: BaseScheduler, db_path: str, *, workers: int = WORKERS) -> None:
    """Give a not-yet-started scheduler the engine's executors and job stores."""
    stores: dict[str, Any] = {"default": MemoryJobStore()}
    if db_path and db_path != ":memory:":
        stores[PERSISTENT] = SQLAlchemyJobStore(url=f"sqlite:///{os.path.abspath(db_path)}")
    else:
        stores[PERSISTENT] = MemoryJobStore()
    scheduler.configure(
        timezone=UTC,
        jobstores=stores,
        executors={"default": ThreadPoolExecutor(workers), "light": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )


def attach(engine: JobEngine) -> None:
    """Make ``engine`` the target of recurring schedules fired in this process."""
    _ENGINES[:] = [engine]


def unschedule(engine: JobEngine, schedule_id: str) -> bool:
    try:
        engine.runtime.scheduler.remove_job(f"schedule:{schedule_id}", jobstore=PERSISTENT)
    except LookupError:
        return False
    return True


def fire(op_json: str, user: str, channel: str) -> None:
    """A recurring schedule is due: request the job as if ``user`` typed it (approval rules apply)."""
    if not _ENGINES:
        log.warning("schedule fired before the engine started; skipped")
        return
    engine = _ENGINES[0]
    engine.request(jobs.op_from_json(op_json), user, channel, lambda text: log.info("schedule: %s", text))


def sweep(engine: Engine) -> None:
    try:
        approvals.expire_due(engine)
    except Exception:  # noqa: BLE001 - the next sweep tries again
        log.exception("approval sweep failed")


def _on_scheduler(engine: Engine, event: SchedulerEvent) -> None:
    if event.code == EVENT_SCHEDULER_STARTED:
        engine.progress.start()
        engine.runtime.scheduler.add_job(engine.resume_all, id="engine-resume", executor="light",
                                         replace_existing=True, misfire_grace_time=None)
    elif event.code == EVENT_SCHEDULER_SHUTDOWN:
        engine.progress.stop()


def install(engine: Engine) -> None:
    """Give the runtime's (not yet started) scheduler the engine: executors and stores, the card writer's
    start and stop, the approval sweep, the resume of unfinished jobs at start-up, and recurring schedules."""
    scheduler = engine.runtime.scheduler
    if not scheduler.running:
        configure(scheduler, engine.runtime.settings.db_path)
    attach(engine)
    scheduler.add_listener(lambda event: _on_scheduler(engine, event),
                           EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_job(sweep, "interval", args=[engine], seconds=SWEEP_SECONDS, id="engine-sweep",
                      executor="light", replace_existing=True)
