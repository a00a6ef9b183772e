"""A graph job's card in Slack: numbered steps with "after 2, 3" (awaiting approval and running), the
branches running at once named at the top, and a line plan's card unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.models.blocks import SectionBlock

from azureops.plan import Plan, Step
from bot.slack import cards
from bot.storage import jobs
from bot.storage.sqlite import Store
from commands import ops

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def step(name: str, after: tuple[str, ...] | None) -> Step:
    return Step(name=name, resource_id="", description=f"Step {name}", apply=lambda ctx: None, after=after)


GRAPH = Plan(
    kind="graph",
    title="Graph",
    steps=(
        step("pre", ()),
        step("dr", ("pre",)),
        step("drain", ("pre",)),
        step("post", ("dr", "drain")),
    ),
)
LINE = Plan(kind="line", title="Line", steps=(step("a", None), step("b", None)))


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "avd.db"))
    store.migrate()
    return store


def shown(store: Store, plan: Plan, status: str, running: tuple[int, ...] = ()) -> str:
    job_id = jobs.create_job(
        store, plan=plan, op=ops.FailoverStart(), requested_by="U1", channel="C1", status=status, now=NOW
    )
    for idx in running:
        jobs.update_step(store, job_id, idx, status=jobs.STEP_RUNNING, started_at=NOW.isoformat())
    job = jobs.get_job(store, job_id)
    assert job is not None
    _, blocks = cards.job_card(job, jobs.get_steps(store, job_id), None, now=NOW)
    return "\n".join(b.text.text for b in blocks if isinstance(b, SectionBlock) and b.text is not None)


def test_the_approval_card_of_a_graph_numbers_its_steps_with_what_they_wait_for(store: Store) -> None:
    text = shown(store, GRAPH, jobs.AWAITING)
    assert "1. Step pre (~30s) · at once" in text
    assert "2. Step dr (~30s) · after 1" in text and "3. Step drain (~30s) · after 1" in text
    assert "4. Step post (~30s) · after 2, 3" in text
    assert [line.split(" · ")[0] for line in GRAPH.preview()] == [
        line.split(" · ")[0] for line in text.splitlines() if line[:1].isdigit()
    ]  # the card shows the plan's own preview


def test_a_running_graph_names_its_running_branches_at_the_top(store: Store) -> None:
    text = shown(store, GRAPH, jobs.RUNNING, running=(1, 2))
    assert "*Running now (2):* 2. Step dr, 3. Step drain" in text
    assert text.index("Running now") < text.index("1. Step pre")
    assert "2. Step dr · after 1 - running" in text


def test_a_line_plan_card_says_nothing_of_edges(store: Store) -> None:
    text = shown(store, LINE, jobs.AWAITING)
    assert "1. Step a (~30s)\n2. Step b (~30s)" in text and "after" not in text and "Running now" not in text
