"""What the sandbox console shows: Block Kit as plain text, the Slack double's journal as transcript items.

Pure functions plus ``Cards`` (the last text of every message the console has shown), so an edit of an
existing card is shown as "card updated" with only the lines that changed instead of the whole card.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.slack.chat import HttpResponse

EMOJI = {
    ":large_green_circle:": "[green]",
    ":large_orange_circle:": "[amber]",
    ":red_circle:": "[RED]",
    ":large_yellow_circle:": "[amber]",
    ":white_check_mark:": "✓",
    ":x:": "✗",
    ":gear:": "⚙",
    ":hourglass_flowing_sand:": "⌛",
    ":inbox_tray:": "…",
    ":no_entry_sign:": "⊘",
    ":no_entry:": "⛔",
    ":alarm_clock:": "⏰",
    ":white_circle:": "○",
    ":arrows_counterclockwise:": "↻",
    ":heavy_minus_sign:": "–",
    ":warning:": "⚠",
    ":stopwatch:": "⏱",
    ":test_tube:": "⚗",
    ":lock:": "🔒",
    ":grey_question:": "?",
}
_EMOJI = re.compile("|".join(re.escape(k) for k in EMOJI))
_MENTION = re.compile(r"<([@#])([A-Z0-9]+)(?:\|[^>]*)?>")


def plain(text: str) -> str:
    """Slack mrkdwn for a terminal, as Slack's client shows it: known emoji as symbols, ``<@U1>`` as ``@U1``,
    ``<#C1>`` as ``#C1``, and the escaped ``&lt;`` ``&gt;`` ``&amp;`` as ``<`` ``>`` ``&``."""
    shown = _MENTION.sub(lambda m: m[1] + m[2], _EMOJI.sub(lambda m: EMOJI[m[0]], text))
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else str(obj or "")


def _buttons(elements: Iterable[dict[str, Any]]) -> str:
    return " ".join(f"[{_text(e.get('text'))}]" for e in elements if e.get("type") == "button")


def render_blocks(blocks: Iterable[dict[str, Any]]) -> list[str]:
    """Block Kit as plain lines: headers, sections, fields, context, inputs, and buttons as ``[Label]``."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text(block.get('text'))} ==")
        elif kind == "section":
            if block.get("text"):
                lines.extend(plain(_text(block["text"])).splitlines())
            lines.extend("  " + plain(_text(f)).replace("\n", " ") for f in block.get("fields", []))
            acc = block.get("accessory") or {}
            if acc.get("type") == "button":
                lines.append("  " + _buttons([acc]))
        elif kind == "context":
            lines.append("  (" + " | ".join(plain(_text(e)) for e in block.get("elements", [])) + ")")
        elif kind == "actions":
            lines.append("  " + _buttons(block.get("elements", [])))
        elif kind == "divider":
            lines.append("  ---")
        elif kind == "input":
            lines.append(f"  {_text(block.get('label'))}: {input_value(block.get('element') or {})}")
    return lines


def input_value(element: dict[str, Any]) -> str:
    """A modal input's initial value as ``name=value`` (what ``submit`` sends unless overridden)."""
    value = element.get("initial_value")
    if element.get("initial_option"):
        value = element["initial_option"].get("value")
    return f"{element.get('action_id', '')}={'' if value is None else value}"


def render_message(text: str, blocks: Any) -> str:
    if isinstance(blocks, str):
        blocks = json.loads(blocks or "[]")
    lines = render_blocks(blocks or []) if blocks else plain(text or "").splitlines()
    return "\n".join(lines)


def render_ack(resp: HttpResponse) -> str:
    if not resp.text:
        return ""
    if not resp.is_json:
        return resp.text
    body = resp.json()
    if body.get("response_action") == "errors":
        return "the form has errors:\n" + "\n".join(
            f"  {k}: {v}" for k, v in (body.get("errors") or {}).items()
        )
    return render_message(body.get("text", ""), body.get("blocks"))


def describe_call(call: Any) -> dict[str, Any] | None:
    """One journal entry of the Slack double as a transcript item, or None when users would not see it."""
    args, method = call.args, call.method
    if call.status != 200 or not call.response.get("ok", False):
        return {"kind": "slack_error", "method": method, "error": call.response.get("error", call.status)}
    item: dict[str, Any] = {"channel": args.get("channel", "")}
    if method == "chat.postMessage":
        item.update(
            kind="thread_reply" if args.get("thread_ts") else "message", ts=call.response.get("ts", "")
        )
    elif method == "chat.update":
        item.update(kind="card_update", ts=args.get("ts", ""))
    elif method == "chat.postEphemeral":
        item.update(kind="ephemeral", user=args.get("user", ""))
    elif method == "response_url":
        kind = "message" if args.get("response_type") == "in_channel" else "ephemeral"
        item.update(kind="replace_original" if args.get("replace_original") else kind)
    elif method in ("views.open", "views.update"):
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else (view or {})
        kind = "modal" if method == "views.open" else "modal_update"
        return {
            "kind": kind,
            "title": _text(view.get("title")),
            "text": render_message("", view.get("blocks")),
        }
    else:
        return None
    item["text"] = render_message(args.get("text", ""), args.get("blocks"))
    return item


@dataclass
class Cards:
    """The last text shown for each message ts: card edits become "card updated" plus the changed lines."""

    shown: dict[str, list[str]] = field(default_factory=dict)

    def fold(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the latest edit of each card (where the first edit stood), with ``changed`` lines set."""
        latest: dict[str, int] = {}
        out: list[dict[str, Any]] = []
        for item in items:
            ts = item.get("ts", "")
            if item["kind"] == "card_update" and ts in latest:
                out[latest[ts]] = item
                continue
            if item["kind"] == "card_update":
                latest[ts] = len(out)
            out.append(item)
        kept = []
        for item in out:
            ts, lines = item.get("ts", ""), item.get("text", "").splitlines()
            if item["kind"] == "card_update":
                before = self.shown.get(ts)
                if before is not None:
                    item = {**item, "changed": [line for line in lines if line not in before]}
                    if not item["changed"] and lines == before:
                        continue
            if ts:
                self.shown[ts] = lines
            kept.append(item)
        return kept


def label(post: dict[str, Any], user: str) -> str:
    kind = post["kind"]
    if kind == "ephemeral":
        who = post.get("user") or user
        return "(only you) " if who == user else f"(only {who}) "
    return {
        "message": "bot: ",
        "thread_reply": "  bot (thread): ",
        "card_update": "bot (card updated): ",
        "replace_original": "bot (replaced): ",
        "modal": f"[modal {post.get('title', '')}] ",
        "modal_update": f"[modal {post.get('title', '')} refreshed] ",
        "slack_error": f"!! slack {post.get('method')}: ",
    }.get(kind, f"{kind}: ")


def post_text(post: dict[str, Any]) -> str:
    """What the console prints for one item: a card edit shows its title line and the lines that changed."""
    if post["kind"] == "card_update" and "changed" in post:
        lines = post["text"].splitlines()
        head = lines[0] if lines else ""
        changed = [line for line in post["changed"] if line != head]
        return "\n".join([head, *changed])
    return str(post.get("text") or post.get("error", ""))


def indent(prefix: str, text: str, width: int | None = None) -> str:
    """``text`` under ``prefix``, later lines aligned with the first; with ``width``, long lines wrap there."""
    pad = " " * len(prefix)
    out: list[str] = []
    for n, line in enumerate(text.splitlines() or [""]):
        lead = prefix if n == 0 else pad
        if width is None or len(lead) + len(line) <= width or width - len(pad) < 20:
            out.append(lead + line)
            continue
        keep = len(line) - len(line.lstrip())
        parts = textwrap.wrap(
            line,
            width - len(pad),
            subsequent_indent=" " * (keep + 2),
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [line]
        out += [lead + parts[0]] + [pad + part for part in parts[1:]]
    return "\n".join(out)
