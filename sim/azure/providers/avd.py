"""Microsoft.DesktopVirtualization: host pools, registration tokens, application groups, workspaces, scaling
plans (all synchronous 200s). Session hosts and user sessions are in ``sessions``."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid, is_under
from sim.azure.providers.common import body_dict, check_location, new_doc, page, system_data, tags_of
from sim.azure.router import ArmError, Request, Response, Router
from sim.azure.store import merge, public

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = (
    "2024-04-03",
    "2025-04-01-preview",
    "2024-11-01-preview",
    "2024-08-08-preview",
    "2024-04-08-preview",
    "2024-03-06-preview",
    "2024-01-16-preview",
    "2023-09-05",
    "2022-09-09",
    "2022-02-10-preview",
)
NS = "Microsoft.DesktopVirtualization"
POOL, APPGROUP, WORKSPACE, PLAN = (
    f"{NS}/hostPools",
    f"{NS}/applicationGroups",
    f"{NS}/workspaces",
    f"{NS}/scalingPlans",
)
POOL_READ_ONLY = (
    "cloudPcResource",
    "applicationGroupReferences",
    "appAttachPackageReferences",
    "privateEndpointConnections",
)
NOT_FOUND = {
    POOL: ("hostPoolDoesNotExist", "Host Pool Does Not Exist"),
    APPGROUP: ("applicationGroupDoesNotExist", "Application Group Does Not Exist"),
    WORKSPACE: ("workspaceDoesNotExist", "Workspace Does Not Exist"),
    PLAN: ("scalingPlanDoesNotExist", "Scaling Plan Does Not Exist"),
}


def missing(rtype: str) -> ArmError:
    code, message = NOT_FOUND.get(rtype, ("ResourceNotFound", "Resource Does Not Exist"))
    return ArmError(404, code, message)


def make(
    sim: State, rid: str, rtype: str, location: str, props: dict[str, Any], tags: dict[str, str] | None = None
) -> dict[str, Any]:
    doc = new_doc(rid, rtype, location, {"objectId": guid(sim.rng), **props}, tags or {})
    doc["systemData"] = system_data(sim)
    return sim.store.put(doc)


def writable(rtype: str, body: dict[str, Any]) -> dict[str, Any]:
    """The properties a client may set (read-only input such as ``objectId`` is ignored, as ARM does)."""
    skip = ("objectId", *POOL_READ_ONLY) if rtype == POOL else ("objectId",)
    return {k: v for k, v in (body.get("properties") or {}).items() if k not in skip}


def _doc(sim: State, path: str, rtype: str) -> dict[str, Any]:
    doc = sim.store.get(path)
    if doc is None:
        raise missing(rtype)
    return doc


def _get(rtype: str) -> Any:
    return lambda sim, req: Response(200, public(_doc(sim, req.path, rtype)))


def _list(rtype: str) -> Any:
    return lambda sim, req: page(sim, req, sim.store.of_type(rtype, req.path.lower().split("/providers/")[0]))


def _put(rtype: str) -> Any:
    def handler(sim: State, req: Request) -> Response:
        body = body_dict(req)
        props = writable(rtype, body)
        registration = props.pop("registrationInfo", None) if rtype == POOL else None
        existing = sim.store.get(req.path)
        if existing is not None:
            merge(existing["properties"], props)
            if tags_of(body) is not None:
                existing["tags"] = tags_of(body)
            doc, status = existing, 200
        else:
            location = check_location(body.get("location"), rtype)
            if rtype == POOL:
                props["cloudPcResource"] = False
            doc, status = make(sim, req.path, rtype, location, props, tags_of(body)), 201
        if registration:
            _registration(sim, doc, registration)
        return Response(status, public(doc))

    return handler


def _patch(rtype: str) -> Any:
    def handler(sim: State, req: Request) -> Response:
        doc = _doc(sim, req.path, rtype)
        body = body_dict(req)
        props = writable(rtype, body)
        if rtype == POOL and "registrationInfo" in props:
            _registration(sim, doc, props.pop("registrationInfo") or {})
        merge(doc["properties"], props)
        if tags_of(body) is not None:
            doc["tags"] = tags_of(body)
        doc["systemData"]["lastModifiedAt"] = iso(sim.clock.seconds())
        return Response(200, public(doc))

    return handler


TOKEN_MIN_S, TOKEN_MAX_S = 3600, 30 * 86400  # a registration token lives 1 hour to 30 days (Microsoft Learn)


def _registration(sim: State, pool: dict[str, Any], info: dict[str, Any]) -> None:
    """``registrationTokenOperation``: Update issues a token valid until ``expirationTime``; Delete clears it."""
    op = info.get("registrationTokenOperation", "None")
    s = pool.setdefault("_sim", {})
    if op == "Delete":
        s.pop("registration", None)
        pool["properties"]["registrationInfo"] = {
            "expirationTime": None,
            "token": None,
            "registrationTokenOperation": "Delete",
        }
    elif op == "Update":
        try:
            expires = datetime.fromisoformat(
                str(info.get("expirationTime")).replace("Z", "+00:00")
            ).timestamp()
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidParameter",
                "registrationInfo.expirationTime must be an ISO 8601 time.",
                "registrationInfo.expirationTime",
            ) from exc
        now = time.time()  # the bot computes expirationTime from its own (wall) clock
        if not now + TOKEN_MIN_S <= expires <= now + TOKEN_MAX_S:
            # the service's wording (public replies: "[400] : ActivityId: ... Error: ExpirationTime value must
            # be between one hour and 30 days from now"); its error code is not public
            raise ArmError(
                400,
                "InvalidParameter",
                f"ActivityId: {uuid.uuid4()} Error: ExpirationTime value must be between one hour and 30 days "
                "from now",
                "registrationInfo.expirationTime",
            )
        raw = f'{{"RegistrationId":"{guid(sim.rng)}","HostPool":"{pool["name"]}","exp":{int(expires)}}}'
        token = (
            "eyJhbGciOiJSUzI1NiIsImtpZCI6InNpbSJ9."
            + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
            + "."
            + guid(sim.rng).replace("-", "")
        )
        s["registration"] = {"token": token, "expires": expires}
        pool["properties"]["registrationInfo"] = {
            "expirationTime": iso(expires),
            "token": token,
            "registrationTokenOperation": "Update",
        }
    elif op not in ("None", None):
        raise ArmError(400, "InvalidParameter", f"Unknown registrationTokenOperation '{op}'.")


def issue_token(sim: State, pool: dict[str, Any], seconds: float = 7200.0) -> None:
    """What a caller with ``hostpools/write`` does for a pool without a current token: a PATCH of
    ``registrationInfo`` (Update) expiring in ``seconds``."""
    _registration(
        sim,
        pool,
        {
            "registrationTokenOperation": "Update",
            "expirationTime": datetime.fromtimestamp(time.time() + seconds, UTC).isoformat(),
        },
    )


def _token(sim: State, req: Request) -> Response:
    pool = _doc(sim, req.path.rsplit("/", 1)[0], POOL)
    reg = pool.get("_sim", {}).get("registration")
    if not reg or time.time() > reg["expires"]:
        body: dict[str, Any] = {"expirationTime": None, "token": None, "registrationTokenOperation": "None"}
    else:
        body = {
            "expirationTime": iso(reg["expires"]),
            "token": reg["token"],
            "registrationTokenOperation": "Update",
        }
    if req.path.lower().endswith("listregistrationtokens"):
        return Response(200, {"value": [body] if body["token"] else []})
    return Response(200, body)


def _plans_of_pool(sim: State, req: Request) -> Response:
    pool = _doc(sim, req.path.rsplit("/", 1)[0], POOL)
    found = [
        p
        for p in sim.store.of_type(PLAN, f"/subscriptions/{req.params['sub']}")
        if any(
            is_under(r.get("hostPoolArmPath", ""), pool["id"])
            for r in p["properties"].get("hostPoolReferences") or []
        )
    ]
    return page(sim, req, found)


def register(router: Router) -> None:
    base = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.DesktopVirtualization"
    for rtype, coll in (
        (POOL, "hostPools"),
        (APPGROUP, "applicationGroups"),
        (WORKSPACE, "workspaces"),
        (PLAN, "scalingPlans"),
    ):
        router.add("GET", f"/subscriptions/{{sub}}/providers/{NS}/{coll}", _list(rtype), VERSIONS)
        router.add("GET", f"{base}/{coll}", _list(rtype), VERSIONS)
        router.add("GET", f"{base}/{coll}/{{name}}", _get(rtype), VERSIONS)
        router.add("PUT", f"{base}/{coll}/{{name}}", _put(rtype), VERSIONS)
        router.add("PATCH", f"{base}/{coll}/{{name}}", _patch(rtype), VERSIONS)
    router.add("POST", base + "/hostPools/{name}/retrieveRegistrationToken", _token, VERSIONS)
    router.add("POST", base + "/hostPools/{name}/listRegistrationTokens", _token, VERSIONS)
    router.add("GET", base + "/hostPools/{name}/scalingPlans", _plans_of_pool, VERSIONS)
