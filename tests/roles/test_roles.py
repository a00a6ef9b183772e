"""Web and worker roles as real processes on one SQLite file: the web process acks and records, workers claim
and answer (through the response_url), run jobs, take over a killed worker's row, and handle each row once."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.slack import cards, modals
from sim.azure import AzureSim
from sim.azure.scenarios import prepare_dr
from sim.slack import SlackSim
from sim.slack.chat import slash_command_body
from sim.slack.socket import APP_TOKEN, SocketModeSim
from tests.kit import SIGNING_SECRET, Chat
from tests.kit.bots import bot_env
from tests.kit.failover import GROUP, USER, failover_config, make_sim
from tests.kit.process import AVD_BOT, ROOT, Bot, child_env, rows, wait
from tests.kit.roles import HELD_TEXT
from tests.kit.scale import form_values, open_form, submit_form

OPS, LEAD, CHANNEL = "U0OPS1", "U0LEAD1", "C0INCIDENT"


@pytest.fixture
def procs() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()


def start(
    procs: list[Bot], env: dict[str, str], role: str, capabilities: str = "", mode: str = "serve"
) -> Bot:
    proc = Bot(env, capabilities, role=role, mode=mode)
    procs.append(proc)
    proc.start()
    return proc


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
        data: dict[str, Any] = json.load(resp)
    return data


def hook_answers(slack: SlackSim, response_url: str) -> list[dict[str, Any]]:
    token = response_url.rsplit("/", 1)[-1]
    return [c.args for c in slack.calls if c.method == "response_url" and c.args.get("hook") == token]


def answers_to(slack: SlackSim, user: str) -> dict[str, list[dict[str, Any]]]:
    """The answers sent to each response_url the Slack double issued for ``user``'s requests (by hook token).
    A handled inbox row no longer holds its response_url (a bearer URL), so tests find the hooks here."""
    with slack.lock:
        tokens = [t for t, hook in slack.workspace.hooks.items() if hook.user == user]
    return {
        t: [c.args for c in slack.calls if c.method == "response_url" and c.args.get("hook") == t]
        for t in tokens
    }


def view_name(view: dict[str, Any]) -> str:
    return str(form_values(view)["name"])


def inbox(db: Path) -> list[Any]:
    return rows(db, "select * from inbox order by id")


def test_an_unknown_role_exits_2_naming_the_roles() -> None:
    done = subprocess.run(
        [str(AVD_BOT), "serve", "--role", "bogus"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "unknown role 'bogus': use web, worker or all" in done.stderr


def test_status_is_acked_by_the_web_process_and_answered_by_the_worker(
    tmp_path: Path, slack_sim: SlackSim, azure_sim: AzureSim, procs: list[Bot]
) -> None:
    env = child_env(
        bot_env(tmp_path, slack_sim.url, arm=azure_sim.url, ca=azure_sim.ca_path), AVD_INBOX_ACK="commit"
    )
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    worker = start(procs, env, "worker")
    assert health(web.url) == {
        "ok": True,
        "db": True,
        "scheduler": False,
        "simulated_azure": True,
        "role": "web",
    }
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    assert "/avd status" in chat.slash("/avd help", user=OPS).text  # answered in the ack by the web process
    assert inbox(db) == []
    ack = chat.slash("/avd status", user=OPS)
    assert (ack.status, ack.text) == (200, "")
    (row,) = inbox(db)  # committed before the ack (AVD_INBOX_ACK=commit)
    assert (row["kind"], row["user_id"], row["channel"]) == ("command", OPS, "C0INCIDENT")
    payload = json.loads(row["payload"])
    assert payload["text"] == "status" and "token" not in payload
    wait(lambda: inbox(db)[0]["done_at"], 30, "the worker to handle the row")
    assert inbox(db)[0]["claimed_by"] == worker.name
    answers = wait(lambda: hook_answers(slack_sim, row["response_url"]), 15, "the answer")
    assert "primary -> dr" in answers[0]["text"]
    assert "primary -> dr" in chat.ephemerals(OPS)[-1]["text"]


@pytest.fixture
def dr_sim() -> Iterator[AzureSim]:
    sim = make_sim(120)
    prepare_dr(sim)
    try:
        yield sim
    finally:
        sim.stop()


def test_a_failover_recorded_by_the_web_process_is_planned_approved_and_run_by_the_worker(
    tmp_path: Path, slack_sim: SlackSim, dr_sim: AzureSim, procs: list[Bot]
) -> None:
    config = tmp_path / "failover.toml"
    config.write_text(failover_config(grace=1, principals=(GROUP, USER)), encoding="utf-8")
    env = child_env(
        bot_env(tmp_path, slack_sim.url, arm=dr_sim.url, ca=dr_sim.ca_path),
        AVD_CONFIG=str(config),
        AVD_INBOX_ACK="commit",  # the row is there when the ack is
    )
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    assert chat.slash("/avd failover start dr", user=OPS).status == 200
    (row,) = inbox(db)
    assert row["kind"] == "command" and row["claimed_by"] is None
    assert rows(db, "select id from jobs") == []  # the web role plans nothing and runs no scheduler
    assert health(web.url)["scheduler"] is False
    worker = start(procs, env, "worker")
    wait(lambda: rows(db, "select 1 from approvals where job_id = 1 and message_ts is not null"), 30, "card")
    assert chat.click("Approve", user=LEAD).status == 200
    wait(
        lambda: [r for r in rows(db, "select status from jobs where id = 1") if r["status"] == "done"],
        60,
        "the failover to finish",
    )
    handled = inbox(db)
    assert [(r["kind"], r["claimed_by"], bool(r["done_at"])) for r in handled] == [
        ("command", worker.name, True),
        (f"action:{cards.APPROVE}", worker.name, True),
    ]
    press = json.loads(handled[1]["payload"])
    assert press["actions"][0]["value"] and "token" not in press and "trigger_id" not in press
    assert handled[1]["response_url"] == ""  # done: the bearer URL is not kept
    approved = wait(
        lambda: [a for a in answers_to(slack_sim, LEAD).values() if a], 15, "the presser's answer"
    )
    assert [len(a) for a in approved] == [1]
    assert dr_sim.scale_set("VMSSDR", "EntraDR").capacity == 2


def test_two_workers_handle_each_row_once(tmp_path: Path, slack_sim: SlackSim, procs: list[Bot]) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url), AVD_INBOX_ACK="queue")
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    workers = {start(procs, env, "worker", "tests.kit.roles").name for _ in range(2)}
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    for _ in range(20):
        assert chat.slash("/avd jobs", user=OPS).status == 200
    wait(lambda: len([r for r in inbox(db) if r["done_at"]]) == 20, 30, "20 rows handled")
    handled = inbox(db)
    assert {r["claimed_by"] for r in handled} <= workers
    answered = wait(
        lambda: (hooks := answers_to(slack_sim, OPS)) and all(hooks.values()) and hooks, 15, "20 answers"
    )
    assert len(answered) == 20 and all(len(a) == 1 for a in answered.values())  # each request answered once
    # ... each by the worker that claimed its row
    assert Counter(a[0]["text"] for a in answered.values()) == Counter(
        f"{HELD_TEXT} {r['claimed_by'].split(':')[1]}" for r in handled
    )
    assert sum(Counter(r["claimed_by"] for r in handled).values()) == 20


def test_a_killed_workers_row_is_taken_over_by_the_other_worker(
    tmp_path: Path, slack_sim: SlackSim, procs: list[Bot]
) -> None:
    hold = tmp_path / "hold"
    hold.write_text("hold", encoding="utf-8")
    env = child_env(bot_env(tmp_path, slack_sim.url), AVD_TEST_HOLD=str(hold), AVD_INBOX_LEASE_SECONDS="1")
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    first = start(procs, env, "worker", "tests.kit.roles")
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    assert chat.slash("/avd jobs", user=OPS).status == 200
    wait(lambda: [r for r in inbox(db) if r["claimed_by"] == first.name], 15, "the first worker's claim")
    second = start(procs, env, "worker", "tests.kit.roles")
    first.kill()
    wait(lambda: inbox(db)[0]["claimed_by"] == second.name, 15, "the second worker to take the row over")
    hold.unlink()
    wait(lambda: inbox(db)[0]["done_at"], 15, "the row handled")
    (answers,) = wait(lambda: [a for a in answers_to(slack_sim, OPS).values() if a], 15, "the answer")
    assert [a["text"] for a in answers] == [f"{HELD_TEXT} {second.name.split(':')[1]}"]


def test_the_scaleset_form_opened_and_submitted_through_the_web_process_is_handled_by_the_worker(
    tmp_path: Path, slack_sim: SlackSim, azure_sim: AzureSim, procs: list[Bot]
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url, arm=azure_sim.url, ca=azure_sim.ca_path))
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    worker = start(procs, env, "worker")
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    view = open_form(
        chat, slack_sim, "/avd scaleset create dr"
    )  # views.open by the worker, with the trigger id
    assert submit_form(chat, view).status == 200
    # the worker's preflight refuses it (no replica in uksouth yet) and says so to the submitter
    chat.wait_for_ephemeral(OPS, contains="add the replica with `/avd replicas add uksouth`", timeout=15)
    handled = wait(
        lambda: [r for r in inbox(db) if r["done_at"]] if len(inbox(db)) == 2 else [], 15, "2 rows"
    )
    assert [(r["kind"], r["claimed_by"]) for r in handled] == [
        ("command", worker.name),
        (f"view:{modals.CALLBACK_ID}", worker.name),
    ]
    assert json.loads(handled[1]["payload"])["form"]["name"] == view_name(view)
    assert rows(db, "select id from jobs") == []


def test_socket_mode_web_and_worker(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim, procs: list[Bot]
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url, SLACK_APP_TOKEN=APP_TOKEN))
    db = tmp_path / "avd.db"
    start(procs, env, "web", mode="socket")
    worker = start(procs, env, "worker", mode="socket")  # connects nothing: it reads the inbox
    assert len(socket_sim.links) == 1
    url = slack_sim.new_response_url(CHANNEL, OPS)
    body = slash_command_body("jobs", user=OPS, channel=CHANNEL, response_url=url, trigger_id="1.2.socket")
    ack = socket_sim.acked(
        socket_sim.deliver("slash_commands", dict(parse_qsl(body, keep_blank_values=True)))
    )
    assert ack.payload is None  # acked empty by the web process; the worker answers
    answers = wait(lambda: hook_answers(slack_sim, url), 15, "the answer on the response_url")
    assert "No jobs yet" in answers[0]["text"]
    assert [(r["kind"], r["claimed_by"]) for r in inbox(db)] == [("command", worker.name)]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AVD_INBOX_ACK", "later", "AVD_INBOX_ACK must be commit or queue, not 'later'"),
        ("AVD_INBOX_LEASE_SECONDS", "soon", "AVD_INBOX_LEASE_SECONDS must be a number of seconds"),
        ("AVD_INBOX_LEASE_SECONDS", "0", "AVD_INBOX_LEASE_SECONDS must be a positive number of seconds"),
    ],
)
def test_a_bad_roles_setting_stops_the_start_with_its_name(
    tmp_path: Path, slack_sim: SlackSim, name: str, value: str, message: str
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url), **{name: value})
    done = subprocess.run(
        [str(AVD_BOT), "serve", "--role", "web", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_web_process_stopped_right_after_its_acks_has_recorded_every_request(
    tmp_path: Path, slack_sim: SlackSim, procs: list[Bot]
) -> None:
    env = child_env(bot_env(tmp_path, slack_sim.url), AVD_INBOX_ACK="queue")  # acks before the commit
    db = tmp_path / "avd.db"
    web = start(procs, env, "web")
    chat = Chat(web.url, slack_sim, SIGNING_SECRET)
    for _ in range(5):
        assert chat.slash("/avd jobs", user=OPS).text == ""
    web.stop()  # SIGTERM: the listener stops, then the inbox writer flushes what it acked
    assert [(r["kind"], r["claimed_by"]) for r in inbox(db)] == [("command", None)] * 5
