"""The ASR double returns only what the SDK models of its api-version declare (no simulator conventions): the
recovery plan, its groups and current scenario, the replication protected items and the jobs, before and
after a failover."""

from __future__ import annotations

from typing import Any

from azure.mgmt.recoveryservicessiterecovery import models

from azureops import asr
from azureops.clients import AzureClients
from tests.kit.failover import SUB, make_sim

VAULT = f"/subscriptions/{SUB}/resourceGroups/ASRDR/providers/Microsoft.RecoveryServices/vaults/avd-asr"
REF = asr.RecoveryPlanRef(SUB, "ASRDR", "avd-asr", "avd-personal")


def declared(model: type[Any]) -> set[str]:
    return {field._rest_name for field in model()._attr_to_rest_field.values()}


def undeclared(doc: dict[str, Any], model: type[Any]) -> set[str]:
    return {k for k in doc if k not in declared(model)}


def check(sim: Any) -> None:
    plan = sim.resource(f"{VAULT}/replicationRecoveryPlans/avd-personal")
    assert not undeclared(plan, models.RecoveryPlan)
    props = plan["properties"]
    assert not undeclared(props, models.RecoveryPlanProperties)
    for group in props["groups"]:
        assert not undeclared(group, models.RecoveryPlanGroup)
        for ref in group["replicationProtectedItems"]:
            assert not undeclared(ref, models.RecoveryPlanProtectedItem)
            item = sim.resource(ref["id"])
            assert not undeclared(item, models.ReplicationProtectedItem)
            assert not undeclared(item["properties"], models.ReplicationProtectedItemProperties)
            if "currentScenario" in item["properties"]:
                assert not undeclared(item["properties"]["currentScenario"], models.CurrentScenarioDetails)
    if props.get("currentScenario"):
        assert not undeclared(props["currentScenario"], models.CurrentScenarioDetails)
        job = sim.resource(props["currentScenario"]["jobId"])
        assert not undeclared(job["properties"], models.JobProperties)


def test_asr_replies_hold_only_fields_the_sdk_models_declare() -> None:
    sim = make_sim(6000)
    clients = AzureClients(sim.url, sim.ca_path, polling_interval=0.02)
    try:
        check(sim)
        asr.begin_failover(clients, REF, asr.PRIMARY_TO_RECOVERY, planned=False).result()
        check(sim)
        items = asr.client(clients, SUB).replication_protected_items.list("ASRDR", "avd-asr")
        assert [i.properties.active_location for i in items] == ["Recovery"]
    finally:
        asr.client(clients, SUB).close()
        sim.stop()
