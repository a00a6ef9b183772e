"""Job card step lines carry the step's latest progress text, and a big plan's card stays within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.models.blocks import SectionBlock

from azureops.plan import Plan, Step
from bot.engine.runner import StepRecorder
from bot.engine.tenure import JobLeases
from bot.slack import cards
from bot.storage import jobs
from bot.storage.sqlite import Store
from commands import ops

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
VMSS = "/subscriptions/s/resourceGroups/VMSSDR/providers/Microsoft.Compute/virtualMachineScaleSets/EntraDR"


def _step(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "idx": 1,
        "name": "dr-hosts",
        "description": "Wait for 2 session hosts Available",
        "resource_id": VMSS,
        "status": status,
        "started_at": (NOW - timedelta(seconds=65)).isoformat(),
        "finished_at": None,
        "estimate_seconds": 360,
        **extra,
    }


@pytest.mark.parametrize(
    ("step", "ends"),
    [
        (
            _step("running", percent=50.0, progress="1/2 instances provisioned, 0/2 session hosts Available"),
            "- running 50% (1m05s) - 1/2 instances provisioned, 0/2 session hosts Available",
        ),
        (
            _step("running", percent=None, progress="EntraDR: Updating"),
            "- running (1m05s) - EntraDR: Updating",
        ),
        (_step("failed", progress="1/2 Available"), "- failed (1m05s) - 1/2 Available"),
        (
            _step(
                "done",
                finished_at=NOW.isoformat(),
                progress="stale",
                output="scaled\n2 session host(s) Available",
            ),
            "- done (1m05s) - 2 session host(s) Available",
        ),
        (
            _step("pending", started_at=None, progress="ignored"),
            "on `VMSSDR/virtualMachineScaleSets/EntraDR` - pending",
        ),
    ],
)
def test_step_line_shows_progress_text(step: dict[str, Any], ends: str) -> None:
    line = cards.step_line(step, NOW)
    assert line.startswith(cards.STEP_ICON[step["status"]] + " 2. Wait for 2 session hosts Available on ")
    assert line.endswith(ends)


def test_step_line_keeps_long_texts_on_one_short_line() -> None:
    line = cards.step_line(_step("running", description="x" * 1000, progress="a\nb " + "y" * 1000), NOW)
    assert "\n" not in line and len(line) < 700 and "- a b yyy" in line and line.endswith("…")


def _plan(n: int) -> Plan:
    steps = tuple(
        Step(
            name=f"step-{i}",
            resource_id=f"{VMSS}{i}",
            description=f"Step {i}: " + "d" * 300,
            apply=lambda ctx: None,
            estimate_seconds=60,
        )
        for i in range(n)
    )
    return Plan(kind="failover", title="Failover primary -> dr", steps=steps)


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "avd.db"))
    store.migrate()
    return store


def _card_ok(blocks: list[Any]) -> None:
    assert len(blocks) <= cards.MAX_BLOCKS
    for block in blocks:
        block.to_dict()  # slack_sdk validates every block's limits here
        if isinstance(block, SectionBlock) and block.text is not None:
            assert len(block.text.text) <= 3000


@pytest.mark.parametrize("status", [jobs.AWAITING, jobs.RUNNING, jobs.FAILED])
def test_twenty_step_card_fits_in_one_message(store: Store, status: str) -> None:
    job_id = jobs.create_job(
        store,
        plan=_plan(20),
        op=ops.FailoverStart(),
        requested_by="U0OPS1",
        channel="C0INCIDENT",
        status=status,
        now=NOW,
    )
    for idx in range(20):
        jobs.update_step(
            store,
            job_id,
            idx,
            status=jobs.STEP_RUNNING,
            started_at=NOW.isoformat(),
            percent=40.0,
            progress="p" * 200,
            output="o" * 2000,
        )
    jobs.update_job(store, job_id, error="boom " * 500)
    job = jobs.get_job(store, job_id)
    assert job is not None
    text, blocks = cards.job_card(job, jobs.get_steps(store, job_id), None, now=NOW, simulated=True)
    _card_ok(blocks)
    shown = "\n".join(b.text.text for b in blocks if isinstance(b, SectionBlock) and b.text is not None)
    assert "20. Step 19" in shown  # every step is on the card
    assert text.startswith(f"Job {job_id} (Failover primary -&gt; dr)")  # as Slack wants it: shown as "->"


def test_a_card_too_big_for_slack_is_cut_with_a_note(store: Store) -> None:
    job_id = jobs.create_job(
        store,
        plan=_plan(500),
        op=ops.FailoverStart(),
        requested_by="U0OPS1",
        channel="C0INCIDENT",
        status=jobs.RUNNING,
        now=NOW,
    )
    job = jobs.get_job(store, job_id)
    assert job is not None
    _, blocks = cards.job_card(job, jobs.get_steps(store, job_id), None, now=NOW)
    _card_ok(blocks)
    assert "500 steps in all" in str([b.to_dict() for b in blocks])


def test_the_runner_persists_progress_text_and_the_card_shows_it(store: Store) -> None:
    job_id = jobs.create_job(
        store,
        plan=_plan(2),
        op=ops.FailoverStart(),
        requested_by="U0OPS1",
        channel="C0INCIDENT",
        status=jobs.RUNNING,
        now=NOW,
    )
    jobs.update_step(store, job_id, 0, status=jobs.STEP_RUNNING, started_at=NOW.isoformat())
    touched: list[int] = []
    held = JobLeases(
        store, ttl=30, owner="test:1:cards"
    )  # the runner writes a step only under the job's lease
    assert held.take(job_id) is not None
    engine: Any = SimpleNamespace(store=store, progress=SimpleNamespace(touch=touched.append), leases=held)
    try:
        StepRecorder(engine, job_id, 0).progress(
            50.0, "1/2 instances provisioned, 0/2 session hosts Available"
        )
    finally:
        held.stop()
    assert touched == [job_id]
    job = jobs.get_job(store, job_id)
    assert job is not None
    _, blocks = cards.job_card(job, jobs.get_steps(store, job_id), None, now=NOW)
    shown = str([b.to_dict() for b in blocks])
    assert "running 50% (0s) - 1/2 instances provisioned, 0/2 session hosts Available" in shown
