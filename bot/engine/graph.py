"""One pass over a job's unfinished steps in dependency order (``Walk``), the run loop of ``Engine.run``.

A step is ready when every step it needs (``Plan.needs``) is done or skipped; a step left ``running`` by a
crash is ready at once (it re-attaches to its saved operation). A line (``width`` 1) runs its steps one at a
time in the caller's thread, in order, exactly as before graphs. A graph runs every ready step on a bounded
pool, at most ``width`` at once, and always shuts the pool down before returning. After the first failure
or a cancel request nothing new starts; the running steps reach their own end (a step is never abandoned half
way), then ``run`` returns with ``error`` (the first failure) or ``cancelled`` set; the engine runs the
always-steps and ends the job. The walk itself knows nothing of the store: the engine passes how to run a
step and how to read a cancel request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from avdcore.errors import AvdError
from bot.runtime import BoundedPool
from bot.storage import jobs

Row = Mapping[str, Any]
FINISHED = (jobs.STEP_DONE, jobs.STEP_SKIPPED)


class Walk:
    """Run ``rows`` (a job's step rows, in plan order) whose ``needs`` are met, ``width`` at a time."""

    def __init__(
        self,
        rows: Sequence[Row],
        needs: Mapping[str, tuple[str, ...]],
        width: int,
        run_step: Callable[[Row], None],
        cancel_requested: Callable[[], bool],
        *,
        name: str = "avd-step",
    ) -> None:
        self.rows, self.needs, self.width = list(rows), needs, max(1, width)
        self.run_step, self.cancel_requested, self.name = run_step, cancel_requested, name
        self.finished = {str(r["name"]) for r in self.rows if r["status"] in FINISHED}
        self.started: set[str] = set()
        self.error: BaseException | None = None
        self.cancelled = False
        self.most_at_once = 0  # the widest the walk ran (for tests and benchmarks)

    def ready(self) -> list[Row]:
        """Unstarted, unfinished rows whose needs are all finished (a row left running is ready), in order."""
        return [
            r
            for r in self.rows
            if r["name"] not in self.finished
            and r["name"] not in self.started
            and (
                r["status"] == jobs.STEP_RUNNING
                or all(n in self.finished for n in self.needs.get(str(r["name"]), ()))
            )
        ]

    def run(self) -> None:
        if self.width == 1:
            self._line()
        else:
            self._graph()
        if self.error is None and not self.cancelled:
            waiting = [str(r["name"]) for r in self.rows if r["name"] not in self.finished]
            if waiting:
                self.error = AvdError(
                    f"step(s) {', '.join(waiting)} wait for steps that cannot finish: start a new job"
                )

    def _line(self) -> None:
        while ready := self.ready():
            if self.cancel_requested():
                self.cancelled = True
                return
            row = ready[0]
            self.started.add(str(row["name"]))
            self.most_at_once = 1
            try:
                self.run_step(row)
            except Exception as exc:  # noqa: BLE001 - the engine records it on the job
                self.error = exc
                return
            self.finished.add(str(row["name"]))

    def _graph(self) -> None:
        pool = BoundedPool(self.width, limit=self.width, thread_name_prefix=self.name)
        running: dict[Future[None], str] = {}
        try:
            while True:
                if self.error is None and not self.cancelled:
                    ready = self.ready()[: self.width - len(running)]
                    if ready and self.cancel_requested():
                        self.cancelled = True
                        ready = []
                    for row in ready:
                        self.started.add(str(row["name"]))
                        running[pool.submit(self.run_step, row)] = str(row["name"])
                    self.most_at_once = max(self.most_at_once, len(running))
                if not running:
                    return
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    name = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        self.finished.add(name)
                    elif self.error is None:
                        self.error = exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
