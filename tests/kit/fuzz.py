"""Shared pieces of the fuzzing, security-matrix and secret-scan suites (no tests here).

``live_bot(tmp)`` starts both doubles and the real bot (``build_app`` + WSGI server, every capability
registered) for a whole module, so hypothesis can drive one bot with many examples. ``effects(bot)`` is
everything a request must not change: Azure writes, and every bot table except the audit trail.
``Incidents`` collects what ``@app.error`` and Bolt log at ERROR: a fuzzed request must cause none.
The security matrix's moves: ``request_approval`` (a card waiting for a second person), ``press_body``
(pressing one of its buttons, with any field changed), ``open_modal``, and the audit ``refusals``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from bot.storage import audit, jobs
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import (
    BotHandle,
    Chat,
    block_actions_payload,
    buttons,
    clean_env,
    interactivity_body,
    post,
    signed_request,
    start_bot,
    wait_until,
)

SUB = "00000000-0000-0000-0000-000000000001"
OPS, OPS2, LEAD, LEAD2, GUEST = "U0OPS1", "U0OPS2", "U0LEAD1", "U0LEAD2", "U0GUEST"
CHANNEL, OTHER_CHANNEL, TEAM, FOREIGN_TEAM = "C0INCIDENT", "C0RANDOM", "T0AVDOPS", "T0ELSEWHERE"
INJECTIONS = (
    "<!channel>",
    "<!here>",
    "<@U0LEAD1>",
    "*bold*",
    "_it_",
    "`tick`",
    "```block```",
    "'; DROP TABLE jobs;--",
    '" OR 1=1 --',
    "../../etc/passwd",
    "%00",
    "\u202e",
    "\x00",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "<script>",
)
# what a request may change without "changing something": the audit trail, bookkeeping, and the leader's lease,
# whose renewal moves ``expires_at`` every few seconds whatever the requests do
_UNWATCHED = ("audit", "meta", "migrations", "apscheduler_jobs", "interactions", "leases")


class LiveBot:
    """The running bot, its doubles, and a ``Chat`` over them (a short repr: hypothesis prints it)."""

    def __init__(
        self, bot: BotHandle, slack: SlackSim, azure: AzureSim, chat: Chat, incidents: Incidents
    ) -> None:
        self.bot, self.slack, self.azure, self.chat, self.incidents = bot, slack, azure, chat, incidents

    def __repr__(self) -> str:
        return f"LiveBot({self.bot.url})"

    @property
    def store(self) -> Any:
        return self.bot.runtime.store


@dataclass(repr=False)
class Incidents(logging.Handler):
    """Log records at ERROR (``@app.error``'s ``incident ...`` line, Bolt's listener failures)."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.ERROR)

    def __hash__(self) -> int:
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextlib.contextmanager
def live_bot(tmp: Path, *, config_text: str | None = None, time_scale: float = 3000.0) -> Iterator[LiveBot]:
    """Both doubles and the real bot for as long as the context lasts (env cleared, registry restored)."""
    incidents = Incidents()
    watched = [logging.getLogger(name) for name in ("bot", "avd.bolt", "slack_bolt")]
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        slack = SlackSim(team_id=TEAM, rate_limits=False)
        slack.start()
        azure = AzureSim(scenario="seed", time_scale=time_scale, poll_retry_after=None)
        azure.start()
        extra = {} if config_text is None else {"config_text": config_text}
        handle = start_bot(tmp, slack.url, arm=azure.url, ca=azure.ca_path, **extra)
        handle.runtime.azure = AzureClients(azure.url, azure.ca_path, polling_interval=0.05, retry_total=0)
        progress = handle.runtime.engine.progress
        progress.min_interval, progress.debounce = 0.2, 0.05
        for logger in watched:
            logger.addHandler(incidents)
        try:
            yield LiveBot(handle, slack, azure, Chat(handle.url, slack, handle.signing_secret), incidents)
        finally:
            for logger in watched:
                logger.removeHandler(incidents)
            handle.stop()
            handle.runtime.azure.close()
            azure.stop()
            slack.stop()


def effects(live: LiveBot) -> dict[str, Any]:
    """Azure writes and every watched bot table, to compare before and after a request."""
    db = live.store.db
    tables = {
        name: [dict(r) for r in db.query(f"select * from [{name}]")]  # noqa: S608 - names from sqlite
        for name in db.table_names()
        if name not in _UNWATCHED
    }
    for row in tables.get("jobs", []):
        row.pop("card_updated_at", None)  # when the card was last drawn: display only
    return {"azure_writes": len(live.azure.writes()), **tables}


def send_raw(live: LiveBot, body: str | bytes, *, ts: int | None = None) -> Any:
    """POST ``body`` signed with the bot's secret (bytes are signed as they are, invalid UTF-8 included)."""
    headers = (
        signed_request(live.bot.signing_secret, body, ts)
        if isinstance(body, str)
        else raw_signed(live.bot.signing_secret, body, ts)
    )
    return post(live.chat.events_url, body, headers)


def raw_signed(secret: str, body: bytes, ts: int | None = None) -> dict[str, str]:
    """Slack's ``v0=`` signature over raw bytes (``signed_request`` needs text)."""
    import hashlib
    import hmac

    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def send_payload(live: LiveBot, payload: dict[str, Any], *, ts: int | None = None) -> Any:
    return send_raw(live, interactivity_body(payload), ts=ts)


def hook_token(response_url: str) -> str:
    return response_url.rstrip("/").rsplit("/", 1)[-1]


def answers(live: LiveBot, response_url: str) -> list[dict[str, Any]]:
    """What the bot posted to this request's ``response_url``."""
    token = hook_token(response_url)
    return [dict(c.args) for c in live.slack.calls_to("response_url") if c.args.get("hook") == token]


def wait(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return wait_until(predicate, timeout, what, interval=0.01)


def no_incident(live: LiveBot, mark: int, *texts: str) -> None:
    """No ERROR logged since ``mark`` and no incident text in ``texts``."""
    new = live.incidents.lines()[mark:]
    assert new == [], new
    for text in texts:
        assert "incident `" not in text, text


# ---- the security matrix's moves -------------------------------------------------------------------


def request_approval(live: LiveBot, line: str = "/avd scale Entra 1") -> dict[str, Any]:
    """Type ``line`` as the operator and return its job once the approval card is posted and bound."""
    before = {j["id"] for j in jobs.recent_jobs(live.store)}
    assert live.chat.slash(line, user=OPS).status == 200

    def bound() -> dict[str, Any] | None:
        new = [j for j in jobs.recent_jobs(live.store) if j["id"] not in before and j["card_ts"]]
        if not new:
            return None
        rows = list(live.store.db.query("select * from approvals where job_id = ?", [new[0]["id"]]))
        return {**new[0], "approval": rows[0]["id"]} if rows and rows[0]["message_ts"] else None

    return dict(wait(bound, 20.0, f"the approval card of {line!r}"))


def press_body(
    live: LiveBot,
    job: dict[str, Any],
    *,
    user: str = LEAD,
    label: str = "Approve",
    channel: str = CHANNEL,
    team: str = "T0AVDOPS",
    ts: str | None = None,
    value: str | None = None,
    card: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The interactivity body of pressing ``label`` on ``job``'s card (or on message ``ts``), and its hook;
    ``card``: the message as the presser saw it (a card the bot has redrawn since, e.g. without its buttons)."""
    card = card or live.slack.message(CHANNEL, job["card_ts"])
    assert card is not None
    button = next(b for _bid, b in _buttons(card) if b["text"]["text"] == label)
    if value is not None:
        button = {**button, "value": value}
    message = {**card, "ts": ts or card["ts"]}
    url = live.slack.new_response_url(channel, user, message_ts=message["ts"])
    payload = block_actions_payload(
        message,
        f"job:{job['id']}",
        button,
        user=user,
        channel=channel,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
        team_id=team,
    )
    return interactivity_body(payload), url


def _buttons(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return buttons(message.get("blocks") or [])


def refusals(live: LiveBot, reason: str = "") -> list[dict[str, Any]]:
    """The refusals' audit rows (written after the ack: the writer is drained first)."""
    live.bot.runtime.replay.flush()
    return [
        r
        for r in audit.recent(live.store, 500)
        if r["outcome"] == "refused" and (not reason or reason in str(r["detail"].get("reason", "")))
    ]


def told(live: LiveBot, url: str) -> str:
    return str(wait(lambda: answers(live, url), 10.0, "an ephemeral answer")[0]["text"])


def status(live: LiveBot, job_id: int) -> str:
    return str((jobs.get_job(live.store, job_id) or {})["status"])


def press_body_from(live: LiveBot, job: dict[str, Any], user: str) -> tuple[str, str]:
    """Approve on ``job``'s card as it was when it asked for approval (the approval id from the store)."""
    button = {
        "action_id": "engine_approve",
        "value": job["approval"],
        "text": {"type": "plain_text", "text": "Approve"},
    }
    url = live.slack.new_response_url(CHANNEL, user, message_ts=job["card_ts"])
    payload = block_actions_payload(
        {"ts": job["card_ts"], "text": "", "blocks": []},
        f"job:{job['id']}",
        button,
        user=user,
        channel=CHANNEL,
        response_url=url,
        trigger_id=live.slack.new_trigger_id(),
    )
    return interactivity_body(payload), url


def open_modal(live: LiveBot) -> dict[str, Any]:
    opened = len(live.slack.views)
    assert live.chat.slash("/avd scaleset create", user=OPS).status == 200
    wait(lambda: len(live.slack.views) > opened, 10.0, "the modal")
    settle(live)  # the bot may still refine the form's defaults with views.update
    view = live.slack.views[-1]
    return {**view["view"], "id": view["id"]}


def settle(live: LiveBot, quiet: float = 0.3, timeout: float = 10.0) -> None:
    """Wait until the bot has made no Slack call for ``quiet`` seconds (its after-ack work is done)."""
    deadline = time.monotonic() + timeout
    seen, since = len(live.slack.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now_seen = len(live.slack.calls)
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError(f"the bot kept calling Slack for {timeout}s")
