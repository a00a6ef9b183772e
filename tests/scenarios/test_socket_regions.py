"""Socket Mode from two regions (issue 16): region A and region B each run ``avd-bot socket --role web`` (one Socket
Mode connection each) and ``avd-bot socket --role worker``, the topology docs/deploy.md recommends for two regions
(a web process records a request in the inbox before it acks, so a killed process loses nothing it acked), over
one PostgreSQL database, one Slack double with its Socket Mode double, and the Azure simulator with DR prepared.

With both connected, Slack's double spreads the commands over both connections, and each is acked and answered
once; ``/avd failover start dr`` makes one job, approved with a press, run by A's worker (the only worker then).
Then A's web process is paused (SIGSTOP) with a command on its link and both of A's processes are SIGKILLed: the double
sees A's connection close; the command is never acked and, as Slack does for commands, never redelivered (the
user sends it again); every later command goes to B's connection only and is answered once; B's worker takes the
leader lease and resumes the job, which ends ``done`` with no Azure write applied twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azure import AzureSim
from sim.slack import SlackSim
from sim.slack.socket import APP_TOKEN, SocketModeSim
from tests.kit.bots import bot_env
from tests.kit.chaos import twice, wait_for
from tests.kit.failover import dr_world, failover_config
from tests.kit.postgres import PgServer, bindir
from tests.kit.process import Bot, child_env
from tests.kit.region import leader, query
from tests.kit.socket_regions import answers, press, slash

pytestmark = pytest.mark.skipif(bindir() is None, reason="PostgreSQL is not installed")

OPS, LEAD, CHANNEL = "U0OPS1", "U0LEAD1", "C0INCIDENT"
LEASE = 3  # AVD_LEADER_LEASE_SECONDS
JOB_LEASE = 2  # AVD_JOB_LEASE_SECONDS (under the leader's: expired when B takes the lead)
SPREAD = 8  # commands sent while both regions are connected
# the failover's grace period for the primary's users: the job is still running (waiting it out, its deadline in
# the step's token) when region A is lost, and B's resume waits only what is left of it
GRACE = 20


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    with dr_world(240) as sim:
        yield sim


def resent(method: str, path: str) -> bool:
    """The repeat the region-loss test accepts: a user-session message in flight when the worker died is sent
    again by the step's rerun (AVD cannot read back what was sent)."""
    return method == "POST" and path.endswith("/sendmessage")


def host(owner: str) -> str:
    """``hostname:pid`` of a lease owner (``hostname:pid:random``; each lease of a process has its own suffix)."""
    return owner.rsplit(":", 1)[0]


def jobs(url: str) -> dict[int, str]:
    return {int(r["id"]): str(r["status"]) for r in query(url, "select id, status from jobs order by id")}


def test_two_regions_share_socket_mode_and_survive_the_loss_of_one(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim, dr_sim: AzureSim
) -> None:
    config = tmp_path / "regions.toml"
    config.write_text(failover_config(grace=GRACE), encoding="utf-8")
    with PgServer.started() as server:
        url = server.create_database("avd")
        env = child_env(
            bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path, SLACK_APP_TOKEN=APP_TOKEN),
            AVD_CONFIG=str(config),
            AVD_DB=url,
            AVD_LEADER_LEASE_SECONDS=str(LEASE),
            AVD_JOB_LEASE_SECONDS=str(JOB_LEASE),
        )
        # a worker in a PID namespace of its own, so two regions' workers are two hosts to each other (a standby
        # waits for a dead leader's lease to expire); a web process a plain child, paused to hold an envelope
        procs = {
            name: Bot(
                env, role=role, mode="socket", log_path=tmp_path / f"{name}.log", own_host=role == "worker"
            )
            for name, role in (
                ("a-web", "web"),
                ("a-worker", "worker"),
                ("b-web", "web"),
                ("b-worker", "worker"),
            )
        }
        try:
            run(url, procs, slack_sim, socket_sim, dr_sim)
        finally:
            for proc in procs.values():
                proc.stop()


def run(url: str, procs: dict[str, Bot], slack: SlackSim, socket: SocketModeSim, dr_sim: AzureSim) -> None:
    a_web, a_worker, b_web, b_worker = (procs[n] for n in ("a-web", "a-worker", "b-web", "b-worker"))
    a_web.start()
    a_link = socket.wait_connected(count=1)
    a_worker.start()
    wait_for(lambda: a_worker.owner() and (leader(url) or ("", 0))[0] == a_worker.owner(), 30, "A to lead")
    b_web.start()
    b_link = socket.wait_connected(count=2)
    assert a_link is not b_link and [link.closed for link in socket.links] == [None, None]

    # one failover: a single job, approved with a press, run by A's worker (B's worker is not up yet)
    envelope, _ = slash(slack, socket, "/avd failover start dr", OPS, CHANNEL)
    socket.acked(envelope)
    card = "select job_id from approvals where message_ts is not null"
    wait_for(lambda: query(url, card), 60, "the approval card")
    socket.acked(press(slack, socket, "Approve", LEAD, CHANNEL))
    running = "select 1 from jobs where id = 1 and status = 'running'"
    wait_for(lambda: query(url, running), 60, "the failover to run")
    b_worker.start()

    # both regions connected: commands spread over both links, each acked and answered once
    sent = [slash(slack, socket, "/avd jobs", OPS, CHANNEL) for _ in range(SPREAD)]
    for envelope, hook in sent:
        assert socket.acked(envelope).payload is None  # acked empty by a web process; a worker answers
        wait_for(lambda: answers(slack, hook), 30, "a /avd jobs answer")  # noqa: B023
    links = [socket.delivered_on(envelope) for envelope, _ in sent]
    assert all(len(on) == 1 for on in links)
    assert {on[0].ticket for on in links} == {a_link.ticket, b_link.ticket}  # both regions got some

    # region A is lost: its web process paused (SIGSTOP, outside a write transaction) with a command on its link,
    # then both of A's processes killed
    assert jobs(url) == {1: "running"}  # one job, mid-way (in its grace period), in A's worker
    holder = query(url, "select owner from leases where name = 'job:1'")
    assert [host(r["owner"]) for r in holder] == [host(a_worker.owner())]  # A's process holds its lease
    a_web.pause(url)
    stranded, stranded_hook = slash(slack, socket, "/avd jobs", OPS, CHANNEL, link=a_link)
    lost = time.monotonic()
    a_web.kill()
    a_worker.kill()
    wait_for(lambda: a_link.closed is not None, 15, "Slack's double to see A's connection closed")

    after = [slash(slack, socket, "/avd jobs", OPS, CHANNEL) for _ in range(4)]
    resend, resend_hook = slash(slack, socket, "/avd jobs", OPS, CHANNEL)  # the user sends it again
    for envelope, hook in [*after, (resend, resend_hook)]:
        assert socket.delivered_on(envelope) == [b_link]
        assert socket.acked(envelope).payload is None
        wait_for(lambda: answers(slack, hook), 30, "an answer from region B")  # noqa: B023

    wait_for(lambda: b_worker.owner() and (leader(url) or ("", 0))[0] == b_worker.owner(), 30, "B to lead")
    wait_for(lambda: jobs(url).get(1) in ("done", "failed"), 120, "the failover to end")
    print(f"socket regions: B leads and the failover ends {time.monotonic() - lost:.2f} s after the loss")

    assert jobs(url) == {1: "done"}, query(url, "select job_id, name, status, error from steps")
    resumed = "select target from audit where action = 'job resume'"
    assert query(url, resumed) == [{"target": "job 1"}]  # by B, the leader since (A never resumed a job)
    assert socket.delivered_on(stranded) == [a_link] and socket.acks_of(stranded) == []  # not redelivered
    assert answers(slack, stranded_hook) == []
    delivered = {e["envelope_id"] for e in socket.envelopes} - {stranded}
    assert all(len(socket.acks_of(e)) == 1 for e in delivered)  # every other envelope acked once
    for _, hook in [*sent, *after, (resend, resend_hook)]:
        assert len(answers(slack, hook)) == 1  # answered once
    approvals = query(url, "select job_id, status from approvals")
    assert [(r["job_id"], r["status"]) for r in approvals] == [(1, "approved")]
    assert twice(dr_sim, allowed=resent) == {}, twice(dr_sim)
    dr = dr_sim.scale_set("VMSSDR", "EntraDR")
    assert dr is not None and dr.capacity == 2
    claimed = {
        str(r["claimed_by"]) for r in query(url, "select claimed_by from inbox where done_at is not null")
    }
    assert b_worker.name in claimed
