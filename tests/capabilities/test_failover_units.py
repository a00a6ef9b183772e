"""Pure pieces of the failover and drill capabilities: the trend sparkline, measured times, the summary."""

from __future__ import annotations

import pytest

from bot.capabilities import drill, failover
from bot.capabilities.failover_config import measured


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [([], "no drills yet"), ([60.0], "▁ 1m -> 1m"), ([60.0, 120.0, 90.0], "▁█▅ 1m -> 1m30s")],
)
def test_trend_sparkline(seconds: list[float], expected: str) -> None:
    assert drill.trend(seconds) == expected


def test_measured_time_spans_first_start_to_last_end() -> None:
    steps = [
        {
            "name": "a",
            "status": "done",
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:05+00:00",
        },
        {
            "name": "b",
            "status": "done",
            "started_at": "2026-01-01T00:00:05+00:00",
            "finished_at": "2026-01-01T00:01:07+00:00",
        },
    ]
    assert measured(steps) == 67.0
    assert measured(steps, upto="a") == 5.0
    assert measured(steps, start="b") == 62.0


def test_summary_text_warns_about_skipped_primary_steps() -> None:
    steps = [
        {
            "name": "primary-drain",
            "status": "done",
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:01+00:00",
            "output": ":warning: skipped: the primary region westeurope did not answer",
        }
    ]
    text = failover.summary_text("failover", "Failover primary -> dr", 61.0, steps)
    assert "recovery time *1m01s*" in text
    assert "primary-drain" in text and "did not answer" in text


def check_row(name: str, status: str, output: str = "") -> dict[str, str]:
    return {"name": name, "status": status, "output": output}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (check_row("primary-probe", "running"), "primary probe *running* (the primary's steps and ASR"),
        (
            check_row(
                "primary-probe",
                "done",
                "warning: primary region: no answer within 3s\nthe primary region westeurope did not answer: "
                "its steps are skipped, DR is not delayed",
            ),
            "primary probe the primary region westeurope did not answer: its steps are skipped, DR is not delayed",
        ),
    ],
)
def test_status_names_the_two_checks_and_what_waits_for_each(probe: dict[str, str], expected: str) -> None:
    steps = [check_row("dr-preflight", "done", "ok: identity: AVDManage\n4 check(s) passed"), probe]
    line = failover.checks_line(steps)
    assert line is not None and expected in line
    assert line.startswith("Checks: DR preflight 4 check(s) passed (DR's scale-out waits only for it)")
    assert failover.checks_line([check_row("preflight", "done")]) is None  # a failback's or an older job's
