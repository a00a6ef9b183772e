"""The job runner: plans run step by step on APScheduler's bounded worker pool, recorded like migrations.

``Engine(runtime)`` owns the capability registry's use, the ``Progress`` card writer and the run loop.
A step row moves pending -> running -> done|failed; its start/finish times, output, error and the LRO
continuation token are written as they happen, so after a crash ``resume_all()`` continues each running job
at its first unfinished step and re-attaches to a saved poller (``step.resume``) instead of repeating it.
Cancel stops at the next step boundary; retry resumes from the first unfinished or failed step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from avdcore.errors import AvdError, NotAllowed, NotApproved
from azureops.errors import project_error
from azureops.plan import Plan, Step
from bot import audit, cards, jobs
from bot.progress import Progress
from commands import ops

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
BuildPlan = Callable[["Runtime", ops.Operation, datetime], Plan]
CAPABILITIES: dict[str, BuildPlan] = {}
OP_KINDS: dict[type[ops.Operation], str] = {}


def register_capability(kind: str, build_plan: BuildPlan, *, op_type: type[ops.Operation] | None = None) -> None:
    """Plug a capability in: ``build_plan(runtime, op, now) -> Plan``; ``op_type`` routes ``/avd`` to it."""
    CAPABILITIES[kind] = build_plan
    if op_type is not None:
        OP_KINDS[op_type] = kind


def kind_of(op: ops.Operation) -> str:
    return OP_KINDS.get(type(op), op.verb)


class StepRecorder:
    """The ``StepContext`` a running step gets: tokens, progress and output go straight to the store."""

    def __init__(self, engine: Engine, job_id: int, idx: int) -> None:
        self.engine, self.job_id, self.idx = engine, job_id, idx
        self.lines: list[str] = []

    def save_token(self, token: str) -> None:
        jobs.update_step(self.engine.store, self.job_id, self.idx, continuation_token=token)

    def progress(self, percent: float | None, text: str = "") -> None:
        jobs.update_step(self.engine.store, self.job_id, self.idx, percent=percent, progress=text[:200])
        self.engine.progress.touch(self.job_id)

    def note(self, text: str) -> None:
        self.lines.append(text)
        jobs.update_step(self.engine.store, self.job_id, self.idx, output="\n".join(self.lines)[-2000:])


class Engine:
    """Runs jobs for one runtime (see module docstring)."""

    def __init__(self, runtime: Runtime, *, progress: Progress | None = None) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.progress = progress or Progress(runtime.client, self.render_card, self._card_posted,
                                             self._card_updated)
        self.on_drift: Callable[[int, Plan, datetime], None] | None = None  # set by bot.approvals

    def now(self) -> datetime:
        return self.runtime.clock()

    # ---- cards -----------------------------------------------------------------------------------

    def render_card(self, job_id: int, ts: str | None) -> tuple[str, list[Any]]:
        job = jobs.get_job(self.store, job_id)
        if job is None:
            return f"Job {job_id} not found", []
        rows = list(self.store.db.query(
            "select * from approvals where job_id = ? order by coalesce(message_ts = ?, 0) desc, created_at desc"
            " limit 1",
            [job_id, ts or ""]))
        text, blocks = cards.job_card(job, jobs.get_steps(self.store, job_id), rows[0] if rows else None,
                                      now=self.now(), simulated=self.runtime.simulated_azure)
        return text, list(blocks)

    def _card_posted(self, job_id: int, channel: str, ts: str, wall: float) -> None:
        # one transaction: a press that sees the job's card_ts must also find the approval bound to it
        with self.store.transaction() as db:
            db.execute("update jobs set card_ts = ?, channel = ?, card_updated_at = ? where id = ?",
                       [ts, channel, wall, job_id])
            db.execute("update approvals set message_ts = ?, channel = ? where job_id = ? and status = 'pending'"
                       " and message_ts is null", [ts, channel, job_id])

    def _card_updated(self, job_id: int, channel: str, ts: str, wall: float) -> None:
        with self.store.transaction() as db:
            db.execute("update jobs set card_updated_at = ? where id = ? and card_ts = ?", [wall, job_id, ts])

    def adopt_card(self, job: dict[str, Any]) -> None:
        if job.get("card_ts"):
            self.progress.known(int(job["id"]), job["channel"], job["card_ts"], job.get("card_updated_at"))
        else:
            self.progress.post_card(int(job["id"]), job["channel"])

    # ---- scheduling ------------------------------------------------------------------------------

    def submit(self, job_id: int) -> None:
        """Run the job on the worker pool (idempotent: one scheduler job per engine job)."""
        self.runtime.scheduler.add_job(self.run, args=[job_id], id=f"engine-job-{job_id}", replace_existing=True,
                                       misfire_grace_time=None, jobstore="default", executor="default")

    def resume_all(self) -> list[int]:
        """At start-up: adopt every open card and continue queued/running jobs."""
        resumed = []
        for job in jobs.jobs_in(self.store, jobs.ACTIVE):
            self.adopt_card(job)
            if job["status"] in (jobs.QUEUED, jobs.RUNNING):
                audit.record(self.store, actor="avd-bot", action="job resume", target=f"job {job['id']}",
                             detail={"status": job["status"]}, at=self.now())
                self.submit(int(job["id"]))
                resumed.append(int(job["id"]))
        return resumed

    def plan_for(self, job: dict[str, Any]) -> Plan:
        build = CAPABILITIES.get(job["kind"])
        if build is None:
            raise NotAllowed(f"no capability {job['kind']!r} is installed in this bot")
        return build(self.runtime, jobs.op_from_json(job["op_json"]), self.now())

    # ---- the run loop ----------------------------------------------------------------------------

    def run(self, job_id: int) -> None:
        """Run (or continue) one job to its end, a failure or a cancel."""
        now = self.now()
        if jobs.transition(self.store, job_id, jobs.QUEUED, jobs.RUNNING, now):
            pass
        job = jobs.get_job(self.store, job_id)
        if job is None or job["status"] != jobs.RUNNING:
            return
        try:
            plan = self.plan_for(job)
            if job.get("started_at") is None and self._drifted(job, plan):
                return
            if job.get("started_at") is None:
                jobs.update_job(self.store, job_id, started_at=jobs.iso(now))
            self.progress.touch(job_id)
            for row in jobs.get_steps(self.store, job_id):
                if row["status"] in (jobs.STEP_DONE, jobs.STEP_SKIPPED):
                    continue
                if self._cancel_requested(job_id):
                    self._finish_cancelled(job_id)
                    return
                self._run_step(job_id, plan, row)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            self._fail(job_id, exc)
            return
        if jobs.transition(self.store, job_id, jobs.RUNNING, jobs.DONE, self.now()):
            audit.record(self.store, actor="avd-bot", action="job done", target=f"job {job_id}", at=self.now())
            self._announce_end(job_id)

    def _drifted(self, job: dict[str, Any], plan: Plan) -> bool:
        """On first start: if the plan no longer matches what was approved, ask again instead of running."""
        if plan.hash() == job["plan_hash"]:
            return False
        approved = self.store.db.execute(
            "select count(*) from approvals where job_id = ? and status = 'approved'", [job["id"]]).fetchone()[0]
        if not approved or self.on_drift is None:
            jobs.update_job(self.store, int(job["id"]), plan_hash=plan.hash())
            with self.store.transaction() as db:
                jobs.replace_steps(db, int(job["id"]), plan)
            return False
        if jobs.transition(self.store, int(job["id"]), jobs.RUNNING, jobs.AWAITING, self.now()):
            self.on_drift(int(job["id"]), plan, self.now())
        return True

    def _cancel_requested(self, job_id: int) -> bool:
        row = self.store.db.execute("select cancel_requested from jobs where id = ?", [job_id]).fetchone()
        return bool(row and row[0])

    def _run_step(self, job_id: int, plan: Plan, row: dict[str, Any]) -> None:
        idx = int(row["idx"])
        try:
            step: Step = plan.step(row["name"])
        except KeyError:
            raise AvdError(f"step {row['name']!r} is no longer part of the {plan.kind} plan: "
                           f"start a new job (/avd job {job_id} shows what finished)") from None
        ctx = StepRecorder(self, job_id, idx)
        token = row.get("continuation_token")
        resuming = row["status"] == jobs.STEP_RUNNING
        now = self.now()
        jobs.update_step(self.store, job_id, idx, status=jobs.STEP_RUNNING, error=None,
                         started_at=row.get("started_at") if resuming and row.get("started_at") else jobs.iso(now))
        self.progress.touch(job_id)
        try:
            if resuming and token and step.resume is not None:
                output = step.resume(ctx, token)
            elif step.check(ctx):
                output = "already done"
            else:
                output = step.apply(ctx)
        except Exception as exc:
            err = project_error(exc, step.resource_id) or exc
            jobs.update_step(self.store, job_id, idx, status=jobs.STEP_FAILED, finished_at=jobs.iso(self.now()),
                             error=str(err))
            raise err from exc if err is not exc else None
        lines = [*ctx.lines, output] if output else ctx.lines
        jobs.update_step(self.store, job_id, idx, status=jobs.STEP_DONE, finished_at=jobs.iso(self.now()),
                         output="\n".join(lines)[-2000:] or None, percent=100.0)
        self.progress.touch(job_id)

    def _fail(self, job_id: int, exc: BaseException) -> None:
        err = project_error(exc)
        if err is None:
            incident = uuid.uuid4().hex[:8]
            log.error("incident %s: job %s crashed", incident, job_id, exc_info=exc)
            err = AvdError(f"internal error (incident {incident}): {type(exc).__name__}")
        if jobs.transition(self.store, job_id, (jobs.RUNNING, jobs.QUEUED), jobs.FAILED, self.now(),
                           **jobs.error_fields(err)):
            audit.record(self.store, actor="avd-bot", action="job failed", target=f"job {job_id}",
                         detail={"error": str(err)}, outcome="failed", at=self.now())
            self._announce_end(job_id)

    def _finish_cancelled(self, job_id: int) -> None:
        now = self.now()
        if jobs.transition(self.store, job_id, jobs.RUNNING, jobs.CANCELLED, now):
            with self.store.transaction() as db:
                db.execute("update steps set status = ? where job_id = ? and status = ?",
                           [jobs.STEP_SKIPPED, job_id, jobs.STEP_PENDING])
            audit.record(self.store, actor="avd-bot", action="job cancelled", target=f"job {job_id}",
                         detail={"at": "step boundary"}, at=now)
            self._announce_end(job_id)

    def _announce_end(self, job_id: int) -> None:
        job = jobs.get_job(self.store, job_id)
        if job is None:
            return
        self.progress.touch(job_id, final=True)
        self.progress.reply(job_id, cards.final_reply(job, jobs.get_steps(self.store, job_id), self.now()),
                            broadcast=True)

    # ---- operator actions ------------------------------------------------------------------------

    def cancel(self, job_id: int, user: str) -> str:
        """Cancel now if the job has not started, else at the next step boundary."""
        now = self.now()
        job = jobs.get_job(self.store, job_id)
        if job is None:
            raise NotAllowed(f"there is no job {job_id}")
        if jobs.transition(self.store, job_id, (jobs.AWAITING, jobs.QUEUED), jobs.CANCELLED, now,
                           cancel_requested=1):
            with self.store.transaction() as db:
                db.execute("update approvals set status = 'cancelled', decided_by = ?, decided_at = ?"
                           " where job_id = ? and status = 'pending'", [user, jobs.iso(now), job_id])
            audit.record(self.store, actor=user, action="job cancel", target=f"job {job_id}", at=now)
            self._announce_end(job_id)
            return f"Job {job_id} cancelled."
        if job["status"] != jobs.RUNNING:
            raise NotAllowed(f"job {job_id} is {job['status']}: only a waiting, queued or running job can be cancelled")
        jobs.request_cancel(self.store, job_id)
        audit.record(self.store, actor=user, action="job cancel", target=f"job {job_id}",
                     detail={"at": "next step boundary"}, at=now)
        self.progress.touch(job_id)
        return f"Job {job_id} will stop after its current step."

    def retry(self, job_id: int, user: str) -> str:
        """Re-queue a failed or cancelled job from its first unfinished step (takes its locks again)."""
        now = self.now()
        job = jobs.get_job(self.store, job_id)
        if job is None:
            raise NotAllowed(f"there is no job {job_id}")
        approvals = [r["status"] for r in self.store.db.query("select status from approvals where job_id = ?",
                                                               [job_id])]
        if approvals and "approved" not in approvals:
            raise NotApproved(f"job {job_id} was never approved: request it again with a new command")
        locks = [r["resource_id"].lower() for r in jobs.get_steps(self.store, job_id) if r.get("resource_id")]
        with self.store.transaction() as db:
            cur = db.execute(
                "update jobs set status = ?, cancel_requested = 0, error = null, error_json = null,"
                " finished_at = null, updated_at = ? where id = ? and status in (?, ?)",
                [jobs.QUEUED, jobs.iso(now), job_id, jobs.FAILED, jobs.CANCELLED])
            if cur.rowcount != 1:
                raise NotAllowed(f"job {job_id} is {job['status']}: only a failed or cancelled job can be retried")
            jobs._take_locks(db, job_id, locks, now)
            db.execute("update steps set status = ?, error = null, continuation_token = null, percent = null,"
                       " finished_at = null where job_id = ? and status in (?, ?, ?)",
                       [jobs.STEP_PENDING, job_id, jobs.STEP_FAILED, jobs.STEP_SKIPPED, jobs.STEP_RUNNING])
        audit.record(self.store, actor=user, action="job retry", target=f"job {job_id}", at=now)
        self.progress.touch(job_id)
        self.submit(job_id)
        return f"Job {job_id} queued again from its first unfinished step."
