"""The security matrix over real HTTP, for button presses and modal submissions as well as slash commands:
bad signatures, replays re-signed with a fresh timestamp, another workspace's team id, presses by
non-approvers, from another channel, on another card, and of expired, decided or unknown requests.

Each refused request changes nothing (no ARM write, no job, approval or step changed), gets an answer the
user can see, and, when it reached the bot's policy, an audit row. ``tests/slack/test_signing.py`` covers the
same signature cases for slash commands; ``tests/engine/test_approvals.py`` the approval happy paths.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import utcnow
from bot.slack.authz import REPLAY_MEMORY
from bot.storage import audit, jobs
from sim.azure.scenarios import prepare_dr
from tests.kit import (
    block_actions_payload,
    interactivity_body,
    post,
    signed_request,
    slash_command_body,
    view_submission_payload,
)
from tests.kit.fuzz import (
    CHANNEL,
    FOREIGN_TEAM,
    GUEST,
    LEAD,
    LEAD2,
    OPS,
    OPS2,
    OTHER_CHANNEL,
    LiveBot,
    answers,
    effects,
    live_bot,
    open_modal,
    press_body,
    press_body_from,
    refusals,
    request_approval,
    send_payload,
    send_raw,
    status,
    told,
    wait,
)
from tests.kit.scale import form_values
from tests.kit.signing import (
    SECRET,
    future_timestamp,
    no_signature,
    stale_timestamp,
    timestamp_header_swapped,
    wrong_signature,
)

VMSS = "virtualMachineScaleSets/Entra"
Forge = Callable[[str], tuple[str, dict[str, str]]]


def altered_after_signing(body: str) -> tuple[str, dict[str, str]]:
    return body.replace("U0", "U1"), signed_request(SECRET, body)


FORGES = [
    no_signature,
    wrong_signature,
    stale_timestamp,
    future_timestamp,
    altered_after_signing,
    timestamp_header_swapped,
]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveBot]:
    with live_bot(tmp_path) as bot:
        yield bot


# ---- signatures, for buttons and modals ---------------------------------------------------------


@pytest.mark.parametrize("forge", FORGES)
def test_forged_button_press_is_a_401_and_approves_nothing(live: LiveBot, forge: Forge) -> None:
    job = request_approval(live)
    body, url = press_body(live, job)
    before, audited = effects(live), audit.count(live.store)
    sent, headers = forge(body)
    assert post(live.chat.events_url, sent, headers).status == 401
    time.sleep(0.1)  # anything the bot would do after an ack would show by now
    assert effects(live) == before and audit.count(live.store) == audited
    assert answers(live, url) == [] and status(live, job["id"]) == jobs.AWAITING


@pytest.mark.parametrize("forge", FORGES)
def test_forged_modal_submission_is_a_401_and_saves_nothing(live: LiveBot, forge: Forge) -> None:
    view = open_modal(live)
    body = interactivity_body(view_submission_payload(view, form_values(view), user=OPS))
    before, audited, calls = effects(live), audit.count(live.store), len(live.slack.calls)
    sent, headers = forge(body)
    resp = post(live.chat.events_url, sent, headers)
    assert resp.status == 401
    time.sleep(0.1)
    assert effects(live) == before and audit.count(live.store) == audited and len(live.slack.calls) == calls


# ---- replays with a fresh signature --------------------------------------------------------------


def test_replayed_approve_click_does_not_start_the_job_twice(live: LiveBot) -> None:
    job = request_approval(live)
    body, url = press_body(live, job)
    assert send_raw(live, body).status == 200
    assert "is starting" in told(live, url)
    wait(lambda: status(live, job["id"]) == jobs.DONE, 20.0, "the approved job")
    writes, before = len(live.azure.writes(VMSS)), effects(live)
    resp = send_raw(live, body, ts=int(time.time()) + 1)  # the same body, validly signed again
    assert resp.status == 200
    wait(lambda: len(answers(live, url)) == 2, 10.0, "the replay's answer")
    assert "already handled" in answers(live, url)[1]["text"]
    assert len(live.azure.writes(VMSS)) == writes == 1
    assert effects(live) == before
    assert [r["actor"] for r in refusals(live, "replay")] == [LEAD]


def test_replayed_approve_click_while_the_job_runs_is_refused(live: LiveBot) -> None:
    job = request_approval(live)
    body, url = press_body(live, job)
    for stamp in (None, int(time.time()) + 2, int(time.time()) - 200):  # within Slack's 5-minute window
        assert send_raw(live, body, ts=stamp).status == 200
    wait(lambda: len(answers(live, url)) == 3)
    texts = [a["text"] for a in answers(live, url)]
    assert sum("is starting" in t for t in texts) == 1 and sum("already handled" in t for t in texts) == 2
    wait(lambda: status(live, job["id"]) == jobs.DONE, 20.0, "the approved job")
    assert len(live.azure.writes(VMSS)) == 1
    decided = [r for r in audit.recent(live.store, 200) if r["action"] == "approval approved"]
    assert len(decided) == 1


def test_replayed_slash_command_creates_one_job(live: LiveBot) -> None:
    url = live.slack.new_response_url(CHANNEL, OPS)
    body = slash_command_body(
        "scale Entra 1", user=OPS, channel=CHANNEL, response_url=url, trigger_id=live.slack.new_trigger_id()
    )
    assert send_raw(live, body).text == ""
    wait(lambda: jobs.recent_jobs(live.store), 20.0, "the job")
    replay = send_raw(live, body, ts=int(time.time()) + 1)
    assert replay.status == 200 and "already handled" in replay.text
    assert replay.headers["content-type"].startswith("text/plain")  # shown to the user only
    time.sleep(0.2)
    assert len(jobs.recent_jobs(live.store)) == 1
    assert refusals(live, "replay")[0]["target"] == "/avd scale Entra 1"


def test_replayed_modal_submission_requests_one_job(live: LiveBot) -> None:
    prepare_dr(live.azure)
    view = open_modal(live)
    body = interactivity_body(view_submission_payload(view, form_values(view), user=OPS))
    assert send_raw(live, body).text == ""
    wait(
        lambda: list(live.store.db.query("select * from approvals where message_ts is not null")),
        20.0,
        "the scale set job's approval card",
    )
    job = jobs.recent_jobs(live.store)[0]
    assert job["status"] == jobs.AWAITING and job["verb"] == "scaleset create"
    before, told_before = effects(live), len(live.slack.ephemerals())
    resp = send_raw(live, body, ts=int(time.time()) + 1)
    assert (resp.status, resp.text) == (200, "")  # the modal closes; the first submission is being handled
    time.sleep(0.2)
    assert effects(live) == before and len(live.slack.ephemerals()) == told_before
    assert refusals(live, "replay")[0]["target"] == "scaleset create form"


# ---- another workspace ---------------------------------------------------------------------------


def test_another_workspaces_slash_command_is_refused_and_audited(live: LiveBot) -> None:
    url = live.slack.new_response_url(CHANNEL, LEAD)
    body = slash_command_body(
        "status",
        user=LEAD,
        channel=CHANNEL,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
        team_id=FOREIGN_TEAM,
    )
    before = effects(live)
    resp = send_raw(live, body)
    assert resp.status == 200 and "another workspace" in resp.text
    time.sleep(0.1)
    assert answers(live, url) == [] and effects(live) == before
    row = refusals(live, "foreign_team")[0]
    assert (row["actor"], row["target"], row["detail"]["team"]) == (LEAD, "/avd status", FOREIGN_TEAM)


def test_another_workspaces_approve_click_is_refused_and_audited(live: LiveBot) -> None:
    job = request_approval(live)
    body, url = press_body(live, job, team=FOREIGN_TEAM)
    before = effects(live)
    assert send_raw(live, body).status == 200
    assert "another workspace" in told(live, url)
    assert effects(live) == before and status(live, job["id"]) == jobs.AWAITING
    assert refusals(live, "foreign_team")[0]["target"] == "block_actions engine_approve"


def test_another_workspaces_modal_submission_gets_a_form_error(live: LiveBot) -> None:
    view = {**open_modal(live), "team_id": FOREIGN_TEAM, "app_installed_team_id": FOREIGN_TEAM}
    body = interactivity_body(
        view_submission_payload(view, form_values(view), user=OPS, team_id=FOREIGN_TEAM)
    )
    before = effects(live)
    resp = send_raw(live, body)
    assert resp.status == 200
    assert resp.json() == {
        "response_action": "errors",
        "errors": {
            "name": ":no_entry: avd-ops does not answer requests from another workspace. Ask an avd-ops admin to add "
            "you to [policy] in avd.toml if you need access."
        },
    }
    assert effects(live) == before
    assert refusals(live, "foreign_team")[0]["target"] == "view_submission avd_scaleset_create"


# ---- who presses, where, and on what --------------------------------------------------------------

PRESSES: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, press_body overrides, what the presser is told, audit reason)
    ("operator, not approver", {"user": OPS2}, "only an approver can approve this", "only an approver"),
    ("guest", {"user": GUEST}, "only an approver can approve this", "only an approver"),
    (
        "guest rejects",
        {"user": GUEST, "label": "Reject"},
        "only an approver or the requester",
        "only an approver",
    ),
    ("another channel", {"channel": OTHER_CHANNEL}, "not on the request's card", "not on the request's card"),
    (
        "another message",
        {"ts": "1700000000.000001"},
        "not on the request's card",
        "not on the request's card",
    ),
    ("unknown approval", {"value": "0123456789ab"}, "does not exist", "unknown"),
    ("requester approves own", {"user": OPS}, "only an approver can approve this", "only an approver"),
]


@pytest.mark.parametrize(("case", "override", "shown", "reason"), PRESSES, ids=[p[0] for p in PRESSES])
def test_approve_press_refused(
    live: LiveBot, case: str, override: dict[str, Any], shown: str, reason: str
) -> None:
    job = request_approval(live)
    body, url = press_body(live, job, **override)
    before = effects(live)
    assert send_raw(live, body).status == 200
    assert shown in told(live, url)
    assert effects(live) == before and status(live, job["id"]) == jobs.AWAITING
    assert refusals(live, reason)
    assert live.azure.writes() == []


def test_approval_id_of_another_card_is_refused(live: LiveBot) -> None:
    """Card B's Approve button carrying card A's approval id (a foreign request) approves neither."""
    first = request_approval(live, "/avd scale Entra 1")
    second = request_approval(live, "/avd snapshots sync gold-to-dr")
    body, url = press_body(live, second, value=first["approval"])
    before = effects(live)
    assert send_raw(live, body).status == 200
    assert "not on the request's card" in told(live, url)
    assert effects(live) == before
    assert (status(live, first["id"]), status(live, second["id"])) == (jobs.AWAITING, jobs.AWAITING)


def test_expired_request_cannot_be_approved(live: LiveBot) -> None:
    job = request_approval(live)
    live.bot.runtime.clock = lambda: utcnow() + timedelta(minutes=16)
    seen = live.slack.message(CHANNEL, job["card_ts"])  # the second presser's screen may predate the redraw
    body, url = press_body(live, job)
    assert send_raw(live, body).status == 200
    assert "expired" in told(live, url)
    assert status(live, job["id"]) == jobs.EXPIRED and live.azure.writes() == []
    body, url = press_body(live, job, user=LEAD2, card=seen)  # pressing again: already expired
    assert send_raw(live, body).status == 200
    assert "already expired" in told(live, url)


def test_rejected_request_cannot_be_approved_afterwards(live: LiveBot) -> None:
    job = request_approval(live)
    reject, url = press_body(live, job, label="Reject")
    assert send_raw(live, reject).status == 200
    assert "will not run" in told(live, url)
    # the card no longer has buttons; an Approve press built from the old card is refused
    body, url = press_body_from(live, job, LEAD2)
    assert send_raw(live, body).status == 200
    assert "already rejected" in told(live, url)
    assert status(live, job["id"]) == jobs.REJECTED and live.azure.writes() == []


@pytest.mark.parametrize(
    ("user", "channel", "shown"),
    [
        (GUEST, CHANNEL, "not an avd-ops operator"),
        (OPS, OTHER_CHANNEL, "only runs in the incident channel"),
    ],
)
def test_cancel_press_by_a_guest_or_from_another_channel_is_refused(
    live: LiveBot, user: str, channel: str, shown: str
) -> None:
    job = request_approval(live)
    button = {"action_id": "engine_cancel", "value": str(job["id"])}
    url = live.slack.new_response_url(channel, user)
    payload = block_actions_payload(
        {"ts": job["card_ts"], "text": "", "blocks": []},
        f"job:{job['id']}",
        button,
        user=user,
        channel=channel,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    before = effects(live)
    assert send_payload(live, payload).status == 200
    assert shown in told(live, url)
    assert effects(live) == before


# ---- the modal: who submits, and for which channel -------------------------------------------------


@pytest.mark.parametrize(
    ("user", "metadata", "shown", "reason"),
    [
        (GUEST, {}, "not an avd-ops operator", "not_operator"),
        (OPS2, {}, "belongs to another operator", "other_user"),
        (OPS, {"c": OTHER_CHANNEL}, "only runs in the incident channel", "channel_not_allowed"),
    ],
)
def test_modal_submission_refused(
    live: LiveBot, user: str, metadata: dict[str, str], shown: str, reason: str
) -> None:
    view = open_modal(live)
    if metadata:
        view = {**view, "private_metadata": json.dumps({**json.loads(view["private_metadata"]), **metadata})}
    channel = metadata.get("c", CHANNEL)
    before, seen = effects(live), len(live.slack.ephemerals(channel, user))
    resp = send_payload(live, view_submission_payload(view, form_values(view), user=user))
    assert (resp.status, resp.text) == (200, "")
    shown_to = wait(lambda: live.slack.ephemerals(channel, user)[seen:], 10.0, "the refusal")
    assert shown in shown_to[0]["text"]
    assert effects(live) == before
    assert refusals(live, reason)[0]["target"] == "scaleset create form"


def test_claim_remembers_an_interaction_for_a_day(live: LiveBot) -> None:
    now = utcnow()
    assert live.bot.runtime.replay.claim("command:t1", now) is True
    assert live.bot.runtime.replay.claim("command:t1", now + timedelta(minutes=30)) is False
    assert (
        live.bot.runtime.replay.claim("command:t2", now + REPLAY_MEMORY + timedelta(seconds=1)) is True
    )  # prunes t1
    assert live.bot.runtime.replay.claim("command:t1", now + REPLAY_MEMORY + timedelta(seconds=2)) is True
