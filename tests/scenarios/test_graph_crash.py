"""Chaos inside parallel branches: ``avd-bot serve`` (a real subprocess) runs a three-branch graph
(``tests.kit.graph``) and is SIGKILLed while several branches wait on their Azure operations at once, three
times, restarted each time. The job completes, every step ran once (the journal of the simulator shows no
Azure write twice) and every step that was running when the bot died re-attached to its saved operation."""

from __future__ import annotations

from pathlib import Path

from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.kit.chaos import twice
from tests.kit.process import Bot, child_env, rows, wait

RUNNING = "select name, continuation_token from steps where job_id = 1 and status = 'running'"


def mid_lro(db: Path, wanted: set[str]) -> set[str]:
    """The running steps, when each has saved its token (waits on its operation) and at least two of ``wanted``
    (or all of a smaller set) are among them; else an empty set. A kill before a token is saved is the steps'
    own idempotency (tests/engine/test_crash.py kills the same way)."""
    running = rows(db, RUNNING)
    names = {r["name"] for r in running}
    if not running or any(r["continuation_token"] is None for r in running):
        return set()
    return names if len(names & wanted) >= min(2, len(wanted)) else set()


def test_sigkill_inside_parallel_branches_resumes_every_branch_each_step_once(
    tmp_path: Path, slack_sim: SlackSim, slow_azure: AzureSim
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url, arm=slow_azure.url, ca=slow_azure.ca_path))
    db = tmp_path / "avd.db"
    bot = Bot(env, "tests.kit.graph")
    interrupted: list[set[str]] = []
    try:
        chat = Chat(bot.start().url, slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd scale Entra 3", user="U0OPS1").status == 200
        # 1: the three first steps of the branches mid-LRO together; 2: the second steps; 3: the join
        for wanted in ({"tag-a1", "tag-b1", "set-capacity"}, {"tag-a2", "tag-b2"}, {"tag-join"}):
            hit = wait(lambda w=wanted: mid_lro(db, w), 60, f"{sorted(wanted)} running mid-LRO")
            bot.kill()
            interrupted.append(set(hit))
            bot.start()
        wait(lambda: rows(db, "select 1 from jobs where id = 1 and status = 'done'"), 60, "the job to finish")
    finally:
        bot.stop()
    steps = {r["name"]: r for r in rows(db, "select name, status, output from steps where job_id = 1")}
    assert {n: s["status"] for n, s in steps.items()} == dict.fromkeys(
        ("tag-a1", "tag-a2", "tag-b1", "tag-b2", "set-capacity", "tag-join"), "done"
    )
    assert any(len(names) >= 2 for names in interrupted), interrupted  # killed with branches side by side
    for names in interrupted:
        for name in names:  # a step that was running when the bot died re-attached (or found it done)
            assert "re-attached" in steps[name]["output"] or "already done" in steps[name]["output"], (
                name,
                steps[name]["output"],
            )
    writes = [(e.method, e.path.rsplit("/", 1)[-1]) for e in slow_azure.writes() if 200 <= e.status < 300]
    assert twice(slow_azure) == {}, (writes, interrupted, {n: s["output"] for n, s in steps.items()})
    assert sorted(p for _, p in writes) == sorted(
        [
            "snap-gold-os-20260522",
            "snap-gold-data-20260522",
            "snap-gold-os-20260515",
            "snap-gold-scratch",
            "Entra",
            "snap-gold-manual",
        ]
    )
    entra = slow_azure.scale_set("VMSS", "Entra")
    assert entra is not None and entra.capacity == 3
    assert len(rows(db, "select 1 from audit where action = 'job resume'")) == 3
