"""AVD session hosts (drain flag, status, heartbeat) and user sessions (list, message, disconnect, log off)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid
from sim.azure.providers.avd import POOL, VERSIONS, missing
from sim.azure.providers.common import body_dict, page, system_data
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import public

if TYPE_CHECKING:
    from sim.azure.state import State

HOST_TYPE = "Microsoft.DesktopVirtualization/hostPools/sessionhosts"
USER_TYPE = "Microsoft.DesktopVirtualization/hostPools/sessionhosts/usersessions"
HOST_FIELDS = ("allowNewSession", "assignedUser", "friendlyName")
HEALTH_CHECKS = (
    ("DomainJoinedCheck", "SessionHost healthy: is joined to Microsoft Entra ID"),
    ("SxSStackListenerCheck", "SessionHost healthy: SxS stack listener is ready"),
    ("UrlsAccessibleCheck", "SessionHost healthy: required URLs are accessible"),
    ("MetaDataServiceCheck", "SessionHost healthy: Azure Instance Metadata Service is reachable"),
)


def render_host(sim: State, doc: dict[str, Any]) -> dict[str, Any]:
    """A live host's heartbeat is "now" (agents beat every 30 s)."""
    out = public(doc) or {}
    if doc.get("_sim", {}).get("heartbeat") and out["properties"].get("status") == "Available":
        now = sim.clock.seconds()
        out["properties"]["lastHeartBeat"] = iso(now - now % 30)
    return out


def health_checks(now: str) -> list[dict[str, Any]]:
    """The agent's health-check results of a healthy Entra-joined host."""
    return [
        {
            "healthCheckName": name,
            "healthCheckResult": "HealthCheckSucceeded",
            "additionalFailureDetails": {"message": message, "errorCode": 0, "lastHealthCheckDateTime": now},
        }
        for name, message in HEALTH_CHECKS
    ]


def make_host(
    sim: State, pool: dict[str, Any], name: str, resource_id: str, vm_guid: str, **settable: Any
) -> dict[str, Any]:
    """A registered session host as the AVD agent reports it; ``settable`` = the PATCH-able fields
    (``allowNewSession``, ``assignedUser``, ``friendlyName``)."""
    now = iso(sim.clock.seconds())
    props = {
        "objectId": guid(sim.rng),
        "lastHeartBeat": now,
        "sessions": 0,
        "agentVersion": "1.0.9742.2200",
        "allowNewSession": True,
        "status": "Available",
        "statusTimestamp": now,
        "osVersion": "10.0.22631.4460",
        "sxSStackVersion": "rdp-sxs241112001",
        "updateState": "Succeeded",
        "lastUpdateTime": now,
        "updateErrorMessage": "",
        "virtualMachineId": vm_guid,
        "resourceId": resource_id,
        "friendlyName": "",
        "sessionHostHealthCheckResults": health_checks(now),
        **{k: v for k, v in settable.items() if k in HOST_FIELDS},
    }
    doc = {
        "id": f"{pool['id']}/sessionHosts/{name}",
        "name": f"{pool['name']}/{name}",
        "type": HOST_TYPE,
        "systemData": system_data(sim),
        "properties": props,
        "_sim": {"heartbeat": True},
    }
    return sim.store.put(doc)


def make_user_session(
    sim: State, host: dict[str, Any], number: int, upn: str, ad_user: str = ""
) -> dict[str, Any]:
    """A user session; the service creates it (not an ARM caller), so its systemData has only createdAt."""
    sid = f"{host['id']}/userSessions/{number}"
    now = iso(sim.clock.seconds())
    props = {
        "objectId": guid(sim.rng),
        "userPrincipalName": upn,
        "applicationType": "Desktop",
        "sessionState": "Active",
        "activeDirectoryUserName": ad_user,
        "createTime": now,
    }
    doc = {
        "id": sid,
        "name": f"{host['name']}/{number}",
        "type": USER_TYPE,
        "systemData": {"createdAt": now},
        "properties": props,
    }
    sim.store.put(doc)
    _recount(sim, host)
    return doc


def _recount(sim: State, host: dict[str, Any]) -> None:
    host["properties"]["sessions"] = len(sim.store.children(host["id"] + "/userSessions"))


def all_user_sessions(sim: State, pool_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for host in sim.store.children(pool_id + "/sessionHosts"):
        out.extend(sim.store.children(host["id"] + "/userSessions"))
    return out


def _pool(sim: State, req: Request) -> dict[str, Any]:
    base = req.path.lower().split("/sessionhosts")[0].split("/usersessions")[0]
    pool = sim.store.get(base)
    if pool is None or pool.get("type") != POOL:
        raise missing(POOL)
    return pool


def _host(sim: State, req: Request) -> dict[str, Any]:
    _pool(sim, req)
    parts = req.path.split("/")
    idx = [p.lower() for p in parts].index("sessionhosts")
    host = sim.store.get("/".join(parts[: idx + 2]))
    if host is None:
        raise ArmError(404, "SessionHostNotFound", f"SessionHost '{parts[idx + 1]}' does not exist.")
    return host


def user_session(sim: State, req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    host = _host(sim, req)
    parts = req.path.split("/")
    idx = [p.lower() for p in parts].index("usersessions")
    doc = sim.store.get("/".join(parts[: idx + 2]))
    if doc is None:
        raise ArmError(404, "UserSessionNotFound", f"UserSession '{parts[idx + 1]}' does not exist.")
    return host, doc


def _hosts(sim: State, req: Request) -> Response:
    pool = _pool(sim, req)
    return page(sim, req, sim.store.children(pool["id"] + "/sessionHosts"), lambda d: render_host(sim, d))


def _host_get(sim: State, req: Request) -> Response:
    return Response(200, render_host(sim, _host(sim, req)))


def _host_patch(sim: State, req: Request) -> Response:
    host = _host(sim, req)
    props = body_dict(req).get("properties") or {}
    for field in HOST_FIELDS:
        if field in props:
            host["properties"][field] = props[field]
    if "systemData" in host:
        host["systemData"].update(
            lastModifiedBy="avd-ops",
            lastModifiedByType="Application",
            lastModifiedAt=iso(sim.clock.seconds()),
        )
    return Response(200, render_host(sim, host))


def _host_delete(sim: State, req: Request) -> Response:
    host = _host(sim, req)
    if host["properties"].get("sessions") and (req.q("force") or "").lower() != "true":
        raise ArmError(
            400,
            "SessionHostHasActiveSessions",
            f"SessionHost '{host['name']}' has {host['properties']['sessions']} user session(s); log them "
            "off first or delete with force=true.",
        )
    sim.store.delete(host["id"])
    return Response(200)


def _users(sim: State, req: Request) -> Response:
    if "/sessionhosts/" in req.path.lower():
        found = sim.store.children(_host(sim, req)["id"] + "/userSessions")
    else:
        found = all_user_sessions(sim, _pool(sim, req)["id"])
        flt = (req.q("$filter") or "").lower()
        if "userprincipalname eq '" in flt:
            upn = flt.split("userprincipalname eq '", 1)[1].split("'", 1)[0]
            found = [u for u in found if u["properties"]["userPrincipalName"].lower() == upn]
    return page(sim, req, found)


def _user_get(sim: State, req: Request) -> Response:
    return Response(200, public(user_session(sim, req)[1]))


def delete_user_session(sim: State, req: Request) -> Response:
    host, doc = user_session(sim, req)
    sim.store.delete(doc["id"])
    _recount(sim, host)
    return Response(200)


def _disconnect(sim: State, req: Request) -> Response:
    _, doc = user_session(sim, req)
    doc["properties"]["sessionState"] = "Disconnected"
    return Response(200)


def _message(sim: State, req: Request) -> Response:
    host, doc = user_session(sim, req)
    body = body_dict(req)
    sim.messages.append(
        {
            "sessionHost": host["name"],
            "userSession": doc["id"].rsplit("/", 1)[-1],
            "user": doc["properties"]["userPrincipalName"],
            "title": body.get("messageTitle"),
            "body": body.get("messageBody"),
            "at": iso(sim.clock.seconds()),
        }
    )
    return Response(200)


def register(router: Router) -> None:
    pool = (
        "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.DesktopVirtualization/hostPools/{pool}"
    )
    router.add("GET", pool + "/sessionHosts", _hosts, VERSIONS)
    router.add("GET", pool + "/sessionHosts/{host}", _host_get, VERSIONS)
    router.add("PATCH", pool + "/sessionHosts/{host}", _host_patch, VERSIONS)
    router.add("DELETE", pool + "/sessionHosts/{host}", _host_delete, VERSIONS)
    router.add("GET", pool + "/userSessions", _users, VERSIONS)
    user = pool + "/sessionHosts/{host}/userSessions"
    router.add("GET", user, _users, VERSIONS)
    router.add("GET", user + "/{user}", _user_get, VERSIONS)
    router.add("DELETE", user + "/{user}", delete_user_session, VERSIONS)
    router.add("POST", user + "/{user}/disconnect", _disconnect, VERSIONS)
    router.add("POST", user + "/{user}/sendMessage", _message, VERSIONS)
