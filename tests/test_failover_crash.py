"""SIGKILL of ``avd-bot serve`` (a real subprocess) during each Azure step of a failover, restarted each time:
the failover completes and no Azure write is issued twice (the simulator's request journal).

Fast steps are held open with a one-off simulator latency on their first write: the kill lands while that
request is in flight, and the bot restarts once the simulator has applied it (as Azure would); the grace period
and the host wait are killed while they wait."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.test_engine_crash import ROOT, Bot, rows, wait
from tests.test_failover_kit import SUB, failover_config, make_sim, prepare_dr

# step index -> (method, path regex) of the write to hold open; None: the step waits by itself
HOLD: dict[int, tuple[str, str] | None] = {
    1: ("PATCH", r"/scalingPlans/EntraAuth-Scaling$"),
    2: ("PATCH", r"/hostPools/EntraAuth/sessionHosts/"),
    3: None,  # notify-users: killed during the grace period (its token holds who was messaged)
    4: ("DELETE", r"/hostPools/EntraAuth/sessionHosts/.+/userSessions/"),
    5: ("PATCH", r"/virtualMachineScaleSets/EntraDR$"),
    6: None,  # dr-hosts-available: killed while waiting for the hosts
}


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    from azureops.clients import AzureClients

    sim = make_sim(120)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.05)
    prepare_dr(sim, clients)
    clients.compute(SUB).close()
    clients.msi(SUB).close()
    try:
        yield sim
    finally:
        sim.stop()


def test_sigkill_during_each_failover_step_resumes_without_a_second_write(tmp_path: Path, slack_sim: SlackSim,
                                                                         dr_sim: AzureSim) -> None:
    config = tmp_path / "failover.toml"
    config.write_text(failover_config(grace=3), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    env.update(bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path), AVD_CONFIG=str(config),
               AVD_CAPABILITIES="bot.capabilities.failover,bot.capabilities.drill", PYTHONPATH=str(ROOT))
    db = tmp_path / "avd.db"
    for hold in HOLD.values():
        if hold is not None:
            dr_sim.faults.latency(hold[0], hold[1], seconds=1.5, count=1)
    bot = Bot(env)
    try:
        chat = Chat(bot.start(), slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd failover start dr", user="U0OPS1").status == 200
        wait(lambda: rows(db, "select 1 from approvals where job_id = 1 and message_ts is not null"), 15, "card")
        chat.click("Approve", user="U0LEAD1")
        for idx, hold in HOLD.items():
            token = " and continuation_token is not null" if hold is None and idx == 3 else ""
            wait(lambda i=idx, t=token: rows(db, f"select 1 from steps where job_id = 1 and idx = ? and status ="
                                                 f" 'running'{t}", (i,)), 30, f"step {idx} running")
            time.sleep(0.5 if hold is not None else 0.3)
            seen = len(dr_sim.writes())
            bot.kill()
            if hold is not None:  # Azure still applies the request the dead bot had in flight
                wait(lambda n=seen: len(dr_sim.writes()) > n, 10, f"step {idx}'s held write to land")
            chat = Chat(bot.start(), slack_sim, SIGNING_SECRET)
        wait(lambda: [r for r in rows(db, "select status from jobs where id = 1") if r["status"] == "done"], 40,
             "the failover to finish")
    finally:
        bot.stop()
    steps = rows(db, "select name, status, output from steps where job_id = 1 order by idx")
    assert all(s["status"] == "done" for s in steps), [tuple(s) for s in steps]
    writes = Counter((e.method, e.path.lower()) for e in dr_sim.writes() if e.status)
    assert writes and all(n == 1 for n in writes.values()), [(w[0], w[1][-60:], n) for w, n in writes.items() if n > 1]
    assert len([w for w in writes if w[1].endswith("/sendmessage")]) == 3
    assert len([w for w in writes if w[0] == "DELETE"]) == 3
    assert dr_sim.scale_set("VMSSDR", "EntraDR").capacity == 2
    assert len(rows(db, "select 1 from audit where action = 'job resume'")) == len(HOLD)
