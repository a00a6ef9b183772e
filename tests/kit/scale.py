"""Fixtures for the secondary-site scenarios (identity, scale set, scale): the seeded ARM simulator with the
resourceSkus provider at a high time scale, the real bot over signed HTTP with these capabilities registered,
and helpers that read the modal, press buttons and wait for jobs. No tests here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azureops.clients import AzureClients
from bot.storage import jobs
from sim.azure import AzureSim
from sim.azure.journal import WRITE_METHODS
from sim.slack import SlackSim
from tests.kit import BotHandle, Chat, clean_env, start_bot, wait_until

SUB = "00000000-0000-0000-0000-000000000001"
JOIN_APP = "11111111-2222-3333-4444-555555555555"
IMAGE = ("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
VERSION_ID = (
    f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery/"
    "images/Win11MultiS/versions/2026.0522.1719"
)
OPS, LEAD = "U0OPS1", "U0LEAD1"
TIME_SCALE = 3000.0  # replica 5-15 min -> 0.1-0.3 s; instance boot + agent 4-7 min -> ~0.1 s


@pytest.fixture(name="dr_azure")
def dr_azure_fixture() -> Iterator[AzureSim]:
    sim = AzureSim(scenario="seed", time_scale=TIME_SCALE, poll_retry_after=None)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="dr_bot")
def dr_bot_fixture(
    tmp_path: Path, slack_sim: SlackSim, dr_azure: AzureSim, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotHandle]:
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_sim.url, arm=dr_azure.url, ca=dr_azure.ca_path)
    runtime = handle.runtime
    runtime.azure = AzureClients(dr_azure.url, dr_azure.ca_path, polling_interval=0.05, retry_total=0)
    progress = runtime.engine.progress
    progress.min_interval, progress.debounce = 0.2, 0.05
    try:
        yield handle
    finally:
        handle.stop()
        for client in (
            runtime.azure.compute(SUB),
            runtime.azure.msi(SUB),
            runtime.azure.avd(SUB),
            runtime.azure.resources(SUB),
            runtime.azure.graph,
        ):
            client.close()


@pytest.fixture(name="dr_chat")
def dr_chat_fixture(dr_bot: BotHandle, slack_sim: SlackSim) -> Chat:
    return Chat(dr_bot.url, slack_sim, dr_bot.signing_secret)


def wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    return wait_until(predicate, timeout)


def job_ids(store: Any) -> set[int]:
    return {int(j["id"]) for j in jobs.recent_jobs(store)}


def new_job(store: Any, before: set[int], timeout: float = 10.0) -> dict[str, Any]:
    found = wait(lambda: [j for j in jobs.recent_jobs(store) if j["id"] not in before], timeout)
    return dict(found[0])


def finished(store: Any, job_id: int, timeout: float = 20.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = jobs.get_job(store, job_id)
        return job if job and job["status"] in jobs.TERMINAL else None

    try:
        return dict(wait(done, timeout))
    except AssertionError:
        raise AssertionError(
            f"job {job_id} did not finish: {jobs.get_job(store, job_id)} "
            f"steps {jobs.get_steps(store, job_id)}"
        ) from None


def approve(chat: Chat, store: Any, job_id: int, user: str = LEAD) -> None:
    """Press Approve on job ``job_id``'s card once it is posted and bound to the approval."""

    def card() -> bool:
        rows = list(
            store.db.query(
                "select message_ts from approvals where job_id = ? and status = 'pending'", [job_id]
            )
        )
        if not rows or not rows[0]["message_ts"]:
            return False
        try:
            message, block_id, _button, _eph = chat.find_button("Approve", user, chat.channel)
        except LookupError:
            return False
        return block_id == f"job:{job_id}" and message["ts"] == rows[0]["message_ts"]

    wait(card)
    resp = chat.click("Approve", user=user)
    assert resp.status == 200
    wait(lambda: (jobs.get_job(store, job_id) or {}).get("status") != jobs.AWAITING)


def run_command(chat: Chat, bot: BotHandle, line: str, *, approver: str | None = LEAD) -> dict[str, Any]:
    """Type ``line`` as the operator, approve it when it waits for approval, return the finished job."""
    store = bot.runtime.store
    before = job_ids(store)
    assert chat.slash(line, user=OPS).status == 200
    job = new_job(store, before)
    if job["status"] == jobs.AWAITING and approver is not None:
        approve(chat, store, int(job["id"]), approver)
    return finished(store, int(job["id"]))


def form_values(view: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Every input of an opened modal at its initial value (what a user who only clicks Submit sends)."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("type") != "input":
            continue
        action = element["action_id"]
        if "initial_option" in element:
            values[action] = element["initial_option"]["value"]
        elif element.get("initial_value") is not None:
            values[action] = element["initial_value"]
    values.update(overrides)
    return values


def open_form(chat: Chat, slack: SlackSim, line: str = "/avd scaleset create") -> dict[str, Any]:
    """Type the command and return the modal it opened."""
    before = len(slack.calls_to("views.open"))
    assert chat.slash(line, user=OPS).status == 200
    wait(lambda: len(slack.calls_to("views.open")) > before)
    return dict(slack.views[-1]["view"])


def submit_form(chat: Chat, view: dict[str, Any], **overrides: Any) -> Any:
    return chat.submit(form_values(view, **overrides), user=OPS, view=view)


def replicate(sim: AzureSim, region: str = "uksouth") -> None:
    """Add a replica with the SDK (test setup, not through the bot) and wait until it is Completed."""
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.05, retry_total=0)
    compute = clients.compute(SUB)
    current = compute.gallery_image_versions.get(*IMAGE).as_dict()
    targets = current["properties"]["publishingProfile"]["targetRegions"] + [{"name": region}]
    compute.gallery_image_versions.begin_update(
        *IMAGE, {"properties": {"publishingProfile": {"targetRegions": targets}}}
    ).result()  # type: ignore[call-overload]
    compute.close()

    def completed() -> bool:
        view = sim.image_version(*IMAGE)
        assert view is not None
        states = {s["region"]: s["state"] for s in view["properties"]["replicationStatus"]["summary"]}
        return states.get("UK South") == "Completed"

    wait(completed)


def writes_since(sim: AzureSim, mark: int) -> list[Any]:
    """Changing requests after journal position ``mark`` (polls and control calls excluded)."""
    return [
        e
        for e in sim.journal[mark:]
        if e.method in WRITE_METHODS
        and not e.path.startswith("/_sim")
        and "/operations/" not in e.path.lower()
    ]
