"""User-assigned managed identities and their federated credential on the shared join application.

A site's scale-set instances use its identity (``AVDManage`` in ``VMSSDR``) to join Entra ID and the host
pool: the identity's principal is trusted by the AVD-Join app registration through one federated identity
credential (issuer = the tenant's v2.0 authority, subject = the principal id). Entra allows at most 20 per
application, so ``identity_plan`` refuses before the 21st. Both steps read first and recognise what exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.mgmt.msi.models import Identity

from avdcore.errors import AzureConflict, AzureError, AzureNotFound
from azureops.clients import AzureClients
from azureops.errors import translated
from azureops.plan import Plan, Step, StepContext

AUDIENCE = "api://AzureADTokenExchange"
FIC_LIMIT = 20
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
GRAPH_DENIED = "Authorization_RequestDenied"  # Graph's 403 code
BOT_SP_PLACEHOLDER = "<the bot's service principal object id>"


def issuer_for(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def identity_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{UAMI_TYPE}/{name}"


def credential_path(app_object_id: str, name: str) -> str:
    """A Graph path used as the step's resource (lock key and card label)."""
    return f"/applications/{app_object_id}/federatedIdentityCredentials/{name}"


@dataclass(frozen=True)
class IdentityInfo:
    id: str
    name: str
    location: str
    principal_id: str
    client_id: str


@dataclass(frozen=True)
class JoinApp:
    """The Entra application every site's identity federates with (``[join_app]`` in the config)."""

    object_id: str
    name: str
    tenant_id: str

    @property
    def issuer(self) -> str:
        return issuer_for(self.tenant_id)


def get_identity(
    clients: AzureClients, subscription: str, resource_group: str, name: str
) -> IdentityInfo | None:
    """The identity, or ``None`` when it does not exist."""
    rid = identity_id(subscription, resource_group, name)
    try:
        with translated(rid):
            found = clients.msi(subscription).user_assigned_identities.get(resource_group, name)
    except AzureNotFound:
        return None
    return IdentityInfo(
        id=str(found.id or rid),
        name=str(found.name or name),
        location=str(found.location or ""),
        principal_id=str(found.principal_id or ""),
        client_id=str(found.client_id or ""),
    )


def require_identity(
    clients: AzureClients, subscription: str, resource_group: str, name: str, next_step: str
) -> IdentityInfo:
    """The identity, or ``AzureNotFound`` telling how to create it."""
    found = get_identity(clients, subscription, resource_group, name)
    if found is None:
        raise AzureNotFound(
            f"the managed identity {name} does not exist in {resource_group}",
            code="ResourceNotFound",
            resource_id=identity_id(subscription, resource_group, name),
            next_step=next_step,
        )
    return found


def ensure_identity(
    clients: AzureClients,
    subscription: str,
    resource_group: str,
    name: str,
    location: str,
    tags: dict[str, str] | None = None,
) -> tuple[IdentityInfo, bool]:
    """Create the identity unless it exists; returns it and whether this call created it."""
    found = get_identity(clients, subscription, resource_group, name)
    if found is not None:
        return found, False
    with translated(identity_id(subscription, resource_group, name)):
        clients.msi(subscription).user_assigned_identities.create_or_update(
            resource_group, name, Identity(location=location, tags=tags or {})
        )
    created = get_identity(clients, subscription, resource_group, name)
    if created is None:  # pragma: no cover - Azure answered the PUT but not the GET
        raise AzureNotFound(
            f"the managed identity {name} was created but cannot be read back",
            resource_id=identity_id(subscription, resource_group, name),
        )
    return created, True


def owner_command(app: JoinApp, principal: str = BOT_SP_PLACEHOLDER) -> str:
    return f"az ad app owner add --id {app.object_id} --owner-object-id {principal}"


def graph_rights_step(app: JoinApp, principal: str = BOT_SP_PLACEHOLDER) -> str:
    """What lets the bot write ``app``'s credentials (Graph's rule for an app-only caller)."""
    return (
        f"admin consent to Microsoft Graph Application.ReadWrite.OwnedBy for the bot's identity and make it an "
        f"owner of {app.name}: `{owner_command(app, principal)}` (or consent Application.ReadWrite.All); "
        "/avd doctor names which is missing"
    )


@contextlib.contextmanager
def graph_rights(app: JoinApp) -> Iterator[None]:
    """Graph's 403 ``Authorization_RequestDenied`` on ``app`` -> the same error naming the right to grant."""
    try:
        yield
    except AzureError as err:
        if err.code != GRAPH_DENIED:
            raise
        raise AzureError(
            err.message,
            code=err.code,
            resource_id=err.resource_id,
            next_step=graph_rights_step(app),
            status=err.status,
        ) from err


def list_credentials(clients: AzureClients, app: JoinApp) -> list[dict[str, Any]]:
    with (
        graph_rights(app),
        translated(
            f"/applications/{app.object_id}", f"check [join_app] app_object_id of {app.name} in the config"
        ),
    ):
        return clients.graph.list_federated_credentials(app.object_id)


def matching_credential(
    credentials: list[dict[str, Any]], issuer: str, subject: str
) -> dict[str, Any] | None:
    """The credential trusting ``subject`` from ``issuer`` (whatever its name), if any."""
    for fic in credentials:
        if (
            str(fic.get("issuer", "")).rstrip("/") == issuer.rstrip("/")
            and str(fic.get("subject", "")).lower() == subject.lower()
        ):
            return fic
    return None


def check_room(credentials: list[dict[str, Any]], app: JoinApp, name: str) -> None:
    """Refuse before Entra's 20-credential limit is hit, and a name held by another subject."""
    taken = next((f for f in credentials if str(f.get("name", "")).lower() == name.lower()), None)
    if taken is not None:
        raise AzureConflict(
            f"{app.name} already has a federated credential named {name} for another subject "
            f"({taken.get('subject')})",
            resource_id=credential_path(app.object_id, name),
            next_step=f"delete the stale credential {name} from {app.name} (Entra admin center, Certificates & "
            "secrets > Federated credentials), then run the command again",
        )
    if len(credentials) >= FIC_LIMIT:
        raise AzureConflict(
            f"{app.name} already has {len(credentials)} federated identity credentials, Entra's limit per "
            "application: a new one cannot be added",
            resource_id=f"/applications/{app.object_id}",
            next_step=f"delete a credential {app.name} no longer needs (for a retired site), then run the command again",
        )


def ensure_credential(
    clients: AzureClients, app: JoinApp, name: str, identity: IdentityInfo
) -> tuple[str, bool]:
    """Add the identity's credential to the app unless one trusts it already; returns its name and if created."""
    credentials = list_credentials(clients, app)
    found = matching_credential(credentials, app.issuer, identity.principal_id)
    if found is not None:
        return str(found.get("name", name)), False
    check_room(credentials, app, name)
    with graph_rights(app), translated(credential_path(app.object_id, name)):
        clients.graph.create_federated_credential(
            app.object_id,
            name,
            app.issuer,
            identity.principal_id,
            description=f"{identity.name} ({identity.location}): scale-set instances join Entra ID and AVD",
        )
    return name, True


def identity_plan(
    clients: AzureClients,
    *,
    subscription: str,
    resource_group: str,
    name: str,
    location: str,
    app: JoinApp,
    credential_name: str,
    site: str,
) -> Plan:
    """Two idempotent steps: the identity in the site's location, then its credential on the join app."""
    rid = identity_id(subscription, resource_group, name)
    tags = {"avd-ops-site": site}

    def identity_exists(ctx: StepContext) -> bool:
        return get_identity(clients, subscription, resource_group, name) is not None

    def create_identity(ctx: StepContext) -> str:
        found, created = ensure_identity(clients, subscription, resource_group, name, location, tags)
        return f"{'created' if created else 'found'} {found.name} (principal {found.principal_id})"

    def credential_exists(ctx: StepContext) -> bool:
        found = get_identity(clients, subscription, resource_group, name)
        if found is None:
            return False
        return matching_credential(list_credentials(clients, app), app.issuer, found.principal_id) is not None

    def add_credential(ctx: StepContext) -> str:
        found = require_identity(
            clients,
            subscription,
            resource_group,
            name,
            "the previous step should have created it: retry the job",
        )
        fic, created = ensure_credential(clients, app, credential_name, found)
        return f"{'added' if created else 'found'} credential {fic} on {app.name}"

    steps = (
        Step(
            name="create-identity",
            resource_id=rid,
            apply=create_identity,
            check=identity_exists,
            description=f"Create user-assigned identity {name} in {location} ({resource_group})",
            estimate_seconds=5,
            intent={"location": location, "type": UAMI_TYPE},
        ),
        Step(
            name="add-federated-credential",
            resource_id=credential_path(app.object_id, credential_name),
            apply=add_credential,
            check=credential_exists,
            description=f"Add federated credential {credential_name} for {name} to {app.name} "
            f"(issuer {app.issuer}, subject = {name}'s principal id, audience {AUDIENCE})",
            estimate_seconds=5,
            intent={"issuer": app.issuer, "subject": f"principal of {rid.lower()}", "audience": AUDIENCE},
        ),
    )
    return Plan(
        kind="identity create",
        title=f"Identity {name} for site {site} ({location})",
        steps=steps,
        summary=f"{name} in {resource_group} + credential {credential_name} on {app.name}",
    )


def preflight_credentials(
    clients: AzureClients, app: JoinApp, credential_name: str, identity: IdentityInfo | None
) -> int:
    """Refuse early (at request time) when the credential could not be added; returns the current count."""
    credentials = list_credentials(clients, app)
    if (
        identity is not None
        and matching_credential(credentials, app.issuer, identity.principal_id) is not None
    ):
        return len(credentials)
    check_room(credentials, app, credential_name)
    return len(credentials)
