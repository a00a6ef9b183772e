"""Microsoft.Authorization/locks: CRUD at any scope and their enforcement on every changing request.

CanNotDelete refuses DELETE; ReadOnly refuses DELETE, PUT, PATCH and POST (actions such as
``beginGetAccess`` included), on the locked scope and everything below it: 409 ``ScopeLocked``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sim.azure.ids import is_under, key
from sim.azure.providers.common import body_dict, page
from sim.azure.router import ArmError, Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State

VERSIONS = ("2020-05-01", "2016-09-01", "2015-01-01")
LOCK_TYPE = "Microsoft.Authorization/locks"
LEVELS = ("CanNotDelete", "ReadOnly")
_SPLIT = re.compile(r"/providers/Microsoft\.Authorization/locks", re.IGNORECASE)


def scope_of(lock_id: str) -> str:
    return _SPLIT.split(lock_id)[0]


def _scope(req: Request) -> str:
    return _SPLIT.split(req.path)[0]


def _check_scope(sim: State, req: Request, scope: str) -> None:
    if scope.count("/") > 2 and sim.store.get(scope) is None:
        raise ArmError(404, "ResourceNotFound", f"The scope '{scope}' does not exist.")


def _get(sim: State, req: Request) -> Response:
    doc = sim.store.get(req.path)
    if doc is None:
        raise ArmError(404, "LockNotFound", f"The lock '{req.params['lock']}' could not be found.")
    return Response(200, doc)


def _put(sim: State, req: Request) -> Response:
    scope = _scope(req)
    _check_scope(sim, req, scope)
    props = body_dict(req).get("properties") or {}
    level = props.get("level")
    if level not in LEVELS:
        raise ArmError(
            400, "LockLevelInvalid", f"The lock level '{level}' is invalid. Use CanNotDelete or ReadOnly."
        )
    existed = sim.store.get(req.path) is not None
    out: dict[str, Any] = {"level": level}
    for field in ("notes", "owners"):
        if props.get(field) is not None:
            out[field] = props[field]
    doc = {
        "properties": out,
        "id": f"{scope}/providers/{LOCK_TYPE}/{req.params['lock']}",
        "type": LOCK_TYPE,
        "name": req.params["lock"],
    }
    sim.store.put(doc)
    return Response(200 if existed else 201, doc)


def _delete(sim: State, req: Request) -> Response:
    if sim.store.get(req.path) is None:
        return Response(204)
    sim.store.delete(req.path)
    return Response(200)


def _list(sim: State, req: Request) -> Response:
    scope = _scope(req)
    found = [
        d
        for d in sim.store.of_type(LOCK_TYPE)
        if is_under(scope, scope_of(d["id"])) or is_under(scope_of(d["id"]), scope)
    ]
    return page(sim, req, found)


def enforce(sim: State, req: Request) -> None:
    """Raise 409 ScopeLocked when a lock at or above the request's target forbids the method."""
    target = req.path.rsplit("/", 1)[0] if req.method == "POST" else req.path
    deleting = req.method == "DELETE"
    blocking = [
        scope_of(d["id"])
        for d in sim.store.of_type(LOCK_TYPE)
        if is_under(target, scope_of(d["id"])) and (deleting or d["properties"].get("level") == "ReadOnly")
    ]
    if blocking:
        scopes = ",".join(f"'{s}'" for s in sorted(set(blocking), key=key))
        raise ArmError(
            409,
            "ScopeLocked",
            f"The scope '{target}' cannot perform {'delete' if deleting else 'write'} operation because "
            f"following scope(s) are locked: {scopes}. Please remove the lock and try again.",
        )


def register(router: Router) -> None:
    for prefix in ("/subscriptions/{sub}", "/subscriptions/{sub}/{rest*}"):
        base = prefix + "/providers/Microsoft.Authorization/locks"
        router.add("GET", base + "/{lock}", _get, VERSIONS, lockable=False)
        router.add("PUT", base + "/{lock}", _put, VERSIONS, lockable=False)
        router.add("DELETE", base + "/{lock}", _delete, VERSIONS, lockable=False)
        router.add("GET", base, _list, VERSIONS, lockable=False)
