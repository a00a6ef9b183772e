"""``/avd doctor``'s Microsoft Graph group: may the bot write AVD-Join's federated credentials (read, never tried),
and the same fix named when ``/avd identity create`` meets Graph's 403. The real bot over signed HTTP against the
Graph double; the pure checks against the double through the real ``AzureClients``."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from azureops import graphaccess, identities
from azureops.clients import AzureClients
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

ROOT = Path(__file__).resolve().parents[2]
APP = identities.JoinApp(
    object_id=JOIN_APP, name="AVD-Join", tenant_id="00000000-0000-0000-0000-0000000000aa"
)
OWNER_FIX = f"az ad app owner add --id {JOIN_APP} --owner-object-id"
BOT_FIX = f"{OWNER_FIX} {graph.BOT_SP}"


def doctor_text(chat: Chat) -> str:
    chat.slash("/avd doctor", user=OPS)
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS) if "avd-ops doctor" in e["text"]])[-1]
    return str(said["blocks"])


def credentials(sim: AzureSim) -> list[dict[str, Any]]:
    return list(sim.graph[JOIN_APP]["federatedIdentityCredentials"])


@pytest.fixture(name="clients")
def clients_fixture(dr_azure: AzureSim) -> Iterator[AzureClients]:
    clients = AzureClients(dr_azure.url, dr_azure.ca_path, retry_total=0)
    yield clients
    clients.close()


# ---- through the bot ------------------------------------------------------------------------------------


def test_seed_doctor_shows_the_graph_right_and_the_credential_count(dr_chat: Chat) -> None:
    text = doctor_text(dr_chat)
    assert "*Microsoft Graph: AVD-Join*" in text
    assert (
        "can write federated credentials (owner + Application.ReadWrite.OwnedBy) · 1 of 20 credentials used"
        in text
    )
    assert ":x:" not in text


def test_not_an_owner_doctor_names_it_and_identity_create_fails_with_the_same_fix(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    graph.grant_app_role(dr_azure, "Application.Read.All")  # doctor and the preflight can still read the app
    graph.remove_owner(dr_azure, JOIN_APP)
    text = doctor_text(dr_chat)
    assert "cannot write federated credentials: missing owner of AVD-Join · 1 of 20 credentials used" in text
    assert BOT_FIX in text and "Application.ReadWrite.OwnedBy and" not in text
    job = run_command(dr_chat, dr_bot, "/avd identity create dr")
    assert job["status"] == jobs.FAILED, job
    failed = [s for s in jobs.get_steps(dr_bot.runtime.store, int(job["id"])) if s["error"]]
    assert [s["name"] for s in failed] == ["add-federated-credential"]
    error = failed[0]["error"]
    assert (
        "Insufficient privileges to complete the operation." in error
        and "Authorization_RequestDenied" in error
    )
    assert OWNER_FIX in error and "Application.ReadWrite.OwnedBy" in error
    assert len(credentials(dr_azure)) == 1  # the POST was refused, nothing written


def test_owner_removed_with_only_owned_by_is_deduced_and_refused_before_any_job(
    dr_chat: Chat, dr_bot: BotHandle, dr_azure: AzureSim
) -> None:
    graph.remove_owner(dr_azure, JOIN_APP)  # OwnedBy alone may not even read an application it does not own
    text = doctor_text(dr_chat)
    assert "cannot write federated credentials: missing owner of AVD-Join" in text and BOT_FIX in text
    assert "credentials used" not in text
    mark, before = len(dr_azure.journal), job_ids(dr_bot.runtime.store)
    assert dr_chat.slash("/avd identity create dr", user=OPS).status == 200
    said = dr_chat.wait_for_ephemeral(OPS, contains="Insufficient privileges")["text"]
    assert "Authorization_RequestDenied" in said and OWNER_FIX in said
    assert writes_since(dr_azure, mark) == [] and job_ids(dr_bot.runtime.store) == before


def test_consent_revoked_doctor_says_it_cannot_even_read_and_what_to_grant(
    dr_chat: Chat, dr_azure: AzureSim
) -> None:
    graph.revoke_app_role(dr_azure, "Application.ReadWrite.OwnedBy")
    text = doctor_text(dr_chat)
    assert (
        ":x: cannot read the bot's Graph rights: cannot even read the bot's service principal "
        "(Authorization_RequestDenied)" in text
    )
    assert "admin consent to Microsoft Graph Application.ReadWrite.OwnedBy" in text
    assert "problems found" in text


# ---- the check itself, against the double ---------------------------------------------------------------


ALL, READ, OWNED = "Application.ReadWrite.All", "Application.Read.All", "Application.ReadWrite.OwnedBy"


def change(
    sim: AzureSim, grant: tuple[str, ...] = (), revoke: tuple[str, ...] = (), owner: bool = True
) -> None:
    for role in grant:
        graph.grant_app_role(sim, role)
    for role in revoke:
        graph.revoke_app_role(sim, role)
    if not owner:
        graph.remove_owner(sim, JOIN_APP)


@pytest.mark.parametrize(
    ("grant", "revoke", "owner", "status", "how", "missing"),
    [
        ((ALL,), (), True, "ok", ALL, ()),
        ((ALL,), (OWNED,), False, "ok", ALL, ()),
        ((READ,), (OWNED,), True, "missing", "", (OWNED,)),
        ((READ,), (OWNED,), False, "missing", "", (OWNED, "owner of AVD-Join")),
    ],
)
def test_check_graph_case_table(
    dr_azure: AzureSim,
    clients: AzureClients,
    grant: tuple[str, ...],
    revoke: tuple[str, ...],
    owner: bool,
    status: str,
    how: str,
    missing: tuple[str, ...],
) -> None:
    change(dr_azure, grant, revoke, owner)
    mark = len(dr_azure.journal)
    found = graphaccess.check_graph(clients, APP)
    assert (found.status, found.how, found.missing, found.used) == (status, how, missing, 1)
    assert writes_since(dr_azure, mark) == []
    if not owner and status == "missing":
        assert BOT_FIX in found.next_step and "admin consent" in found.next_step


class Opaque:
    """A credential whose token carries no claims (like the sandbox's), so the client id must be configured."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("opaque-token", int(time.time()) + 3600)


class Jwt(Opaque):
    """An app-only token as Entra issues it: the service principal's ``oid`` and its consented ``roles``."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        claims = {"oid": graph.BOT_SP, "idtyp": "app", "roles": ["Application.ReadWrite.OwnedBy"]}
        return AccessToken(f"{part({'alg': 'none'})}.{part(claims)}.sig", int(time.time()) + 3600)


def test_unknown_identity_says_what_to_configure(dr_azure: AzureSim) -> None:
    clients = AzureClients(dr_azure.url, dr_azure.ca_path, credential=Opaque(), retry_total=0)
    try:
        found = graphaccess.check_graph(clients, APP, client_id="")
        assert found.status == "unknown" and "AZURE_CLIENT_ID" in found.next_step
        assert graphaccess.check_graph(clients, APP, client_id=graph.BOT_APP_ID).status == "ok"
    finally:
        clients.close()


def test_token_oid_finds_the_service_principal_and_roles_stand_in_for_unreadable_assignments(
    dr_azure: AzureSim,
) -> None:
    clients = AzureClients(dr_azure.url, dr_azure.ca_path, credential=Jwt(), retry_total=0)
    try:
        found = graphaccess.check_graph(clients, APP)
        assert (found.status, found.principal) == ("ok", graph.BOT_SP)
        assert any(e.path == f"/graph/v1.0/servicePrincipals/{graph.BOT_SP}" for e in dr_azure.journal)
    finally:
        clients.close()


# ---- the Graph double --------------------------------------------------------------------------------------


def raw(
    sim: AzureSim, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{sim.url}/graph/v1.0{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer sandbox", "Content-Type": "application/json"},
    )
    ctx: ssl.SSLContext = sim.client_context()
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310 - loopback double
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_credential_post_without_the_right_is_graphs_403(dr_azure: AzureSim) -> None:
    graph.remove_owner(dr_azure, JOIN_APP)
    status, body = raw(
        dr_azure,
        "POST",
        f"/applications/{JOIN_APP}/federatedIdentityCredentials",
        {"name": "x", "issuer": APP.issuer, "subject": "s", "audiences": [identities.AUDIENCE]},
    )
    assert status == 403
    assert (body["error"]["code"], body["error"]["message"]) == ("Authorization_RequestDenied", graph.DENIED)
    assert set(body["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
    assert len(credentials(dr_azure)) == 1


def test_read_endpoints_answer_graph_shapes_and_page_with_next_link(
    dr_azure: AzureSim, clients: AzureClients
) -> None:
    dr_azure.page_size = 1
    graph.add_owner(dr_azure, JOIN_APP, "00000000-0000-0000-0000-0000000000f1")
    graph.grant_app_role(dr_azure, "Application.Read.All")
    status, first = raw(dr_azure, "GET", f"/applications/{JOIN_APP}/owners")
    assert status == 200 and first["@odata.context"].endswith("#directoryObjects")
    assert (
        first["value"][0]["@odata.type"] == "#microsoft.graph.servicePrincipal" and "@odata.nextLink" in first
    )
    owners = graphaccess.graph_read(clients, f"/applications/{JOIN_APP}/owners")
    assert [o["id"] for o in owners] == [graph.BOT_SP, "00000000-0000-0000-0000-0000000000f1"]
    roles = graphaccess.graph_read(
        clients, f"/servicePrincipals(appId='{graph.BOT_APP_ID}')/appRoleAssignments"
    )
    assert sorted(a["appRoleId"] for a in roles) == sorted(
        [graph.ROLES["Application.ReadWrite.OwnedBy"], graph.ROLES["Application.Read.All"]]
    )
    assert {a["resourceId"] for a in roles} == {graph.GRAPH_SP}
    status, sp = raw(dr_azure, "GET", f"/servicePrincipals/{graph.BOT_SP}")
    assert status == 200 and sp["appId"] == graph.BOT_APP_ID and "appRoleAssignments" not in sp


def test_the_bot_and_the_double_agree_on_ids_and_deploy_names_the_permission() -> None:
    assert graphaccess.SANDBOX_CLIENT_ID == graph.BOT_APP_ID
    assert graphaccess.GRAPH_APP_ID == graph.GRAPH_APP_ID
    assert {name: rid for rid, name in graphaccess.GRAPH_ROLES.items()} == graph.ROLES
    consent = json.loads((ROOT / "deploy/graph/avd-ops-graph-permission.json").read_text(encoding="utf-8"))
    assert consent == [
        {
            "resourceAppId": graph.GRAPH_APP_ID,
            "resourceAccess": [{"id": graph.ROLES["Application.ReadWrite.OwnedBy"], "type": "Role"}],
        }
    ]
