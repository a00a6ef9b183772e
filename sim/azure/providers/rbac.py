"""The bot principal's permissions: ``Microsoft.Authorization/permissions`` reads and 403 enforcement.

``AzureSim.set_permissions(None)`` (the default) grants everything; a list of action patterns
(``"Microsoft.Compute/*"``, ``"*/read"``) restricts the principal and other actions get 403
``AuthorizationFailed``.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from sim.azure.router import ArmError, Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2022-04-01", "2018-07-01", "2018-01-01-preview", "2015-07-01")
PRINCIPAL = "00000000-0000-0000-0000-00000000b07a"


def action_of(method: str, path: str) -> str:
    """The RBAC action a request needs, e.g. ``Microsoft.Compute/snapshots/beginGetAccess/action``."""
    parts = [p for p in path.split("/") if p]
    lower = [p.lower() for p in parts]
    if "providers" not in lower:
        kind = (
            "Microsoft.Resources/subscriptions/resourceGroups"
            if "resourcegroups" in lower
            else "Microsoft.Resources/subscriptions"
        )
        return f"{kind}/{ {'GET': 'read', 'HEAD': 'read', 'DELETE': 'delete'}.get(method, 'write') }"
    i = len(lower) - 1 - lower[::-1].index("providers")
    ns, rest = parts[i + 1] if i + 1 < len(parts) else "", parts[i + 2 :]
    if method == "POST" and len(rest) % 2 == 1:
        return f"{ns}/{'/'.join(rest[0:-1:2])}/{rest[-1]}/action"
    verb = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method, "write")
    return f"{ns}/{'/'.join(rest[0::2])}/{verb}".replace("//", "/")


def allowed(actions: list[str] | None, action: str) -> bool:
    if actions is None:
        return True
    return any(fnmatch.fnmatch(action.lower(), p.lower()) for p in actions)


def enforce(sim: State, req: Request) -> None:
    """Control-plane actions only: blob data-plane requests (``/blob/...``) are authorized by ``storage``
    against data roles, which no control-plane action grants."""
    if req.path.lower().startswith("/blob/"):
        return
    action = action_of(req.method, req.path)
    if not allowed(sim.permissions, action):
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{PRINCIPAL}' with object id '{PRINCIPAL}' does not have authorization to "
            f"perform action '{action}' over scope '{req.path}' or the scope is invalid. If access was "
            "recently granted, please refresh your credentials.",
        )


def _permissions(sim: State, req: Request) -> Response:
    actions = sim.permissions if sim.permissions is not None else ["*"]
    return Response(
        200, {"value": [{"actions": actions, "notActions": [], "dataActions": [], "notDataActions": []}]}
    )


def register(router: Router) -> None:
    router.add(
        "GET",
        "/subscriptions/{sub}/{rest*}/providers/Microsoft.Authorization/permissions",
        _permissions,
        VERSIONS,
        lockable=False,
    )
