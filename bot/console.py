"""The sandbox console: type ``/avd ...``, press buttons by label, switch user or channel.

Each line is sent as a signed request over HTTP (see ``bot.chat``); the console then prints the ack and
everything the bot posted to the Slack double because of it (ephemerals, channel messages, card edits,
modals), cards rendered as text with their buttons. ``run_script`` replays lines for demos and tests.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.chat import Chat, HttpResponse

QUIET_SECONDS = 0.25  # the double's journal must stay quiet this long before a line is done
REPLY_TIMEOUT = 10.0
HELP = """Console commands:
  /avd ...          run a slash command as the current user in the current channel
  click LABEL       press the button labelled LABEL on the latest card
  as USER           act as another Slack user (e.g. as U0LEAD1)
  in CHANNEL        switch channel (e.g. in C0RANDOM)
  wait TEXT         wait (up to 60 s) until the bot posts something containing TEXT
  sleep SECONDS     pause
  help, quit"""


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else str(obj or "")


def render_blocks(blocks: Iterable[dict[str, Any]]) -> list[str]:
    """Block Kit as plain lines: headers, sections, fields, context, and buttons as ``[Label]``."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text(block.get('text'))} ==")
        elif kind == "section":
            if block.get("text"):
                lines.extend(_text(block["text"]).splitlines())
            lines.extend("  " + _text(f).replace("\n", " ") for f in block.get("fields", []))
            acc = block.get("accessory") or {}
            if acc.get("type") == "button":
                lines.append(f"  [{_text(acc.get('text'))}]")
        elif kind == "context":
            lines.append("  (" + " | ".join(_text(e) for e in block.get("elements", [])) + ")")
        elif kind == "actions":
            labels = [f"[{_text(e.get('text'))}]" for e in block.get("elements", []) if e.get("type") == "button"]
            lines.append("  " + " ".join(labels))
        elif kind == "divider":
            lines.append("  ---")
        elif kind == "input":
            lines.append(f"  {_text(block.get('label'))}: <{(block.get('element') or {}).get('action_id', '')}>")
    return lines


def render_message(text: str, blocks: Any) -> str:
    if isinstance(blocks, str):
        blocks = json.loads(blocks or "[]")
    lines = render_blocks(blocks or []) if blocks else (text or "").splitlines()
    return "\n".join(lines)


def render_ack(resp: HttpResponse) -> str:
    if not resp.text:
        return ""
    if resp.is_json:
        body = resp.json()
        return render_message(body.get("text", ""), body.get("blocks"))
    return resp.text


def describe_call(call: Any) -> dict[str, Any] | None:
    """One journal entry of the double as a transcript item, or None when it is not something users see."""
    args, method = call.args, call.method
    if call.status != 200 or not call.response.get("ok", False):
        return {"kind": "slack_error", "method": method, "error": call.response.get("error", call.status)}
    if method == "chat.postMessage":
        kind = "thread_reply" if args.get("thread_ts") else "message"
    elif method == "chat.update":
        kind = "card_update"
    elif method == "chat.postEphemeral":
        kind = "ephemeral"
    elif method == "response_url":
        kind = "message" if args.get("response_type") == "in_channel" else "ephemeral"
        if args.get("replace_original"):
            kind = "replace_original"
    elif method == "views.open":
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else (view or {})
        return {"kind": "modal", "title": _text(view.get("title")), "text": render_message("", view.get("blocks"))}
    else:
        return None
    return {"kind": kind, "channel": args.get("channel", ""), "text": render_message(args.get("text", ""),
                                                                                       args.get("blocks"))}


@dataclass
class Console:
    chat: Chat
    out: TextIO = field(default_factory=lambda: sys.stdout)
    json_mode: bool = False

    @property
    def prompt(self) -> str:
        return f"{self.chat.user}@{self.chat.channel}> "

    def _new_calls(self, start: int, expect_reply: bool) -> list[Any]:
        """Wait until the double's journal is quiet (and, if expected, has something new)."""
        slack = self.chat.slack
        deadline = time.monotonic() + REPLY_TIMEOUT
        seen, quiet_since = len(slack.calls), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now_seen = len(slack.calls)
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
            got = seen > start
            if (got or not expect_reply) and time.monotonic() - quiet_since >= QUIET_SECONDS:
                break
        return list(slack.calls[start:])

    def run_line(self, line: str) -> dict[str, Any]:
        """Run one console line; returns its transcript entry (``ok`` false when the line failed)."""
        entry: dict[str, Any] = {"line": line, "user": self.chat.user, "channel": self.chat.channel, "ok": True}
        words = line.strip().split(maxsplit=1)
        verb, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
        start = len(self.chat.slack.calls)
        try:
            if verb.startswith("/"):
                resp = self.chat.slash(line)
            elif verb == "click":
                resp = self.chat.click(" ".join(shlex.split(rest)))
            elif verb == "as" and rest:
                self.chat.user = rest.strip()
                return entry
            elif verb == "in" and rest:
                self.chat.channel = rest.strip().lstrip("#")
                return entry
            elif verb == "sleep":
                time.sleep(float(rest or 1))
                return entry
            elif verb == "wait":
                self.chat.wait_for(lambda: any(rest in (d or {}).get("text", "")
                                               for d in map(describe_call, self.chat.slack.calls[start:])), 60)
                entry["posts"] = [d for d in map(describe_call, self.chat.slack.calls[start:]) if d]
                return entry
            elif verb == "help":
                entry["text"] = HELP
                return entry
            else:
                return {**entry, "ok": False, "error": f"unknown console command {verb!r} (try help)"}
        except (LookupError, TimeoutError, ValueError, OSError) as exc:
            return {**entry, "ok": False, "error": str(exc)}
        entry["status"] = resp.status
        entry["ack"] = render_ack(resp)
        entry["ok"] = resp.status == 200
        calls = self._new_calls(start, expect_reply=resp.status == 200 and not resp.text)
        entry["posts"] = [d for d in map(describe_call, calls) if d]
        return entry

    def print_entry(self, entry: dict[str, Any]) -> None:
        if self.json_mode:
            self.out.write(json.dumps(entry) + "\n")
            self.out.flush()
            return
        lines = [f"{entry['user']}@{entry['channel']}> {entry['line']}"]
        if "text" in entry:
            lines.append(entry["text"])
        if entry.get("error"):
            lines.append(f"!! {entry['error']}")
        if entry.get("status", 200) != 200:
            lines.append(f"!! HTTP {entry['status']}")
        if entry.get("ack"):
            lines.append(_indent("(only you) ", entry["ack"]))
        for post in entry.get("posts", []):
            lines.append(_indent(_label(post), post.get("text") or str(post.get("error", ""))))
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()

    def run_script(self, lines: Iterable[str]) -> int:
        """Replay lines (blank lines and ``#`` comments skipped); exit status 1 if any line failed."""
        failed = False
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            entry = self.run_line(line)
            self.print_entry(entry)
            failed = failed or not entry["ok"]
        return 1 if failed else 0

    def interact(self, stdin: TextIO) -> int:
        self.out.write("avd-ops sandbox: type /avd help, or help for console commands.\n")
        while True:
            try:
                line = input(self.prompt) if stdin.isatty() else stdin.readline()
            except EOFError:
                return 0
            if not stdin.isatty() and not line:
                return 0
            line = line.strip()
            if line in ("quit", "exit"):
                return 0
            if line:
                entry = self.run_line(line)
                self.print_entry(entry)


def _label(post: dict[str, Any]) -> str:
    kind = post["kind"]
    return {"ephemeral": "(only you) ", "message": "bot: ", "thread_reply": "  bot (thread): ",
            "card_update": "bot (card edited): ", "replace_original": "bot (replaced): ",
            "modal": f"[modal {post.get('title', '')}] ", "slack_error": f"!! slack {post.get('method')}: "}.get(
        kind, f"{kind}: ")


def _indent(prefix: str, text: str) -> str:
    lines = text.splitlines() or [""]
    pad = " " * len(prefix)
    return "\n".join([prefix + lines[0]] + [pad + line for line in lines[1:]])
