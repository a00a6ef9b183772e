"""The job card (which is also the approval card) and the engine's thread replies, as pure functions.

One message per job: while the job waits for an approver it shows the plan preview, the requester, the
expiry and Approve (with a confirm dialog) / Reject; once approved the same message becomes the progress
card, one line per step (pending/running/done/failed, duration, percent, the step's latest progress text or
its result), with Cancel while it runs and Retry after a failure. A graph's steps also say which numbered
steps they wait for ("after 2, 3"), and while several branches run they are named at the top. Blocks are ``slack_sdk.models`` objects, so Slack's limits are checked on send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from azureops.plan import format_seconds, resource_label
from bot.slack import render
from bot.slack.render import escape
from bot.storage import approvals as approval_rows
from bot.storage import jobs
from bot.storage.sqlite import Store

APPROVE, REJECT, RETRY, CANCEL = "engine_approve", "engine_reject", "engine_retry", "engine_cancel"
STATUS_ICON = {
    jobs.AWAITING: ":hourglass_flowing_sand:",
    jobs.QUEUED: ":inbox_tray:",
    jobs.RUNNING: ":gear:",
    jobs.DONE: ":white_check_mark:",
    jobs.FAILED: ":x:",
    jobs.CANCELLED: ":no_entry_sign:",
    jobs.REJECTED: ":no_entry:",
    jobs.EXPIRED: ":alarm_clock:",
}
STATUS_TEXT = {
    jobs.AWAITING: "waiting for approval",
    jobs.QUEUED: "queued",
    jobs.RUNNING: "running",
    jobs.DONE: "done",
    jobs.FAILED: "failed",
    jobs.CANCELLED: "cancelled",
    jobs.REJECTED: "rejected",
    jobs.EXPIRED: "approval expired",
}
HEAD_LIMIT, DETAIL_LIMIT = 400, 200  # a step line stays under ~650 characters: 20 steps fit in 5 sections
MAX_BLOCKS = 50  # Slack's limit per message
STEP_ICON = {
    jobs.STEP_PENDING: ":white_circle:",
    jobs.STEP_RUNNING: ":arrows_counterclockwise:",
    jobs.STEP_DONE: ":white_check_mark:",
    jobs.STEP_FAILED: ":x:",
    jobs.STEP_SKIPPED: ":heavy_minus_sign:",
}


def _seconds_between(start: str | None, end: str | None, now: datetime) -> float | None:
    if not start:
        return None
    t0 = datetime.fromisoformat(start)
    t1 = datetime.fromisoformat(end) if end else now
    return max(0.0, (t1 - t0).total_seconds())


def after_text(step: Mapping[str, Any], number: Mapping[str, int]) -> str:
    """A graph step's place: `` · after 2, 3`` (the numbers of the steps it waits for), `` · at once``; a step of
    a line (no ``needs``) says nothing."""
    raw = step.get("needs")
    if raw is None:
        return ""
    needs = [number[n] for n in json.loads(raw) if n in number]
    return f" · after {', '.join(map(str, needs))}" if needs else " · at once"


def step_line(
    step: Mapping[str, Any], now: datetime, *, preview: bool = False, number: Mapping[str, int] | None = None
) -> str:
    """``:gear: 2. Scale EntraDR to 2 on `VMSSDR/EntraDR` - running 40% (1m05s) - 1/2 instances provisioned``.

    A running (or failed) step shows its latest progress text, a done step the last line of its output. With
    ``number`` (step name -> its number), a graph's step also says which numbered steps it waits for.
    """
    where = f" on `{escape(resource_label(step['resource_id']))}`" if step.get("resource_id") else ""
    head = f"{int(step['idx']) + 1}. {escape(step.get('description') or step['name'])}{where}"
    if len(head) > HEAD_LIMIT:
        head = head[: HEAD_LIMIT - 1] + "…"
    when = after_text(step, number) if number is not None else ""
    if preview:
        return f"{head} (~{format_seconds(step.get('estimate_seconds') or 0)}){when}"
    head += when
    status = step["status"]
    took = _seconds_between(step.get("started_at"), step.get("finished_at"), now)
    bits = [status]
    if status == jobs.STEP_RUNNING and step.get("percent") is not None:
        bits.append(f"{float(step['percent']):.0f}%")
    if took is not None and status != jobs.STEP_PENDING:
        bits.append(f"({format_seconds(took)})")
    said = ""
    if status in (jobs.STEP_RUNNING, jobs.STEP_FAILED):
        said = str(step.get("progress") or "")
    elif status == jobs.STEP_DONE:
        said = (str(step.get("output") or "").splitlines() or [""])[-1]
    if said.strip():
        bits.append(f"- {escape(_one_line(said))}")
    return f"{STEP_ICON.get(status, ':grey_question:')} {head} - {' '.join(bits)}"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def failure_text(job: Mapping[str, Any]) -> str:
    """Azure's code, the resource and the next step, ending with ``/avd job N retry``."""
    detail = jobs.error_detail(job)
    lines = [f"*Failed:* {escape(str(detail.get('message') or job.get('error') or 'unknown error'))}"]
    if detail.get("code"):
        lines.append(f"*Azure code:* `{escape(str(detail['code']))}`")
    if detail.get("resource_id"):
        lines.append(f"*Resource:* `{escape(str(detail['resource_id']))}`")
    if detail.get("next_step"):
        lines.append(f"*Next:* {escape(str(detail['next_step']))}")
    lines.append(f"Then retry with `/avd job {job['id']} retry`.")
    return "\n".join(lines)


def summary_text(job: Mapping[str, Any]) -> str:
    status = job["status"]
    return f"Job {job['id']} ({escape(job.get('title') or job['kind'])}): {STATUS_TEXT.get(status, status)}"


def _approval_context(job: Mapping[str, Any], approval: Mapping[str, Any] | None, now: datetime) -> str:
    parts = [f"Requested by <@{job['requested_by']}>"]
    if approval is not None:
        status = approval["status"]
        if status == "pending":
            expires = datetime.fromisoformat(approval["expires_at"])
            left = max(0.0, (expires - now).total_seconds())
            parts.append(f"expires {expires:%H:%M} UTC (in {format_seconds(left)})")
        elif status == "stale":
            parts.append("the plan changed after approval: a new request was posted below")
        elif approval.get("decided_by"):
            verb = {"approved": "approved", "rejected": "rejected"}.get(status, status)
            parts.append(f"{verb} by <@{approval['decided_by']}>")
        else:
            parts.append(f"approval {status}")
    return " · ".join(parts)


def job_card(
    job: Mapping[str, Any],
    steps: Sequence[Mapping[str, Any]],
    approval: Mapping[str, Any] | None,
    *,
    now: datetime,
    simulated: bool = False,
) -> tuple[str, list[Block]]:
    """The fallback text and the FULL block list of a job's card in its current state."""
    status = job["status"]
    awaiting = status == jobs.AWAITING
    title = f"{'Approval needed' if awaiting else 'Job ' + str(job['id'])}: {job.get('title') or job['kind']}"
    blocks: list[Block] = [HeaderBlock(text=title[:150])]
    head = f"{STATUS_ICON.get(status, '')} *{STATUS_TEXT.get(status, status)}* · job {job['id']}"
    if awaiting:
        head += f" · `{job.get('verb') or job['kind']}` needs a second person"
    blocks.append(SectionBlock(text=MarkdownTextObject(text=head)))
    number = {str(s["name"]): int(s["idx"]) + 1 for s in steps}
    lines = [step_line(s, now, preview=awaiting, number=number) for s in steps]
    running = [s for s in steps if s["status"] == jobs.STEP_RUNNING]
    if len(running) > 1:  # branches of a graph at once: named first, so a long card still shows them
        now_text = ", ".join(
            f"{int(s['idx']) + 1}. {escape(_one_line(s.get('description') or s['name']))[:80]}"
            for s in running
        )
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Running now ({len(running)}):* {now_text}"[:2900]))
        )
    body = render.sections("\n".join(lines) or "(no steps)")
    failure = render.sections(failure_text(job)) if status == jobs.FAILED else []
    room = MAX_BLOCKS - len(blocks) - 4  # header, head, "running now": then context, actions, banner, spare
    if len(body) + len(failure) > room:
        failure = failure[:2]
        body = body[: room - len(failure) - 1] + render.sections(
            f"… {len(steps)} steps in all; the rest do not fit in one Slack message."
        )
    blocks.extend(body + failure)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_approval_context(job, approval, now))]))
    buttons: list[ButtonElement] = []
    if awaiting and approval is not None and approval["status"] == "pending":
        confirm = ConfirmObject(
            title="Approve this change?",
            text=f"This runs *{escape(title[:200])}* now.",
            confirm="Approve",
            deny="Cancel",
            style="danger",
        )
        buttons = [
            ButtonElement(
                text="Approve", action_id=APPROVE, value=str(approval["id"]), style="primary", confirm=confirm
            ),
            ButtonElement(text="Reject", action_id=REJECT, value=str(approval["id"]), style="danger"),
        ]
    elif status in (jobs.QUEUED, jobs.RUNNING) and not job.get("cancel_requested"):
        buttons = [ButtonElement(text="Cancel", action_id=CANCEL, value=str(job["id"]))]
    elif status in (jobs.FAILED, jobs.CANCELLED):
        buttons = [ButtonElement(text="Retry", action_id=RETRY, value=str(job["id"]), style="primary")]
    if buttons:
        blocks.append(ActionsBlock(block_id=f"job:{job['id']}", elements=list(buttons)))
    return summary_text(job), render.card(blocks, simulated=simulated)


def final_reply(job: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """The thread reply (broadcast to the channel) when a job ends."""
    took = _seconds_between(job.get("started_at"), job.get("finished_at"), now)
    spent = f" in {format_seconds(took)}" if took is not None else ""
    status = job["status"]
    if status == jobs.DONE:
        done = sum(1 for s in steps if s["status"] == jobs.STEP_DONE)
        return f":white_check_mark: Job {job['id']} ({escape(job.get('title') or job['kind'])}) finished{spent}: {done} step(s) done."
    if status == jobs.FAILED:
        return f":x: Job {job['id']} ({escape(job.get('title') or job['kind'])}) failed{spent}.\n{failure_text(job)}"
    return f"{STATUS_ICON.get(status, '')} {summary_text(job)}."


def render_job(
    store: Store, job_id: int, ts: str | None, *, now: datetime, simulated: bool = False
) -> tuple[str, list[Block]]:
    """A job's card as stored now (``ts``: the message it will replace, which picks its approval)."""
    job = jobs.get_job(store, job_id)
    if job is None:
        return f"Job {job_id} not found", []
    text, blocks = job_card(
        job,
        jobs.get_steps(store, job_id),
        approval_rows.for_card(store, job_id, ts),
        now=now,
        simulated=simulated,
    )
    return text, list(blocks)


def final_text(store: Store, job_id: int, now: datetime) -> str | None:
    """The final reply of a job as stored now (None for an unknown job)."""
    job = jobs.get_job(store, job_id)
    return None if job is None else final_reply(job, jobs.get_steps(store, job_id), now)
