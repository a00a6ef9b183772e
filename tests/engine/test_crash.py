"""Crash test: ``avd-bot serve`` as a real subprocess, SIGKILLed in the middle of each step of a three-step
job (while its Azure operation runs), restarted each time: the job completes, no Azure write is issued twice
(the simulator's request journal), and the card ends showing the job done."""

from __future__ import annotations

from pathlib import Path

from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.kit.process import Bot, child_env, rows, wait


def test_sigkill_mid_step_resumes_without_repeating_azure_writes(
    tmp_path: Path, slack_sim: SlackSim, slow_azure: AzureSim
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url, arm=slow_azure.url, ca=slow_azure.ca_path))
    db = tmp_path / "avd.db"
    bot = Bot(env, "tests.kit.engine")
    try:
        chat = Chat(bot.start().url, slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd scale Entra 3", user="U0OPS1").status == 200
        for idx in range(3):  # kill while step idx waits on its Azure operation (token saved), then restart
            wait(
                lambda i=idx: rows(
                    db,
                    "select 1 from steps where job_id = 1 and idx = ? and status = 'running'"
                    " and continuation_token is not null",
                    (i,),
                ),
                30,
                f"step {idx} mid-LRO",
            )
            bot.kill()
            bot.start()
        job = wait(
            lambda: [r for r in rows(db, "select * from jobs where id = 1") if r["status"] == "done"],
            40,
            "the job to finish",
        )[0]
        steps = rows(db, "select name, status, output from steps where job_id = 1 order by idx")
        assert [(s["name"], s["status"]) for s in steps] == [
            ("tag-start", "done"),
            ("set-capacity", "done"),
            ("tag-done", "done"),
        ]
        assert all("re-attached" in s["output"] for s in steps)
        writes = [(e.method, e.path.split("/")[-1]) for e in slow_azure.writes()]
        assert writes == [("PATCH", "snap-gold-manual"), ("PATCH", "Entra"), ("PATCH", "snap-gold-manual")]
        assert slow_azure.scale_set("VMSS", "Entra").capacity == 3
        card = wait(
            lambda: (
                (m := slack_sim.message(job["channel"], job["card_ts"]))
                and m["text"].endswith(": done")
                and m
            ),
            25,
            "the card to show done",
        )
        assert "Cancel" not in str(card["blocks"])
        assert len(rows(db, "select 1 from audit where action = 'job resume'")) == 3
    finally:
        bot.stop()
