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
