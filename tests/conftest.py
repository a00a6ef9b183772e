"""Fixtures: the Slack double, the ARM simulator, the running bot, and ``chat``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azure import AzureSim
from sim.slack import SlackSim
from sim.slack.socket import SocketModeSim
from tests.kit import BOT_TOKEN, BotHandle, Chat, clean_env, start_bot


@pytest.fixture
def slack_sim() -> Iterator[SlackSim]:
    sim = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def socket_sim(slack_sim: SlackSim) -> Iterator[SocketModeSim]:
    """The Socket Mode double over ``slack_sim`` (``apps.connections.open`` hands out its URLs)."""
    sim = SocketModeSim(slack_sim)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def azure_sim() -> Iterator[AzureSim]:
    sim = AzureSim(scenario="seed", time_scale=120)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def slow_azure() -> Iterator[AzureSim]:
    """The seed scenario at time scale 30: each step's operation lasts a few seconds."""
    sim = AzureSim(scenario="seed", time_scale=30)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def bot_server(
    request: pytest.FixtureRequest, slack_sim: SlackSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotHandle]:
    """``build_app`` + the threaded WSGI server on port 0, a temp DB, SLACK_*/AVD_* cleared.

    A test that also requests ``azure_sim`` gets the bot pointed at it.
    """
    clean_env(monkeypatch)
    arm, ca = "https://127.0.0.1:9", ""
    if "azure_sim" in request.fixturenames:
        azure = request.getfixturevalue("azure_sim")
        arm, ca = str(azure.url), str(azure.ca_path)
    handle = start_bot(tmp_path, slack_sim.url, arm=arm, ca=ca)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def chat(bot_server: BotHandle, slack_sim: SlackSim) -> Chat:
    return Chat(bot_server.url, slack_sim, bot_server.signing_secret)
