"""Replay keys: every slash command and button press handled (its ``trigger_id`` or view id), with when.

``bot.slack.authz.ReplayMemory`` answers from memory and writes here in batches, so a restarted bot still
refuses a replay within the memory window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.storage.sqlite import Store


def seen_since(store: Store, cutoff: datetime) -> dict[str, datetime]:
    rows = store.db.execute("select key, seen_at from interactions where seen_at >= ?", [cutoff.isoformat()])
    return {key: datetime.fromisoformat(at) for key, at in rows.fetchall()}


def record(store: Store, batch: Sequence[tuple[str, datetime]], forget_before: datetime) -> None:
    """Write a batch of keys in one transaction and drop those older than ``forget_before``."""
    with store.transaction() as db:
        db.execute("delete from interactions where seen_at < ?", [forget_before.isoformat()])
        db.conn.executemany(
            "insert or replace into interactions (key, seen_at) values (?, ?)",
            [(key, at.isoformat()) for key, at in batch],
        )
