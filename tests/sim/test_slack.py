"""sim/slack driven by the real slack_sdk WebClient and WebhookClient over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks.basic_components import ConfirmObject
from slack_sdk.webhook import WebhookClient

from sim.slack import SlackSim, main

TOKEN = "xoxb-sandbox-token"
ROOT = Path(__file__).resolve().parents[2]
QUICK = FixedValueRetryIntervalCalculator(fixed_internal=0.01)


def examples_dir() -> Path:
    """Slack's published examples: $AVD_SLACK_EXAMPLES, examples/slack in the repo, or ../shared."""
    candidates = [
        os.environ.get("AVD_SLACK_EXAMPLES"),
        ROOT / "examples" / "slack",
        ROOT.parent / "shared" / "slack-examples",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "chat-postMessage-response.json").is_file():
            return Path(candidate)
    raise FileNotFoundError(f"Slack examples not found in {candidates}")


def example(name: str) -> dict[str, Any]:
    return json.loads((examples_dir() / name).read_text())  # type: ignore[no-any-return]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SlackSim]:
    double = SlackSim(clock=clock)
    double.start()
    yield double
    double.stop()


@pytest.fixture
def client(sim: SlackSim) -> WebClient:
    return WebClient(base_url=sim.url, token=TOKEN)


def error_of(call: Any) -> dict[str, Any]:
    """Run a WebClient call that must fail; return the error body."""
    with pytest.raises(SlackApiError) as caught:
        call()
    return dict(caught.value.response.data)


def post_raw(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    """POST bytes with urllib; return status and body text."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def approval_blocks(request_id: str) -> list[Any]:
    return [
        HeaderBlock(text="Approval needed: failover start"),
        SectionBlock(
            fields=[
                MarkdownTextObject(text="*Requested by*\n<@U0OPS1>"),
                MarkdownTextObject(text="*Target*\ndr"),
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=f"Request `{request_id}`, expires in 15 min")]),
        ActionsBlock(
            block_id=f"approval:{request_id}",
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id="approval_approve",
                    value=request_id,
                    style="primary",
                    confirm=ConfirmObject(
                        title="Start failover?",
                        text="This runs *failover*.",
                        confirm="Approve",
                        deny="Cancel",
                        style="danger",
                    ),
                ),
                ButtonElement(text="Reject", action_id="approval_reject", value=request_id, style="danger"),
            ],
        ),
    ]


# -- success shapes against Slack's examples ---------------------------------------------------------


def test_auth_test_matches_example_and_sends_scopes_header(sim: SlackSim, client: WebClient) -> None:
    response = client.auth_test()
    assert set(example("auth-test-response.json")) <= set(response.data)
    assert (response["team_id"], response["user_id"], response["bot_id"]) == (
        "T0AVDOPS",
        sim.bot_user_id,
        sim.bot_id,
    )
    assert response.headers["x-oauth-scopes"].split(",") == [
        "commands",
        "chat:write",
        "usergroups:read",
        "users:read",
        "channels:read",
        "groups:read",
        "files:write",
    ]


def test_post_message_matches_example(client: WebClient) -> None:
    expected = example("chat-postMessage-response.json")
    response = client.chat_postMessage(
        channel="C0INCIDENT",
        text="Here's a message for you",
        attachments=[{"fallback": "fallback", "text": "An attachment"}],
    )
    assert set(expected) <= set(response.data)
    assert set(expected["message"]) <= set(response["message"])
    assert set(expected["message"]["attachments"][0]) <= set(response["message"]["attachments"][0])
    assert response["message"]["ts"] == response["ts"]


def test_update_matches_example(client: WebClient) -> None:
    expected = example("chat-update-response.json")
    posted = client.chat_postMessage(channel="C0INCIDENT", text="first")
    response = client.chat_update(channel="C0INCIDENT", ts=posted["ts"], text="Updated text")
    assert set(expected) <= set(response.data)
    assert set(expected["message"]) <= set(response["message"])
    assert (response["ts"], response["text"]) == (posted["ts"], "Updated text")


@pytest.mark.parametrize(
    ("file", "call", "nested"),
    [
        (
            "chat-postEphemeral-response.json",
            lambda c, s: c.chat_postEphemeral(channel="C0INCIDENT", user="U0OPS1", text="only you"),
            None,
        ),
        (
            "usergroups-users-list-response.json",
            lambda c, s: c.usergroups_users_list(usergroup="S0LEADS"),
            None,
        ),
        ("users-info-response.json", lambda c, s: c.users_info(user="U0LEAD1"), "user"),
        (
            "conversations-info-response.json",
            lambda c, s: c.conversations_info(channel="C0INCIDENT"),
            "channel",
        ),
        (
            "views-open-response.json",
            lambda c, s: c.views_open(
                trigger_id=s.new_trigger_id(),
                view={
                    "type": "modal",
                    "title": {"type": "plain_text", "text": "Scale set"},
                    "callback_id": "scaleset",
                    "submit": {"type": "plain_text", "text": "Create"},
                    "private_metadata": "C0INCIDENT",
                    "blocks": [
                        {
                            "type": "input",
                            "block_id": "site",
                            "label": {"type": "plain_text", "text": "Site"},
                            "element": {"type": "plain_text_input", "action_id": "site"},
                        }
                    ],
                },
            ),
            "view",
        ),
    ],
)
def test_response_shapes_match_examples(
    sim: SlackSim, client: WebClient, file: str, call: Any, nested: str | None
) -> None:
    expected = example(file)
    response = call(client, sim)
    assert set(expected) <= set(response.data)
    if nested:
        assert set(expected[nested]) <= set(response[nested])
    if nested == "user":
        assert set(expected["user"]["profile"]) <= set(response["user"]["profile"])


def test_usergroup_and_user_defaults(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0LEADS")["users"] == ["U0LEAD1", "U0LEAD2"]
    assert set(client.usergroups_users_list(usergroup="S0OPS")["users"]) >= {"U0OPS1", "U0OPS2"}
    lead = client.users_info(user="U0LEAD1")["user"]
    assert (lead["id"], lead["is_admin"], lead["team_id"]) == ("U0LEAD1", True, "T0AVDOPS")
    assert client.users_info(user="U0GUEST")["user"]["is_admin"] is False


# -- wire forms, auth and parameters -----------------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "params"])
def test_accepts_json_and_form_bodies_everywhere(sim: SlackSim, client: WebClient, form: str) -> None:
    kwargs: dict[str, Any] = {
        form: {"channel": "C0INCIDENT", "text": "hello", "blocks": json.dumps([{"type": "divider"}])}
    }
    posted = client.api_call("chat.postMessage", **kwargs)
    assert sim.message("C0INCIDENT", posted["ts"])["blocks"] == [{"type": "divider"}]  # type: ignore[index]
    lookup: dict[str, Any] = {form: {"user": "U0OPS2"}}
    assert client.api_call("users.info", **lookup)["user"]["name"] == "ops2"


def test_empty_json_body_and_unknown_params_are_fine(sim: SlackSim) -> None:
    bolt_like = WebClient(base_url=sim.url, token=TOKEN, team_id="T0AVDOPS")
    assert bolt_like.auth_test()["ok"] is True
    posted = bolt_like.chat_postMessage(channel="C0INCIDENT", text="hi", unfurl_links=False)
    assert posted["ok"] is True
    assert sim.calls_to("chat.postMessage")[0].args["team_id"] == "T0AVDOPS"


def test_bolt_app_starts_against_the_double(sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> None:
    from slack_bolt import App

    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    App(client=WebClient(base_url=sim.url, token=TOKEN), signing_secret="secret")
    assert [c.status for c in sim.calls_to("auth.test")] == [200]


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
def test_token_errors(sim: SlackSim, token: str | None, error: str) -> None:
    bad = WebClient(base_url=sim.url, token=token)
    assert error_of(lambda: bad.chat_postMessage(channel="C0INCIDENT", text="x"))["error"] == error
    assert sim.messages("C0INCIDENT") == []


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.frobnicate"))["error"] == "unknown_method"


# -- errors ------------------------------------------------------------------------------------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(**overrides: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go", **overrides}


BAD_BLOCKS = {
    "not a dict": ["divider"],
    "unknown type": [{"type": "carousel"}],
    "section text > 3000": [section("x" * 3001)],
    "empty text": [section("")],
    "header > 150": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "context > 10": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
    "actions > 25": [{"type": "actions", "elements": [button()] * 26}],
    "button text > 75": [
        {"type": "actions", "elements": [button(text={"type": "plain_text", "text": "b" * 76})]}
    ],
    "value > 2000": [{"type": "actions", "elements": [button(value="v" * 2001)]}],
    "action_id > 255": [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
    "block_id > 255": [{**section("ok"), "block_id": "b" * 256}],
    "bad style": [{"type": "actions", "elements": [button(style="green")]}],
    "51 blocks": [{"type": "divider"}] * 51,
}


@pytest.mark.parametrize("blocks", list(BAD_BLOCKS.values()), ids=list(BAD_BLOCKS))
def test_invalid_blocks(sim: SlackSim, client: WebClient, blocks: list[Any]) -> None:
    body = error_of(lambda: client.chat_postMessage(channel="C0INCIDENT", text="t", blocks=blocks))
    assert body["error"] == "invalid_blocks"
    assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert "json-pointer:/blocks" in body["response_metadata"]["messages"][0]
    assert sim.messages("C0INCIDENT") == []


def test_fifty_blocks_are_fine(client: WebClient) -> None:
    assert client.chat_postMessage(channel="C0INCIDENT", text="t", blocks=[{"type": "divider"}] * 50)["ok"]


def test_unparseable_blocks(client: WebClient) -> None:
    body = error_of(
        lambda: client.api_call("chat.postMessage", params={"channel": "C0INCIDENT", "blocks": "[{"})
    )
    assert body["error"] == "invalid_blocks_format"


ERRORS = [
    ("unknown channel", lambda c: c.chat_postMessage(channel="C0NOPE", text="x"), "channel_not_found"),
    ("private, not member", lambda c: c.chat_postMessage(channel="C0LEADS", text="x"), "channel_not_found"),
    ("bot not in channel", lambda c: c.chat_postMessage(channel="C0OUTSIDE", text="x"), "not_in_channel"),
    ("no text", lambda c: c.api_call("chat.postMessage", json={"channel": "C0INCIDENT"}), "no_text"),
    ("text too long", lambda c: c.chat_postMessage(channel="C0INCIDENT", text="x" * 40001), "msg_too_long"),
    (
        "unknown ts",
        lambda c: c.chat_update(channel="C0INCIDENT", ts="1.000001", text="x"),
        "message_not_found",
    ),
    (
        "update, no channel",
        lambda c: c.api_call("chat.update", json={"ts": "1.1", "text": "x"}),
        "invalid_arguments",
    ),
    ("users.info unknown", lambda c: c.users_info(user="U0NOBODY"), "user_not_found"),
    ("users.info no user", lambda c: c.api_call("users.info", params={}), "invalid_arguments"),
    (
        "ephemeral unknown user",
        lambda c: c.chat_postEphemeral(channel="C0INCIDENT", user="U0X", text="x"),
        "user_not_found",
    ),
    ("unknown group", lambda c: c.usergroups_users_list(usergroup="S0NONE"), "no_such_subteam"),
    ("conversations.info unknown", lambda c: c.conversations_info(channel="C0NOPE"), "channel_not_found"),
    (
        "views.open unknown trigger",
        lambda c: c.views_open(trigger_id="1.2.3", view={"type": "modal"}),
        "invalid_arguments",
    ),
]


@pytest.mark.parametrize(("call", "error"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(client: WebClient, call: Any, error: str) -> None:
    body = error_of(lambda: call(client))
    assert body["ok"] is False
    assert body["error"] == error
    if error == "invalid_arguments":
        assert body["response_metadata"]["messages"]


def test_error_shapes_match_examples(client: WebClient) -> None:
    examples = example("web-api-error-response-examples.json")
    body = error_of(lambda: client.users_info(user="U0NOBODY"))
    assert set(examples["users.info"]) == set(body)
    body = error_of(lambda: client.views_open(trigger_id="1.2.3", view={"type": "modal"}))
    assert body == examples["views.open"]


def test_cannot_edit_or_delete_other_peoples_messages(sim: SlackSim, client: WebClient) -> None:
    ts = sim.add_message("C0INCIDENT", "typed by a person", user="U0OPS1")
    assert (
        error_of(lambda: client.chat_update(channel="C0INCIDENT", ts=ts, text="x"))["error"]
        == "cant_update_message"
    )
    assert error_of(lambda: client.chat_delete(channel="C0INCIDENT", ts=ts))["error"] == "cant_delete_message"
    assert sim.message("C0INCIDENT", ts)["text"] == "typed by a person"  # type: ignore[index]


def test_ephemeral_messages_cannot_be_updated(sim: SlackSim, client: WebClient) -> None:
    ts = client.chat_postEphemeral(channel="C0INCIDENT", user="U0OPS1", text="secret")["message_ts"]
    assert (
        error_of(lambda: client.chat_update(channel="C0INCIDENT", ts=ts, text="x"))["error"]
        == "message_not_found"
    )
    assert sim.messages("C0INCIDENT") == []
    assert [e["text"] for e in sim.ephemerals(user="U0OPS1")] == ["secret"]


def test_ephemeral_to_user_outside_channel() -> None:
    channels = {"C0SMALL": {"name": "small", "is_private": False, "is_member": True, "members": ["U0OPS1"]}}
    with SlackSim(channels=channels) as double:
        client = WebClient(base_url=double.url, token=TOKEN)
        assert (
            error_of(lambda: client.chat_postEphemeral(channel="C0SMALL", user="U0OPS2", text="x"))["error"]
            == "user_not_in_channel"
        )


def test_missing_scope() -> None:
    with SlackSim(scopes=["commands", "chat:write"]) as double:
        client = WebClient(base_url=double.url, token=TOKEN)
        body = error_of(lambda: client.users_info(user="U0OPS1"))
        assert body == {
            "ok": False,
            "error": "missing_scope",
            "needed": "users:read",
            "provided": "commands,chat:write",
        }
        assert error_of(lambda: client.conversations_info(channel="C0INCIDENT"))["needed"] == "channels:read"
        assert client.chat_postMessage(channel="C0INCIDENT", text="allowed")["ok"]


def test_private_channel_info_needs_groups_read() -> None:
    channels = {"C0PRIV": {"name": "dr-leads", "is_private": True, "is_member": True}}
    with SlackSim(channels=channels, scopes=["channels:read"]) as double:
        client = WebClient(base_url=double.url, token=TOKEN)
        assert error_of(lambda: client.conversations_info(channel="C0PRIV"))["needed"] == "groups:read"
    with SlackSim(channels=channels) as double:
        info = WebClient(base_url=double.url, token=TOKEN).conversations_info(channel="C0PRIV")["channel"]
        assert (info["is_private"], info["is_group"], info["is_member"]) == (True, True, True)


# -- messages, threads, history ----------------------------------------------------------------------


def test_ts_unique_and_increasing(sim: SlackSim, client: WebClient) -> None:
    sim.rate_limits = False
    stamps = [client.chat_postMessage(channel="C0INCIDENT", text=str(i))["ts"] for i in range(20)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 20
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_update_history_and_text_only_update_drops_blocks(sim: SlackSim, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0INCIDENT", text="v1", blocks=[section("v1")])["ts"]
    client.chat_update(channel="C0INCIDENT", ts=ts, text="v2", blocks=[section("v2")])
    client.chat_update(channel="C0INCIDENT", ts=ts, text="v3")
    message = sim.message("C0INCIDENT", ts)
    assert message is not None
    assert (message["text"], message["blocks"], message["edits"]) == ("v3", [], 2)
    assert [h["text"] for h in message["history"]] == ["v1", "v2"]
    assert message["edited"]["user"] == sim.bot_user_id
    assert [m["ts"] for m in sim.messages("C0INCIDENT")] == [ts]


def test_threads_and_delete(sim: SlackSim, client: WebClient) -> None:
    card = client.chat_postMessage(channel="C0INCIDENT", text="job card")["ts"]
    sim.rate_limits = False
    first = client.chat_postMessage(channel="C0INCIDENT", text="step 1", thread_ts=card)["ts"]
    client.chat_postMessage(channel="C0INCIDENT", text="done", thread_ts=card, reply_broadcast=True)
    assert [m["text"] for m in sim.thread("C0INCIDENT", card)] == ["step 1", "done"]
    assert sim.thread("C0INCIDENT", card)[1]["reply_broadcast"] is True
    assert sim.message("C0INCIDENT", card)["reply_count"] == 2  # type: ignore[index]
    assert client.chat_delete(channel="C0INCIDENT", ts=first)["ts"] == first
    assert sim.message("C0INCIDENT", first) is None
    assert (
        error_of(lambda: client.chat_delete(channel="C0INCIDENT", ts=first))["error"] == "message_not_found"
    )


def test_channel_names_resolve_to_ids(sim: SlackSim, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#incident", text="by name")
    assert posted["channel"] == "C0INCIDENT"
    top = sim.messages("C0INCIDENT")[0]
    assert (top["text"], top["thread_ts"], top["edits"], top["user"]) == ("by name", None, 0, sim.bot_user_id)


def test_block_kit_model_objects_are_accepted(sim: SlackSim, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0INCIDENT", text="Approval needed", blocks=approval_blocks("R1"))[
        "ts"
    ]
    stored = sim.message("C0INCIDENT", ts)
    assert stored is not None
    assert [b["type"] for b in stored["blocks"]] == ["header", "section", "context", "actions"]
    assert stored["blocks"][3]["elements"][0]["confirm"]["style"] == "danger"
    client.chat_update(channel="C0INCIDENT", ts=ts, text="Approved", blocks=approval_blocks("R1")[:3])
    assert len(sim.message("C0INCIDENT", ts)["blocks"]) == 3  # type: ignore[index]


def test_concurrent_posts_from_threads(sim: SlackSim) -> None:
    sim.rate_limits = False
    client = WebClient(base_url=sim.url, token=TOKEN)
    stamps: list[str] = []

    def post(n: int) -> None:
        stamps.append(client.chat_postMessage(channel="C0RANDOM", text=str(n))["ts"])

    workers = [threading.Thread(target=post, args=(n,)) for n in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(stamps)) == 16
    assert len(sim.messages("C0RANDOM")) == 16


# -- rate limits --------------------------------------------------------------------------------------


def test_post_message_per_channel_burst_then_429(sim: SlackSim, client: WebClient, clock: FakeClock) -> None:
    for n in range(3):
        client.chat_postMessage(channel="C0INCIDENT", text=str(n))
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0INCIDENT", text="too fast")
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.data == example("rate-limited-429-response.json")["body"]
    assert client.chat_postMessage(channel="C0RANDOM", text="other channel")["ok"]
    clock.advance(1.0)
    assert client.chat_postMessage(channel="C0INCIDENT", text="after waiting")["ok"]
    assert sim.rate_limited_count == 1
    assert [c.status for c in sim.calls_to("chat.postMessage")] == [200, 200, 200, 429, 200, 200]


def test_post_message_workspace_cap() -> None:
    clock = FakeClock()
    channels = {f"C0CH{n}": {"name": f"ch{n}", "is_private": False, "is_member": True} for n in range(5)}
    with SlackSim(channels=channels, clock=clock, limits={"chat.postMessage:workspace": (4, 0.5)}) as double:
        client = WebClient(base_url=double.url, token=TOKEN)
        for n in range(4):
            client.chat_postMessage(channel=f"C0CH{n}", text="x")
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="C0CH4", text="x")
        assert caught.value.response.headers["Retry-After"] == "2"
        clock.advance(2)
        assert client.chat_postMessage(channel="C0CH4", text="x")["ok"]


TIERS = [
    ("chat.update", 50),
    ("chat.postEphemeral", 100),
    ("users.info", 100),
    ("views.open", 100),
    ("usergroups.users.list", 20),
    ("conversations.info", 50),
]


@pytest.mark.parametrize(("method", "allowed"), TIERS)
def test_default_tiers(sim: SlackSim, client: WebClient, method: str, allowed: int) -> None:
    ts = client.chat_postMessage(channel="C0INCIDENT", text="card")["ts"]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    calls = {
        "chat.update": lambda: client.chat_update(channel="C0INCIDENT", ts=ts, text="u"),
        "chat.postEphemeral": lambda: client.chat_postEphemeral(
            channel="C0INCIDENT", user="U0OPS1", text="e"
        ),
        "users.info": lambda: client.users_info(user="U0OPS1"),
        "views.open": lambda: client.views_open(trigger_id=sim.new_trigger_id(), view=view),
        "usergroups.users.list": lambda: client.usergroups_users_list(usergroup="S0LEADS"),
        "conversations.info": lambda: client.conversations_info(channel="C0INCIDENT"),
    }
    for _ in range(allowed):
        calls[method]()
    with pytest.raises(SlackApiError) as caught:
        calls[method]()
    assert caught.value.response.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1


def test_limits_shrink_and_recover_with_clock(sim: SlackSim, clock: FakeClock) -> None:
    sim.limiter.limits["chat.update"] = (2, 0.5)
    client = WebClient(base_url=sim.url, token=TOKEN)
    ts = client.chat_postMessage(channel="C0INCIDENT", text="card")["ts"]
    client.chat_update(channel="C0INCIDENT", ts=ts, text="1")
    client.chat_update(channel="C0INCIDENT", ts=ts, text="2")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel="C0INCIDENT", ts=ts, text="3")
    assert caught.value.response.headers["Retry-After"] == "2"
    clock.advance(1.0)
    assert (
        error_of(lambda: client.chat_update(channel="C0INCIDENT", ts=ts, text="3"))["error"] == "ratelimited"
    )
    clock.advance(1.0)
    assert client.chat_update(channel="C0INCIDENT", ts=ts, text="3")["ok"]
    assert sim.rate_limited_count == 2


def test_rate_limits_off(clock: FakeClock) -> None:
    with SlackSim(rate_limits=False, clock=clock) as double:
        client = WebClient(base_url=double.url, token=TOKEN)
        for n in range(10):
            client.chat_postMessage(channel="C0INCIDENT", text=str(n))
        assert double.rate_limited_count == 0


def test_rate_limit_retry_handler_waits_and_succeeds() -> None:
    with SlackSim(limits={"chat.update": (1, 1.0)}) as double:
        client = WebClient(
            base_url=double.url, token=TOKEN, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
        )
        ts = client.chat_postMessage(channel="C0INCIDENT", text="card")["ts"]
        client.chat_update(channel="C0INCIDENT", ts=ts, text="1")
        assert client.chat_update(channel="C0INCIDENT", ts=ts, text="2")["ok"]
        assert [c.status for c in double.calls_to("chat.update")] == [200, 429, 200]
        assert double.message("C0INCIDENT", ts)["text"] == "2"  # type: ignore[index]


# -- injected failures ---------------------------------------------------------------------------------


def test_fail_next_errors_then_recovers(sim: SlackSim, client: WebClient) -> None:
    sim.fail_next("chat.postMessage", count=2)
    for _ in range(2):
        assert (
            error_of(lambda: client.chat_postMessage(channel="C0INCIDENT", text="x"))["error"]
            == "channel_not_found"
        )
    assert client.chat_postMessage(channel="C0INCIDENT", text="x")["ok"]
    sim.fail_next("users.info", error="user_not_found")
    assert error_of(lambda: client.users_info(user="U0OPS1"))["error"] == "user_not_found"


def test_fail_next_429_and_500(sim: SlackSim, client: WebClient) -> None:
    sim.fail_next("chat.update", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel="C0INCIDENT", ts="1.1", text="x")
    assert (caught.value.response.status_code, caught.value.response.headers["Retry-After"]) == (429, "7")
    assert sim.rate_limited_count == 1
    sim.fail_next("users.info", status=500)
    retrying = WebClient(
        base_url=sim.url, token=TOKEN, retry_handlers=[ServerErrorRetryHandler(interval_calculator=QUICK)]
    )
    assert retrying.users_info(user="U0OPS1")["ok"]
    assert [c.status for c in sim.calls_to("users.info")] == [500, 200]


# -- views and triggers --------------------------------------------------------------------------------

MODAL = {
    "type": "modal",
    "callback_id": "scaleset",
    "title": {"type": "plain_text", "text": "Create scale set"},
    "blocks": [section("Pick a site")],
}


def test_trigger_single_use_and_expiry(sim: SlackSim, client: WebClient, clock: FakeClock) -> None:
    trigger = sim.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert sim.views[0]["trigger_id"] == trigger
    assert sim.views[0]["view"]["id"] == opened["id"]
    assert (
        error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL))["error"] == "exchanged_trigger_id"
    )
    late = sim.new_trigger_id()
    clock.advance(3.01)
    assert error_of(lambda: client.views_open(trigger_id=late, view=MODAL))["error"] == "expired_trigger_id"
    in_time = sim.new_trigger_id()
    clock.advance(2.9)
    assert client.views_open(trigger_id=in_time, view=MODAL)["ok"]


def test_invalid_view_keeps_trigger(sim: SlackSim, client: WebClient) -> None:
    trigger = sim.new_trigger_id()
    bad = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    body = error_of(lambda: client.views_open(trigger_id=trigger, view=bad))
    assert body["error"] == "invalid_arguments"
    assert "/view/title/text" in body["response_metadata"]["messages"][0]
    assert client.views_open(trigger_id=trigger, view=MODAL)["ok"]


def test_views_update(sim: SlackSim, client: WebClient) -> None:
    opened = client.views_open(trigger_id=sim.new_trigger_id(), view=MODAL)["view"]
    changed = {**MODAL, "blocks": [section("Now pick a size")]}
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)["view"]
    assert updated["blocks"] == [section("Now pick a size")]
    assert updated["root_view_id"] == opened["id"]
    assert (
        error_of(lambda: client.views_update(view_id=opened["id"], hash="stale.0", view=MODAL))["error"]
        == "hash_conflict"
    )
    assert error_of(lambda: client.views_update(view_id="V0NONE", view=MODAL))["error"] == "not_found"
    assert sim.views[0]["updates"] == 1


# -- response_url ----------------------------------------------------------------------------------------


def test_response_url_ephemeral_and_in_channel(sim: SlackSim) -> None:
    hook = WebhookClient(sim.new_response_url("C0OUTSIDE", "U0OPS1"))
    assert hook.send(text="only you").status_code == 200
    assert hook.send(text="everyone", response_type="in_channel").status_code == 200
    assert [e["text"] for e in sim.ephemerals("C0OUTSIDE", "U0OPS1")] == ["only you"]
    assert sim.ephemerals(user="U0OPS2") == []
    assert [m["text"] for m in sim.messages("C0OUTSIDE")] == ["everyone"]
    assert [c.args["text"] for c in sim.calls_to("response_url")] == ["only you", "everyone"]


def test_response_url_replace_and_delete_original(sim: SlackSim, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0INCIDENT", text="card", blocks=approval_blocks("R2"))["ts"]
    hook = WebhookClient(sim.new_response_url("C0INCIDENT", "U0LEAD1", message_ts=ts))
    assert hook.send(text="Approved by <@U0LEAD1>", replace_original=True).status_code == 200
    message = sim.message("C0INCIDENT", ts)
    assert message is not None
    assert (message["text"], message["blocks"], message["edits"]) == ("Approved by <@U0LEAD1>", [], 1)
    assert hook.send_dict({"delete_original": True}).status_code == 200
    assert sim.message("C0INCIDENT", ts) is None


def test_response_url_replaces_an_ephemeral(sim: SlackSim, client: WebClient) -> None:
    ts = client.chat_postEphemeral(channel="C0INCIDENT", user="U0OPS1", text="confirm?")["message_ts"]
    hook = WebhookClient(sim.new_response_url("C0INCIDENT", "U0OPS1", message_ts=ts))
    assert hook.send(text="confirmed", replace_original=True).status_code == 200
    assert [(e["text"], e["edits"]) for e in sim.ephemerals("C0INCIDENT")] == [("confirmed", 1)]


def test_response_url_use_limit_and_expiry(sim: SlackSim, clock: FakeClock) -> None:
    url = sim.new_response_url("C0INCIDENT", "U0OPS1")
    hook = WebhookClient(url)
    assert [hook.send(text=str(n)).status_code for n in range(5)] == [200] * 5
    sixth = hook.send(text="6")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    late = WebhookClient(sim.new_response_url("C0INCIDENT", "U0OPS1"))
    clock.advance(30 * 60 + 1)
    assert (late.send(text="x").status_code, late.send(text="x").body) == (404, "expired_url")
    assert len(sim.ephemerals()) == 5


def test_response_url_bad_requests(sim: SlackSim) -> None:
    url = sim.new_response_url("C0INCIDENT", "U0OPS1")
    assert post_raw(url, b"not json") == (400, "invalid_payload")
    assert post_raw(url, json.dumps({"response_type": "in_channel"}).encode()) == (400, "no_text")
    bad_blocks = json.dumps({"text": "t", "blocks": [{"type": "header"}]}).encode()
    assert post_raw(url, bad_blocks) == (400, "invalid_blocks")
    assert post_raw(sim.root + "/hooks/unknown", b"{}") == (404, "no_service")
    assert post_raw(url, json.dumps({"text": "fine"}).encode())[0] == 200


# -- controls and CLI ------------------------------------------------------------------------------------


def test_wait_for_and_reset(sim: SlackSim, client: WebClient) -> None:
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C0INCIDENT", text="later")).start()
    found = sim.wait_for(lambda: sim.messages("C0INCIDENT"), timeout=5)
    assert found[0]["text"] == "later"
    with pytest.raises(TimeoutError):
        sim.wait_for(lambda: sim.messages("C0RANDOM"), timeout=0.05)
    sim.fail_next("chat.postMessage")
    sim.reset()
    assert (sim.calls, sim.messages("C0INCIDENT"), sim.rate_limited_count) == ([], [], 0)
    assert client.chat_postMessage(channel="C0INCIDENT", text="fresh")["ok"]


def test_main_prints_url_and_serves_until_terminated() -> None:
    code = "from sim.slack import main; raise SystemExit(main(['--port', '0']))"
    with subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = json.loads(proc.stdout.readline())
            assert list(line) == ["url"]
            assert line["url"].startswith("http://127.0.0.1:") and line["url"].endswith("/api/")
            assert WebClient(base_url=line["url"], token=TOKEN).auth_test()["team_id"] == "T0AVDOPS"
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_main_is_callable_in_process() -> None:
    assert callable(main)
