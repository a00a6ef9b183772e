"""The parallel copies of one snapshot plan run.

The first copy step starts the ``Batch``: a bounded pool (``concurrency`` wide, under the ARM ``Budget``)
that lifts the blocking locks, copies every snapshot and restores the locks (try/finally). Azure copies only
one incremental snapshot of a disk at a time, in the order they were created ("Copy an incremental snapshot
to a new region", Restrictions): so the pool runs families (``incrementalSnapshotFamilyId``; a full snapshot
is a family of its own) in parallel, and each family's copies one after another in creation order; when one
fails, the later ones of its family are not tried (a retry copies them in order). Each copy reports
its progress and result on its own step (``StepContext.item``). A lifted lock is handed to ``LiftedLocks``
(the bot keeps it in its store) until it is restored, so a run interrupted by a crash leaves it for the next
plan to restore.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, Protocol

from avdcore.errors import AvdError, AzureError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.plan import StepContext
from azureops.staging import stage_and_import


class LiftedLocks(Protocol):
    """Where a run records the locks it lifted until it restores them (durable: a crash must not lose one)."""

    def remember(self, lock: azlocks.Lock) -> None: ...

    def forget(self, lock: azlocks.Lock) -> None: ...

    def leftover(self, subscription: str, resource_group: str) -> list[azlocks.Lock]:
        """Locks an interrupted run lifted in this resource group and never restored."""


class Batch:
    """The parallel copies of one plan run; results land on the copy steps' rows as they happen."""

    def __init__(
        self,
        t: copies.Target,
        sources: list[snaps.Snap],
        lift: list[azlocks.Lock],
        concurrency: int,
        lifted: LiftedLocks,
    ) -> None:
        self.t, self.sources, self.lift, self.lifted = t, sources, lift, lifted
        self.concurrency = max(1, concurrency)
        self.futures: dict[str, Future[snaps.Snap]] = {}
        self.rows: dict[str, str] = {}  # snapshot name -> the name of its copy step
        self.done = threading.Event()
        self.restore_error: AvdError | None = None
        self.started_at = time.monotonic()
        self.copied: list[snaps.Snap] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._ctx: StepContext | None = None

    def start(self, ctx: StepContext) -> None:
        with self._lock:
            if self.futures or self.done.is_set():
                return
            self._ctx, self.started_at = ctx, time.monotonic()
            stack = ExitStack()
            try:
                stack.enter_context(
                    azlocks.lifted(
                        self.t.clients,
                        self.t.target_sub,
                        self.lift,
                        note=ctx.note,
                        on_lift=self.lifted.remember,
                        on_restore=self.lifted.forget,
                    )
                )
            except BaseException:
                stack.close()
                self.done.set()
                raise
            groups = snaps.families(self.sources)
            pool = ThreadPoolExecutor(
                max_workers=min(self.concurrency, max(1, len(groups))),
                thread_name_prefix="avd-snapcopy",
            )
            for src in self.sources:
                self.futures[src.name] = Future()
            for group in groups:
                pool.submit(self._copy_family, group)
            threading.Thread(
                target=self._finish, args=(pool, stack), daemon=True, name="avd-snapbatch"
            ).start()

    def _copy_family(self, group: list[snaps.Snap]) -> None:
        """One family's copies, one at a time in creation order; after a failure the rest are not tried. The
        family's lock (shared with other jobs' batches: two profiles syncing the same disk) is held throughout."""
        with self.t.budget.family(group[0].family):
            self._copy_in_order(group)

    def _copy_in_order(self, group: list[snaps.Snap]) -> None:
        failed = ""
        for src in group:
            fut = self.futures[src.name]
            if not fut.set_running_or_notify_cancel():
                continue
            if failed:
                err = AzureError(
                    f"{src.name} not copied: {failed}, an earlier snapshot of the same disk, failed, and Azure "
                    "copies a disk's incremental snapshots one at a time in the order they were created",
                    code="CopyOrder",
                    resource_id=src.id,
                    next_step="fix the earlier copy's cause, then retry the job",
                )
                with self._lock:
                    self.failed.append(src.name)
                self._row(src.name, status="failed", error=str(err))
                fut.set_exception(err)
                continue
            try:
                fut.set_result(self._copy(src))
            except BaseException as exc:  # recorded on the future; wait() re-raises it on the step
                failed = src.name
                fut.set_exception(exc)

    def _copy(self, src: snaps.Snap) -> snaps.Snap:
        self._row(src.name, status="running", percent=0.0)
        last = [-10.0]

        def progress(percent: float | None, text: str) -> None:
            if percent is not None and percent - last[0] >= 5:
                last[0] = percent
                self._row(src.name, percent=percent, text=text)

        try:
            replica = copies.copy_snapshot(self.t, src, progress, stage=stage_and_import)
        except Exception as exc:
            with self._lock:
                self.failed.append(src.name)
            self._row(src.name, status="failed", error=str(exc))
            raise
        with self._lock:
            self.copied.append(replica)
        self._row(src.name, status="done", percent=100.0, output=done_line(src, replica))
        return replica

    def _finish(self, pool: ThreadPoolExecutor, stack: ExitStack) -> None:
        try:
            for fut in list(self.futures.values()):
                fut.exception()
            pool.shutdown(wait=True)
            stack.close()
        except AvdError as err:
            self.restore_error = err
        finally:
            self.done.set()

    def _row(self, name: str, **fields: Any) -> None:
        if self._ctx is not None and name in self.rows:
            self._ctx.item(self.rows[name], **fields)

    def wait(self, ctx: StepContext, src: snaps.Snap) -> str:
        self.start(ctx)
        fut = self.futures.get(src.name)
        if fut is None:
            raise AvdError(f"{src.name} was not part of this run's copies: retry the job")
        err = fut.exception()
        if err is not None:
            self.join()
            if not isinstance(err, AvdError):
                raise err
            ok, bad = len(self.copied), len(self.failed)
            raise AzureError(
                f"copying {src.name} failed: {getattr(err, 'message', str(err))} "
                f"({ok} copied, {bad} failed; a retry copies only the failed ones)",
                code=getattr(err, "code", "") or type(err).__name__,
                resource_id=getattr(err, "resource_id", "") or src.id,
                next_step=getattr(err, "next_step", "") or "fix the cause, then retry the job",
            ) from err
        return done_line(src, fut.result())

    def join(self) -> None:
        if self.futures:
            self.done.wait()
        if self.restore_error is not None:
            raise self.restore_error


def done_line(src: snaps.Snap, replica: snaps.Snap) -> str:
    return f"{snaps.route_for(src, replica.location)}: {replica.size_bytes / 1024**3:.0f} GiB ready in {replica.location}"
