"""Plans as graphs in the engine: ready steps of several branches run at once; a failure or a cancel starts
nothing new and lets the running steps end; the always-step runs at any end; retry resumes every branch.

Concurrency is proven by behaviour, never by timing: a step of one branch waits for an event only a step of
another branch sets, so the job can only finish when both ran at the same time.
"""

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

KIND = "graph-test"
PATIENCE = 30.0  # generous: a wait that times out fails the step, it never decides a pass


class World:
    """What the test plan's steps do, switched by the test: events to hold or meet, and failures."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.fail: set[str] = set()
        self.events = {name: threading.Event() for name in ("x1", "y1", "hold")}
        self.events["hold"].set()
        self.meet = False  # x1 and y1 wait for each other (only possible when they run at once)
        self.hold: set[str] = set()  # steps that wait for ``events["hold"]``
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def release(self) -> None:
        """Let every step that waits go (the test ends)."""
        for event in self.events.values():
            event.set()

    def step(self, name: str, *, after: tuple[str, ...] | None = None, always: bool = False) -> Step:
        def apply(ctx: StepContext) -> str:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                if self.meet and name in ("x1", "y1"):
                    self.events[name].set()
                    other = "y1" if name == "x1" else "x1"
                    if not self.events[other].wait(PATIENCE):
                        raise AvdError(f"{name} never met {other}: the branches did not run at once")
                if name in self.hold and not self.events["hold"].wait(PATIENCE):
                    raise AvdError(f"the test never released {name}")
                with self.lock:
                    self.ran.append(name)
                if name in self.fail:
                    raise AvdError(f"{name} failed on purpose")
                return f"{name} ok"
            finally:
                with self.lock:
                    self.now -= 1

        rid = f"/subscriptions/s/resourceGroups/GRAPH/providers/Test.Graph/items/{name}"
        return Step(
            name=name, resource_id=rid, description=f"Step {name}", apply=apply, always=always, after=after
        )


WORLD = World()


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    """Two branches after a start step, joined, then the always-step:

    start -> x1 -> x2 -+-> join -> restore (always)
          -> y1 -> y2 -+
    """
    w = WORLD
    steps = (
        w.step("start", after=()),
        w.step("x1", after=("start",)),
        w.step("y1", after=("start",)),
        w.step("x2", after=("x1",)),
        w.step("y2", after=("y1",)),
        w.step("join", after=("x2", "y2")),
        w.step("restore", after=("join",), always=True),
    )
    return Plan(kind=KIND, title="Graph test", steps=steps)


def build_line(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    return Plan(kind=KIND + "-line", title="Line", steps=tuple(WORLD.step(n) for n in ("a", "b", "c", "d")))


TABLE = overlay(CAPABILITIES, Capability(name=KIND, plans={KIND: build_plan, KIND + "-line": build_line}))


@pytest.fixture
def bot(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotHandle]:
    global WORLD
    WORLD = World()
    yield from table_bot(tmp_path, slack_sim.url, monkeypatch, TABLE, release=lambda: WORLD.release())


def test_ready_steps_of_two_branches_run_at_once(bot: BotHandle) -> None:
    WORLD.meet = True  # x1 waits for y1 and y1 for x1: only a graph that runs both at once gets past them
    job_id = request_job(bot, KIND, "graph")
    job_ended(bot, job_id, jobs.DONE)
    assert set(step_statuses(bot, job_id).values()) == {jobs.STEP_DONE}
    ran = WORLD.ran
    assert ran[0] == "start" and ran[-2:] == ["join", "restore"]
    assert ran.index("x1") < ran.index("x2") and ran.index("y1") < ran.index("y2")
    assert WORLD.most >= 2
    steps = jobs.get_steps(bot.runtime.store, job_id)
    assert all(s["started_at"] and s["finished_at"] and s["output"] == f"{s['name']} ok" for s in steps)


def test_a_line_plan_runs_one_step_at_a_time_in_order(bot: BotHandle) -> None:
    job_id = request_job(bot, KIND + "-line", "graph")
    job_ended(bot, job_id, jobs.DONE)
    assert WORLD.ran == ["a", "b", "c", "d"] and WORLD.most == 1


def test_a_failed_branch_lets_the_other_finish_its_step_starts_nothing_new_and_retry_resumes_both(
    bot: BotHandle,
) -> None:
    WORLD.fail = {"y1"}
    WORLD.hold = {"x1"}
    WORLD.events["hold"].clear()
    job_id = request_job(bot, KIND, "graph")
    wait_until(  # y1 failed while the other branch is still in its step (held by the test)
        lambda: (s := step_statuses(bot, job_id))["y1"] == jobs.STEP_FAILED and s["x1"] == jobs.STEP_RUNNING,
        what="y1 failed while x1 runs",
    )
    WORLD.events["hold"].set()
    job = job_ended(bot, job_id, jobs.FAILED)
    assert "y1 failed on purpose" in job["error"]
    assert step_statuses(bot, job_id) == {
        "start": "done",
        "x1": "done",  # finished its step
        "y1": "failed",
        "x2": "pending",  # never started after the failure
        "y2": "pending",
        "join": "pending",
        "restore": "done",  # the always-step ran at the end
    }
    WORLD.fail = set()
    assert "queued again" in bot.runtime.engine.retry(job_id, "U0OPS1")
    job_ended(bot, job_id, jobs.DONE)
    assert sorted(WORLD.ran[WORLD.ran.index("restore") + 1 :]) == sorted(
        ["y1", "x2", "y2", "join", "restore"]
    )
    assert WORLD.ran.count("start") == 1 and WORLD.ran.count("x1") == 1  # each done step ran once


def test_cancel_lets_every_running_step_end_then_runs_the_always_step(bot: BotHandle) -> None:
    WORLD.hold = {"x1", "y1"}
    WORLD.events["hold"].clear()
    job_id = request_job(bot, KIND, "graph")
    wait_until(
        lambda: step_statuses(bot, job_id)["x1"] == step_statuses(bot, job_id)["y1"] == jobs.STEP_RUNNING,
        what="both branches running",
    )
    assert "after its current step" in bot.runtime.engine.cancel(job_id, "U0OPS1")
    WORLD.events["hold"].set()
    job_ended(bot, job_id, jobs.CANCELLED)
    assert step_statuses(bot, job_id) == {
        "start": "done",
        "x1": "done",
        "y1": "done",
        "x2": "skipped",
        "y2": "skipped",
        "join": "skipped",
        "restore": "done",
    }
    assert sorted(WORLD.ran) == sorted(["start", "x1", "y1", "restore"])
