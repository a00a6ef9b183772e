"""Request signing and authorization over real HTTP: bad requests run nothing and write nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bot.storage import audit
from tests.kit import BotHandle, Chat, post, signed_request, slash_command_body
from tests.kit.signing import (
    SECRET,
    body_altered_after_signing,
    future_timestamp,
    no_signature,
    stale_timestamp,
    timestamp_header_swapped,
    wrong_signature,
)


def _body(chat: Chat, text: str = "replicas add uksouth") -> str:
    return slash_command_body(
        text,
        user="U0OPS1",
        channel="C0INCIDENT",
        response_url=chat.slack.new_response_url("C0INCIDENT", "U0OPS1"),
        trigger_id=chat.slack.new_trigger_id(),
    )


@pytest.mark.parametrize(
    "forge",
    [
        no_signature,
        wrong_signature,
        stale_timestamp,
        future_timestamp,
        body_altered_after_signing,
        timestamp_header_swapped,
    ],
)
def test_unverified_requests_get_401_and_change_nothing(
    chat: Chat, bot_server: BotHandle, forge: Callable[[str], tuple[str, dict[str, str]]]
) -> None:
    store = bot_server.runtime.store
    before_audit, before_calls = audit.count(store), len(chat.slack.calls)
    body, headers = forge(_body(chat))
    resp = post(chat.events_url, body, headers)
    assert resp.status == 401
    time.sleep(0.1)  # anything the bot would have done after an ack would show by now
    assert len(chat.slack.calls) == before_calls
    assert audit.count(store) == before_audit
    assert chat.ephemerals("U0OPS1") == []


def test_a_correctly_signed_request_is_accepted(chat: Chat, bot_server: BotHandle) -> None:
    body = _body(chat, "audit")
    resp = post(chat.events_url, body, signed_request(SECRET, body))
    assert resp.status == 200
    chat.wait_for(lambda: audit.count(bot_server.runtime.store) == 1)


@pytest.mark.parametrize(
    ("user", "channel", "reason"),
    [
        ("U0GUEST", "C0INCIDENT", "not an avd-ops operator"),
        ("U0OPS1", "C0RANDOM", "only runs in the incident channel"),
        ("U0OPS1", "D0DIRECT", "only runs in the incident channel"),
    ],
)
def test_refused_with_an_ephemeral_explanation_and_an_audit_row(
    chat: Chat, bot_server: BotHandle, user: str, channel: str, reason: str
) -> None:
    before = len(chat.slack.calls)
    resp = chat.slash("/avd replicas remove uksouth", user=user, channel=channel)
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain")  # text/plain acks are shown to the user only
    assert reason in resp.text
    bot_server.runtime.replay.flush()  # the row is written after the ack
    rows = audit.recent(bot_server.runtime.store)
    assert len(rows) == 1
    assert (rows[0]["actor"], rows[0]["action"], rows[0]["outcome"]) == (user, "refused", "refused")
    assert rows[0]["target"] == "/avd replicas remove uksouth"
    assert rows[0]["detail"]["channel"] == channel
    assert rows[0]["detail"]["reason"] in ("not_operator", "channel_not_allowed")
    time.sleep(0.1)
    assert [c.method for c in chat.slack.calls[before:]] == []  # nothing posted, nothing run


def test_even_help_is_refused_to_a_guest(chat: Chat) -> None:
    assert "not an avd-ops operator" in chat.slash("/avd help", user="U0GUEST").text
