"""The all-in-one process (``avd-bot serve``, role ``all``) on PostgreSQL records each request in the inbox before
its ack, as a web process does, and works the rows itself (``bot.roles.records_before_ack`` / ``start_all``): an
Approve press Slack saw answered 200 is already committed then, so a process (or a region, with the synchronous
standby) lost right after the ack loses nothing acknowledged. On SQLite the all role works from memory."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from bot.roles import InboxWriter
from bot.slack import cards
from bot.storage import jobs
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat, clean_env, start_bot
from tests.kit.postgres import PgServer, bindir
from tests.kit.region import query
from tests.kit.replicas import (  # noqa: F401 - fixtures
    LEAD,
    OPS,
    bot_fixture,
    fast_azure_fixture,
    wait,
)

needs_postgres = pytest.mark.skipif(bindir() is None, reason="PostgreSQL is not installed")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    if bindir() is None:
        pytest.skip("PostgreSQL is not installed")
    with PgServer.started() as server:
        yield server


@pytest.fixture
def pg_bot(
    tmp_path: Path,
    slack_sim: SlackSim,
    fast_azure: AzureSim,
    monkeypatch: pytest.MonkeyPatch,
    pg_server: PgServer,
) -> Iterator[tuple[BotHandle, str]]:
    name = f"all_role_{next(_names)}"
    url = pg_server.create_database(name)
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_sim.url, arm=fast_azure.url, ca=fast_azure.ca_path, AVD_DB=url)
    handle.runtime.azure = AzureClients(
        fast_azure.url, fast_azure.ca_path, polling_interval=0.05, retry_total=0
    )
    try:
        yield handle, url
    finally:
        handle.stop()
        pg_server.drop_database(name)


def inbox_kinds(url: str) -> list[str]:
    return [str(r["kind"]) for r in query(url, "select kind from inbox order by id")]


def approval(url: str) -> dict[str, Any] | None:
    found = query(url, "select id, job_id, status from approvals where message_ts is not null order by id")
    return found[0] if found else None


@needs_postgres
def test_on_postgresql_an_approve_press_is_committed_before_slack_sees_its_ack(
    pg_bot: tuple[BotHandle, str], slack_sim: SlackSim
) -> None:
    handle, url = pg_bot
    assert isinstance(handle.runtime.defer, InboxWriter)  # role all, recording before the ack
    chat = Chat(handle.url, slack_sim, handle.signing_secret)
    assert chat.slash("/avd snapshots sync gold-to-dr", user=OPS).status == 200
    assert inbox_kinds(url) == ["command"]  # the command's row, committed before its 200
    card = wait(lambda: approval(url), 20)
    assert card["status"] == "pending"

    assert chat.click("Approve", user=LEAD).status == 200
    # read at once, no waiting: the press's row was committed before the 200 (AVD_INBOX_ACK=commit)
    assert inbox_kinds(url) == ["command", f"action:{cards.APPROVE}"]

    # and the process works its own rows: the approval is decided and the approved job runs to its end (waited
    # for, so no job thread still reads the store when the test stops the bot)
    wait(lambda: (approval(url) or {}).get("status") == "approved", 20)
    job = wait(
        lambda: (
            (j := jobs.get_job(handle.runtime.store, int(card["job_id"])))
            and j["status"] in jobs.TERMINAL
            and j
        ),
        60,
    )
    assert job["status"] == jobs.DONE, job.get("error")
    handled = "select count(*) as n from inbox where done_at is not null"
    wait(lambda: query(url, handled)[0]["n"] == 2, 20)


def test_on_sqlite_the_all_role_works_from_memory(bot: BotHandle) -> None:
    assert bot.runtime.defer is None
    assert "inbox" in bot.runtime.store.db.table_names()
    assert not list(bot.runtime.store.db.query("select id from inbox"))
