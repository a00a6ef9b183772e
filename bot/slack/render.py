"""Every user-facing text and Block Kit message, as pure functions.

Blocks are built with ``slack_sdk.models.blocks`` so Slack's limits are checked when ``Reply.to_dict()``
serializes them, before anything is sent. A ``Reply`` is what a listener acks or responds with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from avdcore.errors import AvdError, AzureError, UsageError

SECTION_LIMIT = 3000
SIMULATED = ":test_tube: simulated Azure (loopback simulator)"


@dataclass(frozen=True)
class Reply:
    """A message: ``text`` is the fallback (and the whole message when there are no blocks)."""

    text: str
    blocks: Sequence[Block] = field(default_factory=tuple)
    in_channel: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Keyword arguments for ``ack()`` / ``respond()`` (validates Block Kit limits)."""
        out: dict[str, Any] = {"text": self.text}
        if self.blocks:
            out["blocks"] = [b.to_dict() for b in self.blocks]
        out["response_type"] = "in_channel" if self.in_channel else "ephemeral"
        return out


USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")  # a Slack user id, shown as a mention


def escape(text: str) -> str:
    """Text that did not come from the bot's own templates (Azure's names, tags and messages, what users
    typed) as Slack shows it literally: ``&``, ``<`` and ``>`` escaped, so ``<!channel>`` in a tag pings no one
    (Slack's "Formatting text for app surfaces": escaping text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """User text in a one-line record (the audit list): newlines shown as ``\\n``, not as new lines."""
    return escape(text).replace("\r", "\\r").replace("\n", "\\n")


def sections(text: str) -> list[Block]:
    """Split mrkdwn into sections under Slack's 3000-character limit, on line boundaries."""
    blocks: list[Block] = []
    chunk = ""
    for line in text.splitlines(keepends=True):
        while len(line) > SECTION_LIMIT:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=line[:SECTION_LIMIT])))
            line = line[SECTION_LIMIT:]
        if len(chunk) + len(line) > SECTION_LIMIT:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
            chunk = ""
        chunk += line
    if chunk.strip():
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    return blocks


def card(blocks: Iterable[Block], *, simulated: bool) -> list[Block]:
    """A card's blocks, with the "simulated Azure" banner when the bot talks to the simulator."""
    out = list(blocks)
    if simulated:
        out.append(ContextBlock(elements=[MarkdownTextObject(text=SIMULATED)]))
    return out


def help_reply(text: str) -> Reply:
    """``/avd help [topic]``: the grammar's own help text (already mrkdwn)."""
    return Reply(text=text, blocks=sections(text))


def usage_error(err: UsageError, typed: str) -> Reply:
    typed_command = f"/avd {typed.strip()}".strip()
    lines = [f":warning: `{typed_command}`: {err.message}" if typed.strip() else f":warning: {err.message}"]
    if err.hint:
        lines.append(err.hint)
    text = "\n".join(lines)
    return Reply(text=text, blocks=sections(text))


def user_error(err: AvdError) -> Reply:
    """A user error (not allowed, busy, ...) or an Azure error, shown as the error says."""
    if isinstance(err, UsageError):
        return usage_error(err, "")
    if isinstance(err, AzureError):  # Azure's words: escaped
        lines = [f":x: Azure refused: {escape(err.message)}"]
        if err.code:
            lines.append(f"Azure code: `{escape(err.code)}`")
        if err.resource_id:
            lines.append(f"Resource: `{escape(err.resource_id)}`")
        if err.next_step:
            lines.append(f"Next: {escape(err.next_step)}")
        text = "\n".join(lines)
    else:
        text = f":no_entry: {err.message}"
    return Reply(text=text, blocks=sections(text))


def not_allowed(reason: str) -> str:
    """The plain-text (ephemeral) refusal the authorization middleware answers with."""
    return f":no_entry: {reason} Ask an avd-ops admin to add you to [policy] in avd.toml if you need access."


def not_operator(user_id: str) -> str:
    return not_allowed(f"<@{user_id}> is not an avd-ops operator.")


def channel_not_allowed(channel_id: str) -> str:
    return not_allowed(f"`/avd` only runs in the incident channel(s); <#{channel_id}> is not one of them.")


def internal_error(incident_id: str) -> str:
    return (
        f":boom: Something went wrong on the bot's side (incident `{incident_id}`). Nothing else was started;"
        " quote the incident id to whoever runs avd-ops."
    )


def audit_list(rows: Sequence[Mapping[str, Any]], *, simulated: bool = False) -> Reply:
    if not rows:
        text = "The audit trail is empty."
        return Reply(text=text, blocks=sections(text))
    lines = []
    for r in rows:  # every field may hold what a user typed or Azure said: one line each, escaped
        detail = r.get("detail") or {}
        extra = f" {one_line(json.dumps(detail, sort_keys=True))}" if detail else ""
        target = f" `{one_line(str(r['target']))}`" if r.get("target") else ""
        actor = str(r["actor"])
        who = f"<@{actor}>" if USER_ID.fullmatch(actor) else f"`{one_line(actor)}`"
        lines.append(
            f"`{r['id']}` {r['at'][:19]}Z {who} *{one_line(str(r['action']))}*{target} "
            f"({one_line(str(r['outcome']))}){extra}"
        )
    body = "\n".join(lines)
    blocks: list[Block] = [HeaderBlock(text=f"Audit: last {len(rows)} entries")]
    return Reply(
        text=f"Audit: last {len(rows)} entries\n{body}",
        blocks=card(blocks + sections(body), simulated=simulated),
    )


def jobs_list(
    rows: Sequence[Mapping[str, Any]], *, simulated: bool = False, schedules: Sequence[str] = ()
) -> Reply:
    """Recent jobs, then the recurring snapshot syncs (``schedules``: one mrkdwn line each)."""
    planned = ("\n*Scheduled snapshot syncs*\n" + "\n".join(schedules)) if schedules else ""
    if not rows:
        text = "No jobs yet." + planned
        return Reply(text=text, blocks=sections(text))
    lines = [
        f"`#{r['id']}` {r['kind']}: *{r['status']}* by <@{r['requested_by']}> at {r['created_at'][:19]}Z"
        for r in rows
    ]
    body = "\n".join(lines) + planned
    blocks: list[Block] = [HeaderBlock(text="Jobs")]
    return Reply(text="Jobs\n" + body, blocks=card(blocks + sections(body), simulated=simulated))


def job_not_found(job_id: int) -> Reply:
    text = f"There is no job #{job_id}. `/avd jobs` lists the recent ones."
    return Reply(text=text, blocks=sections(text))
