"""An inbox row whose work stopped because the database was unreachable is given back and runs again; any other
failure is reported and the row marked done (``bot.roles.Worker``), on both backends."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import PoolTimeout

from bot.roles import RETRIES, Worker
from bot.storage import Store, inbox
from bot.storage.inbox import NewItem
from tests.kit.waiting import wait_until

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def lost(store: Store) -> Exception:
    """What the store raises once its retries are spent (SQLite: locked past its busy timeout; PostgreSQL: no
    connection from the pool, the server gone)."""
    if store.backend == "sqlite":
        return sqlite3.OperationalError("database is locked")
    return PoolTimeout("couldn't get a connection after 15.00 sec")


@dataclass
class World:
    """What ``Worker`` reads of a runtime: the store and the inbox handlers."""

    store: Store
    inbox_handlers: dict[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)


@pytest.fixture
def store(fresh_store: Store) -> Store:
    fresh_store.migrate()
    return fresh_store


@pytest.fixture
def run_worker(store: Store) -> Iterator[Callable[[Callable[[dict[str, Any]], None]], list[str]]]:
    """Start a worker whose ``command`` handler is ``handler``; returns the texts it was called with."""
    workers: list[Worker] = []

    def start(handler: Callable[[dict[str, Any]], None]) -> list[str]:
        calls: list[str] = []
        lock = threading.Lock()

        def handle(payload: dict[str, Any]) -> None:
            with lock:
                calls.append(payload["text"])
            handler(payload)

        world = World(store, {"command": handle})
        workers.append(Worker(world, name="w1", lease=30.0, poll=0.01).start())  # type: ignore[arg-type]
        return calls

    yield start
    for worker in workers:
        worker.stop()


def done(store: Store, row: int) -> bool:
    item = inbox.get(store, row)
    return item is not None and item.done_at is not None


def test_work_stopped_by_an_unreachable_database_runs_again_and_then_is_done(
    store: Store, run_worker: Callable[..., list[str]]
) -> None:
    failures = [lost(store)]

    def handler(payload: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()

    calls = run_worker(handler)
    (row,) = inbox.record(store, [NewItem("command", {"text": "approve a1"}, user_id="U1")], NOW)
    wait_until(lambda: done(store, row), what="the row done")
    assert calls == ["approve a1", "approve a1"]


def test_a_fault_of_the_work_itself_is_not_run_again(
    store: Store, run_worker: Callable[..., list[str]]
) -> None:
    def handler(payload: dict[str, Any]) -> None:
        raise ValueError("a bug")

    calls = run_worker(handler)
    (row,) = inbox.record(store, [NewItem("command", {"text": "status"}, user_id="U1")], NOW)
    wait_until(lambda: done(store, row), what="the row done")
    assert calls == ["status"]


def test_a_row_that_keeps_meeting_an_unreachable_database_stops_after_its_retries(
    store: Store, run_worker: Callable[..., list[str]]
) -> None:
    def handler(payload: dict[str, Any]) -> None:
        raise lost(store)

    calls = run_worker(handler)
    (row,) = inbox.record(store, [NewItem("command", {"text": "failover start"}, user_id="U1")], NOW)
    (other,) = inbox.record(store, [NewItem("command", {"text": "help"}, user_id="U1")], NOW)
    wait_until(lambda: done(store, row) and done(store, other), what="both rows done")
    assert calls.count("failover start") == RETRIES and calls.count("help") == RETRIES
