"""Rendering is pure data: Block Kit limits are checked before anything is sent."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import HeaderBlock

from avdcore.errors import Busy
from bot.slack import render
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
    text = str(render.coming_soon("status", simulated=simulated).to_dict())
    assert ("simulated Azure" in text) is simulated


def test_job_detail_and_lists() -> None:
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
    text = render.job_detail(job, steps).text
    assert "Job #7" in text and "2. add replica: *failed* (locked)" in text and "Error: ScopeLocked" in text
    assert "#7" in render.jobs_list([job]).text
    assert render.jobs_list([]).text == "No jobs yet."


def test_refusals_are_plain_text() -> None:
    assert "not an avd-ops operator" in render.not_operator("U0GUEST")
    assert "<#C0RANDOM>" in render.channel_not_allowed("C0RANDOM")
    assert "`abcd1234`" in render.internal_error("abcd1234")
