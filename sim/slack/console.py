"""The sandbox console: type ``/avd ...``, press buttons by label, submit modals, switch user or channel.

Each line is sent as a signed request over HTTP (see ``sim.slack.chat``); the console then prints the ack and
everything the bot posted to the Slack double since the last line (ephemerals, channel messages, thread
replies, modals), cards as text with their buttons, and an edit of a card already shown as "card updated"
with the lines that changed. Interactively, what jobs post in the background is printed as it arrives.
``run_script`` replays lines for demos and tests.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from sim.slack import transcript
from sim.slack.chat import Chat, HttpResponse
from sim.slack.transcript import describe_call, render_ack, render_blocks, render_message

__all__ = ["Console", "render_blocks", "render_message", "describe_call", "render_ack", "HELP"]

QUIET_SECONDS = 0.25  # the double's journal must stay quiet this long before a line is done
REPLY_TIMEOUT = 10.0
WAIT_TIMEOUT = 90.0
WATCH_SECONDS = 0.3
SETTLE_SECONDS = 15.0
HELP = """Console commands:
  /avd ...              run a slash command as the current user in the current channel
  click LABEL           press the button labelled LABEL on the newest card that has one
  submit [NAME=VALUE]   submit the open modal with its defaults, or override fields (submit instances=0)
  as USER               act as another Slack user (operators U0OPS1 U0OPS2, approvers U0LEAD1 U0LEAD2, U0GUEST)
  in CHANNEL            switch channel (C0INCIDENT is allowed, C0RANDOM is not)
  wait TEXT             wait (up to 90 s) until the bot posts something containing TEXT
  sleep SECONDS         pause
  help                  this list; /avd help lists the bot's commands
  quit                  leave (Ctrl-D too)"""


def form_values(view: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Every input of ``view`` at its initial value, then ``overrides`` by action id or label (``instances``)."""
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("type") != "input" or not element.get("action_id"):
            continue
        action = str(element["action_id"])
        names[action.lower()] = action
        label = str((block.get("label") or {}).get("text", "")).lower()
        names.setdefault(label.replace(" ", "_"), action)
        names.setdefault(label.split(" ")[0] if label else action, action)
        value = transcript.input_value(element).partition("=")[2]
        if value:
            values[action] = value
    for key, value in overrides.items():
        found = names.get(key.lower())
        if found is None:
            raise LookupError(
                f"the form has no field {key!r}; fields: {', '.join(sorted(set(names.values())))}"
            )
        values[found] = value
    return values


@dataclass
class Console:
    chat: Chat
    out: TextIO = field(default_factory=lambda: sys.stdout)
    json_mode: bool = False
    cursor: int = 0  # journal entries already shown
    mark: int = 0  # where the last action line started: ``wait`` looks from here
    cards: transcript.Cards = field(default_factory=transcript.Cards)
    submitted: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    idle: Callable[[float], bool] | None = None  # the bot's "Slack writes done" wait (sandbox: Progress)
    width: int | None = None  # wrap printed lines at this width (the terminal's, interactively)

    @property
    def prompt(self) -> str:
        return f"{self.chat.user}@{self.chat.channel}> "

    def _quiet(self, start: int, expect_reply: bool) -> None:
        """Wait until the double's journal is quiet and, if ``expect_reply``, holds an answer since ``start``
        (anything but an edit of a card: progress edits of older jobs do not answer this line)."""
        slack = self.chat.slack
        deadline = time.monotonic() + REPLY_TIMEOUT
        seen, quiet_since = len(slack.calls), time.monotonic()
        answered = not expect_reply
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if len(slack.calls) != seen:
                seen, quiet_since = len(slack.calls), time.monotonic()
            answered = answered or any(_answers(c) for c in slack.calls[start:seen])
            if answered and time.monotonic() - quiet_since >= QUIET_SECONDS:
                return

    def _wait(self, text: str) -> None:
        """Until a post since the last action contains ``text``; a job failing meanwhile ends the wait."""

        def seen() -> str | None:
            for item in map(describe_call, self.chat.slack.calls[self.mark :]):
                said = str((item or {}).get("text", ""))
                if text in said:
                    return "found"
                if item and item["kind"] == "thread_reply" and re.search(r"^✗ Job \d+ .* failed", said):
                    return said.splitlines()[0]
            return None

        found = self.chat.wait_for(seen, WAIT_TIMEOUT)
        if found != "found":
            raise LookupError(f"gave up waiting for {text!r}: {found}")
        self.settle()

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Let the bot's pending card edits reach the double (``idle``, when given), then a quiet journal."""
        if self.idle is not None:
            self.idle(timeout)
        self._quiet(len(self.chat.slack.calls), expect_reply=False)

    def take_posts(self) -> list[dict[str, Any]]:
        """Everything posted since the last call, as transcript items (card edits folded)."""
        calls = list(self.chat.slack.calls[self.cursor :])
        self.cursor += len(calls)
        return self.cards.fold([d for d in map(describe_call, calls) if d])

    def _submit(self, rest: str) -> HttpResponse:
        views = [v for v in self.chat.slack.views if v["id"] not in self.submitted]
        if not views:
            raise LookupError("no modal is open: /avd scaleset create opens one")
        overrides = dict(word.partition("=")[::2] for word in shlex.split(rest))
        view = {**views[-1]["view"], "id": views[-1]["id"]}
        resp = self.chat.submit(form_values(view, overrides), view=view)
        if resp.status == 200 and not resp.text:
            self.submitted.add(views[-1]["id"])
        return resp

    def run_line(self, line: str) -> dict[str, Any]:
        """Run one console line; returns its transcript entry (``ok`` false when the line failed)."""
        with self.lock:
            return self._run(line)

    def _run(self, line: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "line": line,
            "user": self.chat.user,
            "channel": self.chat.channel,
            "ok": True,
        }
        words = line.strip().split(maxsplit=1)
        verb, rest = (words[0].lower(), words[1] if len(words) > 1 else "") if words else ("", "")
        start = len(self.chat.slack.calls)
        try:
            if verb.startswith("/"):
                self.mark = start
                resp = self.chat.slash(line.strip())
            elif verb == "click" and rest:
                self.mark = start
                resp = self.chat.click(" ".join(shlex.split(rest)))
            elif verb == "submit":
                self.mark = start
                resp = self._submit(rest)
            elif verb == "as" and rest:
                self.chat.user = rest.strip().lstrip("@")
                return entry
            elif verb == "in" and rest:
                self.chat.channel = rest.strip().lstrip("#")
                return entry
            elif verb == "sleep":
                time.sleep(float(rest or 1))
                entry["posts"] = self.take_posts()
                return entry
            elif verb == "wait" and rest:
                self._wait(rest.strip())
                entry["posts"] = self.take_posts()
                return entry
            elif verb == "help":
                entry["text"] = HELP
                return entry
            else:
                hint = " (did you mean /avd " + line.strip() + "?)" if verb in _AVD_VERBS else " (try help)"
                return {**entry, "ok": False, "error": f"unknown console command {verb!r}{hint}"}
        except (LookupError, TimeoutError, ValueError, OSError) as exc:
            entry.update(ok=False, error=str(exc) or type(exc).__name__, posts=self.take_posts())
            return entry
        entry["status"] = resp.status
        entry["ack"] = render_ack(resp)
        entry["ok"] = resp.status == 200 and not entry["ack"].startswith("the form has errors")
        self._quiet(start, expect_reply=resp.status == 200 and not resp.text)
        entry["posts"] = self.take_posts()
        return entry

    def format_entry(self, entry: dict[str, Any], *, echo: bool = True) -> str:
        lines = [f"{entry['user']}@{entry['channel']}> {entry['line']}"] if echo else []
        if "text" in entry:
            lines.append(entry["text"])
        if entry.get("error"):
            lines.append(f"!! {entry['error']}")
        if entry.get("status", 200) != 200:
            lines.append(f"!! HTTP {entry['status']}")
        if entry.get("ack"):
            lines.append(transcript.indent("(only you) ", entry["ack"], self.width))
        for post in entry.get("posts", []):
            lines.append(
                transcript.indent(
                    transcript.label(post, entry["user"]), transcript.post_text(post), self.width
                )
            )
        return "\n".join(lines)

    def print_entry(self, entry: dict[str, Any], *, echo: bool = True) -> None:
        if self.json_mode:
            self.out.write(json.dumps(entry) + "\n")
        else:
            self.out.write(self.format_entry(entry, echo=echo) + "\n\n")
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
        with self.lock:
            self.settle()
            posts = self.take_posts()
        if posts:
            self.print_entry(
                {
                    "line": "# (end of script: what the bot posted since)",
                    "user": self.chat.user,
                    "channel": self.chat.channel,
                    "ok": True,
                    "posts": posts,
                }
            )
        return 1 if failed else 0

    # ---- interactive ------------------------------------------------------------------------------

    def _watch(self, stop: threading.Event) -> None:
        """Print what jobs post between lines, then redraw the prompt and what was typed so far."""
        while not stop.wait(WATCH_SECONDS):
            if len(self.chat.slack.calls) <= self.cursor or not self.lock.acquire(blocking=False):
                continue
            try:
                self._quiet(self.cursor, expect_reply=False)
                posts = self.take_posts()
                if posts:
                    typed = _line_buffer()
                    self.out.write(
                        "\r\033[K"
                        + self.format_entry({"user": self.chat.user, "posts": posts}, echo=False)
                        + "\n\n"
                        + self.prompt
                        + typed
                    )
                    self.out.flush()
            finally:
                self.lock.release()

    def interact(self, stdin: TextIO) -> int:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        self.out.write(
            "avd-ops sandbox: Slack, Azure (simulated) and the bot in one process.\n"
            "Type /avd help for the bot's commands, help for the console's, quit or Ctrl-D to leave.\n\n"
        )
        self.cursor = len(self.chat.slack.calls)
        self.width = self.width or max(40, shutil.get_terminal_size().columns - 1)
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), name="avd-console-watch", daemon=True)
        watcher.start()
        try:
            while True:
                try:
                    line = input(self.prompt).strip()
                except EOFError:
                    self.out.write("\n")
                    return 0
                except KeyboardInterrupt:
                    self.out.write("^C\n")
                    continue
                if line in ("quit", "exit"):
                    return 0
                if line:
                    try:
                        self.print_entry(self.run_line(line), echo=False)
                    except KeyboardInterrupt:
                        self.out.write("(interrupted)\n")
        finally:
            stop.set()
            watcher.join(timeout=2)


_AVD_VERBS = {
    "status",
    "doctor",
    "replicas",
    "identity",
    "scaleset",
    "scale",
    "snapshots",
    "failover",
    "failback",
    "drill",
    "jobs",
    "job",
    "audit",
}


def _answers(call: Any) -> bool:
    """Whether a journal entry can be the answer to a typed line (not a card edit or a job's thread reply)."""
    return call.method != "chat.update" and not (
        call.method == "chat.postMessage" and call.args.get("thread_ts")
    )


def _line_buffer() -> str:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows
        return ""
    return str(readline.get_line_buffer())
