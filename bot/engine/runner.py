"""The job runner: plans run on APScheduler's bounded worker pool, their steps recorded like migrations.

``Engine(runtime, progress)`` plans requests with the runtime's capability registry (``request``: the one way
to ask for a job), runs them and reports through a ``ProgressSink`` (the card writer of ``bot.slack``).
A line plan runs one step at a time, in order; a graph (``Step.after``) runs every step whose needs are done,
at most ``Engine.width(plan)`` at once, on a bounded pool of its own (``bot.engine.graph.Walk``).
A step row moves pending -> running -> done|failed; its start/finish times, output, error and the LRO
continuation token are written as they happen, so after a crash ``resume_all()`` continues every unfinished
branch and re-attaches each running step to its saved poller (``step.resume``) instead of repeating it.
Cancel and a failure start nothing new and let the running steps reach their end; then the always-steps
run and the job ends (failed with the first error). Retry resumes every unfinished branch.

A job runs only in the process holding its lease (``bot.engine.tenure``): ``run`` takes it first (or leaves
the job to its holder), every step-row write and job transition is fenced by it in its own transaction, and
each step checks it before its Azure work. A refused write (``LeaseLost``: another process took the job over
after this one was paused or cut off) ends the step's thread at once: no step failure is written, no
always-step runs, no further Azure call is made; the new holder re-attaches to the saved continuation tokens.
A job that ends here releases its lease.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from avdcore.errors import AvdError, NotAllowed, NotApproved
from azureops.clients import writes_guarded
from azureops.errors import project_error
from azureops.plan import Plan, Step, format_seconds
from bot.engine import approvals, graph
from bot.engine.leader import owner_id
from bot.engine.tenure import JobLeases
from bot.runtime import ProgressSink, Runtime, Say
from bot.storage import approvals as approval_rows
from bot.storage import audit, jobs
from bot.storage.leases import LeaseLost
from commands import ops

log = logging.getLogger(__name__)
STEP_WORKERS = (
    8  # steps of one graph job at once, unless its plan says fewer (or the ARM budget allows fewer)
)


class StepRecorder:
    """The ``StepContext`` a running step gets: tokens, progress and output go straight to the store."""

    def __init__(self, engine: Engine, job_id: int, idx: int) -> None:
        self.engine, self._job_id, self.idx = engine, job_id, idx
        self.fence = engine.leases.fence(job_id)
        self.lines: list[str] = []
        self.reported = False  # the step reported progress (a long one: its end gets a thread reply)

    @property
    def job_id(self) -> int:
        return self._job_id

    def save_token(self, token: str) -> None:
        jobs.update_step(self.engine.store, self.job_id, self.idx, fence=self.fence, continuation_token=token)

    def progress(self, percent: float | None, text: str = "") -> None:
        self.reported = True
        jobs.update_step(
            self.engine.store, self.job_id, self.idx, fence=self.fence, percent=percent, progress=text[:200]
        )
        self.engine.progress.touch(self.job_id)

    def note(self, text: str) -> None:
        self.lines.append(text)
        jobs.update_step(
            self.engine.store, self.job_id, self.idx, fence=self.fence, output="\n".join(self.lines)[-2000:]
        )


class Engine:
    """Runs jobs for one runtime (see module docstring)."""

    def __init__(self, runtime: Runtime, progress: ProgressSink, *, inline: bool = False) -> None:
        self.runtime = runtime
        self.inline = inline  # a command-line run: ``submit`` runs the job in the caller's thread
        self.store = runtime.store
        self.registry = runtime.registry
        self.progress = progress
        self.leases = JobLeases(self.store, ttl=runtime.settings.job_lease_seconds, owner=owner_id())

    def now(self) -> datetime:
        return self.runtime.clock()

    # ---- requests ------------------------------------------------------------------------------

    def request(
        self,
        op: ops.Operation,
        user: str,
        channel: str,
        say: Say,
        *,
        kind: str | None = None,
        plan: Plan | None = None,
        approval: bool | None = None,
    ) -> int | None:
        """Plan ``op`` (as the plan ``kind``, by default the one its capability routes it to) and start it, or
        open an approval for it; returns the job id (None for dry runs and refusals, which ``say`` explains).
        The one way a job is requested: ``/avd``, buttons, schedules and the snapshot CLI all come here.
        ``plan``: the plan the caller already built (and showed); ``approval``: True always asks a second
        person, None asks when the policy says so."""
        now = self.now()
        kind = kind or self.registry.kind_of(op)
        build = self.registry.plans.get(kind)
        if build is None and plan is None:
            say(f"`{op.verb}` is not available in this bot yet.")
            return None
        dry_run = bool(getattr(op, "dry_run", False))
        again = None if dry_run else jobs.same_request(self.store, op)
        if again is not None:
            approvals.audit_job(
                self, user, "job refused", None, {"verb": op.verb, "error": str(again)}, "refused"
            )
            say(str(again))
            return None
        try:
            if plan is None and build is not None:
                plan = build(self.runtime, op, now)
        except Exception as exc:
            err = project_error(exc)
            if err is None:
                raise
            approvals.audit_job(
                self, user, "plan refused", None, {"verb": op.verb, "error": str(err)}, "failed"
            )
            say(str(err))
            return None
        assert plan is not None
        if dry_run:
            approvals.audit_job(self, user, "dry run", None, {"verb": op.verb, "plan_hash": plan.hash()})
            say("\n".join([f"*Dry run: {plan.title}* (nothing was changed)", *plan.preview()]))
            return None
        if approval is None:
            approval = approvals.needs_approval(self.runtime.settings.config.policy, op, plan)
        try:
            job_id = jobs.create_job(
                self.store,
                plan=plan,
                op=op,
                requested_by=user,
                channel=channel,
                status=jobs.AWAITING if approval else jobs.QUEUED,
                now=now,
                kind=kind,
            )
        except AvdError as err:
            approvals.audit_job(
                self, user, "job refused", None, {"verb": op.verb, "error": str(err)}, "refused"
            )
            say(str(err))
            return None
        approvals.audit_job(
            self,
            user,
            "job requested",
            job_id,
            {"verb": op.verb, "plan_hash": plan.hash(), "approval": approval},
        )
        if approval:
            approvals.open_approval(self, job_id, plan, user, channel, now, fresh=False)
        else:
            self.progress.post_card(job_id, channel)
            self.submit(job_id)
        return job_id

    # ---- cards -----------------------------------------------------------------------------------

    def adopt_card(self, job: dict[str, Any]) -> None:
        if job.get("card_ts"):
            self.progress.known(int(job["id"]), job["channel"], job["card_ts"], job.get("card_updated_at"))
        else:
            self.progress.post_card(int(job["id"]), job["channel"])

    # ---- scheduling ------------------------------------------------------------------------------

    def submit(self, job_id: int) -> None:
        """Run the job on the worker pool (idempotent: one scheduler job per engine job)."""
        if self.inline:
            self.run(job_id)
            return
        self.runtime.scheduler.add_job(
            self.run,
            args=[job_id],
            id=f"engine-job-{job_id}",
            replace_existing=True,
            misfire_grace_time=None,
            jobstore="default",
            executor="default",
        )

    def resume_all(self) -> list[int]:
        """When this process takes the lead: adopt every open card and continue the queued and running jobs no
        live process holds (their job lease is free, expired, or a process of this host that ended)."""
        return self._resume(jobs.ACTIVE)

    def resume_orphans(self) -> list[int]:
        """The leader's periodic look: continue running jobs whose lease has since expired."""
        return self._resume((jobs.RUNNING,))

    def _resume(self, statuses: tuple[str, ...]) -> list[int]:
        resumed = []
        for job in jobs.jobs_in(self.store, statuses):
            active = job["status"] in (jobs.QUEUED, jobs.RUNNING)
            if active and not self.leases.free(int(job["id"])):
                continue  # a live process runs it (and writes its card)
            self.adopt_card(job)
            if active:
                audit.record(
                    self.store,
                    actor="avd-bot",
                    action="job resume",
                    target=f"job {job['id']}",
                    detail={"status": job["status"]},
                    at=self.now(),
                )
                self.submit(int(job["id"]))
                resumed.append(int(job["id"]))
        return resumed

    def plan_for(self, job: dict[str, Any]) -> Plan:
        build = self.registry.plans.get(job["kind"])
        if build is None:
            raise NotAllowed(f"no capability {job['kind']!r} is installed in this bot")
        return build(self.runtime, jobs.op_from_json(job["op_json"]), self.now())

    # ---- the run loop ----------------------------------------------------------------------------

    def run(self, job_id: int) -> None:
        """Run (or continue) one job to its end, a failure or a cancel, while this process holds its lease; again
        when it was queued again (retried) before this run returned (the retry's own ``submit`` was skipped
        while this run was still the job's scheduler instance)."""
        while self._run_once(job_id):
            log.info("job %s: queued again while its last run ended; running it again", job_id)

    def _run_once(self, job_id: int) -> bool:
        """One tenure over the job; True when the job is queued again once the lease is released."""
        if self.leases.take(job_id) is None:
            log.info("job %s: another process (or thread) holds its lease; it runs there", job_id)
            return False
        lost = False
        try:
            self._run_held(job_id)
        except LeaseLost as exc:
            lost = True
            log.warning("job %s: stopped here, its lease was taken over: %s", job_id, exc)
        finally:
            if lost:
                self.leases.forget(job_id)
            else:  # ended here, or an unexpected error: free, so the leader's sweep can resume it
                self.leases.release(job_id)
        return not lost and (jobs.get_job(self.store, job_id) or {}).get("status") == jobs.QUEUED

    def _run_held(self, job_id: int) -> None:
        now = self.now()
        fence = self.leases.fence(job_id)
        jobs.transition(self.store, job_id, jobs.QUEUED, jobs.RUNNING, now, fence=fence)
        job = jobs.get_job(self.store, job_id)
        if job is None or job["status"] != jobs.RUNNING:
            return
        plan: Plan | None = None
        try:
            plan = self.plan_for(job)
            if job.get("started_at") is None and self._drifted(job, plan):
                return
            if job.get("started_at") is None:
                jobs.update_job(self.store, job_id, fence=fence, started_at=jobs.iso(now))
            self.progress.touch(job_id)
            walk = self.walk(job_id, plan)
            walk.run()
            if walk.error is not None:
                raise walk.error
            if walk.cancelled:
                self._run_always(job_id, plan)
                self._finish_cancelled(job_id)
                return
        except LeaseLost:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            if plan is not None:
                self._run_always(job_id, plan)
            self._fail(job_id, exc)
            return
        if jobs.transition(self.store, job_id, jobs.RUNNING, jobs.DONE, self.now(), fence=fence):
            audit.record(
                self.store, actor="avd-bot", action="job done", target=f"job {job_id}", at=self.now()
            )
            self._announce_end(job_id)

    def walk(self, job_id: int, plan: Plan) -> graph.Walk:
        """The pass over the job's unfinished steps: each row waits for what the (rebuilt) plan says it needs
        among the job's rows; a row whose step left the plan waits for the row before it (and then fails)."""
        rows = jobs.get_steps(self.store, job_id)
        names = {str(r["name"]) for r in rows}
        needs: dict[str, tuple[str, ...]] = {}
        for n, row in enumerate(rows):
            try:
                wanted = plan.needs(row["name"])
            except KeyError:
                wanted = (str(rows[n - 1]["name"]),) if n else ()
            needs[str(row["name"])] = tuple(x for x in wanted if x in names)
        return graph.Walk(
            rows,
            needs,
            self.width(plan),
            lambda row: self._run_step(job_id, plan, dict(row)),
            lambda: jobs.cancel_requested(self.store, job_id),
            name=f"avd-job{job_id}",
        )

    def width(self, plan: Plan) -> int:
        """How many steps of ``plan`` may run at once: 1 for a line; for a graph the plan's own concurrency (or
        ``STEP_WORKERS``), never more than the ARM write burst of the runtime's budget."""
        if plan.is_line:
            return 1
        budget = self.runtime.snapshot_budget
        return max(1, min(plan.concurrency or STEP_WORKERS, budget.burst))

    def _drifted(self, job: dict[str, Any], plan: Plan) -> bool:
        """On first start: if the plan no longer matches what was approved, ask again instead of running."""
        if plan.hash() == job["plan_hash"]:
            return False
        fence = self.leases.fence(int(job["id"]))
        if "approved" not in approval_rows.statuses(self.store, int(job["id"])):
            jobs.rebind_plan(self.store, int(job["id"]), plan, fence=fence)
            return False
        if jobs.transition(self.store, int(job["id"]), jobs.RUNNING, jobs.AWAITING, self.now(), fence=fence):
            approvals.reopen(self, int(job["id"]), plan, self.now())
        return True

    def _run_step(self, job_id: int, plan: Plan, row: dict[str, Any]) -> None:
        idx = int(row["idx"])
        try:
            step: Step = plan.step(row["name"])
        except KeyError:
            raise AvdError(
                f"step {row['name']!r} is no longer part of the {plan.kind} plan: "
                f"start a new job (/avd job {job_id} shows what finished)"
            ) from None
        ctx = StepRecorder(self, job_id, idx)
        token = row.get("continuation_token")
        resuming = row["status"] == jobs.STEP_RUNNING
        now = self.now()
        jobs.update_step(
            self.store,
            job_id,
            idx,
            fence=ctx.fence,
            status=jobs.STEP_RUNNING,
            error=None,
            started_at=row.get("started_at") if resuming and row.get("started_at") else jobs.iso(now),
        )
        self.progress.touch(job_id)
        try:
            self.leases.check(job_id)  # the last word before Azure: still ours by this process's clock
            # and before each Azure write the step sends (a process paused mid-step sends none once resumed)
            with writes_guarded(lambda: self.leases.check(job_id)):
                if resuming and token and step.resume is not None:
                    output = step.resume(ctx, token)
                elif step.check(ctx):
                    output = "already done"
                else:
                    self.leases.check(job_id)  # again: ``check`` read Azure meanwhile
                    output = step.apply(ctx)
        except LeaseLost:
            raise  # the step is the new holder's now: nothing is written, nothing more is asked of Azure
        except Exception as exc:
            err = project_error(exc, step.resource_id) or exc
            jobs.update_step(
                self.store,
                job_id,
                idx,
                fence=ctx.fence,
                status=jobs.STEP_FAILED,
                finished_at=jobs.iso(self.now()),
                error=str(err),
            )
            self._step_reply(job_id, plan, ctx, step, now, f"failed: {err}")
            raise err from exc if err is not exc else None
        lines = [*ctx.lines, output] if output else ctx.lines
        jobs.update_step(
            self.store,
            job_id,
            idx,
            fence=ctx.fence,
            status=jobs.STEP_DONE,
            finished_at=jobs.iso(self.now()),
            output="\n".join(lines)[-2000:] or None,
            percent=100.0,
        )
        self.progress.touch(job_id)
        self._step_reply(job_id, plan, ctx, step, now, f"done: {lines[-1]}" if lines else "done")

    def _step_reply(
        self, job_id: int, plan: Plan, ctx: StepRecorder, step: Step, started: datetime, said: str
    ) -> None:
        """In a graph, a step that reported progress (a copy, a wait for hosts) says how it ended in the card's
        thread, so each branch's long steps can be followed there while the card shows them all at once."""
        if plan.is_line or not ctx.reported:
            return
        took = format_seconds((self.now() - started).total_seconds())
        self.progress.reply(
            job_id, f"{ctx.idx + 1}. {step.description} - {said.splitlines()[0][:300]} ({took})"
        )

    def _run_always(self, job_id: int, plan: Plan) -> None:
        """A job ends early (failed or cancelled): its unfinished ``always`` steps still run (e.g. restore the
        locks it lifted); their own failures are recorded on their rows and do not hide the job's error."""
        for row in jobs.get_steps(self.store, job_id):
            if not row.get("always") or row["status"] == jobs.STEP_DONE:
                continue
            try:
                self._run_step(job_id, plan, row)
            except LeaseLost:
                raise
            except Exception:  # noqa: BLE001 - recorded on the step row by _run_step
                log.warning("job %s: always-step %s failed", job_id, row["name"], exc_info=True)

    def _fail(self, job_id: int, exc: BaseException) -> None:
        err = project_error(exc)
        if err is None:
            incident = uuid.uuid4().hex[:8]
            log.error("incident %s: job %s crashed", incident, job_id, exc_info=exc)
            err = AvdError(f"internal error (incident {incident}): {type(exc).__name__}")
        if jobs.transition(
            self.store,
            job_id,
            (jobs.RUNNING, jobs.QUEUED),
            jobs.FAILED,
            self.now(),
            fence=self.leases.fence(job_id),
            **jobs.error_fields(err),
        ):
            audit.record(
                self.store,
                actor="avd-bot",
                action="job failed",
                target=f"job {job_id}",
                detail={"error": str(err)},
                outcome="failed",
                at=self.now(),
            )
            self._announce_end(job_id)

    def _finish_cancelled(self, job_id: int) -> None:
        now = self.now()
        fence = self.leases.fence(job_id)
        if jobs.transition(
            self.store, job_id, jobs.RUNNING, jobs.CANCELLED, now, fence=fence, skip_pending=True
        ):
            audit.record(
                self.store,
                actor="avd-bot",
                action="job cancelled",
                target=f"job {job_id}",
                detail={"at": "step boundary"},
                at=now,
            )
            self._announce_end(job_id)

    def _announce_end(self, job_id: int) -> None:
        self.progress.finish(job_id)

    # ---- operator actions ------------------------------------------------------------------------

    def cancel(self, job_id: int, user: str) -> str:
        """Cancel now if the job has not started, else at the next step boundary (in a graph: nothing new
        starts, every running step reaches its end)."""
        now = self.now()
        job = jobs.get_job(self.store, job_id)
        if job is None:
            raise NotAllowed(f"there is no job {job_id}")
        if jobs.transition(
            self.store, job_id, (jobs.AWAITING, jobs.QUEUED), jobs.CANCELLED, now, cancel_requested=1
        ):
            approval_rows.cancel_pending(self.store, job_id, user, now)
            audit.record(self.store, actor=user, action="job cancel", target=f"job {job_id}", at=now)
            self._announce_end(job_id)
            return f"Job {job_id} cancelled."
        if job["status"] != jobs.RUNNING:
            raise NotAllowed(
                f"job {job_id} is {job['status']}: only a waiting, queued or running job can be cancelled"
            )
        jobs.request_cancel(self.store, job_id)
        audit.record(
            self.store,
            actor=user,
            action="job cancel",
            target=f"job {job_id}",
            detail={"at": "next step boundary"},
            at=now,
        )
        self.progress.touch(job_id)
        running = [s for s in jobs.get_steps(self.store, job_id) if s["status"] == jobs.STEP_RUNNING]
        if len(running) > 1:
            return f"Job {job_id} will stop after its current steps ({len(running)} branches are running)."
        return f"Job {job_id} will stop after its current step."

    def retry(self, job_id: int, user: str) -> str:
        """Re-queue a failed or cancelled job from its first unfinished step (takes its locks again). A job that
        was approved asks again, on a new card, when its plan changed or its approval outlived the TTL."""
        now = self.now()
        job = jobs.get_job(self.store, job_id)
        if job is None:
            raise NotAllowed(f"there is no job {job_id}")
        decided = approval_rows.statuses(self.store, job_id)
        if decided and "approved" not in decided:
            raise NotApproved(f"job {job_id} was never approved: request it again with a new command")
        if job["status"] not in (jobs.FAILED, jobs.CANCELLED):
            raise NotAllowed(
                f"job {job_id} is {job['status']}: only a failed or cancelled job can be retried"
            )
        if decided:
            try:
                plan = self.plan_for(job)
            except Exception as exc:
                raise (project_error(exc) or exc) from exc
            reason = approvals.retry_reason(self, job, plan, now)
            if reason is not None:
                return approvals.ask_again(self, job, plan, user, reason, now)
        if not jobs.requeue(self.store, job_id, now):
            raise NotAllowed(
                f"job {job_id} is {job['status']}: only a failed or cancelled job can be retried"
            )
        audit.record(self.store, actor=user, action="job retry", target=f"job {job_id}", at=now)
        self.progress.touch(job_id)
        self.submit(job_id)
        return f"Job {job_id} queued again from its first unfinished step."
