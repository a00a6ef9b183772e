"""The steps of a snapshot sync plan: lift the locks in the way, copy one snapshot, delete one replica,
restore every lifted lock (an always-step), and the summary.

``azureops.snapshot_plans`` wires them into a graph: one chain of copy steps per incremental family (Azure
copies a disk's incremental snapshots one at a time, in the order they were created: "Copy an incremental
snapshot to a new region", Restrictions), the families in parallel. A copy step holds its family's lock
(``Budget.family``, shared by every job of the process, so two profiles never copy one disk at once) while it
copies and reports its progress on its own step. A lifted lock is handed to ``LiftedLocks`` (the bot keeps it
in its store) before it is removed, so a run interrupted by a crash leaves it for ``restore-locks``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

from avdcore.errors import AvdError, AzureError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.plan import Step, StepContext, format_seconds
from azureops.staging import stage_and_import


class LiftedLocks(Protocol):
    """Where a run records the locks it lifted until it restores them (durable: a crash must not lose one)."""

    def remember(self, lock: azlocks.Lock) -> None: ...

    def forget(self, lock: azlocks.Lock) -> None: ...

    def leftover(self, subscription: str, resource_group: str) -> list[azlocks.Lock]:
        """Locks an interrupted run lifted in this resource group and never restored."""


class Tally:
    """What the steps of one run copied and failed, for its summary (copies of several families at once)."""

    def __init__(self) -> None:
        self.copied: list[snaps.Snap] = []
        self.failed: list[str] = []
        self.started: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self.started = self.started if self.started is not None else time.monotonic()

    def add(self, replica: snaps.Snap | None = None, failed: str = "") -> None:
        with self._lock:
            if replica is not None:
                self.copied.append(replica)
            if failed:
                self.failed.append(failed)


def done_line(src: snaps.Snap, replica: snaps.Snap) -> str:
    return f"{snaps.route_for(src, replica.location)}: {replica.size_bytes / 1024**3:.0f} GiB ready in {replica.location}"


class Lifter:
    """The locks that block this run's copies, lifted once per run (each recorded first): by ``lift-locks``, or,
    in a retry (whose ``lift-locks`` is done while ``restore-locks`` put the locks back at the failed run's end),
    by the first copy or deletion. The plan is rebuilt for every run, so is this."""

    def __init__(self, t: copies.Target, locks: list[azlocks.Lock], lifted: LiftedLocks) -> None:
        self.t, self.locks, self.lifted = t, locks, lifted
        self._done = False
        self._lock = threading.Lock()

    def ensure(self) -> list[str]:
        """Lift them now unless this run already did; returns the labels lifted now."""
        with self._lock:
            if self._done:
                return []
            gone = []
            for lock in self.locks:
                self.lifted.remember(lock)
                azlocks.remove(self.t.clients, self.t.target_sub, lock)
                gone.append(lock.label())
            self._done = True
            return gone


def lift_step(
    t: copies.Target, lifter: Lifter, after: tuple[str, ...], kept: Sequence[azlocks.Lock] = ()
) -> Step:
    """Lift the locks that block the copies; ``restore-locks`` puts them back. ``kept``: locks in the way that
    an interrupted run lifted and recorded, left lifted until then."""
    scope = f"/subscriptions/{t.target_sub}/resourceGroups/{t.target_rg}"
    lift = lifter.locks

    def apply(ctx: StepContext) -> str:
        gone = lifter.ensure()
        return "lifted " + ", ".join(gone) if gone else "no lock in the way"

    what = ", ".join(lk.label() for lk in lift) or "nothing"
    if kept:
        what += " (" + ", ".join(lk.label() for lk in kept) + " lifted by an interrupted run stays lifted)"
    return Step(
        name="lift-locks",
        resource_id=scope,
        description=f"Lift {what} for the copies (restored at the end)",
        apply=apply,
        estimate_seconds=5,
        intent={"lift": [lk.id.lower() for lk in lift]},
        after=after,
    )


def copy_step(
    t: copies.Target,
    src: snaps.Snap,
    tally: Tally,
    lifter: Lifter,
    *,
    replicated: bool,
    conflict: str,
    after: tuple[str, ...],
) -> Step:
    rid = snaps.snapshot_id(t.target_sub, t.target_rg, src.name)
    route = snaps.route_for(src, t.region)
    gib = src.size_bytes / 1024**3

    def apply(ctx: StepContext) -> str:
        if conflict:
            raise AzureError(
                conflict, code="NameTaken", resource_id=rid, next_step="rename or remove it, then retry"
            )
        for label in lifter.ensure():  # a retry: the failed run's end put them back
            ctx.note(f"lifted {label}")
        tally.start()
        last = [-10.0]

        def progress(percent: float | None, text: str) -> None:
            if percent is not None and percent - last[0] >= 5:
                last[0] = percent
                ctx.progress(percent, text)

        try:
            with t.budget.family(src.family):  # one copy of a disk's snapshots at a time, across jobs too
                ctx.progress(0.0, f"copying {src.name}")
                replica = copies.copy_snapshot(t, src, progress, stage=stage_and_import)
        except Exception as exc:
            tally.add(failed=src.name)
            if not isinstance(exc, AvdError):
                raise
            raise AzureError(
                f"copying {src.name} failed: {getattr(exc, 'message', str(exc))} "
                f"({len(tally.copied)} copied by this run, {len(tally.failed)} failed; a retry copies what "
                "is left, each disk's snapshots in creation order)",
                code=getattr(exc, "code", "") or type(exc).__name__,
                resource_id=getattr(exc, "resource_id", "") or src.id,
                next_step=getattr(exc, "next_step", "") or "fix the cause, then retry the job",
            ) from exc
        tally.add(replica)
        return done_line(src, replica)

    what = (
        f"Keep {src.name}: already replicated"
        if replicated
        else f"Copy {src.name} ({route}, {gib:.0f} GiB) to {t.region}"
        + (f" - BLOCKED: {conflict}" if conflict else "")
    )
    return Step(
        name=f"copy:{src.name}",
        resource_id=rid,
        description=what,
        apply=apply,
        check=lambda ctx: replicated,
        estimate_seconds=60 + int(gib * 6),
        intent={"source": src.id.lower(), "created": src.created, "route": route},
        after=after,
    )


def late_step(t: copies.Target, src: snaps.Snap, why: str, after: tuple[str, ...]) -> Step:
    """A snapshot that can no longer be copied in order: shown and reported, never sent (Azure refuses it)."""
    text = f"{why}; Azure copies a disk's incremental snapshots in the order they were created"
    return Step(
        name=f"copy:{src.name}",
        resource_id=snaps.snapshot_id(t.target_sub, t.target_rg, src.name),
        description=f"Skip {src.name}: {why}",
        apply=lambda ctx: f"not copied: {text}",
        estimate_seconds=1,
        intent={"source": src.id.lower(), "created": src.created, "route": "none"},
        after=after,
    )


def delete_step(
    t: copies.Target,
    replica: snaps.Snap,
    lift: list[azlocks.Lock],
    lifted: LiftedLocks,
    after: tuple[str, ...],
    lifter: Lifter,
) -> Step:
    """Delete a replica whose source is gone (re-checked first), lifting and restoring its own locks."""

    def check(ctx: StepContext) -> bool:
        compute = t.clients.compute(t.target_sub)
        return snaps.get_snapshot(compute, t.target_sub, t.target_rg, replica.name, t.budget) is None

    def apply(ctx: StepContext) -> str:
        for label in lifter.ensure():  # the copies' locks stay lifted until restore-locks
            ctx.note(f"lifted {label}")
        if not copies.source_gone(t, replica):
            return f"kept {replica.name}: its source is back"
        with azlocks.lifted(
            t.clients, t.target_sub, lift, note=ctx.note, on_lift=lifted.remember, on_restore=lifted.forget
        ):
            copies.delete_snapshot(t, replica.name)
        return f"deleted {replica.name}"

    locks_txt = "; lifts and restores " + ", ".join(lk.label() for lk in lift) if lift else ""
    return Step(
        name=f"delete:{replica.name}",
        resource_id=replica.id,
        apply=apply,
        check=check,
        estimate_seconds=30,
        description=f"Delete {replica.name} (its source {replica.source_id.rsplit('/', 1)[-1]} is gone)"
        + locks_txt,
        intent={"source": replica.source_id.lower(), "lift": [lk.id.lower() for lk in lift]},
        after=after,
    )


def restore_step(t: copies.Target, lock: azlocks.Lock, lifted: LiftedLocks) -> Step:
    def apply(ctx: StepContext) -> str:
        back = azlocks.restore(t.clients, t.target_sub, lock)
        lifted.forget(lock)
        return f"restored {lock.label()}" if back else f"{lock.label()} went with its resource"

    return Step(
        name=f"restore-lock:{lock.id.lower()}",
        resource_id=lock.scope,
        apply=apply,
        estimate_seconds=5,
        description=f"Restore {lock.label()} (lifted by an interrupted run)",
        intent={"lock": lock.__dict__},
        after=(),
    )


def restore_locks_step(t: copies.Target, lifted: LiftedLocks, after: Sequence[str]) -> Step:
    """After every copy and deletion, and at any end of the job (done, failed, cancelled, resumed after a
    crash): restore every lock recorded as lifted in the target resource group and not restored yet (by this
    run or an interrupted one); the job cannot end done while one is missing."""
    scope = f"/subscriptions/{t.target_sub}/resourceGroups/{t.target_rg}"

    def apply(ctx: StepContext) -> str:
        restored = []
        for lock in lifted.leftover(t.target_sub, t.target_rg):
            back = azlocks.restore(t.clients, t.target_sub, lock)
            lifted.forget(lock)
            restored.append(lock.label() if back else f"{lock.label()} (went with its resource)")
        missing = lifted.leftover(t.target_sub, t.target_rg)
        if missing:
            raise AzureError(
                "locks still lifted: " + ", ".join(lk.label() for lk in missing),
                code="LockRestoreFailed",
                resource_id=scope,
                next_step="retry the job, or re-create the lock(s) by hand with the same name, level and notes",
            )
        return "restored " + ", ".join(restored) if restored else "no lock left lifted"

    return Step(
        name="restore-locks",
        resource_id=scope,
        description=f"Restore every lock lifted in {t.target_rg} (also after a failure, a cancel or a crash)",
        apply=apply,
        estimate_seconds=5,
        always=True,
        after=tuple(after),
    )


def summary_step(
    tally: Tally, skipped: int, deletes: int, notes: list[str], lift: list[azlocks.Lock]
) -> Step:
    def apply(ctx: StepContext) -> str:
        for note in notes:
            ctx.note(note)
        moved = sum(s.size_bytes for s in tally.copied)
        took = format_seconds(time.monotonic() - tally.started) if tally.started is not None else "0s"
        return (
            f"copied {len(tally.copied)}, skipped {skipped}, deleted {deletes}, failed {len(tally.failed)},"
            f" {moved / 1024**3:.0f} GiB, {took}"
        )

    text = "Summary" + (": " + "; ".join(notes) if notes else "")
    return Step(
        name="summary",
        resource_id="",
        description=text[:2900],
        apply=apply,
        estimate_seconds=1,
        intent={"lift": [lk.id.lower() for lk in lift]},
        after=("restore-locks",),
    )
