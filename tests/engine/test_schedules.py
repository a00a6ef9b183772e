"""Schedules kept as data: rows of ``schedules`` armed at start-up, fired into a named target, never code."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.capabilities import CAPABILITIES
from bot.engine.registry import overlay
from bot.runtime import Capability, Runtime
from bot.storage import schedules as rows
from sim.slack import SlackSim
from tests.kit import clean_env, start_bot, wait_until

FIRED: list[dict[str, Any]] = []
LOCK = threading.Lock()


def record(runtime: Runtime, args: dict[str, Any]) -> None:
    with LOCK:
        FIRED.append(args)


TABLE = overlay(CAPABILITIES, Capability(name="timer-test", timers={"record": record}))


@pytest.fixture(autouse=True)
def fresh() -> None:
    FIRED.clear()


def test_a_one_off_due_while_the_bot_was_down_runs_once_at_the_next_start(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    down = start_bot(tmp_path, slack_sim.url, capabilities=TABLE, start_scheduler=False)
    due = datetime.now(UTC) - timedelta(minutes=1)
    down.runtime.timers.put(
        "reminder:dr", "record", {"site": "dr"}, run_at=due, user="avd-bot", channel="C0INCIDENT"
    )
    [timer] = down.runtime.timers.listed("reminder:")
    assert (timer.target, timer.args, timer.cron) == ("record", {"site": "dr"}, None)
    down.stop()  # its scheduler never ran: the row is all that is left
    assert FIRED == []
    for _ in range(2):  # the next start fires it; the one after finds nothing to fire
        handle = start_bot(tmp_path, slack_sim.url, capabilities=TABLE)
        try:
            wait_until(lambda: FIRED, what="the overdue reminder")
            wait_until(lambda h=handle: h.runtime.timers.listed() == [], what="the one-off row removed")
        finally:
            handle.stop()
    assert FIRED == [{"site": "dr", "user": "avd-bot", "channel": "C0INCIDENT"}]


def test_a_recurring_schedule_is_armed_from_its_row(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_sim.url, capabilities=TABLE)
    try:
        handle.runtime.timers.put(
            "every:night", "record", {"n": 1}, cron="0 2 * * *", user="U0OPS1", channel="C0INCIDENT"
        )
        [timer] = handle.runtime.timers.listed("every:")
        assert timer.cron == "0 2 * * *" and timer.next_run is not None
        assert (timer.next_run.hour, timer.next_run.minute) == (2, 0)
        handle.runtime.scheduler.modify_job("every:night", next_run_time=datetime.now(UTC))
        wait_until(lambda: FIRED, what="the recurring schedule")
        assert FIRED[0]["n"] == 1 and handle.runtime.timers.get("every:night") is not None  # recurring: kept
        assert handle.runtime.timers.remove("every:night") is True
        assert (
            handle.runtime.timers.listed() == [] and handle.runtime.scheduler.get_job("every:night") is None
        )
    finally:
        handle.stop()


def test_a_schedule_names_a_known_target_and_one_time(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_sim.url, capabilities=TABLE, start_scheduler=False)
    try:
        timers = handle.runtime.timers
        with pytest.raises(ValueError, match="no timer target 'os.system'"):
            timers.put("x", "os.system", {}, cron="0 2 * * *", user="U0OPS1", channel="C0INCIDENT")
        with pytest.raises(ValueError, match="either a cron or a run_at"):
            timers.put("x", "record", {}, user="U0OPS1", channel="C0INCIDENT")
        assert timers.listed() == []
        # a row written behind the bot's back with an unknown target is skipped when it fires
        rows.put(
            handle.runtime.store,
            "y",
            target="os.system",
            args={},
            cron="0 2 * * *",
            run_at=None,
            created_by="x",
            channel="C0INCIDENT",
            now=datetime.now(UTC),
        )
        timers.fire("y")  # type: ignore[attr-defined]
        assert FIRED == []
    finally:
        handle.stop()


def test_the_scheduler_pools_refuse_past_their_bound(caplog: pytest.LogCaptureFixture) -> None:
    """A job past the light pool's bound is refused (logged), not queued behind the others for ever."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.engine.schedules import configure

    scheduler = BackgroundScheduler()
    configure(scheduler, workers=1, jobs_held=1, light_held=2)
    release = threading.Event()
    ran: list[str] = []

    def hold(name: str) -> None:
        ran.append(name)
        release.wait()

    scheduler.start()
    try:
        for name in ("one", "two"):
            scheduler.add_job(hold, args=[name], id=name, executor="light")
        wait_until(lambda: len(ran) == 2, what="both light threads busy")
        scheduler.add_job(hold, args=["three"], id="three", executor="light")
        wait_until(lambda: "Error submitting job" in caplog.text, what="the refusal")
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    assert ran == ["one", "two"]
