"""A 20-job burst against the Slack double with Slack's rate limits on: no 429, each card edited at most once
per 10 s, at most 40 chat.update a minute, and every job's final state on its card and in its thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from azureops.plan import Plan, Step, StepContext
from bot.capabilities import CAPABILITIES
from bot.engine.registry import overlay
from bot.runtime import Capability
from bot.sandbox import example_config
from bot.storage import jobs
from commands import ops
from sim.slack import SlackSim
from sim.slack.state import DEFAULT_CHANNELS
from tests.kit import BOT_TOKEN, BotHandle, Chat, clean_env, start_bot

CHANNELS = ("C0INCIDENT", "C0INC2", "C0INC3", "C0INC4")
JOBS = 20


def burst_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    """Two quick steps on a resource of its own per job (the count tells the jobs apart)."""
    assert isinstance(op, ops.Scale)
    rid = f"/subscriptions/s/resourceGroups/BURST/providers/Microsoft.Compute/virtualMachineScaleSets/b{op.count}"

    def work(ctx: StepContext) -> str:
        for pct in (30.0, 60.0, 90.0):
            ctx.progress(pct, "InProgress")
            time.sleep(0.02)
        return "ok"

    steps = (
        Step(name="prepare", resource_id=rid, description="Prepare", apply=work, estimate_seconds=1),
        Step(name="apply", resource_id=rid, description="Apply", apply=work, estimate_seconds=1),
    )
    return Plan(kind="burst", title=f"Burst {op.count}", steps=steps)


@pytest.fixture
def burst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BotHandle, SlackSim]]:
    clean_env(monkeypatch)
    channels = {
        **DEFAULT_CHANNELS,
        **{c: {"name": c.lower(), "is_private": False, "is_member": True} for c in CHANNELS},
    }
    sim = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True, channels=channels)
    sim.start()
    config = (
        Path(example_config())
        .read_text(encoding="utf-8")
        .replace(
            'allowed_channels = ["C0INCIDENT"]', f"allowed_channels = {list(CHANNELS)!r}".replace("'", '"')
        )
    )
    burst_cap = Capability(name="burst", jobs={ops.Scale: "burst"}, plans={"burst": burst_plan})
    handle = start_bot(tmp_path, sim.url, config_text=config, capabilities=overlay(CAPABILITIES, burst_cap))
    try:
        yield handle, sim
    finally:
        handle.stop()
        sim.stop()


def test_twenty_job_burst_stays_under_slack_limits(burst: tuple[BotHandle, SlackSim]) -> None:
    handle, sim = burst
    for n in range(1, JOBS + 1):
        chat = Chat(handle.url, sim, handle.signing_secret, channel=CHANNELS[n % len(CHANNELS)])
        assert chat.slash(f"/avd scale EntraDR {n}", user="U0OPS1").status == 200
    store = handle.runtime.store
    sim.wait_for(lambda: len(jobs.jobs_in(store, [jobs.DONE])) == JOBS, timeout=20)
    engine = handle.runtime.engine
    assert engine.progress.wait_idle(40)

    assert sim.rate_limited_count == 0
    assert engine.progress.stats.rate_limited == 0
    updates = sim.calls_to("chat.update")
    by_card: dict[str, list[float]] = {}
    for call in updates:
        by_card.setdefault(call.args["ts"], []).append(call.at)
    for times in by_card.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(gap >= 10.0 for gap in gaps), gaps
    stamps = sorted(call.at for call in updates)
    assert all(sum(1 for t in stamps if s <= t < s + 60) <= 40 for s in stamps)

    for job in jobs.jobs_in(store, [jobs.DONE]):
        card = sim.message(job["channel"], job["card_ts"])
        assert card is not None and card["text"].endswith(": done"), card
        replies = sim.thread(job["channel"], job["card_ts"])
        assert [r.get("reply_broadcast") for r in replies] == [True]
        assert "finished" in replies[0]["text"]
