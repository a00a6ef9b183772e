"""Fuzzing over real HTTP (hypothesis, derandomized): slash command texts, scale set modal submissions, button
payloads and raw bodies, all signed and sent to the running bot with both doubles behind it.

For every example: no 5xx and nothing logged at ERROR (no ``@app.error`` incident), no side effect (no ARM
write, no job, approval, step, lock or DR scale set row changed) and a clear answer: the ack's text, a
``response_url`` reply, an ephemeral message, an opened modal, or a modal ``errors`` response keyed by the
form's own block ids. ``AVD_TEST_FULL=1`` runs ten times the examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.capabilities import failover, replicas
from bot.slack.listeners import UNHANDLED
from bot.storage import jobs
from commands import UsageError, ops, parse
from tests.kit import (
    block_actions_payload,
    interactivity_body,
    post,
    slash_command_body,
    view_submission_payload,
)
from tests.kit.fuzz import (
    CHANNEL,
    GUEST,
    INJECTIONS,
    LEAD,
    LEAD2,
    OPS,
    OTHER_CHANNEL,
    LiveBot,
    answers,
    effects,
    live_bot,
    no_incident,
    send_payload,
    send_raw,
    wait,
)

FULL = os.environ.get("AVD_TEST_FULL") == "1"
SCALE = 10 if FULL else 1


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples * SCALE,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBot]:
    """One bot for the module, with one approval pending (job 1, ``scale Entra 1``) and the modal opened."""
    with live_bot(tmp_path_factory.mktemp("fuzz")) as bot:
        assert bot.chat.slash("/avd scale Entra 1", user=OPS).status == 200
        wait(lambda: (j := jobs.get_job(bot.store, 1)) and j["card_ts"], what="the approval card")
        assert bot.chat.slash("/avd scaleset create", user=OPS).status == 200
        wait(lambda: bot.slack.views, what="the scale set modal")
        yield bot


def card_ts(live: LiveBot) -> str:
    return str((jobs.get_job(live.store, 1) or {})["card_ts"])


def approval_id(live: LiveBot) -> str:
    return str(next(iter(live.store.db.query("select id from approvals where job_id = 1")))["id"])


# ---- slash commands ------------------------------------------------------------------------------

VERBS = (
    "status",
    "doctor",
    "help",
    "jobs",
    "job",
    "audit",
    "replicas",
    "replicas list",
    "replicas add",
    "replicas remove",
    "identity create",
    "scaleset create",
    "scale",
    "snapshots sync",
    "snapshots copy",
    "snapshots schedule",
    "failover plan",
    "failover start",
    "failover status",
    "failover cancel",
    "failback plan",
    "failback start",
    "drill",
)
WORDS = st.one_of(
    st.sampled_from(INJECTIONS),
    st.sampled_from(
        (
            "uksouth",
            "UK South",
            "westeurope",
            "uksuoth",
            "dr",
            "primary",
            "Entra",
            "EntraDR",
            "gold-to-dr",
            "--dry-run",
            "--count",
            "--storage",
            "-1",
            "0",
            "3",
            "1001",
            "1e9",
            "99999999999999999999999",
            "Win11MultiS/2026.0522.1719",
            "0 2 * * *",
            "off",
        )
    ),
    st.text(min_size=1, max_size=30),
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda verb, args: " ".join([verb, *args]), st.sampled_from(VERBS), st.lists(WORDS, max_size=5)
    ),
    st.builds(lambda verb, n: f"{verb} " + "x" * n, st.sampled_from(VERBS), st.integers(3000, 12000)),
)
# Commands that would legitimately change something: sent as dry runs, or not at all.
_STATEFUL = (ops.SnapshotsSchedule, ops.JobRetry, ops.JobCancel, ops.FailoverCancel)


def harmless(text: str, live: LiveBot) -> str | None:
    """``text``, or its ``--dry-run`` form when it would change Azure; ``None`` when it cannot be made harmless."""
    for candidate in (text, f"{text} --dry-run"):
        try:
            op = parse(candidate, live.bot.runtime.vocab)
        except UsageError:
            return candidate
        if isinstance(op, _STATEFUL):
            return None
        if not op.changes_azure or getattr(op, "dry_run", False):
            return candidate
    return None


def reply_to_slash(live: LiveBot, text: str, user: str = OPS, channel: str = CHANNEL) -> str:
    """Send ``/avd text`` and return the answer the user sees, waiting for it if it comes after the ack."""
    url, trigger = live.slack.new_response_url(channel, user), live.slack.new_trigger_id()
    body = slash_command_body(text, user=user, channel=channel, response_url=url, trigger_id=trigger)
    resp = send_raw(live, body)
    assert resp.status == 200, (resp.status, resp.text)
    if resp.text:
        return str(resp.json()["text"]) if resp.is_json else resp.text

    def answered() -> str | None:
        posted = [str(a.get("text") or a.get("blocks")) for a in answers(live, url)]
        opened = [v for v in live.slack.views if v["trigger_id"] == trigger]
        return posted[0] if posted else ("(modal opened)" if opened else None)

    return str(wait(answered, 20.0, f"an answer to /avd {text[:60]!r}"))


@fuzz(150)
@given(text=TEXTS)
def test_command_texts_get_an_answer_and_change_nothing(live: LiveBot, text: str) -> None:
    sendable = harmless(text, live)
    assume(sendable is not None)
    assert sendable is not None
    before, mark = effects(live), len(live.incidents.records)
    answer = reply_to_slash(live, sendable)
    assert answer.strip()
    no_incident(live, mark, answer)
    assert effects(live) == before


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("job 99999999999999999999999", "job ID must be a whole number"),
        ("audit 99999999999999999999999", ""),
        ("job 1 " + "retry " * 600, ""),
        ("replicas add <!channel> --count 99999999999999999999", ""),
    ],
)
def test_edge_command_texts(live: LiveBot, text: str, shown: str) -> None:
    before, mark = effects(live), len(live.incidents.records)
    answer = reply_to_slash(live, text)
    assert shown in answer
    no_incident(live, mark, answer)
    assert effects(live) == before


# ---- the scale set modal -------------------------------------------------------------------------

FIELDS = (
    "name",
    "gallery",
    "image",
    "version",
    "vm_size",
    "vnet",
    "subnet",
    "capacity",
    "domain",
    "domain_user",
    "host_pool",
)
VALUE = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=80),
    st.text(min_size=3001, max_size=4000),
    st.sampled_from(
        (
            "EntraDR",
            "AVDGallery",
            "Win11MultiS",
            "2026.0522.1719",
            "Standard_D4s_v5",
            "vnet-avd-uks",
            "snet-avd",
            "EntraAuthDR",
            "2",
            "-1",
            "1001",
            "1.5",
            "0x10",
            "corp.contoso.com",
            "svc-join@corp.contoso.com",
            "",
        )
    ),
)
FORMS = st.fixed_dictionaries(
    {},
    optional={
        **{f: VALUE for f in FIELDS},
        "join_type": st.sampled_from(("entra", "domain", "workgroup", "")),
    },
)


def fuzzed_view(live: LiveBot, n: int) -> dict[str, Any]:
    opened = live.slack.views[0]
    return {**opened["view"], "id": f"VFUZZ{n:06d}", "hash": "h"}


@fuzz(100)
@given(values=FORMS, n=st.integers(0, 10**6))
def test_modal_submissions_are_checked_or_refused_without_effect(
    live: LiveBot, values: dict[str, str], n: int
) -> None:
    view = fuzzed_view(live, n)
    block_ids = {b["block_id"] for b in view["blocks"] if b.get("type") == "input"}
    before, mark = effects(live), len(live.incidents.records)
    told = len(live.slack.ephemerals(CHANNEL, OPS))
    resp = send_payload(live, view_submission_payload(view, values, user=OPS))
    assert resp.status == 200, resp.text
    if resp.text:
        errors = resp.json()
        assert errors["response_action"] == "errors"
        assert errors["errors"] and set(errors["errors"]) <= block_ids
        assert all(isinstance(v, str) and v for v in errors["errors"].values())
    else:  # a valid form closes the modal; the preflight's refusal follows as an ephemeral
        reply = wait(lambda: live.slack.ephemerals(CHANNEL, OPS)[told:], 20.0, "the preflight's answer")
        assert reply[0]["text"].strip()
        no_incident(live, mark, reply[0]["text"])
    no_incident(live, mark)
    assert effects(live) == before


def test_a_refused_form_does_not_replace_the_remembered_scale_set(live: LiveBot) -> None:
    """Regression: the spec was saved before the preflight, so a form the preflight refused still replaced the
    site's DR scale set record (``/avd status`` and ``/avd scale dr`` read it)."""
    view = fuzzed_view(live, 999_999_999)
    values = {
        "name": "NotTheDrSet",
        "gallery": "AVDGallery",
        "image": "Win11MultiS",
        "version": "2026.0522.1719",
        "vm_size": "Standard_D4s_v5",
        "vnet": "vnet-avd-uks",
        "subnet": "snet-avd",
        "capacity": "0",
        "join_type": "entra",
        "host_pool": "EntraAuthDR",
    }
    told = len(live.slack.ephemerals(CHANNEL, OPS))
    assert send_payload(live, view_submission_payload(view, values, user=OPS)).text == ""
    reply = wait(lambda: live.slack.ephemerals(CHANNEL, OPS)[told:], 20.0, "the preflight's answer")
    assert "is not available in uksouth region" in reply[0]["text"]
    assert list(live.store.db.query("select * from dr_scale_sets")) == []


# ---- buttons -------------------------------------------------------------------------------------

ACTIONS = st.one_of(
    st.sampled_from(
        (
            "engine_approve",
            "engine_reject",
            "engine_retry",
            "engine_cancel",
            replicas.UNLOCK_ACTION,
            failover.ROLLBACK_ACTION,
            failover.SCALE_DOWN_ACTION,
        )
    ),
    st.text(max_size=40),
    st.sampled_from(INJECTIONS),
)
VALUES = st.one_of(
    st.sampled_from(("1", "0", "-1", "99999999999999999999", "1.0", "²", "", "{}", "null")),
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.text(min_size=2000, max_size=3000),
    st.just("APPROVAL"),
    st.builds(lambda n: f"{n:012x}", st.integers(0, 16**12 - 1)),
)
USERS = st.one_of(st.sampled_from((OPS, LEAD, LEAD2, GUEST, "")), st.text(max_size=12))
CHANNELS = st.one_of(st.sampled_from((CHANNEL, OTHER_CHANNEL, "D0DIRECT")), st.text(max_size=12))
MESSAGE_TS = st.one_of(st.just("1.000001"), st.just("CARD_ELSEWHERE"), st.text(max_size=20))


@fuzz(150)
@given(action=ACTIONS, value=VALUES, user=USERS, channel=CHANNELS, ts=MESSAGE_TS)
def test_button_presses_get_an_answer_and_change_nothing(
    live: LiveBot, action: str, value: str, user: str, channel: str, ts: str
) -> None:
    value = approval_id(live) if value == "APPROVAL" else value  # the real pending request, pressed elsewhere
    assume(ts != card_ts(live))
    url = live.slack.new_response_url(CHANNEL, user or "U0NOBODY")
    message = {"ts": ts, "text": "", "blocks": []}
    payload = block_actions_payload(
        message,
        "job:1",
        {"action_id": action, "value": value},
        user=user,
        channel=channel,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    before, mark = effects(live), len(live.incidents.records)
    resp = send_payload(live, payload)
    assert resp.status == 200, (resp.status, resp.text)
    told = wait(lambda: answers(live, url), 20.0, f"an answer to pressing {action[:40]!r}")
    assert str(told[0].get("text") or "").strip()
    assert told[0].get("response_type") == "ephemeral"
    no_incident(live, mark, *(str(t.get("text")) for t in told))
    assert effects(live) == before


def test_an_unknown_button_is_acked_with_an_ephemeral_and_no_effect(live: LiveBot) -> None:
    """Regression: Bolt answered an unknown action id with 404 ``unhandled request`` (Slack shows a warning)."""
    url = live.slack.new_response_url(CHANNEL, OPS)
    payload = block_actions_payload(
        {"ts": "1.1", "text": "", "blocks": []},
        "b",
        {"action_id": "old_button", "value": "x"},
        user=OPS,
        channel=CHANNEL,
        response_url=url,
        trigger_id="t-unknown",
    )
    before = effects(live)
    resp = send_payload(live, payload)
    assert (resp.status, resp.text) == (200, "")
    assert wait(lambda: answers(live, url))[0]["text"] == UNHANDLED
    assert effects(live) == before


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("../x", "does not name a job"),
        ("²", "does not name a job"),
        ("99999999999999999999", "does not name a job"),
        ("1", "is not on job 1's card"),
    ],
)
def test_retry_and_cancel_name_a_job_on_its_own_card(live: LiveBot, value: str, shown: str) -> None:
    """Regression: a non-numeric value answered Python's ``invalid literal for int()``; a Cancel press on any
    message (not the job's card) cancelled the job it named."""
    url = live.slack.new_response_url(CHANNEL, OPS)
    payload = block_actions_payload(
        {"ts": "1.000002", "text": "", "blocks": []},
        "job:1",
        {"action_id": "engine_cancel", "value": value},
        user=OPS,
        channel=CHANNEL,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    before = effects(live)
    assert send_payload(live, payload).status == 200
    assert shown in wait(lambda: answers(live, url))[0]["text"]
    assert effects(live) == before


# ---- raw bodies ----------------------------------------------------------------------------------

JSONISH = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
BODIES = st.one_of(
    st.binary(max_size=600),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from((b"payload=", b"command=%2Favd&text=", b"")),
        st.binary(max_size=300),
    ),
    st.builds(
        lambda obj: ("payload=" + json.dumps(obj)).encode(),
        JSONISH
        | st.lists(JSONISH, max_size=4)
        | st.dictionaries(
            st.sampled_from(("type", "user", "team", "actions", "view", "container", "trigger_id"))
            | st.text(max_size=10),
            JSONISH | st.lists(JSONISH, max_size=3),
            max_size=5,
        ),
    ),
)


@fuzz(100)
@given(body=BODIES)
def test_signed_garbage_bodies_never_get_a_5xx(live: LiveBot, body: bytes) -> None:
    before, mark = effects(live), len(live.incidents.records)
    resp = send_raw(live, body)
    assert resp.status < 500, (resp.status, resp.text)
    assert "incident `" not in resp.text
    no_incident(live, mark)
    assert effects(live) == before


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"payload=%7B%22type%22%3A%22block_actions%22\xff\xfe", "request body is not UTF-8"),
        (b"command=%2Favd&text=status\xc3\x28&team_id=T0AVDOPS", "request body is not UTF-8"),
        (b"\x80" * 64, "request body is not UTF-8"),
        (b"payload", "request payload is not JSON"),
        (b"{not json", "request payload is not JSON"),
        (b"payload=%5B1%2C2%5D", "request payload is not a JSON object"),
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_unparseable_bodies_are_a_400_not_a_500(
    live: LiveBot, body: bytes, problem: str, signed: bool
) -> None:
    """Regression: Bolt parses the body before it checks the signature, and raised on these (a 500, even
    unsigned): invalid UTF-8, a ``payload`` that is not JSON, a JSON payload that is not an object."""
    before = effects(live)
    resp = send_raw(live, body) if signed else post(live.chat.events_url, body, {})
    assert (resp.status, resp.text) == (400, problem)
    assert effects(live) == before


@pytest.mark.parametrize("value", ["5", "[]", '{"region": 7}', "not json", '{"image": "x"}'])
def test_unlock_button_with_a_bad_value_is_refused_clearly(live: LiveBot, value: str) -> None:
    """Regression: ``replicas.on_unlock`` indexed whatever JSON the value held (``TypeError``: an incident) and
    answered a missing region with Python's ``KeyError`` text (``'region'``)."""
    url = live.slack.new_response_url(CHANNEL, OPS)
    payload = block_actions_payload(
        {"ts": "1.000003", "text": "", "blocks": []},
        "replicas:unlock",
        {"action_id": replicas.UNLOCK_ACTION, "value": value},
        user=OPS,
        channel=CHANNEL,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    before, mark = effects(live), len(live.incidents.records)
    assert send_payload(live, payload).status == 200
    assert (
        wait(lambda: answers(live, url))[0]["text"]
        == ":no_entry: this button does not name a replica to remove"
    )
    no_incident(live, mark)
    assert effects(live) == before


def test_another_slash_command_is_acked_with_a_hint(live: LiveBot) -> None:
    """Regression: a slash command other than ``/avd`` got Bolt's 404 ``unhandled request``."""
    body = slash_command_body(
        "status",
        user=OPS,
        channel=CHANNEL,
        command="/avdx",
        trigger_id="t-other",
        response_url=live.slack.new_response_url(CHANNEL, OPS),
    )
    resp = send_raw(live, body)
    assert (resp.status, resp.text) == (200, ":grey_question: avd-ops only answers `/avd`, not `/avdx`.")


def test_rollback_button_naming_no_site_is_refused_clearly(live: LiveBot) -> None:
    """Regression: the failover Rollback/Scale-down handlers let ``NotAllowed`` (unknown site) escape: an
    incident id instead of the reason."""
    url = live.slack.new_response_url(CHANNEL, OPS)
    payload = block_actions_payload(
        {"ts": "1.000004", "text": "", "blocks": []},
        "failover",
        {"action_id": failover.ROLLBACK_ACTION, "value": "0123456789ab"},
        user=OPS,
        channel=CHANNEL,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    before, mark = effects(live), len(live.incidents.records)
    assert send_payload(live, payload).status == 200
    assert "unknown site '0123456789ab'" in wait(lambda: answers(live, url))[0]["text"]
    no_incident(live, mark)
    assert effects(live) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "actions": [1], "trigger_id": "t-shape-1", "user": "U0OPS1", "team": 5},
        {
            "type": "block_actions",
            "actions": "x",
            "trigger_id": "t-shape-2",
            "container": [],
            "response_url": 3,
        },
        {"type": "view_submission", "view": "not a view", "user": {"id": OPS}, "team": {"id": "T0AVDOPS"}},
        {
            "type": "view_submission",
            "view": {"callback_id": "avd_scaleset_create", "state": {"values": []}},
            "user": {"id": OPS},
            "team": {"id": "T0AVDOPS"},
        },
        {
            "type": "block_actions",
            "actions": [{"action_id": "engine_approve", "value": {"nested": 1}}],
            "user": {"id": LEAD},
            "team": {"id": "T0AVDOPS"},
            "container": {"channel_id": CHANNEL, "message_ts": 1},
        },
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_payloads_of_the_wrong_shape_never_get_a_5xx(
    live: LiveBot, payload: dict[str, Any], signed: bool
) -> None:
    """Regression: Bolt raised on ``"team": 5`` while building its context (before the signature check) and on a
    view without ``type`` while injecting middleware arguments: both were a 500."""
    before, mark = effects(live), len(live.incidents.records)
    body = interactivity_body(payload)
    resp = send_raw(live, body) if signed else post(live.chat.events_url, body, {})
    assert resp.status < 500, (resp.status, resp.text)
    assert effects(live) == before
    assert [line for line in live.incidents.lines()[mark:] if "incident" in line] == []
