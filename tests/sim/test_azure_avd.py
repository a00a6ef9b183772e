"""AVD, management locks, identities and the Graph double through the real clients."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from tests.kit.azure import GOLD, SUB, running

SNAP = f"{GOLD}/snapshots/snap-gold-os-20260522"
GOLD_RG = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA"
JOIN_APP = "11111111-2222-3333-4444-555555555555"


def test_log_off_drain_and_message_update_the_host_pool() -> None:
    with running() as (sim, clients):
        avd = clients.avd(SUB)
        host = next(iter(avd.session_hosts.list("AVD", "EntraAuth")))
        host_name = host.name.split("/", 1)[1]
        assert host.sessions == 2 and host.status == "Available"
        avd.session_hosts.update(
            "AVD", "EntraAuth", host_name, session_host={"properties": {"allowNewSession": False}}
        )
        users = list(avd.user_sessions.list("AVD", "EntraAuth", host_name))
        session_id = users[0].id.rsplit("/", 1)[1]
        avd.user_sessions.send_message(
            "AVD",
            "EntraAuth",
            host_name,
            session_id,
            send_message={"messageTitle": "AVD failover", "messageBody": "bye"},
        )
        avd.user_sessions.delete("AVD", "EntraAuth", host_name, session_id, force=True)
        after = avd.session_hosts.get("AVD", "EntraAuth", host_name)
        assert after.sessions == 1 and after.allow_new_session is False
        assert len(list(avd.user_sessions.list_by_host_pool("AVD", "EntraAuth"))) == 2
        assert sim.messages[0]["title"] == "AVD failover"
        assert len(sim.user_sessions("AVD", "EntraAuth")) == 2


def test_registration_token_and_scaling_plan_reference() -> None:
    from datetime import UTC, datetime, timedelta

    with running() as (_, clients):
        avd = clients.avd(SUB)
        expires = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
        avd.host_pools.update(
            "AVDDR",
            "EntraAuthDR",
            host_pool={
                "properties": {
                    "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"}
                }
            },
        )
        token = avd.host_pools.retrieve_registration_token("AVDDR", "EntraAuthDR")
        plans = list(avd.scaling_plans.list_by_host_pool("AVD", "EntraAuth"))
    assert token.token and token.expiration_time is not None
    assert plans[0].host_pool_references[0].scaling_plan_enabled is True


def test_missing_host_pool_uses_the_avd_error_code() -> None:
    with running() as (_, clients), pytest.raises(HttpResponseError) as err:
        clients.avd(SUB).host_pools.get("AVD", "Nope")
    assert err.value.status_code == 404
    assert err.value.error is not None and err.value.error.code == "hostPoolDoesNotExist"


def test_locks_refuse_delete_and_readonly_refuses_writes_on_children() -> None:
    with running() as (sim, clients):
        locks = clients.locks(SUB).management_locks
        compute = clients.compute(SUB)
        locks.create_or_update_by_scope(SNAP, "keep", {"level": "CanNotDelete", "notes": "gold"})
        with pytest.raises(ResourceExistsError) as err:
            compute.snapshots.begin_delete("GOLD-VDA", "snap-gold-os-20260522")
        assert err.value.error is not None and err.value.error.code == "ScopeLocked"
        assert err.value.error.message == (
            f"The scope '{SNAP}' cannot perform delete operation because following scope(s) are locked: "
            f"'{SNAP}'. Please remove the lock and try again."
        )
        compute.snapshots.begin_update("GOLD-VDA", "snap-gold-os-20260522", {"tags": {"a": "b"}}).result()
        locks.create_or_update_at_resource_group_level("GOLD-VDA", "freeze", {"level": "ReadOnly"})
        with pytest.raises(ResourceExistsError) as err:
            compute.snapshots.begin_grant_access(
                "GOLD-VDA", "snap-gold-manual", {"access": "Read", "durationInSeconds": 60}
            )
        assert "write operation" in err.value.error.message and GOLD_RG in err.value.error.message
        found = {lk.name for lk in locks.list_by_scope(SNAP)}
        assert found == {"keep", "freeze"}
        locks.delete_at_resource_group_level("GOLD-VDA", "freeze")
        locks.delete_by_scope(SNAP, "keep")
        compute.snapshots.begin_delete("GOLD-VDA", "snap-gold-os-20260522").result()
        assert sim.resource(SNAP) is None


def test_identity_and_graph_federated_credentials_with_the_limit() -> None:
    with running() as (_, clients):
        ident = clients.msi(SUB).user_assigned_identities.create_or_update(
            "VMSSDR", "AVDManage", {"location": "uksouth"}
        )
        assert (
            ident.principal_id
            and ident.client_id
            and ident.tenant_id == "00000000-0000-0000-0000-0000000000aa"
        )
        graph = clients.graph
        issuer = "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0"
        created = graph.create_federated_credential(JOIN_APP, "AVDManage-uksouth", issuer, ident.principal_id)
        assert created["subject"] == ident.principal_id
        for n in range(18):
            graph.create_federated_credential(JOIN_APP, f"extra-{n}", issuer, f"subject-{n}")
        assert len(graph.list_federated_credentials(JOIN_APP)) == 20
        with pytest.raises(HttpResponseError) as err:
            graph.create_federated_credential(JOIN_APP, "one-too-many", issuer, "subject-x")
        assert err.value.status_code == 400 and "20" in str(err.value.message)
        graph.delete_federated_credential(JOIN_APP, "extra-0")
        assert len(graph.list_federated_credentials(JOIN_APP)) == 19


def test_permissions_restrict_the_principal() -> None:
    with running() as (sim, clients):
        sim.set_permissions(["*/read"])
        with pytest.raises(HttpResponseError) as err:
            clients.compute(SUB).snapshots.begin_update("GOLD-VDA", "snap-gold-manual", {"tags": {}})
        assert err.value.status_code == 403
        assert err.value.error is not None and err.value.error.code == "AuthorizationFailed"
        assert "Microsoft.Compute/snapshots/write" in err.value.error.message
        assert clients.compute(SUB).snapshots.get("GOLD-VDA", "snap-gold-manual").name == "snap-gold-manual"
