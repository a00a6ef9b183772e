"""Region loss: the bot's own region goes, with its database, while a failover and a snapshot sync run.

PostgreSQL primary and a streaming standby (``pg_basebackup -R``, synchronous: ``tests.kit.region.SYNC``, the
setting docs/deploy.md recommends), one Azure simulator, bot A and bot B as real ``avd-bot serve`` processes on
one multi-host URL with a 3 s leader lease. A leads and runs both jobs; then A is SIGKILLed and its PostgreSQL
stopped at once (immediate), and the standby promoted. B takes over: it holds the lease, both jobs end
``done``, Azure received no write twice, a schedule fired before the loss is not fired again and one due after
it fires once (in B), the audit chain verifies, and every Approve press Slack saw answered 200 is an approval
in the promoted database. B's takeover time (the loss to B's resume of the jobs) is printed, not asserted.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import open_store
from bot.storage import schedules as stored
from sim.azure import AzureSim
from sim.azure.scenarios import prepare_dr
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit import leaders as timer_kit
from tests.kit.bots import bot_env
from tests.kit.chaos import audit_verify, twice, wait_for
from tests.kit.failover import failover_config, make_sim
from tests.kit.postgres import bindir
from tests.kit.process import AVD_BOT, ROOT, Bot, child_env
from tests.kit.region import Pair, leader, pair, query, region_bot

pytestmark = pytest.mark.skipif(bindir() is None, reason="PostgreSQL is not installed")

LEASE = 3  # AVD_LEADER_LEASE_SECONDS
# AVD_JOB_LEASE_SECONDS: shorter than the leader's, so the jobs' leases have expired when B takes the lead and B
# resumes them at once (a job lease still held then waits for the leader's sweep, every 30 s)
JOB_LEASE = 2


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    """The chaos suite's world: DR prepared, the sync's replica reads slowed so it is mid-copy at the loss."""
    sim = make_sim(240)
    prepare_dr(sim)
    sim.faults.latency("GET", "resourceGroups/SNAPDR/providers/Microsoft.Compute/snapshots/", 0.3, count=None)
    try:
        yield sim
    finally:
        sim.stop()


def resent(method: str, path: str) -> bool:
    """The one repeat the chaos suite accepts (``tests/scenarios/test_chaos.py``): a user-session message in
    flight when the bot died is sent again by the step's rerun (AVD cannot read back what was sent), so a user
    may see the warning twice, never miss it."""
    return method == "POST" and path.endswith("/sendmessage")


def jobs(url: str) -> dict[int, str]:
    return {int(r["id"]): str(r["status"]) for r in query(url, "select id, status from jobs order by id")}


def start_both(chat: Chat, url: str) -> list[int]:
    """``/avd failover start dr`` (job 1) and ``/avd snapshots sync gold-to-dr`` (job 2), each approved on its
    card; returns the jobs whose Approve press Slack saw acknowledged (HTTP 200)."""
    acked = []
    for job_id, line in ((1, "/avd failover start dr"), (2, "/avd snapshots sync gold-to-dr")):
        assert chat.slash(line, user="U0OPS1").status == 200
        card = "select 1 from approvals where job_id = %s and message_ts is not null"
        wait_for(lambda: query(url, card, (job_id,)), 60, f"job {job_id}'s approval card")  # noqa: B023
        if chat.click("Approve", user="U0LEAD1").status == 200:
            acked.append(job_id)
        started = "select 1 from jobs where id = %s and status in ('queued', 'running', 'done')"
        wait_for(lambda: query(url, started, (job_id,)), 60, f"job {job_id} to be approved")  # noqa: B023
    return acked


def put_schedule(url: str, name: str, at: datetime, stored_at: datetime) -> None:
    store = open_store(url)
    try:
        stored.put(
            store,
            name,
            target=timer_kit.RECORD,
            args={"name": name},
            cron=f"{at.minute} {at.hour} * * *",
            run_at=None,
            created_by="U0OPS1",
            channel="C0INCIDENT",
            now=stored_at,
        )
    finally:
        store.close()


def fired(url: str) -> list[str]:
    """The schedules whose timer ran (``tests.kit.leaders.record``), once per run."""
    return sorted(str(r["schedule"]) for r in query(url, "select schedule from test_fires"))


def test_the_standby_region_takes_over_when_the_primary_region_is_lost(
    tmp_path: Path, slack_sim: SlackSim, dr_sim: AzureSim
) -> None:
    config = tmp_path / "region.toml"
    config.write_text(failover_config(grace=2), encoding="utf-8")
    with pair(sync=True) as servers:
        env = child_env(
            bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path),
            AVD_CONFIG=str(config),
            AVD_DB=servers.url,
            AVD_LEADER_LEASE_SECONDS=str(LEASE),
            AVD_JOB_LEASE_SECONDS=str(JOB_LEASE),
        )
        a, b = region_bot(env, tmp_path / "a.log"), region_bot(env, tmp_path / "b.log")
        try:
            run(servers, a, b, env, slack_sim, dr_sim)
        finally:
            a.stop()
            b.stop()


def run(servers: Pair, a: Bot, b: Bot, env: dict[str, str], slack_sim: SlackSim, dr_sim: AzureSim) -> None:
    url = servers.url
    a.start()
    wait_for(lambda: a.owner() and (leader(url) or ("", 0))[0] == a.owner(), 30, "A to lead")
    b.start()
    wait_for(lambda: "avd-bot serving" in b.log(), 30, "B to be up")
    now = datetime.now(UTC)
    # fired by A when it arms it (its latest time passed a minute ago, after the row was stored)
    put_schedule(url, "sync:before", now - timedelta(minutes=1), now - timedelta(days=1))
    wait_for(lambda: fired(url), 30, "A to fire sync:before")

    acked = start_both(Chat(a.url, slack_sim, SIGNING_SECRET), url)
    running = "select 1 from steps where job_id = 2 and status = 'running'"
    wait_for(lambda: query(url, running), 60, "the sync's copies to run")
    # a schedule due after the loss: the next minute at least 20 s away (B fires it)
    after = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)
    put_schedule(url, "sync:after", after, datetime.now(UTC))
    open_jobs = [j for j, s in jobs(url).items() if s in ("queued", "running")]
    assert open_jobs, jobs(url)
    epoch = (leader(url) or ("", 0))[1]

    lost = time.monotonic()
    a.signal(signal.SIGKILL)
    servers.lose_primary_and_promote()
    promoted = time.monotonic() - lost
    held = wait_for(lambda: b.owner() and (leader(url) or ("", 0))[0] == b.owner(), LEASE + 30, "B to lead")
    led = time.monotonic() - lost
    resumes = "select count(*) as n from audit where action = 'job resume'"
    wait_for(lambda: int(query(url, resumes)[0]["n"]) >= len(open_jobs), 60, "B to resume the jobs")
    took_over = time.monotonic() - lost
    print(
        f"region loss: promotion {promoted:.2f} s, B leads {led:.2f} s, B runs the jobs {took_over:.2f} s "
        f"after the loss (leader lease {LEASE} s, job lease {JOB_LEASE} s; jobs resumed {open_jobs})"
    )
    wait_for(lambda: set(jobs(url).values()) <= {"done", "failed"}, 180, "both jobs to end")
    wait_for(lambda: len(fired(url)) >= 2, 120, "sync:after to fire")
    time.sleep(LEASE)  # a second firing would have happened by now

    assert held and leader(url) == (b.owner(), epoch + 1) and b.owner() != a.owner()
    assert jobs(url) == {1: "done", 2: "done"}, query(url, "select job_id, name, status, error from steps")
    repeated = twice(dr_sim)
    print(f"region loss: Azure writes applied twice: {repeated or 'none'}")
    assert twice(dr_sim, allowed=resent) == {}, repeated
    assert max(repeated.values(), default=1) <= 2, repeated
    assert fired(url) == ["sync:after", "sync:before"]  # each ran once
    occurrences = query(url, "select schedule_id, owner from schedule_fires order by schedule_id")
    assert [(r["schedule_id"], r["owner"]) for r in occurrences] == [
        ("sync:after", b.owner()),
        ("sync:before", a.owner()),
    ]
    code, text = audit_verify(str(AVD_BOT), env, str(ROOT))
    assert code == 0 and "intact" in text, text
    approved = "select job_id from approvals where status = 'approved' and decided_by = 'U0LEAD1'"
    assert set(acked) == {1, 2} and set(acked) <= {int(r["job_id"]) for r in query(url, approved)}
    dr = dr_sim.scale_set("VMSSDR", "EntraDR")
    assert dr is not None and dr.capacity == 2
    assert query(url, "select current_setting('port') as port")[0]["port"] == str(servers.standby.port)
