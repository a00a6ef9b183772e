"""The engine's APScheduler 3 set-up: a bounded worker pool and a persistent store for recurring schedules.

Executors: ``default`` (``WORKERS`` threads) runs job plans; ``light`` (2 threads) plans new requests and
runs the sweeps, so a full pool of long jobs never delays an approval card. Job stores: ``default`` is in
memory (one-off runs are re-created from the jobs table by ``resume_all`` at start-up); ``persistent`` is a
``SQLAlchemyJobStore`` on the bot's own SQLite file for recurring schedules (snapshot syncs), which must
name a module-level function: ``schedule_recurring`` points them at ``fire``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import jobs
from commands.cron import trigger_fields

if TYPE_CHECKING:
    from bot.runner import Engine

log = logging.getLogger(__name__)
WORKERS = 4
PERSISTENT = "persistent"
_ENGINES: list[Engine] = []  # the engine that recurring jobs fire into (one per process)


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


def attach(engine: Engine) -> None:
    """Make ``engine`` the target of recurring schedules fired in this process."""
    _ENGINES[:] = [engine]


def schedule_recurring(engine: Engine, schedule_id: str, op_json: str, cron: str, *, user: str,
                       channel: str) -> str:
    """Run ``op_json`` (``jobs.op_to_json``) on a cron schedule; survives restarts. Returns the job id."""
    job = engine.runtime.scheduler.add_job(
        "bot.schedules:fire", CronTrigger(timezone=UTC, **trigger_fields(cron)), args=[op_json, user, channel],
        id=f"schedule:{schedule_id}", name=schedule_id, jobstore=PERSISTENT, executor="light",
        replace_existing=True)
    return str(job.id)


def unschedule(engine: Engine, schedule_id: str) -> bool:
    try:
        engine.runtime.scheduler.remove_job(f"schedule:{schedule_id}", jobstore=PERSISTENT)
    except LookupError:
        return False
    return True


def fire(op_json: str, user: str, channel: str) -> None:
    """A recurring schedule is due: request the job as if ``user`` typed it (approval rules apply)."""
    from bot.approvals import request_job

    if not _ENGINES:
        log.warning("schedule fired before the engine started; skipped")
        return
    engine = _ENGINES[0]
    request_job(engine, jobs.op_from_json(op_json), user, channel, lambda text: log.info("schedule: %s", text))
