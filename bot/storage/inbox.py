"""The inbox: post-ack work a web process recorded for the workers (``avd-bot serve --role web|worker``).

A row is one slash command, button press or form submission that needs work after the ack: its ``kind``,
a JSON ``payload`` (the fields the handler needs, never a token or secret), who and where, the
``response_url`` the answer goes to, and its claim. A worker takes a row with a compare-and-set ``UPDATE``
(``claim``): free, or claimed by a worker whose claim is older than the lease (a crashed worker). A running
worker renews its claims (``renew``) and marks a row done once handled, only while the claim is still its own
(``finish``, or in its next ``claim``'s transaction: one commit for both, the fewer writes on SQLite's one
writer lock, which a web process's commits share). Rows are handled by id, once in normal operation; a row whose worker died mid-way is handled
again by the next worker, so its handlers are idempotent (a job request is refused while the same request is
active, an approval moves by compare-and-set, an answer is only an answer).

Waking the workers: ``notify(store)`` after a commit and ``wait(store, timeout)`` in a worker's loop. A store
that has ``notify(channel)`` / ``wait(channel, timeout)`` of its own (PostgreSQL: ``NOTIFY avd_inbox`` after
the commit and ``LISTEN avd_inbox`` on a dedicated connection) is used through them; otherwise (SQLite)
``notify`` does nothing and ``wait`` polls for a claimable row every ``POLL_SECONDS``.

Portable SQL only (``?`` placeholders, ISO-8601 UTC text times compared as text, ``returning``), so the same
module runs on every backend of ``bot.storage``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.storage.db import rows_source

CHANNEL = "avd_inbox"
CHUNK = 500  # rows per INSERT (7 bound values each: SQLite allows 32766 per statement)
POLL_SECONDS = 0.05  # SQLite: how often an idle worker looks for a row
LEASE_SECONDS = 30.0  # a claim not renewed for this long is a dead worker's: another worker takes the row
KEEP_DONE = timedelta(days=1)  # done rows are pruned after this


class Store(Protocol):
    """What this module needs of ``bot.storage``'s ``Store`` (SQLite, or the PostgreSQL backend)."""

    backend: str  # "sqlite" or "postgresql"

    @property
    def db(self) -> Any: ...

    def transaction(self, exclusive: bool = True) -> Any: ...

    def write_once(self, sql: str, params: Sequence[Any]) -> list[Any]: ...


@dataclass(frozen=True)
class NewItem:
    kind: str
    payload: dict[str, Any]
    user_id: str = ""
    channel: str = ""
    response_url: str = ""
    # the row's request key: the same item recorded again (a send whose outcome was unknown) finds its row
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    payload: dict[str, Any]
    user_id: str
    channel: str
    response_url: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    done_at: datetime | None


COLUMNS = "id, kind, payload, user_id, channel, response_url, created_at, claimed_by, claimed_at, done_at"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _item(row: dict[str, Any]) -> Item:
    return Item(
        id=int(row["id"]),
        kind=row["kind"],
        payload=json.loads(row["payload"] or "{}"),
        user_id=row["user_id"],
        channel=row["channel"],
        response_url=row["response_url"],
        created_at=datetime.fromisoformat(row["created_at"]),
        claimed_by=row["claimed_by"],
        claimed_at=_when(row["claimed_at"]),
        done_at=_when(row["done_at"]),
    )


def record(store: Store, items: Sequence[NewItem], now: datetime, *, wake: bool = False) -> list[int]:
    """Write ``items``; returns their ids in order. Up to ``CHUNK`` rows are one statement committed on its own
    (``Store.write_once``: on PostgreSQL one round trip, the ack's only one); more, one transaction of a
    statement per ``CHUNK``. Each row is written under its item's ``key``, so a statement sent again after a
    lost connection (or a batch the queue-mode writer sends again) finds the rows it wrote instead of adding
    them twice. Only this inserts inbox rows, their ids
    come from a sequence on PostgreSQL and the workers' compare-and-set updates need no turn with it, so the
    write is not exclusive (``Store.transaction``): an ack waiting for its row waits for no job write. ``wake``:
    PostgreSQL's NOTIFY goes out at the same commit (``pg_notify`` in the statement); SQLite's workers poll."""
    if not items:
        return []
    notify = wake and store.backend == "postgresql"
    if len(items) <= CHUNK:
        rows = store.write_once(*statement(items, now, notify, store.backend))
    else:
        rows = []
        with store.transaction(exclusive=False) as db:
            for start in range(0, len(items), CHUNK):  # SQLite's limit on bound values per statement
                rows += db.execute(
                    *statement(items[start : start + CHUNK], now, notify, store.backend)
                ).fetchall()
    return sorted(int(row[0]) for row in rows)  # ids grow in the order of the values


def statement(items: Sequence[NewItem], now: datetime, wake: bool, backend: str) -> tuple[str, list[Any]]:
    """The insert of ``items`` (each under its ``key``) returning their ids; sent twice, it returns the same
    ids and adds nothing (the repeat after a lost connection). On PostgreSQL its text is the same for any
    number of rows (``rows_source``: converted and prepared once, on the ack path), and ``wake`` sends one
    NOTIFY with it."""
    at = _iso(now)
    source, args = rows_source(
        backend,
        [
            (
                it.kind,
                json.dumps(it.payload, sort_keys=True),
                it.user_id,
                it.channel,
                it.response_url,
                at,
                it.key,
            )
            for it in items
        ],
    )
    sql = (
        "insert into inbox (kind, payload, user_id, channel, response_url, created_at, request_key) "
        + source
        # a repeat of this statement (sent again after a lost connection) returns the rows it wrote the first time
        + " on conflict (request_key) do update set request_key = excluded.request_key returning id"
    )
    if wake:  # one NOTIFY for the statement (a volatile CTE runs once), not one per row
        sql = f"with added as ({sql}), woke as (select pg_notify(?, '')) select id from added, woke"
        args.append(CHANNEL)
    return sql, args


def _claimable(now: datetime, lease: float) -> tuple[str, list[str]]:
    expired = _iso(now - timedelta(seconds=lease))
    return "done_at is null and (claimed_by is null or claimed_at < ?)", [expired]


def claim(
    store: Store,
    worker: str,
    now: datetime,
    *,
    lease: float = LEASE_SECONDS,
    limit: int = 1,
    done: Sequence[int] = (),
    release: Sequence[int] = (),
) -> list[Item]:
    """Take up to ``limit`` rows for ``worker``, oldest first, each by a compare-and-set ``UPDATE`` that only
    succeeds on a free row or an expired claim, so two workers never hold the same row. ``done``: rows this
    worker finished since its last claim, marked done in the same transaction (one commit for both);
    ``release``: rows it gives back unfinished (their work stopped on an unreachable database), free for the
    next claim of any worker."""
    where, args = _claimable(now, lease)
    candidates = (
        [
            int(r["id"])
            for r in store.db.query(f"select id from inbox where {where} order by id limit ?", [*args, limit])
        ]
        if limit > 0
        else []
    )
    if not candidates and not done and not release:
        return []
    taken: list[int] = []
    with store.transaction() as db:
        for item_id in done:
            db.execute(
                "update inbox set done_at = ?, response_url = '' where id = ? and claimed_by = ? and done_at is null",
                [_iso(now), item_id, worker],
            )
        for item_id in release:
            db.execute(
                "update inbox set claimed_by = null, claimed_at = null"
                " where id = ? and claimed_by = ? and done_at is null",
                [item_id, worker],
            )
        for item_id in candidates:
            cursor = db.execute(
                f"update inbox set claimed_by = ?, claimed_at = ? where id = ? and {where}",
                [worker, _iso(now), item_id, *args],
            )
            if cursor.rowcount == 1:  # else another worker took it first
                taken.append(item_id)
        if not taken:
            return []
        marks = ", ".join("?" for _ in taken)
        rows = list(db.query(f"select {COLUMNS} from inbox where id in ({marks}) order by id", taken))
    return [_item(r) for r in rows]


def renew(store: Store, worker: str, ids: Sequence[int], now: datetime) -> int:
    """Keep ``worker``'s claims on ``ids`` alive (its heartbeat); returns how many it still holds."""
    if not ids:
        return 0
    marks = ", ".join("?" for _ in ids)
    with store.transaction() as db:
        cursor = db.execute(
            f"update inbox set claimed_at = ? where claimed_by = ? and done_at is null and id in ({marks})",
            [_iso(now), worker, *ids],
        )
        return int(cursor.rowcount)


def finish(store: Store, item_id: int, worker: str, now: datetime) -> bool:
    """Mark a row handled; ``False`` if its claim was no longer ``worker``'s (it expired and was taken)."""
    with store.transaction() as db:
        cursor = db.execute(
            "update inbox set done_at = ?, response_url = '' where id = ? and claimed_by = ? and done_at is null",
            [_iso(now), item_id, worker],
        )
        return int(cursor.rowcount) == 1


def pending(store: Store, now: datetime, *, lease: float = LEASE_SECONDS) -> int:
    """How many rows a worker could claim now."""
    where, args = _claimable(now, lease)
    rows = store.db.execute(f"select count(*) from inbox where {where}", args).fetchone()
    return int(rows[0])


def get(store: Store, item_id: int) -> Item | None:
    rows = list(store.db.query(f"select {COLUMNS} from inbox where id = ?", [item_id]))
    return _item(rows[0]) if rows else None


def prune(store: Store, now: datetime, keep: timedelta = KEEP_DONE) -> int:
    """Delete rows done before ``now - keep``; returns how many."""
    with store.transaction() as db:
        cursor = db.execute("delete from inbox where done_at is not null and done_at < ?", [_iso(now - keep)])
        return int(cursor.rowcount)


def notify(store: Store, channel: str = CHANNEL) -> None:
    """Wake the workers after a commit: the store's own ``notify`` (PostgreSQL's NOTIFY) when it has one;
    on SQLite nothing, the workers poll."""
    hook = getattr(store, "notify", None)
    if callable(hook):
        hook(channel)


def wait(
    store: Store,
    timeout: float,
    *,
    clock: Callable[[], datetime],
    lease: float = LEASE_SECONDS,
    channel: str = CHANNEL,
    poll: float = POLL_SECONDS,
    woken: Callable[[], bool] | None = None,
) -> bool:
    """Block until a row may be claimable or ``timeout`` passes; ``True`` when woken by work.

    A store with its own ``wait(channel, timeout)`` (PostgreSQL: ``LISTEN``, then wait on the connection for
    a notification) is used through it; otherwise this polls ``pending`` every ``poll`` seconds, and also
    returns as soon as ``woken()`` (the caller's own reason to stop waiting) is true.
    """
    hook = getattr(store, "wait", None)
    deadline = time.monotonic() + timeout
    if callable(hook):
        # rows committed before this process listened are found by one look; then NOTIFY wakes it (no polling
        # of the table), in slices of ``poll`` so that ``woken()`` is still honoured
        if (woken is not None and woken()) or pending(store, clock(), lease=lease):
            return True
        while (left := deadline - time.monotonic()) > 0:
            if hook(channel, min(poll, left)) or (woken is not None and woken()):
                return True
        return False
    while True:
        if (woken is not None and woken()) or pending(store, clock(), lease=lease):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(poll, left))
