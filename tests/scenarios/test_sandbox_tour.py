"""`avd-bot sandbox --script`: the embedded default runs a tour end to end without a human."""

from __future__ import annotations

import io
import json

from bot.sandbox import Sandbox
from sim.slack.console import Console, render_blocks
from tests.kit.sandbox import REPO, run_sandbox

TOUR = REPO / "examples" / "sandbox-tour.txt"


def test_the_tour_runs_to_the_end() -> None:
    result = run_sandbox("--script", str(TOUR))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "/avd replicas add REGION" in out
    assert "did you mean uksouth" in out
    assert "not an avd-ops operator" in out
    assert "Audit: last" in out


def test_json_transcript_from_stdin() -> None:
    result = run_sandbox("--json", stdin="/avd replicas add uksuoth\nclick Approve\n")
    assert result.returncode == 1  # there is no card to click: the line fails, and so does the run
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert entries[0]["ok"] and "did you mean uksouth" in entries[0]["ack"]
    assert not entries[1]["ok"] and "no button labelled 'Approve'" in entries[1]["error"]


def test_console_clicks_buttons_on_the_latest_card() -> None:
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

    from bot.slack.render import Reply
    from commands import ops

    sandbox = Sandbox(with_azure=False)
    chat = sandbox.start()
    try:
        runtime = sandbox.runtime
        assert runtime is not None
        clicks: list[str] = []

        def card(runtime_, ctx, op):
            ctx.client.chat_postMessage(
                channel=ctx.channel_id,
                text="Approve?",
                blocks=[
                    SectionBlock(text="Approval needed: replicas remove uksouth"),
                    ActionsBlock(elements=[ButtonElement(text="Approve", action_id="t_approve", value="a1")]),
                ],
            )
            return None

        runtime.registry.handlers[ops.ReplicasRemove] = card

        @runtime.app.action("t_approve")
        def approve(ack, body, respond):
            ack()
            clicks.append(body["user"]["id"])
            respond(**Reply(text="approved").to_dict())

        out = io.StringIO()
        assert (
            Console(chat, out=out).run_script(["/avd replicas remove uksouth", "as U0LEAD1", "click Approve"])
            == 0
        )
        assert clicks == ["U0LEAD1"]
        assert "[Approve]" in out.getvalue() and "approved" in out.getvalue()
    finally:
        sandbox.stop()


def test_render_blocks_shows_buttons_and_context() -> None:
    lines = render_blocks(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "Card"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "simulated Azure"}]},
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Approve"}},
                    {"type": "button", "text": {"type": "plain_text", "text": "Reject"}},
                ],
            },
        ]
    )
    assert lines == ["== Card ==", "  (simulated Azure)", "  [Approve] [Reject]"]
