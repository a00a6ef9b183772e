"""ARM mechanics through the real SDK: api-version, auth, paging, throttling, request ids, control endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from azure.core.exceptions import HttpResponseError

from sim.azure import AzureSim
from tests.kit.azure import SUB, raw, running

SNAPS = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots"
BEARER = {"Authorization": "Bearer x"}


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "MissingApiVersionParameter"),
        ("?api-version=2099-01-01", 400, "InvalidApiVersionParameter"),
        ("?api-version=2026-03-02", 200, None),
        ("?api-version=2025-01-02", 200, None),
    ],
)
def test_api_version_is_required_and_checked(query: str, status: int, code: str | None) -> None:
    with running() as (sim, _):
        got, _, body = raw(sim.url, sim.ca_path, "GET", SNAPS + query, headers=BEARER)
    assert got == status
    if code:
        assert body["error"]["code"] == code


def test_missing_bearer_is_401_and_paths_are_case_insensitive() -> None:
    with running() as (sim, _):
        status, _, body = raw(sim.url, sim.ca_path, "GET", SNAPS + "?api-version=2026-03-02")
        assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
        status, headers, body = raw(
            sim.url,
            sim.ca_path,
            "GET",
            SNAPS.upper().replace("SUBSCRIPTIONS", "subscriptions") + "?api-version=2026-03-02",
            headers={**BEARER, "x-ms-client-request-id": "abc"},
        )
    assert status == 200 and len(body["value"]) == 5
    assert headers["x-ms-client-request-id"] == "abc"
    assert headers["x-ms-request-id"] and headers["x-ms-correlation-request-id"]
    assert int(headers["x-ms-ratelimit-remaining-subscription-reads"]) > 0


def test_paging_follows_next_links_across_three_pages() -> None:
    with running(page_size=2) as (sim, clients):
        names = [s.name for s in clients.compute(SUB).snapshots.list_by_resource_group("GOLD-VDA")]
        pages = [e for e in sim.journal if e.path.lower().endswith("/snapshots") and e.method == "GET"]
    assert len(names) == 5 and len(set(names)) == 5
    assert len(pages) == 3
    assert all(e.query["api-version"] == "2026-03-02" for e in pages)


def test_session_host_paging_honours_page_size() -> None:
    with running() as (sim, clients):
        hosts = list(clients.avd(SUB).session_hosts.list("AVD", "EntraAuth", page_size=1))
        calls = [e for e in sim.journal if e.path.lower().endswith("/sessionhosts")]
    assert len(hosts) == 2 and len(calls) == 2


def test_throttled_read_is_retried_after_retry_after() -> None:
    with running(throttle={"reads": (2, 1.0)}, retry_total=2) as (sim, clients):
        compute = clients.compute(SUB)
        compute.snapshots.get("GOLD-VDA", "snap-gold-manual")
        compute.snapshots.get("GOLD-VDA", "snap-gold-manual")
        started = time.monotonic()
        snap = compute.snapshots.get("GOLD-VDA", "snap-gold-manual")
        waited = time.monotonic() - started
        statuses = [e.status for e in sim.journal]
    assert snap.name == "snap-gold-manual"
    assert statuses[-2:] == [429, 200]
    assert waited >= 0.9


def test_throttled_answer_carries_code_and_retry_after() -> None:
    with running(throttle={"writes": (1, 0.01)}) as (sim, clients):
        msi = clients.msi(SUB)
        msi.user_assigned_identities.create_or_update("VMSSDR", "AVDManage", {"location": "uksouth"})
        with pytest.raises(HttpResponseError) as err:
            msi.user_assigned_identities.create_or_update("VMSSDR", "Other", {"location": "uksouth"})
    assert err.value.status_code == 429
    assert err.value.error is not None and err.value.error.code == "SubscriptionRequestsThrottled"
    assert int(err.value.response.headers["Retry-After"]) >= 1


def test_injected_error_without_retry_after_is_not_retried() -> None:
    with running(retry_total=3) as (sim, clients):
        sim.faults.fail("GET", r"/hostPools/EntraAuth$", status=409, code="Conflict", message="busy")
        with pytest.raises(HttpResponseError) as err:
            clients.avd(SUB).host_pools.get("AVD", "EntraAuth")
        assert err.value.error is not None and err.value.error.code == "Conflict"
        assert clients.avd(SUB).host_pools.get("AVD", "EntraAuth").name == "EntraAuth"


def test_save_and_load_keep_resources_and_time(tmp_path: pytest.TempPathFactory) -> None:
    path = str(tmp_path) + "/state.json"  # type: ignore[operator]
    sim = AzureSim(time_scale=1.0)
    sim.clock.advance(3600)
    before = sim.clock.seconds()
    sim.save(path)
    again = AzureSim.load(path)
    assert again.clock.seconds() >= before
    assert again.host_pool("AVD", "EntraAuth") == sim.host_pool("AVD", "EntraAuth")
    assert len(again.user_sessions("AVD", "EntraAuth")) == 3


def test_control_endpoint_injects_fault_from_another_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sim.azure import main; main(['--time-scale', '6000'])"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        url, ca = ready["url"], ready["ca"]
        rule = {
            "kind": "error",
            "method": "GET",
            "path": "/hostPools/EntraAuth$",
            "status": 503,
            "code": "ServiceUnavailable",
            "message": "injected",
        }
        status, _, body = raw(url, ca, "POST", "/_sim/faults", rule)
        assert status == 201 and body["count"] == 1
        from azureops.clients import AzureClients

        avd = AzureClients(url, ca, polling_interval=0.01, retry_total=0).avd(SUB)
        with pytest.raises(HttpResponseError) as err:
            avd.host_pools.get("AVD", "EntraAuth")
        assert err.value.status_code == 503
        assert avd.host_pools.get("AVD", "EntraAuth").name == "EntraAuth"
        _, _, journal = raw(url, ca, "GET", "/_sim/journal")
        assert [e["status"] for e in journal["value"] if "hostPools" in e["path"]] == [503, 200]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_reset_fault_drops_the_connection() -> None:
    from azure.core.exceptions import ServiceResponseError

    with running() as (sim, clients):
        sim.faults.reset("GET", "/hostPools/EntraAuth$")
        with pytest.raises(ServiceResponseError):
            clients.avd(SUB).host_pools.get("AVD", "EntraAuth")
        assert [e.status for e in sim.journal] == [0]


def test_partitioned_region_answers_503_until_healed() -> None:
    with running() as (sim, clients):
        sim.faults.partition("UK South", mode="503")
        with pytest.raises(HttpResponseError) as err:
            clients.avd(SUB).host_pools.get("AVDDR", "EntraAuthDR")
        assert err.value.status_code == 503
        assert clients.avd(SUB).host_pools.get("AVD", "EntraAuth").location == "westeurope"
        sim.faults.heal("uksouth")
        assert clients.avd(SUB).host_pools.get("AVDDR", "EntraAuthDR").name == "EntraAuthDR"


def test_dr_ready_scenario_is_the_seed_with_its_secondary_site_built() -> None:
    sim = AzureSim(scenario="dr-ready", time_scale=6000)
    version = sim.image_version("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
    assert version is not None and version.provisioning_state == "Succeeded"
    assert {s["region"]: s["state"] for s in version.replication_status["summary"]} == {
        "West Europe": "Completed",
        "UK South": "Completed",
    }
    dr = sim.scale_set("VMSSDR", "EntraDR")
    assert dr is not None and (dr.capacity, dr.provisioning_state, dr.location) == (0, "succeeded", "uksouth")
    assert dr.tags["AVD-HostPool"].endswith("/hostPools/EntraAuthDR")
    identity = sim.resource(next(iter(dr.identity["userAssignedIdentities"])))
    assert identity is not None and identity["name"] == "AVDManage" and identity["location"] == "uksouth"
    assert sim.writes() == []  # set directly, not through ARM
    with pytest.raises(ValueError, match="unknown scenario 'dr'"):
        AzureSim(scenario="dr")
