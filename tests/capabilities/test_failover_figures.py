"""The RTO figures users feel, read from step rows (``finished_at``): DR capacity Available, the primary's users
signed out, and the outage between the two (zero when DR was ready first); a failback's from its own steps (the
primary taking users again, DR's users signed out); the summary and the drill trend."""

from __future__ import annotations

from typing import Any

import pytest

from azureops.plan import format_seconds
from bot.capabilities import drill, failover
from bot.capabilities.failover_config import Figures, figures

T0 = "2026-01-01T00:00:00.000+00:00"


def row(name: str, start: float, end: float | None, status: str = "done", output: str = "") -> dict[str, Any]:
    def at(s: float | None) -> str | None:
        return None if s is None else f"2026-01-01T00:{int(s) // 60:02d}:{s % 60:06.3f}+00:00"

    return {"name": name, "status": status, "started_at": at(start), "finished_at": at(end), "output": output}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # DR Available at 300 s, users signed out at 305 s: DR was ready first, no outage
        (
            [row("preflight", 2, 5), row("dr-hosts-available", 6, 300), row("log-off-users", 303, 305)],
            Figures(300.0, 305.0, 0.0),
        ),
        # the sequential shape: users signed out at 305 s, DR Available at 600 s: 295 s without a desktop
        (
            [row("log-off-users", 303, 305), row("dr-hosts-available", 306, 600)],
            Figures(600.0, 305.0, 295.0),
        ),
        # DR capacity is the later of the DR-ready steps (hosts and the ASR recovery plan)
        (
            [row("dr-hosts-available", 6, 300), row("asr-failover", 6, 420), row("log-off-users", 303, 305)],
            Figures(420.0, 305.0, 115.0),
        ),
        # the primary did not answer: nobody was signed out by the job, the outage is not measured
        (
            [
                row("dr-hosts-available", 6, 300),
                row(
                    "log-off-users",
                    3,
                    4,
                    output=":warning: skipped: the primary region westeurope did not answer",
                ),
            ],
            Figures(300.0, None, None),
        ),
        # DR not Available (failed): no capacity figure
        (
            [row("dr-hosts-available", 6, 30, "failed"), row("log-off-users", 3, 40)],
            Figures(None, 40.0, None),
        ),
    ],
)
def test_figures_from_step_rows(rows: list[dict[str, Any]], expected: Figures) -> None:
    assert figures(rows, T0) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # the primary undrained at 8 s, DR's users signed out at 70 s: the primary took them first
        (
            [row("primary-undrain", 3, 8), row("dr-log-off-users", 10, 70), row("dr-scale-in", 70, 160)],
            Figures(8.0, 70.0, 0.0),
        ),
        # with a recovery plan: the personal desktops are back only when ASR's failback ends, after the log-off
        (
            [row("primary-undrain", 3, 8), row("dr-log-off-users", 10, 70), row("asr-failback", 70, 400)],
            Figures(400.0, 70.0, 330.0),
        ),
    ],
)
def test_failback_figures_from_its_own_step_rows(rows: list[dict[str, Any]], expected: Figures) -> None:
    measures = failover.MEASURES[failover.FAILBACK]
    assert figures(rows, T0, ready=measures.ready, signed_out=measures.signed_out) == expected
    text = failover.figures_text(expected, approved=True, kind=failover.FAILBACK)
    assert f"the primary takes users again *{format_seconds(expected.to_capacity)}* after approval" in text
    assert f"DR's users signed out *{format_seconds(expected.signed_out)}*" in text


def test_figures_count_from_the_first_step_when_no_start_is_known() -> None:
    rows = [row("preflight", 10, 12), row("dr-hosts-available", 12, 70)]
    assert figures(rows, None) == Figures(60.0, None, None)


def test_summary_and_drill_trend_show_the_figures() -> None:
    text = failover.summary_text("failover", "Failover primary -> dr", 310.0, [], Figures(300.0, 305.0, 0.0))
    assert "DR capacity Available *5m* after approval" in text
    assert "signed out *5m05s*" in text and "outage *0s* (DR was ready before" in text
    late = failover.figures_text(Figures(600.0, 305.0, 295.0), approved=False)
    assert (
        "after the job started" in late and "outage *4m55s* (signed out until DR capacity Available)" in late
    )
    down = failover.figures_text(Figures(300.0, None, None), approved=True)
    assert "not signed out by this job" in down and "outage *not measured*" in down
    past = [
        {"to_capacity": 300.0, "signed_out": 305.0, "outage": 0.0},
        {"to_capacity": 600.0, "signed_out": 305.0, "outage": 295.0},
        {"to_capacity": None, "signed_out": None, "outage": None},  # a run before the figures were kept
    ]
    lines = drill.figures_trend(past)
    assert lines[0] == "RTO users felt over 2 failover(s):"
    assert lines[1] == "• DR capacity Available after approval: █▁ 10m -> 5m"
    assert lines[3] == "• outage: █▁ 4m55s -> 0s"
    assert drill.figures_trend([]) == []
