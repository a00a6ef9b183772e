"""What keeps the ack fast: shared status reads, the in-memory replay check, post-ack work off Bolt's threads."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.authz import ReplayMemory
from bot.capabilities.status import SharedRead
from bot.store import Store


def test_concurrent_status_reads_share_one_azure_read() -> None:
    shared = SharedRead()
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


def test_a_failed_shared_read_is_not_kept() -> None:
    shared = SharedRead()

    def boom() -> str:
        raise RuntimeError("ARM down")

    with contextlib.suppress(RuntimeError):
        shared.get(boom)
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
