"""Speak Slack's inbound protocol to a running bot: signed slash commands, button clicks, modal submits.

Used by the sandbox console and the test kit. Requests are signed exactly as Slack signs them
(``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``) and POSTed over real HTTP to ``/slack/events``;
``response_url`` and ``trigger_id`` come from the Slack double, so ``respond()`` lands there too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0AVDOPS"
API_APP_ID = "A0AVDOPS"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/json")


def signed_request(secret: str, body: str | bytes, ts: int | str | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body``: timestamp and ``v0=`` signature (form content type)."""
    raw = body.decode() if isinstance(body, bytes) else body
    stamp = str(int(time.time()) if ts is None else ts)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=raw) or ""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def slash_command_body(
    text: str,
    *,
    user: str,
    channel: str,
    response_url: str,
    trigger_id: str,
    command: str = "/avd",
    team_id: str = TEAM_ID,
) -> str:
    """A slash command POST body, in the form of ``slash-command-body.txt``."""
    return urlencode(
        {
            "token": "FAKE_VERIFICATION_TOKEN",
            "team_id": team_id,
            "team_domain": "avd-ops-sandbox",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def interactivity_body(payload: Mapping[str, Any]) -> str:
    """Interactivity wire form: one ``payload`` field holding JSON."""
    return "payload=" + quote(json.dumps(payload))


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every button in a message's blocks, as ``(block_id, element)``."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks or []:
        if block.get("type") == "actions":
            found += [
                (block.get("block_id", ""), e) for e in block.get("elements", []) if e.get("type") == "button"
            ]
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":
            found.append((block.get("block_id", ""), accessory))
    return found


def block_actions_payload(
    message: Mapping[str, Any],
    block_id: str,
    button: Mapping[str, Any],
    *,
    user: str,
    channel: str,
    response_url: str,
    trigger_id: str,
    ephemeral: bool = False,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload for pressing ``button`` on ``message`` (see the slack-examples shape)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
        "api_app_id": API_APP_ID,
        "token": "FAKE_VERIFICATION_TOKEN",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "avd-ops-sandbox"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel.lower()},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": button.get("action_id", ""),
                "block_id": block_id,
                "text": button.get("text"),
                "value": button.get("value", ""),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
                **({"style": button["style"]} if "style" in button else {}),
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {
            "type": "message",
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": message.get("blocks", []),
            "bot_id": message.get("bot_id"),
            "user": message.get("user"),
            "team": team_id,
        }
    return payload


def input_state(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``view.state.values`` for a modal, filling inputs whose ``action_id`` is a key of ``values``."""
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        action_id = str(element.get("action_id", ""))
        if block.get("type") != "input" or action_id not in values:
            continue
        value = values[action_id]
        kind = element.get("type", "plain_text_input")
        if kind in ("static_select", "external_select", "radio_buttons"):
            entry = {
                "type": kind,
                "selected_option": {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)},
            }
        else:
            entry = {"type": kind, "value": str(value)}
        state.setdefault(block.get("block_id", ""), {})[action_id] = entry
    return state


def view_submission_payload(
    view: Mapping[str, Any], values: Mapping[str, Any], *, user: str, team_id: str = TEAM_ID
) -> dict[str, Any]:
    """A ``view_submission`` payload (shaped like ``view-submission.json``)."""
    submitted = {**view, "state": {"values": input_state(view, values)}}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "avd-ops-sandbox"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
        "api_app_id": API_APP_ID,
        "token": "FAKE_VERIFICATION_TOKEN",
        "trigger_id": "0.0.submit",
        "view": submitted,
        "response_urls": [],
    }


def post(url: str, body: str | bytes, headers: Mapping[str, str], timeout: float = 10.0) -> HttpResponse:
    """POST over real HTTP; HTTP errors are returned, not raised."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResponse(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
            )
    except urllib.error.HTTPError as err:
        with err:
            return HttpResponse(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode())


@dataclass
class Chat:
    """A chat-log scenario API over a running bot and the Slack double (``slack``: a ``SlackSim``)."""

    bot_url: str
    slack: Any
    signing_secret: str
    user: str = "U0OPS1"
    channel: str = "C0INCIDENT"
    team_id: str = TEAM_ID
    timeout: float = 10.0
    history: list[HttpResponse] = field(default_factory=list)

    @property
    def events_url(self) -> str:
        return self.bot_url.rstrip("/") + "/slack/events"

    def send(self, body: str, *, ts: int | str | None = None) -> HttpResponse:
        resp = post(self.events_url, body, signed_request(self.signing_secret, body, ts), self.timeout)
        self.history.append(resp)
        return resp

    def slash(self, line: str, user: str | None = None, channel: str | None = None) -> HttpResponse:
        """Type ``line`` (``"/avd replicas add uksouth"``) as ``user`` in ``channel``; returns the HTTP answer."""
        return self.send(self.slash_body(line, user, channel))

    def slash_body(self, line: str, user: str | None = None, channel: str | None = None) -> str:
        """The url-encoded body Slack sends for ``line``, with a fresh response_url and trigger_id (over HTTP
        as the POST body; over Socket Mode as the envelope's fields)."""
        command, _, text = line.strip().partition(" ")
        user, channel = user or self.user, channel or self.channel
        return slash_command_body(
            text.strip(),
            user=user,
            channel=channel,
            command=command,
            team_id=self.team_id,
            response_url=self.slack.new_response_url(channel, user),
            trigger_id=self.slack.new_trigger_id(),
        )

    def find_button(
        self, label: str, user: str, channel: str
    ) -> tuple[dict[str, Any], str, dict[str, Any], bool]:
        """The newest message (or this user's ephemeral) in ``channel`` with a button labelled ``label``."""
        candidates = [(m, False) for m in self.slack.messages(channel)]
        candidates += [(e, True) for e in self.slack.ephemerals(channel=channel, user=user)]
        candidates.sort(key=lambda c: float(c[0]["ts"]), reverse=True)
        for message, ephemeral in candidates:
            for block_id, button in buttons(message.get("blocks") or []):
                if (button.get("text") or {}).get("text", "").strip().lower() == label.strip().lower():
                    return message, block_id, button, ephemeral
        raise LookupError(f"no button labelled {label!r} in {channel}")

    def click(self, label: str, user: str | None = None, channel: str | None = None) -> HttpResponse:
        """Press the button labelled ``label`` on the latest card, as ``user``."""
        return self.send(interactivity_body(self.press_payload(label, user, channel)))

    def press_payload(
        self, label: str, user: str | None = None, channel: str | None = None
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of pressing the newest button labelled ``label`` (over HTTP as the
        form's ``payload``; over Socket Mode as the envelope's)."""
        user, channel = user or self.user, channel or self.channel
        message, block_id, button, ephemeral = self.find_button(label, user, channel)
        return block_actions_payload(
            message,
            block_id,
            button,
            user=user,
            channel=channel,
            ephemeral=ephemeral,
            team_id=self.team_id,
            response_url=self.slack.new_response_url(channel, user, message_ts=message["ts"]),
            trigger_id=self.slack.new_trigger_id(),
        )

    def submit(
        self, values: Mapping[str, Any], user: str | None = None, view: Mapping[str, Any] | None = None
    ) -> HttpResponse:
        """Submit the latest opened modal (or ``view``) with inputs filled by ``action_id``."""
        if view is None:
            opened = self.slack.views
            if not opened:
                raise LookupError("no modal has been opened")
            view = {**opened[-1]["view"], "id": opened[-1]["id"]}
        payload = view_submission_payload(view, values, user=user or self.user, team_id=self.team_id)
        return self.send(interactivity_body(payload))

    def last_message(self, channel: str | None = None) -> dict[str, Any] | None:
        messages = self.slack.messages(channel or self.channel)
        return messages[-1] if messages else None

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        return list(self.slack.ephemerals(channel=channel or self.channel, user=user or self.user))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return self.slack.wait_for(predicate, timeout)

    def wait_for_ephemeral(
        self, user: str | None = None, contains: str = "", timeout: float = 5.0
    ) -> dict[str, Any]:
        """The newest ephemeral for ``user`` whose text contains ``contains``, waiting for it."""

        def found() -> dict[str, Any] | None:
            hits = [e for e in self.ephemerals(user) if contains in (e.get("text") or "")]
            return hits[-1] if hits else None

        result: dict[str, Any] = self.wait_for(found, timeout)
        return result
