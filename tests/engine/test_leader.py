"""One leader through the database: the lease with a controllable clock, two bots on one SQLite file, and
real processes killed (SIGKILL) or paused past their lease (SIGSTOP)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from bot.capabilities import CAPABILITIES, doctor
from bot.engine.leader import Leader, ended
from bot.engine.leader import host as leader_host
from bot.engine.registry import overlay
from bot.engine.schedules import RESUME, SWEEP, Timers, occurrence
from bot.runtime import Capability
from bot.storage import leases
from bot.storage import schedules as rows
from bot.storage.sqlite import Store
from sim.slack import SlackSim
from tests.kit import BotHandle, clean_env, start_bot, wait_until
from tests.kit import leaders as kit
from tests.kit.bots import bot_env
from tests.kit.process import Bot, child_env
from tests.kit.process import rows as read

TTL = 15.0
LEASE = "3"  # seconds, for the bots below: renewed every second, taken over a few seconds after a loss


class Clock:
    """Wall and monotonic time moved by the test."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class Events:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def leader(self, store: Store, owner: str, clock: Clock) -> Leader:
        def note(what: str) -> Any:
            return lambda: self.seen.append(f"{owner} {what}")

        return Leader(
            store,
            ttl=TTL,
            owner=owner,
            on_gain=note("gain"),
            on_loss=note("loss"),
            wall=clock,
            monotonic=clock,
        )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "avd.db")
    s.migrate()
    yield s
    s.close()


def test_one_leads_the_other_stands_by_and_takes_over_after_expiry(store: Store) -> None:
    clock, events = Clock(), Events()
    a, b = events.leader(store, "a", clock), events.leader(store, "b", clock)
    a.tick()
    b.tick()
    assert events.seen == ["a gain"] and a.acting() is not None and b.acting() is None
    for _ in range(5):  # renewed every ttl/3: b never gets it
        clock.t += a.every
        a.tick()
        b.tick()
    assert events.seen == ["a gain"] and a.acting() is not None and a.acting() == b.current()
    # a stops renewing (paused, or its database calls hang): it stops acting before the lease can expire
    last = clock.t
    clock.t = last + TTL - a.margin
    assert a.acting() is None
    clock.t = last + TTL - 0.001
    b.tick()
    assert b.acting() is None  # not expired yet: b waits
    clock.t = last + TTL
    b.tick()
    held = b.acting()
    assert held is not None and (held.owner, held.epoch) == ("b", 2)
    a.tick()  # a comes back: its renewal is refused and it steps down, without leading again
    assert events.seen == ["a gain", "b gain", "a loss"] and a.acting() is None


def test_a_renewal_that_cannot_reach_the_database_steps_down_at_the_deadline(
    store: Store, tmp_path: Path
) -> None:
    clock, events = Clock(), Events()
    a = events.leader(store, "a", clock)
    a.tick()
    blocker = sqlite3.connect(tmp_path / "avd.db", isolation_level=None)
    blocker.execute("begin exclusive")  # the database is unreachable for writes (busy past busy_timeout)
    try:
        clock.t += a.every
        a.tick()  # fails after the busy timeout; the lease is still ours until the deadline
        assert events.seen == ["a gain"] and a.acting() is not None
        clock.t += TTL
        a.tick()
        assert events.seen == ["a gain", "a loss"] and a.acting() is None
    finally:
        blocker.execute("rollback")
        blocker.close()
    a.tick()  # reachable again and the lease expired: a new tenure
    held = a.acting()
    assert held is not None and held.epoch == 2 and events.seen[-1] == "a gain"


def test_the_watchdog_steps_down_at_the_deadline_while_the_renewal_is_stuck(
    store: Store, tmp_path: Path
) -> None:
    """The background threads with a short real lease: the database is locked, so the renewal waits for
    its busy timeout (5 s, longer than the lease); the watchdog steps down at the deadline meanwhile."""
    stepped_down: list[str] = []
    a = Leader(
        store, ttl=1.5, owner="a", on_loss=lambda: stepped_down.append(threading.current_thread().name)
    )
    a.start()
    blocker = sqlite3.connect(tmp_path / "avd.db", isolation_level=None)
    try:
        assert a.acting() is not None
        blocker.execute("begin exclusive")
        wait_until(lambda: stepped_down, 30, "the step-down")
        assert stepped_down == ["avd-leader-watchdog"] and a.acting() is None
    finally:
        if blocker.in_transaction:
            blocker.execute("rollback")
        blocker.close()
        a.stop()


def test_a_process_of_this_host_that_ended_can_be_taken_over_at_once() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    host = leader_host()
    assert ended(f"{host}:{proc.pid}:abcd") is True
    assert ended(f"{host}:{os.getpid()}:abcd") is False  # ourselves
    assert ended(f"{host}:1:abcd") is False  # alive
    assert ended(f"elsewhere:{proc.pid}:abcd") is False  # another host: wait for the lease to expire
    assert ended(f"{host}x:{proc.pid}:abcd") is False  # another PID namespace (a container) of this host


def test_an_occurrence_is_the_latest_time_of_the_cron_within_the_misfire_window() -> None:
    now = datetime(2027, 1, 15, 2, 3, 30, tzinfo=UTC)
    assert occurrence("0 2 * * *", now) == datetime(2027, 1, 15, 2, 0, tzinfo=UTC)
    assert occurrence("*/15 * * * *", now) == datetime(2027, 1, 15, 2, 0, tzinfo=UTC)
    assert occurrence("*/5 * * * *", now) == datetime(2027, 1, 15, 2, 0, tzinfo=UTC)
    assert occurrence("0 3 * * *", now) == datetime(2027, 1, 15, 2, 3, tzinfo=UTC)  # off schedule: the minute


# ---- two bots on one SQLite file, in this process ------------------------------------------------


def leading(handle: BotHandle) -> bool:
    return handle.runtime.scheduler.get_job(SWEEP) is not None


def timers(handle: BotHandle) -> Timers:
    return cast(Timers, handle.runtime.timers)


def test_two_bots_on_one_file_only_the_leader_arms_schedules_and_sweeps(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    kit_fired: list[dict[str, Any]] = []
    table = overlay(
        CAPABILITIES,
        Capability(name="leader-test", timers={kit.RECORD: lambda rt, args: kit_fired.append(args)}),
    )
    a = start_bot(tmp_path, slack_sim.url, capabilities=table, AVD_LEADER_LEASE_SECONDS=LEASE)
    b = start_bot(tmp_path, slack_sim.url, capabilities=table, AVD_LEADER_LEASE_SECONDS=LEASE)
    stopped: list[BotHandle] = []
    try:
        assert leading(a) and not leading(b) and b.runtime.scheduler.get_job(RESUME) is None
        due = datetime.now(UTC) - timedelta(minutes=1)
        cron = f"{due.minute} {due.hour} * * *"  # its latest occurrence is a minute ago
        b.runtime.timers.put("sync:p", kit.RECORD, {"n": 1}, cron=cron, user="U0OPS1", channel="C0INCIDENT")
        wait_until(
            lambda: a.runtime.scheduler.get_job("sync:p"), 30, "the leader to arm a row written elsewhere"
        )
        assert b.runtime.scheduler.get_job("sync:p") is None
        shown = b.runtime.timers.get("sync:p")
        assert shown is not None and shown.next_run is not None  # a standby still says when it runs
        timers(a).fire("sync:p")
        timers(a).fire("sync:p")
        assert kit_fired == [{"n": 1, "user": "U0OPS1", "channel": "C0INCIDENT"}]
        timers(b).fire("sync:p")  # a standby never fires
        assert len(kit_fired) == 1
        a.stop()  # a clean stop releases the lease: b takes over at its next try
        stopped.append(a)
        wait_until(lambda: leading(b) and b.runtime.scheduler.get_job("sync:p"), 30, "b to take over")
        held = leases.current(b.runtime.store, leases.LEADER)
        assert held is not None and held.epoch == 2 and held.owner == timers(b).leader.owner
        timers(b).fire("sync:p")  # the same occurrence, after the handover
        assert len(kit_fired) == 1
        assert [r["epoch"] for r in leases.fires(b.runtime.store, "sync:p")] == [1]
    finally:
        for handle in (a, b):
            if handle not in stopped:
                handle.stop()


def test_a_schedule_stored_before_the_minimum_is_armed_but_fires_at_most_every_15_minutes(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_env(monkeypatch)
    calls: list[dict[str, Any]] = []
    table = overlay(
        CAPABILITIES,
        Capability(name="leader-test", timers={kit.RECORD: lambda rt, args: calls.append(args)}),
    )
    handle = start_bot(tmp_path, slack_sim.url, capabilities=table, start_scheduler=False)
    rows.put(  # written by an older version, which allowed every 5 minutes
        handle.runtime.store,
        "old:fast",
        target=kit.RECORD,
        args={},
        cron="*/5 * * * *",
        run_at=None,
        created_by="U0OPS1",
        channel="C0INCIDENT",
        now=datetime.now(UTC),
    )
    handle.runtime.start()
    try:
        assert handle.runtime.scheduler.get_job("old:fast") is not None
        assert "fires at most every 15 minutes" in caplog.text
        leader, note = doctor.bot_lines(handle.runtime, handle.runtime.clock())  # /avd doctor says both
        assert leader.startswith(":white_check_mark: leader `") and timers(handle).leader.owner in leader
        assert "`old:fast` (`*/5 * * * *`) predates the 15-minute minimum" in note
    finally:
        handle.stop()


def test_an_occurrence_missed_in_a_handover_fires_once_when_the_next_leader_arms_it(
    tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader was lost just before 02:00 and the next one armed the row at 02:00:10: it fires 02:00 at
    once (within the misfire window), and a later leader does not fire it again."""
    clean_env(monkeypatch)
    calls: list[dict[str, Any]] = []
    table = overlay(
        CAPABILITIES, Capability(name="leader-test", timers={kit.RECORD: lambda rt, args: calls.append(args)})
    )
    due = datetime.now(UTC) - timedelta(minutes=1)
    seed = start_bot(tmp_path, slack_sim.url, capabilities=table, start_scheduler=False)
    rows.put(
        seed.runtime.store,
        "sync:missed",
        target=kit.RECORD,
        args={},
        cron=f"{due.minute} {due.hour} * * *",
        run_at=None,
        created_by="U0OPS1",
        channel="C0INCIDENT",
        now=due - timedelta(days=1),  # stored the day before
    )
    seed.stop()
    first = start_bot(tmp_path, slack_sim.url, capabilities=table)
    try:
        wait_until(lambda: calls, 30, "the missed occurrence")
        assert len(leases.fires(first.runtime.store, "sync:missed")) == 1
    finally:
        first.stop()
    second = start_bot(tmp_path, slack_sim.url, capabilities=table)  # leads at once: armed for tomorrow only
    try:
        job = second.runtime.scheduler.get_job("sync:missed")
        assert job is not None and job.next_run_time > datetime.now(UTC) + timedelta(hours=23)
    finally:
        second.stop()
    assert len(calls) == 1


# ---- real processes ------------------------------------------------------------------------------


def process_env(tmp_path: Path, slack_url: str) -> dict[str, str]:
    env = child_env(bot_env(tmp_path, slack_url), AVD_LEADER_LEASE_SECONDS=LEASE)
    return env


def test_the_leader_killed_the_standby_takes_over_within_the_lease(
    tmp_path: Path, slack_sim: SlackSim
) -> None:
    env, db = process_env(tmp_path, slack_sim.url), tmp_path / "avd.db"
    a = Bot(env, "tests.kit.leaders", log_path=tmp_path / "a.log")
    b = Bot(env, "tests.kit.leaders", log_path=tmp_path / "b.log")
    try:
        a.start()
        first = wait_until(lambda: kit.led_by(db, a.pid), 30, "a to lead")
        b.start()
        wait_until(lambda: "avd-bot serving" in b.log(), 30, "b to be up")
        assert kit.led_by(db, a.pid) is not None and " leads " not in b.log()
        a.signal(signal.SIGKILL)
        a.stop()
        taken = wait_until(lambda: kit.led_by(db, b.pid), float(LEASE) + 10, "b to take over")
        assert taken.epoch == first.epoch + 1 and " leads " in b.log()
    finally:
        a.stop()
        b.stop()
    assert kit.lease(db) is not None and kit.lease(db).owner == ""  # type: ignore[union-attr]  # b released it


def test_a_paused_leader_neither_fires_nor_leads_after_it_resumes(
    tmp_path: Path, slack_sim: SlackSim
) -> None:
    """A leads with a schedule armed; it is paused past its lease and past the schedule's time; B takes over
    and fires the occurrence; A resumes: it steps down and fires nothing, and never leads again."""
    env, db = process_env(tmp_path, slack_sim.url), tmp_path / "avd.db"
    a = Bot(env, "tests.kit.leaders", log_path=tmp_path / "a.log")
    b = Bot(env, "tests.kit.leaders", log_path=tmp_path / "b.log")
    try:
        a.start()
        wait_until(lambda: kit.led_by(db, a.pid), 30, "a to lead")
        b.start()
        at = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)  # 20-80 s away
        store = kit.store(db)
        try:
            rows.put(
                store,
                "sync:once",
                target=kit.RECORD,
                args={"name": "sync:once"},
                cron=f"{at.minute} {at.hour} * * *",
                run_at=None,
                created_by="U0OPS1",
                channel="C0INCIDENT",
                now=datetime.now(UTC),
            )
        finally:
            store.close()
        renewed = kit.lease(db)
        assert renewed is not None
        # a arms rows at each renewal: once a later renewal is seen, the one before it has armed the row
        wait_until(lambda: kit.lease(db).expires_at >= renewed.expires_at + 3, 30, "a to renew")  # type: ignore[union-attr]
        a.pause(db)
        wait_until(lambda: kit.led_by(db, b.pid), 30, "b to take over from the paused a")
        wait_until(lambda: kit.fired(db), 120, "the occurrence to fire in b")
        a.signal(signal.SIGCONT)
        wait_until(lambda: "stops leading" in a.log(), 30, "a to step down")
        assert kit.led_by(db, b.pid) is not None
    finally:
        a.stop()  # a's scheduler had the occurrence due while it was paused: whatever it tried ended here
        b.stop()
    assert kit.fired(db) == [(b.pid, "sync:once")]
    assert a.log().count(" leads ") == 1  # the first time only
    assert [r["epoch"] for r in read(db, "select * from schedule_fires")] == [2]
