"""``bot.engine.graph.Walk`` as data: which rows it runs, in which order, how many at once, after a crash."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from avdcore.errors import AvdError
from bot.engine.graph import Walk
from bot.storage import jobs

PATIENCE = 30.0


def rows(**statuses: str) -> list[dict[str, Any]]:
    return [{"name": name, "status": status} for name, status in statuses.items()]


class Runner:
    """``run_step`` for a walk: records names; ``gate`` makes every step wait until ``width`` run at once."""

    def __init__(self, *, gate: int = 0, fail: str = "") -> None:
        self.ran: list[str] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(gate) if gate else None
        self.fail = fail

    def __call__(self, row: Any) -> None:
        if self.barrier is not None:
            self.barrier.wait(PATIENCE)  # breaks (and fails the step) unless `gate` steps run at once
        with self.lock:
            self.ran.append(str(row["name"]))
        if row["name"] == self.fail:
            raise AvdError(f"{row['name']} failed")


FAN = {"a": (), "b": ("a",), "c": ("a",), "d": ("a",), "e": ("b", "c", "d")}


def test_a_fan_out_runs_its_branches_at_once_and_joins() -> None:
    run = Runner()
    walk = Walk(
        rows(a="pending", b="pending", c="pending", d="pending", e="pending"), FAN, 4, run, lambda: False
    )
    gate = threading.Barrier(3)

    def step(row: Any) -> None:
        if row["name"] in "bcd":
            gate.wait(PATIENCE)  # b, c and d each wait for the other two
        run(row)

    walk.run_step = step
    walk.run()
    assert walk.error is None and not walk.cancelled
    assert run.ran[0] == "a" and sorted(run.ran[1:4]) == ["b", "c", "d"] and run.ran[4] == "e"
    assert walk.most_at_once == 3


def test_width_bounds_the_steps_at_once() -> None:
    needs = {n: () for n in "abcdef"}
    run = Runner(gate=2)  # pairs meet: two at once is possible, and width 2 allows no more
    walk = Walk(rows(**dict.fromkeys("abcdef", "pending")), needs, 2, run, lambda: False)
    walk.run()
    assert walk.error is None and sorted(run.ran) == list("abcdef") and walk.most_at_once == 2


def test_resume_continues_every_unfinished_branch_and_runs_the_running_steps_first() -> None:
    """After a crash: a done, b running (re-attaches), c pending and ready, d after b, e after all."""
    run = Runner()
    walk = Walk(
        rows(a="done", b="running", c="pending", d="pending", e="pending"),
        {**FAN, "d": ("b",)},
        4,
        run,
        lambda: False,
    )
    walk.run()
    assert walk.error is None
    assert "a" not in run.ran and sorted(run.ran) == ["b", "c", "d", "e"]
    assert run.ran.index("b") < run.ran.index("d") and run.ran[-1] == "e"


@pytest.mark.parametrize("width", [1, 3])
def test_a_failure_starts_nothing_new_and_keeps_the_first_error(width: int) -> None:
    run = Runner(fail="b")
    walk = Walk(
        rows(a="pending", b="pending", c="pending", d="pending", e="pending"), FAN, width, run, lambda: False
    )
    walk.run()
    assert isinstance(walk.error, AvdError) and "b failed" in str(walk.error)
    assert "e" not in run.ran


def test_a_cancel_before_a_step_starts_it_not() -> None:
    asked = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > 1  # the first boundary passes, the next one sees the cancel

    run = Runner()
    walk = Walk(
        rows(a="pending", b="pending", c="pending"), {"a": (), "b": ("a",), "c": ("b",)}, 1, run, cancel
    )
    walk.run()
    assert walk.cancelled and run.ran == ["a"]


def test_a_step_waiting_for_a_step_that_is_not_there_fails_the_walk() -> None:
    walk = Walk(rows(a="pending", b="pending"), {"a": (), "b": ("a", "ghost")}, 2, Runner(), lambda: False)
    walk.run()
    assert isinstance(walk.error, AvdError) and "b" in str(walk.error)


def test_finished_rows_count_as_met() -> None:
    run = Runner()
    walk = Walk(
        rows(a=jobs.STEP_SKIPPED, b=jobs.STEP_DONE, c="pending"),
        {"a": (), "b": (), "c": ("a", "b")},
        2,
        run,
        lambda: False,
    )
    walk.run()
    assert run.ran == ["c"] and walk.error is None


def test_the_engine_width_is_one_for_a_line_and_stays_under_the_arm_write_burst() -> None:
    from types import SimpleNamespace

    from azureops.plan import Plan, Step
    from azureops.snapshots import Budget
    from bot.config.settings import Settings
    from bot.engine.runner import STEP_WORKERS, Engine

    def plan(concurrency: int, after: tuple[str, ...] | None) -> Plan:
        steps = tuple(
            Step(name=n, resource_id="", description=n, apply=lambda ctx: None, after=after) for n in "ab"
        )
        return Plan(kind="k", title="t", steps=steps, concurrency=concurrency)

    runtime: Any = SimpleNamespace(
        store=None, registry=None, snapshot_budget=Budget(burst=3), settings=Settings()
    )
    engine = Engine(runtime, progress=None)  # type: ignore[arg-type]
    assert engine.width(plan(10, None)) == 1  # a line: one at a time, as before graphs
    assert engine.width(plan(2, ())) == 2  # the plan's own concurrency
    assert engine.width(plan(10, ())) == 3  # never more than the ARM write burst
    runtime.snapshot_budget = Budget()
    assert engine.width(plan(0, ())) == min(STEP_WORKERS, Budget().burst)
