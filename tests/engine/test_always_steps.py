"""``Step(always=True)``: a step that runs at any end of its job (done, failed, cancelled), once per run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from avdcore.errors import AvdError
from azureops.plan import Plan, Step, StepContext
from bot.capabilities import CAPABILITIES
from bot.engine.registry import overlay
from bot.runtime import Capability
from bot.storage import jobs
from commands import ops
from sim.slack import SlackSim
from tests.kit import BotHandle, wait_until
from tests.kit.engine import job_ended, request_job, step_statuses, table_bot

KIND = "always-test"


class World:
    """What the test plan's steps do, switched by the test."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.fail_b = True
        self.release_a = threading.Event()
        self.release_a.set()
        self.lock = threading.Lock()

    def step(self, name: str, *, always: bool = False) -> Step:
        def apply(ctx: StepContext) -> str:
            if name == "a":
                assert self.release_a.wait(30), "the test never released step a"
            with self.lock:
                self.ran.append(name)
            if name == "b" and self.fail_b:
                raise AvdError("b failed on purpose")
            return f"{name} ok"

        rid = f"/subscriptions/s/resourceGroups/ALWAYS/providers/Test.Always/items/{name}"
        return Step(name=name, resource_id=rid, description=f"Step {name}", apply=apply, always=always)


WORLD = World()


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    steps = (WORLD.step("a"), WORLD.step("b"), WORLD.step("c"), WORLD.step("restore", always=True))
    return Plan(kind=KIND, title="Always test", steps=steps)


TABLE = overlay(CAPABILITIES, Capability(name=KIND, plans={KIND: build_plan}))


@pytest.fixture
def bot(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotHandle]:
    global WORLD
    WORLD = World()
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
