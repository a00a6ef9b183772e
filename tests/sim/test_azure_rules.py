"""Rules of docs/simulator.md's table that had no simulator test: each one refused (or shown) through the real SDK."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.kit.azure import GOLD, IMAGE, SUB, SUB2, raw, running

POOL = ("AVD", "EntraAuth")
TOKEN = {"Authorization": "Bearer sandbox"}


def _targets(**region: Any) -> dict[str, Any]:
    return {"properties": {"publishingProfile": {"targetRegions": [{"name": "westeurope"}, region]}}}


@pytest.mark.parametrize(
    "region",
    [
        {"name": "uksouth", "regionalReplicaCount": 0},
        {"name": "uksouth", "regionalReplicaCount": 101},
        {"name": "uksouth", "storageAccountType": "Premium_ZRS"},
    ],
    ids=["count-0", "count-101", "unknown-storage-type"],
)
def test_a_target_region_needs_a_valid_count_and_storage_type(region: dict[str, Any]) -> None:
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.compute(SUB).gallery_image_versions.begin_update(*IMAGE, _targets(**region))
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "InvalidParameter"


def test_a_version_delete_is_a_long_running_operation() -> None:
    with running() as (sim, clients):
        versions = clients.compute(SUB).gallery_image_versions
        versions.begin_delete(*IMAGE).result()
        with pytest.raises(ResourceNotFoundError):
            versions.get(*IMAGE)
        assert [e.status for e in sim.writes("/versions/")] == [202]


def test_import_needs_a_source_uri_and_a_storage_account() -> None:
    body = {
        "location": "uksouth",
        "properties": {
            "creationData": {"createOption": "Import", "sourceUri": "https://x.blob.core.windows.net/c/b.vhd"}
        },
    }
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.compute(SUB2).snapshots.begin_create_or_update("SNAPDR", "imported", body)
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "InvalidParameter"


def test_a_copy_whose_source_is_deleted_reports_copy_source_not_found() -> None:
    source = f"{GOLD}/snapshots/snap-gold-os-20260522"
    body = {
        "location": "uksouth",
        "properties": {
            "incremental": True,
            "creationData": {"createOption": "CopyStart", "sourceResourceId": source},
        },
    }
    with running(time_scale=1.0, poll_retry_after=None) as (sim, clients):
        target = clients.compute(SUB2).snapshots
        poller = target.begin_create_or_update("SNAPDR", "copy", body)
        sim.clock.advance(45)
        poller.result()
        deleting = clients.compute(SUB).snapshots.begin_delete("GOLD-VDA", "snap-gold-os-20260522")
        sim.clock.advance(60)
        deleting.result()
        sim.clock.advance(1200)
        copy = target.get("SNAPDR", "copy")
    assert copy.copy_completion_error is not None
    assert copy.copy_completion_error.error_code == "CopySourceNotFound"
    assert copy.completion_percent is None or copy.completion_percent < 100


def test_a_tags_patch_replaces_the_whole_map() -> None:
    with running() as (_, clients):
        snapshots = clients.compute(SUB).snapshots
        snapshots.begin_update("GOLD-VDA", "snap-gold-manual", {"tags": {"a": "1", "b": "2"}}).result()
        snapshots.begin_update("GOLD-VDA", "snap-gold-manual", {"tags": {"c": "3"}}).result()
        assert snapshots.get("GOLD-VDA", "snap-gold-manual").tags == {"c": "3"}


def test_a_session_host_with_sessions_is_deleted_only_with_force() -> None:
    with running() as (_, clients):
        avd = clients.avd(SUB)
        busy = next(h for h in avd.session_hosts.list(*POOL) if h.sessions)
        name = busy.name.split("/")[-1]
        with pytest.raises(HttpResponseError) as err:
            avd.session_hosts.delete(*POOL, name)
        assert err.value.status_code == 400
        avd.session_hosts.delete(*POOL, name, force=True)
        assert name not in {h.name.split("/")[-1] for h in avd.session_hosts.list(*POOL)}


def test_resource_skus_report_a_size_restricted_outside_its_regions() -> None:
    with running() as (_, clients):
        skus = clients.compute(SUB).resource_skus

        def restrictions(location: str) -> list[Any]:
            found = [
                s
                for s in skus.list(filter=f"location eq '{location}'")
                if s.name == "Standard_NV36ads_A10_v5"
            ]
            assert len(found) == 1
            return list(found[0].restrictions or [])

        blocked = restrictions("uksouth")
        assert [(r.type, r.reason_code) for r in blocked] == [("Location", "NotAvailableForSubscription")]
        assert restrictions("westeurope") == []


def _dr_body(
    size: str = "Standard_D4s_v5", subnet_rg: str = "INFRADR", vnet: str = "vnet-avd-uks"
) -> dict[str, Any]:
    """The seed's DR scale set (``scenarios.prepare_dr``'s body) with another size or subnet."""
    from sim.azure import scenarios

    body = scenarios._dr_scale_set_body()  # noqa: SLF001 - the seed's own body
    body["sku"]["name"] = size
    nic = body["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]
    nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = (
        f"/subscriptions/{SUB}/resourceGroups/{subnet_rg}/providers/Microsoft.Network/virtualNetworks/{vnet}"
        "/subnets/snet-avd"
    )
    return body


RG_AVDDR = f"/subscriptions/{SUB}/resourceGroups/AVDDR"


def _put_dr(clients: Any, body: dict[str, Any]) -> Any:
    return clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update("VMSSDR", "EntraDR", body)


@pytest.mark.parametrize(
    ("size", "subnet_rg", "vnet", "status", "code", "says"),
    [
        (
            "Standard_NV36ads_A10_v5",
            "INFRADR",
            "vnet-avd-uks",
            409,
            "SkuNotAvailable",
            "not available in location 'uksouth'",
        ),
        (
            "Standard_D4s_v5",
            "INFRA",
            "vnet-avd-weu",
            400,
            "InvalidResourceReference",
            "both resources are in the same region",
        ),
    ],
    ids=["restricted-size", "subnet-in-another-region"],
)
def test_a_scale_set_needs_a_size_offered_and_a_subnet_in_its_region(
    size: str, subnet_rg: str, vnet: str, status: int, code: str, says: str
) -> None:
    with running() as (sim, clients):
        sim_scenarios_replica(sim)
        with pytest.raises(HttpResponseError) as err:
            _put_dr(clients, _dr_body(size, subnet_rg, vnet))
        assert (err.value.status_code, err.value.error.code) == (status, code)  # type: ignore[union-attr]
        assert says in str(err.value.message)
        assert (
            sim.store.get(
                f"/subscriptions/{SUB}/resourceGroups/VMSSDR/providers/Microsoft.Compute/virtualMachineScaleSets/EntraDR"
            )
            is None
        )
        _put_dr(clients, _dr_body()).result()  # the same body with an offered size and the DR subnet
        assert sim.scale_set("VMSSDR", "EntraDR") is not None


def sim_scenarios_replica(sim: Any) -> None:
    """The uksouth replica and the DR identity (what the DR scale set's PUT also needs)."""
    from sim.azure import scenarios
    from sim.azure.providers import msi

    with sim.lock:
        scenarios._replicate(sim, scenarios.VERSION_ID, "uksouth")  # noqa: SLF001 - seed helper
        msi.make_identity(sim, scenarios.DR_IDENTITY_ID, "uksouth")


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("AvdStg", 400, "AccountNameInvalid"),
        ("ab", 400, "AccountNameInvalid"),
        ("avdstgtaken", 409, "StorageAccountAlreadyTaken"),
    ],
)
def test_storage_account_names_are_short_lower_case_and_unique_across_azure(
    name: str, status: int, code: str
) -> None:
    put = "?api-version=2023-05-01"
    with running() as (sim, _):
        taken = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Storage/storageAccounts/avdstgtaken"
        assert raw(sim.url, sim.ca_path, "PUT", taken + put, {"location": "westeurope"}, TOKEN)[0] == 200
        account = (
            f"/subscriptions/{SUB2}/resourceGroups/SNAPDR/providers/Microsoft.Storage/storageAccounts/{name}"
        )
        got, _, body = raw(sim.url, sim.ca_path, "PUT", account + put, {"location": "uksouth"}, TOKEN)
    assert (got, body["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("lifetime", "accepted"),
    [
        (timedelta(minutes=30), False),
        (timedelta(minutes=59), False),
        (timedelta(hours=1, minutes=1), True),
        (timedelta(days=29), True),
        (timedelta(days=30, hours=1), False),
        (timedelta(days=31), False),
    ],
    ids=["30m", "59m", "1h01", "29d", "30d1h", "31d"],
)
def test_a_registration_token_lives_one_hour_to_thirty_days(lifetime: timedelta, accepted: bool) -> None:
    expires = (datetime.now(UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "properties": {
            "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"}
        }
    }
    with running() as (_, clients):
        pools = clients.avd(SUB).host_pools
        if accepted:
            assert pools.update("AVDDR", "EntraAuthDR", body).registration_info.token
            return
        with pytest.raises(HttpResponseError) as err:
            pools.update("AVDDR", "EntraAuthDR", body)
        assert err.value.status_code == 400
        assert "ExpirationTime value must be between one hour and 30 days from now" in str(err.value.message)
        assert pools.retrieve_registration_token("AVDDR", "EntraAuthDR").token is None


def test_the_product_asks_for_a_token_lifetime_azure_accepts() -> None:
    from azureops import hostpools

    assert timedelta(hours=1) < hostpools.TOKEN_MIN_LEFT <= hostpools.TOKEN_LIFETIME <= timedelta(days=30)


@pytest.mark.parametrize("expired", [False, True], ids=["current-token", "expired-token"])
def test_an_expired_registration_token_registers_no_host(expired: bool) -> None:
    with running() as (sim, clients):
        sim_scenarios_replica(sim)
        expires = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        token = (
            clients.avd(SUB)
            .host_pools.update(
                "AVDDR",
                "EntraAuthDR",
                {
                    "properties": {
                        "registrationInfo": {
                            "expirationTime": expires,
                            "registrationTokenOperation": "Update",
                        }
                    }
                },
            )
            .registration_info.token
        )
        body = _dr_body()
        body["tags"] = {}  # registration through the AVD DSC extension and its token only
        body["properties"]["virtualMachineProfile"]["extensionProfile"] = {
            "extensions": [
                {
                    "name": "AVD-DSC",
                    "properties": {
                        "publisher": "Microsoft.Powershell",
                        "type": "DSC",
                        "typeHandlerVersion": "2.73",
                        "settings": {"properties": {"hostPoolName": "EntraAuthDR", "aadJoin": True}},
                        "protectedSettings": {"properties": {"registrationInfoToken": token}},
                    },
                }
            ]
        }
        _put_dr(clients, body).result()
        if expired:  # the token's lifetime has passed (Azure's clock; the double checks wall-clock time)
            with sim.lock:
                pool = sim.store.get(
                    f"{RG_AVDDR}/providers/Microsoft.DesktopVirtualization/hostPools/EntraAuthDR"
                )
                pool["_sim"]["registration"]["expires"] = time.time() - 1
        clients.compute(SUB).virtual_machine_scale_sets.begin_update(
            "VMSSDR", "EntraDR", {"sku": {"capacity": 1}}
        ).result()
        sim.clock.advance(600)
        hosts = sim.session_hosts("AVDDR", "EntraAuthDR")
        assert len(hosts) == (0 if expired else 1)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda b: b["sku"].update(capacity=1001), "must be between 0 and 1000"),
        (lambda b: b["properties"].pop("platformFaultDomainCount"), "platformFaultDomainCount"),
        (lambda b: b["properties"].update(singlePlacementGroup=True), "singlePlacementGroup must be false"),
    ],
    ids=["capacity-1001", "no-fault-domain-count", "single-placement-group"],
)
def test_a_flexible_scale_set_needs_its_fault_domains_and_at_most_1000_instances(
    change: Any, says: str
) -> None:
    with running() as (sim, clients):
        sim_scenarios_replica(sim)
        body = _dr_body()
        change(body)
        with pytest.raises(HttpResponseError) as err:
            _put_dr(clients, body)
        assert (err.value.status_code, err.value.error.code) == (400, "InvalidParameter")  # type: ignore[union-attr]
        assert says in str(err.value.message)
        assert sim.scale_set("VMSSDR", "EntraDR") is None


def test_a_versions_own_region_cannot_leave_its_target_regions() -> None:
    with running() as (_, clients):
        versions = clients.compute(SUB).gallery_image_versions
        only_uk = {  # the seed locks replicated locations: unlocked in the same request, which is allowed
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "uksouth"}]},
                "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
            }
        }
        with pytest.raises(HttpResponseError) as err:
            versions.begin_update("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719", only_uk)
        assert (err.value.status_code, err.value.error.code) == (400, "InvalidParameter")  # type: ignore[union-attr]
        assert "must include the gallery image version's location" in str(err.value.message)
