"""Replay keys (``bot.storage.interactions``) on both backends: written in batches, read back oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import Store, interactions

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_keys_are_read_back_oldest_first_the_latest_time_kept_and_old_ones_dropped(
    fresh_store: Store,
) -> None:
    fresh_store.migrate()
    odd = ["command:1.2.x", 'view:"quoted"', "action:üñí 🚀", "command:back\\slash", "command:%s ? $1"]
    interactions.record(fresh_store, [(key, T0 + timedelta(seconds=i)) for i, key in enumerate(odd)], T0)
    later = T0 + timedelta(minutes=1)
    # the same key twice in one batch keeps its last time; a later batch moves a key to its new time
    interactions.record(fresh_store, [("command:1.2.x", later), ("command:1.2.x", later + timedelta(1))], T0)
    seen = interactions.seen_since(fresh_store, T0)
    assert list(seen) == odd[1:] + ["command:1.2.x"]
    assert seen["command:1.2.x"] == later + timedelta(1) and seen['view:"quoted"'] == T0 + timedelta(
        seconds=1
    )
    interactions.record(fresh_store, [("command:new", later)], T0 + timedelta(seconds=3))  # drops the older
    assert list(interactions.seen_since(fresh_store, T0)) == [odd[3], odd[4], "command:new", "command:1.2.x"]
