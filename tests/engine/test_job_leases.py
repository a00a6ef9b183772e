"""Job leases in one process: a step whose lease was taken over meanwhile is refused at its next write and the
job stops there (no failure written, no further step, no always-step); the leader's resume leaves a job held by
a live process alone and takes it once the lease is free."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from azureops.plan import Plan
from bot.capabilities import CAPABILITIES
from bot.engine.registry import overlay
from bot.engine.tenure import lease_name
from bot.runtime import Capability
from bot.storage import jobs, leases
from commands import ops
from sim.slack import SlackSim
from tests.kit import BotHandle, wait_until
from tests.kit.engine import StepWorld, request_job, step_statuses, table_bot

KIND = "job-lease-test"
THIEF = "elsewhere:4242:feedbeef"  # another host's process: never judged dead by pid


WORLD = StepWorld("LEASE", held=True, note=True)


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    return WORLD.plan(KIND, "Lease test", ("a", "b"))


TABLE = overlay(CAPABILITIES, Capability(name=KIND, plans={KIND: build_plan}))


@pytest.fixture
def bot(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotHandle]:
    global WORLD
    WORLD = StepWorld("LEASE", held=True, note=True)
    yield from table_bot(tmp_path, slack_sim.url, monkeypatch, TABLE, release=lambda: WORLD.release_a.set())


def test_a_step_whose_lease_was_taken_over_stops_the_job_without_another_step(bot: BotHandle) -> None:
    engine, store = bot.runtime.engine, bot.runtime.store
    job_id = request_job(bot, KIND, "lease")
    wait_until(lambda: step_statuses(bot, job_id).get("a") == "running", what="step a running")
    mine = leases.current(store, lease_name(job_id))
    assert mine is not None and mine.owner == engine.leases.owner
    # another process takes the job over, as it would once this one was paused past the lease
    stolen = leases.acquire(store, lease_name(job_id), THIEF, 30, time.time() + 1000)
    assert stolen is not None and stolen.epoch == mine.epoch + 1
    WORLD.release_a.set()
    wait_until(lambda: engine.leases.held() == [], what="the engine to let the job go")
    assert WORLD.ran == []  # a's next write was refused before it went on; b and the always-step never ran
    assert step_statuses(bot, job_id) == {"a": "running", "b": "pending", "restore": "pending"}
    assert (jobs.get_job(store, job_id) or {})["status"] == jobs.RUNNING  # not failed: it is the thief's now
    assert engine.resume_all() == []  # the leader's resume leaves a job held by a live process alone
    assert engine.resume_orphans() == []
    assert leases.release(store, stolen)  # the other process ends it cleanly: the lease is free
    assert engine.resume_all() == [job_id]
    wait_until(lambda: (jobs.get_job(store, job_id) or {})["status"] == jobs.DONE, what="the job done here")
    assert WORLD.ran == ["a", "b", "restore"]
    held = wait_until(  # released at the end
        lambda: (lease := leases.current(store, lease_name(job_id))) and not lease.owner and lease,
        what="the job's lease released",
    )
    assert held.epoch == stolen.epoch + 1
    assert {s["epoch"] for s in jobs.get_steps(store, job_id)} == {held.epoch}  # each row names its tenure
