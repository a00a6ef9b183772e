"""What keeps the ack fast: shared status reads, the in-memory replay check, post-ack work off Bolt's threads."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.reads import SharedRead
from bot.slack.ackgate import AckGate
from bot.slack.authz import ReplayMemory
from bot.storage.sqlite import Store


def test_concurrent_status_reads_share_one_azure_read() -> None:
    shared = SharedRead(fresh=0)
    calls: list[int] = []
    gate = threading.Event()

    def read() -> str:
        calls.append(1)
        gate.wait(5)
        return "readiness"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(shared.get(read))) for _ in range(10)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(5)
    assert results == ["readiness"] * 10
    assert len(calls) == 1
    assert shared.get(lambda: "fresh") == "fresh"  # a finished read is not reused (fresh = 0)


def test_the_last_read_is_kept_for_the_next_ack_and_a_new_read_still_runs() -> None:
    clock = [100.0]
    shared = SharedRead(fresh=3, monotonic=lambda: clock[0])
    assert shared.last(60) is None  # nothing read yet: the ack shows nothing
    assert shared.get(lambda: "read at 100") == "read at 100"
    clock[0] = 102.9
    assert shared.get(lambda: "not read") == "read at 100"  # reused for 3 s after the read started
    clock[0] = 159.9
    assert shared.last(60) == "read at 100"  # shown in the next ack
    assert shared.get(lambda: "read at 159.9") == "read at 159.9"  # and a fresh read follows it
    clock[0] = 219.9
    assert shared.last(60) is None  # the last read started a minute ago: too old to show


def test_a_failed_shared_read_is_not_kept() -> None:
    shared = SharedRead()

    def boom() -> str:
        raise RuntimeError("ARM down")

    with contextlib.suppress(RuntimeError):
        shared.get(boom)
    assert shared.last(60) is None
    assert shared.get(lambda: "ok") == "ok"


def test_replay_memory_answers_from_memory_and_survives_a_restart(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "avd.db"))
    store.migrate()
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    memory = ReplayMemory(store, now)
    assert memory.claim("command:T1", now) is True
    assert memory.claim("command:T1", now + timedelta(seconds=1)) is False
    memory.close()
    store.close()

    reopened = Store(str(tmp_path / "avd.db"))
    restarted = ReplayMemory(reopened, now + timedelta(minutes=1))
    assert restarted.claim("command:T1", now + timedelta(minutes=1)) is False  # remembered across the restart
    assert restarted.claim("command:T2", now + timedelta(minutes=1)) is True
    restarted.close()
    reopened.close()


def test_replay_memory_forgets_keys_older_than_a_day_and_keeps_the_rest(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "avd.db"))
    store.migrate()
    t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    memory = ReplayMemory(store, t0)
    for k in range(5000):  # more than the old rebuild threshold, all within the day: all remembered
        assert memory.claim(f"command:K{k}", t0 + timedelta(seconds=k)) is True
    assert len(memory) == 5000
    assert memory.claim("command:K0", t0 + timedelta(hours=23)) is False
    assert memory.claim("command:K0", t0 + timedelta(hours=24, seconds=1)) is True  # a day on: new again
    assert len(memory) == 5000  # K0 again, at its new time; K1 (seen at t0 + 1 s) is exactly a day old: kept
    assert memory.claim("command:L", t0 + timedelta(hours=24, seconds=2500)) is True
    assert len(memory) == 2500 + 2  # K1..K2499 forgotten; K2500..K4999, K0 (at its new time) and L kept
    assert memory.claim("command:K0", t0 + timedelta(hours=24, seconds=2501)) is False
    assert memory.claim("command:K2500", t0 + timedelta(hours=24, seconds=2501)) is True  # seen at 2500 s
    memory.close()
    store.close()


def test_post_ack_work_waits_for_requests_in_flight_but_is_never_starved() -> None:
    gate = AckGate(max_wait=30)
    assert gate.wait() is True  # nothing in flight: runs at once
    released = threading.Event()
    results: list[bool] = []
    with gate.request():
        waiter = threading.Thread(target=lambda: (results.append(gate.wait()), released.set()))
        waiter.start()
        assert not released.wait(0.2)  # still waiting while the request is being acked
        assert gate.in_flight == 1
    assert released.wait(5) and results == [True]  # the last request out lets it run
    waiter.join(5)
    impatient = AckGate(max_wait=0.05)
    with impatient.request():
        assert impatient.wait() is False  # a request that never ends delays work by max_wait only
