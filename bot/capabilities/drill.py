"""``/avd drill [SITE]``: a rehearsal on the DR site only, and the history of drills, failovers and failbacks.

The drill scales the DR scale set to the site's ``drill_capacity``, waits for that many Available session
hosts, measures the time to capacity (scale-out start to hosts Available), scales back to 0 and posts the
result with the trend of past drills: a text sparkline, then a bar chart PNG (``bot.slack.chart``) uploaded to the
card's thread with ``files_upload_v2`` (``files:write``; a failed upload is only logged). The report runs beside
the teardown, and also gives the trend of the RTO figures of past failovers (DR capacity Available after
approval, users signed out, outage). ``drill_history`` reads the drills of the ``dr_runs`` table
(``bot.storage.records.runs``, own migration) for ``/avd status``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from azureops import failover as fo
from azureops.plan import Plan, StepContext, format_seconds
from azureops.recovery import callback_step
from bot.runtime import Capability, Runtime
from bot.slack import chart
from bot.storage import jobs, records
from commands import ops

log = logging.getLogger(__name__)
KIND = "drill"
BARS = "▁▂▃▄▅▆▇█"


def drill_history(runtime: Runtime, site: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
    """Past drills (newest first): ``{kind, site, job_id, at, seconds, capacity}``; for ``/avd status``."""
    return records.runs(runtime.store, kind=KIND, site=site, limit=limit)


def trend(seconds: list[float]) -> str:
    """A one-line sparkline of times to capacity, oldest first (``▂▅█ 2m10s -> 3m05s``)."""
    if not seconds:
        return "no drills yet"
    low, high = min(seconds), max(seconds)
    span = (high - low) or 1.0
    bars = "".join(BARS[round((s - low) / span * (len(BARS) - 1))] for s in seconds)
    return f"{bars} {format_seconds(seconds[0])} -> {format_seconds(seconds[-1])}"


def report_text(
    site: str,
    seconds: float | None,
    capacity: int,
    past: list[dict[str, Any]],
    failovers: Sequence[dict[str, Any]] = (),
) -> str:
    took = format_seconds(seconds) if seconds is not None else "unknown"
    times = [float(r["seconds"]) for r in reversed(past) if r["seconds"] is not None]
    text = (
        f":stopwatch: *DR drill on {site}*: time to capacity *{took}* ({capacity} session host(s) Available); "
        f"torn down to 0. The primary was not touched.\nTrend over {len(times)} drill(s): {trend(times)}"
    )
    return "\n".join([text, *figures_trend(failovers)])


FIGURES = (
    ("to_capacity", "DR capacity Available after approval"),
    ("signed_out", "users signed out"),
    ("outage", "outage"),
)


def figures_trend(failovers: Sequence[dict[str, Any]]) -> list[str]:
    """The RTO figures of past failovers (newest first in ``failovers``), one trend line each, oldest first."""
    rows = [r for r in reversed(failovers) if r.get("to_capacity") is not None]
    if not rows:
        return []
    lines = [f"RTO users felt over {len(rows)} failover(s):"]
    for column, label in FIGURES:
        values = [float(r[column]) for r in rows if r.get(column) is not None]
        if values:
            lines.append(f"• {label}: {trend(values)}")
    return lines


def chart_alt_text(site: str, seconds: list[float]) -> str:
    """The chart's screen-reader text: every time shown, oldest first (Slack allows 1,000 characters)."""
    times = ", ".join(format_seconds(s) for s in seconds[-chart.MAX_POINTS :])
    return (
        f"Bar chart of DR drill times to capacity on {site}, oldest to newest (newest highlighted): {times}"[
            :1000
        ]
    )


def post_chart(runtime: Runtime, job_id: int, site: str, seconds: list[float]) -> bool:
    """Upload the drill trend PNG to the job card's thread (the channel when the card has no ts yet).

    A failure is logged and swallowed: the text summary with its sparkline is already on its way."""
    job = jobs.get_job(runtime.store, job_id) or {}
    if not job.get("channel") or not seconds:
        return False
    try:
        runtime.client.files_upload_v2(
            content=chart.bar_chart(seconds),
            filename=f"drill-trend-{site}.png",
            title=f"DR drill trend: {site}",
            alt_txt=chart_alt_text(site, seconds),
            channel=job["channel"],
            thread_ts=job.get("card_ts") or None,
            initial_comment=f"Drill trend on {site}: the last {min(len(seconds), chart.MAX_POINTS)} drill(s), "
            "oldest to newest.",
        )
    except SlackApiError as exc:
        log.warning("drill: chart upload for job %s failed: %s", job_id, exc.response.get("error"))
        return False
    except Exception as exc:  # noqa: BLE001 - a chart must never fail the drill (the upload POST raises urllib's)
        log.warning("drill: chart upload for job %s failed: %s", job_id, exc)
        return False
    return True


def build_drill(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    from bot.capabilities import failover_config as cap

    assert isinstance(op, ops.Drill)
    primary, dr = cap.sites(runtime, op.site)
    opt = cap.options(runtime, primary, dr, drill=True)

    def measure(ctx: StepContext) -> str:
        job_id = ctx.job_id
        steps = jobs.get_steps(runtime.store, job_id)
        seconds = cap.measured(steps, upto="drill-hosts-available", start="drill-scale-out")
        start, _ = records.job_start(runtime.store, job_id)
        fig = cap.figures(steps, start, ready=("drill-hosts-available",), signed_out="")
        records.record_run(
            runtime.store,
            kind=KIND,
            site=dr.name,
            job_id=job_id,
            seconds=seconds,
            capacity=opt.capacity,
            at=runtime.clock(),
            figures={"to_capacity": fig.to_capacity},
        )
        return f"time to capacity {format_seconds(seconds) if seconds is not None else 'unknown'}"

    def report(ctx: StepContext) -> str:
        job_id = ctx.job_id
        past = drill_history(runtime, dr.name, limit=chart.MAX_POINTS)
        mine = next((r for r in past if r["job_id"] == job_id), None)
        seconds = mine["seconds"] if mine else None
        failovers = records.runs(runtime.store, kind="failover", site=dr.name, limit=chart.MAX_POINTS)
        runtime.engine.progress.reply(
            job_id, report_text(dr.name, seconds, opt.capacity, past[:10], failovers)
        )
        charted = post_chart(
            runtime,
            job_id,
            dr.name,
            [float(r["seconds"]) for r in reversed(past) if r["seconds"] is not None],
        )
        return "reported" + (" with the trend chart" if charted else "")

    return fo.drill_plan(
        runtime.azure,
        cap.spec(primary, primary),
        cap.spec(dr, primary),
        opt,
        runtime.clock,
        measure=[callback_step("measure", "Record the time to capacity", measure)],
        final=[callback_step("report", "Post the result and the trend in the thread", report)],
        estimates=cap.estimates(runtime, KIND),
    )


CAPABILITY = Capability(name="drill", jobs={ops.Drill: KIND}, plans={KIND: build_drill})
