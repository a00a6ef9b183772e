"""``/avd doctor`` and ``/avd status`` check each link of the DR identity chain and name the fix of a missing one:
the real bot over signed HTTP against the simulator, whose instance view names the same link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azureops.clients import AzureClients
from sim.azure import AzureSim
from sim.azure.providers import graph, roleassignments
from tests.kit import Chat
from tests.kit.joinchain import (
    AVDDR,
    HOST_POOL_CONTRIBUTOR,
    JOIN_SP,
    add_links,
    create_scale_set,
    issue_token,
    prepare,
    spec,
)
from tests.kit.scale import OPS, dr_azure_fixture, dr_bot_fixture, dr_chat_fixture  # noqa: F401 - fixtures

ROLE_FIX = (
    f"az role assignment create --assignee-object-id {JOIN_SP} --assignee-principal-type ServicePrincipal "
    f'--role "Desktop Virtualization Host Pool Contributor" --scope {AVDDR}'
)


def sections(said: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in said["blocks"] if b.get("type") == "section")


def doctor_text(chat: Chat) -> str:
    since = len(chat.ephemerals(OPS))
    chat.slash("/avd doctor", user=OPS)
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS)[since:] if "avd-ops doctor" in e["text"]])[
        -1
    ]
    return sections(said)


def status_text(chat: Chat) -> str:
    since = len(chat.ephemerals(OPS))
    chat.slash("/avd status", user=OPS)
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS)[since:] if "DR readiness" in e["text"]])[-1]
    return sections(said)


@pytest.fixture(name="built")
def built_fixture(dr_azure: AzureSim) -> Iterator[AzureSim]:
    """EntraDR built by the product's body, AVD-Join trusting AVDManage but holding no role on AVDDR (the seed's
    assignment removed)."""
    clients = AzureClients(dr_azure.url, dr_azure.ca_path, retry_total=0)
    try:
        app_id = add_links(dr_azure, prepare(clients), ("credential",))
        create_scale_set(clients, spec(app_id, capacity=0), token=issue_token(clients))
        yield dr_azure
    finally:
        clients.close()


def test_doctor_names_the_missing_role_then_every_link_holds(dr_chat: Chat, built: AzureSim) -> None:
    text = doctor_text(dr_chat)
    assert ":white_check_mark: DR chain (dr): identity AVDManage on scale set EntraDR" in text
    assert ":white_check_mark: DR chain (dr): federated credential of AVDManage on the join app" in text
    assert ":x: DR chain (dr): join app's role on AVDDR (retrieveRegistrationToken)" in text
    assert ROLE_FIX in text
    assert ":white_check_mark: DR chain (dr): registration token fallback of EntraAuthDR" in text
    roleassignments.make_assignment(
        built, AVDDR, JOIN_SP, HOST_POOL_CONTRIBUTOR, principal_type="ServicePrincipal"
    )
    again = doctor_text(dr_chat)
    assert (
        "DR chain (dr): join app's role on AVDDR (retrieveRegistrationToken): AVD-Join is Desktop " in again
    )
    assert ":x: DR chain" not in again


def test_status_line_names_the_first_missing_link_and_its_fix(dr_chat: Chat, built: AzureSim) -> None:
    text = status_text(dr_chat)
    assert "DR registration chain" in text
    assert "role: AVD-Join has no role on AVDDR that allows retrieveRegistrationToken" in text
    assert ROLE_FIX in text


def test_doctor_without_a_graph_read_role_says_the_role_was_not_checked(
    dr_chat: Chat, dr_azure: AzureSim
) -> None:
    graph.revoke_app_role(dr_azure, "Application.ReadWrite.OwnedBy")  # OwnedBy alone reads service principals
    text = doctor_text(dr_chat)
    assert ":large_orange_circle: DR chain (dr): join app's role on AVDDR" in text
    assert "az role assignment list --assignee" in text
