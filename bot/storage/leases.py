"""Named leases in the database: who holds ``name`` until when, with an epoch that fences stale holders.

A lease row is ``(name, owner, epoch, expires_at, acquired_at)``; times are epoch seconds from the caller's
wall clock (``now``, an argument: hosts sharing a database must keep their clocks within a fraction of the
lease). Every change is a compare-and-set ``UPDATE`` inside ``store.transaction()``, so the database is the
arbiter and nothing here is consensus of our own:

- ``acquire`` takes the lease when it is free, expired, already ours, or held by ``dead_owner`` (a process
  the caller knows has ended), and starts a new tenure: ``epoch + 1``;
- ``renew`` pushes ``expires_at`` on only while owner and epoch still match and the lease has not expired
  (an expired lease is acquired again, with a new epoch);
- ``release`` frees it (a clean shutdown hands over at once);
- ``fence(db, lease, now)`` is the check a holder makes in the same transaction as a write it may only make
  while it holds the lease: an ``UPDATE`` of the lease row, so on PostgreSQL it also locks the row until the
  write commits and a concurrent ``acquire`` waits for it. ``claim_fire`` is the first such write: one
  occurrence of a recurring schedule is recorded once, by the leader of the moment.

Portable SQL only (``?`` placeholders, ``on conflict ... do nothing``): SQLite 3.24+ and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.storage.db import Db
from bot.storage.jobs import iso
from bot.storage.store import Store

LEADER = "leader"


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    epoch: int
    expires_at: float  # epoch seconds
    acquired_at: float  # when this tenure (this epoch) began


class LeaseLost(Exception):
    """A write was fenced: the lease it needs is no longer held by this owner and epoch."""


def acquire(
    store: Store, name: str, owner: str, ttl: float, now: float, *, dead_owner: str = ""
) -> Lease | None:
    """Take ``name`` for ``owner`` until ``now + ttl`` when it is free, expired, ours or ``dead_owner``'s;
    ``None`` while someone else holds it."""
    with store.transaction() as db:
        db.execute(
            "insert into leases (name, owner, epoch, expires_at, acquired_at) values (?, '', 0, 0, 0)"
            " on conflict (name) do nothing",
            [name],
        )
        won = db.execute(
            "update leases set owner = ?, epoch = epoch + 1, expires_at = ?, acquired_at = ? where name = ?"
            " and (owner = '' or expires_at <= ? or owner = ? or owner = ?)",
            [owner, now + ttl, now, name, now, owner, dead_owner or owner],
        ).rowcount
        return _read(db, name) if won == 1 else None


def renew(store: Store, lease: Lease, ttl: float, now: float) -> Lease | None:
    """``lease`` held until ``now + ttl``; ``None`` when it is no longer this owner's and epoch's, or expired."""
    with store.transaction() as db:
        won = db.execute(
            "update leases set expires_at = ? where name = ? and owner = ? and epoch = ? and expires_at > ?",
            [now + ttl, lease.name, lease.owner, lease.epoch, now],
        ).rowcount
        return _read(db, lease.name) if won == 1 else None


def release(store: Store, lease: Lease) -> bool:
    """Give ``lease`` up now (only if still this owner's and epoch's); the next ``acquire`` needs no wait."""
    with store.transaction() as db:
        return bool(
            db.execute(
                "update leases set owner = '', expires_at = 0 where name = ? and owner = ? and epoch = ?",
                [lease.name, lease.owner, lease.epoch],
            ).rowcount
        )


def current(store: Store, name: str) -> Lease | None:
    """The row of ``name`` as it is (possibly expired or free: compare ``expires_at`` with the time)."""
    return _read(store.db, name)


def holds(db: Db, lease: Lease, now: float) -> bool:
    """Inside ``store.transaction()``: whether ``lease`` is still held at ``now``. An ``UPDATE`` that changes
    nothing, so the check locks the row until the transaction ends (PostgreSQL; SQLite's write transaction
    is already exclusive)."""
    return (
        db.execute(
            "update leases set epoch = epoch where name = ? and owner = ? and epoch = ? and expires_at > ?",
            [lease.name, lease.owner, lease.epoch, now],
        ).rowcount
        == 1
    )


def fence(db: Db, lease: Lease, now: float) -> None:
    """Inside ``store.transaction()``, before a write only the holder may make: ``LeaseLost`` (the
    transaction rolls back) unless ``lease`` is still held at ``now``."""
    if not holds(db, lease, now):
        raise LeaseLost(f"lease {lease.name!r} epoch {lease.epoch} is no longer held by {lease.owner}")


def claim_fire(
    store: Store, lease: Lease, schedule_id: str, fire_at: datetime, now: float, *, min_gap: timedelta
) -> bool:
    """Record the occurrence ``fire_at`` of a recurring schedule; ``True`` only for the one caller that
    records it while holding ``lease``. Refused too when a later occurrence, or one less than ``min_gap``
    before it, is recorded (a schedule stored before the minimum interval existed runs no more often than
    that; a stale timer never fires an older occurrence after a newer one)."""
    fire_at = fire_at.astimezone(UTC)  # stored as ISO text: one offset, so text order is time order
    try:
        with store.transaction() as db:
            fence(db, lease, now)  # holds the lease row until commit: the leader's claims are serialized
            recent = db.query(
                "select fire_at from schedule_fires where schedule_id = ? and fire_at > ? limit 1",
                [schedule_id, iso(fire_at - min_gap)],
            )
            if next(iter(recent), None) is not None:
                return False  # this occurrence, a later one, or one closer than min_gap was recorded
            return (
                db.execute(
                    "insert into schedule_fires (schedule_id, fire_at, owner, epoch, fired_at)"
                    " values (?, ?, ?, ?, ?) on conflict (schedule_id, fire_at) do nothing",
                    [schedule_id, iso(fire_at), lease.owner, lease.epoch, now],
                ).rowcount
                == 1
            )
    except LeaseLost:
        return False


def fired(store: Store, schedule_id: str, fire_at: datetime) -> bool:
    """Whether the occurrence ``fire_at`` of ``schedule_id`` is recorded."""
    found = store.db.query(
        "select 1 from schedule_fires where schedule_id = ? and fire_at = ?",
        [schedule_id, iso(fire_at.astimezone(UTC))],
    )
    return next(iter(found), None) is not None


def fires(store: Store, schedule_id: str) -> list[dict[str, Any]]:
    return list(
        store.db.query("select * from schedule_fires where schedule_id = ? order by fire_at", [schedule_id])
    )


def prune_fires(store: Store, before: float) -> int:
    """Forget occurrences recorded before ``before`` (epoch seconds); the leader's sweep keeps a day."""
    with store.transaction() as db:
        return int(db.execute("delete from schedule_fires where fired_at < ?", [before]).rowcount)


def _read(db: Db, name: str) -> Lease | None:
    rows = list(db.query("select * from leases where name = ?", [name]))
    if not rows:
        return None
    row = rows[0]
    return Lease(
        name=str(row["name"]),
        owner=str(row["owner"]),
        epoch=int(row["epoch"]),
        expires_at=float(row["expires_at"]),
        acquired_at=float(row["acquired_at"]),
    )
