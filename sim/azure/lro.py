"""Long-running operations on the virtual clock, and their two kinds of monitor.

``Azure-AsyncOperation`` monitors answer 200 ``{"name","status","startTime","endTime"?,"error"?}``;
``Location`` monitors (same URL with ``monitor=true``) answer 202 until the operation is over, then the
result (200) or nothing (204), or the error with its status when it failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.azure.clock import iso
from sim.azure.ids import guid, region_key
from sim.azure.router import ANY_VERSION, ArmError, Request, Response, Router

if TYPE_CHECKING:
    from sim.azure.state import State


def begin(
    sim: State,
    req: Request,
    *,
    duration: float,
    location: str,
    namespace: str = "Microsoft.Compute",
    result: Any = None,
) -> dict[str, Any]:
    """Record an operation ending ``duration`` virtual seconds from now; an ``lro_failure`` fault matching
    the request makes it end Failed."""
    now = sim.clock.seconds()
    op: dict[str, Any] = {
        "id": guid(sim.rng),
        "subscription": req.params.get("sub", ""),
        "namespace": namespace,
        "location": region_key(location or "westeurope"),
        "start": now,
        "end": now + max(0.0, duration),
        "error": None,
        "result": result,
        "apiVersion": req.api_version or "2024-01-01",
    }
    fault = sim.faults.take("lro_failure", req.method, req.path)
    if fault is not None:
        op["error"] = {"code": fault.code, "message": fault.message}
    sim.operations[op["id"]] = op
    return op


def status(op: dict[str, Any], now: float) -> str:
    if now < op["end"]:
        return "InProgress"
    return "Failed" if op.get("error") else "Succeeded"


def monitor_url(sim: State, op: dict[str, Any], *, location_style: bool = False) -> str:
    url = (
        f"{sim.url}/subscriptions/{op['subscription']}/providers/{op['namespace']}/locations/"
        f"{op['location']}/operations/{op['id']}?"
    )
    return url + ("monitor=true&" if location_style else "") + f"api-version={op['apiVersion']}"


def headers(
    sim: State, op: dict[str, Any], *, async_op: bool = True, location: bool = False
) -> dict[str, str]:
    """The monitor headers of an initial response (and a small Retry-After when configured)."""
    out: dict[str, str] = {}
    if async_op:
        out["Azure-AsyncOperation"] = monitor_url(sim, op)
    if location:
        out["Location"] = monitor_url(sim, op, location_style=True)
    if sim.poll_retry_after:
        out["Retry-After"] = str(sim.poll_retry_after)
    return out


def _monitor(sim: State, req: Request) -> Response:
    op = sim.operations.get(req.params["opid"].lower()) or sim.operations.get(req.params["opid"])
    if op is None:
        raise ArmError(404, "NotFound", f"The operation '{req.params['opid']}' was not found.")
    now = sim.clock.seconds()
    state = status(op, now)
    retry = (
        {"Retry-After": str(sim.poll_retry_after)} if sim.poll_retry_after and state == "InProgress" else {}
    )
    if (req.q("monitor") or "").lower() == "true":
        if state == "InProgress":
            return Response(202, None, {"Location": monitor_url(sim, op, location_style=True), **retry})
        if state == "Failed":
            err = op["error"]
            raise ArmError(int(err.get("status", 400)), err["code"], err["message"])
        return Response(200, op["result"]) if op["result"] is not None else Response(204)
    body: dict[str, Any] = {"name": op["id"], "status": state, "startTime": iso(op["start"])}
    if state != "InProgress":
        body["endTime"] = iso(op["end"])
    if state == "Failed":
        body["error"] = {"code": op["error"]["code"], "message": op["error"]["message"]}
    return Response(200, body, retry)


def settle(sim: State, now: float) -> None:
    """Generic bookkeeping: ``_sim.readyAt`` ends a transitional provisioningState, ``_sim.deleteAt`` removes
    the resource (and everything below it)."""
    for doc in sim.store.active():
        s = doc["_sim"]
        if "deleteAt" in s and now >= s["deleteAt"]:
            sim.store.delete(doc["id"])
            continue
        if "readyAt" in s and now >= s["readyAt"]:
            doc.setdefault("properties", {})["provisioningState"] = (
                "Failed" if s.get("failed") else s.get("readyState", "Succeeded")
            )
            del s["readyAt"]


def mark_deleting(doc: dict[str, Any], op: dict[str, Any]) -> None:
    """Show ``Deleting`` until the operation ends, then remove the resource (unless the operation failed)."""
    doc.setdefault("properties", {})["provisioningState"] = "Deleting"
    s = doc.setdefault("_sim", {})
    if op.get("error"):
        s["readyAt"], s["failed"] = op["end"], True
    else:
        s["deleteAt"] = op["end"]


def register(router: Router) -> None:
    router.on_tick(settle)
    router.add(
        "GET",
        "/subscriptions/{sub}/providers/{ns}/locations/{loc}/operations/{opid}",
        _monitor,
        ANY_VERSION,
        lockable=False,
    )
