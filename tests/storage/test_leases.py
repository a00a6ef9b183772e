"""Leases in the database: compare-and-set acquire, renew, release and fencing, with time as an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import Store, leases

TTL = 15.0
T0 = 1_800_000_000.0  # epoch seconds; the test's clock
GAP = timedelta(minutes=15)


@pytest.fixture
def store(fresh_store: Store) -> Store:
    fresh_store.migrate()
    return fresh_store


def test_the_first_caller_acquires_and_the_second_waits_for_expiry(store: Store) -> None:
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None and (a.owner, a.epoch, a.expires_at, a.acquired_at) == ("a", 1, T0 + TTL, T0)
    assert leases.acquire(store, "leader", "b", TTL, T0 + 1) is None
    assert leases.acquire(store, "leader", "b", TTL, T0 + TTL - 0.001) is None
    b = leases.acquire(store, "leader", "b", TTL, T0 + TTL)  # expired: taken, a new epoch
    assert b is not None and (b.owner, b.epoch) == ("b", 2)
    assert leases.current(store, "leader") == b


def test_renew_holds_only_while_owner_and_epoch_match_and_it_has_not_expired(store: Store) -> None:
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None
    renewed = leases.renew(store, a, TTL, T0 + 10)
    assert renewed is not None and renewed.expires_at == T0 + 10 + TTL and renewed.epoch == a.epoch
    assert leases.acquire(store, "leader", "b", TTL, T0 + TTL + 1) is None  # renewal pushed expiry on
    assert leases.renew(store, a, TTL, T0 + 10 + TTL) is None  # expired: renewal refused, acquire again
    b = leases.acquire(store, "leader", "b", TTL, T0 + 10 + TTL)
    assert b is not None and b.epoch == 2
    assert leases.renew(store, a, TTL, T0 + 10 + TTL + 1) is None  # a's epoch is gone for good
    stale = leases.Lease("leader", "b", 1, b.expires_at, b.acquired_at)  # right owner, wrong epoch
    assert leases.renew(store, stale, TTL, T0 + 30) is None


def test_a_holder_acquiring_again_starts_a_new_epoch(store: Store) -> None:
    a1 = leases.acquire(store, "leader", "a", TTL, T0)
    a2 = leases.acquire(store, "leader", "a", TTL, T0 + 1)
    assert a1 is not None and a2 is not None and a2.epoch == a1.epoch + 1
    assert leases.renew(store, a1, TTL, T0 + 2) is None  # the earlier tenure is fenced


def test_release_hands_over_at_once_and_a_dead_owner_can_be_taken_over(store: Store) -> None:
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None and leases.release(store, a) is True
    b = leases.acquire(store, "leader", "b", TTL, T0 + 1)
    assert b is not None and b.epoch == 2
    assert leases.release(store, a) is False  # not a's any more
    assert leases.acquire(store, "leader", "c", TTL, T0 + 2) is None
    c = leases.acquire(store, "leader", "c", TTL, T0 + 2, dead_owner="b")  # b is known to have ended
    assert c is not None and (c.owner, c.epoch) == ("c", 3)
    assert leases.acquire(store, "leader", "d", TTL, T0 + 3, dead_owner="b") is None  # only b's lease


def test_leases_are_independent_by_name(store: Store) -> None:
    assert leases.acquire(store, "leader", "a", TTL, T0) is not None
    job = leases.acquire(store, "job:7", "b", TTL, T0)
    assert job is not None and job.epoch == 1


def test_fence_refuses_a_write_in_the_same_transaction_once_the_lease_is_lost(store: Store) -> None:
    store.db.execute("create table writes (v text)")
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None
    with store.transaction() as db:
        leases.fence(db, a, T0 + 1)
        db.execute("insert into writes values ('a1')")
    assert leases.acquire(store, "leader", "b", TTL, T0 + TTL) is not None
    with pytest.raises(leases.LeaseLost), store.transaction() as db:
        db.execute("insert into writes values ('a2')")
        leases.fence(db, a, T0 + TTL + 1)
    assert [r["v"] for r in store.db.query("select v from writes")] == ["a1"]  # rolled back


def test_a_schedule_occurrence_is_claimed_once_and_only_by_the_holder(store: Store) -> None:
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None
    at = datetime(2027, 1, 15, 2, 0, tzinfo=UTC)
    assert leases.claim_fire(store, a, "sync:p", at, T0 + 1, min_gap=GAP) is True
    assert leases.claim_fire(store, a, "sync:p", at, T0 + 2, min_gap=GAP) is False  # the same occurrence
    b = leases.acquire(store, "leader", "b", TTL, T0 + TTL)
    assert b is not None
    assert leases.claim_fire(store, a, "sync:p", at + GAP, T0 + TTL + 1, min_gap=GAP) is False  # fenced
    assert leases.claim_fire(store, b, "sync:p", at, T0 + TTL + 1, min_gap=GAP) is False  # already fired
    assert leases.claim_fire(store, b, "sync:p", at + GAP, T0 + TTL + 1, min_gap=GAP) is True
    assert [(r["owner"], r["epoch"]) for r in leases.fires(store, "sync:p")] == [("a", 1), ("b", 2)]


def test_an_occurrence_closer_than_the_minimum_gap_is_not_claimed(store: Store) -> None:
    """A schedule stored before the 15-minute minimum (e.g. every 5 minutes) fires at most every 15."""
    a = leases.acquire(store, "leader", "a", TTL, T0)
    assert a is not None
    start = datetime(2027, 1, 15, 2, 0, tzinfo=UTC)
    won = [
        leases.claim_fire(store, a, "fast", start + timedelta(minutes=m), T0 + 1, min_gap=GAP)
        for m in range(0, 35, 5)
    ]
    assert won == [True, False, False, True, False, False, True]  # 02:00, 02:15, 02:30
    assert leases.prune_fires(store, before=T0 + 2) == 3 and leases.fires(store, "fast") == []


def test_a_lease_is_taken_in_the_same_transaction_as_the_write_it_guards(store: Store) -> None:
    """What job leases will do: acquire (a savepoint in the outer transaction) and write together, or neither."""
    store.db.execute("create table claims (job integer, owner text, epoch integer)")
    with pytest.raises(RuntimeError), store.transaction() as db:
        lease = leases.acquire(store, "job:7", "a", TTL, T0)
        assert lease is not None
        db.execute("insert into claims values (7, ?, ?)", [lease.owner, lease.epoch])
        raise RuntimeError("the process fails before commit")
    assert leases.current(store, "job:7") is None and list(store.db.query("select * from claims")) == []
    with store.transaction() as db:
        lease = leases.acquire(store, "job:7", "a", TTL, T0)
        assert lease is not None
        db.execute("insert into claims values (7, ?, ?)", [lease.owner, lease.epoch])
    assert [tuple(r.values()) for r in store.db.query("select * from claims")] == [(7, "a", 1)]
