"""The sandbox console as a newcomer meets it: modal submits, card edits shown as changes, help, typos,
Ctrl-D on a real terminal (a pty), and the sandbox's time-scaled copy of the example config."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot.sandbox import Sandbox, example_config, scaled_config
from sim.slack import transcript
from sim.slack.chat import Chat
from sim.slack.console import HELP, Console, form_values
from tests.kit.sandbox import REPO


@pytest.fixture(name="console")
def console_fixture() -> Iterator[tuple[Console, io.StringIO]]:
    sandbox = Sandbox(with_azure=False)
    chat: Chat = sandbox.start()
    out = io.StringIO()
    try:
        yield Console(chat, out=out), out
    finally:
        sandbox.stop()


def test_submit_sends_the_modal_defaults_and_reports_form_errors(
    console: tuple[Console, io.StringIO],
) -> None:
    con, _ = console
    opened = con.run_line("/avd scaleset create dr")
    assert opened["ok"] and opened["posts"][0]["kind"] == "modal"
    assert "Instances: capacity=0" in opened["posts"][0]["text"]
    bad = con.run_line("submit instances=-1 name=EntraDR")
    assert not bad["ok"] and "capacity: Expected a whole number" in bad["ack"]
    unknown = con.run_line("submit colour=blue")
    assert not unknown["ok"] and "the form has no field 'colour'" in unknown["error"]
    sent = con.run_line("submit")  # accepted: the ack is empty and the bot answers in the channel
    assert sent["ok"] and sent["status"] == 200 and not sent["ack"]
    again = con.run_line("submit")
    assert not again["ok"] and "no modal is open" in again["error"]


def test_console_help_typos_and_unknown_lines(console: tuple[Console, io.StringIO]) -> None:
    con, out = console
    assert con.run_script(["help", "status", "/avd stauts"]) == 1
    text = out.getvalue()
    assert HELP in text and "submit [NAME=VALUE]" in text
    assert "unknown console command 'status' (did you mean /avd status?)" in text
    assert "did you mean status?" in text


def _view(*inputs: dict[str, Any]) -> dict[str, Any]:
    return {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}, *inputs]}


def _input(action: str, label: str, **element: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": action,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": action, **element},
    }


def test_form_values_by_action_id_or_label() -> None:
    view = _view(
        _input("name", "Scale set name", initial_value="EntraDR"),
        _input("capacity", "Instances", initial_value="0"),
        _input("join_type", "Instances join", initial_option={"value": "entra"}),
        _input("domain", "AD domain"),
    )
    assert form_values(view, {}) == {"name": "EntraDR", "capacity": "0", "join_type": "entra"}
    assert form_values(view, {"instances": "3", "scale_set_name": "X"})["capacity"] == "3"
    assert form_values(view, {"Name": "Y"})["name"] == "Y"
    with pytest.raises(LookupError, match="fields: capacity, domain, join_type, name"):
        form_values(view, {"vm": "D2"})


def _call(method: str, ok: bool = True, **args: Any) -> Any:
    return SimpleNamespace(
        method=method, args=args, status=200, response={"ok": ok, "ts": args.get("ts", "1.1")}
    )


def _card(state: str, step: str) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Job 1: Scale"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f":gear: *{state}*\n{step}"}},
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Cancel"}}],
        },
    ]


def test_card_edits_show_only_what_changed() -> None:
    cards = transcript.Cards()
    post = transcript.describe_call(
        _call(
            "chat.postMessage", channel="C1", ts="1.1", text="t", blocks=_card("queued", "1. scale - pending")
        )
    )
    assert post is not None
    first = cards.fold([post])
    assert first[0]["kind"] == "message" and "[Cancel]" in first[0]["text"]
    edits = [
        transcript.describe_call(
            _call(
                "chat.update",
                channel="C1",
                ts="1.1",
                text="t",
                blocks=_card("running", f"1. scale - running {p}%"),
            )
        )
        for p in (10, 60)
    ]
    folded = cards.fold([e for e in edits if e])
    assert len(folded) == 1  # two edits of one card in one line: the latest wins
    assert transcript.post_text(folded[0]) == "== Job 1: Scale ==\n⚙ *running*\n1. scale - running 60%"
    assert transcript.label(folded[0], "U0OPS1") == "bot (card updated): "
    same = transcript.describe_call(
        _call(
            "chat.update", channel="C1", ts="1.1", text="t", blocks=_card("running", "1. scale - running 60%")
        )
    )
    assert same is not None
    assert cards.fold([same]) == []  # an edit nobody could see is not printed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (":large_green_circle: *Image replica*", "[green] *Image replica*"),
        (":red_circle: ask <@U0LEAD1> in <#C0INCIDENT|incident>", "[RED] ask @U0LEAD1 in #C0INCIDENT"),
        (":x: Job 3 failed :unknown_emoji:", "✗ Job 3 failed :unknown_emoji:"),
    ],
)
def test_plain_text_for_a_terminal(text: str, shown: str) -> None:
    assert transcript.plain(text) == shown


def test_indent_wraps_under_the_prefix() -> None:
    wrapped = transcript.indent("bot: ", "first line\n" + "word " * 20, width=40).splitlines()
    assert wrapped[0] == "bot: first line"
    assert all(len(line) <= 40 and line.startswith("     ") for line in wrapped[1:])
    assert len(wrapped) > 2


def test_scaled_config_keeps_the_failover_proportions() -> None:
    text = example_config().read_text(encoding="utf-8")
    assert scaled_config(text, 120.0) == text
    fast = scaled_config(text, 600.0)
    assert "user_grace_seconds = 6 " in fast and "primary_timeout_seconds = 12 " in fast
    assert "user_grace_seconds = 1 " in scaled_config(text, 1e6)
    assert "dr_capacity = 2 " in fast


def _read_until(fd: int, needle: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not seen in {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_interactive_console_on_a_terminal_exits_on_ctrl_d() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    env["COLUMNS"] = "100"
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox"],
        cwd=REPO,
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    try:
        assert b"Ctrl-D to leave" in _read_until(main, b"U0OPS1@C0INCIDENT> ")
        os.write(main, b"/avd stauts\n")
        typo = _read_until(main, b"U0OPS1@C0INCIDENT> ")
        assert b"did you mean status?" in typo
        os.write(main, b"as U0LEAD1\n")
        _read_until(main, b"U0LEAD1@C0INCIDENT> ")
        os.write(main, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
