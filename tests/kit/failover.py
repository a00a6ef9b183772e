"""Shared set-up for the failover, failback, drill and ASR tests (imported by the other test_failover*/test_drill*/
test_asr* modules), plus checks of the pure helpers.

``prepare_dr(sim)`` (the simulator's ``dr-ready`` scenario, ``sim.azure.scenarios``) builds the seed story's
secondary site: the uksouth replica (Completed), the AVDManage identity in VMSSDR and the EntraDR scale set
(capacity 0, registering with EntraAuthDR). ``failover_config`` is avd.example.toml with a short grace period and
primary timeout; ``Harness`` is the bot (real ``build_app`` + WSGI server) with these capabilities installed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.sandbox import example_config
from sim.azure import AzureSim
from sim.azure.providers import PROVIDERS
from sim.azure.scenarios import prepare_dr
from sim.slack import SlackSim
from tests.kit import SIGNING_SECRET, BotHandle, Chat, clean_env, start_bot

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups"
ASR_TABLE = 'asr = { vault_resource_group = "ASRDR", vault = "avd-asr", recovery_plan = "avd-personal" }\n'
DAG_ID = f"{RG}/AVDDR/providers/Microsoft.DesktopVirtualization/applicationGroups/EntraAuthDR-DAG"
GROUP, USER = (
    "6c2d8f1e-0b1a-4c7e-9a55-3f0e8d2b7a10",
    "9e4b1c3d-7f2a-4d8e-b6c1-0a5f3e9d2c84",
)  # Entra object ids


def failover_config(
    *,
    grace: int = 1,
    timeout: int = 1,
    asr: bool = False,
    capacity: int = 2,
    principals: tuple[str, ...] = (),
    recheck: bool = True,
) -> str:
    text = Path(example_config()).read_text(encoding="utf-8")
    text = text.replace("user_grace_seconds = 30", f"user_grace_seconds = {grace}")
    text = text.replace("primary_timeout_seconds = 60", f"primary_timeout_seconds = {timeout}")
    text = text.replace("dr_capacity = 2 ", f"dr_capacity = {capacity} ")
    assert ASR_TABLE in text, "avd.example.toml's dr site runs the seed's recovery plan"
    if not asr:
        text = text.replace(ASR_TABLE, "")
    if not recheck:
        text = text.replace("recheck_sessions = true ", "recheck_sessions = false ")
    if principals:
        listed = ", ".join(f'"{p}"' for p in principals)
        text = text.replace(
            "\n[snapshot_profiles.",
            f'\n[[failover.post_steps]]\nkind = "assign_app_group"\n'
            f"principals = [{listed}]\n\n[snapshot_profiles.",
            1,
        )
    return text


def make_sim(time_scale: float = 600.0, *, first: tuple[ModuleType, ...] = ()) -> AzureSim:
    """The seed scenario (with its ASR vault ``avd-asr`` and recovery plan ``avd-personal``); ``first``: extra
    provider modules whose routes win (e.g. ``sim.azure.lingering``)."""
    sim = AzureSim(
        scenario="seed", time_scale=time_scale, poll_retry_after=None, providers=(*first, *PROVIDERS)
    )
    sim.start()
    return sim


@contextmanager
def dr_world(time_scale: float = 600.0) -> Iterator[AzureSim]:
    """``make_sim`` with DR prepared (``prepare_dr``), stopped after: the failover scenarios' world."""
    sim = make_sim(time_scale)
    prepare_dr(sim)
    try:
        yield sim
    finally:
        sim.stop()


@dataclass
class Harness:
    sim: AzureSim
    slack: SlackSim
    bot: BotHandle
    chat: Chat

    @property
    def runtime(self) -> Any:
        return self.bot.runtime

    def quick_cards(self) -> None:
        """Edit cards every 0.2 s instead of every 10 s (Slack's pace), to watch a card change in a short run."""
        progress = self.runtime.engine.progress
        progress.min_interval, progress.debounce = 0.2, 0.05

    def job(self, job_id: int) -> dict[str, Any]:
        rows = list(self.runtime.store.db.query("select * from jobs where id = ?", [job_id]))
        return dict(rows[0]) if rows else {}

    def steps(self, job_id: int) -> list[dict[str, Any]]:
        return list(
            self.runtime.store.db.query("select * from steps where job_id = ? order by idx", [job_id])
        )

    def wait_job(self, job_id: int, status: str = "done", timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = list(self.runtime.store.db.query("select * from jobs where id = ?", [job_id]))
            if rows and rows[0]["status"] == status:
                return rows[0]
            if rows and rows[0]["status"] in ("failed", "cancelled", "done") and rows[0]["status"] != status:
                raise AssertionError(
                    f"job {job_id} ended {rows[0]['status']}: {rows[0].get('error')}; "
                    f"steps {[(s['name'], s['status'], s['error']) for s in self.steps(job_id)]}"
                )
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} not {status} in {timeout}s: {self.steps(job_id)}")

    def thread(self, job_id: int) -> list[str]:
        job = next(iter(self.runtime.store.db.query("select * from jobs where id = ?", [job_id])))
        return (
            [m.get("text", "") for m in self.slack.thread(job["channel"], job["card_ts"])]
            if job.get("card_ts")
            else []
        )


@pytest.fixture
def harness_factory(tmp_path: Path, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    made: list[tuple[AzureSim, BotHandle]] = []

    def make(
        *,
        config: str | None = None,
        asr: bool = False,
        time_scale: float = 600.0,
        prepared: bool = True,
        first: tuple[ModuleType, ...] = (),
    ) -> Harness:
        clean_env(monkeypatch)
        sim = make_sim(time_scale, first=first)
        if prepared:
            prepare_dr(sim)
        cfg = tmp_path / "failover.toml"
        cfg.write_text(config or failover_config(asr=asr), encoding="utf-8")
        bot = start_bot(tmp_path, slack_sim.url, arm=sim.url, ca=sim.ca_path, AVD_CONFIG=str(cfg))
        made.append((sim, bot))
        return Harness(sim, slack_sim, bot, Chat(bot.url, slack_sim, SIGNING_SECRET))

    yield make
    for sim, bot in made:
        bot.stop()
        sim.stop()


# ---- plans without a running simulator (their steps only talk to Azure when they run) ----------------------


def seed_sites(principals: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """The seed's (primary, dr) as ``azureops.failover.SiteSpec``s."""
    from azureops.dr_capacity import ScaleSetRef
    from azureops.failover import SiteSpec
    from azureops.sessions import HostPoolRef

    primary = SiteSpec(
        "primary", "westeurope", HostPoolRef(SUB, "AVD", "EntraAuth"), ScaleSetRef(SUB, "VMSS", "Entra")
    )
    dr = SiteSpec(
        "dr",
        "uksouth",
        HostPoolRef(SUB, "AVDDR", "EntraAuthDR"),
        ScaleSetRef(SUB, "VMSSDR", "EntraDR"),
        app_group="EntraAuthDR-DAG" if principals else "",
    )
    return primary, dr


def offline_clients() -> Any:
    """SDK clients for a loopback endpoint nobody listens on (plans are built, never run)."""
    from azureops.clients import AzureClients

    return AzureClients("https://127.0.0.1:9", None)
