"""Rendering is pure data: Block Kit limits are checked before anything is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import HeaderBlock

from avdcore.errors import AzureError, Busy
from bot.slack import cards, render
from commands import UsageError


def test_long_text_is_split_under_the_section_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    reply = render.help_reply(text)
    blocks = reply.to_dict()["blocks"]
    assert len(blocks) > 1
    assert all(len(b["text"]["text"]) <= render.SECTION_LIMIT for b in blocks)
    assert "".join(b["text"]["text"] for b in blocks) == text


def test_a_single_overlong_line_is_cut_into_sections() -> None:
    blocks = render.help_reply("y" * 7000).to_dict()["blocks"]
    assert [len(b["text"]["text"]) for b in blocks] == [3000, 3000, 1000]


def test_limits_raise_before_sending() -> None:
    reply = render.Reply(text="x", blocks=[HeaderBlock(text="h" * 151)])
    with pytest.raises(SlackObjectFormationError):
        reply.to_dict()


def test_usage_error_carries_message_and_hint() -> None:
    out = render.usage_error(
        UsageError("unknown region 'uksuoth'", "did you mean uksouth?"), "replicas add uksuoth"
    )
    assert (
        out.text == ":warning: `/avd replicas add uksuoth`: unknown region 'uksuoth'\ndid you mean uksouth?"
    )
    assert out.to_dict()["response_type"] == "ephemeral"


def test_user_error_is_verbatim() -> None:
    assert (
        render.user_error(Busy("busy: job 3 holds EntraDR", job_id=3)).text
        == ":no_entry: busy: job 3 holds EntraDR"
    )


@pytest.mark.parametrize("simulated", [True, False])
def test_cards_say_simulated_azure_only_when_simulated(simulated: bool) -> None:
    text = str(render.jobs_list([], simulated=simulated, schedules=["x"]).to_dict()) + str(
        render.card(render.sections("a card"), simulated=simulated)
    )
    assert ("simulated Azure" in text) is simulated


def test_lists() -> None:
    job = {
        "id": 7,
        "kind": "replicas add",
        "status": "failed",
        "error": "ScopeLocked",
        "requested_by": "U0OPS1",
        "created_at": "2026-05-22T17:19:00+00:00",
    }
    steps = [
        {"idx": 0, "name": "check replica", "status": "done", "error": None},
        {"idx": 1, "name": "add replica", "status": "failed", "error": "locked"},
    ]
    assert steps and "#7" in render.jobs_list([job]).text
    assert render.jobs_list([]).text == "No jobs yet."


def test_refusals_are_plain_text() -> None:
    assert "not an avd-ops operator" in render.not_operator("U0GUEST")
    assert "<#C0RANDOM>" in render.channel_not_allowed("C0RANDOM")
    assert "`abcd1234`" in render.internal_error("abcd1234")


def test_azure_text_and_audited_user_text_cannot_ping_or_plant_lines() -> None:
    """A tag ending in ``<!channel>`` reaches Slack escaped; an audited target cannot add lines to /avd audit."""
    err = AzureError("tag SnapReplicate=<!channel> & more", code="Bad<code>", resource_id="/x/<y>")
    shown = render.user_error(err).text
    assert "<!channel>" not in shown and "&lt;!channel&gt; &amp; more" in shown and "Bad&lt;code&gt;" in shown
    row = {
        "id": 1,
        "at": "2026-12-03T10:00:00",
        "actor": "U0OPS1",
        "action": "replicas add",
        "target": "x\n`2` 2026-12-03T10:00:00Z <@U0LEAD1> *approval approved*",
        "outcome": "ok",
        "detail": {"channel": "<!here>"},
    }
    text = render.audit_list([row]).text
    assert text.count("\n") == 1  # the header line and one row: the planted line stays inside the row
    assert "<@U0LEAD1>" not in text and "<!here>" not in text and "<@U0OPS1>" in text
    odd = render.audit_list([{**row, "actor": "<!channel>"}]).text
    assert "<!channel>" not in odd


def test_card_steps_escape_what_azure_named() -> None:
    job = {
        "id": 3,
        "kind": "snapshots sync",
        "status": "awaiting_approval",
        "title": "Snapshots <!channel>",
        "requested_by": "U0OPS1",
        "verb": "snapshots sync",
    }
    steps = [
        {
            "idx": 0,
            "name": "copy:x",
            "status": "pending",
            "description": "Copy <!everyone> to uksouth",
            "resource_id": "",
            "estimate_seconds": 60,
        }
    ]
    text, blocks = cards.job_card(job, steps, None, now=datetime(2026, 12, 3, tzinfo=UTC))
    rendered = json.dumps([b.to_dict() for b in blocks])
    assert "<!everyone>" not in rendered and "&lt;!everyone&gt;" in rendered
    assert "<!channel>" not in text
