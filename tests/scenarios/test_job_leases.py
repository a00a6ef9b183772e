"""Job leases between real processes on one SQLite file (issue 16's proofs "Partition" and "Two processes on
one SQLite file"). Each process names itself in its requests' User-Agent, so the ARM simulator's journal says
which process asked Azure what; the assertions are on job and lease rows and on that journal."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azure import AzureSim
from sim.azure.journal import WRITE_METHODS
from sim.azure.providers import resources
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.kit.chaos import twice
from tests.kit.leaders import led_by
from tests.kit.owners import job_lease_owner, requests_of
from tests.kit.process import Bot, child_env, rows, wait
from tests.kit.snapshots import SUB1, SUB2, config_text

STEPS = ("tag-a1", "tag-a2", "tag-b1", "tag-b2", "set-capacity", "tag-join")
RUNNING = "select name, continuation_token from steps where job_id = 1 and status = 'running'"


def process_env(tmp_path: Path, slack_url: str, sim: AzureSim, **extra: str) -> dict[str, str]:
    env = child_env(bot_env(tmp_path, slack_url, arm=sim.url, ca=sim.ca_path, **extra))
    return env


def mid_lro(db: Path) -> bool:
    """Some step of job 1 runs with its continuation token saved (it waits on its operation)."""
    running = rows(db, RUNNING)
    return bool(running) and all(r["continuation_token"] is not None for r in running)


def test_a_paused_owner_is_fenced_after_the_takeover_and_writes_nothing_to_azure_again(
    tmp_path: Path, slack_sim: SlackSim, slow_azure: AzureSim
) -> None:
    """A leads and runs the graph job; A is paused (SIGSTOP) past its job lease and its leader lease; B leads
    and takes the job over (a new epoch), re-attaching to A's saved operations; A resumes (SIGCONT): its next
    write is refused by its epoch, it stops the job there and sends Azure no write; the job finishes in B
    with every Azure write applied once."""
    env = process_env(
        tmp_path, slack_sim.url, slow_azure, AVD_LEADER_LEASE_SECONDS="9", AVD_JOB_LEASE_SECONDS="6"
    )
    db = tmp_path / "avd.db"
    a = Bot(env, "tests.kit.graph", agent="proc-a", log_path=tmp_path / "a.log")
    b = Bot(env, "tests.kit.graph", agent="proc-b", log_path=tmp_path / "b.log")
    try:
        a.start()
        wait(lambda: led_by(db, a.pid), 30, "a to lead")
        b.start()
        chat = Chat(a.url, slack_sim, SIGNING_SECRET)
        assert chat.slash("/avd scale Entra 3", user="U0OPS1").status == 200
        wait(lambda: mid_lro(db), 60, "a step of the job mid-LRO in a")
        first = job_lease_owner(db, 1)
        assert first is not None and first[0] == str(a.pid)
        a.pause(db)
        wait(lambda: led_by(db, b.pid), 60, "b to lead")
        taken = wait(
            lambda: (o := job_lease_owner(db, 1)) and o[0] == str(b.pid) and o, 60, "b to take the job over"
        )
        assert taken[1] > first[1]  # a new epoch
        resumed_at = len(slow_azure.journal_log.snapshot())
        a.signal(signal.SIGCONT)
        wait(lambda: "its lease was taken over" in a.log(), 60, "a to stop the job")
        wait(
            lambda: rows(db, "select 1 from jobs where id = 1 and status = 'done'"), 120, "the job to finish"
        )
        wait(lambda: job_lease_owner(db, 1) is None, 30, "b to release the job's lease")
        after = requests_of(slow_azure, "proc-a", resumed_at)
        before = [e for e in requests_of(slow_azure, "proc-a") if e not in after]
    finally:
        a.stop()
        b.stop()
    assert [e for e in after if e.method in WRITE_METHODS] == []  # a wrote nothing to Azure after it resumed
    # all a may still send are the SDK pollers' own reads (the operation's status, then the resource) of the
    # operations it was following when it was paused: no step starts, no check or apply runs in a any more
    assert {e.method for e in after} <= {"GET"}
    assert {e.path for e in after if "/operations/" not in e.path.lower()} <= {e.path for e in before}
    steps = {r["name"]: r["status"] for r in rows(db, "select name, status from steps where job_id = 1")}
    assert steps == dict.fromkeys(STEPS, "done")
    assert twice(slow_azure) == {}
    assert requests_of(slow_azure, "proc-b")  # b did the rest
    entra = slow_azure.scale_set("VMSS", "Entra")
    assert entra is not None and entra.capacity == 3


@pytest.fixture
def copying_azure() -> Iterator[AzureSim]:
    """The snapshot kit's scenario at time scale 60: each copy lasts about ten seconds."""
    sim = AzureSim(scenario="seed", time_scale=60)
    resources.make_group(sim, SUB2, "SNAPWEU", "westeurope")
    resources.make_group(sim, SUB1, "SNAPUKS", "uksouth")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_the_bot_starting_while_the_cli_syncs_leaves_the_cli_job_alone(
    tmp_path: Path, slack_sim: SlackSim, copying_azure: AzureSim
) -> None:
    """The review's reproduction: `avd-bot snapshots sync` runs a job from the command line; `avd-bot serve`
    starts on the same file meanwhile and leads, which resumes unfinished jobs. It leaves the CLI's job to the
    CLI (its lease is held by a live process): the sync finishes once, every Azure write applied once, and the
    bot sends Azure no write of its own."""
    env = process_env(tmp_path, slack_sim.url, copying_azure, config_text=config_text())
    db = tmp_path / "avd.db"
    cli = Bot(env, agent="proc-cli", log_path=tmp_path / "cli.log")
    bot = Bot(env, agent="proc-bot", log_path=tmp_path / "bot.log")
    try:
        cli.spawn("snapshots", "sync", "gold-to-dr", "--copies-only")
        copying = "select 1 from steps where job_id = 1 and status = 'running'"
        wait(lambda: db.exists() and rows(db, copying), 60, "a copy to run in the CLI")
        bot.start()
        wait(lambda: led_by(db, bot.pid), 30, "the bot to lead")
        assert cli.proc is not None
        assert cli.proc.wait(timeout=180) == 0, cli.log()
    finally:
        cli.stop()
        bot.stop()
    assert rows(db, "select status from jobs where id = 1")[0]["status"] == "done"
    assert {r["status"] for r in rows(db, "select status from steps where job_id = 1")} <= {"done", "skipped"}
    assert rows(db, "select 1 from audit where action = 'job resume'") == []
    assert twice(copying_azure) == {}
    assert [e.path for e in requests_of(copying_azure, "proc-bot") if e.method in WRITE_METHODS] == []
    assert [e for e in requests_of(copying_azure, "proc-cli") if e.method in WRITE_METHODS]  # the CLI copied
    assert job_lease_owner(db, 1) is None  # released at the end
