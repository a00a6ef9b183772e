"""Region loss: the bot's own region goes, with its database, while a failover and a snapshot sync run and an
Approve press is between Slack's 200 and the worker that would decide it.

The recommended deployment (docs/deploy.md): per region a web process and a worker process (``avd-bot serve
--role web`` / ``--role worker``) with ``AVD_INBOX_ACK=commit`` (the default), all on one multi-host PostgreSQL
URL: a primary and a streaming standby (``pg_basebackup -R``, synchronous: ``tests.kit.region.SYNC``, the setting
docs/deploy.md recommends); one Azure simulator; a 3 s leader lease. Slack's requests go to A's web process
before the loss and to B's after, as a global front end would send them. B's worker is paused (SIGSTOP) until
the loss, so that A's worker claims every inbox row before it (in a deployment A's workers sit next to the
database, B's a region away); it is resumed once the standby is promoted.

A's worker leads and runs both jobs; a third request (``/avd replicas add northeurope``, approval required by
this config, no resource shared with the other two jobs) waits for approval. A's worker is paused too, then the
Approve press goes to A's web process, and the moment Slack sees HTTP 200 A's two processes are SIGKILLed and
A's PostgreSQL stopped at once (immediate), the standby promoted: the press is committed and acknowledged, and
no worker has claimed it. B (web + worker) takes over: B's worker holds the lease and resumes the two jobs, which
end ``done``; it claims the press's inbox row, decides the approval and runs the third job to ``done``; Azure
received no write twice; a schedule fired before the loss is not fired again and one due after it fires once
(in B); the audit chain verifies; every Approve press Slack saw answered 200 is an approval in the promoted
database.

What the press's survival relies on: with ``AVD_INBOX_ACK=commit`` the web process acks a press only once its
inbox row is committed, and a synchronous commit returns only once the standby has flushed it. With
``AVD_INBOX_ACK=queue`` the web process acks once the row is queued in its memory and commits it a few
milliseconds later: a loss in between drops a press Slack saw acknowledged (and an asynchronous standby may
lack a committed one), so this test does not hold in that mode. A row that A's worker had claimed before the
loss is B's once the claim expires (``AVD_INBOX_LEASE_SECONDS``; ``tests/roles`` kills a worker holding one).

B's takeover time (the loss to B's resume of the jobs) is printed, not asserted.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.slack import cards
from bot.storage import open_store
from bot.storage import schedules as stored
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit import leaders as timer_kit
from tests.kit.bots import bot_env
from tests.kit.chaos import audit_verify, twice, wait_for
from tests.kit.failover import dr_world, failover_config
from tests.kit.postgres import bindir
from tests.kit.process import AVD_BOT, ROOT, Bot, child_env
from tests.kit.region import Pair, leader, pair, query, region_bot
from tests.kit.replicas import replica_state

pytestmark = pytest.mark.skipif(bindir() is None, reason="PostgreSQL is not installed")

LEASE = 3  # AVD_LEADER_LEASE_SECONDS
# AVD_JOB_LEASE_SECONDS: shorter than the leader's, so the jobs' leases have expired when B takes the lead and B
# resumes them at once (a job lease still held then waits for the leader's sweep, every 30 s)
JOB_LEASE = 2
INBOX_LEASE = 3  # AVD_INBOX_LEASE_SECONDS: a row A's dead worker had claimed is B's after this
PRESS = f"action:{cards.APPROVE}"  # the inbox row of an Approve press
THIRD = 3  # /avd replicas add northeurope: the job whose Approve press is in the gap


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    """The chaos suite's world: DR prepared, the sync's replica reads slowed so it is mid-copy at the loss."""
    with dr_world(240) as sim:
        sim.faults.latency(
            "GET", "resourceGroups/SNAPDR/providers/Microsoft.Compute/snapshots/", 0.3, count=None
        )
        yield sim


def resent(method: str, path: str) -> bool:
    """The one repeat the chaos suite accepts (``tests/scenarios/test_chaos.py``): a user-session message in
    flight when the bot died is sent again by the step's rerun (AVD cannot read back what was sent), so a user
    may see the warning twice, never miss it."""
    return method == "POST" and path.endswith("/sendmessage")


def jobs(url: str) -> dict[int, str]:
    return {int(r["id"]): str(r["status"]) for r in query(url, "select id, status from jobs order by id")}


def card_posted(url: str, job_id: int) -> list[dict[str, Any]]:
    return query(url, "select 1 from approvals where job_id = %s and message_ts is not null", (job_id,))


def start_both(chat: Chat, url: str) -> list[int]:
    """``/avd failover start dr`` (job 1) and ``/avd snapshots sync gold-to-dr`` (job 2), each approved on its
    card; returns the jobs whose Approve press Slack saw acknowledged (HTTP 200)."""
    acked = []
    for job_id, line in ((1, "/avd failover start dr"), (2, "/avd snapshots sync gold-to-dr")):
        assert chat.slash(line, user="U0OPS1").status == 200
        wait_for(lambda: card_posted(url, job_id), 60, f"job {job_id}'s approval card")  # noqa: B023
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


def press_of(url: str, job_id: int) -> dict[str, Any]:
    """The inbox row of the Approve press on job ``job_id``'s card (``{}`` while none is readable)."""
    found = query(
        url,
        "select i.* from inbox i join approvals a on a.id::text = (i.payload::json -> 'actions' -> 0 ->> 'value')"
        " where i.kind = %s and a.job_id = %s",
        (PRESS, job_id),
    )
    return found[0] if found else {}


@dataclass
class Region:
    """A region's two processes (``tests.kit.leaders``' timer target overlaid on both)."""

    web: Bot
    worker: Bot

    def leads(self, url: str) -> bool:
        """Its worker holds the leader lease (as its log and the database say)."""
        owner = self.worker.owner()
        return bool(owner) and (leader(url) or ("", 0))[0] == owner

    def lose(self) -> None:
        """Both processes SIGKILLed at once (the region is gone), then reaped."""
        for proc in (self.web, self.worker):
            proc.signal(signal.SIGKILL)
        for proc in (self.web, self.worker):
            proc.kill()

    def stop(self) -> None:
        self.web.stop()
        self.worker.stop()


def start(*regions: Region) -> None:
    """Every process of ``regions`` at once, then each one's first line."""
    procs = [p for r in regions for p in (r.web, r.worker)]
    for proc in procs:
        proc.start(wait=False)
    for proc in procs:
        proc.ready()


def region(env: dict[str, str], logs: Path, name: str) -> Region:
    return Region(
        region_bot(env, logs / f"{name}-web.log", role="web"),
        region_bot(env, logs / f"{name}-worker.log", role="worker"),
    )


def test_the_standby_region_takes_over_when_the_primary_region_is_lost(
    tmp_path: Path, slack_sim: SlackSim, dr_sim: AzureSim
) -> None:
    config = tmp_path / "region.toml"
    text = failover_config(grace=2)
    assert "require_approval = []" in text
    config.write_text(text.replace("require_approval = []", 'require_approval = ["replicas add"]'), "utf-8")
    with pair(sync=True) as servers:
        env = child_env(
            bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path),
            AVD_CONFIG=str(config),
            AVD_DB=servers.url,
            AVD_INBOX_ACK="commit",
            AVD_INBOX_LEASE_SECONDS=str(INBOX_LEASE),
            AVD_LEADER_LEASE_SECONDS=str(LEASE),
            AVD_JOB_LEASE_SECONDS=str(JOB_LEASE),
        )
        a, b = region(env, tmp_path, "a"), region(env, tmp_path, "b")
        try:
            run(servers, a, b, env, slack_sim, dr_sim)
        finally:
            a.stop()
            b.stop()


def run(
    servers: Pair, a: Region, b: Region, env: dict[str, str], slack_sim: SlackSim, dr_sim: AzureSim
) -> None:
    url = servers.url
    start(a)
    wait_for(lambda: a.leads(url), 30, "A to lead")
    start(b)
    b.worker.pause(url)  # until the loss: A's worker, the only one, claims every row before it
    now = datetime.now(UTC)
    # fired by A when it arms it (its latest time passed a minute ago, after the row was stored)
    put_schedule(url, "sync:before", now - timedelta(minutes=1), now - timedelta(days=1))
    wait_for(lambda: fired(url), 30, "A to fire sync:before")

    chat = Chat(a.web.url, slack_sim, SIGNING_SECRET)  # the front end sends Slack's requests to A
    acked = start_both(chat, url)  # decided by A's worker: A runs both jobs
    running = "select 1 from steps where job_id = 2 and status = 'running'"
    wait_for(lambda: query(url, running), 60, "the sync's copies to run")
    # a schedule due after the loss: the next minute at least 20 s away (B fires it)
    after = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)
    put_schedule(url, "sync:after", after, datetime.now(UTC))
    assert chat.slash("/avd replicas add northeurope", user="U0OPS1").status == 200
    wait_for(lambda: card_posted(url, THIRD), 60, "the third job's approval card")
    open_jobs = [j for j, s in jobs(url).items() if s in ("queued", "running")]
    assert open_jobs and jobs(url)[THIRD] == "awaiting_approval", jobs(url)
    epoch = (leader(url) or ("", 0))[1]

    # A's worker slow to claim, as a busy one is: the press surely is in the gap at the loss
    a.worker.pause(url)
    pressed = chat.click("Approve", user="U0LEAD1")  # on the newest card: the third job's
    lost = time.monotonic()
    a.lose()  # the moment Slack sees the 200: nothing waits for A's worker
    servers.lose_primary_and_promote()
    promoted = time.monotonic() - lost
    # as the promoted database has it: committed before the 200, handled by no one
    left = wait_for(lambda: press_of(url, THIRD), 30, "the press in the promoted database")
    b.worker.resume()
    assert pressed.status == 200
    acked.append(THIRD)
    chat.bot_url = b.web.url  # the front end sends Slack's requests to B
    held = wait_for(lambda: b.leads(url), LEASE + 30, "B to lead")
    led = time.monotonic() - lost
    resumes = "select count(*) as n from audit where action = 'job resume'"
    wait_for(lambda: int(query(url, resumes)[0]["n"]) >= len(open_jobs), 60, "B to resume the jobs")
    took_over = time.monotonic() - lost
    print(
        f"region loss: promotion {promoted:.2f} s, B leads {led:.2f} s, B runs the jobs {took_over:.2f} s "
        f"after the loss (leader lease {LEASE} s, job lease {JOB_LEASE} s; jobs resumed {open_jobs})"
    )
    wait_for(lambda: set(jobs(url).values()) <= {"done", "failed"}, 180, "the three jobs to end")
    wait_for(lambda: len(fired(url)) >= 2, 120, "sync:after to fire")
    answered = len(chat.ephemerals("U0OPS1"))
    assert chat.slash("/avd jobs", user="U0OPS1").status == 200  # acked by B's web process
    wait_for(lambda: len(chat.ephemerals("U0OPS1")) > answered, 30, "B's worker to answer /avd jobs")
    time.sleep(LEASE)  # a second firing would have happened by now

    assert held and leader(url) == (b.worker.owner(), epoch + 1) and b.worker.owner() != a.worker.owner()
    steps = query(url, "select job_id, name, status, error from steps")
    assert jobs(url) == {1: "done", 2: "done", THIRD: "done"}, steps
    assert left and left["claimed_by"] is None and left["done_at"] is None, left
    press = press_of(url, THIRD)
    assert press["id"] == left["id"] and press["claimed_by"] == b.worker.name and press["done_at"], press
    repeated = twice(dr_sim)
    print(f"region loss: Azure writes applied twice: {repeated or 'none'}")
    assert twice(dr_sim, allowed=resent) == {}, repeated
    assert max(repeated.values(), default=1) <= 2, repeated
    assert fired(url) == ["sync:after", "sync:before"]  # each ran once
    occurrences = query(url, "select schedule_id, owner from schedule_fires order by schedule_id")
    assert [(r["schedule_id"], r["owner"]) for r in occurrences] == [
        ("sync:after", b.worker.owner()),
        ("sync:before", a.worker.owner()),
    ]
    code, text = audit_verify(str(AVD_BOT), env, str(ROOT))
    assert code == 0 and "intact" in text, text
    approved = "select job_id from approvals where status = 'approved' and decided_by = 'U0LEAD1'"
    assert set(acked) == {1, 2, THIRD} and set(acked) <= {int(r["job_id"]) for r in query(url, approved)}
    dr = dr_sim.scale_set("VMSSDR", "EntraDR")
    assert dr is not None and dr.capacity == 2
    assert replica_state(dr_sim, "North Europe") == "Completed"
    assert query(url, "select current_setting('port') as port")[0]["port"] == str(servers.standby.port)
