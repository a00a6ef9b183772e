"""No secret leaves the bot: a realistic flow with logging at DEBUG, then a scan of everything it produced.

The flow (over signed HTTP, both doubles): the uksouth replica, ``/avd identity create dr``, the scale set
form with domain join (the password comes from the environment, the host pool's registration token is
fetched when the step runs), ``/avd snapshots copy`` of a full snapshot (staging through a SAS), and
``/avd failover start dr``. Scanned: every Slack Web API call and response_url post (arguments and
answers), every log record and what reached stdout/stderr, and the SQLite files (db, -wal, -shm). Looked
for: the Slack bot token and signing secret, the sandbox bearer token, each registration token the
simulator issued, the domain join password, any SAS signature (``sig=``) and any ``Bearer`` header value.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azureops.credentials import SANDBOX_TOKEN
from bot.storage import jobs
from sim.azure import AzureSim
from tests.kit import BOT_TOKEN, SIGNING_SECRET
from tests.kit.failover import failover_config
from tests.kit.fuzz import LEAD, OPS, LiveBot, live_bot
from tests.kit.scale import (
    approve,
    finished,
    job_ids,
    new_job,
    open_form,
    replicate,
    run_command,
    submit_form,
)

PASSWORD = "Join-P@ssw0rd-7f3c1e"  # noqa: S105 - a made-up value the scan looks for
SAS = re.compile(r"[?&]sig=[^&\s\"']+", re.I)
BEARER = re.compile(r"Bearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}")


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveBot]:
    with live_bot(tmp_path, config_text=failover_config(grace=1, timeout=1)) as bot:
        monkeypatch.setenv("AVD_DOMAIN_JOIN_PASSWORD", PASSWORD)
        yield bot


def issued_tokens(sim: AzureSim) -> set[str]:
    """Every registration token in the simulator: held by a host pool, or sent in a request body."""
    found: set[str] = set()
    for resource in sim.store.of_type("Microsoft.DesktopVirtualization/hostPools"):
        token = ((resource.get("_sim") or {}).get("registration") or {}).get("token")
        if token:
            found.add(str(token))
    text = json.dumps([e.body for e in sim.journal], default=str)
    found.update(re.findall(r"eyJhbGciOiJSUzI1NiIsImtpZCI6InNpbSJ9\.[A-Za-z0-9_.-]+", text))
    return found


def slack_traffic(live: LiveBot) -> str:
    """Every Web API call and response_url post the bot made, with what the double answered."""
    return json.dumps([[c.method, c.args, c.response] for c in live.slack.calls], default=str)


def run_flow(live: LiveBot) -> None:
    chat, store = live.chat, live.store
    replicate(live.azure)
    assert run_command(chat, live.bot, "/avd identity create dr")["status"] == jobs.DONE

    view = open_form(chat, live.slack)
    before = job_ids(store)
    submit_form(
        chat, view, join_type="domain", domain="corp.contoso.com", domain_user="svc-join@corp.contoso.com"
    )
    job = new_job(store, before, timeout=20.0)
    approve(chat, store, int(job["id"]), LEAD)
    assert finished(store, int(job["id"]), timeout=30.0)["status"] == jobs.DONE

    copy = run_command(chat, live.bot, "/avd snapshots copy snap-gold-manual gold-to-dr")
    assert copy["status"] == jobs.DONE, copy
    assert [e.method for e in live.azure.writes("snap-gold-manual/beginGetAccess")] == [
        "POST"
    ]  # a SAS was issued

    failover = run_command(chat, live.bot, "/avd failover start dr")
    assert failover["status"] == jobs.DONE, failover


def leaks(haystack: str, secrets: dict[str, str]) -> list[str]:
    found = [name for name, value in secrets.items() if value and value in haystack]
    found += [f"SAS {m.group(0)[:20]}..." for m in SAS.finditer(haystack)]
    found += [f"bearer {m.group(0)[:16]}..." for m in BEARER.finditer(haystack)]
    return found


def test_a_full_flow_leaks_no_secret(
    live: LiveBot, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    run_flow(live)
    tokens = issued_tokens(live.azure)
    assert tokens, "the scale set job should have fetched a registration token"
    secrets = {
        "slack bot token": BOT_TOKEN,
        "signing secret": SIGNING_SECRET,
        "sandbox bearer": SANDBOX_TOKEN,
        "domain join password": PASSWORD,
        **{f"registration token {t[:12]}...": t for t in tokens},
    }
    bot_logs = "\n".join(
        f"{r.name}: {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("sim")
    )
    out = capfd.readouterr()
    live.store.db.execute(
        "select 1"
    )  # the files are read while the bot holds them open (WAL not checkpointed)
    db_files = sorted(tmp_path.glob("avd.db*"))
    assert [p.name for p in db_files][:1] == ["avd.db"]
    db_bytes = b"".join(p.read_bytes() for p in db_files).decode("latin-1")

    assert leaks(slack_traffic(live), secrets) == []
    assert leaks(bot_logs, secrets) == []
    assert leaks(out.out + out.err, secrets) == []
    assert leaks(db_bytes, secrets) == []


def test_the_scan_finds_what_it_looks_for() -> None:
    """The detectors themselves: each secret kind is found when present."""
    secrets = {"password": PASSWORD}
    sample: dict[str, Any] = {
        "url": "https://acct.blob.core.windows.net/c/b?sv=2022&sig=abc%2Bdef",
        "auth": "Authorization: Bearer eyJ0eXAiOiJKV1Qi.abc",
        "form": f"pw={PASSWORD}",
    }
    found = leaks(json.dumps(sample), secrets)
    assert found[0] == "password" and any(f.startswith("SAS") for f in found)
    assert any(f.startswith("bearer") for f in found)
    assert leaks("Bearer [redacted] and ?sv=1", secrets) == []
    assert OPS not in found
