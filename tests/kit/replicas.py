"""Fixtures shared by the replicas, status and doctor scenarios: the seeded ARM simulator at a high time scale,
the real bot (signed HTTP) with these capabilities registered, and small journal helpers. No tests here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from bot.storage import jobs
from sim.azure import AzureSim
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat, clean_env, start_bot, wait_until

SUB = "00000000-0000-0000-0000-000000000001"
IMAGE = ("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
VERSION_PATH = "galleries/AVDGallery/images/Win11MultiS/versions/2026.0522.1719"
OPS, LEAD = "U0OPS1", "U0LEAD1"
TIME_SCALE = 1200.0  # a 5-15 min replica takes 0.25-0.75 s


@pytest.fixture(name="fast_azure")
def fast_azure_fixture() -> Iterator[AzureSim]:
    sim = AzureSim(scenario="seed", time_scale=TIME_SCALE, poll_retry_after=None)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="bot")
def bot_fixture(
    tmp_path: Path, slack_sim: SlackSim, fast_azure: AzureSim, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotHandle]:
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_sim.url, arm=fast_azure.url, ca=fast_azure.ca_path)
    runtime = handle.runtime
    runtime.azure = AzureClients(fast_azure.url, fast_azure.ca_path, polling_interval=0.05, retry_total=0)
    progress = runtime.engine.progress
    progress.min_interval, progress.debounce = 0.2, 0.05
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(name="chat")
def chat_fixture(bot: BotHandle, slack_sim: SlackSim) -> Chat:
    return Chat(bot.url, slack_sim, bot.signing_secret)


def wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    return wait_until(predicate, timeout)


def new_job(store: Any, before: set[int], timeout: float = 10.0) -> dict[str, Any]:
    found = wait(lambda: [j for j in jobs.recent_jobs(store) if j["id"] not in before], timeout)
    return dict(found[0])


def job_ids(store: Any) -> set[int]:
    return {int(j["id"]) for j in jobs.recent_jobs(store)}


def finished(store: Any, job_id: int, timeout: float = 15.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = jobs.get_job(store, job_id)
        return job if job and job["status"] in jobs.TERMINAL else None

    return dict(wait(done, timeout))


def version_patches(sim: AzureSim) -> list[dict[str, Any]]:
    """Bodies of every PATCH of the seed image version, in order."""
    return [e.body for e in sim.writes(VERSION_PATH) if e.method == "PATCH"]


def replica_state(sim: AzureSim, region: str) -> str | None:
    view = sim.image_version(*IMAGE)
    assert view is not None
    states = {s["region"]: s["state"] for s in view["properties"]["replicationStatus"]["summary"]}
    return states.get(region)


def replicate_directly(sim: AzureSim, region: str = "uksouth") -> None:
    """Add a replica with the SDK (test setup, not through the bot) and wait for it to complete."""
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.05, retry_total=0)
    compute = clients.compute(SUB)
    current = compute.gallery_image_versions.get(*IMAGE).as_dict()
    targets = current["properties"]["publishingProfile"]["targetRegions"] + [{"name": region}]
    compute.gallery_image_versions.begin_update(
        *IMAGE, {"properties": {"publishingProfile": {"targetRegions": targets}}}
    ).result()  # type: ignore[call-overload]
    compute.close()
