"""Job leases fence the engine's writes: a step-row write or a job transition made with a stale epoch is
refused by the store (``LeaseLost``) and changes nothing, on both backends; the new holder's writes land."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from azureops.plan import Plan, Step
from bot.storage import Store, jobs, leases
from bot.storage.db import Db
from bot.storage.leases import Lease, LeaseLost
from commands import ops

TTL = 30.0
T0 = 1_800_000_000.0  # epoch seconds; the test's clock
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(fresh_store: Store) -> Store:
    fresh_store.migrate()
    return fresh_store


def job(store: Store) -> int:
    steps = tuple(Step(name=n, resource_id="", description=n, apply=lambda ctx: None) for n in ("a", "b"))
    return jobs.create_job(
        store,
        plan=Plan(kind="k", title="t", steps=steps),
        op=ops.Scale(target="Entra", count=2),
        requested_by="U0OPS1",
        channel="C0OPS",
        status=jobs.RUNNING,
        now=NOW,
    )


def fence_of(lease: Lease, now: float) -> jobs.Fence:
    def check(db: Db) -> None:
        leases.fence(db, lease, now)

    return check


def test_a_step_write_with_a_stale_epoch_is_refused_and_the_new_holders_lands(store: Store) -> None:
    job_id = job(store)
    a = leases.acquire(store, f"job:{job_id}", "host:1:a", TTL, T0)
    assert a is not None
    jobs.update_step(
        store, job_id, 0, fence=fence_of(a, T0 + 1), status=jobs.STEP_RUNNING, continuation_token="t1"
    )
    b = leases.acquire(store, f"job:{job_id}", "host:2:b", TTL, T0 + TTL)  # a paused past its lease
    assert b is not None and b.epoch == a.epoch + 1
    for field, value in (
        ("status", jobs.STEP_DONE),
        ("continuation_token", "t2"),
        ("output", "a's"),
        ("progress", "50%"),
    ):
        with pytest.raises(LeaseLost):
            jobs.update_step(store, job_id, 0, fence=fence_of(a, T0 + TTL + 1), **{field: value})
    with pytest.raises(LeaseLost):  # a's clock is behind: its epoch still is not b's
        jobs.update_step(store, job_id, 0, fence=fence_of(a, T0 + 2), status=jobs.STEP_FAILED)
    row = jobs.get_steps(store, job_id)[0]
    assert (row["status"], row["continuation_token"], row["output"], row["progress"]) == (
        jobs.STEP_RUNNING,
        "t1",
        None,
        None,
    )
    jobs.update_step(store, job_id, 0, fence=fence_of(b, T0 + TTL + 1), status=jobs.STEP_DONE, output="b's")
    row = jobs.get_steps(store, job_id)[0]
    assert (row["status"], row["output"]) == (jobs.STEP_DONE, "b's")


def test_a_job_transition_with_a_stale_epoch_is_refused_and_keeps_the_locks(store: Store) -> None:
    job_id = job(store)
    a = leases.acquire(store, f"job:{job_id}", "host:1:a", TTL, T0)
    assert a is not None
    assert leases.acquire(store, f"job:{job_id}", "host:2:b", TTL, T0 + TTL) is not None
    with pytest.raises(LeaseLost):
        jobs.transition(store, job_id, jobs.RUNNING, jobs.FAILED, NOW, fence=fence_of(a, T0 + TTL + 1))
    with pytest.raises(LeaseLost):
        jobs.transition(
            store,
            job_id,
            jobs.RUNNING,
            jobs.CANCELLED,
            NOW,
            fence=fence_of(a, T0 + TTL + 1),
            skip_pending=True,
        )
    assert (jobs.get_job(store, job_id) or {})["status"] == jobs.RUNNING
    assert {r["status"] for r in jobs.get_steps(store, job_id)} == {jobs.STEP_PENDING}


def test_an_expired_lease_fences_its_holder_even_before_anyone_takes_it(store: Store) -> None:
    job_id = job(store)
    a = leases.acquire(store, f"job:{job_id}", "host:1:a", TTL, T0)
    assert a is not None
    with pytest.raises(LeaseLost):
        jobs.update_step(store, job_id, 1, fence=fence_of(a, T0 + TTL), status=jobs.STEP_RUNNING)
    assert jobs.get_steps(store, job_id)[1]["status"] == jobs.STEP_PENDING
