"""User sessions that survive a log-off (a hung session, an app blocking sign-out): a test knob.

``linger(sim, upn, times)`` marks the user's sessions: the next ``times`` forced log-offs (``DELETE
.../userSessions/{id}``) answer 200 as Azure does, but the session stays listed. Not in
``providers.PROVIDERS``: list this module *before* ``sessions`` so its DELETE route wins,
``AzureSim(providers=(lingering, *PROVIDERS))``; unmarked sessions log off as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.azure.providers import sessions
from sim.azure.providers.avd import VERSIONS
from sim.azure.router import Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State


def linger(sim: State, upn: str, times: int = 1) -> int:
    """Make ``upn``'s sessions ignore the next ``times`` log-offs; returns how many sessions were marked."""
    marked = 0
    with sim.lock:
        for doc in sim.store.items.values():
            props = doc.get("properties") or {}
            if (
                doc.get("type") == sessions.USER_TYPE
                and str(props.get("userPrincipalName", "")).lower() == upn.lower()
            ):
                doc.setdefault("_sim", {})["linger"] = times
                marked += 1
    return marked


def _delete(sim: State, req: Request) -> Response:
    _, doc = sessions.user_session(sim, req)
    left = int(doc.get("_sim", {}).get("linger", 0))
    if left > 0:
        doc["_sim"]["linger"] = left - 1
        return Response(200)
    return sessions.delete_user_session(sim, req)


def register(router: Router) -> None:
    pool = (
        "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.DesktopVirtualization/hostPools/{pool}"
    )
    router.add("DELETE", pool + "/sessionHosts/{host}/userSessions/{user}", _delete, VERSIONS)
