"""Job leases: the tenure of one process over each job it runs, renewed by one heartbeat thread.

A running job has a lease named ``job:<id>`` in ``leases`` (``bot.storage.leases``): an owner (the process's
``hostname:pid:random``), an expiry and an epoch. ``JobLeases.take`` acquires it when it is free, expired,
this process's own from an earlier start, or held by a process of this host that has ended; one thread per
process renews every lease it holds every ``ttl / 3``. Each write the engine makes for the job (step rows,
transitions) carries ``fence(job_id)``, checked in the write's own transaction, so once another process holds
a newer epoch (or the lease expired) the write is refused with ``LeaseLost`` and rolled back. ``check``
answers without the database, from the monotonic deadline ``ttl - margin`` after the last renewal began
(a paused process keeps counting), and is asked before each Azure step starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.engine.leader import ended
from bot.storage import leases
from bot.storage.db import Db
from bot.storage.jobs import Fence
from bot.storage.leases import Lease, LeaseLost
from bot.storage.store import Store

log = logging.getLogger(__name__)


def lease_name(job_id: int) -> str:
    return f"job:{job_id}"


class JobLeases:
    """The job leases of one process (see module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float,
        owner: str,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.ttl, self.owner = store, float(ttl), owner
        self.every, self.margin = self.ttl / 3, self.ttl / 5
        self.wall, self.mono = wall, monotonic
        self._held: dict[int, tuple[Lease, float]] = {}  # job id -> (lease, monotonic deadline)
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- tenure -----------------------------------------------------------------------------------

    def free(self, job_id: int) -> bool:
        """Whether another process could take the job now: no lease, expired, released, ours or a dead one's."""
        with self._lock:
            if job_id in self._held:
                return False  # a thread of this process runs it
        row = leases.current(self.store, lease_name(job_id))
        return (
            row is None
            or not row.owner
            or row.expires_at <= self.wall()
            or row.owner == self.owner
            or ended(row.owner)
        )

    def take(self, job_id: int) -> Lease | None:
        """Acquire the job's lease for this process (a new epoch); ``None`` when another process holds it or
        a thread of this one already runs the job."""
        with self._lock:
            if job_id in self._held:
                return None
        row = leases.current(self.store, lease_name(job_id))
        dead = row.owner if row is not None and row.owner and ended(row.owner) else ""
        started = self.mono()
        lease = leases.acquire(
            self.store, lease_name(job_id), self.owner, self.ttl, self.wall(), dead_owner=dead
        )
        if lease is None:
            return None
        with self._lock:
            if job_id in self._held:
                return None
            self._held[job_id] = (lease, started + self.ttl - self.margin)
            self._lost.discard(job_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="avd-job-leases", daemon=True)
                self._thread.start()
        return lease

    def check(self, job_id: int) -> None:
        """``LeaseLost`` unless this process still holds the job by its own clock (no database read)."""
        with self._lock:
            state = self._held.get(job_id)
            lost = job_id in self._lost
        if state is None or lost or self.mono() >= state[1]:
            raise LeaseLost(f"job {job_id}: this process no longer holds its lease")

    def fence(self, job_id: int) -> Fence:
        """The check a write for ``job_id`` makes in its own transaction (``bot.storage.jobs.Fence``)."""

        def check(db: Db) -> int:
            self.check(job_id)
            with self._lock:
                lease = self._held[job_id][0]
            leases.fence(db, lease, self.wall())
            return lease.epoch

        return check

    def release(self, job_id: int) -> None:
        """The job ended here (or will not run here): free its lease at once, if it is still ours."""
        with self._lock:
            state = self._held.pop(job_id, None)
            self._lost.discard(job_id)
        if state is not None:
            try:
                leases.release(self.store, state[0])
            except Exception:  # noqa: BLE001 - it expires by itself
                log.warning(
                    "job %s: lease not released; it expires in %.0fs", job_id, self.ttl, exc_info=True
                )

    def forget(self, job_id: int) -> None:
        """The lease was lost: stop renewing it (it belongs to another process now)."""
        with self._lock:
            self._held.pop(job_id, None)
            self._lost.discard(job_id)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    def stop(self) -> None:
        self._stopped.set()

    # ---- the heartbeat ----------------------------------------------------------------------------

    def beat(self) -> None:
        """Renew every lease held (one pass of the heartbeat); a refused renewal marks the job lost."""
        with self._lock:
            held = dict(self._held)
        for job_id, (lease, _) in held.items():
            started = self.mono()
            try:
                renewed = leases.renew(self.store, lease, self.ttl, self.wall())
            except Exception:  # noqa: BLE001 - the database is unreachable: the deadline decides
                log.warning("job %s: lease not renewed (database unreachable?)", job_id, exc_info=True)
                continue
            with self._lock:
                if job_id not in self._held:
                    continue
                if renewed is None:
                    self._lost.add(job_id)
                    log.warning(
                        "job %s: lease lost (epoch %d); this process stops the job", job_id, lease.epoch
                    )
                else:
                    self._held[job_id] = (renewed, started + self.ttl - self.margin)

    def _beat(self) -> None:
        while not self._stopped.wait(self.every):
            self.beat()
