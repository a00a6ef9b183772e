"""Bounds on the /avd path: a per-user rate limit answered in the ack, "busy" when the work pool is full,
and refusals audited after the ack (a locked database cannot hold the answer)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import BUSY_TEXT, BoundedPool, PoolFull
from bot.slack import cards
from bot.slack.authz import RateLimit
from bot.storage import audit
from sim.slack import SlackSim
from sim.slack.chat import block_actions_payload, interactivity_body
from tests.kit import BotHandle, Chat, clean_env, start_bot, wait_until


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_per_user() -> None:
    clock = FakeMonotonic()
    limit = RateLimit(burst=3, every=3.0, monotonic=clock)
    assert [limit.take("U1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("U1") == 3.0  # the bucket is empty: one token in 3 s
    assert limit.take("U2") == 0.0  # another user has a bucket of their own
    clock.now += 1.5
    assert limit.take("U1") == 1.5
    clock.now += 1.5
    assert limit.take("U1") == 0.0
    clock.now += 60
    assert [limit.take("U1") for _ in range(4)] == [0.0, 0.0, 0.0, 3.0]  # refills to the burst, no more


def test_users_with_a_full_bucket_are_forgotten_at_most_once_per_refill_period() -> None:
    clock = FakeMonotonic()
    limit = RateLimit(burst=3, every=3.0, monotonic=clock)
    for k in range(5000):  # all still refilling: none can be forgotten, and no take copies them all again
        assert limit.take(f"U{k}") == 0.0
    assert len(limit) == 5000
    clock.now += 9.0  # every bucket is full again
    assert limit.take("U-new") == 0.0
    assert len(limit) == 1  # forgotten: a full bucket is what a new user gets anyway
    assert [limit.take("U0") for _ in range(4)] == [0.0, 0.0, 0.0, 3.0]


@pytest.fixture
def limited(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    """A bot with the product's rate limit (the kit lifts it for scenario tests): AVD_COMMAND_BURST unset."""
    clean_env(monkeypatch)
    bot = start_bot(tmp_path, slack_sim.url, AVD_COMMAND_BURST="")
    try:
        yield Chat(bot.url, slack_sim, bot.signing_secret)
    finally:
        bot.stop()


def test_a_user_past_the_rate_limit_is_told_when_to_retry(limited: Chat) -> None:
    """30 commands at once: the 10-command burst plus a refill of one every 3 s cannot cover them."""
    chat = limited
    answers = [chat.slash("/avd help", user="U0OPS1").text for _ in range(30)]
    refused = [a for a in answers if "Too many commands: try again in" in a]
    assert refused and "up to 10 at once, then one every 3 s" in refused[0]
    assert answers[0] != refused[0]  # the burst was answered
    assert "Too many commands" not in chat.slash("/avd help", user="U0OPS2").text


def test_a_bounded_pool_refuses_past_its_limit() -> None:
    release = threading.Event()
    pool = BoundedPool(1, limit=2, thread_name_prefix="test-pool")
    try:
        futures = [pool.submit(release.wait), pool.submit(release.wait)]
        assert not pool.has_room()
        try:
            pool.submit(release.wait)
            raise AssertionError("a third task was queued")
        except PoolFull as err:
            assert str(err) == BUSY_TEXT
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert all(f.result() for f in futures)
    assert pool.held == 0 and pool.has_room()


def test_a_full_work_pool_answers_busy_in_the_ack(chat: Chat, bot_server: BotHandle) -> None:
    runtime = bot_server.runtime
    release = threading.Event()
    held = 0
    try:
        while runtime.workers.has_room():
            runtime.workers.submit(release.wait)
            held += 1
        answer = chat.slash("/avd jobs", user="U0OPS1")
    finally:
        release.set()
    assert held > 0 and BUSY_TEXT in answer.text
    wait_until(lambda: runtime.workers.held == 0, what="the pool drained")
    assert BUSY_TEXT not in chat.slash("/avd jobs", user="U0OPS1").text


def test_a_refusal_is_answered_before_its_audit_row_is_written(chat: Chat, bot_server: BotHandle) -> None:
    """With the database locked by another writer, the refusal still answers at once; the row follows."""
    store = bot_server.runtime.store
    before = audit.count(store)
    blocker = sqlite3.connect(bot_server.settings.db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock until the answer is back
        answer = chat.slash("/avd replicas remove uksouth", user="U0GUEST")
        written_meanwhile = blocker.execute("select count(*) from audit").fetchone()[0] - before
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert "not an avd-ops operator" in answer.text
    assert written_meanwhile == 0
    bot_server.runtime.replay.flush()
    rows = audit.recent(store, 1)
    assert (rows[0]["actor"], rows[0]["outcome"], rows[0]["detail"]["reason"]) == (
        "U0GUEST",
        "refused",
        "not_operator",
    )


def test_a_button_pressed_while_the_work_pool_is_full_is_told_busy(chat: Chat, bot_server: BotHandle) -> None:
    """A press the full pool cannot take is answered "busy" to the presser, not dropped with a log line."""
    runtime = bot_server.runtime
    release = threading.Event()
    try:
        while runtime.workers.has_room():
            runtime.workers.submit(release.wait)
        payload = block_actions_payload(
            {"ts": "1.000"},
            "job:1",
            {"action_id": cards.RETRY, "value": "1", "text": {"type": "plain_text", "text": "Retry"}},
            user="U0LEAD1",
            channel="C0INCIDENT",
            response_url=chat.slack.new_response_url("C0INCIDENT", "U0LEAD1"),
            trigger_id=chat.slack.new_trigger_id(),
        )
        assert chat.send(interactivity_body(payload)).status == 200
        told = chat.wait_for_ephemeral("U0LEAD1", contains="busy")
    finally:
        release.set()
    assert BUSY_TEXT in told["text"]
