"""The parallel copies of one snapshot plan run, and the record of the locks a run lifts.

The first copy step starts the ``Batch``: a bounded pool (``concurrency`` wide, under the ARM ``Budget``)
that lifts the blocking locks, copies every snapshot and restores the locks (try/finally). Each copy writes
its progress and result straight onto its own step row. A lifted lock is remembered in ``meta`` until it is
restored, so a run interrupted by a crash leaves ``leftover_locks`` for the next plan to restore.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from avdcore.errors import AvdError, AzureError
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.plan import StepContext
from azureops.staging import stage_and_import
from bot import jobs

if TYPE_CHECKING:
    from bot.app import Runtime

LIFTED = "snapshots:lifted:"


class Batch:
    """The parallel copies of one plan run; results land on the copy steps' rows as they happen."""

    def __init__(self, runtime: Runtime, t: copies.Target, sources: list[snaps.Snap], lift: list[azlocks.Lock],
                 concurrency: int) -> None:
        self.runtime, self.t, self.sources, self.lift = runtime, t, sources, lift
        self.concurrency = max(1, concurrency)
        self.futures: dict[str, Future[snaps.Snap]] = {}
        self.rows: dict[str, int] = {}
        self.done = threading.Event()
        self.restore_error: AvdError | None = None
        self.started_at = time.monotonic()
        self.copied: list[snaps.Snap] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._ctx: Any = None

    def start(self, ctx: StepContext) -> None:
        with self._lock:
            if self.futures or self.done.is_set():
                return
            self._ctx, self.started_at = ctx, time.monotonic()
            stack = ExitStack()
            try:
                stack.enter_context(azlocks.lifted(self.runtime.azure, self.t.target_sub, self.lift, note=ctx.note,
                                                   on_lift=lambda lk: remember(self.runtime, lk),
                                                   on_restore=lambda lk: forget(self.runtime, lk)))
            except BaseException:
                stack.close()
                self.done.set()
                raise
            pool = ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(self.sources))),
                                      thread_name_prefix="avd-snapcopy")
            for src in self.sources:
                self.futures[src.name] = pool.submit(self._copy, src)
            threading.Thread(target=self._finish, args=(pool, stack), daemon=True, name="avd-snapbatch").start()

    def _copy(self, src: snaps.Snap) -> snaps.Snap:
        self._row(src.name, status=jobs.STEP_RUNNING, percent=0.0)
        last = [-10.0]

        def progress(percent: float | None, text: str) -> None:
            if percent is not None and percent - last[0] >= 5:
                last[0] = percent
                self._row(src.name, percent=percent, progress=text[:200])

        try:
            replica = copies.copy_snapshot(self.t, src, progress, stage=stage_and_import)
        except Exception as exc:
            with self._lock:
                self.failed.append(src.name)
            self._row(src.name, status=jobs.STEP_FAILED, error=str(exc)[:500])
            raise
        with self._lock:
            self.copied.append(replica)
        self._row(src.name, status=jobs.STEP_DONE, percent=100.0, output=done_line(src, replica),
                  finished_at=jobs.iso(self.runtime.clock()))
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
        engine, job_id = getattr(self._ctx, "engine", None), getattr(self._ctx, "job_id", None)
        if engine is None or job_id is None or name not in self.rows:
            return
        jobs.update_step(engine.store, job_id, self.rows[name], **fields)
        engine.progress.touch(job_id)

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
            raise AzureError(f"copying {src.name} failed: {getattr(err, 'message', str(err))} "
                             f"({ok} copied, {bad} failed; a retry copies only the failed ones)",
                             code=getattr(err, "code", "") or type(err).__name__,
                             resource_id=getattr(err, "resource_id", "") or src.id,
                             next_step=getattr(err, "next_step", "") or "fix the cause, then retry the job") from err
        return done_line(src, fut.result())

    def join(self) -> None:
        if self.futures:
            self.done.wait()
        if self.restore_error is not None:
            raise self.restore_error


def done_line(src: snaps.Snap, replica: snaps.Snap) -> str:
    return f"{snaps.route_for(src, replica.location)}: {replica.size_bytes / 1024**3:.0f} GiB ready in {replica.location}"


def remember(runtime: Runtime, lock: azlocks.Lock) -> None:
    runtime.store.set_meta(LIFTED + lock.id.lower(), json.dumps(lock.__dict__))


def forget(runtime: Runtime, lock: azlocks.Lock) -> None:
    with runtime.store.transaction() as db:
        db.execute("delete from meta where key = ?", [LIFTED + lock.id.lower()])


def leftover_locks(runtime: Runtime, sub: str, rg: str) -> list[azlocks.Lock]:
    """Locks a crashed run lifted in this resource group and never restored."""
    prefix = f"{LIFTED}/subscriptions/{sub}/resourcegroups/{rg}".lower()
    rows = runtime.store.db.query("select value from meta where key like ?", [prefix + "%"])
    return [azlocks.Lock(**json.loads(r["value"])) for r in rows]
