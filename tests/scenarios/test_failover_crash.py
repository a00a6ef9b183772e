"""SIGKILL of ``avd-bot serve`` (a real subprocess) during one step of a failover, one run per step (the bot-side
summary included), then a restart: the failover completes and no Azure write is issued twice (the simulator's
request journal).

A step is held open by a one-off simulator latency on its first request (a write, or for the read-only
checks and host wait a read): the kill lands while that request is in flight (the rule has been hit), and
the bot restarts once the simulator has applied it, as Azure would. The grace period is killed while it waits
(its token then lists every user messaged); the summary waits on a file (``tests.kit.failover_hold``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.kit.failover import GROUP, USER, dr_world, failover_config
from tests.kit.process import Bot, child_env, rows, wait

# step -> (method, path regex) of the request to hold open, and the step after which that rule is installed; in the
# plan's list order (DR's scale-out right after the DR preflight, before the primary probe and the primary's branch)
HOLD: dict[str, tuple[str, str, str] | None] = {
    "dr-preflight": ("GET", r"/userAssignedIdentities/AVDManage$", ""),
    "dr-scale-out": ("PATCH", r"/virtualMachineScaleSets/EntraDR$", ""),
    "primary-probe": ("GET", r"/images/Win11MultiS/versions/2026\.0522\.1719$", ""),
    "primary-autoscale-off": ("PATCH", r"/scalingPlans/EntraAuth-Scaling$", ""),
    "primary-drain": ("PATCH", r"/hostPools/EntraAuth/sessionHosts/", ""),
    "notify-users": None,  # killed during the grace period
    "log-off-users": ("DELETE", r"/hostPools/EntraAuth/sessionHosts/.+/userSessions/", ""),
    "dr-hosts-available": (
        "GET",
        r"/hostPools/EntraAuthDR/sessionHosts$",
        "dr-preflight",
    ),  # the DR preflight reads it too
    "dr-assign-app-group": (
        "PUT",
        r"/applicationGroups/EntraAuthDR-DAG/providers/Microsoft.Authorization/",
        "",
    ),
    "summary": None,  # bot-side: waits while the hold file exists
}
STEPS = list(HOLD)


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    with dr_world(120) as sim:
        yield sim


def step_row(db: Path, name: str, status: str) -> list[object]:
    return rows(
        db,
        "select continuation_token from steps where job_id = 1 and name = ? and status = ?",
        (name, status),
    )


def applied(sim: AzureSim, method: str, pattern: str) -> bool:
    return any(
        e.method == method and re.search(pattern, e.path, re.IGNORECASE) and e.status for e in sim.journal
    )


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_during_a_failover_step_resumes_without_a_second_write(
    step: str, tmp_path: Path, slack_sim: SlackSim, dr_sim: AzureSim
) -> None:
    config = tmp_path / "failover.toml"
    config.write_text(
        failover_config(grace=3 if step == "notify-users" else 1, principals=(GROUP, USER)), encoding="utf-8"
    )
    hold_file = tmp_path / "hold-summary"
    env = child_env(
        bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path),
        AVD_CONFIG=str(config),
        AVD_TEST_HOLD=str(hold_file),
    )
    db = tmp_path / "avd.db"
    hold = HOLD[step]
    if step == "summary":
        hold_file.write_text("hold", encoding="utf-8")
    rule = dr_sim.faults.latency(hold[0], hold[1], seconds=1.5, count=1) if hold and not hold[2] else None
    bot = Bot(env, "tests.kit.failover_hold")
    try:
        chat = Chat(bot.start().url, slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd failover start dr", user="U0OPS1").status == 200
        wait(
            lambda: rows(db, "select 1 from approvals where job_id = 1 and message_ts is not null"),
            15,
            "card",
        )
        chat.click("Approve", user="U0LEAD1")
        if hold and hold[2]:
            wait(lambda: step_row(db, hold[2], "done"), 30, f"{hold[2]} done")
            rule = dr_sim.faults.latency(hold[0], hold[1], seconds=1.5, count=1)
        wait(lambda: step_row(db, step, "running"), 30, f"{step} running")
        if rule is not None:
            wait(lambda: rule.hits, 10, f"{step}'s request in flight")
        elif step == "notify-users":  # every user messaged and recorded, the grace period running
            wait(
                lambda: [
                    r for r in step_row(db, step, "running") if r[0] and len(json.loads(r[0])["sent"]) == 3
                ],
                10,
                "3 users messaged",
            )
        bot.kill()
        if (
            hold is not None and hold[0] != "GET"
        ):  # Azure still applies the request the dead bot had in flight
            wait(lambda: applied(dr_sim, hold[0], hold[1]), 10, f"{step}'s held write to land")
        hold_file.unlink(missing_ok=True)
        Chat(bot.start().url, slack_sim, SIGNING_SECRET)
        wait(
            lambda: [r for r in rows(db, "select status from jobs where id = 1") if r["status"] == "done"],
            40,
            "the failover to finish",
        )
        job = rows(db, "select channel, card_ts from jobs where id = 1")[0]
        summaries = wait(
            lambda: [
                m
                for m in slack_sim.thread(job["channel"], job["card_ts"])
                if "recovery time" in m.get("text", "")
            ],
            15,
            "the summary in the thread",
        )
    finally:
        bot.stop()
    steps = rows(db, "select name, status, output from steps where job_id = 1 order by idx")
    assert [(s["name"], s["status"]) for s in steps] == [(name, "done") for name in STEPS]
    writes = Counter((e.method, e.path.lower()) for e in dr_sim.writes() if e.status)
    assert writes and all(n == 1 for n in writes.values()), [
        (w[0], w[1][-60:], n) for w, n in writes.items() if n > 1
    ]
    assert len([w for w in writes if w[1].endswith("/sendmessage")]) == 3
    assert len([w for w in writes if w[0] == "DELETE"]) == 3
    assert len([w for w in writes if w[0] == "PUT" and "/roleassignments/" in w[1]]) == 2
    assert dr_sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    assert len(rows(db, "select 1 from audit where action = 'job resume'")) == 1
    assert len(rows(db, "select 1 from dr_runs where job_id = 1 and kind = 'failover'")) == 1
    assert len(summaries) == 1
