"""``Step(always=True)``: a step that runs at any end of its job (done, failed, cancelled), once per run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from azureops.plan import Plan
from bot.capabilities import CAPABILITIES
from bot.engine.registry import overlay
from bot.runtime import Capability
from bot.storage import jobs
from commands import ops
from sim.slack import SlackSim
from tests.kit import BotHandle, wait_until
from tests.kit.engine import StepWorld, job_ended, request_job, step_statuses, table_bot

KIND = "always-test"


WORLD = StepWorld("ALWAYS", fail_b=True)


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    return WORLD.plan(KIND, "Always test", ("a", "b", "c"))


TABLE = overlay(CAPABILITIES, Capability(name=KIND, plans={KIND: build_plan}))


@pytest.fixture
def bot(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotHandle]:
    global WORLD
    WORLD = StepWorld("ALWAYS", fail_b=True)
    yield from table_bot(tmp_path, slack_sim.url, monkeypatch, TABLE, release=lambda: WORLD.release_a.set())


def test_a_failed_job_still_runs_its_always_step_and_a_retry_runs_it_again(bot: BotHandle) -> None:
    job_id = request_job(bot, KIND, "always")
    job = job_ended(bot, job_id, jobs.FAILED)
    assert "b failed on purpose" in job["error"]
    assert WORLD.ran == ["a", "b", "restore"]
    assert step_statuses(bot, job_id) == {"a": "done", "b": "failed", "c": "pending", "restore": "done"}
    WORLD.fail_b = False
    assert "queued again" in bot.runtime.engine.retry(job_id, "U0OPS1")
    job_ended(bot, job_id, jobs.DONE)
    assert WORLD.ran == ["a", "b", "restore", "b", "c", "restore"]  # a once; the always-step at each end


def test_a_cancelled_job_runs_its_always_step_before_it_ends(bot: BotHandle) -> None:
    WORLD.fail_b = False
    WORLD.release_a.clear()
    job_id = request_job(bot, KIND, "always")
    wait_until(lambda: step_statuses(bot, job_id).get("a") == "running", what="step a running")
    assert "after its current step" in bot.runtime.engine.cancel(job_id, "U0OPS1")
    WORLD.release_a.set()
    job_ended(bot, job_id, jobs.CANCELLED)
    assert WORLD.ran == ["a", "restore"]
    assert step_statuses(bot, job_id) == {"a": "done", "b": "skipped", "c": "skipped", "restore": "done"}
