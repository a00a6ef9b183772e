"""A missing host pool: AVD answers 404 ``hostPoolDoesNotExist`` ("Host Pool Does Not Exist", spec example
``HostPool_Get``); the product says which pool and resource group, and what to do about it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from avdcore.errors import AzureNotFound
from azureops import hostpools
from tests.kit.azure import SUB, running


def test_a_missing_host_pool_is_named_with_its_group_and_the_fix() -> None:
    with running() as (_, clients):
        with pytest.raises(AzureNotFound) as listing:
            hostpools.session_hosts(clients, SUB, "AVDDR", "NopeDR")
        with pytest.raises(AzureNotFound) as token:
            hostpools.registration_token(clients, SUB, "AVDDR", "NopeDR", datetime.now(UTC))
    for err in (listing.value, token.value):
        assert err.code == "hostPoolDoesNotExist"
        assert err.status == 404
        assert err.message.startswith("host pool NopeDR does not exist in resource group AVDDR")
        assert "create host pool NopeDR in AVDDR or fix host_pool" in err.next_step
        assert err.resource_id.endswith("/hostPools/NopeDR")


def test_reading_a_missing_host_pool_names_it_for_a_failover_probe_too() -> None:
    with running() as (_, clients), pytest.raises(AzureNotFound) as err:
        hostpools.get_host_pool(clients, SUB, "AVDDR", "NopeDR", config_hint=False)
    assert "host pool NopeDR does not exist in resource group AVDDR" in str(err.value)
    assert "create host pool NopeDR in AVDDR" in str(err.value)
