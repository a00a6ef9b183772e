"""``avd-bot socket`` against the Socket Mode double: the real Bolt ``SocketModeHandler`` (slack_sdk's builtin
WebSocket client) opens a link with apps.connections.open, gets envelopes and acks them; answers after the ack
go through response_url, button presses start jobs. The bot is built and connected by ``bot.cli.open_socket``,
the function ``avd-bot socket`` calls; two tests run the CLI itself as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.app import build_app
from bot.capabilities import CAPABILITIES
from bot.cli import SocketStartError, open_socket
from bot.config.settings import load_settings
from bot.runtime import Capability, Runtime
from bot.storage import jobs
from sim.slack import SlackSim
from sim.slack.socket import APP_TOKEN, Ack, SocketModeSim
from tests.kit import BOT_TOKEN, clean_env, wait_until
from tests.kit import engine as engine_kit
from tests.kit import socket_regions as socket_kit
from tests.kit.bots import NO_ARM, bot_env

ROOT = Path(__file__).resolve().parents[2]
OPS, LEAD, GUEST = "U0OPS1", "U0LEAD1", "U0GUEST"
CHANNEL = "C0INCIDENT"


@dataclass
class SocketBot:
    """A runtime connected over Socket Mode, and a chat-log API that speaks envelopes instead of HTTP."""

    runtime: Runtime
    handler: Any
    slack: SlackSim
    socket: SocketModeSim

    def slash(self, line: str, user: str = OPS, channel: str = CHANNEL) -> str:
        """Deliver ``/avd ...`` as a ``slash_commands`` envelope (the form fields as a JSON object)."""
        return socket_kit.slash(self.slack, self.socket, line, user, channel)[0]

    def click(self, label: str, user: str, channel: str = CHANNEL) -> str:
        """Deliver a press of the newest button labelled ``label`` as an ``interactive`` envelope."""
        return socket_kit.press(self.slack, self.socket, label, user, channel)

    def ask(self, line: str, user: str = OPS, channel: str = CHANNEL) -> Ack:
        return self.socket.acked(self.slash(line, user, channel))

    def hook_posts(self) -> list[dict[str, Any]]:
        return [call.args for call in self.slack.calls_to("response_url")]

    def close(self) -> None:
        self.handler.client.auto_reconnect_enabled = False
        self.socket.drop()  # the builtin client otherwise waits out its 3 s receive timeout
        wait_until(lambda: not self.handler.client.is_connected(), what="the bot to see its link closed")
        self.handler.close()
        self.runtime.stop()


def connect_bot(
    workdir: Path,
    slack: SlackSim,
    socket: SocketModeSim,
    *,
    arm: str = NO_ARM,
    ca: str = "",
    config_text: str | None = None,
    ping_interval: float = 10.0,
    capabilities: tuple[Capability, ...] = CAPABILITIES,
) -> SocketBot:
    env = bot_env(workdir, slack.url, arm=arm, ca=ca, config_text=config_text, SLACK_APP_TOKEN=APP_TOKEN)
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none
    settings = load_settings(env, mode="socket")
    assert settings.problems() == []
    runtime = build_app(settings, capabilities=capabilities)
    runtime.start()
    try:
        handler = open_socket(runtime, settings.slack_app_token, ping_interval=ping_interval)
    except BaseException:
        runtime.stop()
        raise
    return SocketBot(runtime, handler, slack, socket)


@pytest.fixture
def bot(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SocketBot]:
    clean_env(monkeypatch)
    handle = connect_bot(tmp_path, slack_sim, socket_sim)
    try:
        yield handle
    finally:
        handle.close()


# ---- the double on its own -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xoxb-sandbox-token", "not_allowed_token_type"),
        ("xoxp-1-user-token", "not_allowed_token_type"),
        ("xapp-1-A0AVDOPS-1-revoked", "invalid_auth"),
    ],
)
def test_connections_open_refuses_other_tokens_as_slack_does(
    slack_sim: SlackSim, socket_sim: SocketModeSim, token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=slack_sim.url).apps_connections_open(app_token=token)
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_connections_open_gives_a_one_use_link_that_says_hello(
    slack_sim: SlackSim, socket_sim: SocketModeSim
) -> None:
    url = WebClient(base_url=slack_sim.url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(socket_sim.root + "/link/?ticket=") and "app_id=A0AVDOPS" in url
    with connect(url) as ws:
        hello = json.loads(ws.recv(timeout=5))
        envelope_id = socket_sim.deliver("slash_commands", {"command": "/avd", "text": "help"})
        envelope = json.loads(ws.recv(timeout=5))
        ws.send(json.dumps({"envelope_id": envelope_id, "payload": {"text": "hi"}}))
        assert socket_sim.acked(envelope_id).text == "hi"
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A0AVDOPS"} and "host" in hello["debug_info"]
    assert envelope == {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {"command": "/avd", "text": "help"},
    }
    with pytest.raises(InvalidStatus) as refused:
        connect(url)  # the ticket was used
    assert refused.value.response.status_code == 401


def receive_all(ws: Any) -> list[dict[str, Any]]:
    """Every message waiting on a raw client link (stops at the first 0.5 s without one)."""
    got = []
    while True:
        try:
            got.append(json.loads(ws.recv(timeout=0.5)))
        except TimeoutError:
            return got


def test_envelopes_are_spread_over_the_apps_open_links_and_skip_a_closed_one(
    slack_sim: SlackSim, socket_sim: SocketModeSim
) -> None:
    client = WebClient(base_url=slack_sim.url)
    with (
        connect(client.apps_connections_open(app_token=APP_TOKEN)["url"]) as one,
        connect(client.apps_connections_open(app_token=APP_TOKEN)["url"]) as two,
    ):
        assert json.loads(one.recv(timeout=5))["num_connections"] == 1
        assert json.loads(two.recv(timeout=5))["num_connections"] == 2
        first, second = socket_sim.links[0], socket_sim.wait_connected(count=2)
        sent = [socket_sim.deliver("slash_commands", {"text": f"jobs {n}"}) for n in range(20)]
        got_one, got_two = receive_all(one), receive_all(two)
        assert got_one and got_two  # both links got some
        assert sorted(e["envelope_id"] for e in got_one + got_two) == sorted(sent)  # each once
        assert {e["envelope_id"] for e in got_one} == {
            i for i in sent if socket_sim.delivered_on(i) == [first]
        }
        one.close()
        wait_until(lambda: first.closed is not None, what="the double to see the first link closed")
        later = [socket_sim.deliver("interactive", {"n": n}) for n in range(5)]
        assert [e["envelope_id"] for e in receive_all(two)] == later
        assert all(socket_sim.delivered_on(i) == [second] for i in later)


def test_an_unacked_event_is_retried_on_another_link_and_a_command_is_not(slack_sim: SlackSim) -> None:
    # the ack timeout outlasts receive_all's quiet 0.5 s: the first retry comes after the first link is closed
    socket_sim = SocketModeSim(slack_sim, ack_timeout=2.0, retry_delays=(0.0, 0.0, 0.0))
    socket_sim.start()
    client = WebClient(base_url=slack_sim.url)
    try:
        with (
            connect(client.apps_connections_open(app_token=APP_TOKEN)["url"]) as one,
            connect(client.apps_connections_open(app_token=APP_TOKEN)["url"]) as two,
        ):
            first = socket_sim.links[0]
            socket_sim.wait_connected(count=2)
            command = socket_sim.deliver("slash_commands", {"text": "jobs"}, link=first)
            event = socket_sim.deliver("events_api", {"event": {"type": "app_mention"}}, link=first)
            assert [m.get("type") for m in receive_all(one)] == ["hello", "slash_commands", "events_api"]
            one.close()  # the app's process on this link is gone: neither envelope is acked
            retried = json.loads(two.recv(timeout=10))
            while retried.get("type") == "hello":
                retried = json.loads(two.recv(timeout=10))
            two.send(json.dumps({"envelope_id": retried["envelope_id"]}))
            socket_sim.acked(event)
            assert retried["envelope_id"] == event and retried["type"] == "events_api"
            assert (retried["retry_attempt"], retried["retry_reason"]) == (1, "timeout")
            assert receive_all(two) == []  # acked: no further retry; the command was never sent again
            assert socket_sim.delivered_on(command) == [first]
            assert socket_sim.acks_of(command) == []
            assert len(socket_sim.delivered_on(event)) == 2
    finally:
        socket_sim.stop()


def test_sim_slack_cli_offers_the_socket_endpoint() -> None:
    code = "from bot.cli import main; main(['sim', 'slack', '--app-token', 'xapp-1-cli'])"
    with subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            url = WebClient(base_url=ready["url"]).apps_connections_open(app_token="xapp-1-cli")["url"]
            assert url.startswith(ready["socket"] + "/link/?ticket=")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


# ---- the bot over Socket Mode ------------------------------------------------------------------------


def test_help_is_answered_in_the_ack(bot: SocketBot) -> None:
    opened = bot.slack.calls_to("apps.connections.open")
    assert len(opened) == 1 and opened[0].response["url"].startswith("ws://127.0.0.1:")
    ack = bot.ask("/avd help")
    assert "/avd status" in ack.text and ack.payload is not None and ack.payload["blocks"]
    assert bot.hook_posts() == []


def test_mistyped_command_gets_the_usage_hint_in_the_ack(bot: SocketBot) -> None:
    ack = bot.ask("/avd replicas add uksuoth")
    assert "uksuoth" in ack.text and "did you mean uksouth" in ack.text


def test_non_operator_is_refused_in_the_ack(bot: SocketBot) -> None:
    ack = bot.ask("/avd jobs", user=GUEST)
    assert "not an avd-ops operator" in ack.text
    assert bot.hook_posts() == []


def test_answer_after_the_ack_goes_through_response_url(bot: SocketBot) -> None:
    ack = bot.ask("/avd jobs")
    assert ack.payload is None  # acked empty; the answer follows
    posted = wait_until(bot.hook_posts, what="the /avd jobs answer on response_url")
    assert "No jobs yet" in posted[0]["text"]


def test_disconnect_makes_the_bot_reconnect_and_handle_the_next_envelope(bot: SocketBot) -> None:
    first = bot.socket.wait_connected()
    bot.socket.disconnect("refresh_requested")
    second = bot.socket.wait_connected(count=2)
    wait_until(lambda: first.closed is not None, what="the bot to close the old link")
    assert second is not first and len(bot.slack.calls_to("apps.connections.open")) == 2
    assert "/avd status" in bot.ask("/avd help").text


def test_link_dropped_by_slack_is_reopened(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    handle = connect_bot(tmp_path, slack_sim, socket_sim, ping_interval=0.5)  # the client's link check
    try:
        socket_sim.drop()  # closed without a disconnect message: the client notices at its next check
        socket_sim.wait_connected(count=2)
        assert "did you mean uksouth" in handle.ask("/avd replicas add uksuoth").text
    finally:
        handle.close()


def test_redelivered_envelope_runs_once(bot: SocketBot) -> None:
    envelope_id = bot.slash("/avd jobs")
    assert bot.socket.acked(envelope_id).payload is None
    bot.socket.redeliver(envelope_id)
    again = bot.socket.acked(envelope_id, nth=2)
    assert "already handled" in again.text
    wait_until(bot.hook_posts, what="the first delivery's answer")
    assert len(bot.socket.acks_of(envelope_id)) == 2 and len(bot.hook_posts()) == 1


def status(store: Any, job_id: int) -> str | None:
    job = jobs.get_job(store, job_id)
    return str(job["status"]) if job else None


def test_approve_press_starts_the_job_once(
    tmp_path: Path,
    slack_sim: SlackSim,
    socket_sim: SocketModeSim,
    azure_sim: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean_env(monkeypatch)
    handle = connect_bot(
        tmp_path,
        slack_sim,
        socket_sim,
        arm=azure_sim.url,
        ca=azure_sim.ca_path,
        config_text=engine_kit.engine_config(),
        capabilities=engine_kit.CAPABILITIES,
    )
    try:
        store = handle.runtime.store
        assert handle.ask("/avd scale Entra 3").payload is None
        job = wait_until(
            lambda: [j for j in jobs.recent_jobs(store) if j["card_ts"]], what="the approval card"
        )
        job_id = int(job[0]["id"])
        assert status(store, job_id) == jobs.AWAITING
        press = handle.click("Approve", user=LEAD)
        socket_sim.acked(press)
        socket_sim.redeliver(press)
        assert socket_sim.acked(press, nth=2).payload is None  # a button's refusal goes to response_url
        wait_until(
            lambda: [e for e in slack_sim.ephemerals(CHANNEL, LEAD) if "already handled" in e["text"]],
            what="the replay refusal",
        )
        wait_until(lambda: status(store, job_id) == jobs.DONE, timeout=20, what="the job")
        assert azure_sim.scale_set("VMSS", "Entra").capacity == 3
        assert len(azure_sim.writes("virtualMachineScaleSets/Entra")) == 1
    finally:
        handle.close()
        engine_kit.close_clients(handle.runtime)


def test_unknown_app_token_is_a_clear_start_up_error(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim
) -> None:
    settings = load_settings(
        bot_env(tmp_path, slack_sim.url, SLACK_APP_TOKEN="xapp-1-A0AVDOPS-1-old"), mode="socket"
    )
    runtime = build_app(settings)
    try:
        with pytest.raises(SocketStartError, match=r"SLACK_APP_TOKEN .*\(invalid_auth\)"):
            open_socket(runtime, settings.slack_app_token)
    finally:
        runtime.stop()
    assert socket_sim.links == []


# ---- the CLI itself --------------------------------------------------------------------------------


def cli_env(tmp_path: Path, slack: SlackSim, app_token: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    return {**keep, **bot_env(tmp_path, slack.url, SLACK_APP_TOKEN=app_token), "AVD_LOG_LEVEL": "WARNING"}


def test_bot_token_in_slack_app_token_stops_the_cli_with_a_clear_error(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "socket"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, slack_sim, BOT_TOKEN),
        timeout=60,
    )
    assert done.returncode == 2
    assert "SLACK_APP_TOKEN" in done.stderr and "not_allowed_token_type" in done.stderr
    assert "xapp-" in done.stderr and "Traceback" not in done.stderr
    assert socket_sim.links == []


def test_cli_serves_socket_mode_and_stops_on_sigterm(
    tmp_path: Path, slack_sim: SlackSim, socket_sim: SocketModeSim
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "socket"],
        cwd=ROOT,
        text=True,
        env=cli_env(tmp_path, slack_sim, APP_TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("avd-bot connected over Socket Mode")
        chat = SocketBot(runtime=None, handler=None, slack=slack_sim, socket=socket_sim)  # type: ignore[arg-type]
        assert "/avd status" in chat.ask("/avd help").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
