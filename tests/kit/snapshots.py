"""Fixtures for the snapshot replication tests: a fast ARM simulator with the storage provider, the real
bot (``build_app`` + WSGI server) with the snapshots capability registered, and small helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from bot.app import Runtime, build_app
from bot.config.settings import load_settings
from bot.sandbox import example_config
from bot.slack.server import BotServer, serve_runtime
from bot.storage import jobs
from sim.azure import AzureSim
from sim.azure.providers import resources
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, Chat, clean_env
from tests.kit.bots import bot_env

SUB1 = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
TIME_SCALE = 5000.0
REQUESTER, LEAD = "U0OPS1", "U0LEAD1"
EXTRA_PROFILES = f"""
[snapshot_profiles.same-region]
source_subscription = "{SUB1}"
source_resource_group = "GOLD-VDA"
target_subscription = "{SUB2}"
target_resource_group = "SNAPWEU"
target_region = "westeurope"
mode = "DifferentSubSameRegion"
tag_filter = "SnapReplicate=Replicate"
sync = true

[snapshot_profiles.same-sub]
source_subscription = "{SUB1}"
source_resource_group = "GOLD-VDA"
target_subscription = "{SUB1}"
target_resource_group = "SNAPUKS"
target_region = "uksouth"
mode = "SameSubDifferentRegion"
tag_filter = "SnapReplicate=Replicate"
sync = true

[snapshot_profiles.wrong-mode]
source_subscription = "{SUB1}"
source_resource_group = "GOLD-VDA"
target_subscription = "{SUB2}"
target_resource_group = "SNAPDR"
target_region = "uksouth"
mode = "DifferentSubSameRegion"
tag_filter = "SnapReplicate=Replicate"
"""


def config_text() -> str:
    return Path(example_config()).read_text(encoding="utf-8") + EXTRA_PROFILES


def new_sim() -> AzureSim:
    sim = AzureSim(
        scenario="seed",
        time_scale=TIME_SCALE,
    )
    resources.make_group(sim, SUB2, "SNAPWEU", "westeurope")
    resources.make_group(sim, SUB1, "SNAPUKS", "uksouth")
    sim.start()
    return sim


@pytest.fixture(name="arm")
def arm_fixture() -> Iterator[AzureSim]:
    sim = new_sim()
    try:
        yield sim
    finally:
        sim.stop()


class Bot:
    """One running bot over both doubles; ``restart()`` keeps the database."""

    def __init__(self, workdir: Path, slack: SlackSim, sim: AzureSim) -> None:
        self.workdir, self.slack, self.sim = workdir, slack, sim
        self.runtime: Runtime
        self.server: BotServer
        self.start()

    def start(self) -> None:
        env = bot_env(
            self.workdir, self.slack.url, arm=self.sim.url, ca=self.sim.ca_path, config_text=config_text()
        )
        settings = load_settings(env, mode="serve")
        assert not settings.problems(), settings.problems()
        azure = AzureClients(self.sim.url, self.sim.ca_path, polling_interval=0.02, retry_total=0)
        self.runtime = build_app(settings, azure=azure)
        self.runtime.engine.progress.min_interval = 0.1
        self.runtime.start()
        self.server = serve_runtime(self.runtime).start()
        self.chat = Chat(self.server.url, self.slack, SIGNING_SECRET)

    def stop(self) -> None:
        self.server.stop()
        for sub in (SUB1, SUB2):
            self.runtime.azure.compute(sub).close()
        self.runtime.stop()

    @property
    def store(self) -> Any:
        return self.runtime.store

    def request(self, line: str, user: str = REQUESTER) -> int:
        before = {j["id"] for j in jobs.recent_jobs(self.store)}
        assert self.chat.slash(line, user=user).status == 200
        found = self.chat.wait_for(
            lambda: [j for j in jobs.recent_jobs(self.store) if j["id"] not in before and j["card_ts"]],
            timeout=10,
        )
        return int(found[0]["id"])

    def approve(self, job_id: int) -> None:
        self.wait(job_id, jobs.AWAITING)
        self.chat.wait_for(
            lambda: self.store.db.execute(
                "select count(*) from approvals where job_id = ? and message_ts is not null", [job_id]
            ).fetchone()[0]
        )
        self.chat.click("Approve", user=LEAD)

    def wait(self, job_id: int, status: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = jobs.get_job(self.store, job_id)
            if job and job["status"] == status:
                return job
            time.sleep(0.02)
        raise AssertionError(
            f"job {job_id} is {jobs.get_job(self.store, job_id)}, not {status}; steps: "
            f"{[(s['name'], s['status'], s['error']) for s in jobs.get_steps(self.store, job_id)]}"
        )


@pytest.fixture(name="bot")
def bot_fixture(
    tmp_path: Path, slack_sim: SlackSim, arm: AzureSim, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bot]:
    clean_env(monkeypatch)
    handle = Bot(tmp_path, slack_sim, arm)
    try:
        yield handle
    finally:
        handle.stop()


def source(sim: AzureSim, name: str) -> dict[str, Any]:
    """The simulator's own document for a GOLD-VDA snapshot (tests change its tags in place)."""
    doc = sim.store.get(
        f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots/{name}"
    )
    assert doc is not None
    return doc


def snapshot(sim: AzureSim, sub: str, rg: str, name: str) -> Any:
    return sim.resource(
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots/{name}"
    )


def names(sim: AzureSim, sub: str, rg: str) -> set[str]:
    prefix = f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/snapshots/".lower()
    sim.tick()  # as a GET would: a delete whose operation already ended has removed its snapshot
    with sim.lock:
        return {
            d["name"]
            for k, d in sim.store.items.items()
            if k.startswith(prefix) and "/" not in k[len(prefix) :]
        }
