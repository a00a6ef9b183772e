"""Schedule rows: what should run later (a recurring cron or a one-off time), stored as data.

The scheduler's jobs are built from these rows at start-up (``bot.engine.schedules.Timers``); no code or
pickle is stored, so a write to the database cannot make the bot run anything but a known target.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.storage.jobs import iso
from bot.storage.store import Store


def put(
    store: Store,
    schedule_id: str,
    *,
    target: str,
    args: dict[str, Any],
    cron: str | None,
    run_at: datetime | None,
    created_by: str,
    channel: str,
    now: datetime,
) -> None:
    with store.transaction() as db:
        db.table("schedules").upsert(
            {
                "id": schedule_id,
                "target": target,
                "args_json": json.dumps(args, sort_keys=True),
                "cron": cron,
                "run_at": iso(run_at) if run_at is not None else None,
                "created_by": created_by,
                "channel": channel,
                "updated_at": iso(now),
            },
            pk="id",
        )


def delete(store: Store, schedule_id: str) -> bool:
    with store.transaction() as db:
        return bool(db.execute("delete from schedules where id = ?", [schedule_id]).rowcount)


def get(store: Store, schedule_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query("select * from schedules where id = ?", [schedule_id]))
    return rows[0] if rows else None


def listed(store: Store, prefix: str = "") -> list[dict[str, Any]]:
    return list(store.db.query("select * from schedules where id like ? order by id", [prefix + "%"]))


def args_of(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row.get("args_json") or "{}"))
