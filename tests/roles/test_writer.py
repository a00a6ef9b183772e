"""The web role's ``InboxWriter``: committed before it returns (``commit``), or queued and flushed (``queue``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.roles import InboxWriter, durable_from_env, env_problems
from bot.storage.sqlite import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "avd.db")
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def rows(store: Store) -> list[dict[str, object]]:
    return list(store.db.query("select kind, payload, user_id, channel, response_url from inbox order by id"))


PAYLOAD = {"text": "status", "user_id": "U1", "channel_id": "C1", "response_url": "http://hook/1"}


def test_commit_mode_returns_once_the_row_is_committed_with_its_columns(store: Store) -> None:
    writer = InboxWriter(store)
    try:
        assert writer("command", PAYLOAD) is True
        assert rows(store) == [
            {
                "kind": "command",
                "payload": '{"text": "status"}',
                "user_id": "U1",
                "channel": "C1",
                "response_url": "http://hook/1",
            }
        ]
    finally:
        writer.close()


def test_concurrent_requests_share_commits_and_every_row_is_written(store: Store) -> None:
    writer = InboxWriter(store)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(writer("command", {**PAYLOAD, "text": f"s{n}"})))
        for n in range(30)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        writer.close()
    assert results == [True] * 30
    assert sorted(r["payload"] for r in rows(store)) == sorted(f'{{"text": "s{n}"}}' for n in range(30))


def test_queue_mode_returns_at_once_and_close_flushes(store: Store) -> None:
    gate = threading.Event()
    writer = InboxWriter(store, durable=False, yield_to=gate.wait)  # holds the batch until the gate opens
    try:
        assert writer("command", PAYLOAD) is True
        assert rows(store) == []
    finally:
        gate.set()
        writer.close()
    assert len(rows(store)) == 1
    assert writer("command", PAYLOAD) is False  # closed: the listener answers "busy"


@pytest.mark.parametrize(
    ("value", "durable"), [("", True), ("commit", True), ("queue", False), ("QUEUE", False)]
)
def test_the_ack_mode_setting(value: str, durable: bool) -> None:
    env = {"AVD_INBOX_ACK": value} if value else {}
    assert durable_from_env(env) is durable
    assert env_problems(env) == []
