"""The DR identity chain's world: the seed plus the DR identity, the uksouth replica and the links a test asks
for (AVD-Join's federated credential for AVDManage, AVD-Join's service principal holding Desktop Virtualization
Host Pool Contributor on AVDDR). The seed already holds the role (its RBAC table): a test that wants the role
link missing leaves "role" out of ``links`` and ``add_links`` removes the seeded assignment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from azureops import scaleset_spec
from azureops.clients import AzureClients
from sim.azure import AzureSim, seed
from sim.azure.providers import graph
from tests.kit.azure import SUB, VERSION_ID, running

JOIN_APP = seed.JOIN_APP
JOIN_SP = seed.JOIN_SP
HOST_POOL_CONTRIBUTOR = seed.HOST_POOL_CONTRIBUTOR
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
AVDDR = f"/subscriptions/{SUB}/resourceGroups/AVDDR"
SUBNET = (
    f"/subscriptions/{SUB}/resourceGroups/INFRADR/providers/Microsoft.Network/virtualNetworks/vnet-avd-uks/"
    "subnets/snet-avd"
)
UAMI = f"/subscriptions/{SUB}/resourceGroups/VMSSDR/providers/Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage"
ALL_LINKS = ("credential", "role")


def spec(app_id: str, pool: str = "EntraAuthDR", capacity: int = 1) -> scaleset_spec.ScaleSetSpec:
    return scaleset_spec.ScaleSetSpec(
        subscription=SUB,
        resource_group="VMSSDR",
        name="EntraDR",
        location="uksouth",
        image_id=VERSION_ID,
        vm_size="Standard_D4s_v5",
        subnet_id=SUBNET,
        capacity=capacity,
        join_type="entra",
        identity_id=UAMI,
        host_pool=pool,
        host_pool_resource_group="AVDDR",
        join_app_id=app_id,
    )


def issue_token(clients: AzureClients, hours: float = 2) -> str:
    """A fresh registration token of EntraAuthDR (replacing the current one), as the bot fetches it."""
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pool = clients.avd(SUB).host_pools.update(
        "AVDDR",
        "EntraAuthDR",
        {
            "properties": {
                "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"}
            }
        },
    )
    return str(pool.registration_info.token)


def remove_role(sim: AzureSim, resource_group: str = "AVDDR") -> None:
    """Take away AVD-Join's seeded Host Pool Contributor assignment on ``resource_group``."""
    with sim.lock:
        assert sim.store.get(seed.join_role_id(resource_group)) is not None, "the seed holds the role"
        sim.store.delete(seed.join_role_id(resource_group))


def add_links(sim: AzureSim, principal_id: str, links: tuple[str, ...] = ALL_LINKS) -> str:
    """The links named in ``links`` on top of the seed (whose AVD-Join service principal already holds the role
    on AVDDR: without "role" it is removed); returns AVD-Join's application id."""
    app_id = str(sim.graph[JOIN_APP]["appId"])
    assert sim.graph[JOIN_SP.lower()]["appId"] == app_id, "the seed's AVD-Join service principal"
    if "credential" in links:
        issuer = f"https://login.microsoftonline.com/{sim.tenant_id}/v2.0"
        graph.add_credential(sim, JOIN_APP, "AVDManage-uksouth", issuer, principal_id)
    if "role" not in links:
        remove_role(sim)
    return app_id


def prepare(clients: AzureClients) -> str:
    """The DR identity and the uksouth replica; returns the identity's principal id."""
    found = clients.msi(SUB).user_assigned_identities.create_or_update(
        "VMSSDR", "AVDManage", {"location": "uksouth"}
    )
    regions = {
        "properties": {"publishingProfile": {"targetRegions": [{"name": "westeurope"}, {"name": "uksouth"}]}}
    }
    clients.compute(SUB).gallery_image_versions.begin_update(
        "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719", regions
    ).result()
    return str(found.principal_id)


@contextmanager
def dr_site(links: tuple[str, ...] = ALL_LINKS) -> Iterator[tuple[AzureSim, AzureClients, str]]:
    """A running seeded simulator with the DR identity, the replica and ``links``; yields AVD-Join's app id."""
    with running() as (sim, clients):
        yield sim, clients, add_links(sim, prepare(clients), links)


def create_scale_set(
    clients: AzureClients, body_spec: scaleset_spec.ScaleSetSpec, token: str, change: Any = None
) -> None:
    body = scaleset_spec.scale_set_body(body_spec, token=token, admin_password="Av1!pw", domain_password=None)
    if change:
        change(body)
    clients.compute(SUB).virtual_machine_scale_sets.begin_create_or_update("VMSSDR", "EntraDR", body).result()


def instances(sim: AzureSim, clients: AzureClients) -> list[Any]:
    """The DR instances with their instance view, once booted and registered (virtual time)."""
    compute = clients.compute(SUB)
    sim.clock.advance(600)
    return [
        compute.virtual_machines.get("VMSSDR", vm.name, expand="instanceView")
        for vm in compute.virtual_machines.list("VMSSDR")
    ]
