"""Replay keys: every slash command and button press handled (its ``trigger_id`` or view id), with when.

``bot.slack.authz.ReplayMemory`` answers from memory and writes here in batches, so a restarted bot still
refuses a replay within the memory window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.storage.db import rows_source
from bot.storage.store import Store

CHUNK = 200  # keys per insert statement


def seen_since(store: Store, cutoff: datetime) -> dict[str, datetime]:
    """The keys seen since ``cutoff``, oldest first."""
    rows = store.db.execute(
        "select key, seen_at from interactions where seen_at >= ? order by seen_at, key", [cutoff.isoformat()]
    )
    return {key: datetime.fromisoformat(at) for key, at in rows.fetchall()}


def record(store: Store, batch: Sequence[tuple[str, datetime]], forget_before: datetime) -> None:
    """Write a batch of keys in one transaction and drop those older than ``forget_before``."""
    with store.transaction() as db:
        db.execute("delete from interactions where seen_at < ?", [forget_before.isoformat()])
        latest = {key: at.isoformat() for key, at in batch}  # one row per key (the last seen)
        items = list(latest.items())
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            source, args = rows_source(store.backend, chunk)
            db.execute(
                f"insert into interactions (key, seen_at) {source}"
                " on conflict (key) do update set seen_at = excluded.seen_at",
                args,
            )
