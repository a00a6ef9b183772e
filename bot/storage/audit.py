"""Append-only audit trail chained by SHA-256, and the redaction every audit row and log line goes through.

Each row stores ``hash = sha256(prev_hash + canonical(row))`` where the canonical row includes its id,
so editing, deleting, inserting or reordering rows breaks the chain. The newest row's id and hash are
also kept in ``meta`` (``audit_head``), which catches deleting the last rows. ``verify(store)`` lists
every problem; ``avd-bot audit verify`` exits 1 naming the first broken row.

Retention (``bot.storage.retention``) removes only the oldest rows and keeps the last removed row's id and
hash in ``meta`` (``audit_checkpoint``): ``verify`` starts its walk there instead of at the genesis hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.storage.store import Store

GENESIS = "0" * 64
CHECKPOINT = "audit_checkpoint"  # "id:hash:pruned" of the newest row retention removed
REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(r"(token|secret|password|passwd|signature|sas|credential|authorization)", re.I)
_PATTERNS = [
    re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    ),  # JWTs (AVD registration tokens)
    re.compile(r"(?i)(https?://[^\s?\"']+)\?[^\s\"']*\bsig=[^\s\"']*"),  # SAS URLs: keep the path only
    re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
]
_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Redact this exact value everywhere from now on (signing secret, tokens read at start-up)."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def redact(value: Any) -> Any:
    """A copy of ``value`` (str, or JSON-like dict/list) with tokens, secrets and SAS signatures removed."""
    if isinstance(value, str):
        out = value
        for secret in _known_secrets:
            out = out.replace(secret, REDACTED)
        out = _PATTERNS[0].sub(REDACTED, out)
        out = _PATTERNS[1].sub(REDACTED, out)
        out = _PATTERNS[2].sub(lambda m: f"{m.group(1)}?{REDACTED}", out)
        return _PATTERNS[3].sub(lambda m: f"{m.group(1)} {REDACTED}", out)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) and v else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message, the traceback of ``exc_info`` and the stack of
    ``stack_info`` (attach it to handlers): an exception's text can carry a token as well as a message can."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach a ``RedactingFilter`` to every handler of ``logger`` (default: root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def canonical(row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in ("id", "at", "actor", "action", "target", "detail", "outcome")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


_KEY: list[bytes] = []  # the audit key of this process (AVD_AUDIT_KEY), set once at start-up by use_key


def use_key(key: str) -> None:
    """Key the chain from now on: every row gets ``mac = HMAC-SHA256(key, prev_hash + row)``. The key is not
    in the database, so whoever can write the file can recompute ``hash`` but not ``mac``."""
    _KEY[:] = [key.encode()] if key else []
    register_secret(key)


def row_mac(key: bytes, prev_hash: str, row: dict[str, Any]) -> str:
    return hmac.new(key, (prev_hash + canonical(row)).encode(), hashlib.sha256).hexdigest()


def record(
    store: Store,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
    at: datetime | None = None,
) -> int:
    """Append one audit row (redacted) and return its id."""
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
    detail_json = json.dumps(redact(detail or {}), sort_keys=True, separators=(",", ":"), default=str)
    with store.transaction() as db:
        last = db.execute("select id, hash from audit order by id desc limit 1").fetchone()
        row = {
            "id": (last[0] + 1) if last else 1,
            "at": when,
            "actor": redact(actor),
            "action": action,
            "target": redact(target),
            "detail": detail_json,
            "outcome": outcome,
            "prev_hash": last[1] if last else GENESIS,
        }
        row["hash"] = row_hash(row["prev_hash"], row)
        if _KEY:
            row["mac"] = row_mac(_KEY[0], row["prev_hash"], row)
        db.table("audit").insert(row)
        db.table("meta").upsert({"key": "audit_head", "value": f"{row['id']}:{row['hash']}"}, pk="key")
    return int(row["id"])


def recent(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` rows, newest first, with ``detail`` decoded."""
    rows = list(store.db.query("select * from audit order by id desc limit ?", [limit]))
    for r in rows:
        r["detail"] = json.loads(r["detail"] or "{}")
    return rows


def count(store: Store) -> int:
    return int(store.db.execute("select count(*) from audit").fetchone()[0])


def checkpoint(store: Store) -> tuple[str, int] | None:
    """The hash and id of the newest row retention removed (where the kept chain starts), if any."""
    value = store.get_meta(CHECKPOINT)
    if not value:
        return None
    row_id, row_hash_, *_ = value.split(":")
    return row_hash_, int(row_id)


@dataclass(frozen=True)
class Problem:
    row_id: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.message}"


def verify(store: Store, key: str | None = None) -> list[Problem]:
    """Walk the chain; an empty list means every row is intact and in order. With the audit key (``key``, else
    the one in use), each keyed row's MAC is checked too, and a row written without it after keyed rows is a
    problem: whoever rewrote the file could recompute the hashes, not the MACs."""
    secret = key.encode() if key else (_KEY[0] if _KEY else None)
    problems: list[Problem] = []
    keyed_from: int | None = None
    prev_hash, prev_id = checkpoint(store) or (GENESIS, 0)
    for row in store.db.query("select * from audit order by id"):
        if secret is not None:
            rid = int(row["id"])
            if row.get("mac"):
                keyed_from = keyed_from or rid
                if not hmac.compare_digest(row_mac(secret, row["prev_hash"], row), str(row["mac"])):
                    problems.append(
                        Problem(
                            rid, "MAC does not match: the row was written or rewritten without the audit key"
                        )
                    )
            elif keyed_from is not None:
                problems.append(
                    Problem(
                        rid,
                        f"no MAC, after keyed rows (from row {keyed_from}): written without the audit key",
                    )
                )
        rid = int(row["id"])
        if rid != prev_id + 1:
            problems.append(Problem(prev_id + 1, f"missing (next row is {rid}): rows were deleted"))
        if row["prev_hash"] != prev_hash:
            problems.append(
                Problem(rid, "prev_hash does not match the previous row: a row was deleted or inserted")
            )
        if row_hash(row["prev_hash"], row) != row["hash"]:
            problems.append(Problem(rid, "hash does not match its content: the row was edited"))
        prev_hash, prev_id = row["hash"], rid
    head = store.get_meta("audit_head")
    if head is not None:
        head_id, _, head_hash = head.partition(":")
        if int(head_id) != prev_id or head_hash != prev_hash:
            problems.append(
                Problem(
                    prev_id + 1 if int(head_id) > prev_id else int(head_id),
                    f"the newest row should be {head_id}: rows at the end were deleted or replaced",
                )
            )
    elif prev_id:
        problems.append(Problem(1, "audit head missing from meta"))
    return problems


def keyed_rows(store: Store) -> tuple[int, int]:
    """(rows with a MAC, rows in all): a key that was never used, or a file stripped of its MACs, shows here."""
    row = store.db.execute("select count(mac), count(*) from audit").fetchone()
    return int(row[0]), int(row[1])


EXPORT_FORMAT = "avd-ops audit export 1"


def export(store: Store, key: str) -> dict[str, Any]:
    """Every row, the checkpoint and the head, signed with the audit key: a file anyone with the key can verify
    without the database (``verify_export``)."""
    if not key:
        raise ValueError("an export is signed with the audit key: set AVD_AUDIT_KEY")
    rows = [dict(r) for r in store.db.query("select * from audit order by id")]
    body = {"format": EXPORT_FORMAT, "checkpoint": store.get_meta("audit_checkpoint"), "rows": rows}
    return {**body, "signature": _sign(key.encode(), body)}


def _sign(key: bytes, body: dict[str, Any]) -> str:
    canonical_body = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical_body.encode(), hashlib.sha256).hexdigest()


def verify_export(data: dict[str, Any], key: str) -> list[str]:
    """Problems of an exported file: its signature, then the chain and every row's MAC."""
    body = {k: data.get(k) for k in ("format", "checkpoint", "rows")}
    if data.get("format") != EXPORT_FORMAT:
        return [f"not an avd-ops audit export (format {data.get('format')!r})"]
    if not hmac.compare_digest(_sign(key.encode(), body), str(data.get("signature", ""))):
        return ["the signature does not match: the file was changed, or signed with another key"]
    problems = []
    prev_hash = GENESIS
    if data.get("checkpoint"):
        prev_hash = str(data["checkpoint"]).split(":")[1]
    for row in data.get("rows") or []:
        if row["prev_hash"] != prev_hash:
            problems.append(f"row {row['id']}: prev_hash does not match the previous row")
        if row_hash(row["prev_hash"], row) != row["hash"]:
            problems.append(f"row {row['id']}: hash does not match its content")
        if row.get("mac") and not hmac.compare_digest(
            row_mac(key.encode(), row["prev_hash"], row), row["mac"]
        ):
            problems.append(f"row {row['id']}: MAC does not match")
        prev_hash = row["hash"]
    return problems
