"""``/avd identity create``: dry run, the 20-credential limit refused before anything is written, a credential
name held by another subject, and the pure credential checks."""

from __future__ import annotations

import pytest

from avdcore.errors import AzureConflict
from azureops import identities
from bot.storage import jobs
from sim.azure import AzureSim
from sim.azure.providers import graph
from tests.kit import BotHandle, Chat
from tests.kit.scale import (  # noqa: F401 - fixtures
    JOIN_APP,
    OPS,
    dr_azure_fixture,
    dr_bot_fixture,
    dr_chat_fixture,
    job_ids,
    run_command,
    writes_since,
)

ISSUER = identities.issuer_for("00000000-0000-0000-0000-0000000000aa")
APP = identities.JoinApp(
    object_id=JOIN_APP, name="AVD-Join", tenant_id="00000000-0000-0000-0000-0000000000aa"
)


def fill_credentials(sim: AzureSim, total: int) -> None:
    have = len(sim.graph[JOIN_APP]["federatedIdentityCredentials"])
    for n in range(have, total):
        graph.add_credential(sim, JOIN_APP, f"other-{n}", ISSUER, f"principal-{n}")


def test_dry_run_previews_both_steps_and_writes_nothing(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    mark, before = len(dr_azure.journal), job_ids(dr_bot.runtime.store)
    assert dr_chat.slash("/avd identity create dr --dry-run", user=OPS).status == 200
    preview = dr_chat.wait_for_ephemeral(OPS, contains="Dry run")["text"]
    assert "Create user-assigned identity AVDManage in uksouth (VMSSDR)" in preview
    assert "Add federated credential avd-ops-dr for AVDManage to AVD-Join" in preview
    assert writes_since(dr_azure, mark) == [] and job_ids(dr_bot.runtime.store) == before


def test_full_join_app_is_refused_before_any_write(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    fill_credentials(dr_azure, identities.FIC_LIMIT)
    mark, before = len(dr_azure.journal), job_ids(dr_bot.runtime.store)
    assert dr_chat.slash("/avd identity create dr", user=OPS).status == 200
    text = dr_chat.wait_for_ephemeral(OPS, contains="federated identity credentials")["text"]
    assert "AVD-Join already has 20 federated identity credentials" in text
    assert "delete a credential AVD-Join no longer needs" in text
    assert writes_since(dr_azure, mark) == [] and job_ids(dr_bot.runtime.store) == before
    assert len(dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]) == identities.FIC_LIMIT


def test_nineteen_credentials_leave_room_for_the_twentieth(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    fill_credentials(dr_azure, identities.FIC_LIMIT - 1)
    job = run_command(dr_chat, dr_bot, "/avd identity create dr")
    assert job["status"] == jobs.DONE, job
    assert len(dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]) == identities.FIC_LIMIT


def test_credential_name_held_by_another_subject_is_refused(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    graph.add_credential(dr_azure, JOIN_APP, "avd-ops-dr", ISSUER, "a-deleted-identity")
    assert dr_chat.slash("/avd identity create dr", user=OPS).status == 200
    text = dr_chat.wait_for_ephemeral(OPS, contains="avd-ops-dr")["text"]
    assert "for another subject (a-deleted-identity)" in text and "delete the stale credential" in text


CREDS = [
    {"name": "AVDManage-westeurope", "issuer": ISSUER, "subject": "p-primary"},
    {"name": "avd-ops-dr", "issuer": ISSUER + "/", "subject": "P-DR"},
]


@pytest.mark.parametrize(
    ("subject", "issuer", "found"),
    [
        ("p-dr", ISSUER, "avd-ops-dr"),  # subject compared case-insensitively, trailing slash ignored
        ("p-primary", ISSUER, "AVDManage-westeurope"),
        ("p-other", ISSUER, None),
        ("p-dr", "https://token.actions.githubusercontent.com", None),
    ],
)
def test_matching_credential(subject: str, issuer: str, found: str | None) -> None:
    match = identities.matching_credential(CREDS, issuer, subject)
    assert (match["name"] if match else None) == found


@pytest.mark.parametrize(
    ("count", "name", "refused"),
    [(19, "avd-ops-dr2", False), (20, "avd-ops-dr2", True), (2, "avd-ops-dr", True), (2, "AVD-OPS-DR", True)],
)
def test_check_room(count: int, name: str, refused: bool) -> None:
    creds = CREDS + [
        {"name": f"x{n}", "issuer": ISSUER, "subject": f"s{n}"} for n in range(count - len(CREDS))
    ]
    if refused:
        with pytest.raises(AzureConflict):
            identities.check_room(creds, APP, name)
    else:
        identities.check_room(creds, APP, name)


def test_graph_refuses_a_second_credential_with_the_same_issuer_and_subject(dr_azure: AzureSim) -> None:
    from azure.core.exceptions import HttpResponseError

    from azureops.clients import AzureClients

    clients = AzureClients(dr_azure.url, dr_azure.ca_path, retry_total=0)
    try:
        clients.graph.create_federated_credential(JOIN_APP, "first", ISSUER, "subject-1")
        with pytest.raises(HttpResponseError) as err:
            clients.graph.create_federated_credential(JOIN_APP, "second-name", ISSUER, "subject-1")
        assert err.value.status_code == 400
        assert "InvalidFederatedIdentityCredentialValue" in str(err.value)
        assert "The combination of issuer and subject must be unique for the application" in str(err.value)
        clients.graph.create_federated_credential(
            JOIN_APP, "second-name", ISSUER, "subject-2"
        )  # another subject
    finally:
        clients.close()
    assert [f["name"] for f in dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]][-2:] == [
        "first",
        "second-name",
    ]


def test_a_credential_already_trusting_the_identity_under_another_name_is_kept_not_duplicated(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    from sim.azure.providers import msi
    from sim.azure.scenarios import DR_IDENTITY_ID

    identity = msi.make_identity(dr_azure, DR_IDENTITY_ID, "uksouth")
    graph.add_credential(dr_azure, JOIN_APP, "legacy-dr", ISSUER, identity["properties"]["principalId"])
    before = len(dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"])
    job = run_command(dr_chat, dr_bot, "/avd identity create dr")
    assert job["status"] == jobs.DONE, job
    assert len(dr_azure.graph[JOIN_APP]["federatedIdentityCredentials"]) == before
    assert not [
        e for e in dr_azure.journal if e.method == "POST" and "federatedIdentityCredentials" in e.path
    ]
